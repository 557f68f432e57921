"""agentReady: the display is connected, XTest is present and a screen capture works.

Re-checked every `interval_s` and at once when the display connects or is lost, so it turns
false within a couple of seconds of the X server dying and true again when it returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.display import Display, DisplayState

log = logging.getLogger("bureau_agent.readiness")


class Readiness:
    def __init__(self, display: Display, capturer: Capturer, *, interval_s: float = 1.0) -> None:
        self.display = display
        self.capturer = capturer
        self.interval_s = interval_s
        self.ready = False
        self.problems: list[str] = ["not checked yet"]
        self._listeners: list[Callable[[bool], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        display.add_listener(self._on_display_change)

    def add_listener(self, listener: Callable[[bool], None]) -> None:
        """listener(ready) runs on the event loop each time agentReady flips."""
        self._listeners.append(listener)

    async def start(self) -> None:
        await self.check()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="readiness")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def check(self) -> bool:
        state = self.display.state
        problems = []
        if not state.connected:
            problems.append(f"display {state.name} is not connected")
        elif not state.has_xtest:
            problems.append(f"display {state.name} has no XTEST extension")
        elif not await self.capturer.works():
            problems.append(f"display {state.name} cannot be captured")
            self.display.wake_monitor()  # a failed capture often means the server is gone
        self.problems = problems
        ready = not problems
        if ready != self.ready:
            self.ready = ready
            log.info("agent readiness changed", extra={"agentReady": ready, "problems": problems})
            for listener in list(self._listeners):
                try:
                    listener(ready)
                except Exception:
                    log.exception("readiness listener failed")
        return ready

    def _on_display_change(self, state: DisplayState) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.check()
            except Exception:
                log.exception("readiness check failed")
