"""The input routes over HTTP, on a real Xvfb with the recorder client watching."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from aiohttp.test_utils import TestClient
from Xlib import display as xdisplay

from bureau_agent.desktop.keysymdef import KEYSYM_NAMES as K
from devsupport.xclients import openbox
from tests.support.agent import AUTH
from tests.support.inputx import SETTLE_MS, full_map, keys_down
from tests.support.xrecorder import Recorder, XtermSink
from tests.support.xvfb import Xvfb


@pytest.fixture
async def client(make_agent: Callable[..., Any], input_xvfb: Xvfb) -> TestClient:
    return await make_agent(input_xvfb.name, input_mapping_settle_ms=SETTLE_MS)


async def post(client: TestClient, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    resp = await client.post(path, json=body, headers=AUTH)
    data = await resp.json()
    assert resp.status == status, data
    return data


def buttons(rec: Recorder) -> list[tuple[str, int, int, int]]:
    return [(e["type"], e["button"], e["x"], e["y"]) for e in rec.of("ButtonPress", "ButtonRelease")]


@pytest.mark.parametrize(("name", "number"), [("left", 1), ("middle", 2), ("right", 3), ("back", 8), ("forward", 9)])
async def test_click_hits_the_exact_pixel_with_the_button(client: TestClient, recorder: Recorder, name: str, number: int) -> None:
    assert await post(client, "/v1/click", {"x": 321, "y": 123, "button": name}) == {"x": 321, "y": 123}
    recorder.wait_for(lambda ev: any(e["type"] == "ButtonRelease" for e in ev))
    assert buttons(recorder) == [("ButtonPress", number, 321, 123), ("ButtonRelease", number, 321, 123)]


async def test_double_and_triple_clicks_at_the_current_position(client: TestClient, recorder: Recorder) -> None:
    await post(client, "/v1/move", {"x": 10, "y": 20})
    assert await post(client, "/v1/click", {"clicks": 2}) == {"x": 10, "y": 20}
    await post(client, "/v1/click", {"clicks": 3, "button": "right"})
    recorder.wait_for(lambda ev: len([e for e in ev if e["type"] == "ButtonRelease"]) == 5)
    assert [(t, b) for t, b, _, _ in buttons(recorder)] == [("ButtonPress", 1), ("ButtonRelease", 1)] * 2 + [
        ("ButtonPress", 3),
        ("ButtonRelease", 3),
    ] * 3


async def test_modifiers_are_held_during_the_click(client: TestClient, recorder: Recorder, x_conn: xdisplay.Display) -> None:
    await post(client, "/v1/click", {"x": 50, "y": 60, "modifiers": ["ctrl", "shift"]})
    events = recorder.wait_for(lambda ev: len([e for e in ev if e["type"] == "KeyRelease"]) == 2)
    kinds = [e["type"] for e in events if e["type"] != "MotionNotify"]
    assert kinds == ["KeyPress", "KeyPress", "ButtonPress", "ButtonRelease", "KeyRelease", "KeyRelease"]
    press = next(e for e in events if e["type"] == "ButtonPress")
    assert press["state"] & 0x5 == 0x5
    assert [e["keysym"] for e in events if e["type"] == "KeyRelease"] == [K["Shift_L"], K["Control_L"]]
    assert keys_down(x_conn) == []


@pytest.mark.parametrize("duration_ms", [60, 0])
async def test_drag_sends_real_motion_between_press_and_release(client: TestClient, recorder: Recorder, duration_ms: int) -> None:
    body = {"from": {"x": 100, "y": 100}, "to": {"x": 300, "y": 200}, "path": [{"x": 200, "y": 300}], "durationMs": duration_ms}
    assert await post(client, "/v1/drag", body) == {"x": 300, "y": 200}
    events = recorder.wait_for(lambda ev: any(e["type"] == "ButtonRelease" for e in ev))
    kinds = [e["type"] for e in events]
    press, release = kinds.index("ButtonPress"), kinds.index("ButtonRelease")
    assert (events[press]["x"], events[press]["y"]) == (100, 100)
    assert (events[release]["x"], events[release]["y"]) == (300, 200)
    moves = [(e["x"], e["y"]) for e in events[press + 1:release] if e["type"] == "MotionNotify"]
    assert len(moves) >= 8 and (200, 300) in moves  # several steps, through the waypoint
    assert all(e["state"] & 0x100 for e in events[press + 1:release])  # Button1 held while moving


async def test_a_drag_inside_a_managed_xterm_answers_where_the_pointer_ended(own_xvfb: Xvfb, make_agent: Callable[..., Any]) -> None:
    # openbox grabs button 1 on client windows synchronously (click to focus), which freezes the
    # pointer at the press until it replays it: the answer must wait for the server to really
    # have moved the pointer, not report the press position. Several drags: the first one also
    # focuses the window, later ones are plain drags in a focused xterm.
    with openbox(own_xvfb):
        term = XtermSink(own_xvfb.name)
        try:
            client = await make_agent(own_xvfb.name)
            conn = xdisplay.Display(own_xvfb.name)
            try:
                for _ in range(5):
                    body = {"from": {"x": 200, "y": 200}, "to": {"x": 260, "y": 240}, "path": [{"x": 230, "y": 220}], "durationMs": 0}
                    assert await post(client, "/v1/drag", body) == {"x": 260, "y": 240}
                    reply = conn.screen().root.query_pointer()
                    assert (reply.root_x, reply.root_y) == (260, 240)
                    assert not reply.mask & 0x100  # button 1 released
            finally:
                conn.close()
        finally:
            term.stop()


@pytest.mark.parametrize(("direction", "button"), [("up", 4), ("down", 5), ("left", 6), ("right", 7)])
async def test_scroll_clicks_the_wheel(client: TestClient, recorder: Recorder, direction: str, button: int) -> None:
    assert await post(client, "/v1/scroll", {"direction": direction, "amount": 2, "x": 40, "y": 41}) == {"x": 40, "y": 41}
    recorder.wait_for(lambda ev: len([e for e in ev if e["type"] == "ButtonRelease"]) == 2)
    assert buttons(recorder) == [("ButtonPress", button, 40, 41), ("ButtonRelease", button, 40, 41)] * 2


async def test_scroll_with_a_modifier(client: TestClient, recorder: Recorder) -> None:
    await post(client, "/v1/scroll", {"direction": "down", "amount": 1, "modifiers": ["ctrl"]})
    events = recorder.wait_for(lambda ev: any(e["type"] == "KeyRelease" for e in ev))
    assert next(e for e in events if e["type"] == "ButtonPress")["state"] & 0x4


async def test_key_and_type_routes(client: TestClient, sink: XtermSink) -> None:
    assert await post(client, "/v1/type", {"text": "héllo €\t日本 😀\n"}) == {"typed": 13}
    assert await post(client, "/v1/key", {"key": "x Return", "repeat": 2}) == {"key": "x Return"}
    expected = "héllo €\t日本 😀\nx\nx\n".encode()
    assert sink.wait_for(expected) == expected


@pytest.mark.parametrize(
    ("path", "body", "code", "needle"),
    [
        ("/v1/key", {"key": "ctrl+NoSuchKey"}, "unknown_key", "NoSuchKey"),
        ("/v1/click", {"modifiers": ["hyperspace"]}, "unknown_key", "hyperspace"),
        ("/v1/click", {"x": 1024, "y": 5}, "out_of_bounds", "1024"),
        ("/v1/move", {"x": -1, "y": 5}, "out_of_bounds", "-1"),
        ("/v1/scroll", {"direction": "up", "x": 5, "y": 768}, "out_of_bounds", "768"),
        ("/v1/drag", {"from": {"x": 1, "y": 1}, "to": {"x": 5000, "y": 1}}, "out_of_bounds", "to"),
        ("/v1/click", {"x": 5}, "invalid_request", "y"),
        ("/v1/scroll", {"direction": "up", "y": 5}, "invalid_request", "x"),
        ("/v1/type", {"text": "a\u0007"}, "invalid_request", "U+0007"),
        ("/v1/click", {"button": "left", "bogus": 1}, "invalid_request", "bogus"),
        # More keys the layout lacks held at once than the display has spare keycodes: the
        # caller's limit (400, named), not a bug (500).
        ("/v1/key", {"key": "+".join(f"U{0x4E00 + i:04X}" for i in range(60))}, "invalid_request", "spare keycodes"),
    ],
)
async def test_refused_calls_press_nothing(
    client: TestClient, x_conn: xdisplay.Display, path: str, body: dict[str, Any], code: str, needle: str
) -> None:
    before = full_map(x_conn)
    data = await post(client, path, body, status=400)
    assert data["error"]["code"] == code
    assert needle in data["error"]["message"]
    assert keys_down(x_conn) == []
    assert x_conn.screen().root.query_pointer().mask & 0x1F00 == 0  # no button down
    assert full_map(x_conn) == before


async def test_without_a_display_input_is_503(make_agent: Callable[..., Any]) -> None:
    client = await make_agent(":59999")  # nothing listens there
    for path, body in [("/v1/click", {"x": 1, "y": 1}), ("/v1/type", {"text": "a"}), ("/v1/key", {"key": "a"})]:
        data = await post(client, path, body, status=503)
        assert data["error"]["code"] == "display_unavailable"


class XvfbWithoutXtest(Xvfb):
    def _args(self) -> list[str]:
        return [*super()._args(), "-extension", "XTEST"]


@pytest.fixture
def xvfb_without_xtest() -> Iterator[Xvfb]:
    server = XvfbWithoutXtest().start()
    yield server
    server.stop()


async def test_without_xtest_input_is_503_not_a_crash(xvfb_without_xtest: Xvfb, make_agent: Callable[..., Any]) -> None:
    client = await make_agent(xvfb_without_xtest.name)  # the server outlives the agent (fixture order)
    for path, body in [("/v1/click", {"x": 1, "y": 1}), ("/v1/type", {"text": "a"}), ("/v1/key", {"key": "a"})]:
        data = await post(client, path, body, status=503)
        assert data["error"]["code"] == "display_unavailable" and "XTEST" in data["error"]["message"]


async def test_input_works_again_after_the_x_server_restarts(own_xvfb: Xvfb, make_agent: Callable[..., Any]) -> None:
    # own_xvfb first: it is torn down after the agent, so the agent never sees it vanish on the
    # way out (the foundation's readiness loop can miss its cancellation when it does).
    client = await make_agent(own_xvfb.name, input_mapping_settle_ms=SETTLE_MS)
    await post(client, "/v1/type", {"text": "日"})  # map cached for this connection
    own_xvfb.kill()
    own_xvfb.restart()
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        resp = await client.post("/v1/click", json={"x": 7, "y": 8}, headers=AUTH)
        if resp.status == 200:
            break
        assert resp.status == 503 and asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)
    rec = Recorder(own_xvfb.name)
    try:
        await post(client, "/v1/type", {"text": "é日"})
        await post(client, "/v1/click", {"x": 9, "y": 10})
        events = rec.wait_for(lambda ev: any(e["type"] == "ButtonRelease" for e in ev))
    finally:
        rec.stop()
    presses = [e["keysym"] for e in events if e["type"] == "KeyPress"]
    assert presses == [K["eacute"], 0x10065E5]


async def test_empty_text_types_nothing_even_on_the_fast_path(client: TestClient, sink: XtermSink) -> None:
    assert await post(client, "/v1/type", {"text": "ab"}) == {"typed": 2}  # fills the map cache
    assert await post(client, "/v1/type", {"text": ""}) == {"typed": 0}
    assert await post(client, "/v1/type", {"text": "c"}) == {"typed": 1}
    assert sink.wait_for(b"abc") == b"abc"
