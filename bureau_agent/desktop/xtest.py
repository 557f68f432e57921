"""XTest event injection, with a record of every key and button the agent holds down.

Only XTest (never XSendEvent): its events go through the server's input path like a real device,
so every client and toolkit accepts them. A batch of events is written with one flush; a batch
that must have reached the server before the HTTP answer ends with one round trip. Every press
is recorded until its release is sent, so `release_all()` can free whatever an interrupted call
left down (a key held by a dead connection is gone with it, hence the generation check).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import NamedTuple

from Xlib import X
from Xlib import display as xdisplay
from Xlib.ext import xtest

from bureau_agent.desktop.display import Display
from bureau_agent.errors import DisplayUnavailable

KEY_PRESS, KEY_RELEASE = X.KeyPress, X.KeyRelease
BUTTON_PRESS, BUTTON_RELEASE = X.ButtonPress, X.ButtonRelease
MOTION = X.MotionNotify


class Event(NamedTuple):  # a tuple: a 100k-character text makes ~400k of them, on the loop
    kind: int  # KEY_PRESS, KEY_RELEASE, BUTTON_PRESS, BUTTON_RELEASE or MOTION
    detail: int = 0  # keycode or button
    x: int = 0
    y: int = 0


@dataclasses.dataclass(frozen=True)
class PointerState:
    x: int
    y: int
    mask: int  # core state: modifiers, buttons, and the XKB group in bits 13-14

    @property
    def group(self) -> int:
        return (self.mask >> 13) & 3


Guard = Callable[[xdisplay.Display], bool]


class NotSent(Exception):
    """The guard of a batch refused it: nothing was sent."""


def _send(conn: xdisplay.Display, events: Sequence[Event], sync: bool, guard: Guard | None = None) -> PointerState | None:
    if guard is not None and not guard(conn):
        raise NotSent()
    for ev in events:
        if ev.kind == MOTION:
            xtest.fake_input(conn, MOTION, 0, x=ev.x, y=ev.y)
        else:
            xtest.fake_input(conn, ev.kind, ev.detail)
    if not sync:
        conn.flush()
        return None
    # The one round trip: the reply proves the server has processed every event before it.
    reply = conn.screen().root.query_pointer()
    return PointerState(reply.root_x, reply.root_y, reply.mask)


class Injector:
    """Sends XTest batches through the display owner and tracks what is held down."""

    def __init__(self, display: Display) -> None:
        self.display = display
        self.held_keys: dict[int, None] = {}  # insertion order = press order
        self.held_buttons: set[int] = set()
        self._generation = -1

    def _check_generation(self) -> None:
        # After an X server restart nothing is held any more.
        if self._generation != self.display.state.generation:
            self._generation = self.display.state.generation
            self.held_keys.clear()
            self.held_buttons.clear()

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
            state = await self.display.call(_send, events, sync, guard)
        except NotSent:
            self.held_keys = {k: None for k in self.held_keys if k not in pressed_keys}
            self.held_buttons -= pressed_buttons
            raise
        for ev in events:
            if ev.kind == KEY_RELEASE:
                self.held_keys.pop(ev.detail, None)
            elif ev.kind == BUTTON_RELEASE:
                self.held_buttons.discard(ev.detail)
        return state

    async def release_all(self, *, keys: bool = True) -> None:
        """Release every button and (with keys) every key the agent still holds, newest key first."""
        self._check_generation()
        events = [Event(BUTTON_RELEASE, b) for b in sorted(self.held_buttons)]
        if keys:
            events += [Event(KEY_RELEASE, k) for k in reversed(list(self.held_keys))]
        if not events:
            return
        await self.send(events)
