"""Finding and keeping the accessibility bus.

Applications find it the way at-spi2-core's atk-bridge and Qt do: the `AT_SPI_BUS` property on
the X root window (at-spi-bus-launcher writes it when the session starts), else
`org.a11y.Bus.GetAddress` on the session bus. A working connection is kept and reused; one that
dies is dropped; a failed lookup is never cached, so a session that starts after the agent is
found by the next request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from bureau_agent.errors import AccessibilityUnavailable

log = logging.getLogger("bureau_agent.accessibility")

FIX = (
    "start the session's accessibility bus (at-spi2-core's at-spi-bus-launcher, which a desktop "
    "session such as XFCE or GNOME starts; `/usr/libexec/at-spi-bus-launcher --launch-immediately` "
    "in a bare X session), or make DBUS_SESSION_BUS_ADDRESS name the desktop user's session bus"
)
CONNECT_TIMEOUT_S = 2.0

RootProperty = Callable[[], Awaitable[str | None]]
SessionEnv = Callable[[], Mapping[str, str]]


_WATCHERS: set[asyncio.Task[Any]] = set()


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # the peer hung up (EOFError): expected, and seen by the next call


async def connect(address: str, timeout_s: float) -> MessageBus:
    """A connected MessageBus whose end (the other side closing) is never reported as an
    unretrieved future exception."""
    bus = MessageBus(bus_address=address)
    try:
        await asyncio.wait_for(bus.connect(), timeout_s)
    except BaseException:
        bus.disconnect()
        raise
    task = asyncio.ensure_future(bus.wait_for_disconnect())
    _WATCHERS.add(task)
    task.add_done_callback(_WATCHERS.discard)
    task.add_done_callback(_retrieve)
    return bus


def read_root_property(conn: Any) -> str | None:
    """AT_SPI_BUS of the root window (runs on the display owner's thread)."""
    from Xlib import X

    atom = conn.get_atom("AT_SPI_BUS", only_if_exists=True)
    if not atom:
        return None
    prop = conn.screen().root.get_full_property(atom, X.AnyPropertyType)
    if prop is None or not prop.value:
        return None
    value = prop.value
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text.strip("\x00").strip() or None


async def session_bus_lookup(address: str, timeout_s: float) -> str | None:
    """org.a11y.Bus.GetAddress on the session bus at address, or None when it does not answer."""
    bus: MessageBus | None = None
    try:
        bus = await connect(address, timeout_s)
        reply = await asyncio.wait_for(
            bus.call(Message(destination="org.a11y.Bus", path="/org/a11y/bus", interface="org.a11y.Bus", member="GetAddress")),
            timeout_s,
        )
    except (OSError, EOFError, asyncio.TimeoutError, ValueError) as exc:
        log.debug("session bus lookup failed", extra={"error": str(exc)})
        return None
    except Exception as exc:  # dbus-fast's own auth and protocol errors
        log.debug("session bus lookup failed", extra={"error": repr(exc)})
        return None
    finally:
        if bus is not None:
            bus.disconnect()
    if reply.message_type != MessageType.METHOD_RETURN or not reply.body or not reply.body[0]:
        return None
    return str(reply.body[0])


class BusFinder:
    """The accessibility bus connection: found on demand, kept while it lives."""

    def __init__(self, root_property: RootProperty, session_env: SessionEnv, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self._root_property = root_property
        self._session_env = session_env
        self.timeout_s = timeout_s
        self._bus: MessageBus | None = None
        self._address: str | None = None
        self._lock = asyncio.Lock()
        self.source = ""  # where the last address came from: "root window" or "session bus"

    async def address(self) -> tuple[str | None, str]:
        """(address, why not) from the root window, else the session bus."""
        reasons = []
        try:
            address = await self._root_property()
        except Exception as exc:  # no display: the session bus may still know
            address = None
            reasons.append(f"the X root window could not be read ({exc})")
        if address:
            self.source = "root window"
            return address, ""
        if not reasons:
            reasons.append("the X root window has no AT_SPI_BUS property")
        session = self._session_env().get("DBUS_SESSION_BUS_ADDRESS")
        if not session:
            reasons.append("no session bus is known (DBUS_SESSION_BUS_ADDRESS is not set)")
            return None, "; ".join(reasons)
        address = await session_bus_lookup(session, self.timeout_s)
        if address:
            self.source = "session bus"
            return address, ""
        reasons.append(f"org.a11y.Bus on the session bus {session} did not answer")
        return None, "; ".join(reasons)

    async def bus(self) -> MessageBus:
        """The connected accessibility bus, or AccessibilityUnavailable saying how to fix it."""
        async with self._lock:
            address, why = await self.address()
            if self._bus is not None and (not self._bus.connected or address != self._address):
                self._drop()
            if self._bus is not None:
                return self._bus
            if address is None:
                raise AccessibilityUnavailable(f"No accessibility bus: {why}. Fix: {FIX}.")
            try:
                bus = await connect(address, self.timeout_s)
            except Exception as exc:
                raise AccessibilityUnavailable(
                    f"The accessibility bus {address} (from the {self.source}) refused the connection: {exc}. Fix: {FIX}."
                ) from None
            self._bus, self._address = bus, address
            log.info("accessibility bus connected", extra={"address": address, "source": self.source})
            return bus

    def _drop(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
        self._bus = self._address = None

    def forget(self, bus: MessageBus) -> None:
        """Drop bus if it is still the kept one (a call found it dead)."""
        if bus is self._bus:
            self._drop()

    async def close(self) -> None:
        async with self._lock:
            self._drop()
