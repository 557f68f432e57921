"""Keymap planning against synthetic maps: pure, no X."""

from __future__ import annotations

import pytest
from bureau_agent.desktop.keysymdef import KEYSYM_NAMES as K

from bureau_agent.desktop.keymap import Bindings, Borrowed, Layout, Stroke, plan
from bureau_agent.errors import InvalidRequest

SHIFT, LVL3 = 50, 92
# A small French-like map starting at keycode 8: columns G1L1 G1L2 G2L1 G2L2 G1L3 G1L4.
ROWS = {
    24: [ord("a"), ord("A"), ord("a"), ord("A"), K["ae"], K["AE"]],
    26: [ord("e"), ord("E"), ord("e"), ord("E"), K["EuroSign"], K["cent"]],
    10: [K["ampersand"], ord("1"), K["ampersand"], ord("1"), 0, 0],
    SHIFT: [K["Shift_L"], 0, K["Shift_L"], 0, 0, 0],
    LVL3: [K["ISO_Level3_Shift"], 0, K["ISO_Level3_Shift"], 0, 0, 0],
    30: [ord("u"), ord("U"), ord("x"), ord("X"), 0, 0],  # group 2 differs
}
SPARE = [100, 101, 102]


def layout(spare: list[int] = SPARE) -> Layout:
    rows = []
    for keycode in range(8, 110):
        if keycode in ROWS:
            rows.append(ROWS[keycode])
        elif keycode in spare:
            rows.append([0] * 6)
        else:
            rows.append([0xFF00 + keycode] + [0] * 5)  # some real key
    modifiers = [[SHIFT], [], [], [], [], [], [], [LVL3]]
    return Layout(8, rows, modifiers)


def test_levels_give_the_modifiers_to_hold() -> None:
    lay = layout()
    assert lay.stroke(ord("a")) == Stroke(24)
    assert lay.stroke(ord("A")) == Stroke(24, (SHIFT,))
    assert lay.stroke(ord("1")) == Stroke(10, (SHIFT,))
    assert lay.stroke(K["EuroSign"]) == Stroke(26, (LVL3,))
    assert lay.stroke(K["cent"]) == Stroke(26, (SHIFT, LVL3))
    assert lay.stroke(ord("x")) is None
    assert lay.stroke(ord("x"), group=1) == Stroke(30)
    assert lay.stroke(ord("u"), group=1) is None
    assert lay.stroke(ord("a"), group=2) is None  # other groups: always borrowed


def test_no_level3_key_means_level3_symbols_are_missing() -> None:
    lay = Layout(8, [ROWS.get(k, [0] * 6) for k in range(8, 110)], [[SHIFT], [], [], [], [], [], [], []])
    assert lay.stroke(K["EuroSign"]) is None
    assert lay.stroke(ord("E")) == Stroke(26, (SHIFT,))


def test_spare_keycodes_are_empty_and_not_modifiers() -> None:
    assert layout().spare_keycodes() == SPARE
    assert layout().bound_row([0x10065E5]) == [0x10065E5] * 6


def _run(text_keysyms: list[int], spare: list[int]) -> list:
    lay = layout(spare)
    return list(plan([[ks] for ks in text_keysyms], lay.stroke, Borrowed(lay.spare_keycodes())))


def test_plan_one_chunk_when_spares_suffice() -> None:
    cjk = [0x10065E5, 0x1006708, 0x10065E5]
    chunks = _run([ord("a"), *cjk, ord("A")], SPARE)
    assert len(chunks) == 1
    assert chunks[0].binds == {(100, 0): 0x10065E5, (101, 0): 0x1006708}
    assert [s.keycode for s in chunks[0].strokes] == [24, 100, 101, 100, 24]


def test_plan_cuts_chunks_when_spares_run_out_and_never_drops_a_character() -> None:
    missing = [0x1000100 + i for i in range(7)]
    text = missing + missing[:2]
    chunks = _run(text, [100, 101])
    typed = []
    bound: dict[int, int] = {}
    for chunk in chunks:
        assert len(chunk.binds) <= 2
        bound.update({kc: ks for (kc, _), ks in chunk.binds.items()})
        used = [s.keycode for s in chunk.strokes]
        assert len(set(used)) <= 2
        typed += [bound[k] for k in used]  # each keycode means its latest binding when typed
    assert typed == text


def test_plan_reuses_recent_bindings_across_chunks() -> None:
    lay = layout([100, 101])
    borrowed = Borrowed(lay.spare_keycodes())
    a, b, c = 0x1000200, 0x1000201, 0x1000202
    chunks = list(plan([[a], [b], [c], [b]], lay.stroke, borrowed))
    # a and b fill the spares; c evicts the least recently used (a); b is still bound.
    assert [ch.binds for ch in chunks] == [{(100, 0): a, (101, 0): b}, {(100, 0): c}]
    assert [s.keycode for s in chunks[1].strokes] == [100, 101]


def test_plan_prefers_legacy_keysym_present_in_the_map() -> None:
    lay = layout()
    chunks = list(plan([[0x10020AC, K["EuroSign"]]], lay.stroke, Borrowed(lay.spare_keycodes())))
    assert chunks[0].binds == {} and chunks[0].strokes == [Stroke(26, (LVL3,))]


def test_plan_without_any_spare_keycode_is_the_callers_400_naming_the_limit() -> None:
    with pytest.raises(InvalidRequest) as caught:
        _run([0x10065E5], [])
    assert caught.value.status == 400 and caught.value.details == {"keysym": 0x10065E5, "limit": 0}
    assert "no spare keycode" in caught.value.message


def test_spare_keycodes_carry_a_second_keysym_on_the_shift_level_once_level_1_is_used_up() -> None:
    lay = layout([100, 101])
    assert lay.borrow_levels() == 2
    a, b, c, d, e = (0x1000300 + i for i in range(5))
    borrowed = Borrowed(lay.spare_keycodes(), lay.borrow_levels())
    chunks = list(plan([[a], [b], [c], [d], [a], [e]], lay.stroke, borrowed, lay.slot_stroke))
    # Level 1 of both keycodes first (no modifier), then level 2 (Shift); four keysyms, one chunk;
    # e then needs a slot and every one is in use in the chunk: a second chunk.
    assert chunks[0].binds == {(100, 0): a, (101, 0): b, (100, 1): c, (101, 1): d}
    assert chunks[0].strokes == [Stroke(100), Stroke(101), Stroke(100, (SHIFT,)), Stroke(101, (SHIFT,)), Stroke(100)]
    assert len(chunks) == 2 and list(chunks[1].binds.values()) == [e]


def test_a_keycode_with_two_keysyms_keeps_the_first_on_level_1() -> None:
    lay = layout()
    assert lay.bound_row([0x1000300, 0x1000301]) == [0x1000300, 0x1000301, 0x1000300, 0x1000301, 0, 0]
    bindings = Bindings()
    bindings.borrowed(lay)
    assert bindings.record(lay, {(100, 0): 0x1000300}) == {100: [0x1000300] * 6}
    # Binding level 2 later rewrites the row with level 1 unchanged: keys already typed on it
    # still read the same keysym.
    assert bindings.record(lay, {(100, 1): 0x1000301}) == {100: [0x1000300, 0x1000301, 0x1000300, 0x1000301, 0, 0]}


def test_keys_for_shortcuts_use_level_1_of_borrowed_keycodes_only() -> None:
    lay = layout([100])
    borrowed = Borrowed(lay.spare_keycodes(), lay.borrow_levels())
    list(plan([[0x1000300], [0x1000301]], lay.stroke, borrowed, lay.slot_stroke))  # 0x1000301 on (100, 1)
    chunks = list(plan([[0x1000301]], lay.stroke, borrowed, lay.slot_stroke, max_level=0))
    assert chunks[0].binds == {(100, 0): 0x1000301} and chunks[0].strokes == [Stroke(100)]
