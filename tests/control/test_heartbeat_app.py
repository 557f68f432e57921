"""The heartbeat of a whole agent (create_app) on a real Xvfb, to a real fake control plane."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.appkeys import HEARTBEAT
from bureau_agent.errors import DisplayUnavailable
from tests.support.agent import AUTH, HEARTBEAT_TOKEN, TOKEN
from tests.support.control import FakeControlPlane
from tests.support.xvfb import Xvfb

SPEC_KEYS = {
    "desktopId", "state", "agentReady", "bootId", "seq", "version", "uptimeS", "display", "chat", "metrics", "sentAt",
}


async def test_beats_agree_with_status_and_carry_the_heartbeat_credential_not_the_agent_token(
    make_agent: Callable[..., Any], xvfb: Xvfb, control_plane: FakeControlPlane
) -> None:
    client = await make_agent(xvfb.name, heartbeat_url=control_plane.url, desktop_id="desk-42")
    beat = await control_plane.wait_for(lambda b: True)
    status = await (await client.get("/v1/status", headers=AUTH)).json()
    assert set(beat) == SPEC_KEYS
    assert beat["desktopId"] == "desk-42" and beat["state"] == "ready" and beat["agentReady"] is True
    assert beat["bootId"] == status["bootId"] and beat["version"] == status["version"]
    assert beat["display"] == status["display"] and beat["chat"] == status["chat"]
    assert set(beat["metrics"]) == set(status["metrics"]) and "systemUptimeS" in beat["metrics"]
    assert control_plane.auth[0] == f"Bearer {HEARTBEAT_TOKEN}"
    assert TOKEN not in control_plane.auth[0]  # whoever receives beats cannot drive the desktop


async def test_no_heartbeat_without_a_url(make_agent: Callable[..., Any], xvfb: Xvfb) -> None:
    client = await make_agent(xvfb.name)
    assert HEARTBEAT not in client.app
    assert (await client.get("/v1/health")).status == 200


async def test_x_server_death_and_return_are_beaten_at_once(
    make_agent: Callable[..., Any], own_xvfb: Xvfb, control_plane: FakeControlPlane
) -> None:
    client = await make_agent(own_xvfb.name, heartbeat_url=control_plane.url, desktop_id="d", heartbeat_interval_s=300)
    await control_plane.wait_for(lambda b: b["agentReady"])
    loop = asyncio.get_running_loop()
    own_xvfb.kill()
    killed_at = loop.time()
    while (await (await client.get("/v1/health")).json())["agentReady"]:
        assert loop.time() - killed_at < 2.0, "agentReady still true 2 s after the X server died"
        await asyncio.sleep(0.05)
    # At once: on a shared machine another Xvfb may soon take the freed display number.
    with pytest.raises(DisplayUnavailable) as info:
        await client.app[appkeys.DISPLAY].call(lambda conn: conn.get_input_focus())
    assert info.value.status == 503 and info.value.headers["Retry-After"] == "1"
    resp = await client.get("/v1/screenshot", headers=AUTH)
    assert resp.status == 503 and resp.headers["Retry-After"].isdigit()
    assert (await resp.json())["error"]["code"] == "display_unavailable"
    down = await control_plane.wait_for(lambda b: not b["agentReady"], timeout=3)
    assert down["state"] == "degraded"  # the capture may fail before the ping notices: connected may lag
    problems = client.app[appkeys.READINESS].problems
    assert problems and own_xvfb.name in problems[0]

    own_xvfb.restart()
    up = await control_plane.wait_for(lambda b: b["agentReady"], start=control_plane.beats.index(down), timeout=5)
    assert up["state"] == "ready" and up["display"]["connected"] is True and up["seq"] > down["seq"]
    assert (await (await client.get("/v1/health")).json())["agentReady"] is True
    assert (await client.get("/v1/screenshot", headers=AUTH)).status == 200


async def test_a_hanging_control_plane_does_not_slow_the_agent(
    make_agent: Callable[..., Any], xvfb: Xvfb, control_plane: FakeControlPlane
) -> None:
    async def hang(index: int, beat: dict) -> web.StreamResponse:
        await asyncio.sleep(30)
        return web.json_response({})

    control_plane.responder = hang
    client = await make_agent(xvfb.name, heartbeat_url=control_plane.url, desktop_id="d", heartbeat_timeout_s=5)
    await control_plane.wait_count(1)  # a beat is now hanging
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(5):
        assert (await client.get("/v1/status", headers=AUTH)).status == 200
    assert loop.time() - started < 1.0


async def test_closing_the_app_sends_the_last_stopping_beat(
    make_agent: Callable[..., Any], xvfb: Xvfb, control_plane: FakeControlPlane
) -> None:
    client = await make_agent(xvfb.name, heartbeat_url=control_plane.url, desktop_id="d", heartbeat_interval_s=300)
    await control_plane.wait_count(1)
    await client.close()
    # one `stopping` as shutdown begins, one last after the calls in flight
    assert [b["state"] for b in control_plane.beats] == ["ready", "stopping", "stopping"]


async def test_status_and_beats_read_one_document_with_one_schema(make_agent: Callable[..., Any], xvfb: Xvfb, control_plane: FakeControlPlane) -> None:
    from bureau_agent.httpkit.schema import validate
    from bureau_agent.status import STATUS_SCHEMA

    client = await make_agent(xvfb.name, heartbeat_url=control_plane.url, desktop_id="desk-1")
    beat = await control_plane.wait_for(lambda b: True)
    status = await (await client.get("/v1/status", headers=AUTH)).json()
    validate(status, STATUS_SCHEMA)  # what /v1/status answers is what the schema says
    # a beat is the status document less startedAt, plus its own four fields
    assert set(beat) == (set(status) - {"startedAt"}) | {"desktopId", "state", "seq", "sentAt"}
    openapi = await (await client.get("/v1/openapi.json", headers=AUTH)).json()
    documented = openapi["paths"]["/v1/status"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(documented["required"]) == set(STATUS_SCHEMA["required"])
