"""A fake control plane (a real aiohttp server recording heartbeats) and a notify socket (a real
AF_UNIX datagram socket reading what the agent sends to systemd)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Responder = Callable[[int, dict[str, Any]], Awaitable[web.StreamResponse]]


async def ok(index: int, beat: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({})


class FakeControlPlane:
    """POST /beat records every beat (body and Authorization) and answers with `responder`,
    which gets the 0-based index of the beat and the beat itself."""

    def __init__(self, responder: Responder = ok) -> None:
        self.responder = responder
        self.beats: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _beat(self, request: web.Request) -> web.StreamResponse:
        beat = await request.json()
        async with self._arrived:
            index = len(self.beats)
            self.beats.append(beat)
            self.auth.append(request.headers.get("Authorization", ""))
            self._arrived.notify_all()
        return await self.responder(index, beat)

    async def start(self) -> FakeControlPlane:
        app = web.Application()
        app.router.add_post("/beat", self._beat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/beat"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0, start: int = 0) -> dict[str, Any]:
        """The first beat from index `start` on that satisfies predicate."""

        def found() -> dict[str, Any] | None:
            return next((b for b in self.beats[start:] if predicate(b)), None)

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: found() is not None), timeout)
        beat = found()
        assert beat is not None
        return beat

    async def wait_count(self, count: int, timeout: float = 5.0) -> None:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.beats) >= count), timeout)


class NotifySocket:
    """A datagram socket standing in for systemd's: `address` is the NOTIFY_SOCKET value
    (a path, or '@name' for the abstract namespace)."""

    def __init__(self, directory: str, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"bureau-test-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            path = os.path.join(directory, "notify")
            self.sock.bind(path)
            self.address = path
        self.sock.setblocking(False)
        self.messages: list[str] = []

    async def expect(self, field: str, timeout: float = 5.0) -> str:
        """Read datagrams until one holds the line `field` (or a line starting with it when it
        ends with '='); returns that datagram."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for message in self.messages:
            if _has(message, field):
                return message
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {field!r} in {self.messages!r}")
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), remaining)
            message = data.decode("utf-8")
            self.messages.append(message)
            if _has(message, field):
                return message

    def receive_now(self) -> list[str]:
        """Datagrams already queued, without waiting."""
        while True:
            try:
                self.messages.append(self.sock.recv(65536).decode("utf-8"))
            except BlockingIOError:
                return self.messages

    def close(self) -> None:
        self.sock.close()


def _has(message: str, field: str) -> bool:
    lines = message.split("\n")
    return any(line.startswith(field) if field.endswith("=") else line == field for line in lines)
