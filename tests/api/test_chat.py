"""POST /v1/chat and the chat part of /v1/status, through the HTTP API of a real agent app."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.chat import FAKE_CLI, all_gone, pids_in
from tests.support.agent import AUTH
from tests.support.fake_openai import FakeOpenAI
from tests.support.xvfb import Xvfb


async def chat(client: Any, body: Any) -> tuple[int, dict[str, Any], Any]:
    resp = await client.post("/v1/chat", json=body, headers=AUTH)
    return resp.status, await resp.json(), resp.headers


async def chat_status(client: Any) -> dict[str, Any]:
    resp = await client.get("/v1/status", headers=AUTH)
    assert resp.status == 200
    return (await resp.json())["chat"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "message"),
        ({"message": 42}, "message"),
        ({"message": ""}, "message"),
        ({"message": "hi", "conversation": "x"}, "conversation"),
        ({"message": "hi", "timeoutMs": 0}, "timeoutMs"),
        ({"message": "hi", "conversationId": ""}, "conversationId"),
    ],
)
async def test_malformed_body_is_400_before_anything_else(make_agent: Any, xvfb: Xvfb, body: dict, field: str) -> None:
    client = await make_agent(xvfb.name)  # not configured: the 400 still comes first
    status, data, _ = await chat(client, body)
    assert status == 400
    assert data["error"]["code"] == "invalid_request"
    assert field in data["error"]["message"]


async def test_not_configured_is_503(make_agent: Any, xvfb: Xvfb) -> None:
    client = await make_agent(xvfb.name)
    status, data, _ = await chat(client, {"message": "hi"})
    assert status == 503
    assert data["error"]["code"] == "chat_unavailable"
    assert "chat_backend is none" in data["error"]["message"]
    assert await chat_status(client) == {"configured": False, "reachable": False}


async def test_reply_and_continued_conversation(openai_agent: Any, fake_openai: FakeOpenAI) -> None:
    client = await openai_agent()
    status, first, _ = await chat(client, {"message": "first"})
    assert status == 200
    assert set(first) == {"response", "conversationId", "durationMs"}
    assert first["response"] == "echo: first | seen: - | replies: 0"
    assert uuid.UUID(first["conversationId"]) and isinstance(first["durationMs"], int)
    status, second, _ = await chat(client, {"message": "second", "conversationId": first["conversationId"]})
    assert status == 200
    assert second["response"] == "echo: second | seen: first | replies: 1"
    assert second["conversationId"] == first["conversationId"]


async def test_status_shows_a_reachable_backend(openai_agent: Any) -> None:
    client = await openai_agent()
    for _ in range(250):
        if (await chat_status(client))["reachable"]:
            break
        await asyncio.sleep(0.02)
    assert await chat_status(client) == {"configured": True, "reachable": True}


async def test_message_over_the_size_bound_is_400(openai_agent: Any, fake_openai: FakeOpenAI) -> None:
    client = await openai_agent(chat_max_message_chars=10)
    status, data, _ = await chat(client, {"message": "x" * 11})
    assert status == 400
    assert data["error"]["message"] == "message has 11 characters; the limit is 10."
    assert fake_openai.requests == []


async def test_timeout_over_the_maximum_is_400(openai_agent: Any) -> None:
    client = await openai_agent(chat_max_timeout_ms=5000, chat_timeout_ms=5000)  # the default may not exceed the maximum
    status, data, _ = await chat(client, {"message": "hi", "timeoutMs": 5001})
    assert status == 400
    assert "timeoutMs must be at most 5000" in data["error"]["message"]


async def test_slow_backend_is_504_and_the_request_is_cancelled(openai_agent: Any, fake_openai: FakeOpenAI) -> None:
    client = await openai_agent()
    fake_openai.mode = "slow"
    status, data, _ = await chat(client, {"message": "hi", "timeoutMs": 300})
    assert status == 504
    assert data["error"]["code"] == "chat_timeout"
    await asyncio.wait_for(fake_openai.disconnected.wait(), 5)


async def test_default_timeout_comes_from_the_configuration(openai_agent: Any, fake_openai: FakeOpenAI) -> None:
    client = await openai_agent(chat_timeout_ms=300)
    fake_openai.mode = "slow"
    status, data, _ = await chat(client, {"message": "hi"})
    assert status == 504 and "timeoutMs=300" in data["error"]["message"]


@pytest.mark.parametrize("mode,reason", [("fail", "HTTP 500: the model crashed"), ("malformed", "not valid JSON")])
async def test_failing_or_malformed_backend_is_503(openai_agent: Any, fake_openai: FakeOpenAI, mode: str, reason: str) -> None:
    client = await openai_agent()
    fake_openai.mode = mode
    status, data, _ = await chat(client, {"message": "hi"})
    assert status == 503
    assert data["error"]["code"] == "chat_unavailable"
    assert reason in data["error"]["message"]


async def test_unreachable_backend_is_503(make_agent: Any, xvfb: Xvfb, closed_port_url: str) -> None:  # noqa: F811
    client = await make_agent(xvfb.name, chat_backend="openai", chat_url=closed_port_url)
    status, data, _ = await chat(client, {"message": "hi"})
    assert status == 503
    assert data["error"]["code"] == "chat_unavailable"
    assert "not reachable" in data["error"]["message"]
    assert await chat_status(client) == {"configured": True, "reachable": False}


async def test_over_the_concurrency_bound_is_429(openai_agent: Any, fake_openai: FakeOpenAI) -> None:
    client = await openai_agent(chat_max_concurrent=1)
    fake_openai.mode = "slow"
    first = asyncio.ensure_future(chat(client, {"message": "one", "timeoutMs": 20_000}))
    await asyncio.wait_for(fake_openai.started.wait(), 5)
    status, data, headers = await chat(client, {"message": "two"})
    assert status == 429
    assert data["error"]["code"] == "busy"
    assert int(headers["Retry-After"]) >= 1
    fake_openai.release.set()
    status, data, _ = await first
    assert status == 200 and data["response"] == "late"
    fake_openai.mode = "ok"
    status, _, _ = await chat(client, {"message": "three"})
    assert status == 200  # the slot was given back
    assert len(fake_openai.requests) == 2


async def test_command_backend_over_http(make_agent: Any, xvfb: Xvfb, tmp_path: Path) -> None:
    client = await make_agent(
        xvfb.name,
        chat_backend="command",
        chat_command=[sys.executable, FAKE_CLI, "--state", str(tmp_path), "--output", "json"],
        chat_reply_field="result",
        chat_session_field="session_id",
        chat_resume_args=["--resume", "{sessionId}"],
    )
    assert await chat_status(client) == {"configured": True, "reachable": True}
    status, first, _ = await chat(client, {"message": "hello"})
    assert status == 200 and first["response"].startswith("echo: hello | seen: - |")
    status, second, _ = await chat(client, {"message": "again", "conversationId": first["conversationId"]})
    assert status == 200 and second["response"].startswith("echo: again | seen: hello |")
    status, data, _ = await chat(client, {"message": "slow", "timeoutMs": 3000})
    assert status == 504 and data["error"]["code"] == "chat_timeout"
    assert await all_gone(pids_in(tmp_path))


async def _shut_down_during(client: Any, body: dict[str, Any], running: Any) -> tuple[int, dict[str, Any], float]:
    """Start a chat call, await running(), stop the server; the call's answer and the shutdown's seconds."""
    async with aiohttp.ClientSession() as session:  # not the test client's: it is closed with the server

        async def post() -> tuple[int, dict[str, Any]]:
            async with session.post(client.make_url("/v1/chat"), json=body, headers=AUTH) as resp:
                return resp.status, await resp.json()

        call = asyncio.ensure_future(post())
        await running()
        started = time.monotonic()
        await asyncio.wait_for(client.server.close(), 15)
        status, data = await asyncio.wait_for(call, 5)
    return status, data, time.monotonic() - started


async def test_shutdown_ends_a_running_agent_and_answers_its_caller(make_agent: Any, xvfb: Xvfb, tmp_path: Path) -> None:
    client = await make_agent(
        xvfb.name, chat_backend="command", chat_command=[sys.executable, FAKE_CLI, "--state", str(tmp_path)], exec_kill_grace_ms=300,
        shutdown_grace_s=0.5,  # the grace for calls to end on their own, then the call is ended
    )

    async def running() -> None:
        for _ in range(200):
            if (tmp_path / "pids").exists() and (tmp_path / "pids").read_text().count(" ") == 1:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the agent did not start")

    status, data, seconds = await _shut_down_during(client, {"message": "stubborn", "timeoutMs": 60_000}, running)
    assert status == 503 and data["error"]["code"] == "chat_unavailable"
    assert data["error"]["message"] == "The agent is shutting down: the chat call was ended; retry once it is back."
    assert seconds < 10  # 0.5 s of shutdown grace, TERM, 0.3 s of kill grace, KILL
    assert await all_gone(pids_in(tmp_path))


async def test_shutdown_aborts_a_backend_request_and_answers_its_caller(openai_agent: Any, fake_openai: FakeOpenAI) -> None:
    client = await openai_agent(shutdown_grace_s=0.5)
    fake_openai.mode = "slow"

    async def running() -> None:
        await asyncio.wait_for(fake_openai.started.wait(), 5)

    status, data, seconds = await _shut_down_during(client, {"message": "hi", "timeoutMs": 60_000}, running)
    assert status == 503 and data["error"]["code"] == "chat_unavailable"
    assert "shutting down" in data["error"]["message"]
    assert seconds < 10
    await asyncio.wait_for(fake_openai.disconnected.wait(), 5)  # the backend saw the request go


async def test_openapi_documents_the_chat_errors(make_agent: Any, xvfb: Xvfb) -> None:
    client = await make_agent(xvfb.name)
    resp = await client.get("/v1/openapi.json", headers=AUTH)
    responses = (await resp.json())["paths"]["/v1/chat"]["post"]["responses"]
    assert {"200", "400", "429", "503", "504"} <= set(responses)
