"""The window routes over HTTP, on a real Xvfb under openbox (and without a window manager), with
real clients: Tk windows and xterms, checked with xwininfo, xprop and typed text."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from aiohttp.test_utils import TestClient
from Xlib import display as xdisplay

from tests.support.agent import AUTH
from devsupport.xclients import TkWindow, window_exists, xprop, xwininfo
from tests.support.xrecorder import XtermSink
from tests.support.xvfb import Xvfb

TITLE = "Grüße — 日本語 ✓"


@pytest.fixture(scope="module")
def bare_xvfb() -> Iterator[Xvfb]:
    server = Xvfb().start()
    yield server
    server.stop()


@pytest.fixture
async def client(make_agent: Callable[..., Any], wm_xvfb: Xvfb) -> TestClient:
    return await make_agent(wm_xvfb.name)


@pytest.fixture
async def bare(make_agent: Callable[..., Any], bare_xvfb: Xvfb) -> TestClient:
    return await make_agent(bare_xvfb.name)


async def call(client: TestClient, method: str, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
    resp = await client.request(method, path, json=body, headers=AUTH)
    data = await resp.json()
    assert resp.status == status, data
    return data


async def listed(client: TestClient, wid: int, timeout_s: float = 10.0) -> dict[str, Any]:
    """The window as GET /v1/windows lists it, once it is listed (the WM manages it asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        listing = await call(client, "GET", "/v1/windows")
        found = [w for w in listing["windows"] if w["id"] == wid]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"window {wid} never listed: {listing}"
        await asyncio.sleep(0.05)


async def activate_and_type(client: TestClient, sink: XtermSink, word: str) -> tuple[dict[str, Any], bytes]:
    """Activate the sink's window (confirmed, and the listing says it is active), type word:
    the listing after the activation and what the sink echoed."""
    assert await call(client, "POST", f"/v1/windows/{sink.window}/activate") == {"activated": True}
    listing = await call(client, "GET", "/v1/windows")
    assert listing["activeWindow"] == sink.window
    await call(client, "POST", "/v1/type", {"text": word})
    return listing, sink.wait_for(word.encode())


def absolute(info: dict[str, str]) -> tuple[int, int, int, int]:
    return (int(info["Absolute upper-left X"]), int(info["Absolute upper-left Y"]), int(info["Width"]), int(info["Height"]))


def geometry(window: dict[str, Any]) -> tuple[int, int, int, int]:
    return window["x"], window["y"], window["width"], window["height"]


def stacking(xvfb: Xvfb) -> list[int]:
    conn = xdisplay.Display(xvfb.name)
    try:
        prop = conn.screen().root.get_full_property(conn.intern_atom("_NET_CLIENT_LIST_STACKING"), 0)
        return [int(v) for v in prop.value]
    finally:
        conn.close()


def active_window(xvfb: Xvfb) -> int:
    out = xprop(xvfb, "-root", "_NET_ACTIVE_WINDOW")  # _NET_ACTIVE_WINDOW(WINDOW): window id # 0x400005
    return int(out.rsplit("#", 1)[1].split(",")[0].strip(), 16)


# -- under openbox -------------------------------------------------------------------------


async def test_listing_has_titles_pids_classes_and_geometry_as_xwininfo_sees_them(client: TestClient, wm_xvfb: Xvfb) -> None:
    with TkWindow(wm_xvfb, TITLE, "320x140+60+70") as tk:
        xterm = subprocess.Popen(["xterm", "-u8", "-T", "plain xterm ✓", "-geometry", "40x10+400+300"], env=wm_xvfb.env())
        try:
            window = await listed(client, tk.id)
            assert window["title"] == TITLE
            assert window["pid"] is None  # Tk does not set _NET_WM_PID (xterm below does)
            assert window["class"] == "Tk"
            assert window["state"] == "normal" and window["desktop"] == 0
            assert geometry(window) == absolute(xwininfo(wm_xvfb, tk.id))
            assert (window["width"], window["height"]) == (320, 140)
            deadline = time.monotonic() + 10
            while not [w for w in (await call(client, "GET", "/v1/windows"))["windows"] if w["pid"] == xterm.pid]:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            listing = await call(client, "GET", "/v1/windows")
            term = next(w for w in listing["windows"] if w["pid"] == xterm.pid)
            assert term["pid"] == xterm.pid
            assert term["title"] == "plain xterm ✓"  # xterm writes a non-Latin-1 title as COMPOUND_TEXT WM_NAME
            assert (term["class"], term["instance"]) == ("XTerm", "xterm")
            assert geometry(term) == absolute(xwininfo(wm_xvfb, term["id"]))
            assert [w["id"] for w in listing["windows"]] == stacking(wm_xvfb)  # bottom first
            assert sum(w["focused"] for w in listing["windows"]) <= 1
            if listing["activeWindow"] is not None:
                assert next(w for w in listing["windows"] if w["id"] == listing["activeWindow"])["focused"]
        finally:
            xterm.kill()
            xterm.wait(10)


async def test_activate_is_confirmed_and_typed_text_reaches_the_activated_window(client: TestClient, wm_xvfb: Xvfb) -> None:
    first, second = XtermSink(wm_xvfb.name), XtermSink(wm_xvfb.name)
    try:
        await listed(client, first.window)
        await listed(client, second.window)
        for sink, other, word in ((first, second, "alpha"), (second, first, "beta"), (first, second, "gamma")):
            listing, echoed = await activate_and_type(client, sink, word)
            assert active_window(wm_xvfb) == sink.window
            assert [w["id"] for w in listing["windows"]][-1] == sink.window  # raised to the top
            assert echoed.endswith(word.encode())
        assert first.read() == b"alphagamma" and second.read() == b"beta"
    finally:
        first.stop()
        second.stop()


async def test_activate_restores_a_minimized_window(client: TestClient, wm_xvfb: Xvfb) -> None:
    with TkWindow(wm_xvfb, "minimized then activated") as tk:
        await listed(client, tk.id)
        minimized = await call(client, "POST", f"/v1/windows/{tk.id}/state", {"state": "minimized"})
        assert minimized["state"] == "minimized"
        assert "Iconic" in xprop(wm_xvfb, "-id", str(tk.id), "WM_STATE")
        assert await call(client, "POST", f"/v1/windows/{hex(tk.id)}/activate") == {"activated": True}
        window = await listed(client, tk.id)
        assert window["state"] == "normal" and window["focused"]
        assert "Normal" in xprop(wm_xvfb, "-id", str(tk.id), "WM_STATE")


async def test_close_closes_and_force_kills_a_client_that_ignores_wm_delete_window(client: TestClient, wm_xvfb: Xvfb) -> None:
    with TkWindow(wm_xvfb, "polite") as polite:
        await listed(client, polite.id)
        assert await call(client, "POST", f"/v1/windows/{polite.id}/close") == {"closed": True}
        assert not window_exists(wm_xvfb, polite.id)
        assert polite.proc.wait(10) == 0  # Tk destroyed its window and exited on its own
    with TkWindow(wm_xvfb, "stubborn", ignore_close=True) as stubborn:
        await listed(client, stubborn.id)
        assert await call(client, "POST", f"/v1/windows/{stubborn.id}/close", {"timeoutMs": 300}) == {"closed": False}
        assert window_exists(wm_xvfb, stubborn.id) and stubborn.proc.poll() is None
        assert await call(client, "POST", f"/v1/windows/{stubborn.id}/close", {"force": True, "timeoutMs": 300}) == {"closed": True}
        assert not window_exists(wm_xvfb, stubborn.id)
        stubborn.proc.wait(10)  # XKillClient closed its connection: Tk exits


async def test_geometry_moves_and_resizes_as_xwininfo_confirms(client: TestClient, wm_xvfb: Xvfb) -> None:
    with TkWindow(wm_xvfb, "moved", "300x120+50+50") as tk:
        await listed(client, tk.id)
        window = await call(client, "POST", f"/v1/windows/{tk.id}/geometry", {"x": 210, "y": 160, "width": 420, "height": 260})
        assert geometry(window) == (210, 160, 420, 260)
        assert absolute(xwininfo(wm_xvfb, tk.id)) == (210, 160, 420, 260)
        window = await call(client, "POST", f"/v1/windows/{tk.id}/geometry", {"width": 333})
        assert geometry(window) == (210, 160, 333, 260)  # only what was given changes
        assert absolute(xwininfo(wm_xvfb, tk.id)) == (210, 160, 333, 260)


async def test_state_maximized_fullscreen_minimized_and_back(client: TestClient, wm_xvfb: Xvfb) -> None:
    with TkWindow(wm_xvfb, "states", "300x120+50+50") as tk:
        await listed(client, tk.id)
        window = await call(client, "POST", f"/v1/windows/{tk.id}/state", {"state": "maximized"})
        assert window["state"] == "maximized" and window["width"] > 1000
        assert "_NET_WM_STATE_MAXIMIZED_VERT" in xprop(wm_xvfb, "-id", str(tk.id), "_NET_WM_STATE")
        window = await call(client, "POST", f"/v1/windows/{tk.id}/state", {"state": "fullscreen"})
        assert window["state"] == "fullscreen"
        assert geometry(window) == (0, 0, wm_xvfb.width, wm_xvfb.height) == absolute(xwininfo(wm_xvfb, tk.id))
        window = await call(client, "POST", f"/v1/windows/{tk.id}/state", {"state": "normal"})
        assert window["state"] == "normal" and (window["width"], window["height"]) == (300, 120)
        assert "MAXIMIZED" not in xprop(wm_xvfb, "-id", str(tk.id), "_NET_WM_STATE")
        window = await call(client, "POST", f"/v1/windows/{tk.id}/state", {"state": "minimized"})
        assert window["state"] == "minimized" and not window["focused"]
        assert xwininfo(wm_xvfb, tk.id)["Map State"] == "IsUnMapped"
        window = await call(client, "POST", f"/v1/windows/{tk.id}/state", {"state": "normal"})
        assert window["state"] == "normal"
        assert xwininfo(wm_xvfb, tk.id)["Map State"] == "IsViewable"


async def test_bad_ids_and_values_are_clear_errors_and_change_nothing(client: TestClient, wm_xvfb: Xvfb) -> None:
    with TkWindow(wm_xvfb, "untouched", "300x120+50+50") as tk:
        before = await listed(client, tk.id)
        conn = xdisplay.Display(wm_xvfb.name)
        try:
            frame = conn.create_resource_object("window", tk.id).query_tree().parent.id  # openbox's frame
            root = conn.screen().root.id
        finally:
            conn.close()
        for wid in (0x7FFFFFF0, frame, root):  # unknown; real windows that are not listed
            for action, body in (("activate", {}), ("close", {"force": True}), ("geometry", {"x": 0}), ("state", {"state": "maximized"})):
                error = await call(client, "POST", f"/v1/windows/{wid}/{action}", body, status=404)
                assert error["error"]["code"] == "window_not_found"
        for body in ({"width": -5}, {"height": 0}, {"x": 99999}, {}, {"w": 10}):
            error = await call(client, "POST", f"/v1/windows/{tk.id}/geometry", body, status=400)
            assert error["error"]["code"] == "invalid_request"
        assert (await call(client, "POST", f"/v1/windows/{tk.id}/state", {"state": "tiny"}, status=400))["error"]["code"] == "invalid_request"
        assert (await call(client, "POST", "/v1/windows/abc/activate", {}, status=400))["error"]["code"] == "invalid_request"
        assert (await call(client, "POST", f"/v1/windows/{tk.id}/close", {"timeoutMs": -1}, status=400))["error"]["code"] == "invalid_request"
        after = await listed(client, tk.id)
        assert geometry(after) == geometry(before) and after["state"] == before["state"] == "normal"
        assert window_exists(wm_xvfb, tk.id)


async def test_a_window_closed_since_the_listing_is_window_not_found(client: TestClient, wm_xvfb: Xvfb) -> None:
    tk = TkWindow(wm_xvfb, "short-lived")
    await listed(client, tk.id)
    tk.close()
    deadline = time.monotonic() + 10
    while window_exists(wm_xvfb, tk.id):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    for action, body in (("activate", {}), ("geometry", {"x": 5}), ("state", {"state": "normal"}), ("close", {})):
        assert (await call(client, "POST", f"/v1/windows/{tk.id}/{action}", body, status=404))["error"]["code"] == "window_not_found"


# -- without a window manager --------------------------------------------------------------


async def test_without_a_window_manager_the_mapped_children_of_the_root_are_the_windows(bare: TestClient, bare_xvfb: Xvfb) -> None:
    first, second = XtermSink(bare_xvfb.name), XtermSink(bare_xvfb.name)
    try:
        with TkWindow(bare_xvfb, TITLE, "300x120+500+400") as tk:
            window = await listed(bare, tk.id)
            assert window["title"] == TITLE
            assert geometry(window) == absolute(xwininfo(bare_xvfb, tk.id)) == (500, 400, 300, 120)
            assert window["desktop"] is None
            moved = await call(bare, "POST", f"/v1/windows/{tk.id}/geometry", {"x": 20, "y": 30, "height": 90})
            assert geometry(moved) == absolute(xwininfo(bare_xvfb, tk.id)) == (20, 30, 300, 90)
            error = await call(bare, "POST", f"/v1/windows/{tk.id}/state", {"state": "maximized"}, status=409)
            assert error["error"]["code"] == "no_window_manager"
            assert (await call(bare, "POST", f"/v1/windows/{tk.id}/state", {"state": "normal"}))["state"] == "normal"
        for sink, word in ((first, "one"), (second, "two")):
            _, echoed = await activate_and_type(bare, sink, word)
            assert echoed == word.encode()
    finally:
        first.stop()
        second.stop()


async def test_without_a_window_manager_close_uses_wm_delete_window_and_force_kills(bare: TestClient, bare_xvfb: Xvfb) -> None:
    with TkWindow(bare_xvfb, "bare polite") as polite:
        await listed(bare, polite.id)
        assert await call(bare, "POST", f"/v1/windows/{polite.id}/close") == {"closed": True}
        assert polite.proc.wait(10) == 0
    with TkWindow(bare_xvfb, "bare stubborn", ignore_close=True) as stubborn:
        await listed(bare, stubborn.id)
        assert await call(bare, "POST", f"/v1/windows/{stubborn.id}/close", {"timeoutMs": 200}) == {"closed": False}
        assert await call(bare, "POST", f"/v1/windows/{stubborn.id}/close", {"force": True, "timeoutMs": 200}) == {"closed": True}
        assert not window_exists(bare_xvfb, stubborn.id)


def test_doctor_says_whether_a_window_manager_runs(wm_xvfb: Xvfb, bare_xvfb: Xvfb) -> None:
    from bureau_agent.doctor import run_checks
    from tests.support.agent import agent_settings

    def wm_check(xvfb: Xvfb) -> Any:
        return next(c for c in run_checks(agent_settings(xvfb.name)) if c.name == "window_manager")

    managed, bare = wm_check(wm_xvfb), wm_check(bare_xvfb)
    assert managed.ok and "Openbox" in managed.detail
    assert bare.ok and "none is running" in bare.detail and "409" in bare.detail
