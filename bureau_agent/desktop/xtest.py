"""XTest event injection, with a record of every key and button the agent holds down.

Only XTest (never XSendEvent): its events go through the server's input path like a real device,
so every client and toolkit accepts them. A batch of events is written with one flush; a batch
that must have reached the server before the HTTP answer ends with one round trip. Batches go on
the display's input connection, from the loop (inputwire.py); a guarded batch (its guard reads
the owner's event queue) goes through the owner, and whichever connection was used last is
synced before the other is used, since the server orders requests within one connection. Every press
is recorded until its release is sent, so `release_all()` can free whatever an interrupted call
left down (a key held by a dead connection is gone with it, hence the generation check).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Sequence
from typing import NamedTuple

from Xlib import X
from Xlib import display as xdisplay
from Xlib.ext import xtest

from bureau_agent.desktop.display import Display
from bureau_agent.desktop.inputwire import InputWire, PointerState
from bureau_agent.errors import DisplayUnavailable

KEY_PRESS, KEY_RELEASE = X.KeyPress, X.KeyRelease
BUTTON_PRESS, BUTTON_RELEASE = X.ButtonPress, X.ButtonRelease
MOTION = X.MotionNotify


class Event(NamedTuple):  # a tuple: a 100k-character text makes ~400k of them, on the loop
    kind: int  # KEY_PRESS, KEY_RELEASE, BUTTON_PRESS, BUTTON_RELEASE or MOTION
    detail: int = 0  # keycode or button
    x: int = 0
    y: int = 0


Guard = Callable[[xdisplay.Display], bool]


# Button mask bits of the core state (buttons 1-5 only: 6-9 have none).
BUTTON_MASKS = {1: X.Button1Mask, 2: X.Button2Mask, 3: X.Button3Mask, 4: X.Button4Mask, 5: X.Button5Mask}
# How long an answer waits for a frozen pointer (see Injector.send) before reporting the server's
# state as it is. A window manager replays a click within a few ms; this bounds a stuck one.
THAW_TIMEOUT_S = 0.25
THAW_POLL_S = 0.002


def _query(conn: xdisplay.Display) -> PointerState:
    reply = conn.screen().root.query_pointer()
    return PointerState(reply.root_x, reply.root_y, reply.mask)


def expected_pointer(events: Sequence[Event]) -> tuple[tuple[int, int] | None, dict[int, bool]]:
    """Where a batch leaves the pointer (its last motion, if any) and, for each button 1-5 it
    presses or releases, whether it is left down."""
    at = None
    down: dict[int, bool] = {}
    for ev in events:
        if ev.kind == MOTION:
            at = (ev.x, ev.y)
        elif ev.kind in (BUTTON_PRESS, BUTTON_RELEASE) and ev.detail in BUTTON_MASKS:
            down[ev.detail] = ev.kind == BUTTON_PRESS
    return at, down


def pointer_matches(state: PointerState, at: tuple[int, int] | None, down: dict[int, bool]) -> bool:
    if at is not None and (state.x, state.y) != at:
        return False
    return all(bool(state.mask & BUTTON_MASKS[b]) == d for b, d in down.items())


class NotSent(Exception):
    """The guard of a batch refused it: nothing was sent."""


# XTEST FakeInput, 36 bytes: major opcode, minor 2, length 9 (words), type, detail, 2 pad, time
# (CurrentTime), root (None: the pointer's screen), 8 pad, x, y, 8 pad; in the connection's byte
# order, which python-xlib always makes the machine's. Packed here in one struct call instead of
# python-xlib's generic request builder: 1.5 µs an event instead of 10 (a click is 3 events, a
# 100-character text 400). tests/desktop/test_xtest.py checks it is byte for byte python-xlib's.
FAKE_INPUT = struct.Struct("=BBHBB2xII8xhh8x")
FAKE_INPUT_MINOR, FAKE_INPUT_WORDS = 2, 9


class _Request:
    """What python-xlib's send queue uses of a request with no reply: its bytes and a serial."""

    __slots__ = ("_binary", "_serial")

    def __init__(self, binary: bytes) -> None:
        self._binary = binary


def fake_input_bytes(opcode: int, ev: Event) -> bytes:
    return FAKE_INPUT.pack(opcode, FAKE_INPUT_MINOR, FAKE_INPUT_WORDS, ev.kind, ev.detail, X.CurrentTime, X.NONE, ev.x, ev.y)


def _sync(conn: xdisplay.Display) -> None:
    conn.sync()


def _send(conn: xdisplay.Display, events: Sequence[Event], sync: bool, guard: Guard | None = None) -> PointerState | None:
    if guard is not None and not guard(conn):
        raise NotSent()
    wire = conn.display
    opcode = wire.get_extension_major(xtest.extname)
    for ev in events:
        # Serial numbers stay python-xlib's: send_request numbers and queues it like its own.
        wire.send_request(_Request(fake_input_bytes(opcode, ev)), False)
    if not sync:
        conn.flush()
        return None
    # The one round trip: the reply proves the server has processed every event before it.
    return _query(conn)


class Injector:
    """Sends XTest batches through the display owner and tracks what is held down."""

    def __init__(self, display: Display) -> None:
        self.display = display
        self.held_keys: dict[int, None] = {}  # insertion order = press order
        self.held_buttons: set[int] = set()
        self._generation = -1
        self._unsynced: InputWire | Display | None = None  # the connection last written without a round trip

    def _check_generation(self) -> None:
        # After an X server restart nothing is held any more.
        if self._generation != self.display.state.generation:
            self._generation = self.display.state.generation
            self.held_keys.clear()
            self.held_buttons.clear()
            self._unsynced = None

    async def send(self, events: Sequence[Event], *, sync: bool = True, guard: Guard | None = None) -> PointerState | None:
        """Send events; with sync, return once the server has processed them (pointer state after).

        guard(conn), if given, runs on the owner thread first; False sends nothing (NotSent).
        """
        if self.display.state.connected and not self.display.state.has_xtest:
            raise DisplayUnavailable(f"The X display {self.display.name} has no XTEST extension, so input cannot be sent.")
        self._check_generation()
        # Record presses before sending: if the call fails midway, release_all() still frees them.
        pressed_keys = {ev.detail for ev in events if ev.kind == KEY_PRESS} - set(self.held_keys)
        pressed_buttons = {ev.detail for ev in events if ev.kind == BUTTON_PRESS} - self.held_buttons
        for ev in events:
            if ev.kind == KEY_PRESS:
                self.held_keys[ev.detail] = None
            elif ev.kind == BUTTON_PRESS:
                self.held_buttons.add(ev.detail)
        try:
            state = await self._deliver(events, sync, guard)
        except NotSent:
            self.held_keys = {k: None for k in self.held_keys if k not in pressed_keys}
            self.held_buttons -= pressed_buttons
            raise
        if state is not None:
            state = await self._thawed(state, *expected_pointer(events))
        for ev in events:
            if ev.kind == KEY_RELEASE:
                self.held_keys.pop(ev.detail, None)
            elif ev.kind == BUTTON_RELEASE:
                self.held_buttons.discard(ev.detail)
        return state

    async def _deliver(self, events: Sequence[Event], sync: bool, guard: Guard | None) -> PointerState | None:
        wire = self.display.input_wire if guard is None else None
        via: InputWire | Display = wire if wire is not None else self.display
        if self._unsynced is not None and self._unsynced is not via:
            await self.flush_pending()
        self._unsynced = None if sync else via
        if wire is None:
            return await self.display.call(_send, events, sync, guard)
        return await self.display.input(wire, [fake_input_bytes(wire.xtest_opcode, ev) for ev in events], sync)

    async def flush_pending(self) -> None:
        """Wait until the server has processed every batch sent so far (one round trip, on the
        connection written without one; nothing when there is none)."""
        pending, self._unsynced = self._unsynced, None
        if pending is self.display:
            await self.display.call(_sync)
        elif isinstance(pending, InputWire) and not pending.closed:
            await self.display.input(pending, [], True)

    async def _query_pointer(self) -> PointerState:
        state = await self._deliver((), True, None)  # an empty batch: the round trip alone
        assert state is not None
        return state

    async def _thawed(self, state: PointerState, at: tuple[int, int] | None, down: dict[int, bool]) -> PointerState:
        """The pointer state once the server has really processed the batch's pointer events.

        A client's synchronous passive button grab (every window manager's click-to-focus on a
        client window: xfwm4, openbox, …) freezes the pointer at the press until the grabber
        answers with AllowEvents(ReplayPointer). The server then queues the rest of the batch
        (the drag's motion, the release) without processing it, and our QueryPointer, although
        it comes after the events, reports the press position with the button still down.
        Nothing tells another client when the freeze ends, so the server is asked again (one
        round trip each, off the loop) until it reports what the batch did, for at most
        THAW_TIMEOUT_S; then the answer is what the server says (a grabber that never replays
        really keeps the pointer there). A batch whose first answer matches costs nothing more.
        """
        if pointer_matches(state, at, down):
            return state
        deadline = asyncio.get_running_loop().time() + THAW_TIMEOUT_S
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(THAW_POLL_S)
            state = await self._query_pointer()
            if pointer_matches(state, at, down):
                break
        return state

    def holds(self, *, keys: bool = True) -> bool:
        """Whether release_all(keys=keys) has anything to release. Cheap, so that callers can
        skip the task asyncio.shield() would start for nothing (one loop turn per click)."""
        self._check_generation()
        return bool(self.held_buttons or (keys and self.held_keys))

    async def release_all(self, *, keys: bool = True) -> None:
        """Release every button and (with keys) every key the agent still holds, newest key first."""
        self._check_generation()
        events = [Event(BUTTON_RELEASE, b) for b in sorted(self.held_buttons)]
        if keys:
            events += [Event(KEY_RELEASE, k) for k in reversed(list(self.held_keys))]
        if not events:
            return
        await self.send(events)
