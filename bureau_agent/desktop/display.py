"""The owner of the X connection.

python-xlib is not thread-safe, so one dedicated thread owns the connection and every X call is
submitted to it (`await display.call(fn)`); the event loop never talks to X itself. A monitor task
pings the server; when the server goes away the connection is dropped, `connected` turns false
and listeners are told; reconnection is retried until the server returns. Each new connection
gets a new `generation`, so that caches built on an old one (keyboard maps) can be thrown away.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from Xlib import X
from Xlib import display as xdisplay
from Xlib import error as xerror

from bureau_agent.aio import wait_event
from bureau_agent.errors import DisplayUnavailable

log = logging.getLogger("bureau_agent.display")

T = TypeVar("T")

# Errors that mean the connection itself is gone (as opposed to one failed request).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    xerror.ConnectionClosedError,
    xerror.DisplayError,
    ConnectionError,
    BrokenPipeError,
    EOFError,
)


@dataclasses.dataclass(frozen=True)
class DisplayState:
    name: str | None
    connected: bool
    width: int = 0
    height: int = 0
    has_xtest: bool = False
    generation: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "connected": self.connected, "width": self.width, "height": self.height}


Listener = Callable[[DisplayState], None]


class Display:
    """One X connection, owned by one thread, kept alive across X server restarts."""

    def __init__(self, name: str | None, *, check_interval_s: float = 0.5, ping_timeout_s: float = 10.0) -> None:
        self.name = name
        self.check_interval_s = check_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.state = DisplayState(name=name, connected=False)
        self._conn: xdisplay.Display | None = None
        self._generation = 0
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="x-owner")
        self._listeners: list[Listener] = []
        self._monitor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self._try_connect()
        self._monitor = asyncio.get_running_loop().create_task(self._watch(), name="display-monitor")

    async def close(self) -> None:
        self._closing = True  # ends the monitor even if a cancel is swallowed by a wait_for (< 3.12)
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._drop_connection)
        self._executor.shutdown(wait=True)

    def add_listener(self, listener: Listener) -> None:
        """listener(state) runs on the event loop whenever the display connects or is lost."""
        self._listeners.append(listener)

    @property
    def connected(self) -> bool:
        return self.state.connected

    # -- calls -----------------------------------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(connection, *args) on the owner thread.

        Raises DisplayUnavailable when there is no connection or it breaks during the call.
        """
        if not self.state.connected:
            raise DisplayUnavailable(f"The X display {self.name} is not available right now.", retry_after_s=1)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._run_on_owner, fn, args)
        except CONNECTION_ERRORS as exc:
            await self._lost(exc)
            raise DisplayUnavailable(f"The X display {self.name} went away.", retry_after_s=1) from None
        except xerror.XError:
            # A protocol error is usually the caller's (a window that closed), but it can be the
            # first sign of a server going bad: ping now rather than at the next tick.
            self.wake_monitor()
            raise

    def _run_on_owner(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._conn
        if conn is None:
            raise xerror.ConnectionClosedError("no connection")
        return fn(conn, *args)

    def wake_monitor(self) -> None:
        """Ask for a check now (for example after an X error seen elsewhere)."""
        self._wake.set()

    # -- connection management -------------------------------------------------------------

    async def _watch(self) -> None:
        while not self._closing:
            await wait_event(self._wake, self.check_interval_s)
            self._wake.clear()
            if self.state.connected:
                await self._ping()
            else:
                await self._try_connect()

    async def _ping(self) -> None:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._executor, self._run_on_owner, _round_trip, ())
        try:
            await asyncio.wait_for(fut, self.ping_timeout_s)
        except asyncio.TimeoutError:
            await self._lost(TimeoutError("the X server did not answer a ping"))
        except CONNECTION_ERRORS as exc:
            await self._lost(exc)

    async def _try_connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            state = await loop.run_in_executor(self._executor, self._connect)
        except Exception as exc:  # any failure to connect just means "not yet"
            log.debug("display connect failed", extra={"display": self.name, "error": str(exc)})
            return
        self._set_state(state)
        log.info("display connected", extra={"display": self.name, "width": state.width, "height": state.height})

    def _connect(self) -> DisplayState:
        self._drop_connection()
        conn = xdisplay.Display(self.name)
        try:
            screen = conn.screen()
            has_xtest = conn.query_extension("XTEST") is not None
            conn.set_close_down_mode(X.DestroyAll)
        except Exception:
            conn.close()
            raise
        self._conn = conn
        self._generation += 1
        return DisplayState(
            name=self.name,
            connected=True,
            width=screen.width_in_pixels,
            height=screen.height_in_pixels,
            has_xtest=has_xtest,
            generation=self._generation,
        )

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a dead connection may fail in many ways; it is gone either way
                pass

    async def _lost(self, exc: BaseException) -> None:
        if not self.state.connected:
            return
        log.warning("display lost", extra={"display": self.name, "error": str(exc) or type(exc).__name__})
        self._set_state(dataclasses.replace(self.state, connected=False))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._drop_connection)
        self._wake.set()

    def _set_state(self, state: DisplayState) -> None:
        changed = state.connected != self.state.connected
        self.state = state
        if changed:
            for listener in list(self._listeners):
                try:
                    listener(state)
                except Exception:
                    log.exception("display listener failed")


def _round_trip(conn: xdisplay.Display) -> None:
    conn.get_input_focus()
