"""The keyboard: the live map, borrowed keycodes, typing text and pressing key combinations.

The map is read once per X connection (generation) and read again when a MappingNotify shows
that someone else changed it (setxkbmap, xmodmap). Our own changes are counted so that their
notifications do not invalidate it. The effective XKB group and the lock state come with one
query_pointer at the start of each call.

Borrowing follows keymap.plan(): the bindings of a chunk are written in one batch of
ChangeKeyboardMapping requests (one per contiguous run of spare keycodes, so that no real key is
rewritten: a core rewrite would lose its XKB type and actions) followed by one round trip and a
short pause, then the chunk is typed. Before a borrowed keycode is rebound or restored, a settle
pause lets clients read the keys already typed with the binding they were typed with: clients
look the map up again lazily, when they handle the first key event after a MappingNotify.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from Xlib import X
from Xlib import display as xdisplay

from bureau_agent.desktop.display import Display
from bureau_agent.desktop.keymap import Borrowed, Layout, Stroke, plan
from bureau_agent.desktop.keynames import char_keysyms
from bureau_agent.desktop.keysymdef import KEYSYM_NAMES
from bureau_agent.desktop.xtest import KEY_PRESS, KEY_RELEASE, Event, Injector, PointerState
from bureau_agent.errors import DisplayUnavailable, Internal

log = logging.getLogger("bureau_agent.keyboard")

BATCH_EVENTS = 2000  # events per owner-thread call: keeps the owner free for the display monitor


@dataclasses.dataclass(frozen=True)
class Snapshot:
    layout: Layout
    pointer: PointerState


def _read_layout(conn: xdisplay.Display) -> Layout:
    first, last = conn.display.info.min_keycode, conn.display.info.max_keycode
    rows = conn.get_keyboard_mapping(first, last - first + 1)
    return Layout(first, rows, conn.get_modifier_mapping())


def _mapping_notifies(conn: xdisplay.Display) -> int:
    """Drain the event queue (nothing else is read on this connection); count MappingNotify."""
    count = 0
    for _ in range(conn.pending_events()):
        if conn.next_event().type == X.MappingNotify:
            count += 1
    return count


def _snapshot(conn: xdisplay.Display, layout: Layout | None, own_notifies: int) -> tuple[Layout, PointerState, int]:
    reply = conn.screen().root.query_pointer()  # round trip first: pending notifies are then in the queue
    notifies = _mapping_notifies(conn)
    if layout is None or notifies > own_notifies:
        layout = _read_layout(conn)
    return layout, PointerState(reply.root_x, reply.root_y, reply.mask), notifies


def _change_rows(conn: xdisplay.Display, rows: dict[int, list[int]]) -> int:
    """Write rows (keycode → keysyms), one request per contiguous run, then one round trip."""
    requests = 0
    keycodes = sorted(rows)
    start = 0
    for i in range(1, len(keycodes) + 1):
        if i == len(keycodes) or keycodes[i] != keycodes[i - 1] + 1:
            run = keycodes[start:i]
            conn.change_keyboard_mapping(run[0], [rows[k] for k in run])
            requests += 1
            start = i
    conn.get_input_focus()
    return requests


def stroke_events(stroke: Stroke) -> list[Event]:
    keys = (*stroke.modifiers, stroke.keycode)
    return [Event(KEY_PRESS, k) for k in keys] + [Event(KEY_RELEASE, k) for k in reversed(keys)]


def combination_events(strokes: Sequence[Stroke]) -> tuple[list[Event], list[Event]]:
    """Presses in order (each key's level modifiers before it), releases in reverse order."""
    down: list[int] = []
    for stroke in strokes:
        for keycode in (*stroke.modifiers, stroke.keycode):
            if keycode not in down:
                down.append(keycode)
    return [Event(KEY_PRESS, k) for k in down], [Event(KEY_RELEASE, k) for k in reversed(down)]


class Keyboard:
    def __init__(self, display: Display, injector: Injector, *, pause_s: float, settle_s: float) -> None:
        self.display = display
        self.injector = injector
        self.pause_s = pause_s  # after a mapping change, before typing
        self.settle_s = settle_s  # after typing with borrowed keycodes, before rebinding/restoring them
        self._layout: Layout | None = None
        self._generation = -1
        self._own_notifies = 0  # MappingNotify events our own changes will cause, not yet drained
        self._original: dict[int, list[int]] = {}  # borrowed keycode → its row before we changed it
        self._typed_since_change = False

    async def snapshot(self) -> Snapshot:
        if self._generation != self.display.state.generation:
            self._layout, self._own_notifies, self._original = None, 0, {}
            self._generation = self.display.state.generation
        layout, pointer, seen = await self.display.call(_snapshot, self._layout, self._own_notifies)
        self._own_notifies = max(0, self._own_notifies - seen)
        if layout is not self._layout:
            self._own_notifies = 0
        self._layout = layout
        return Snapshot(layout, pointer)

    async def _change(self, rows: dict[int, list[int]]) -> None:
        if self._typed_since_change:
            await asyncio.sleep(self.settle_s)
        self._typed_since_change = False
        self._own_notifies += len(rows)  # an upper bound; fewer requests are counted back below
        requests = await self.display.call(_change_rows, rows)
        self._own_notifies -= len(rows) - requests

    async def _bind(self, layout: Layout, binds: dict[int, int]) -> None:
        for keycode in binds:
            self._original.setdefault(keycode, layout.row(keycode))
        await self._change({k: layout.bound_row(ks) for k, ks in binds.items()})
        await asyncio.sleep(self.pause_s)

    async def restore(self) -> None:
        """Put every borrowed keycode back as it was (after the settle pause)."""
        if self._generation != self.display.state.generation:
            self._original = {}  # a new server: our bindings died with the old one
        if self._original:
            await self._change(dict(self._original))
            self._original = {}

    @asynccontextmanager
    async def _borrowing(self) -> AsyncIterator[None]:
        """Whatever happens inside, release every key and restore the map on the way out."""
        try:
            yield
        finally:
            await asyncio.shield(self.cleanup())

    async def cleanup(self) -> None:
        for step in (self.injector.release_all, self.restore):
            try:
                await step()
            except DisplayUnavailable:
                return  # the server is gone, and with it every key held and every binding
            except Exception:
                log.exception("keyboard cleanup failed")

    async def _send(self, events: list[Event], *, sync: bool) -> None:
        self._typed_since_change = True
        for start in range(0, len(events), BATCH_EVENTS):
            last = start + BATCH_EVENTS >= len(events)
            await self.injector.send(events[start:start + BATCH_EVENTS], sync=sync and last)

    async def type_text(self, text: str, delay_s: float) -> int:
        """Type text (already checked by keynames.check_typeable); the code points typed."""
        snap = await self.snapshot()
        layout, group = snap.layout, snap.pointer.group
        items = [char_keysyms(ch) for ch in text.replace("\r\n", "\n")]
        caps = layout.stroke(KEYSYM_NAMES["Caps_Lock"], group) if snap.pointer.mask & X.LockMask else None
        async with self._borrowing():
            if caps is not None:  # Caps Lock would change letters: off while typing, on again after
                await self._send(stroke_events(caps), sync=False)
            try:
                chunks = plan(items, lambda ks: layout.stroke(ks, group), Borrowed(layout.spare_keycodes()))
                for chunk in chunks:
                    if chunk.binds:
                        await self._bind(layout, chunk.binds)
                    events = [ev for stroke in chunk.strokes for ev in stroke_events(stroke)]
                    if delay_s <= 0:
                        await self._send(events, sync=True)
                        continue
                    for stroke in chunk.strokes:
                        await self._send(stroke_events(stroke), sync=True)
                        await asyncio.sleep(delay_s)
            finally:
                if caps is not None:
                    await asyncio.shield(self._send(stroke_events(caps), sync=True))
        return len(text)

    async def strokes_for(self, keysyms: Sequence[int]) -> tuple[Layout, dict[int, Stroke]]:
        """How to press each keysym, binding spare keycodes for those the layout lacks.
        Call inside hold()/press() only: the caller's cleanup restores the map."""
        snap = await self.snapshot()
        layout, group = snap.layout, snap.pointer.group
        unique = list(dict.fromkeys(keysyms))
        chunks = list(plan([[ks] for ks in unique], lambda ks: layout.stroke(ks, group), Borrowed(layout.spare_keycodes())))
        if len(chunks) > 1:
            raise Internal("Too many keys missing from the keyboard layout to press them at once.")
        strokes: dict[int, Stroke] = {}
        if chunks:
            if chunks[0].binds:
                await self._bind(layout, chunks[0].binds)
            strokes = dict(zip(unique, chunks[0].strokes))
        return layout, strokes

    async def press(self, combinations: Sequence[Sequence[int]], repeat: int) -> None:
        """Press each combination of keysyms (in order, released in reverse), repeat times over."""
        async with self._borrowing():
            _, strokes = await self.strokes_for([ks for combo in combinations for ks in combo])
            events: list[Event] = []
            for _ in range(repeat):
                for combo in combinations:
                    down, up = combination_events([strokes[ks] for ks in combo])
                    events += down + up
            await self._send(events, sync=True)

    @asynccontextmanager
    async def hold(self, keysyms: Sequence[int]) -> AsyncIterator[None]:
        """Hold keys (modifiers of a click, scroll or drag) for the duration of the block."""
        if not keysyms:
            yield
            return
        async with self._borrowing():
            _, strokes = await self.strokes_for(keysyms)
            down, up = combination_events([strokes[ks] for ks in keysyms])
            await self._send(down, sync=False)
            try:
                yield
            finally:
                await asyncio.shield(self._send(up, sync=True))
