"""ewmh.Batch packs three requests by hand: its replies must be python-xlib's own, errors included."""

from __future__ import annotations

from Xlib import X, Xatom, error
from Xlib import display as xdisplay

from bureau_agent.desktop import ewmh
from tests.support.xvfb import Xvfb


def test_hand_packed_requests_answer_what_python_xlib_answers(xvfb: Xvfb) -> None:
    conn = xdisplay.Display(xvfb.name)
    try:
        root = conn.screen().root
        window = root.create_window(-7, 33, 123, 45, 2, X.CopyFromParent)
        title = "títle ✓".encode()
        utf8 = conn.intern_atom("UTF8_STRING")
        numbers = conn.intern_atom("BUREAU_TEST_NUMBERS")
        window.change_property(conn.intern_atom("_NET_WM_NAME"), utf8, 8, title)
        window.change_property(numbers, Xatom.CARDINAL, 32, [1, 2**32 - 1, 7])
        gone = root.create_window(0, 0, 1, 1, 0, X.CopyFromParent)
        gone.destroy()
        conn.sync()
        batch = ewmh.Batch(conn)
        batch.get_property(window.id, conn.intern_atom("_NET_WM_NAME"), utf8)
        batch.get_property(window.id, numbers, Xatom.CARDINAL)
        batch.get_property(window.id, conn.intern_atom("BUREAU_TEST_UNSET"))
        batch.get_geometry(window.id)
        batch.translate(window.id, root.id)
        batch.get_geometry(gone.id)
        name, nums, unset, geometry, origin, missing = batch.results()
        assert ewmh.text(name, utf8=True) == "títle ✓" and name.property_type == utf8
        assert ewmh.cardinals(nums) == [1, 2**32 - 1, 7]
        assert ewmh.prop_value(unset) is None
        theirs = window.get_geometry()
        assert (geometry.x, geometry.y, geometry.width, geometry.height, geometry.border_width) == (
            theirs.x, theirs.y, theirs.width, theirs.height, theirs.border_width) == (-7, 33, 123, 45, 2)
        their_origin = root.translate_coords(window, 0, 0)  # python-xlib: from the argument to self
        assert (origin.x, origin.y) == (their_origin.x, their_origin.y) == (-5, 35)  # inside the 2 px border
        assert isinstance(missing, error.BadDrawable)
        assert conn.get_input_focus() is not None  # the connection's numbering is still right afterwards
    finally:
        conn.close()


def test_compound_text_titles_decode() -> None:
    assert ewmh.decode_compound_text(b"caf\xe9 \x1b%G\xe2\x9c\x93 \xe6\x97\xa5\x1b%@ ok") == "café ✓ 日 ok"
    assert ewmh.decode_compound_text(b"plain") == "plain"
