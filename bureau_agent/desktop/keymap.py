"""Keyboard map planning (pure: takes a snapshot of the live map, talks to no X server).

`Layout` is the core keyboard map as the server reports it. Under XKB the core map lays each key
out as G1L1 G1L2 G2L1 G2L2 G1L3 G1L4 G2L3 G2L4 …, so a keysym is found, for the effective group,
at a level that says which modifier keys to hold: none, Shift, ISO_Level3_Shift (AltGr), or both.

`plan()` turns text into chunks. A keysym the layout lacks (for the current group) borrows a
spare keycode with the keysym on every level, so no modifier, lock or group can change what it
types. A chunk's new bindings are made in one mapping change before it is typed, and a keycode
typed in a chunk is never rebound within it; borrowed keycodes are kept in an LRU across chunks,
and when the spare keycodes run out the text is cut into smaller chunks — never skipped.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterator, Sequence

from bureau_agent.desktop.keysymdef import KEYSYM_NAMES
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
        self.shift = self._modifier_key(KEYSYM_NAMES["Shift_L"], KEYSYM_NAMES["Shift_R"], among=self.modifiers[SHIFT_MOD_INDEX] if self.modifiers else [])
        self.level3 = self._modifier_key(KEYSYM_NAMES["ISO_Level3_Shift"], among=sorted(modifier_keys))

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

    def bound_row(self, keysym: int) -> list[int]:
        """The row that puts keysym on every level of a borrowed keycode."""
        return [keysym] * self.width


class Borrowed:
    """Spare keycodes lent to keysyms, least recently used first out."""

    def __init__(self, spare: Sequence[int]) -> None:
        self._free = sorted(spare, reverse=True)  # pop() gives the lowest: bindings stay contiguous
        self._bound: collections.OrderedDict[int, int] = collections.OrderedDict()  # keysym → keycode

    @property
    def capacity(self) -> int:
        return len(self._free) + len(self._bound)

    def get(self, keysym: int) -> int | None:
        keycode = self._bound.get(keysym)
        if keycode is not None:
            self._bound.move_to_end(keysym)
        return keycode

    def bind(self, keysym: int, pinned: set[int]) -> int | None:
        """A keycode for keysym: a free one, else the least recently used not pinned; None if none."""
        if self._free:
            keycode = self._free.pop()
        else:
            victim = next((ks for ks, kc in self._bound.items() if kc not in pinned), None)
            if victim is None:
                return None
            keycode = self._bound.pop(victim)
        self._bound[keysym] = keycode
        return keycode


@dataclasses.dataclass
class Chunk:
    binds: dict[int, int]  # keycode → keysym, to bind (one mapping change) before typing
    strokes: list[Stroke]


Locate = Callable[[int], "Stroke | None"]


def plan(items: Sequence[Sequence[int]], locate: Locate, borrowed: Borrowed) -> Iterator[Chunk]:
    """Chunks that type items in order; each item lists the keysyms that would produce it
    (canonical first). Raises InvalidRequest (400: the display's limit, named) when a keysym is
    missing and the map has no spare keycode to borrow."""
    chunk = Chunk({}, [])
    pinned: set[int] = set()
    for keysyms in items:
        stroke = next((s for s in map(locate, keysyms) if s is not None), None)
        if stroke is None:
            keysym = keysyms[0]
            keycode = borrowed.get(keysym)
            if keycode is None:
                if borrowed.capacity == 0:
                    raise InvalidRequest(
                        f"This display's keyboard map has no spare keycode, so keysym {keysym:#x}, which its "
                        "layout lacks, cannot be typed or pressed.",
                        details={"keysym": keysym, "limit": 0},
                    )
                keycode = borrowed.bind(keysym, pinned)
                if keycode is None:  # every borrowed keycode is used in this chunk: start another
                    yield chunk
                    chunk, pinned = Chunk({}, []), set()
                    keycode = borrowed.bind(keysym, pinned)
                    assert keycode is not None
                chunk.binds[keycode] = keysym
            pinned.add(keycode)
            stroke = Stroke(keycode)
        chunk.strokes.append(stroke)
    if chunk.strokes:
        yield chunk


class MapCache:
    """The keyboard map as last read, for one X connection, until a MappingNotify not ours."""

    def __init__(self) -> None:
        self.layout: Layout | None = None
        self.generation = -1  # the connection it was read on
        self.own_notifies = 0  # MappingNotify events our own changes will cause, not yet drained

    def invalidate(self) -> None:
        """Read the map afresh at the next snapshot."""
        self.layout, self.own_notifies = None, 0


class Bindings:
    """The spare keycodes we borrowed: what each was before (to restore it) and what we bound,
    and the LRU that picks the next one. They live as long as the map they were made on."""

    def __init__(self) -> None:
        self.original: dict[int, list[int]] = {}  # borrowed keycode → its row before we changed it
        self.bound: dict[int, list[int]] = {}  # borrowed keycode → the row we gave it
        self.lru: Borrowed | None = None  # kept across calls until the restore

    def invalidate(self) -> None:
        """Forget every binding (given back, restored, or gone with the server)."""
        self.original, self.bound, self.lru = {}, {}, None

    def borrowed(self, layout: Layout) -> Borrowed:
        if self.lru is None:
            self.lru = Borrowed(layout.spare_keycodes())
        return self.lru

    def record(self, layout: Layout, binds: dict[int, int]) -> dict[int, list[int]]:
        """Note binds (keycode → keysym) before they are written; the rows to write."""
        rows = {k: layout.bound_row(ks) for k, ks in binds.items()}
        for keycode in binds:
            self.original.setdefault(keycode, layout.row(keycode))
        self.bound.update(rows)
        return rows
