"""GET /v1/accessibility on a real GTK 3 window under a real AT-SPI bus."""

from __future__ import annotations

import os
import re
import signal

from aiohttp.test_utils import TestClient

from tests.accessibility.conftest import tree_until
from devsupport.a11y import A11ySession, App, centre, find, geometry, gtk_app, named
from tests.support.agent import AUTH
from tests.support.xvfb import Xvfb


def has_button(body: dict) -> bool:
    return bool(find(body["root"], lambda n: n["role"] == "button" and n["name"] == "OK" and "focused" in n["states"]))


async def test_roles_names_states_values_and_extents(a11y_agent: TestClient, wm_xvfb: Xvfb, gtk: App) -> None:
    body = await tree_until(a11y_agent, {"window": str(gtk.window)}, has_button)
    root = body["root"]
    assert body["window"] == gtk.window and body["skipped"] == [] and body["truncated"] is False
    assert root["role"] == "frame" and root["name"] == "A11y test window"
    # the frame is the window with its decorations (GTK 3 reports those): where xwininfo says
    assert (root["x"], root["y"], root["width"], root["height"]) == geometry(wm_xvfb, gtk.window, frame=True)
    button = named(root, "button", "OK")
    assert {"focusable", "focused", "enabled", "showing"} <= set(button["states"])
    assert "click" in button["actions"]
    entry = find(root, lambda n: n.get("value") == "hello world")
    assert len(entry) == 1 and entry[0]["role"] == "text" and "editable" in entry[0]["states"]
    check = named(root, "check box", "Remember me")
    assert "checked" in check["states"] and "focused" not in check["states"]
    menu = named(root, "menu", "File")
    assert named(menu, "menu item", "Quit")["width"] == 0  # a closed menu's item is not on screen
    assert named(root, "menu bar", "")["children"][0]["name"] == "File"
    for node in (button, entry[0], check, menu):  # every control lies inside its window
        assert root["x"] <= node["x"] and node["x"] + node["width"] <= root["x"] + root["width"]
        assert root["y"] <= node["y"] and node["y"] + node["height"] <= root["y"] + root["height"]
        assert node["width"] > 0 and node["height"] > 0
    assert body["nodeCount"] == len(find(root, lambda n: True))


async def test_active_window_is_the_default(a11y_agent: TestClient, gtk: App) -> None:
    body = await tree_until(a11y_agent, {}, lambda b: b["window"] == gtk.window)
    assert body["root"]["name"] == "A11y test window"


async def test_all_lists_the_applications(a11y_agent: TestClient, gtk: App) -> None:
    body = await tree_until(a11y_agent, {"window": "all"}, has_button)
    root = body["root"]
    assert root["role"] == "desktop frame" and body["window"] is None
    apps = [child for child in root["children"] if child["role"] == "application"]
    assert "gtk_window.py" in [app["name"] for app in apps]


async def test_text_form(a11y_agent: TestClient, gtk: App) -> None:
    await tree_until(a11y_agent, {"window": str(gtk.window)}, has_button)
    resp = await a11y_agent.get("/v1/accessibility", params={"window": str(gtk.window), "format": "text"}, headers=AUTH)
    assert resp.status == 200 and resp.content_type == "text/plain"
    lines = (await resp.text()).splitlines()
    assert lines[0].startswith('- frame "A11y test window"')
    button = [line for line in lines if '- button "OK"' in line]
    assert len(button) == 1
    assert re.fullmatch(r'( {2})+- button "OK" \[focusable, focused, enabled\] @\(\d+,\d+ \d+x\d+\)', button[0]), button[0]
    assert any(re.fullmatch(r' +- text = "hello world" \[.*editable.*\] @\(.*\)', line) for line in lines), lines
    assert any('- check box "Remember me" [focusable, checked, enabled]' in line for line in lines), lines


async def test_clicking_the_centre_hits_the_button(a11y_agent: TestClient, gtk: App) -> None:
    body = await tree_until(a11y_agent, {"window": str(gtk.window)}, has_button)
    x, y = centre(named(body["root"], "button", "OK"))
    resp = await a11y_agent.post("/v1/click", json={"x": x, "y": y}, headers=AUTH)
    assert resp.status == 200
    assert gtk.event() == {"clicked": "OK"}


async def test_max_nodes_cuts_breadth_first_and_says_so(a11y_agent: TestClient, gtk: App) -> None:
    await tree_until(a11y_agent, {"window": str(gtk.window)}, has_button)
    resp = await a11y_agent.get("/v1/accessibility", params={"window": str(gtk.window), "maxNodes": "3"}, headers=AUTH)
    body = await resp.json()
    nodes = find(body["root"], lambda n: True)
    assert body["nodeCount"] == len(nodes) == 3 and body["truncated"] is True
    assert sum(n.get("omitted", 0) for n in nodes) > 0
    text = await (await a11y_agent.get("/v1/accessibility", params={"window": str(gtk.window), "maxNodes": "3", "format": "text"}, headers=AUTH)).text()
    assert re.search(r"… \d+ more", text) and "# truncated" in text


async def test_max_depth_keeps_the_top_levels(a11y_agent: TestClient, gtk: App) -> None:
    await tree_until(a11y_agent, {"window": str(gtk.window)}, has_button)
    body = await (await a11y_agent.get("/v1/accessibility", params={"window": str(gtk.window), "maxDepth": "1"}, headers=AUTH)).json()
    root = body["root"]
    assert body["truncated"] is True and len(root["children"]) >= 1
    assert all(child["children"] == [] for child in root["children"])
    assert sum(child.get("omitted", 0) for child in root["children"]) > 0
    zero = await (await a11y_agent.get("/v1/accessibility", params={"window": str(gtk.window), "maxDepth": "0"}, headers=AUTH)).json()
    assert zero["nodeCount"] == 1 and zero["root"]["omitted"] >= 1


async def test_interactive_keeps_what_can_be_acted_on(a11y_agent: TestClient, gtk: App) -> None:
    await tree_until(a11y_agent, {"window": str(gtk.window)}, has_button)
    full = await (await a11y_agent.get("/v1/accessibility", params={"window": str(gtk.window)}, headers=AUTH)).json()
    body = await (await a11y_agent.get("/v1/accessibility", params={"window": str(gtk.window), "interactive": "true"}, headers=AUTH)).json()
    nodes = find(body["root"], lambda n: True)[1:]
    assert {(n["role"], n["name"]) for n in nodes} >= {("button", "OK"), ("check box", "Remember me"), ("menu", "File")}
    assert any(n.get("value") == "hello world" for n in nodes)
    for node in nodes:  # each is actionable, or a named container of actionable nodes
        actionable = node["actions"] or {"focusable", "editable"} & set(node["states"])
        assert actionable or (node["name"] and node["children"]), node
    assert not [n for n in nodes if n["role"] == "filler"]  # the unnamed layout box is gone
    assert body["nodeCount"] < full["nodeCount"]
    assert not [n for n in nodes if n["name"] == "Quit"]  # in a closed menu: not showing


async def test_a_stopped_application_is_skipped_and_named(make_agent, wm_xvfb: Xvfb, session: A11ySession, gtk: App) -> None:  # type: ignore[no-untyped-def]
    agent = await make_agent(wm_xvfb.name, accessibility_timeout_ms=1000)
    await tree_until(agent, {"window": "all"}, has_button)
    with gtk_app(session) as hung:
        await tree_until(agent, {"window": "all"}, lambda b: len(find(b["root"], lambda n: n["role"] == "button" and n["name"] == "OK")) == 2)
        os.kill(hung.pid, signal.SIGSTOP)
        try:
            resp = await agent.get("/v1/accessibility", params={"window": "all"}, headers=AUTH, timeout=10)
            body = await resp.json()
            assert resp.status == 200
            assert [s["pid"] for s in body["skipped"]] == [hung.pid], body["skipped"]
            assert body["skipped"][0]["name"] == "python3" and "no answer" in body["skipped"][0]["reason"]
            assert len(find(body["root"], lambda n: n["name"] == "OK")) == 1  # the live one is there
            text = await (await agent.get("/v1/accessibility", params={"window": "all", "format": "text"}, headers=AUTH)).text()
            assert f"# skipped: python3 (pid {hung.pid})" in text
            # its own window: what X knows of it, and why there is no more
            body = await (await agent.get("/v1/accessibility", params={"window": str(hung.window)}, headers=AUTH, timeout=10)).json()
            assert body["root"]["role"] == "window" and body["root"]["name"] == "A11y test window"
            assert "did not answer in time" in body["note"] and [s["pid"] for s in body["skipped"]] == [hung.pid]
        finally:
            os.kill(hung.pid, signal.SIGCONT)
        body = await tree_until(agent, {"window": "all"}, lambda b: b["skipped"] == [])
        assert len(find(body["root"], lambda n: n["name"] == "OK")) == 2


async def test_bad_queries(a11y_agent: TestClient, gtk: App) -> None:
    for params, field in (({"window": "nope"}, "window"), ({"maxNodes": "0"}, "maxNodes"), ({"format": "xml"}, "format"), ({"depth": "1"}, "depth")):
        resp = await a11y_agent.get("/v1/accessibility", params=params, headers=AUTH)
        assert resp.status == 400, params
        assert (await resp.json())["error"]["details"]["field"] == field
    resp = await a11y_agent.get("/v1/accessibility", params={"window": "0x3fffff0"}, headers=AUTH)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    assert (await a11y_agent.get("/v1/accessibility")).status == 401
