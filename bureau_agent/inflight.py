"""The requests being answered right now, so that shutdown can wait for them to end on their own."""

from __future__ import annotations

import asyncio

from aiohttp import web


class InFlight:
    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
        self.count += 1
        self._idle.clear()
        try:
            return await handler(request)
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def drained(self, timeout_s: float) -> bool:
        """Wait until no request is being answered, at most timeout_s; whether none is."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True
