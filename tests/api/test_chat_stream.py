"""POST /v1/chat with "stream": true, through the HTTP API of a real agent app, for both backends.

The proof that pieces really stream: the backend holds back the rest of its reply (the fake
OpenAI server's slow_stream, the fake CLI agent's drip) until the test has read the first delta.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bureau_agent import appkeys
from tests.support.agent import AUTH
from tests.support.chat import FAKE_CLI
from tests.support.fake_openai import FakeOpenAI
from tests.support.sse import Event, events, next_event
from tests.support.xvfb import Xvfb

JSON = ["--output", "json"]


@pytest.fixture
def cli_agent(make_agent: Any, xvfb: Xvfb, tmp_path: Path) -> Any:
    async def make(extra_args: tuple[str, ...] = (), **overrides: Any) -> Any:
        command = [sys.executable, FAKE_CLI, "--state", str(tmp_path), *extra_args]
        return await make_agent(xvfb.name, chat_backend="command", chat_command=command, **overrides)

    return make


async def read_all(resp: aiohttp.ClientResponse) -> list[Event]:
    return [e async for e in events(resp)]


def deltas(evts: list[Event]) -> str:
    assert all(set(e.json) == {"delta"} for e in evts[:-1]), evts
    return "".join(e.json["delta"] for e in evts[:-1])


async def test_openai_deltas_arrive_before_the_reply_is_complete(openai_agent: Any, fake_openai: FakeOpenAI) -> None:
    client = await openai_agent()  # chat_stream is false: a streamed call asks for a stream all the same
    fake_openai.mode = "slow_stream"  # the first word, then nothing until released
    resp = await client.post("/v1/chat", json={"message": "hello there", "stream": True}, headers=AUTH)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    stream = events(resp)
    first = await next_event(stream)
    assert first.json == {"delta": "echo:"}
    fake_openai.release.set()
    rest = [e async for e in stream]
    last = rest[-1].json
    assert set(last) == {"response", "conversationId", "durationMs"}
    assert "echo:" + deltas(rest) == last["response"] == "echo: hello there | seen: - | replies: 0"
    assert fake_openai.requests[-1]["stream"] is True
    # the conversation goes on as with a whole reply
    resp = await client.post(
        "/v1/chat", json={"message": "again", "conversationId": last["conversationId"], "stream": True}, headers=AUTH
    )
    again = await read_all(resp)
    assert again[-1].json["response"] == "echo: again | seen: hello there | replies: 1" == deltas(again)


async def test_openai_error_before_the_first_byte_keeps_its_status(openai_agent: Any, fake_openai: FakeOpenAI) -> None:
    client = await openai_agent()
    fake_openai.mode = "fail"
    resp = await client.post("/v1/chat", json={"message": "hi", "stream": True}, headers=AUTH)
    assert resp.status == 503
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"]["code"] == "chat_unavailable"


async def test_openai_error_after_the_first_byte_is_a_last_error_event(openai_agent: Any, fake_openai: FakeOpenAI) -> None:
    client = await openai_agent()
    fake_openai.mode = "cut_stream"  # ends before it is complete
    resp = await client.post("/v1/chat", json={"message": "one two three four", "stream": True}, headers=AUTH)
    assert resp.status == 200
    evts = await read_all(resp)
    assert deltas(evts).startswith("echo: one")
    error = evts[-1].json["error"]
    assert error["code"] == "chat_unavailable"
    assert "ended before the reply was complete" in error["message"]


async def test_openai_json_answer_comes_as_one_delta(make_agent: Any, xvfb: Xvfb) -> None:
    # A server that ignores "stream": true and answers JSON.
    from aiohttp import web

    async def completions(request: web.Request) -> web.Response:
        return web.json_response({"choices": [{"index": 0, "message": {"role": "assistant", "content": "all at once"}}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        client = await make_agent(xvfb.name, chat_backend="openai", chat_url=f"http://127.0.0.1:{port}/v1")
        resp = await client.post("/v1/chat", json={"message": "hi", "stream": True}, headers=AUTH)
        evts = await read_all(resp)
        assert [e.json for e in evts[:-1]] == [{"delta": "all at once"}]
        assert evts[-1].json["response"] == "all at once"
    finally:
        await runner.cleanup()


async def test_command_stdout_streams_as_it_is_printed(cli_agent: Any, tmp_path: Path) -> None:
    client = await cli_agent()
    resp = await client.post("/v1/chat", json={"message": "drip", "stream": True}, headers=AUTH)
    assert resp.status == 200
    stream = events(resp)
    first = await next_event(stream)
    assert first.json == {"delta": "first part"}  # the leading newline held back, as the reply drops it
    (tmp_path / "go").touch()  # only now does the agent print the rest
    rest = [e async for e in stream]
    last = rest[-1].json
    assert last["response"] == "first part second part" == "first part" + deltas(rest)
    assert isinstance(last["durationMs"], int) and last["conversationId"]


async def test_command_error_before_the_first_byte_keeps_its_status(cli_agent: Any) -> None:
    client = await cli_agent()
    resp = await client.post("/v1/chat", json={"message": "fail", "stream": True}, headers=AUTH)
    assert resp.status == 503
    data = await resp.json()
    assert data["error"]["code"] == "chat_unavailable" and "exited with status 3" in data["error"]["message"]


async def test_command_error_after_the_first_byte_is_a_last_error_event(cli_agent: Any, tmp_path: Path) -> None:
    client = await cli_agent()
    resp = await client.post("/v1/chat", json={"message": "drip_fail", "stream": True}, headers=AUTH)
    assert resp.status == 200
    stream = events(resp)
    assert (await next_event(stream)).json == {"delta": "first part"}
    (tmp_path / "go").touch()
    rest = [e async for e in stream]
    assert len(rest) == 1
    error = rest[0].json["error"]
    assert error["code"] == "chat_unavailable"
    assert "exited with status 3" in error["message"] and "lost its model" in error["message"]


async def test_command_timeout_after_the_first_byte(cli_agent: Any) -> None:
    client = await cli_agent(exec_kill_grace_ms=200)
    resp = await client.post("/v1/chat", json={"message": "drip", "stream": True, "timeoutMs": 500}, headers=AUTH)
    evts = await read_all(resp)  # nobody creates DIR/go: the agent waits until the timeout ends it
    assert evts[0].json == {"delta": "first part"}
    assert evts[-1].json["error"]["code"] == "chat_timeout"


async def test_command_json_output_comes_as_one_delta_at_the_end(cli_agent: Any) -> None:
    client = await cli_agent(JSON, chat_reply_field="result")
    resp = await client.post("/v1/chat", json={"message": "hello", "stream": True}, headers=AUTH)
    evts = await read_all(resp)
    assert len(evts) == 2
    assert evts[0].json["delta"] == evts[1].json["response"]
    assert evts[1].json["response"].startswith("echo: hello | seen: - |")


async def test_stream_false_is_the_whole_reply(cli_agent: Any) -> None:
    client = await cli_agent()
    resp = await client.post("/v1/chat", json={"message": "hi", "stream": False}, headers=AUTH)
    assert resp.status == 200 and resp.content_type == "application/json"
    assert (await resp.json())["response"].startswith("echo: hi |")


async def test_caller_going_away_ends_the_agent(cli_agent: Any, tmp_path: Path) -> None:
    client = await cli_agent()
    async with aiohttp.ClientSession() as session:
        resp = await session.post(client.make_url("/v1/chat"), json={"message": "drip", "stream": True}, headers=AUTH)
        assert (await next_event(events(resp))).json == {"delta": "first part"}
        resp.close()  # gone before the reply is complete
    # The handler notices at its next write: let the agent print, so that the write fails.
    (tmp_path / "go").touch()
    relay = client.app[appkeys.RELAY]
    for _ in range(200):
        if relay.in_flight == 0:
            break
        await asyncio.sleep(0.05)
    assert relay.in_flight == 0


async def test_shutdown_ends_a_stream_at_once(openai_agent: Any, fake_openai: FakeOpenAI) -> None:
    # A grace far longer than the bound below: the shutdown is done only if the stream let go.
    client = await openai_agent(shutdown_grace_s=25)
    fake_openai.mode = "slow_stream"
    async with aiohttp.ClientSession() as session:
        resp = await session.post(client.make_url("/v1/chat"), json={"message": "a b", "stream": True}, headers=AUTH)
        stream = events(resp)
        assert (await next_event(stream)).json == {"delta": "echo:"}
        await asyncio.wait_for(client.server.close(), 15)
        rest = [e async for e in stream]
    assert rest[-1].json["error"]["code"] == "chat_unavailable"
    assert "shutting down" in rest[-1].json["error"]["message"]


async def test_openapi_documents_the_stream(make_agent: Any, xvfb: Xvfb) -> None:
    client = await make_agent(xvfb.name)
    resp = await client.get("/v1/openapi.json", headers=AUTH)
    op = (await resp.json())["paths"]["/v1/chat"]["post"]
    assert "stream" in op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert set(op["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
