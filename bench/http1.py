"""The benchmark's HTTP client: one keep-alive HTTP/1.1 connection on asyncio streams.

Latency rows time a whole call as a caller sees it, so the client's own cost is in every figure.
aiohttp's client spends about 0.15-0.25 ms of its own per call on this machine (its request and
response objects, the connector, timeouts), more than the agent's whole click; this client writes
the request in one send and reads the status line, the headers and a Content-Length or chunked
body, nothing more. Every HTTP side of a latency row (the agent, the no-op floor server, the
control plane) goes through it, so the rows compare servers, not clients; bench.floor's "aiohttp
client" row keeps the heavier client's figure in the table.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any
from urllib.parse import urlencode, urlsplit

MAX_HEAD = 64 * 1024


class Answer:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Connection:
    """Calls one at a time (a lock), reconnecting when the server closed the connection."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        assert parts.scheme == "http" and parts.hostname, base_url
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._fixed = f"Host: {self.host}:{self.port}\r\n{extra}".encode()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        streams, self._streams = self._streams, None
        if streams is not None:
            streams[1].close()
            try:
                await streams[1].wait_closed()
            except OSError:
                pass

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is None:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD)
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._streams = reader, writer
        return self._streams

    async def request(
        self, method: str, path: str, *, body: bytes | None = None, params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None, content_type: str = "application/json",
    ) -> Answer:
        target = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        head = [f"{method} {target} HTTP/1.1\r\n".encode(), self._fixed]
        head += [f"{k}: {v}\r\n".encode() for k, v in (headers or {}).items()]
        if body is not None:
            head.append(f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n".encode())
        head.append(b"\r\n")
        data = b"".join(head) + (body or b"")
        async with self._lock:
            reader, writer = await self._open()
            try:
                writer.write(data)
                answer = await _read_answer(reader, method)
            except BaseException:
                await self.close()  # a call cut short leaves the connection mid-answer
                raise
            if answer.headers.get("connection", "").lower() == "close":
                await self.close()
            return answer

    async def post_json(self, path: str, payload: Any) -> Answer:
        return await self.request("POST", path, body=json.dumps(payload).encode())


async def _read_answer(reader: asyncio.StreamReader, method: str) -> Answer:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Answer(status, headers, b"")
    if "content-length" in headers:
        return Answer(status, headers, await reader.readexactly(int(headers["content-length"])))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent to this client
                return Answer(status, headers, b"".join(parts))
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return Answer(status, headers, await reader.read())  # until the server closes
