"""Keyboard map planning (pure: takes a snapshot of the live map, talks to no X server).

`Layout` is the core keyboard map as the server reports it. Under XKB the core map lays each key
out as G1L1 G1L2 G2L1 G2L2 G1L3 G1L4 G2L3 G2L4 …, so a keysym is found, for the effective group,
at a level that says which modifier keys to hold: none, Shift, ISO_Level3_Shift (AltGr), or both.

`plan()` turns text into chunks. A keysym the layout lacks (for the current group) borrows a
level of a spare keycode: alone on it, the keysym goes on every level, so no modifier, lock or
group can change what it types; once every spare keycode carries one, the next ones go on
level 2 (Shift), then 3 and 4 (ISO_Level3_Shift) of the same keycodes. A chunk's new bindings are made in one mapping change before it is typed, and a keycode
typed in a chunk is never rebound within it; borrowed keycodes are kept in an LRU across chunks,
and when the spare keycodes run out the text is cut into smaller chunks — never skipped.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterator, Sequence

from bureau_agent.desktop.keynames import ISO_LEVEL3_SHIFT, SHIFT_L, SHIFT_R
from bureau_agent.errors import InvalidRequest

NO_SYMBOL = 0
SHIFT_MOD_INDEX = 0
# Core-map columns of levels 1-4 for XKB groups 1 and 2 (later groups are not laid out usably).
GROUP_COLUMNS = ((0, 1, 4, 5), (2, 3, 6, 7))


@dataclasses.dataclass(frozen=True)
class Stroke:
    keycode: int
    modifiers: tuple[int, ...] = ()  # modifier keycodes to hold around the key, in press order


class Layout:
    def __init__(self, min_keycode: int, rows: Sequence[Sequence[int]], modifiers: Sequence[Sequence[int]]) -> None:
        self.min_keycode = min_keycode
        self.rows = [list(r) for r in rows]
        self.width = max((len(r) for r in self.rows), default=1)
        self.modifiers = [[k for k in m if k] for m in modifiers]
        self._index: dict[int, dict[int, tuple[int, int]]] = {}
        modifier_keys = {k for m in self.modifiers for k in m}
        self.shift = self._modifier_key(SHIFT_L, SHIFT_R, among=self.modifiers[SHIFT_MOD_INDEX] if self.modifiers else [])
        self.level3 = self._modifier_key(ISO_LEVEL3_SHIFT, among=sorted(modifier_keys))

    @property
    def max_keycode(self) -> int:
        return self.min_keycode + len(self.rows) - 1

    def row(self, keycode: int) -> list[int]:
        return self.rows[keycode - self.min_keycode]

    def spare_keycodes(self) -> list[int]:
        """Keycodes with no keysym at all that no modifier uses: free to borrow."""
        used = {k for m in self.modifiers for k in m}
        return [
            self.min_keycode + i
            for i, row in enumerate(self.rows)
            if not any(row) and self.min_keycode + i not in used
        ]

    def _modifier_key(self, *keysyms: int, among: Sequence[int]) -> int | None:
        for keysym in keysyms:
            for keycode in among:
                if self.min_keycode <= keycode <= self.max_keycode and self.row(keycode)[:1] == [keysym]:
                    return keycode
        return None

    def _level_modifiers(self, level: int) -> tuple[int, ...] | None:
        need_shift, need_level3 = level in (1, 3), level in (2, 3)
        if (need_shift and self.shift is None) or (need_level3 and self.level3 is None):
            return None
        mods = []
        if need_shift:
            mods.append(self.shift)
        if need_level3:
            mods.append(self.level3)
        return tuple(m for m in mods if m is not None)

    def _group_index(self, group: int) -> dict[int, tuple[int, int]]:
        index = self._index.get(group)
        if index is None:
            index = {}
            if group < len(GROUP_COLUMNS):
                # Lower levels first, then lower keycodes: the simplest way to type a keysym wins.
                for level, column in enumerate(GROUP_COLUMNS[group]):
                    if column >= self.width or self._level_modifiers(level) is None:
                        continue
                    for i, row in enumerate(self.rows):
                        keysym = row[column]
                        if keysym != NO_SYMBOL:
                            index.setdefault(keysym, (self.min_keycode + i, level))
            self._index[group] = index
        return index

    def stroke(self, keysym: int, group: int = 0) -> Stroke | None:
        """How to type keysym with the live map in the given XKB group, or None if it lacks it."""
        found = self._group_index(group).get(keysym)
        if found is None:
            return None
        keycode, level = found
        mods = self._level_modifiers(level)
        assert mods is not None
        return Stroke(keycode, mods)

    def bound_row(self, keysyms: Sequence[int]) -> list[int]:
        """The row of a borrowed keycode that carries keysyms on levels 1, 2, … (one keysym: on
        every level, so no modifier, lock or group changes it; more: the same levels in both
        groups, a missing level 4 repeating level 3, as the server deduces a key type from)."""
        if len(keysyms) == 1:
            return [keysyms[0]] * self.width
        levels = list(keysyms) + [NO_SYMBOL] * (4 - len(keysyms)) if len(keysyms) > 2 else list(keysyms)
        row = levels[:2] * 2 + (levels[2:4] * 2 if len(levels) > 2 else [])
        return (row + [NO_SYMBOL] * self.width)[: max(self.width, len(row))]

    def borrow_levels(self) -> int:
        """How many keysyms a borrowed keycode carries: level 1, and level 2 with Shift.
        Levels 3-4 (ISO_Level3_Shift) are not used: on Xvfb's `us` map, xterm read level 1 for
        a borrowed key typed with ISO_Level3_Shift held (the key type the server deduces from
        the core row does not react to it there)."""
        return 1 if self.shift is None else 2

    def slot_stroke(self, slot: Slot) -> Stroke:
        mods = self._level_modifiers(slot[1])
        assert mods is not None
        return Stroke(slot[0], mods)


Slot = tuple[int, int]  # (keycode, level 0-3) of a borrowed keycode


class Borrowed:
    """Levels of spare keycodes lent to keysyms, least recently used first out.

    Each spare keycode carries up to `levels` keysyms, so that a text with more distinct missing
    characters than spare keycodes still needs one mapping change, not a rebinding of keycodes
    a slow client may still be reading (see docs/input.md). Level 1 of every keycode is lent
    first: a text with few missing characters types them with no modifier at all.
    """

    def __init__(self, spare: Sequence[int], levels: int = 1) -> None:
        self._free: collections.deque[Slot] = collections.deque((k, lvl) for lvl in range(levels) for k in sorted(spare))
        self._bound: collections.OrderedDict[int, Slot] = collections.OrderedDict()  # keysym → slot

    @property
    def capacity(self) -> int:
        return len(self._free) + len(self._bound)

    @property
    def keycodes(self) -> int:
        return len({k for k, _ in self._free} | {k for k, _ in self._bound.values()})

    def get(self, keysym: int, max_level: int = 3) -> Slot | None:
        slot = self._bound.get(keysym)
        if slot is None or slot[1] > max_level:
            return None
        self._bound.move_to_end(keysym)
        return slot

    def bind(self, keysym: int, pinned: set[Slot], max_level: int = 3) -> Slot | None:
        """A slot for keysym: a free one, else the least recently used not pinned; None if none."""
        old = self._bound.pop(keysym, None)
        if old is not None:  # bound on a level this caller cannot use: lend that slot again
            self._free.appendleft(old)
        slot = next((s for s in self._free if s[1] <= max_level), None)
        if slot is not None:
            self._free.remove(slot)
        else:
            victim = next((ks for ks, s in self._bound.items() if s not in pinned and s[1] <= max_level), None)
            if victim is None:
                return None
            slot = self._bound.pop(victim)
        self._bound[keysym] = slot
        return slot


@dataclasses.dataclass
class Chunk:
    binds: dict[Slot, int]  # slot → keysym, to bind (one mapping change) before typing
    strokes: list[Stroke]


Locate = Callable[[int], "Stroke | None"]


def plan(
    items: Sequence[Sequence[int]], locate: Locate, borrowed: Borrowed,
    stroke_of: Callable[[Slot], Stroke] | None = None, max_level: int = 3,
) -> Iterator[Chunk]:
    """Chunks that type items in order; each item lists the keysyms that would produce it
    (canonical first). stroke_of says how to press a borrowed slot (Layout.slot_stroke; by
    default its keycode alone). Raises InvalidRequest (400: the display's limit, named) when a
    keysym is missing and the map has no spare keycode to borrow."""
    if stroke_of is None:
        stroke_of = lambda slot: Stroke(slot[0])  # noqa: E731
    chunk = Chunk({}, [])
    pinned: set[Slot] = set()
    for keysyms in items:
        stroke = next((s for s in map(locate, keysyms) if s is not None), None)
        if stroke is None:
            keysym = keysyms[0]
            slot = borrowed.get(keysym, max_level)
            if slot is None:
                if borrowed.capacity == 0:
                    raise InvalidRequest(
                        f"This display's keyboard map has no spare keycode, so keysym {keysym:#x}, which its "
                        "layout lacks, cannot be typed or pressed.",
                        details={"keysym": keysym, "limit": 0},
                    )
                slot = borrowed.bind(keysym, pinned, max_level)
                if slot is None:  # every usable borrowed slot is used in this chunk: start another
                    yield chunk
                    chunk, pinned = Chunk({}, []), set()
                    slot = borrowed.bind(keysym, pinned, max_level)
                    assert slot is not None
                chunk.binds[slot] = keysym
            pinned.add(slot)
            stroke = stroke_of(slot)
        chunk.strokes.append(stroke)
    if chunk.strokes:
        yield chunk


class MapCache:
    """The keyboard map as last read, for one X connection, until a MappingNotify not ours."""

    def __init__(self) -> None:
        self.layout: Layout | None = None
        self.generation = -1  # the connection it was read on
        self.own_notifies = 0  # MappingNotify events our own changes will cause, not yet drained
        self.suspect = False  # a notify not ours was drained: compare the map at the next snapshot

    def invalidate(self) -> None:
        """Read the map afresh at the next snapshot."""
        self.layout, self.own_notifies, self.suspect = None, 0, False


class Bindings:
    """The spare keycodes we borrowed: what each was before (to restore it) and what we bound,
    and the LRU that picks the next one. They live as long as the map they were made on."""

    def __init__(self) -> None:
        self.original: dict[int, list[int]] = {}  # borrowed keycode → its row before we changed it
        self.bound: dict[int, list[int]] = {}  # borrowed keycode → the row we gave it
        self.levels: dict[int, list[int]] = {}  # borrowed keycode → the keysyms on its levels
        self.lru: Borrowed | None = None  # kept across calls until the restore

    def invalidate(self) -> None:
        """Forget every binding (given back, restored, or gone with the server)."""
        self.original, self.bound, self.levels, self.lru = {}, {}, {}, None

    def borrowed(self, layout: Layout) -> Borrowed:
        if self.lru is None:
            self.lru = Borrowed(layout.spare_keycodes(), layout.borrow_levels())
        return self.lru

    def record(self, layout: Layout, binds: dict[Slot, int]) -> dict[int, list[int]]:
        """Note binds (slot → keysym) before they are written; the rows to write (the other
        levels of a keycode keep their keysyms)."""
        changed = set()
        for (keycode, level), keysym in binds.items():
            self.original.setdefault(keycode, layout.row(keycode))
            levels = self.levels.setdefault(keycode, [])
            if level < len(levels):
                levels[level] = keysym
            else:  # slots are lent level by level, so there is no gap to fill but for safety
                levels.extend([keysym] * (level - len(levels) + 1))
            changed.add(keycode)
        rows = {k: layout.bound_row(self.levels[k]) for k in changed}
        self.bound.update(rows)
        return rows


def same_keysyms(current: Sequence[int], written: Sequence[int]) -> bool:
    """Whether a row read back is the one we wrote: the server answers in its own layout of the
    levels (a keysym written on 7 columns reads back on 4 and 3 NoSymbols), so compare keysyms."""
    return set(current) - {0} == set(written) - {0}


def same_map(fresh: Layout, cached: Layout, bound: dict[int, list[int]]) -> bool:
    if fresh.min_keycode != cached.min_keycode or len(fresh.rows) != len(cached.rows) or fresh.modifiers != cached.modifiers:
        return False
    for keycode in range(fresh.min_keycode, fresh.max_keycode + 1):
        written = bound.get(keycode)
        if written is not None:
            if not same_keysyms(fresh.row(keycode), written):
                return False
        elif trimmed(fresh.row(keycode)) != trimmed(cached.row(keycode)):
            return False
    return True


def trimmed(row: list[int]) -> list[int]:
    while row and row[-1] == 0:
        row = row[:-1]
    return row
