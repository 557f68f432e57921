"""The owner of the X connection.

python-xlib is not thread-safe, so one dedicated thread owns the connection and every X call is
submitted to it (`await display.call(fn)`), and the event loop never blocks on X. Input has a
connection of its own that the loop drives without blocking (inputwire.py). A monitor task
pings the server; when the server goes away the connection is dropped, `connected` turns false
and listeners are told; reconnection is retried until the server returns. Each new connection
gets a new `generation`, so that caches built on an old one (keyboard maps) can be thrown away.

The ping reads the root window's size, so a resized screen (RandR) is seen within one interval.
A server that stops answering (SIGSTOP, a hung driver) would keep the owner thread blocked in a
read forever; after ping_timeout_s the socket is shut down from the loop, which fails the stuck
call and everything queued behind it at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from Xlib import X
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.support import unix_connect

from bureau_agent.aio import Ticker
from bureau_agent.desktop.inputwire import InputWire, PointerState
from bureau_agent.errors import DisplayUnavailable
from bureau_agent.listeners import Listeners

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


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():  # the caller gave up (timeout, cancel): the outcome is dropped
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class Display:
    """One X connection, owned by one thread, kept alive across X server restarts."""

    def __init__(
        self, name: str | None, *, check_interval_s: float = 0.5, ping_timeout_s: float = 10.0, reply_spin_s: float = 0.0
    ) -> None:
        self.name = name
        self._reply_spin_s = reply_spin_s  # the input connection's (inputwire.py)
        self.ping_timeout_s = ping_timeout_s
        self.state = DisplayState(name=name, connected=False)
        self._conn: xdisplay.Display | None = None
        self._wire: InputWire | None = None  # set on the owner thread; used and closed on the loop
        self._generation = 0
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="x-owner")
        self._listeners: Listeners[DisplayState] = Listeners("display", log)
        self._monitor = Ticker("display monitor", self._check, check_interval_s, log)
        self._silent = False  # the last server stopped answering: probe before connecting again

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self._try_connect()
        self._monitor.start()

    async def close(self) -> None:
        await self._monitor.close()
        self._close_wire()
        drop = asyncio.get_running_loop().run_in_executor(self._executor, self._drop_connection)
        done, _ = await asyncio.wait({drop}, timeout=self.ping_timeout_s)
        if not done:  # the owner is stuck on a server that stopped answering: unblock it
            self._break_connection()
            await drop
        self._executor.shutdown(wait=True)

    def add_listener(self, listener: Listener) -> None:
        """listener(state) runs on the event loop whenever the display connects or is lost."""
        self._listeners.add(listener)

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
        return await self._outcome(self._hop(fn, args))

    async def _outcome(self, pending: Awaitable[T]) -> T:
        """An X exchange's result; a connection that breaks loses the display (both connections)
        and the caller gets DisplayUnavailable."""
        try:
            return await pending
        except CONNECTION_ERRORS as exc:
            await self._lost(exc)
            raise DisplayUnavailable(f"The X display {self.name} went away.", retry_after_s=1) from None
        except xerror.XError:
            # A protocol error is usually the caller's (a window that closed), but it can be the
            # first sign of a server going bad: ping now rather than at the next tick.
            self.wake_monitor()
            raise

    def _hop(self, fn: Callable[..., T], args: tuple[Any, ...]) -> asyncio.Future[T]:
        """fn(conn, *args) on the owner thread, its outcome in a loop future: the click path's one
        hop. The owner sets the future itself with one call_soon_threadsafe, where
        run_in_executor chains a concurrent future, its done callback and a second future (about
        15 µs less per call, measured); the thread, and so the order of calls, is the same."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def work() -> None:
            try:
                result = self._run_on_owner(fn, args)
            except BaseException as exc:  # handed to the caller, like run_in_executor does
                loop.call_soon_threadsafe(_settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)

        submitted = self._executor.submit(work)
        # A caller that gives up (timeout, cancel) before its turn comes takes its call back, as
        # with run_in_executor: a click nobody waits for any more must not happen later.
        future.add_done_callback(lambda f: submitted.cancel() if f.cancelled() else None)
        return future

    def _run_on_owner(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._conn
        if conn is None:
            raise xerror.ConnectionClosedError("no connection")
        return fn(conn, *args)

    @property
    def input_wire(self) -> InputWire | None:
        """The input connection, when there is one that works (else input goes through call())."""
        wire = self._wire
        return wire if self.state.connected and wire is not None and not wire.closed else None

    async def input(self, wire: InputWire, requests: list[bytes], sync: bool) -> PointerState | None:
        """wire.send(), its errors handled as call()'s."""
        return await self._outcome(wire.send(requests, sync=sync))

    def wake_monitor(self) -> None:
        """Ask for a check now (for example after an X error seen elsewhere)."""
        self._monitor.wake()

    # -- connection management -------------------------------------------------------------

    async def _check(self) -> None:
        if self.state.connected:
            await self._ping()
        else:
            await self._try_connect()

    async def _ping(self) -> None:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._executor, self._run_on_owner, _screen_size, ())
        # A ping given up on (timed out, or the monitor closed) still ends, usually failing on
        # the connection that was shut: that outcome is known and not worth a warning.
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        done, _ = await asyncio.wait({fut}, timeout=self.ping_timeout_s)
        if not done:
            self._break_connection()
            self._silent = True
            await self._lost(TimeoutError("the X server did not answer a ping"))
            return
        try:
            width, height = fut.result()
        except CONNECTION_ERRORS as exc:
            await self._lost(exc)
            return
        if (width, height) != (self.state.width, self.state.height):
            log.info("screen size changed", extra={"display": self.name, "width": width, "height": height})
            self.state = dataclasses.replace(self.state, width=width, height=height)

    async def _try_connect(self) -> None:
        loop = asyncio.get_running_loop()
        if self._silent:
            # Connecting to a server that accepts but never answers would block the owner
            # thread in python-xlib's setup read, out of reach of any timeout: ask first.
            if not await loop.run_in_executor(None, _answers_setup, self.name, self.ping_timeout_s):
                return
        try:
            state = await loop.run_in_executor(self._executor, self._connect)
        except Exception as exc:  # any failure to connect just means "not yet"
            log.debug("display connect failed", extra={"display": self.name, "error": str(exc)})
            return
        self._silent = False
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
        if has_xtest:
            try:
                self._wire = InputWire.open(self.name, self._reply_spin_s)
            except Exception as exc:  # input still works, through the owner
                log.warning("no input connection", extra={"display": self.name, "error": str(exc)})
        return DisplayState(
            name=self.name,
            connected=True,
            width=screen.width_in_pixels,
            height=screen.height_in_pixels,
            has_xtest=has_xtest,
            generation=self._generation,
        )

    def _close_wire(self) -> None:
        wire, self._wire = self._wire, None
        if wire is not None:
            wire.close()

    def _break_connection(self) -> None:
        """From the loop: shut the socket down, so a read blocked on the owner thread fails now."""
        self._close_wire()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.display.socket.shutdown(socket.SHUT_RDWR)

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
        self._close_wire()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._drop_connection)
        self._monitor.wake()

    def _set_state(self, state: DisplayState) -> None:
        changed = state.connected != self.state.connected
        self.state = state
        if changed:
            self._listeners.notify(state)


SETUP_REQUEST = struct.pack("<BxHHHHxx", ord("l"), 11, 0, 0, 0)  # little-endian, X11.0, no auth


def _answers_setup(name: str | None, timeout_s: float) -> bool:
    """Whether the local X server on `name` answers a connection setup within timeout_s.

    Any answer counts (an authorization failure too). Remote displays are not probed.
    """
    _, _, host, number, _ = unix_connect.get_display(name)
    if host not in ("", "unix"):
        return True
    path = f"/tmp/.X11-unix/X{number}"
    address = path if os.path.exists(path) else "\0" + path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(address)
            sock.sendall(SETUP_REQUEST)
            return bool(sock.recv(1))
    except socket.timeout:
        return False
    except OSError:
        return True  # no server there: python-xlib's own connect says so


def _screen_size(conn: xdisplay.Display) -> tuple[int, int]:
    """One round trip: the root window's size, which follows RandR resizes (the connection
    setup's screen size does not)."""
    geometry = conn.screen().root.get_geometry()
    return geometry.width, geometry.height
