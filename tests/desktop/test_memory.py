"""What the agent holds when idle: Pillow, dbus-fast and the keysym tables only once they are
needed, and after a quiet spell neither the last frame, its grabber's buffer nor the cached
images (driven directly, not waited for)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.screenshots import Screenshots, ShotOptions
from tests.support.xvfb import Xvfb

# A fresh interpreter (this one has imported Pillow long ago): the app with every service
# started on the display, then one screenshot.
STARTED_APP = """
import asyncio, json, sys
from aiohttp.test_utils import TestClient, TestServer
from bureau_agent.app import create_app
from tests.support.agent import AUTH, TOKEN, agent_settings

LAZY = ("PIL", "isal", "dbus_fast", "bureau_agent.desktop.keysymdef")

def loaded():
    return sorted({p for m in sys.modules for p in LAZY if m == p or m.startswith(p + ".")})

async def main():
    client = TestClient(TestServer(create_app(agent_settings(sys.argv[1]), TOKEN)))
    await client.start_server()
    try:
        ready = (await (await client.get("/v1/health")).json())["agentReady"]
        steps = {"start": loaded()}
        statuses = [(await client.get("/v1/screenshot", headers=AUTH)).status]
        steps["screenshot"] = loaded()
        statuses.append((await client.post("/v1/key", json={"key": "shift"}, headers=AUTH)).status)
        steps["key"] = loaded()
        await client.get("/v1/accessibility", headers=AUTH)  # answered or 503 (no bus): loaded either way
        steps["accessibility"] = loaded()
    finally:
        await client.close()
    print(json.dumps({"ready": ready, "steps": steps, "statuses": statuses}))

asyncio.run(main())
"""


def test_what_only_some_calls_need_is_loaded_at_their_first_call(xvfb: Xvfb) -> None:
    out = subprocess.run([sys.executable, "-c", STARTED_APP, xvfb.name], capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ready"] is True  # the services did start: the display and capture work
    assert result["statuses"] == [200, 200]
    steps = result["steps"]
    assert steps["start"] == []
    assert "PIL" in steps["screenshot"] and "dbus_fast" not in steps["screenshot"]
    assert "bureau_agent.desktop.keysymdef" in steps["key"]
    assert "dbus_fast" in steps["accessibility"]


async def test_a_quiet_spell_drops_the_last_frame_and_the_cached_images(xvfb: Xvfb) -> None:
    capturer = Capturer(xvfb.name)
    service = Screenshots(capturer, idle_release_s=3600)  # the timer never fires here: driven below
    try:
        first = await service.shot(ShotOptions(fmt="png"))
        assert capturer.holds_frame and service._cache.size > 0
        encodes = service.encodes
        await service.release_idle()
        assert not capturer.holds_frame and service._cache.size == 0 and service.releases == 1
        assert not capturer.holds_grabber  # its screen-sized shared buffer given back too
        again = await service.shot(ShotOptions(fmt="png"))  # grabbed and encoded afresh...
        assert service.encodes == encodes + 1 and capturer.holds_frame
        assert again.etag == first.etag and again.data == first.data  # ...to the same image
    finally:
        await service.close()
        await capturer.close()


async def test_no_release_while_an_encode_is_running(xvfb: Xvfb) -> None:
    capturer = Capturer(xvfb.name)
    service = Screenshots(capturer, idle_release_s=3600)
    try:
        await service.shot(ShotOptions(fmt="png"))
        service._inflight["busy"] = asyncio.get_running_loop().create_future()  # an encode in flight
        await service.release_idle()
        assert capturer.holds_frame and service.releases == 0
        service._inflight.pop("busy").cancel()
    finally:
        await service.close()
        await capturer.close()
