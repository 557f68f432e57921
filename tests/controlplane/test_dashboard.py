"""The dashboard in a real headless Chromium against a real control plane and desktop, and its session rules.

The browser is Debian's chromium, driven over the DevTools protocol (tests/support/chromium.py).
A page screenshot is saved as a test artifact ($BUREAU_TEST_ARTIFACTS, default test-artifacts/).
Without chromium these tests fail (they are not skipped): scripts/install-deps --test installs it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.controlplane.conftest import MAIN
from tests.controlplane.support import REPO, Plane
from tests.support.chromium import Browser, Page, chromium

ARTIFACTS = Path(os.environ.get("BUREAU_TEST_ARTIFACTS", REPO / "test-artifacts"))
DASH = {"X-Bureau-Dashboard": "1"}

@pytest.fixture(scope="module")
def plane(make_plane: Callable[..., Plane]) -> Plane:
    return make_plane(apps=[["xterm", "-geometry", "70x12+20+20"]])


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


def base(plane: Plane) -> str:
    return f"http://127.0.0.1:{plane.port}"


async def sign_in(page: Page, plane: Plane, key: str = "full") -> None:
    await page.navigate(base(plane) + "/")
    await page.wait_for("!document.getElementById('sign-in-view').hidden", "the sign-in form")
    await page.type_text("#key", plane.keys[key])
    await page.click("#sign-in button[type=submit]")
    await page.wait_for("!document.getElementById('desktops-view').hidden", "the desktops view")


def row_js(desktop: str, what: str) -> str:
    return f"document.querySelector('li.desktop[data-id=\"{desktop}\"] {what}')"


# A hash of the pixels the <img> shows now (same origin: the canvas is not tainted).
SCREEN_HASH = """(() => {
  const img = document.getElementById('screen');
  if (img.hidden || !img.naturalWidth) return null;  // a multipart stream never 'completes'
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let h = 2166136261;
  for (let i = 0; i < d.length; i += 7) { h ^= d[i]; h = Math.imul(h, 16777619); }
  return String(h >>> 0) + ':' + c.width + 'x' + c.height;
})()"""


# Resolves once the screen's hash stayed the same for a second (at most 10 s).
SETTLED = f"""new Promise((done) => {{
  const hash = () => {SCREEN_HASH};
  let last = hash(), since = Date.now(); const end = Date.now() + 10000;
  const tick = () => {{
    const h = hash();
    if (h !== last) {{ last = h; since = Date.now(); }}
    if (Date.now() - since >= 1000 || Date.now() > end) return done(true);
    setTimeout(tick, 100);
  }};
  tick();
}})"""


async def test_sign_in_watch_the_screen_change_and_stop_and_start(plane: Plane, browser: Browser) -> None:
    page = await browser.new_page()
    await sign_in(page, plane)
    # no key anywhere in the page once signed in: not in the DOM, not in a URL
    html = await page.evaluate("document.documentElement.outerHTML + location.href")
    assert plane.keys["full"] not in html
    cookies = (await page.send("Network.getAllCookies"))["cookies"]
    assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [("bureau_session", True, "Strict")]
    assert await page.evaluate("document.cookie") == ""  # httpOnly: the page's script cannot read it

    await page.wait_for(f"{row_js(MAIN, '.status')}?.textContent === 'running'", "the desktop running")
    await page.wait_for(f"{row_js(MAIN, '.ready')}?.classList.contains('yes')", "agentReady")
    before = await page.wait_for(SCREEN_HASH, "the screen to show", 30)
    mode = await page.evaluate("document.getElementById('screen-mode').textContent")
    if "screenshots" in mode:  # no screen stream on this agent: refreshed screenshots, stable while nothing moves
        loads = await page.evaluate("window.__loads = 0; document.getElementById('screen').onload = () => window.__loads++; 0")
        await page.wait_for("window.__loads >= 2", "two more screenshots", 15)
        assert loads == 0 and await page.evaluate(SCREEN_HASH) == before

    typed = plane.call("POST", f"/v1/desktops/{MAIN}/type", body={"text": "hello from the dashboard test"})
    assert typed.status == 200, typed.body
    await page.wait_for(f"(() => {{ const h = {SCREEN_HASH}; return h && h !== {before!r}; }})()", "the screen to change", 20)
    # For the artifact: the page once the typing has been drawn (the same picture for a second).
    await page.evaluate(SETTLED)
    await page.screenshot(ARTIFACTS / "dashboard.png")

    await page.click(f'li.desktop[data-id="{MAIN}"] [data-action="stop"]')
    await page.wait_for(f"{row_js(MAIN, '.status')}?.textContent === 'stopped'", "the desktop stopped (live)")
    assert plane.desktop(MAIN)["status"] == "stopped"
    await page.wait_for("document.getElementById('screen').hidden", "the screen hidden while stopped")
    await page.click(f'li.desktop[data-id="{MAIN}"] [data-action="start"]')
    await page.wait_for(f"{row_js(MAIN, '.ready')}?.classList.contains('yes')", "the desktop back and ready (live)", 60)
    assert plane.desktop(MAIN)["agentReady"] is True
    await page.wait_for(SCREEN_HASH, "the screen to show again", 30)
    await page.close()


async def test_a_key_without_lifecycle_gets_disabled_buttons(plane: Plane, browser: Browser) -> None:
    page = await browser.new_page()
    await sign_in(page, plane, "reader")
    await page.wait_for(f"{row_js(MAIN, '.status')}?.textContent.length > 0", "the desktop row")
    assert await page.evaluate(f"{row_js(MAIN, '[data-action=stop]')}?.disabled") is True
    # and the API itself refuses it whatever the page shows
    refused = await page.evaluate(
        f"fetch('/v1/desktops/{MAIN}/stop', {{method: 'POST', headers: {{'X-Bureau-Dashboard': '1'}}}}).then(r => r.status)"
    )
    assert refused == 403
    await page.close()


async def test_a_page_of_another_origin_cannot_use_the_session(plane: Plane, browser: Browser, unused_tcp_port: int) -> None:
    """Another port of the same host is the same site: SameSite=Strict sends the cookie, so the
    header and Origin checks are what refuse a form posted from there."""
    evil = web.Application()

    async def page_html(request: web.Request) -> web.Response:
        return web.Response(
            content_type="text/html",
            text=f"""<form id=f method=post action="{base(plane)}/v1/desktops/{MAIN}/stop"></form>
<script>
fetch("{base(plane)}/v1/desktops/{MAIN}/stop", {{method: "POST", credentials: "include", mode: "no-cors"}})
  .then(() => {{ window.fetched = true; document.getElementById('f').submit(); }});
</script>""",
        )

    evil.router.add_get("/", page_html)
    runner = web.AppRunner(evil)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        page = await browser.new_page()
        await sign_in(page, plane)
        await page.wait_for(f"{row_js(MAIN, '.status')}?.textContent === 'running'", "the desktop running")
        await page.send("Page.navigate", url=f"http://127.0.0.1:{unused_tcp_port}/")
        # the form's answer is the control plane's refusal, shown as the page
        text = await page.wait_for(
            "location.port === '%d' && document.body && document.body.innerText" % plane.port, "the form's answer"
        )
        assert '"forbidden"' in text
        assert plane.desktop(MAIN)["status"] == "running"  # neither the fetch nor the form stopped it
        await page.close()
    finally:
        await runner.cleanup()


async def test_session_cookie_rules(plane: Plane) -> None:
    me = base(plane) + "/v1/me"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        sign = base(plane) + "/dashboard/session"
        async with session.post(sign, json={"key": plane.keys["operator"]}) as resp:
            assert resp.status == 403  # no dashboard header: a cross-site form cannot sign a browser in
        async with session.post(sign, json={"key": plane.keys["operator"]}, headers={**DASH, "Origin": "http://evil.test"}) as resp:
            assert resp.status == 403
        async with session.post(sign, json={"key": "sk_live_wrong"}, headers=DASH) as resp:
            assert resp.status == 401
        async with session.post(sign, json={"key": plane.keys["operator"]}, headers=DASH) as resp:
            assert resp.status == 200
            cookie = resp.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
            assert plane.keys["operator"] not in cookie
            assert (await resp.json())["name"] == "operator"
        async with session.get(me) as resp:
            assert resp.status == 200 and (await resp.json())["name"] == "operator"
        stop = f"{base(plane)}/v1/desktops/{MAIN}/stop"
        for headers, why in (
            ({}, "no dashboard header"),
            ({**DASH, "Origin": "http://127.0.0.1:1"}, "another origin"),
            ({**DASH, "Sec-Fetch-Site": "same-site"}, "another site's page"),
        ):
            async with session.post(stop, headers=headers) as resp:
                assert resp.status == 403, why
                assert (await resp.json())["error"]["code"] == "forbidden"
        assert plane.desktop(MAIN)["status"] == "running"
        # the session has the key's rights, no more: operator lacks desktop:chat
        async with session.post(f"{base(plane)}/v1/desktops/{MAIN}/chat", json={"message": "hi"}, headers=DASH) as resp:
            assert resp.status == 403 and (await resp.json())["required"] == "desktop:chat"
        async with session.get(me, headers={"Origin": base(plane)}) as resp:
            assert resp.status == 200  # our own origin is fine
        async with session.delete(sign, headers=DASH) as resp:
            assert resp.status == 204
        async with session.get(me) as resp:
            assert resp.status == 401
    async with aiohttp.ClientSession() as session:  # no cookie at all
        async with session.get(me) as resp:
            assert resp.status == 401
        async with session.get(me, headers={"Cookie": "bureau_session=made-up"}) as resp:
            assert resp.status == 401


async def test_page_and_files_are_served_with_a_strict_policy(plane: Plane) -> None:
    async with aiohttp.ClientSession() as session:
        for path, kind in (("/", "text/html"), ("/dashboard/static/dashboard.js", "text/javascript"),
                           ("/dashboard/static/dashboard.css", "text/css")):  # fmt: skip
            async with session.get(base(plane) + path) as resp:
                assert resp.status == 200 and resp.content_type == kind
                assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
                assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        async with session.get(base(plane) + "/dashboard/static/..%2Fapp.py") as resp:
            assert resp.status == 404
        async with session.get(base(plane) + "/dashboard/static/index.html") as resp:
            assert resp.status == 404  # only the listed files
