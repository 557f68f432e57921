"""/v1/files over HTTP with real files: round trips, ranges, listings, names, move, delete, bad
input, limits, atomicity and what an interrupted upload leaves (nothing)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Callable

import pytest
from aiohttp.test_utils import TestClient

from devsupport.payload import random_chunks
from tests.support.agent import AUTH
from tests.support.wait import wait_until

MiB = 1024 * 1024


@pytest.fixture
async def client(make_agent: Callable[..., Any]) -> TestClient:
    return await make_agent(None)


async def put(client: TestClient, path: Path | str, data: Any, expect: int | None = None, **params: str) -> dict[str, Any]:
    resp = await client.put("/v1/files", params={"path": str(path), **params}, data=data, headers=AUTH)
    body = await resp.json()
    if expect is not None:
        assert resp.status == expect, body
    return {"status": resp.status, **body}


async def get(client: TestClient, path: Path | str, **headers: str) -> tuple[int, bytes, Any]:
    resp = await client.get("/v1/files", params={"path": str(path)}, headers={**AUTH, **headers})
    return resp.status, await resp.read(), resp.headers


def leftovers(directory: Path) -> list[str]:
    return [name for name in os.listdir(directory) if name.endswith(".upload")]


@pytest.mark.parametrize("size", [0, 1, 65_537, 3 * MiB + 5])
async def test_round_trip(client: TestClient, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    target = tmp_path / "file.bin"
    answer = await put(client, target, data, 201)
    assert answer["size"] == size and answer["sha256"] == hashlib.sha256(data).hexdigest()
    assert target.read_bytes() == data
    status, body, headers = await get(client, target)
    assert status == 200 and body == data
    assert headers["Content-Length"] == str(size) and headers["Content-Type"] == "application/octet-stream"
    assert leftovers(tmp_path) == []


async def random_stream(size: int, digest: Any, chunk: int = 256 * 1024) -> AsyncIterator[bytes]:
    for part in random_chunks(size, digest, chunk):
        yield part


async def test_100_mib_chunked_round_trip(client: TestClient, tmp_path: Path) -> None:
    sent = hashlib.sha256()
    target = tmp_path / "big.bin"
    answer = await put(client, target, random_stream(100 * MiB, sent), 201)
    assert answer["size"] == 100 * MiB and answer["sha256"] == sent.hexdigest()
    resp = await client.get("/v1/files", params={"path": str(target)}, headers=AUTH)
    assert resp.status == 200 and resp.headers["Content-Length"] == str(100 * MiB)
    received = hashlib.sha256()
    async for part in resp.content.iter_chunked(MiB):
        received.update(part)
    assert received.hexdigest() == sent.hexdigest()


async def test_replace_answers_200_and_keeps_mode(client: TestClient, tmp_path: Path) -> None:
    target = tmp_path / "run.sh"
    target.write_bytes(b"old")
    target.chmod(0o750)
    answer = await put(client, target, b"new", 200)
    assert answer["size"] == 3 and target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750


async def test_overwrite_false_and_parents(client: TestClient, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.txt"
    missing = await put(client, target, b"x")
    assert missing["status"] == 404 and missing["error"]["code"] == "file_not_found"
    await put(client, target, b"x", 201, parents="true")
    exists = await put(client, target, b"y", overwrite="false")
    assert exists["status"] == 409 and exists["error"]["code"] == "exists"
    assert target.read_bytes() == b"x"


async def test_ranges(client: TestClient, tmp_path: Path) -> None:
    data = os.urandom(10_000)
    target = tmp_path / "r.bin"
    target.write_bytes(data)
    status, body, headers = await get(client, target, Range="bytes=100-199")
    assert status == 206 and body == data[100:200] and headers["Content-Range"] == "bytes 100-199/10000"
    status, body, _ = await get(client, target, Range="bytes=9990-")
    assert status == 206 and body == data[9990:]
    status, body, _ = await get(client, target, Range="bytes=-5")
    assert status == 206 and body == data[-5:]
    status, body, headers = await get(client, target, Range="bytes=20000-")
    assert status == 416 and headers["Content-Range"] == "bytes */10000"
    etag = headers.get("ETag") or (await get(client, target))[2]["ETag"]
    status, body, _ = await get(client, target, Range="bytes=0-9", **{"If-Range": etag})
    assert status == 206 and body == data[:10]
    status, body, _ = await get(client, target, Range="bytes=0-9", **{"If-Range": '"stale"'})
    assert status == 200 and body == data  # the file changed since: the whole of it
    status, body, _ = await get(client, target, **{"If-None-Match": etag})
    assert status == 304 and body == b""


async def test_head(client: TestClient, tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    target.write_bytes(b"<p>hi</p>")
    resp = await client.head("/v1/files", params={"path": str(target)}, headers=AUTH)
    assert resp.status == 200 and resp.headers["Content-Length"] == "9"
    assert resp.headers["Content-Type"].startswith("text/html") and resp.headers["ETag"]
    assert await resp.read() == b""
    resp = await client.head("/v1/files", params={"path": str(tmp_path / "none")}, headers=AUTH)
    assert resp.status == 404


async def test_listing_has_every_entry_type(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "file one.txt").write_bytes(b"12345")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("file one.txt")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "ünïcødé ☃").write_bytes(b"")
    status, body, _ = await get(client, tmp_path)
    assert status == 200
    listing = json.loads(body)
    assert listing["path"] == str(tmp_path) and listing["truncated"] is False
    by_name = {e["name"]: e for e in listing["entries"]}
    assert [e["name"] for e in listing["entries"]] == sorted(by_name, key=os.fsencode)
    assert by_name["file one.txt"]["type"] == "file" and by_name["file one.txt"]["size"] == 5
    assert by_name["dir"]["type"] == "dir"
    assert by_name["link"]["type"] == "symlink" and by_name["link"]["target"] == "file one.txt"
    assert by_name["fifo"]["type"] == "other"
    assert by_name["ünïcødé ☃"]["mode"] == f"{stat.S_IMODE((tmp_path / 'ünïcødé ☃').stat().st_mode):04o}"
    assert by_name["file one.txt"]["modifiedAt"].endswith("Z")


async def test_listing_names_that_need_escaping(client: TestClient, tmp_path: Path) -> None:
    names = ['quo"te\\back', "new\nline\ttab", "del\x7f"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    os.close(os.open(os.fsencode(tmp_path) + b"/\xff\xfe-not-utf8", os.O_CREAT | os.O_WRONLY, 0o644))
    status, body, _ = await get(client, tmp_path)
    assert status == 200
    got = [e["name"] for e in json.loads(body)["entries"]]
    assert sorted(got) == sorted([*names, os.fsdecode(b"\xff\xfe-not-utf8")])
    assert os.fsencode(next(n for n in got if n.endswith("-not-utf8"))) == b"\xff\xfe-not-utf8"


async def test_listing_is_truncated_at_the_limit(make_agent: Callable[..., Any], tmp_path: Path) -> None:
    client = await make_agent(None, files_max_entries=3)
    for name in "edcba":
        (tmp_path / name).write_bytes(b"")
    status, body, _ = await get(client, tmp_path)
    listing = json.loads(body)
    assert [e["name"] for e in listing["entries"]] == ["a", "b", "c"] and listing["truncated"] is True


async def test_unicode_and_space_names_round_trip(client: TestClient, tmp_path: Path) -> None:
    target = tmp_path / "répertoire ☃" / "a file — ü.txt"
    await put(client, target, "ça va".encode(), 201, parents="true")
    assert target.read_text() == "ça va"
    status, body, _ = await get(client, target)
    assert status == 200 and body == "ça va".encode()


async def test_relative_paths_are_under_home(client: TestClient) -> None:
    name = f"bureau-files-test-{os.getpid()}.txt"
    home = Path(os.path.expanduser("~"))
    try:
        answer = await put(client, name, b"home", 201)
        assert answer["path"] == str(home / name) and (home / name).read_bytes() == b"home"
    finally:
        (home / name).unlink(missing_ok=True)


async def test_move_and_delete(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / "b.txt").write_bytes(b"b")
    resp = await client.post("/v1/files/move", json={"from": str(tmp_path / "a.txt"), "to": str(tmp_path / "b.txt")}, headers=AUTH)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "exists"
    resp = await client.post(
        "/v1/files/move", json={"from": str(tmp_path / "a.txt"), "to": str(tmp_path / "b.txt"), "overwrite": True}, headers=AUTH
    )
    assert resp.status == 200 and (tmp_path / "b.txt").read_bytes() == b"a" and not (tmp_path / "a.txt").exists()
    resp = await client.post("/v1/files/move", json={"from": str(tmp_path / "gone"), "to": str(tmp_path / "x")}, headers=AUTH)
    assert resp.status == 404 and (await resp.json())["error"]["details"]["field"] == "from"

    resp = await client.post("/v1/files/mkdir", json={"path": str(tmp_path / "d" / "e"), "parents": True}, headers=AUTH)
    assert resp.status == 201 and (tmp_path / "d" / "e").is_dir()
    resp = await client.post("/v1/files/mkdir", json={"path": str(tmp_path / "d" / "e")}, headers=AUTH)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "exists"
    resp = await client.post("/v1/files/mkdir", json={"path": str(tmp_path / "d" / "e"), "parents": True}, headers=AUTH)
    assert resp.status == 200 and (await resp.json())["created"] is False

    resp = await client.delete("/v1/files", params={"path": str(tmp_path / "d")}, headers=AUTH)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "not_empty"
    resp = await client.delete("/v1/files", params={"path": str(tmp_path / "d"), "recursive": "true"}, headers=AUTH)
    assert resp.status == 200 and (await resp.json()) == {"deleted": True} and not (tmp_path / "d").exists()
    (tmp_path / "link").symlink_to(tmp_path / "b.txt")
    resp = await client.delete("/v1/files", params={"path": str(tmp_path / "link")}, headers=AUTH)
    assert resp.status == 200 and not (tmp_path / "link").is_symlink() and (tmp_path / "b.txt").exists()
    resp = await client.delete("/v1/files", params={"path": str(tmp_path / "link")}, headers=AUTH)
    assert resp.status == 404


async def test_bad_input(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_bytes(b"f")
    for params in ({"path": ""}, {}, {"path": "a\x00b"}, {"path": str(tmp_path), "bogus": "1"}):
        resp = await client.get("/v1/files", params=params, headers=AUTH)
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_request", params
    # a directory where a file is expected, and a file where a directory is expected
    answer = await put(client, tmp_path / "dir", b"x")
    assert answer["status"] == 400 and "directory" in answer["error"]["message"]
    answer = await put(client, tmp_path / "file" / "inside", b"x")
    assert answer["status"] == 400 and "not a directory" in answer["error"]["message"]
    status, body, _ = await get(client, tmp_path / "file" / "inside")
    assert status == 400
    os.mkfifo(tmp_path / "fifo")
    status, body, _ = await get(client, tmp_path / "fifo")  # must not hang waiting for a writer
    assert status == 400
    # `..` that really leads somewhere is the kernel's to follow
    status, body, _ = await get(client, f"{tmp_path}/dir/../file")
    assert status == 200 and body == b"f"


async def test_over_the_limit_by_content_length_writes_nothing(make_agent: Callable[..., Any], tmp_path: Path) -> None:
    client = await make_agent(None, files_max_upload_bytes=1000)
    answer = await put(client, tmp_path / "big", b"x" * 1001)
    assert answer["status"] == 413 and answer["error"]["code"] == "payload_too_large"
    answer = await put(client, tmp_path / "ok", b"x" * 1000, 201)
    assert os.listdir(tmp_path) == ["ok"]


async def test_over_the_limit_while_streaming_leaves_nothing(make_agent: Callable[..., Any], tmp_path: Path) -> None:
    client = await make_agent(None, files_max_upload_bytes=3 * MiB)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(8):  # chunked, so no Content-Length tells in advance
            yield b"z" * MiB

    answer = await put(client, tmp_path / "big", body())
    assert answer["status"] == 413 and answer["error"]["code"] == "payload_too_large"
    assert os.listdir(tmp_path) == []


async def test_bodies_past_max_body_bytes_are_accepted(make_agent: Callable[..., Any], tmp_path: Path) -> None:
    client = await make_agent(None, max_body_bytes=1024)
    await put(client, tmp_path / "f", os.urandom(200_000), 201)
    resp = await client.post("/v1/exec", data=b"x" * 2048, headers=AUTH)  # other routes keep the limit
    assert resp.status == 413


async def test_client_disconnect_mid_upload_leaves_nothing(client: TestClient, tmp_path: Path) -> None:
    target = tmp_path / "partial.bin"
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    head = (
        f"PUT /v1/files?path={target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH['Authorization']}\r\n"
        f"Content-Length: {64 * MiB}\r\n\r\n"
    )
    writer.write(head.encode())
    writer.write(os.urandom(4 * MiB))
    await writer.drain()
    await wait_until(lambda: bool(leftovers(tmp_path)), what="the upload's temporary file")
    writer.transport.abort()
    await wait_until(lambda: os.listdir(tmp_path) == [], what="the temporary file to go")
    assert not target.exists()


async def test_reader_never_sees_a_partial_file(client: TestClient, tmp_path: Path) -> None:
    target = tmp_path / "doc.txt"
    old, new = b"o" * 100_000, b"n" * 1_000_000
    target.write_bytes(old)
    seen: set[bytes] = set()
    polled = asyncio.Event()
    done = False

    async def poll() -> None:
        while not done:
            seen.add(hashlib.sha256(target.read_bytes()).digest())
            polled.set()
            await asyncio.sleep(0)

    async def slow() -> AsyncIterator[bytes]:
        for i in range(0, len(new), 50_000):
            polled.clear()
            yield new[i : i + 50_000]
            await polled.wait()  # the reader looked at the target between every two chunks

    poller = asyncio.create_task(poll())
    await put(client, target, slow(), 200)
    await wait_until(lambda: hashlib.sha256(new).digest() in seen, what="the reader to see the new file")
    done = True
    await poller
    assert seen == {hashlib.sha256(old).digest(), hashlib.sha256(new).digest()}
    assert leftovers(tmp_path) == []


async def test_busy_past_files_max_concurrent(make_agent: Callable[..., Any], tmp_path: Path) -> None:
    client = await make_agent(None, files_max_concurrent=1)
    release = asyncio.Event()
    started = asyncio.Event()

    async def held() -> AsyncIterator[bytes]:
        yield b"first"
        started.set()
        await release.wait()
        yield b" last"

    upload = asyncio.create_task(put(client, tmp_path / "held", held()))
    await started.wait()
    await wait_until(lambda: bool(leftovers(tmp_path)), what="the first upload to hold its slot")
    resp = await client.get("/v1/files", params={"path": str(tmp_path)}, headers=AUTH)
    assert resp.status == 429 and (await resp.json())["error"]["code"] == "busy" and resp.headers["Retry-After"]
    release.set()
    assert (await upload)["status"] == 201
    assert (tmp_path / "held").read_bytes() == b"first last"


async def test_needs_the_token(client: TestClient, tmp_path: Path) -> None:
    resp = await client.get("/v1/files", params={"path": str(tmp_path)})
    assert resp.status == 401
    resp = await client.put("/v1/files", params={"path": str(tmp_path / "x")}, data=b"x")
    assert resp.status == 401 and not (tmp_path / "x").exists()

