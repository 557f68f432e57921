"""Streams through a real control plane to a real local desktop, its own desktops stream, its OpenAPI document.

The forwarded stream here is a streamed chat answer: the desktop's agent relays chat to the fake
CLI agent, whose `drip` message prints half a reply and then waits for a file the test creates,
so a delta that arrives before that file exists went through unbuffered.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from bureau_agent.controlplane.app import create_app
from bureau_agent.controlplane.config import config_from_document
from bureau_agent.controlplane.routes import FORWARDS
from tests.controlplane.conftest import IDLE, MAIN
from tests.controlplane.support import Plane
from tests.support.chat import FAKE_CLI
from tests.support.sse import Event, events, next_event

BOOT_S = 40.0


@pytest.fixture(scope="module")
def chat_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fake-cli")


@pytest.fixture(scope="module")
def plane(make_plane: Callable[..., Plane], chat_state: Path) -> Plane:
    command = json.dumps([sys.executable, FAKE_CLI, "--state", str(chat_state)])
    return make_plane(agent_args=["--set", "chat_backend=command", "--set", f"chat_command={command}"])


def auth(plane: Plane, key: str = "full") -> dict[str, str]:
    return {"Authorization": f"Bearer {plane.keys[key]}"}


def url(plane: Plane, path: str) -> str:
    return f"http://127.0.0.1:{plane.port}{path}"


async def until(stream: Any, predicate: Callable[[Event], bool], timeout_s: float = BOOT_S) -> Event:
    """The first event of stream that satisfies predicate, within timeout_s in all."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError("no matching event in time")
        event = await next_event(stream, left)
        if predicate(event):
            return event


async def test_a_streamed_chat_passes_through_unbuffered(plane: Plane, chat_state: Path) -> None:
    (chat_state / "go").unlink(missing_ok=True)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url(plane, f"/v1/desktops/{MAIN}/chat"), json={"message": "drip", "stream": True}, headers=auth(plane)
        ) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            assert "Content-Length" not in resp.headers
            stream = events(resp)
            assert (await next_event(stream)).json == {"delta": "first part"}  # the agent still holds the rest
            (chat_state / "go").touch()
            rest = [e async for e in stream]
    assert rest[-1].json["response"] == "first part second part"


async def test_a_stream_counts_once_against_the_rate_limit(plane: Plane) -> None:
    # "limited" allows 3 calls a minute. A stream that delivers many events still costs one.
    async with aiohttp.ClientSession() as session:
        async with session.get(url(plane, "/v1/desktops/stream"), headers=auth(plane, "limited")) as resp:
            assert resp.status == 200
            stream = events(resp)
            metrics = 0
            while metrics < 3:  # a beat a second: three beats, and the snapshot before them
                event = await next_event(stream, 15)
                metrics += event.event == "desktop.metrics"
            async with session.get(url(plane, "/v1/me"), headers=auth(plane, "limited")) as me:
                assert me.status == 200
                assert me.headers["X-RateLimit-Remaining"] == "1"  # 3 - the stream - this call


async def test_desktops_stream_shows_status_and_metrics(plane: Plane) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(url(plane, "/v1/desktops/stream"), headers=auth(plane, "reader")) as resp:
            assert resp.status == 200
            stream = events(resp)
            first = [await next_event(stream), await next_event(stream)]
            assert {(e.event, e.data) for e in first} == {
                ("desktop.status", json.dumps({"id": MAIN, "status": "running", "agentReady": True}, separators=(",", ":"))),
                ("desktop.status", json.dumps({"id": IDLE, "status": "stopped", "agentReady": False}, separators=(",", ":"))),
            }
            metrics = await until(stream, lambda e: e.event == "desktop.metrics", 15)
            assert metrics.json["id"] == MAIN
            for name in ("cpu", "memory", "disk"):
                assert 0 <= metrics.json[name] <= 100


async def test_desktops_stream_needs_read(plane: Plane) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(url(plane, "/v1/desktops/stream"), headers=auth(plane, "none")) as resp:
            assert resp.status == 403
            assert (await resp.json())["required"] == "desktop:read"
        async with session.get(url(plane, "/v1/desktops/stream")) as resp:
            assert resp.status == 401


async def test_a_restart_closes_the_desktops_streams_and_is_seen_live(plane: Plane, chat_state: Path) -> None:
    (chat_state / "go").unlink(missing_ok=True)
    async with aiohttp.ClientSession() as session:
        status_resp = await session.get(url(plane, "/v1/desktops/stream"), headers=auth(plane, "reader"))
        statuses = events(status_resp)
        chat = await session.post(
            url(plane, f"/v1/desktops/{MAIN}/chat"), json={"message": "drip", "stream": True}, headers=auth(plane)
        )
        chat_events = events(chat)
        assert (await next_event(chat_events)).json == {"delta": "first part"}
        async with session.post(url(plane, f"/v1/desktops/{MAIN}/restart"), headers=auth(plane)) as restart:
            assert restart.status == 202
        # The forwarded stream ended cleanly, cut by the control plane before its agent was
        # stopped: had the agent ended it, its last event would be a "shutting down" error.
        rest = await asyncio.wait_for(_rest(chat_events), 10)
        assert rest == []
        seen: list[str] = []

        def back_up(e: Event) -> bool:
            if e.event != "desktop.status" or e.json["id"] != MAIN:
                return False
            seen.append(e.json["status"])
            return e.json["status"] == "running" and e.json["agentReady"] and len(seen) > 1

        await until(statuses, back_up)
        assert seen[0] == "running" and "booting" in seen  # the snapshot, then the restart live
        status_resp.close()
    plane.wait_ready(MAIN)


async def _rest(stream: Any) -> list[Event]:
    return [e async for e in stream]


def test_openapi_validates_and_lists_every_route_of_the_router(plane: Plane, tmp_path: Path) -> None:
    reply = plane.call("GET", "/v1/openapi.json", key=None)  # no key needed
    assert reply.status == 200
    document = reply.json
    validate(document)
    # The router of an app built from a config, route by route (HEAD only where declared).
    app = create_app(config_from_document({"listen": "127.0.0.1:0", "state_dir": str(tmp_path)}, tmp_path / "c.json"))
    router = {(r.method.lower(), r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    documented = {(method, path) for path, item in document["paths"].items() for method in item if method != "parameters"}
    assert documented == router
    for fwd in FORWARDS:
        assert (fwd.method.lower(), "/v1/desktops/{id}/" + fwd.path) in documented
    for path in ("/v1/desktops/stream", "/v1/openapi.json", "/", "/dashboard/session"):
        assert path in document["paths"]
    assert document["paths"]["/v1/openapi.json"]["get"]["security"] == []
