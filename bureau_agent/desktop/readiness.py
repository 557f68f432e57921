"""agentReady: the display is connected, XTest is present and a screen capture works.

Re-checked every `interval_s` and at once when the display connects or is lost (the display
owner pings at once after an X error). So it turns false within about a second of the X server
dying and true again when it returns, without restarting the agent.
Each check carries a fix, so `bureau-agent doctor` and the logs say what to do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from bureau_agent.aio import Ticker
from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.display import Display, DisplayState
from bureau_agent.listeners import Listeners

log = logging.getLogger("bureau_agent.readiness")

# A capture that takes longer than this counts as failed: a hung X server is not ready.
CAPTURE_TIMEOUT_S = 5.0


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


FIX_DISPLAY = (
    "start the X server (the desktop session, or bureau-xvfb.service on a headless image), "
    "and check that DISPLAY and XAUTHORITY in bureau-agent.service name it"
)
FIX_XTEST = "run an X server with the XTEST extension (Xorg and Xvfb have it unless started with -extension XTEST)"
FIX_CAPTURE = "install libxcb1, libxcb-shm0, libxcb-randr0, libxcb-render0 and libxcb-xfixes0; do not set PrivateIPC"


async def desktop_checks(state: DisplayState, capturer: Capturer) -> list[Check]:
    """The checks behind agentReady, in order; a check is skipped when an earlier one failed."""
    name = state.name
    if not state.connected:
        return [Check("display", False, f"cannot connect to display {name}", FIX_DISPLAY)]
    checks = [Check("display", True, f"display {name} connected, {state.width}x{state.height}")]
    if not state.has_xtest:
        return checks + [Check("xtest", False, f"display {name} has no XTEST extension", FIX_XTEST)]
    checks.append(Check("xtest", True, "XTEST extension present"))
    try:
        works = await asyncio.wait_for(capturer.works(), CAPTURE_TIMEOUT_S)
        detail = "a 1x1 capture works" if works else f"display {name} cannot be captured"
    except asyncio.TimeoutError:
        works, detail = False, f"a capture of display {name} took more than {CAPTURE_TIMEOUT_S:g} s"
    checks.append(Check("capture", works, detail, "" if works else FIX_CAPTURE))
    return checks


class Readiness:
    def __init__(self, display: Display, capturer: Capturer, *, interval_s: float = 1.0) -> None:
        self.display = display
        self.capturer = capturer
        self.interval_s = interval_s
        self.ready = False
        self.checks: list[Check] = []
        self._listeners: Listeners[bool] = Listeners("readiness", log)
        self._checking = asyncio.Lock()
        self._ticker = Ticker("readiness check", self.check, interval_s, log)
        display.add_listener(lambda state: self._ticker.wake())

    def add_listener(self, listener: Callable[[bool], None]) -> None:
        """listener(ready) runs on the event loop each time agentReady flips."""
        self._listeners.add(listener)

    @property
    def problems(self) -> list[str]:
        """What keeps the agent from being ready, from the last checks."""
        return [c.detail for c in self.checks if not c.ok] if self.checks else ["not checked yet"]

    async def start(self) -> None:
        await self.check()
        self._ticker.start()

    async def close(self) -> None:
        await self._ticker.close()

    async def check(self) -> bool:
        async with self._checking:  # the loop and an explicit check never interleave
            checks = await desktop_checks(self.display.state, self.capturer)
            problems = [c.detail for c in checks if not c.ok]
            if problems and self.display.connected:
                self.display.wake_monitor()  # a failed capture often means the server is gone
            self.checks = checks
            ready = not problems
            if ready != self.ready:
                self.ready = ready
                log.info("agent readiness changed", extra={"agentReady": ready, "problems": problems})
                self._listeners.notify(ready)
            return ready
