"""The input connection: XTest events and the answer's QueryPointer, driven from the event loop.

A click that went through the display owner cost two thread wake-ups more than the X round trip
itself (measured: 0.11 ms of a 0.25 ms send-and-query on the bench's machine). This second X
connection carries only input, so the loop can drive it without ever blocking: python-xlib opens
it (authentication, setup, the XTEST opcode), then the loop writes the batch's requests to the
non-blocking socket and reads the one reply (polled for a bounded moment, then awaited with the
loop's reader: below). No read ever blocks the loop, and a server that stops answering leaves
only the awaiting call waiting, until the display monitor's ping timeout shuts the socket down
(close()), which fails it.

Only three kinds of message come back: the QueryPointer reply, an error for one of our requests,
and events every client gets unasked (MappingNotify): those are counted, for the keyboard's check
that nobody else changed the map (take_notifies), and skipped. A reply or error for a request
whose caller gave up (cancelled) is skipped by its sequence number.

The reply is first polled for, for up to spin_s, before the call waits on the loop's reader. A
reply the loop waits for arrives after two wake-ups from idle, the server's and ours; on the
bench's two-core machine a QueryPointer round trip took 79 µs that way against 26 µs polled,
and the server answers within 75 µs 99 times in 100 (docs/input.md). The poll is bounded, so
a server that is slow to answer costs the loop spin_s at most, and it is off where the agent has
one CPU: there it would keep the server it waits for off that CPU.

Order with the owner's connection: the server orders requests within one connection only. A
batch on one connection is therefore synced (a round trip) before a batch goes on the other
(xtest.Injector), and keyboard mapping changes end with a round trip on the owner's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import struct
import time

from Xlib import display as xdisplay
from Xlib import error as xerror

QUERY_POINTER = struct.Struct("=BxHI")  # opcode 38, length 2 words, window
QUERY_POINTER_OPCODE = 38
UNIT = 32  # every reply, error and core event is 32 bytes, a reply's extra data after it
REPLY_FIELDS = struct.Struct("=xxHI8xhh4xH")  # sequence, extra length, root x/y, mask
GENERIC_EVENT = 35  # an event with extra data after its 32 bytes (XGE)
MAPPING_NOTIFY = 34


@dataclasses.dataclass(frozen=True)
class PointerState:
    """What a QueryPointer answers of the pointer, whichever connection asked."""

    x: int
    y: int
    mask: int  # core state: modifiers, buttons, and the XKB group in bits 13-14

    @property
    def group(self) -> int:
        return (self.mask >> 13) & 3


class InputRefused(xerror.XError):
    """The server refused one of the batch's requests (an X error, code and sequence number)."""

    def __init__(self, code: int, sequence: int) -> None:
        Exception.__init__(self, code, sequence)
        self.code, self.sequence_number = code, sequence

    def __str__(self) -> str:
        return f"X error {self.code} for input request {self.sequence_number}"


class InputWire:
    """Built on the owner thread by open(); used and closed on the event loop only."""

    def __init__(self, conn: xdisplay.Display, xtest_opcode: int, spin_s: float = 0.0) -> None:
        self._conn = conn  # kept for its socket and close(); python-xlib sends nothing more on it
        self.sock: socket.socket = conn.display.socket
        self.sock.setblocking(False)
        self.xtest_opcode = xtest_opcode
        self._root = conn.screen().root.id
        self._serial = conn.display.request_serial  # the next request's number (mod 2^16)
        self._buffer = bytearray()
        self._lock = asyncio.Lock()  # one reader of the socket at a time
        self._closed = False
        self._notifies = 0  # MappingNotify read and not yet taken
        self.spin_s = spin_s if len(os.sched_getaffinity(0)) > 1 else 0.0

    @classmethod
    def open(cls, name: str | None, spin_s: float = 0.0) -> InputWire | None:
        """A new connection to display `name`, or None when it has no XTEST (blocking: owner thread).
        spin_s: how long a call polls for its reply before it waits on the loop."""
        conn = xdisplay.Display(name)
        try:
            info = conn.query_extension("XTEST")
            if info is None:
                conn.close()
                return None
            return cls(conn, info.major_opcode, spin_s)
        except Exception:
            conn.close()
            raise

    def close(self) -> None:
        """Fail whatever awaits a reply: the socket is shut down now, and closed once no call
        has it registered with the loop's selector (a closed descriptor number, reused by the
        next connection, would meet the stale registration)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        if not self._lock.locked():
            self._release()

    def _release(self) -> None:
        with contextlib.suppress(Exception):  # a dead connection may fail to close in many ways
            self._conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def take_notifies(self) -> int:
        """The MappingNotify events that reached this connection since the last take: those read
        with replies, and whatever is in the socket now (read without waiting)."""
        if not self._lock.locked() and not self._closed:  # a call in progress reads for itself
            while True:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:  # EINTR is retried by recv itself (PEP 475)
                    break
                except OSError:
                    break  # a broken connection: the next send says so
                if not data:
                    break
                self._buffer += data
            while (size := self._complete()) is not None:
                self._count(self._buffer[:UNIT])
                del self._buffer[:size]
        taken, self._notifies = self._notifies, 0
        return taken

    def _complete(self) -> int | None:
        """The size of the buffer's first message if it is all there."""
        if len(self._buffer) < UNIT:
            return None
        size = UNIT
        if self._buffer[0] & 0x7F in (1, GENERIC_EVENT):
            size += 4 * struct.unpack_from("=I", self._buffer, 4)[0]
        return size if len(self._buffer) >= size else None

    def _count(self, unit: bytes | bytearray) -> None:
        if unit[0] & 0x7F == MAPPING_NOTIFY:
            self._notifies += 1

    async def send(self, requests: list[bytes], *, sync: bool) -> PointerState | None:
        """Write the requests (each one request's bytes); with sync, one QueryPointer after them
        and its reply: the server has then processed every request before it."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._closed:
                raise xerror.ConnectionClosedError("input connection closed")
            try:
                return await self._exchange(loop, requests, sync)
            finally:
                if self._closed:  # closed while this call had the socket: it is free now
                    self._release()

    async def _exchange(self, loop: asyncio.AbstractEventLoop, requests: list[bytes], sync: bool) -> PointerState | None:
        first = self._serial
        if sync:
            requests = [*requests, QUERY_POINTER.pack(QUERY_POINTER_OPCODE, 2, self._root)]
        self._serial = (first + len(requests)) & 0xFFFF
        try:
            await loop.sock_sendall(self.sock, b"".join(requests))
        except BaseException:
            # A batch cut off mid-request (a cancel while the socket was full) leaves the server
            # reading garbage: this connection is done, and input goes through the owner's.
            self.close()
            raise
        if not sync:
            return None
        return await self._reply(loop, first, (self._serial - 1) & 0xFFFF)

    async def _reply(self, loop: asyncio.AbstractEventLoop, first: int, want: int) -> PointerState:
        span = (want - first) & 0xFFFF
        refused: InputRefused | None = None
        while True:
            unit = await self._unit(loop)
            kind = unit[0] & 0x7F
            if kind == 0:  # an error: code, then sequence
                code, sequence = unit[1], struct.unpack_from("=H", unit, 2)[0]
                if (sequence - first) & 0xFFFF <= span:  # one of this batch's
                    refused = refused or InputRefused(code, sequence)
                    if sequence == want:
                        raise refused
            elif kind == 1:
                sequence, _, x, y, mask = REPLY_FIELDS.unpack_from(unit)
                if sequence == want:
                    if refused is not None:
                        raise refused
                    return PointerState(x, y, mask)
            # anything else: an event every client gets (MappingNotify), or a reply for a caller
            # that gave up; neither concerns this batch

    async def _unit(self, loop: asyncio.AbstractEventLoop) -> bytes:
        """The next whole message: its 32 bytes, its extra data consumed with it."""
        await self._fill(loop, UNIT)
        while (size := self._complete()) is None:
            await self._fill(loop, len(self._buffer) + 1)
        unit = bytes(self._buffer[:UNIT])
        del self._buffer[:size]
        self._count(unit)
        return unit

    async def _fill(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        while len(self._buffer) < size:
            data = self._poll() if self.spin_s > 0 else None
            if data is None:
                data = await loop.sock_recv(self.sock, 4096)
            if not data:
                raise xerror.ConnectionClosedError("input connection")
            self._buffer += data

    def _poll(self) -> bytes | None:
        """What the socket has within spin_s, read without the loop; None if nothing came."""
        deadline = time.perf_counter() + self.spin_s
        while True:
            try:
                return self.sock.recv(4096)
            except BlockingIOError:  # EINTR is retried by recv itself (PEP 475)
                if time.perf_counter() >= deadline:
                    return None
