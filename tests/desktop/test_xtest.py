"""The XTEST FakeInput requests are packed by hand (xtest.py): byte for byte what python-xlib
would send, and numbered in its sequence so that replies and errors still match their requests."""

from __future__ import annotations

import pytest
from Xlib import X
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import xtest

from bureau_agent.desktop.xtest import BUTTON_PRESS, BUTTON_RELEASE, KEY_PRESS, KEY_RELEASE, MOTION, Event, _send, fake_input_bytes
from tests.support.xvfb import Xvfb


@pytest.mark.parametrize(
    "event",
    [Event(MOTION, x=640, y=360), Event(MOTION, x=0, y=0), Event(MOTION, x=-5, y=32767), Event(BUTTON_PRESS, 1),
     Event(BUTTON_RELEASE, 9), Event(KEY_PRESS, 38), Event(KEY_RELEASE, 255)],  # fmt: skip
)
def test_the_packed_request_is_python_xlibs(event: Event) -> None:
    opcode = 132
    theirs = xtest.FakeInput._request.to_binary(
        opcode=opcode, event_type=event.kind, detail=event.detail, time=X.CurrentTime, root=X.NONE, x=event.x, y=event.y
    )
    assert fake_input_bytes(opcode, event) == theirs


def test_events_reach_the_server_and_replies_still_match(xvfb: Xvfb) -> None:
    conn = xdisplay.Display(xvfb.name)
    try:
        serial = conn.display.request_serial
        state = _send(conn, [Event(MOTION, x=123, y=45), Event(MOTION, x=321, y=54)], sync=True)
        assert state is not None and (state.x, state.y) == (321, 54)  # the query after them saw them
        assert conn.display.request_serial == (serial + 3) % 65536  # two events and the query, numbered
        _send(conn, [Event(MOTION, x=7, y=8)], sync=False)
        reply = conn.screen().root.query_pointer()  # a python-xlib request after ours: its reply is its own
        assert (reply.root_x, reply.root_y) == (7, 8)
        # An X error after our requests is still attributed to the request that caused it (a
        # serial off by one would hand it to another request, or lose it).
        _send(conn, [Event(MOTION, x=9, y=9)], sync=False)
        with pytest.raises(xerror.BadDrawable):
            conn.create_resource_object("window", 0x7FFFFFF).get_geometry()
        assert conn.screen().root.query_pointer().root_x == 9
    finally:
        conn.close()
