"""asyncio helpers that Python 3.10 and 3.11 get subtly wrong."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until event is set or timeout passes; True when it was set.

    Not asyncio.wait_for(event.wait(), timeout): before Python 3.12, a cancel that arrives just
    as the event is set is swallowed by wait_for, so a service loop cancelled by close() would
    run on forever (seen here: close() hanging when the X server died during shutdown).
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=max(0.0, timeout))
    finally:
        waiter.cancel()
    return bool(done)


class Ticker:
    """A background task calling `tick()` every interval_s, and at once after wake().

    A tick that raises is logged and the next one runs anyway: a monitor must not die quietly.
    close() ends it even when its cancel is swallowed (see wait_event).
    """

    def __init__(self, name: str, tick: Callable[[], Awaitable[object]], interval_s: float, log: logging.Logger) -> None:
        self.name = name
        self.tick = tick
        self.interval_s = interval_s
        self.log = log
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._closing:
            await wait_event(self._wake, self.interval_s)
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                self.log.exception("%s failed", self.name)
