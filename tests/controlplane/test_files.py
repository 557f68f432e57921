"""/v1/desktops/:id/files end to end: a real control plane, a real agent, real files, streamed."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from devsupport.payload import random_chunks
from tests.controlplane.conftest import MAIN
from tests.controlplane.support import Plane

MiB = 1024 * 1024
LIMIT = 48 * MiB


@pytest.fixture(scope="module")
def plane(make_plane: Callable[..., Plane]) -> Plane:
    return make_plane(agent_args=["--set", f"files_max_upload_bytes={LIMIT}"])


def files_url(path: Path | str, **params: str) -> str:
    query = "&".join(f"{k}={quote(v)}" for k, v in {"path": str(path), **params}.items())
    return f"/v1/desktops/{MAIN}/files?{query}"


def stream(plane: Plane, method: str, url: str, body: Iterator[bytes] | None = None, key: str = "full", **headers: str) -> tuple[int, dict[str, str], bytes]:
    """A call whose body is sent chunked from an iterator (no Content-Length)."""
    conn = http.client.HTTPConnection("127.0.0.1", plane.port, timeout=60)
    try:
        all_headers = {"Authorization": f"Bearer {plane.keys[key]}", **headers}
        conn.request(method, url, body=body, headers=all_headers, encode_chunked=body is not None)
        resp = conn.getresponse()
        return resp.status, dict(resp.headers), resp.read()
    finally:
        conn.close()


def test_upload_download_round_trip(plane: Plane, tmp_path: Path) -> None:
    target = tmp_path / "dir with space" / "données.bin"
    data = os.urandom(20 * MiB + 3)
    reply = plane.call("PUT", files_url(target, parents="true"), raw=data, headers={"Content-Type": "application/octet-stream"})
    assert reply.status == 201, reply.body
    assert reply.json == {"path": str(target), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert target.read_bytes() == data

    reply = plane.call("GET", files_url(target))
    assert reply.status == 200 and reply.body == data
    assert reply.headers["Content-Length"] == str(len(data)) and reply.headers["ETag"] and reply.headers["Last-Modified"]

    reply = plane.call("GET", files_url(target), headers={"Range": "bytes=1000-1999"})
    assert reply.status == 206 and reply.body == data[1000:2000]
    assert reply.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    reply = plane.call("GET", files_url(target), headers={"If-None-Match": reply.headers["ETag"]})
    assert reply.status == 304

    reply = plane.call("HEAD", files_url(target))
    assert reply.status == 200 and reply.body == b"" and reply.headers["Content-Length"] == str(len(data))


def test_chunked_upload_is_streamed_through(plane: Plane, tmp_path: Path) -> None:
    sent = hashlib.sha256()
    status, _, body = stream(plane, "PUT", files_url(tmp_path / "chunked.bin"), random_chunks(30 * MiB, sent))
    assert status == 201, body
    assert json.loads(body)["sha256"] == sent.hexdigest() == hashlib.sha256((tmp_path / "chunked.bin").read_bytes()).hexdigest()


def test_over_the_limit_through_the_plane_leaves_nothing(plane: Plane, tmp_path: Path) -> None:
    status, _, body = stream(plane, "PUT", files_url(tmp_path / "big.bin"), random_chunks(LIMIT + MiB, hashlib.sha256()))
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"
    assert os.listdir(tmp_path) == []


def test_over_the_limit_by_content_length_through_the_plane(plane: Plane, tmp_path: Path) -> None:
    reply = plane.call("PUT", files_url(tmp_path / "big.bin"), raw=b"x" * (LIMIT + 1))
    assert reply.status == 413 and reply.code == "payload_too_large"
    assert os.listdir(tmp_path) == []


def test_spliced_upload_answered_with_an_error_after_the_body(plane: Plane, tmp_path: Path) -> None:
    """A body of 1 MiB and more goes socket to socket through the plane (SplicedBody): the agent's
    409 comes back, the caller's connection closes after it, and its next call works."""
    (tmp_path / "there").write_bytes(b"old")
    conn = http.client.HTTPConnection("127.0.0.1", plane.port, timeout=60)
    try:
        auth = {"Authorization": f"Bearer {plane.keys['full']}"}
        conn.request("PUT", files_url(tmp_path / "there", overwrite="false"), body=os.urandom(3 * MiB), headers=auth)
        resp = conn.getresponse()
        assert resp.status == 409 and json.loads(resp.read())["error"]["code"] == "exists"
        assert resp.headers["Connection"] == "close"
        data = os.urandom(2 * MiB)
        conn.request("PUT", files_url(tmp_path / "new"), body=data, headers=auth)  # http.client reconnects
        resp = conn.getresponse()
        assert resp.status == 201 and json.loads(resp.read())["sha256"] == hashlib.sha256(data).hexdigest()
    finally:
        conn.close()
    assert sorted(os.listdir(tmp_path)) == ["new", "there"] and (tmp_path / "there").read_bytes() == b"old"


def test_caller_gone_mid_spliced_upload_through_the_plane_leaves_nothing(plane: Plane, tmp_path: Path) -> None:
    sock = socket.create_connection(("127.0.0.1", plane.port))
    try:
        head = (
            f"PUT {files_url(tmp_path / 'partial.bin')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {plane.keys['full']}\r\nContent-Length: {40 * MiB}\r\n\r\n"
        )
        sock.sendall(head.encode() + os.urandom(4 * MiB))
        deadline = time.monotonic() + 10
        while not [n for n in os.listdir(tmp_path) if n.endswith(".upload")]:
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.01)
    finally:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
        sock.close()
    deadline = time.monotonic() + 10
    while os.listdir(tmp_path):
        assert time.monotonic() < deadline, os.listdir(tmp_path)
        time.sleep(0.01)


def test_listing_mkdir_move_delete(plane: Plane, tmp_path: Path) -> None:
    reply = plane.call("POST", f"/v1/desktops/{MAIN}/files/mkdir", body={"path": str(tmp_path / "d")})
    assert reply.status == 201 and (tmp_path / "d").is_dir()
    (tmp_path / "d" / "a.txt").write_text("a")
    reply = plane.call("POST", f"/v1/desktops/{MAIN}/files/move", body={"from": str(tmp_path / "d" / "a.txt"), "to": str(tmp_path / "b.txt")})
    assert reply.status == 200 and (tmp_path / "b.txt").read_text() == "a"
    reply = plane.call("GET", files_url(tmp_path))
    assert reply.status == 200
    assert [(e["name"], e["type"]) for e in reply.json["entries"]] == [("b.txt", "file"), ("d", "dir")]
    reply = plane.call("DELETE", files_url(tmp_path / "d"))
    assert reply.status == 200 and not (tmp_path / "d").exists()
    reply = plane.call("GET", files_url(tmp_path / "d"))
    assert reply.status == 404 and reply.code == "file_not_found"


def test_files_need_desktop_control(plane: Plane, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("f")
    for method in ("GET", "PUT", "DELETE"):
        reply = plane.call(method, files_url(tmp_path / "f"), key="reader", raw=b"x" if method == "PUT" else None)
        assert reply.status == 403 and reply.json["required"] == "desktop:control", method
    assert (tmp_path / "f").read_text() == "f"
