"""Uploads spliced straight from the socket (bureau_agent/files/splice.py): the bytes and their
sha256 whatever part aiohttp had already buffered, never a byte past Content-Length, and the
connection closes after the answer (its parser is out of step) while the caller's next request,
on a new connection, works; small bodies keep the connection."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any, Callable

import pytest
from aiohttp.test_utils import TestClient

from bureau_agent.httpkit.takeover import MIN_BYTES as SPLICE_MIN_BYTES
from bureau_agent import splicing
from tests.support.agent import AUTH

MiB = 1024 * 1024

pytestmark = pytest.mark.skipif(not splicing.AVAILABLE, reason="no splice(2) here")


@pytest.fixture
async def client(make_agent: Callable[..., Any]) -> TestClient:
    return await make_agent(None)


async def raw_put(
    client: TestClient, target: Path, size: int, pieces: list[bytes], extra: bytes = b"", pause_s: float = 0.01
) -> bytes:
    """A PUT written by hand: the headers with the first piece in one write, then the rest; the
    answer up to EOF (or to a reset: closing with unread data resets, as any server's close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    head = (
        f"PUT /v1/files?path={target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH['Authorization']}\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    writer.write(head + pieces[0])
    for piece in pieces[1:]:
        await writer.drain()
        await asyncio.sleep(pause_s)
        writer.write(piece)
    writer.write(extra)
    await writer.drain()
    answer = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), 10):  # the agent closes the connection
            answer += chunk
    except ConnectionResetError:
        pass
    writer.close()
    return answer


async def test_buffered_head_and_slow_rest(client: TestClient, tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 7)
    pieces = [data[:300_000]] + [data[i : i + 500_000] for i in range(300_000, len(data), 500_000)]
    answer = await raw_put(client, tmp_path / "f.bin", len(data), pieces)
    assert answer.startswith(b"HTTP/1.1 201") and b"Connection: close" in answer
    assert hashlib.sha256(data).hexdigest().encode() in answer
    assert (tmp_path / "f.bin").read_bytes() == data


async def test_a_caller_silent_for_longer_than_a_step_waits(client: TestClient, tmp_path: Path) -> None:
    data = os.urandom(2 * MiB)
    pieces = [data[:100_000], data[100_000:MiB], data[MiB:]]
    answer = await raw_put(client, tmp_path / "f.bin", len(data), pieces, pause_s=splicing.WAIT_S * 2)
    assert answer.startswith(b"HTTP/1.1 201") and hashlib.sha256(data).hexdigest().encode() in answer
    assert (tmp_path / "f.bin").read_bytes() == data


async def test_never_reads_past_the_body(client: TestClient, tmp_path: Path) -> None:
    """A request pipelined behind the body is dropped: not written into the file, not run (the
    connection closes, and with those bytes unread the close may reset it before the answer)."""
    data = os.urandom(2 * MiB)
    pipelined = b"PUT /v1/files?path=" + str(tmp_path / "other").encode() + b" HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    answer = await raw_put(client, tmp_path / "f.bin", len(data), [data], extra=pipelined)
    assert answer.count(b"HTTP/1.1 ") <= 1 and answer[:12] == b"HTTP/1.1 201"[: len(answer)]  # the PUT's, or cut short
    assert (tmp_path / "f.bin").read_bytes() == data
    assert not (tmp_path / "other").exists()


async def test_keep_alive_caller_goes_on_after_a_spliced_upload(client: TestClient, tmp_path: Path) -> None:
    big, small = os.urandom(SPLICE_MIN_BYTES + 1), os.urandom(1000)
    resp = await client.put("/v1/files", params={"path": str(tmp_path / "big")}, data=big, headers=AUTH)
    assert resp.status == 201 and resp.headers["Connection"] == "close"
    assert (await resp.json())["sha256"] == hashlib.sha256(big).hexdigest()
    resp = await client.put("/v1/files", params={"path": str(tmp_path / "small")}, data=small, headers=AUTH)
    assert resp.status == 201 and resp.headers.get("Connection") != "close"  # read through aiohttp
    resp = await client.get("/v1/files", params={"path": str(tmp_path / "big")}, headers=AUTH)
    assert resp.status == 200 and await resp.read() == big


async def test_an_error_after_the_whole_body_closes_the_connection(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "there").write_bytes(b"old")
    data = os.urandom(2 * MiB)
    resp = await client.put("/v1/files", params={"path": str(tmp_path / "there"), "overwrite": "false"}, data=data, headers=AUTH)
    assert resp.status == 409 and resp.headers["Connection"] == "close"
    assert (tmp_path / "there").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["there"]
    resp = await client.get("/v1/files", params={"path": str(tmp_path / "there")}, headers=AUTH)
    assert resp.status == 200 and await resp.read() == b"old"
