"""The fake control plane (a real aiohttp server recording heartbeats, for the unit tests and
the reliability suite alike) and a notify socket (a real AF_UNIX datagram socket reading what
the agent sends to systemd)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.support.procs import free_port

Responder = Callable[[int, dict[str, Any]], Awaitable[web.StreamResponse]]


async def ok(index: int, beat: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({})


@dataclasses.dataclass(frozen=True)
class Beat:
    """One beat as it arrived: when (time.monotonic()), in which mode, its body and Authorization."""

    at: float
    mode: str
    body: Any
    authorization: str

    @property
    def state(self) -> str | None:
        return self.body.get("state") if isinstance(self.body, dict) else None


class FakeControlPlane:
    """The one fake control plane of the tests: POST /beat records every beat and answers with
    `responder` (given the 0-based index of the beat and its body) while `mode` is "ok"; "error"
    answers 500, "slow" waits slow_s first. stop() closes the port and start() opens the same one
    again (the reliability suite takes the control plane down and back).

    `beats` and `auth` are the bodies and Authorization headers; `records` the same as Beats,
    with arrival time and mode."""

    def __init__(self, responder: Responder = ok, slow_s: float = 3.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.responder = responder
        self.ssl_context = ssl_context  # given: it serves HTTPS with it
        self.mode = "ok"
        self.slow_s = slow_s
        self.beats: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.records: list[Beat] = []
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = free_port()
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{self.port}/beat"

    async def _beat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            beat: Any = json.loads(raw)
        except ValueError:
            beat = raw
        mode = self.mode
        async with self._arrived:
            index = len(self.beats)
            self.beats.append(beat)
            self.auth.append(request.headers.get("Authorization", ""))
            self.records.append(Beat(time.monotonic(), mode, beat, self.auth[-1]))
            self._arrived.notify_all()
        if mode == "error":
            return web.json_response({"error": "control plane broken"}, status=500)
        if mode == "slow":
            await asyncio.sleep(self.slow_s)
        return await self.responder(index, beat)

    async def start(self) -> FakeControlPlane:
        app = web.Application()
        app.router.add_post("/beat", self._beat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True, ssl_context=self.ssl_context).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    close = stop

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

    def records_since(self, t: float) -> list[Beat]:
        return [b for b in self.records if b.at >= t]

    async def wait_for_record(self, predicate: Callable[[Beat], bool], timeout_s: float, since: float = 0.0) -> Beat:
        """The first Beat (arrived at or after `since`) that satisfies predicate."""

        def found() -> Beat | None:
            return next((b for b in self.records_since(since) if predicate(b)), None)

        try:
            async with self._arrived:
                await asyncio.wait_for(self._arrived.wait_for(lambda: found() is not None), timeout_s)
        except asyncio.TimeoutError:
            seen = [(round(b.at - since, 1), b.mode, b.state) for b in self.records_since(since)]
            raise AssertionError(f"no matching heartbeat within {timeout_s} s; seen since: {seen}") from None
        beat = found()
        assert beat is not None
        return beat


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
