"""Method calls written straight to dbus-fast's connection, many at a time.

Reading a 1000-node page sends about 6000 calls. Through dbus-fast's public `call()` each one
costs a Message object (its validation alone ~8 µs), a marshalling pass (~8 µs), a future and
a `send()` system call: on this 2-core machine that was half the time of the whole request.
Here a call is a few bytes joined from pieces made once (only the path, the destination and the
serial differ from one node to the next), a batch of them is one write, and each reply goes to
a plain callback. The replies are read and unmarshalled by dbus-fast as usual.

This leans on three of dbus-fast's internals, checked by the tests on every run:
`_method_return_handlers` (serial -> callback(reply, error)), the writer's queue of buffers
(`_writer.messages` + `schedule_write()`), and `next_serial()` (public). pyproject.toml bounds
the version.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import struct
from collections.abc import Callable, Sequence
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

_U32 = struct.Struct("<I")
_HEADER = struct.Struct("<4sIII")  # endianness, type, flags, version; body length; serial; fields length
_CALL = b"l\x01\x00\x01"  # little endian, METHOD_CALL, no flags, protocol version 1


def _pad8(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 8)


def _string_field(code: int, type_code: bytes, value: str) -> bytes:
    """One header field (byte code, variant of a string/object path), from an 8-aligned start."""
    raw = value.encode()
    return bytes((code, 1)) + type_code + b"\x00" + _U32.pack(len(raw)) + raw + b"\x00"


def _string(value: str) -> bytes:
    raw = value.encode()
    return _U32.pack(len(raw)) + raw + b"\x00"


def _align(data: bytes, size: int) -> bytes:
    return data + b"\x00" * (-len(data) % size)


@functools.lru_cache(maxsize=64)
def _method(interface: str, member: str, signature: str, body: tuple[Any, ...]) -> tuple[bytes, bytes, bytes]:
    """(interface and member fields, signature field, body) of a call: the same for every node."""
    fixed = _pad8(_string_field(2, b"s", interface)) + _pad8(_string_field(3, b"s", member))
    sig = b""
    if signature:
        raw = signature.encode()
        sig = b"\x08\x01g\x00" + bytes((len(raw),)) + raw + b"\x00"
    data = b""
    for code, value in zip(signature, body):
        if code == "s":
            data = _align(data, 4) + _string(value)
        elif code == "u":
            data = _align(data, 4) + _U32.pack(value)
        elif code == "i":
            data = _align(data, 4) + struct.pack("<i", value)
        else:  # pragma: no cover - only the few argument types AT-SPI calls here use
            raise ValueError(f"argument type {code!r} is not supported")
    return fixed, sig, data


@functools.lru_cache(maxsize=256)
def _destination(name: str) -> bytes:
    return _string_field(6, b"s", name)


def encode_call(serial: int, destination: str, path: str, interface: str, member: str, signature: str = "", body: Sequence[Any] = ()) -> bytes:
    """The bytes of a METHOD_CALL message, as dbus-fast's marshaller would write them."""
    fixed, sig, data = _method(interface, member, signature, tuple(body))
    fields = _pad8(_string_field(1, b"o", path)) + fixed + _destination(destination)
    if sig:
        fields = _pad8(fields) + sig
    return _HEADER.pack(_CALL, len(data), serial, len(fields)) + _pad8(fields) + data


Call = tuple[str, str, str, str, str, tuple[Any, ...]]  # destination, path, interface, member, signature, body


OnReply = Callable[[Any], None]  # called with the reply's body, or None for an error reply


class Stream:
    """Calls sent on a connected MessageBus as they are added, at most `window` unanswered at a
    time; each reply's body goes to the call's callback, which may add more calls (a node's
    children, asked as soon as its GetChildren answers: no waiting for a whole level).

    The window keeps the socket's send buffer from filling: dbus-fast takes a send that would
    block (EAGAIN) for a broken connection. The calls added during one read of replies go out
    in one write."""

    def __init__(self, bus: MessageBus, window: int) -> None:
        self.bus = bus
        self.window = window
        self.calls = 0
        self.queue: collections.deque[tuple[Call, OnReply]] = collections.deque()
        self.callbacks: dict[int, OnReply] = {}  # serial -> callback, for the calls in flight
        self.pending = bytearray()
        self.flush_scheduled = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.failure: BaseException | None = None

    def add(self, call: Call, on_reply: OnReply) -> None:
        self.queue.append((call, on_reply))
        self.calls += 1
        self._fill()

    async def drain(self) -> None:
        """Until every call added (also by callbacks) has its answer; raises if the connection
        fails, and forgets what is still awaited when given up (timeout, cancellation)."""
        if not self.bus.connected:
            raise EOFError("the accessibility bus connection is closed")
        try:
            self._flush()
            if self.callbacks or self.queue:
                await self.done
            if self.failure is not None:
                raise self.failure
        finally:
            # so that a hung application's late answers find nothing and nothing piles up
            handlers = self.bus._method_return_handlers  # noqa: SLF001 - see the module docstring
            for serial in self.callbacks:
                handlers.pop(serial, None)
            self.callbacks.clear()
            self.queue.clear()

    def _fill(self) -> None:
        handlers = self.bus._method_return_handlers  # noqa: SLF001
        while self.queue and len(self.callbacks) < self.window:
            call, on_reply = self.queue.popleft()
            serial = self.bus.next_serial()
            self.callbacks[serial] = on_reply
            handlers[serial] = functools.partial(self._on_reply, serial)
            self.pending += encode_call(serial, *call)
        if self.pending and not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        if not self.pending or self.done.done():
            return
        data, self.pending = self.pending, bytearray()
        writer = self.bus._writer  # noqa: SLF001
        writer.messages.append((data, None, None))
        writer.schedule_write()

    def _on_reply(self, serial: int, reply: Message | None, err: Exception | None) -> None:
        on_reply = self.callbacks.pop(serial, None)
        if on_reply is None or self.done.done():
            return
        if reply is None:
            self.failure = err or EOFError("the accessibility bus connection closed")
            self.done.set_result(None)
            return
        try:
            on_reply(reply.body if reply.message_type == MessageType.METHOD_RETURN else None)
        except Exception as exc:  # a bug in a callback: the walk fails, not the connection
            self.failure = exc
            self.done.set_result(None)
            return
        self._fill()
        if not self.callbacks and not self.queue:
            self.done.set_result(None)


async def batch(bus: MessageBus, calls: Sequence[Call], window: int) -> list[Any]:
    """Every call's reply body in order (None for an error reply)."""
    results: list[Any] = [None] * len(calls)
    stream = Stream(bus, window)

    def keep(index: int, body: Any) -> None:
        results[index] = body

    for index, call in enumerate(calls):
        stream.add(call, functools.partial(keep, index))
    await stream.drain()
    return results
