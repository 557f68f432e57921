"""Who drew what on the screen, and when: XDamage rectangles on the root, for act's settle wait
and the screen stream.

One watcher thread owns its own python-xlib connection (never the display owner's, never the
capture thread's), so a watcher blocked in a read delays no input and no capture. The damage
object exists only while someone subscribes: a screen that animates while nobody watches costs
nothing here.

Reporting is DeltaRectangles, and the region is emptied (DamageSubtract) after each batch read:
the server then sends one event each time something is drawn outside what was already reported
since the last batch, which is a few events per batch instead of one per drawing request.

Subscribers live on the event loop and get (monotonic time of the batch, rectangles). A
subscription is attached after a round trip to the server, so every drawing request the server
handled before subscribe() returned is reported to it or was already delivered before: a
settle wait opened before the first action misses nothing the actions cause.

The pointer is not damage: Xvfb (and Xorg with a hardware cursor) never draws it into the
framebuffer, so the agent's own pointer motion does not restart a quiet period.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import queue
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from Xlib import display as xdisplay
from Xlib.ext import damage

log = logging.getLogger("bureau_agent.damage")

Rect = tuple[int, int, int, int]  # x, y, w, h in screen pixels

# Batches are read at most this often: under a continuous animation the thread wakes ~200 times
# a second instead of once per drawing request; a quiet period is measured 5 ms late at worst.
MIN_BATCH_INTERVAL_S = 0.005
RECONNECT_INTERVAL_S = 0.5
# The connection outlives its last subscriber this long, so that an agent stepping through act
# calls does not pay a connection setup each step.
LINGER_S = 10.0


def union(a: Rect | None, b: Rect) -> Rect:
    """The bounding box of a and b."""
    if a is None:
        return b
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


class Subscription:
    """What one subscriber has seen since it subscribed. Lives on the event loop."""

    def __init__(self, watcher: DamageWatcher, started: float, blind: bool) -> None:
        self._watcher = watcher
        self.started = started
        self.blind = blind  # no DAMAGE (no display, or no extension): nothing can be reported
        self.first_change: float | None = None
        self.last_change: float | None = None
        self.region: Rect | None = None  # bounding box of every damaged rectangle seen
        self.batches = 0
        self._event = asyncio.Event()
        self.closed = False

    @property
    def changed(self) -> bool:
        return self.first_change is not None

    def _deliver(self, at: float, rects: list[Rect]) -> None:
        if self.first_change is None:
            self.first_change = at
        self.last_change = at
        for rect in rects:
            self.region = union(self.region, rect)
        self.batches += 1
        self._event.set()

    def _lose(self) -> None:
        self.blind = True
        self._event.set()

    def take_region(self) -> Rect | None:
        """The region damaged since the previous take (the stream's "what is new")."""
        region, self.region = self.region, None
        return region

    async def next_change(self, timeout_s: float) -> bool:
        """Wait until damage arrives after this call (or the display is lost); False on timeout."""
        self._event.clear()
        if self.closed:
            return False
        try:
            await asyncio.wait_for(self._event.wait(), max(0.0, timeout_s))
        except asyncio.TimeoutError:
            return False
        return not self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._event.set()
            self._watcher._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclasses.dataclass
class _Command:
    kind: str  # "attach", "detach", "stop"
    future: concurrent.futures.Future[bool] | None = None


class DamageWatcher:
    def __init__(self, display_name: str | None, *, min_batch_interval_s: float = MIN_BATCH_INTERVAL_S) -> None:
        self.display_name = display_name
        self.min_batch_interval_s = min_batch_interval_s
        self._subs: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commands: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._thread: threading.Thread | None = None
        self.batches = 0  # batches read (for tests and the benchmark)

    # -- on the event loop ---------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="x-damage", daemon=True)
        self._thread.start()

    async def subscribe(self) -> Subscription:
        """A subscription that sees every drawing the server handles from now on.

        Blind (never reports anything) when the display cannot be watched right now.
        """
        assert self._loop is not None, "start() first"
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self._send(_Command("attach", future))
        watching = await asyncio.wrap_future(future)
        sub = Subscription(self, time.monotonic(), blind=not watching)
        # Attach only now: batches the thread sent before answering were queued on the loop
        # ahead of this point, so none of them (drawn before subscribe) is counted.
        self._subs.add(sub)
        return sub

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.discard(sub)
            self._send(_Command("detach"))

    def close_all(self) -> None:
        """End every subscription now (shutdown): their waits return at once."""
        for sub in list(self._subs):
            sub.close()

    async def close(self) -> None:
        self.close_all()
        thread = self._thread
        if thread is None:
            return
        self._send(_Command("stop"))
        await asyncio.get_running_loop().run_in_executor(None, thread.join, 5)
        self._thread = None
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def _send(self, command: _Command) -> None:
        self._commands.put(command)
        try:
            os.write(self._wake_w, b"\0")
        except OSError:  # closed: the thread is gone
            pass

    def _publish(self, at: float, rects: list[Rect]) -> None:
        self.batches += 1
        for sub in list(self._subs):
            sub._deliver(at, rects)

    def _lost(self) -> None:
        for sub in list(self._subs):
            sub._lose()

    # -- on the watcher thread -----------------------------------------------------------------

    def _call_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def _run(self) -> None:
        conn: _Connection | None = None
        wanted = 0  # attached subscribers, as the thread knows them
        next_try = 0.0
        idle_since = 0.0
        while True:
            timeout = None
            if wanted and conn is None:
                timeout = max(0.0, next_try - time.monotonic())
            elif not wanted and conn is not None:
                timeout = max(0.0, idle_since + LINGER_S - time.monotonic())
                if timeout == 0.0:
                    conn.close()
                    conn = None
                    continue
            fds = [self._wake_r] + ([conn.fileno] if conn is not None else [])
            if conn is not None and conn.has_pending():
                # python-xlib may have read events off the socket already (during a flush): the
                # socket is then quiet, and with DeltaRectangles a window redrawing the same
                # area sends nothing more until the region is emptied, so select would sleep
                # on them for good.
                timeout = 0
            try:
                select.select(fds, [], [], timeout)
            except (OSError, ValueError):
                pass
            try:
                while os.read(self._wake_r, 512):
                    pass
            except (BlockingIOError, OSError):
                pass
            while True:
                try:
                    command = self._commands.get_nowait()
                except queue.Empty:
                    break
                if command.kind == "stop":
                    if conn is not None:
                        conn.close()
                    return
                if command.kind == "attach":
                    wanted += 1
                    if conn is None and time.monotonic() >= next_try:
                        conn = self._open()
                        next_try = time.monotonic() + RECONNECT_INTERVAL_S
                    ok = conn is not None and conn.sync_and_publish(self) is not None
                    if not ok and conn is not None:
                        conn.close()
                        conn = None
                        self._call_loop(self._lost)
                    assert command.future is not None
                    # Through the loop, after the batches published above.
                    self._call_loop(_resolve, command.future, ok)
                elif command.kind == "detach":
                    wanted = max(0, wanted - 1)  # subscribers detach one at a time, each once
                    idle_since = time.monotonic()
            if conn is not None:
                published = conn.read_and_publish(self)
                if published is None:
                    conn.close()
                    conn = None
                    next_try = time.monotonic() + RECONNECT_INTERVAL_S
                    self._call_loop(self._lost)
                elif published and self.min_batch_interval_s:
                    time.sleep(self.min_batch_interval_s)
            elif wanted and time.monotonic() >= next_try:
                conn = self._open()
                next_try = time.monotonic() + RECONNECT_INTERVAL_S

    def _open(self) -> _Connection | None:
        try:
            return _Connection(self.display_name)
        except Exception as exc:  # no server (yet): try again later
            log.debug("damage watcher cannot connect", extra={"error": str(exc)})
            return None


def _resolve(future: concurrent.futures.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


class _Connection:
    """One X connection with a DeltaRectangles damage on the root. Thread-confined."""

    def __init__(self, display_name: str | None) -> None:
        self.conn = xdisplay.Display(display_name)
        self.errors = 0
        try:
            self.conn.set_error_handler(self._on_error)
            if not self.conn.has_extension("DAMAGE"):
                raise RuntimeError("no DAMAGE extension")
            self.conn.damage_query_version()
            self.event_type = self.conn.extension_event.DamageNotify
            self.damage = self.conn.screen().root.damage_create(damage.DamageReportDeltaRectangles)
            # A new damage starts as the whole root (reported once): empty it, or no further
            # rectangle inside it would ever be reported. What came before is nobody's change.
            self.conn.damage_subtract(self.damage)
            self.conn.sync()
            self._drain()
        except Exception:
            self.close()
            raise
        self.fileno = self.conn.fileno()

    def _on_error(self, err: Any, *args: Any) -> None:
        self.errors += 1

    def _drain(self) -> list[Rect]:
        rects: list[Rect] = []
        while self.conn.pending_events():
            event = self.conn.next_event()
            if event.type == self.event_type:
                area = event.area
                rects.append((area.x, area.y, area.width, area.height))
        return rects

    def has_pending(self) -> bool:
        try:
            return bool(self.conn.pending_events())
        except Exception:  # a dead connection: let the read find out and report it
            return True

    def read_and_publish(self, watcher: DamageWatcher) -> bool | None:
        """Read what is queued; publish it. Whether anything was; None when the connection is gone."""
        try:
            rects = self._drain()
            if rects:
                # Empty the region so that the next drawing anywhere is reported again.
                self.conn.damage_subtract(self.damage)
                self.conn.flush()
        except Exception as exc:  # Xlib fails in many ways on a dead server
            log.debug("damage watcher lost the display", extra={"error": str(exc)})
            return None
        if self.errors:  # BadDamage and the like: this damage can no longer be trusted
            return None
        if rects:
            watcher._call_loop(watcher._publish, time.monotonic(), rects)
        return bool(rects)

    def sync_and_publish(self, watcher: DamageWatcher) -> bool | None:
        """A round trip, so that every damage the server produced before it is read, then publish."""
        try:
            self.conn.sync()
        except Exception:
            return None
        return self.read_and_publish(watcher)

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # a dead connection fails to close in many ways; it is gone either way
            pass
