"""Qt and Chromium under the same AT-SPI bus: controls found by name, at the right place on the
screen (a click at their centre through /v1/click hits them)."""

from __future__ import annotations

import asyncio
import re
import time
import pytest
from aiohttp.test_utils import TestClient

from tests.accessibility.conftest import tree_until
from devsupport.a11y import APPS, A11ySession, ChromiumApp, chromium_binary, centre, find, named, qt_app, window_title
from tests.support.agent import AUTH
from tests.support.xvfb import Xvfb

PAGE = (APPS / "page.html").as_uri()


async def wait_title(wm_xvfb: Xvfb, window: int, title: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = window_title(wm_xvfb, window)
        if seen == title:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"title {seen!r}, not {title!r}")


async def test_qt_button_and_line_edit(a11y_agent: TestClient, session: A11ySession) -> None:
    with qt_app(session) as app:
        body = await tree_until(a11y_agent, {"window": str(app.window)}, lambda b: bool(find(b["root"], lambda n: n["name"] == "Press me")))
        root = body["root"]
        assert root["name"] == "Qt a11y window" and body["window"] == app.window
        button = named(root, "button", "Press me")
        assert {"focusable", "enabled"} <= set(button["states"]) and button["width"] > 0
        edit = find(root, lambda n: n.get("value") == "qt text")
        assert len(edit) == 1 and "editable" in edit[0]["states"]
        x, y = centre(button)
        assert (await a11y_agent.post("/v1/click", json={"x": x, "y": y}, headers=AUTH)).status == 200
        assert app.event() == {"clicked": "Press me"}


@pytest.fixture(scope="module")
def chromium(session: A11ySession) -> ChromiumApp:
    if chromium_binary() is None:
        pytest.fail("chromium is not installed: run scripts/install-deps --test")
    with ChromiumApp(session, PAGE, x=20, y=40, width=900, height=600) as app:
        yield app


def page_ready(body: dict) -> bool:
    return bool(find(body["root"], lambda n: n["role"] == "button" and n["name"] == "Go now" and n["width"] > 0))


async def test_chromium_page_controls_by_name_and_place(a11y_agent: TestClient, wm_xvfb: Xvfb, chromium: ChromiumApp) -> None:
    body = await tree_until(a11y_agent, {"window": str(chromium.window)}, page_ready, timeout=60)
    root = body["root"]
    assert body["window"] == chromium.window and root["role"] == "frame"
    document = named(root, "document web", "A11y test page ready")
    button = named(document, "button", "Go now")
    entry = named(document, "entry", "Your name")
    assert entry["value"] == "typed here" and "editable" in entry["states"]
    # the page puts the button 160x40 at (40,60) of its viewport: sizes are CSS pixels at scale 1
    assert (button["width"], button["height"]) == (160, 40)
    assert button["x"] - document["x"] == 40 and button["y"] - document["y"] == 60
    x, y = centre(button)
    assert (await a11y_agent.post("/v1/click", json={"x": x, "y": y}, headers=AUTH)).status == 200
    await wait_title(wm_xvfb, chromium.window, "clicked go")
    x, y = centre(entry)
    assert (await a11y_agent.post("/v1/click", json={"x": x, "y": y}, headers=AUTH)).status == 200
    await wait_title(wm_xvfb, chromium.window, "clicked input")


async def test_chromium_interactive_and_text(a11y_agent: TestClient, chromium: ChromiumApp) -> None:
    await tree_until(a11y_agent, {"window": str(chromium.window)}, page_ready, timeout=60)
    resp = await a11y_agent.get("/v1/accessibility", params={"window": str(chromium.window), "interactive": "true", "format": "text"}, headers=AUTH)
    text = await resp.text()
    assert '- button "Go now" [focusable, enabled] @(' in text, text
    assert re.search(r'- entry "Your name" = "typed here" \[focusable, (focused, )?editable, enabled\] @\(', text), text
    assert "- panel\n" not in text and "- section\n" not in text  # unnamed containers are left out
