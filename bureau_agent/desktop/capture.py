"""Screen capture with mss (XCB, MIT-SHM) on a thread of its own.

mss keeps its own X connection, separate from the input owner's, so a capture never queues
behind input and input never waits behind a capture. The mss object lives and dies on the
capture thread; after a failure it is rebuilt on the next grab (the X server may have restarted).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging

import mss

from bureau_agent.errors import DisplayUnavailable

log = logging.getLogger("bureau_agent.capture")


@dataclasses.dataclass(frozen=True)
class Frame:
    """Raw pixels as the X server gave them: BGRA, 4 bytes a pixel, rows top to bottom."""

    left: int
    top: int
    width: int
    height: int
    bgra: bytes


class Capturer:
    def __init__(self, display_name: str | None) -> None:
        self.display_name = display_name
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="x-capture")
        self._sct: mss.base.MSSBase | None = None

    async def grab(self, left: int, top: int, width: int, height: int) -> Frame:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._grab, left, top, width, height)

    async def works(self) -> bool:
        """True when a 1×1 capture succeeds: part of agentReady."""
        try:
            await self.grab(0, 0, 1, 1)
        except DisplayUnavailable:
            return False
        return True

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._reset)
        self._executor.shutdown(wait=True)

    def _grab(self, left: int, top: int, width: int, height: int) -> Frame:
        try:
            if self._sct is None:
                self._sct = mss.MSS(display=self.display_name)
            shot = self._sct.grab({"left": left, "top": top, "width": width, "height": height})
        except Exception as exc:  # mss raises ScreenShotError, OSError or ctypes errors on a dead server
            self._reset()
            log.debug("capture failed", extra={"error": str(exc)})
            raise DisplayUnavailable(f"The X display {self.display_name} cannot be captured right now.") from None
        return Frame(left, top, shot.width, shot.height, bytes(shot.bgra))

    def _reset(self) -> None:
        sct, self._sct = self._sct, None
        if sct is not None:
            try:
                sct.close()
            except Exception:
                pass
