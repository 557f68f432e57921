"""Screen capture with mss (XCB, MIT-SHM) on a thread of its own.

mss keeps its own X connection, separate from the input owner's, so a capture never queues
behind input and input never waits behind a capture. The mss object lives and dies on the
capture thread; after a failure it is rebuilt on the next grab (the X server may have restarted).

Full-screen frames (`screen()`) also use a python-xlib connection owned by the same thread:
- DAMAGE on the root window tells whether anything was drawn since the last frame, so an
  unchanged screen is answered from the last frame without grabbing 8 MB again;
- XFixes gives the real pointer image, position and hotspot (the grab never contains it).
Each full frame carries a 128-bit content digest (xxh3, ~0.15 ms for 1920x1080), which is what
screenshot ETags and the encoded-image cache are keyed on.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import concurrent.futures
import dataclasses
import logging
import sys
from typing import Any

import mss
import xxhash
from Xlib import display as xdisplay
from Xlib.ext import damage

from bureau_agent.errors import DisplayUnavailable

log = logging.getLogger("bureau_agent.capture")


@dataclasses.dataclass(frozen=True)
class Frame:
    """Raw pixels as the X server gave them: BGRA, 4 bytes a pixel, rows top to bottom."""

    left: int
    top: int
    width: int
    height: int
    bgra: bytes | bytearray
    digest: bytes = b""  # content hash; set on full-screen frames from screen()


@dataclasses.dataclass(frozen=True)
class Cursor:
    """The pointer as XFixes reports it: position, hotspot, and a premultiplied BGRA image."""

    x: int
    y: int
    xhot: int
    yhot: int
    width: int
    height: int
    serial: int  # changes whenever the cursor image changes
    bgra: bytes


class _Tracker:
    """The python-xlib side of the capture thread: damage tracking and the cursor image."""

    def __init__(self, display_name: str | None) -> None:
        self.errors = 0
        self.conn = xdisplay.Display(display_name)
        self.conn.set_error_handler(self._on_error)
        self.root = self.conn.screen().root
        self.damage: int | None = None
        self._damage_event = -1
        if self.conn.has_extension("DAMAGE"):
            self.conn.damage_query_version()
            self._damage_event = self.conn.extension_event.DamageNotify
            self.damage = self.root.damage_create(damage.DamageReportNonEmpty)
        self.has_xfixes = self.conn.has_extension("XFIXES")
        if self.has_xfixes:
            self.conn.xfixes_query_version()  # GetCursorImage needs the version announced
        self.conn.sync()

    def _on_error(self, err: Any, *args: Any) -> None:
        self.errors += 1
        log.debug("X error on the capture connection", extra={"error": str(err)})

    def drawn_since_last_call(self) -> bool:
        """True when anything was drawn on the screen since the previous call (or no DAMAGE).

        One round trip: the damage region is emptied and the server answers a sync, so every
        DamageNotify sent before that is in the queue. Drawing after the subtract (even during
        the caller's grab on mss's connection) makes the region non-empty again, so the next
        call reports it: nothing drawn is ever missed, at worst grabbed once more.
        """
        if self.damage is None:
            return True
        self.conn.damage_subtract(self.damage)
        self.conn.sync()
        drawn = False
        while self.conn.pending_events():
            if self.conn.next_event().type == self._damage_event:
                drawn = True
        if self.errors:  # e.g. BadDamage: damage can no longer be trusted; the caller reconnects
            raise RuntimeError("X error on the capture connection")
        return drawn

    def cursor(self) -> Cursor:
        if not self.has_xfixes:
            raise DisplayUnavailable("The X display has no XFIXES extension, so the pointer cannot be drawn.")
        reply = self.conn.xfixes_get_cursor_image(self.root)
        pixels = array.array("I", reply.cursor_image)  # ARGB longs: B G R A bytes on little-endian
        if sys.byteorder == "big":
            pixels.byteswap()
        return Cursor(
            reply.x, reply.y, reply.xhot, reply.yhot, reply.width, reply.height, reply.cursor_serial, pixels.tobytes()
        )

    def close(self) -> None:
        try:
            if self.damage is not None:
                self.conn.damage_destroy(self.damage)
            self.conn.close()
        except Exception:  # a dead connection fails to close in many ways; it is gone either way
            pass


class Capturer:
    def __init__(self, display_name: str | None) -> None:
        self.display_name = display_name
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="x-capture")
        self._sct: mss.base.MSSBase | None = None
        self._tracker: _Tracker | None = None
        self._last: Frame | None = None
        # Read by the tests only, kept: the one observable that an unchanged screen reused the
        # last frame (its bytes are the same either way), for one int add.
        self.full_grabs = 0  # full-screen grabs actually taken (the rest reused the last frame)

    async def grab(self, left: int, top: int, width: int, height: int) -> Frame:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._grab, left, top, width, height)

    async def screen(self, with_cursor: bool = False) -> tuple[Frame, Cursor | None]:
        """The whole screen with its digest, and the pointer when asked."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._screen, with_cursor)

    async def drop_frame(self) -> None:
        """Forget the last full frame and close the grabber (on the capture thread, which owns
        them): the next screen() grabs afresh even if nothing was drawn.

        The grabber's MIT-SHM buffer is screen-sized (8 MiB at 1920x1080) and stays resident
        once a full screen has been grabbed into it; a new grabber's buffer holds only the pages
        a grab writes. Making one again costs ~30 ms on this thread (the next readiness check's
        1x1 grab usually pays it, off the loop)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._drop_frame)

    def _drop_frame(self) -> None:
        self._last = None
        sct, self._sct = self._sct, None
        # A dead connection fails to close in many ways; it is gone either way.
        with contextlib.suppress(Exception):
            if sct is not None:
                sct.close()

    @property
    def holds_frame(self) -> bool:
        return self._last is not None

    @property
    def holds_grabber(self) -> bool:
        return self._sct is not None

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

    # -- on the capture thread ---------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> DisplayUnavailable:
        self._reset()
        log.debug("capture failed", extra={"error": str(exc)})
        return DisplayUnavailable(f"The X display {self.display_name} cannot be captured right now.")

    def _mss(self) -> mss.base.MSSBase:
        if self._sct is None:
            self._sct = mss.MSS(display=self.display_name)
        return self._sct

    def _grab(self, left: int, top: int, width: int, height: int) -> Frame:
        try:
            shot = self._mss().grab({"left": left, "top": top, "width": width, "height": height})
        except Exception as exc:  # mss raises ScreenShotError, OSError or ctypes errors on a dead server
            raise self._unavailable(exc) from None
        return Frame(left, top, shot.width, shot.height, shot.raw)  # a fresh bytearray per grab: no copy

    def _screen(self, with_cursor: bool) -> tuple[Frame, Cursor | None]:
        try:
            return self._screen_once(with_cursor)
        except DisplayUnavailable:
            raise
        except Exception:  # noqa: BLE001 - stale connections after a restart or a resolution change
            self._reset()
        try:
            return self._screen_once(with_cursor)
        except DisplayUnavailable:
            raise
        except Exception as exc:  # Xlib and mss fail in many ways when the server is gone
            raise self._unavailable(exc) from None

    def _screen_once(self, with_cursor: bool) -> tuple[Frame, Cursor | None]:
        if self._tracker is None:
            self._tracker = _Tracker(self.display_name)
        tracker = self._tracker
        drawn = tracker.drawn_since_last_call()
        frame = self._last
        if frame is None or drawn:
            sct = self._mss()
            mon = sct.monitors[0]
            shot = sct.grab(mon)
            raw = shot.raw  # a fresh bytearray per grab, never written to again: no copy
            frame = Frame(mon["left"], mon["top"], shot.width, shot.height, raw, xxhash.xxh3_128_digest(raw))
            self._last = frame
            self.full_grabs += 1
        return frame, tracker.cursor() if with_cursor else None

    def _reset(self) -> None:
        self._drop_frame()
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            tracker.close()
