"""A real control plane for heartbeat tests: an aiohttp server that records every beat.

Its behaviour can be switched while the agent runs: "ok" answers 204, "error" answers 500,
"slow" sleeps past the agent's timeout before answering; stop() closes the port (down) and
start() opens the same port again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

from aiohttp import web

from tests.support.procs import free_port


@dataclasses.dataclass(frozen=True)
class Beat:
    at: float  # time.monotonic() when the request arrived
    mode: str  # the mode the control plane was in
    body: Any
    authorization: str

    @property
    def state(self) -> str | None:
        return self.body.get("state") if isinstance(self.body, dict) else None


class ControlPlane:
    def __init__(self, slow_s: float = 3.0) -> None:
        self.port = free_port()
        self.mode = "ok"
        self.slow_s = slow_s
        self.beats: list[Beat] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/agent/heartbeat"

    async def _beat(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw
        mode = self.mode
        self.beats.append(Beat(time.monotonic(), mode, body, request.headers.get("Authorization", "")))
        if mode == "error":
            return web.json_response({"error": "control plane broken"}, status=500)
        if mode == "slow":
            await asyncio.sleep(self.slow_s)
        return web.Response(status=204)

    async def start(self) -> ControlPlane:
        app = web.Application()
        app.router.add_post("/v1/agent/heartbeat", self._beat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def beats_since(self, t: float) -> list[Beat]:
        return [b for b in self.beats if b.at >= t]

    async def wait_for(self, predicate: Any, timeout_s: float, since: float = 0.0) -> Beat:
        """The first beat (arrived at or after `since`) for which predicate(beat) is true."""
        deadline = time.monotonic() + timeout_s
        while True:
            for beat in self.beats_since(since):
                if predicate(beat):
                    return beat
            if time.monotonic() > deadline:
                seen = [(round(b.at - since, 1), b.mode, b.state) for b in self.beats_since(since)]
                raise AssertionError(f"no matching heartbeat within {timeout_s} s; seen since: {seen}")
            await asyncio.sleep(0.05)
