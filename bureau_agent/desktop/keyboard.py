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
import functools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from Xlib import X
from Xlib import display as xdisplay

from bureau_agent.desktop.display import Display
from bureau_agent.desktop.keymap import Bindings, Layout, MapCache, Slot, Stroke, plan, same_keysyms, same_map
from bureau_agent.desktop.keynames import CAPS_LOCK, char_keysyms
from bureau_agent.desktop.xtest import KEY_PRESS, KEY_RELEASE, Event, Guard, Injector, NotSent, PointerState
from bureau_agent.errors import DisplayUnavailable, InvalidRequest

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


def _snapshot(
    conn: xdisplay.Display, layout: Layout | None, own_notifies: int, bound: dict[int, list[int]], original: dict[int, list[int]]
) -> tuple[Layout, PointerState, int]:
    """The layout (read again if it changed behind our back) and the pointer state.

    More MappingNotify than our own changes made is not proof of a foreign change (the server
    sent extra ones under load, seen as 90 against 88): the map is read and compared with the
    cached one plus our bindings first, and kept, bindings and all, if it is the same. Giving
    our keycodes back then would rebind them with no settle pause under keys a slow client has
    not read yet. When someone else did change the map while keycodes were borrowed, the ones
    still bound as we left them are given back first, so that the map read afresh is free of
    our bindings.
    """
    reply = conn.screen().root.query_pointer()  # round trip first: pending notifies are then in the queue
    notifies = _mapping_notifies(conn)
    if layout is None or notifies > own_notifies:
        fresh = _read_layout(conn)
        if layout is not None and same_map(fresh, layout, bound):
            return layout, PointerState(reply.root_x, reply.root_y, reply.mask), notifies
        give_back = {}
        for keycode, row in bound.items():
            current = fresh.row(keycode)
            if same_keysyms(current, row):
                give_back[keycode] = (original[keycode] + [0] * len(current))[: len(current)]
        if give_back:
            _change_rows(conn, give_back)
            _mapping_notifies(conn)
            fresh = _read_layout(conn)
        layout = fresh
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


@functools.lru_cache(maxsize=4096)
def stroke_events(stroke: Stroke) -> tuple[Event, ...]:
    """Cached: a text repeats few strokes, and building ~2 events a character for a 100k-character
    text took ~200 ms of the event loop."""
    keys = (*stroke.modifiers, stroke.keycode)
    return (*(Event(KEY_PRESS, k) for k in keys), *(Event(KEY_RELEASE, k) for k in reversed(keys)))


def combination_events(strokes: Sequence[Stroke]) -> tuple[list[Event], list[Event]]:
    """Presses in order (each key's level modifiers before it), releases in reverse order."""
    down: list[int] = []
    for stroke in strokes:
        for keycode in (*stroke.modifiers, stroke.keycode):
            if keycode not in down:
                down.append(keycode)
    return [Event(KEY_PRESS, k) for k in down], [Event(KEY_RELEASE, k) for k in reversed(down)]


class Keyboard:
    def __init__(
        self, display: Display, injector: Injector, lock: asyncio.Lock, *,
        pause_s: float, settle_s: float, restore_delay_s: float,
    ) -> None:
        self.display = display
        self.injector = injector
        self.lock = lock  # the input lock: the deferred restore takes it too
        self.pause_s = pause_s  # after a mapping change, before typing
        self.settle_s = settle_s  # after a key on a borrowed keycode, before rebinding/restoring it
        self.restore_delay_s = restore_delay_s  # idle time before the map is restored (0: at the end of each call)
        self.map = MapCache()
        self.bindings = Bindings()
        self._last_typed = -1e9  # loop time of the last key sent
        self._restore_task: asyncio.Task[None] | None = None
        self._state: PointerState | None = None  # modifiers, locks and XKB group as of our last round trip
        # Our own map changes' MappingNotify not yet seen on the input connection (the owner's
        # connection gets each one too: map.own_notifies counts those).
        self._wire_own_notifies = 0

    # -- the map and the bindings ------------------------------------------------------------

    def _check_generation(self) -> None:
        if self.map.generation != self.display.state.generation:  # a new server: ours died with the old one
            self.map.invalidate()
            self.bindings.invalidate()
            self.map.generation = self.display.state.generation
            self._wire_own_notifies = 0

    async def snapshot(self) -> Snapshot:
        self._cancel_restore()
        self._check_generation()
        cached = self.map.layout
        own = -1 if self.map.suspect else self.map.own_notifies  # -1: compare the map whatever the count
        layout, pointer, seen = await self.display.call(_snapshot, cached, own, self.bindings.bound, self.bindings.original)
        self.map.suspect = False
        self.map.own_notifies = max(0, self.map.own_notifies - seen)
        if layout is not cached:  # read afresh: whatever we had borrowed was given back
            self.map.own_notifies = 0
            self.bindings.invalidate()
            self._take_wire_notifies()  # the map as read covers them
        self.map.layout = layout
        self._state = pointer
        return Snapshot(layout, pointer)

    async def _change(self, rows: dict[int, list[int]]) -> None:
        wait = self._last_typed + self.settle_s - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        # Keys sent on the input connection without a round trip must not meet the new map.
        await self.injector.flush_pending()
        # Counted once the requests are made; a call cut short counts none, so at worst our own
        # notifications read as someone else's and the map is read again (never the reverse).
        changes = await self.display.call(_change_rows, rows)
        self.map.own_notifies += changes
        self._wire_own_notifies += changes

    def _take_wire_notifies(self) -> None:
        wire = self.display.input_wire
        if wire is not None:
            wire.take_notifies()
        self._wire_own_notifies = 0

    async def _bind(self, layout: Layout, binds: dict[Slot, int]) -> None:
        await self._change(self.bindings.record(layout, binds))
        await asyncio.sleep(self.pause_s)

    async def restore(self) -> None:
        """Put every borrowed keycode back as it was (once the settle time has passed)."""
        self._cancel_restore()
        self._check_generation()
        if self.bindings.original:
            original = dict(self.bindings.original)
            self.bindings.invalidate()
            await self._change(original)

    def _cancel_restore(self) -> None:
        if self._restore_task is not None:
            self._restore_task.cancel()
            self._restore_task = None

    async def _restore_later(self) -> None:
        await asyncio.sleep(self.restore_delay_s)
        async with self.lock:
            self._restore_task = None  # running now: nobody may cancel it halfway
            try:
                await self.restore()
            except DisplayUnavailable:
                pass
            except Exception:
                log.exception("keyboard map restore failed")

    @asynccontextmanager
    async def _borrowing(self) -> AsyncIterator[None]:
        """Whatever happens inside, release every key on the way out and restore the map (now or
        after restore_delay_s without input, so that slow clients still read borrowed keys right)."""
        try:
            yield
        except BaseException:
            self.bindings.lru = None  # it may name bindings never made; `original` still restores all
            raise
        finally:
            if self.injector.holds() or self.bindings.original:  # else cleanup() has nothing to do
                await asyncio.shield(self.cleanup(defer=self.restore_delay_s > 0))

    async def cleanup(self, *, defer: bool = False) -> None:
        try:
            await self.injector.release_all()
            if not self.bindings.original:
                return
            if defer:
                self._cancel_restore()
                self._restore_task = asyncio.get_running_loop().create_task(self._restore_later())
            else:
                await self.restore()
        except DisplayUnavailable:
            pass  # the server is gone, and with it every key held and every binding
        except Exception:
            log.exception("keyboard cleanup failed")

    # -- sending -------------------------------------------------------------------------------

    async def _send(self, events: Sequence[Event], *, sync: bool, guard: Guard | None = None) -> None:
        for start in range(0, len(events), BATCH_EVENTS):
            last = start + BATCH_EVENTS >= len(events)
            batch_guard, guard = guard, None  # only the first batch is guarded
            state = await self.injector.send(events[start:start + BATCH_EVENTS], sync=sync and last, guard=batch_guard)
            if state is not None:
                self._state = state
        self._last_typed = asyncio.get_running_loop().time()

    # -- the fast path: the cached map, one owner call -----------------------------------------

    def _cached_strokes(self, keysym_items: Sequence[Sequence[int]]) -> list[Stroke] | None:
        """Strokes from the cached map and bindings alone, or None when that is not enough."""
        layout, state = self.map.layout, self._state
        if layout is None or state is None or self.map.generation != self.display.state.generation:
            return None
        group = state.group
        lru = self.bindings.lru
        strokes = []
        for keysyms in keysym_items:
            stroke = next((s for s in (layout.stroke(ks, group) for ks in keysyms) if s is not None), None)
            if stroke is None:
                slot = lru.get(keysyms[0]) if lru is not None else None
                if slot is None:
                    return None
                stroke = layout.slot_stroke(slot)
            strokes.append(stroke)
        return strokes

    async def _send_if_current(self, events: Sequence[Event]) -> bool:
        """Send events with one round trip if no MappingNotify that is not ours arrived since the
        map was cached; False (nothing sent, cache dropped) otherwise.

        The group is the one our last round trip saw: only a client locking another group in
        between would escape it, which takes a key press.
        """
        self._cancel_restore()
        wire = self.display.input_wire
        if wire is not None:
            # Counted on the input connection itself, which every MappingNotify reaches too.
            seen = wire.take_notifies()
            if seen > self._wire_own_notifies:
                self._wire_own_notifies = 0  # the snapshot settles what the map is
                self.map.suspect = True
                return False
            self._wire_own_notifies -= seen
            await self._send(events, sync=True)
            return True
        own = self.map.own_notifies
        seen_owner: list[int] = []

        def unchanged(conn: xdisplay.Display) -> bool:
            seen_owner.append(_mapping_notifies(conn))
            return seen_owner[0] <= own

        try:
            await self._send(events, sync=True, guard=unchanged)
        except NotSent:
            # The guard drained a notify that is not ours: the planned path's snapshot reads the
            # map and keeps the cache and the bindings if nothing really changed.
            self.map.suspect = True
            return False
        self.map.own_notifies = own - seen_owner[0]
        return True

    async def _fast(self, items: Sequence[Sequence[int]], events_for: Callable[[list[Stroke]], list[Event]]) -> bool:
        """The whole call from the cache in one round trip; False when the planned path must run."""
        cached = self._cached_strokes(items)
        return cached is not None and await self._send_if_current(events_for(cached))

    # -- the planned path: a fresh snapshot, borrowed keycodes, chunks ---------------------------

    @asynccontextmanager
    async def _caps_lock_off(self, snap: Snapshot) -> AsyncIterator[None]:
        """Caps Lock would change letters: off while typing, on again after."""
        caps = snap.layout.stroke(CAPS_LOCK, snap.pointer.group) if snap.pointer.mask & X.LockMask else None
        if caps is None:
            yield
            return
        await self._send(stroke_events(caps), sync=False)
        try:
            yield
        finally:
            await asyncio.shield(self._send(stroke_events(caps), sync=True))

    async def _type_planned(self, items: Sequence[Sequence[int]], delay_s: float) -> None:
        snap = await self.snapshot()
        layout, group = snap.layout, snap.pointer.group
        async with self._caps_lock_off(snap):
            for chunk in plan(items, lambda ks: layout.stroke(ks, group), self.bindings.borrowed(layout), layout.slot_stroke):
                if chunk.binds:
                    await self._bind(layout, chunk.binds)
                if delay_s <= 0:
                    await self._send([ev for stroke in chunk.strokes for ev in stroke_events(stroke)], sync=True)
                    continue
                for stroke in chunk.strokes:
                    await self._send(stroke_events(stroke), sync=True)
                    await asyncio.sleep(delay_s)

    async def type_text(self, text: str, delay_s: float) -> int:
        """Type text (already checked by keynames.check_typeable); the code points typed."""
        items = [char_keysyms(ch) for ch in text.replace("\r\n", "\n")]
        if not items:
            return 0  # nothing to send; the fast path needs at least one event
        async with self._borrowing():
            # The fast path knows neither pauses nor Caps Lock (it would type capitals).
            fast = delay_s <= 0 and self._state is not None and not self._state.mask & X.LockMask
            if not (fast and await self._fast(items, lambda strokes: [ev for s in strokes for ev in stroke_events(s)])):
                await self._type_planned(items, delay_s)
        return len(text)

    async def strokes_for(self, keysyms: Sequence[int], field: str = "key") -> tuple[Layout, dict[int, Stroke]]:
        """How to press each keysym, binding spare keycodes for those the layout lacks.
        Call inside hold()/press() only: the caller's cleanup restores the map."""
        snap = await self.snapshot()
        layout, group = snap.layout, snap.pointer.group
        unique = list(dict.fromkeys(keysyms))
        borrowed = self.bindings.borrowed(layout)
        # Level 1 only: a key pressed for a shortcut must not bring a Shift or AltGr of its own.
        chunks = list(plan([[ks] for ks in unique], lambda ks: layout.stroke(ks, group), borrowed, layout.slot_stroke, max_level=0))
        if len(chunks) > 1:  # the caller asked for more missing keys at once than there are spare keycodes
            raise InvalidRequest(
                f"At most {borrowed.keycodes} keys that the keyboard layout lacks can be held at once on this display "
                f"(its spare keycodes); this call needs {sum(layout.stroke(ks, group) is None for ks in unique)}.",
                details={"field": field, "limit": borrowed.keycodes},
            )
        strokes: dict[int, Stroke] = {}
        if chunks:
            if chunks[0].binds:
                await self._bind(layout, chunks[0].binds)
            strokes = dict(zip(unique, chunks[0].strokes))
        return layout, strokes

    async def press(self, combinations: Sequence[Sequence[int]], repeat: int) -> None:
        """Press each combination of keysyms (in order, released in reverse), repeat times over."""
        unique = list(dict.fromkeys(ks for combo in combinations for ks in combo))

        def events_for(strokes: dict[int, Stroke]) -> list[Event]:
            events: list[Event] = []
            for _ in range(repeat):
                for combo in combinations:
                    down, up = combination_events([strokes[ks] for ks in combo])
                    events += down + up
            return events

        async with self._borrowing():
            if await self._fast([[ks] for ks in unique], lambda strokes: events_for(dict(zip(unique, strokes)))):
                return
            _, strokes = await self.strokes_for(unique)
            await self._send(events_for(strokes), sync=True)

    @asynccontextmanager
    async def hold(self, keysyms: Sequence[int]) -> AsyncIterator[None]:
        """Hold keys (modifiers of a click, scroll or drag) for the duration of the block."""
        if not keysyms:
            yield
            return
        async with self._borrowing():
            _, strokes = await self.strokes_for(keysyms, field="modifiers")
            down, up = combination_events([strokes[ks] for ks in keysyms])
            await self._send(down, sync=False)
            try:
                yield
            finally:
                await asyncio.shield(self._send(up, sync=True))
