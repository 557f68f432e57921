"""POST /v1/act on a real 1920x1080 Xvfb, with real X clients that react late, animate, or record."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from bureau_agent import appkeys
from tests.support.agent import AUTH
from tests.support.reactive_window import ReactiveWindow, color
from tests.support.xrecorder import Recorder
from tests.support.xvfb import Xvfb

WIN = (300, 200, 400, 300)  # x, y, w, h of the reactive window


@pytest.fixture(scope="module")
def big_xvfb() -> Iterator[Xvfb]:
    server = Xvfb(width=1920, height=1080).start()
    yield server
    server.stop()


@pytest.fixture
async def client(make_agent: Callable[..., Any], big_xvfb: Xvfb) -> TestClient:
    return await make_agent(big_xvfb.name)


async def act(client: TestClient, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    resp = await client.post("/v1/act", json=body, headers=AUTH)
    data = await resp.json()
    assert resp.status == status, data
    return data


def image(shot: dict[str, Any]) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")


def contains(region: dict[str, int], x: int, y: int, w: int, h: int) -> bool:
    return region["x"] <= x and region["y"] <= y and region["x"] + region["w"] >= x + w and region["y"] + region["h"] >= y + h


async def test_act_returns_the_frame_after_a_late_repaint(client: TestClient, big_xvfb: Xvfb) -> None:
    with ReactiveWindow(big_xvfb.name, *WIN, delay_ms=300) as win:
        cx, cy = win.center
        data = await act(client, {"actions": [{"action": "click", "x": cx, "y": cy}], "settle": {"quietMs": 500}})
        assert data["results"] == [{"x": cx, "y": cy}]
        assert data["settled"] is True and data["changed"] is True
        assert contains(data["changedRegion"], *WIN)
        assert data["settleMs"] >= 300  # the repaint came 300 ms after the click, then quietMs
        shot = data["screenshot"]
        assert (shot["contentType"], shot["width"], shot["height"], shot["scale"]) == ("image/png", 1920, 1080, 1)
        assert image(shot).getpixel((cx, cy)) == color(1)  # the frame after the change, not before
        assert data["durationMs"] >= data["settleMs"]


async def test_an_effect_later_than_the_quiet_period_is_missed_without_until_change(
    client: TestClient, big_xvfb: Xvfb
) -> None:
    """The documented limit: 100 ms of quiet after the click is "settled", the repaint 1.5 s
    later is not waited for (untilChange is for that, see below)."""
    with ReactiveWindow(big_xvfb.name, *WIN, delay_ms=1500) as win:
        cx, cy = win.center
        data = await act(client, {"actions": [{"action": "click", "x": cx, "y": cy}], "settle": {"quietMs": 100}})
        assert data["settled"] is True and data["changed"] is False
        assert image(data["screenshot"]).getpixel((cx, cy)) == color(0)
        await asyncio.to_thread(win.wait_for, "painted 1")


async def test_the_screenshot_is_the_one_get_screenshot_serves(client: TestClient, big_xvfb: Xvfb) -> None:
    with ReactiveWindow(big_xvfb.name, *WIN):
        data = await act(client, {"actions": [], "screenshot": {"format": "jpeg", "quality": 70, "maxWidth": 960}})
        shot = data["screenshot"]
        resp = await client.get("/v1/screenshot", params={"format": "jpeg", "quality": "70", "maxWidth": "960"}, headers=AUTH)
        assert resp.headers["ETag"] == shot["etag"]
        assert await resp.read() == base64.b64decode(shot["data"])
        assert (shot["contentType"], shot["width"], shot["height"], shot["scale"]) == ("image/jpeg", 960, 540, 0.5)


async def test_an_endless_animation_is_not_settled_after_the_timeout(client: TestClient, big_xvfb: Xvfb) -> None:
    with ReactiveWindow(big_xvfb.name, *WIN, animate_ms=20):
        data = await act(client, {"actions": [], "settle": {"timeoutMs": 600}, "screenshot": {"format": "jpeg"}})
        assert data["settled"] is False and data["changed"] is True
        assert data["settleMs"] >= 600
        assert data["screenshot"]["contentType"] == "image/jpeg"


async def test_nothing_changes_settles_after_the_quiet_period(client: TestClient, big_xvfb: Xvfb) -> None:
    with ReactiveWindow(big_xvfb.name, *WIN):
        data = await act(client, {"actions": [{"action": "move", "x": 10, "y": 10}], "settle": {"quietMs": 100}})
        assert data["settled"] is True
        assert data["changed"] is False and data["changedRegion"] is None  # the pointer is not damage
        assert data["settleMs"] >= 100


async def test_until_change_waits_the_timeout_when_nothing_changes(client: TestClient, big_xvfb: Xvfb) -> None:
    with ReactiveWindow(big_xvfb.name, *WIN):
        data = await act(client, {"actions": [], "settle": {"untilChange": True, "timeoutMs": 500}, "screenshot": False})
        assert data["settled"] is False and data["changed"] is False
        assert data["settleMs"] >= 500 and data["screenshot"] is None


async def test_until_change_catches_a_change_later_than_the_quiet_period(client: TestClient, big_xvfb: Xvfb) -> None:
    with ReactiveWindow(big_xvfb.name, *WIN, delay_ms=400) as win:
        cx, cy = win.center
        body = {"actions": [{"action": "click", "x": cx, "y": cy}], "settle": {"quietMs": 100, "untilChange": True}}
        data = await act(client, body)
        assert data["settled"] is True and data["changed"] is True and data["settleMs"] >= 400
        assert image(data["screenshot"]).getpixel((cx, cy)) == color(1)


async def test_settle_false_does_not_wait(client: TestClient, big_xvfb: Xvfb) -> None:
    with ReactiveWindow(big_xvfb.name, *WIN, delay_ms=1000) as win:
        cx, cy = win.center
        data = await act(client, {"actions": [{"action": "click", "x": cx, "y": cy}], "settle": False})
        assert data["settled"] is False and data["settleMs"] == 0
        assert image(data["screenshot"]).getpixel((cx, cy)) == color(0)  # the repaint is 1 s away
        await asyncio.to_thread(win.wait_for, "painted 1")


async def test_image_scale_maps_screenshot_pixels_to_the_screen(client: TestClient, big_xvfb: Xvfb) -> None:
    resp = await client.get("/v1/screenshot", params={"maxWidth": "960", "format": "jpeg"}, headers=AUTH)
    scale = float(resp.headers["X-Scale"])
    assert scale == 0.5
    rec = await asyncio.to_thread(Recorder, big_xvfb.name)
    try:
        body = {"actions": [{"action": "click", "x": 333, "y": 111}, {"action": "drag", "from": {"x": 10, "y": 20},
                "to": {"x": 101, "y": 51}, "durationMs": 0}], "imageScale": scale, "settle": False, "screenshot": False}  # fmt: skip
        data = await act(client, body)
        assert data["results"] == [{"x": 666, "y": 222}, {"x": 202, "y": 102}]  # screen pixels
        events = await asyncio.to_thread(rec.wait_for, lambda ev: len([e for e in ev if e["type"] == "ButtonRelease"]) == 2)
        presses = [(e["x"], e["y"]) for e in events if e["type"] in ("ButtonPress", "ButtonRelease")]
        assert presses == [(666, 222), (666, 222), (20, 40), (202, 102)]
        # Bounds are checked after mapping: 959.5 / 0.5 is inside, 960 / 0.5 = 1920 is not.
        out = await act(client, {"actions": [{"action": "move", "x": 960, "y": 0}], "imageScale": 0.5}, 400)
        assert out["error"]["code"] == "out_of_bounds" and out["error"]["details"]["index"] == 0
    finally:
        rec.stop()


@pytest.mark.parametrize(
    ("bad", "code", "field"),
    [
        ({"action": "click", "x": "a", "y": 1}, "invalid_request", "actions[3].x"),
        ({"action": "click", "x": 5000, "y": 1}, "out_of_bounds", "actions[3].x, y"),
        ({"action": "key", "key": "ctrl+nosuchkey"}, "unknown_key", None),
        ({"action": "type", "txt": "a"}, "invalid_request", "actions[3].txt"),
        ({"action": "teleport"}, "invalid_request", "actions[3].action"),
        ({"action": "wait", "ms": -1}, "invalid_request", "actions[3].ms"),
        ({"action": "drag", "from": {"x": 1, "y": 1}, "to": {"x": 1, "y": 99999}}, "out_of_bounds", "actions[3].to"),
    ],
)
async def test_an_invalid_action_is_refused_before_anything_runs(
    client: TestClient, big_xvfb: Xvfb, bad: dict[str, Any], code: str, field: str | None
) -> None:
    rec = await asyncio.to_thread(Recorder, big_xvfb.name)
    try:
        actions = [
            {"action": "move", "x": 50, "y": 50},
            {"action": "click", "x": 60, "y": 60},
            {"action": "type", "text": "hi"},
            bad,
            {"action": "key", "key": "Return"},
        ]
        error = (await act(client, {"actions": actions}, 400))["error"]
        assert error["code"] == code and error["details"]["index"] == 3
        if field is not None:
            assert error["details"]["field"] == field
        assert "actions[3]" in error["message"]
        # The proof that nothing ran: a later click is the first and only thing recorded.
        await act(client, {"actions": [{"action": "click", "x": 700, "y": 500}], "settle": False, "screenshot": False})
        events = await asyncio.to_thread(rec.wait_for, lambda ev: any(e["type"] == "ButtonRelease" for e in ev))
        assert [(e["type"], e["x"], e["y"]) for e in events if e["type"] != "MotionNotify"] == [
            ("ButtonPress", 700, 500), ("ButtonRelease", 700, 500)
        ]  # fmt: skip
        assert not any(e["type"].startswith("Key") for e in events)
    finally:
        rec.stop()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"actions": [{"action": "wait", "ms": 1}] * 65}, "actions"),
        ({"actions": [], "imageScale": 0}, "imageScale"),
        ({"actions": [], "imageScale": 1.5}, "imageScale"),
        ({"actions": [], "settle": {"quietMS": 1}}, "settle.quietMS"),
        ({"actions": [], "settle": "soon"}, "settle"),
        ({"actions": [], "screenshot": {"format": "gif"}}, "screenshot.format"),
        ({"actions": [], "screenshot": {"region": {"x": 0, "y": 0, "w": 0, "h": 5}}}, "screenshot.region.w"),
        ({"actions": [], "screenshot": {"region": {"x": 1900, "y": 0, "w": 100, "h": 5}}}, "screenshot.region"),
        ({}, "actions"),
    ],
)
async def test_bad_options_are_400_naming_the_field(client: TestClient, body: dict[str, Any], field: str) -> None:
    error = (await act(client, body, 400))["error"]
    assert error["details"]["field"] == field, error


async def test_a_region_screenshot(client: TestClient, big_xvfb: Xvfb) -> None:
    with ReactiveWindow(big_xvfb.name, *WIN):
        data = await act(client, {"actions": [], "screenshot": {"region": {"x": 310, "y": 210, "w": 20, "h": 10}}})
        img = image(data["screenshot"])
        assert img.size == (20, 10) and img.getpixel((5, 5)) == color(0)


async def test_a_click_from_another_client_is_not_held_by_an_act_waiting(client: TestClient, big_xvfb: Xvfb) -> None:
    with ReactiveWindow(big_xvfb.name, *WIN) as win:
        waiting = asyncio.ensure_future(
            act(client, {"actions": [], "settle": {"untilChange": True, "timeoutMs": 3000}, "screenshot": False})
        )
        watcher = client.app[appkeys.DAMAGE]
        for _ in range(200):  # the act has subscribed: from now on it sees every drawing
            if watcher.subscribers:
                break
            await asyncio.sleep(0.01)
        assert watcher.subscribers == 1
        cx, cy = win.center
        resp = await client.post("/v1/click", json={"x": cx, "y": cy}, headers=AUTH)
        assert resp.status == 200
        assert not waiting.done()  # the click answered while the act still waits
        data = await waiting
        assert data["changed"] is True  # and the act saw the other client's click repaint the window
        assert contains(data["changedRegion"], *WIN)


async def test_display_lost_between_actions(make_agent: Callable[..., Any], own_xvfb: Xvfb) -> None:
    client = await make_agent(own_xvfb.name)
    rec = await asyncio.to_thread(Recorder, own_xvfb.name)
    body = {"actions": [{"action": "click", "x": 5, "y": 5}, {"action": "wait", "ms": 5000},
                        {"action": "click", "x": 9, "y": 9}]}  # fmt: skip
    pending = asyncio.ensure_future(client.post("/v1/act", json=body, headers=AUTH))
    await asyncio.to_thread(rec.wait_for, lambda ev: any(e["type"] == "ButtonRelease" for e in ev))
    own_xvfb.kill()
    own_xvfb.hold_number()  # or another session's Xvfb may come up on it and take the next click
    resp = await pending
    error = (await resp.json()).get("error")
    assert error is not None, await resp.json()
    assert resp.status == 503 and error["code"] == "display_unavailable"
    assert error["details"]["index"] == 2 and error["details"]["results"] == [{"x": 5, "y": 5}, {}]
    assert "Retry-After" in resp.headers
    own_xvfb.restart()

    async def ready() -> bool:
        return bool((await (await client.get("/v1/health")).json())["agentReady"])

    for _ in range(200):
        if await ready():
            break
        await asyncio.sleep(0.05)
    assert await ready()
    # Nothing held after the display returns, and act works again (settle included).
    from Xlib import display as xdisplay

    conn = xdisplay.Display(own_xvfb.name)
    try:
        assert conn.screen().root.query_pointer().mask & 0x1F00 == 0
        assert not any(conn.query_keymap())
    finally:
        conn.close()
    data = await act(client, {"actions": [{"action": "move", "x": 3, "y": 3}], "settle": {"quietMs": 50}})
    assert data["settled"] is True and data["screenshot"] is not None
