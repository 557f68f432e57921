"""GET /v1/events: action events from the route table, status events, ids and Last-Event-ID replay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.support.agent import AUTH
from tests.support.xvfb import Xvfb


class Sse:
    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        assert resp.status == 200, resp.status
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        self.resp = resp

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            event: dict[str, Any] = {}
            while True:
                line = (await self.resp.content.readline()).decode()
                assert line, "the stream ended"
                line = line.rstrip("\n")
                if not line:
                    if event:
                        return event
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(": ")
                event[name] = json.loads(value) if name == "data" else value

        return await asyncio.wait_for(read(), timeout)

    async def next_of(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            event = await self.next(timeout)
            if event["event"] == kind:
                return event


@pytest.fixture
async def client(make_agent: Callable[..., Any], xvfb: Xvfb) -> TestClient:
    return await make_agent(xvfb.name)


@pytest.fixture
async def subscribe(client: TestClient) -> AsyncIterator[Callable[..., Any]]:
    opened: list[aiohttp.ClientResponse] = []

    async def open_events(last_id: int | None = None, c: TestClient | None = None) -> Sse:
        headers = dict(AUTH)
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        resp = await (c or client).get("/v1/events", headers=headers)
        opened.append(resp)
        sse = Sse(resp)
        return sse

    yield open_events
    for resp in opened:
        resp.close()


async def post(client: TestClient, path: str, body: dict[str, Any]) -> aiohttp.ClientResponse:
    resp = await client.post(path, json=body, headers=AUTH)
    await resp.read()
    return resp


async def test_each_call_ends_in_an_action_event(client: TestClient, subscribe: Callable[..., Any]) -> None:
    sse = await subscribe()
    await post(client, "/v1/click", {"x": 12, "y": 34})
    event = await sse.next_of("action")
    data = event["data"]
    assert data["route"] == "POST /v1/click" and data["summary"] == "left click at (12, 34)"
    assert data["status"] == 200 and data["durationMs"] >= 0 and data["at"].endswith("Z")
    await post(client, "/v1/click", {"x": 99999, "y": 0})
    second = await sse.next_of("action")
    assert second["data"]["status"] == 400 and int(second["id"]) > int(event["id"])
    await post(client, "/v1/act", {"actions": [{"action": "move", "x": 1, "y": 1}, {"action": "wait", "ms": 1}], "settle": False, "screenshot": False})
    third = await sse.next_of("action")
    assert third["data"]["route"] == "POST /v1/act" and third["data"]["summary"] == "act: 2 actions (move, wait)"


async def test_typed_text_is_cut_and_no_secret_is_shown(client: TestClient, subscribe: Callable[..., Any]) -> None:
    sse = await subscribe()
    text = "a" * 39 + "XYZ" + "b" * 100
    await post(client, "/v1/type", {"text": text})
    typed = (await sse.next_of("action"))["data"]["summary"]
    assert "a" * 39 + "X" in typed and "XY" not in typed and "b" not in typed.split("(")[0] and "142 characters" in typed
    secret = "s3cr3t-value-0123456789"
    await post(client, "/v1/exec", {"command": f"echo {secret}", "env": {"TOKEN": secret}, "stdin": secret})
    await post(client, "/v1/bash", {"script": f"export A={secret}\necho $A"})
    summaries = [(await sse.next_of("action"))["data"] for _ in range(2)]
    assert [s["summary"] for s in summaries] == ["exec echo", "bash script, 2 lines"]
    assert secret not in json.dumps(summaries)


async def test_unauthorized_calls_make_no_event(client: TestClient, subscribe: Callable[..., Any]) -> None:
    sse = await subscribe()
    resp = await client.post("/v1/click", json={"x": 1, "y": 1})
    assert resp.status == 401
    await post(client, "/v1/move", {"x": 2, "y": 2})
    assert (await sse.next_of("action"))["data"]["route"] == "POST /v1/move"  # the 401 left nothing before it


async def test_last_event_id_replays_what_was_missed(client: TestClient, subscribe: Callable[..., Any]) -> None:
    sse = await subscribe(last_id=0)
    first = await sse.next()
    assert first["event"] == "status" and first["data"]["agentReady"] in (True, False)
    for x in (1, 2, 3):
        await post(client, "/v1/move", {"x": x, "y": 5})
    ids = [int((await sse.next_of("action"))["id"]) for _ in range(3)]
    again = await subscribe(last_id=ids[0])
    replayed = [await again.next() for _ in range(2)]
    assert [int(e["id"]) for e in replayed] == ids[1:]
    assert [e["data"]["summary"] for e in replayed] == ["move to (2, 5)", "move to (3, 5)"]


async def test_the_ring_keeps_the_last_256(client: TestClient, subscribe: Callable[..., Any]) -> None:
    for i in range(300):
        await post(client, "/v1/move", {"x": i % 50, "y": 7})
    sse = await subscribe(last_id=0)
    events = [await sse.next() for _ in range(256)]
    ids = [int(e["id"]) for e in events]
    assert ids == list(range(ids[0], ids[0] + 256))
    assert events[-1]["data"]["summary"] == "move to (49, 7)"  # 299 % 50


async def test_a_lost_display_is_a_status_event(make_agent: Callable[..., Any], own_xvfb: Xvfb, subscribe: Callable[..., Any]) -> None:
    other = await make_agent(own_xvfb.name)
    sse = await subscribe(last_id=0, c=other)
    for _ in range(20):  # the first status says ready once readiness has run
        status = await sse.next_of("status")
        if status["data"]["agentReady"]:
            break
    assert status["data"]["display"]["connected"] is True
    own_xvfb.kill()
    own_xvfb.hold_number()
    lost = await sse.next_of("status")
    assert lost["data"]["display"]["connected"] is False or lost["data"]["agentReady"] is False
    own_xvfb.restart()


async def test_files_calls_are_summarised_by_their_paths(client: TestClient, subscribe: Callable[..., Any], tmp_path: Any) -> None:
    sse = await subscribe()
    target = str(tmp_path / "made")
    await post(client, "/v1/files/mkdir", {"path": target})
    resp = await client.get("/v1/files", params={"path": target}, headers=AUTH)
    await resp.read()
    made, read = (await sse.next_of("action"))["data"], (await sse.next_of("action"))["data"]
    assert (made["route"], made["summary"]) == ("POST /v1/files/mkdir", f"mkdir {target}")
    assert (read["route"], read["summary"], read["status"]) == ("GET /v1/files", f"read {target}", resp.status)
