"""The openai backend against a real OpenAI-compatible HTTP server (tests/support/fake_openai.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from bureau_agent.chat.openai import StreamAssembler, parse_completion
from bureau_agent.errors import ChatTimeout, ChatUnavailable
from tests.support.fake_openai import FakeOpenAI
from tests.support.wait import wait_until


async def test_plain_reply_creates_a_conversation(make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI) -> None:
    relay = await make_relay(**openai_settings)
    reply = await relay.send("hello there")
    assert reply.response == "echo: hello there | seen: - | replies: 0"
    assert uuid.UUID(reply.conversation_id)
    assert reply.duration_ms >= 0
    (body,) = fake_openai.requests
    assert body["model"] == "fake-model" and body["stream"] is False
    assert body["messages"] == [{"role": "user", "content": "hello there"}]


async def test_streamed_reply_is_assembled(make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI) -> None:
    relay = await make_relay(**openai_settings, chat_stream=True)
    reply = await relay.send("one two three")
    assert reply.response == "echo: one two three | seen: - | replies: 0"
    assert fake_openai.requests[0]["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
async def test_large_reply_in_many_chunks_is_read_whole(make_relay: Any, openai_settings: dict, stream: bool) -> None:
    relay = await make_relay(**openai_settings, chat_stream=stream, chat_max_message_chars=500_000)
    message = " ".join(f"w{i}" for i in range(60_000))  # ~400 kB: many TCP reads
    assert (await relay.send(message)).response == f"echo: {message} | seen: - | replies: 0"


@pytest.mark.parametrize("stream", [False, True])
async def test_conversation_continues_with_its_history(
    make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI, stream: bool
) -> None:
    relay = await make_relay(**openai_settings, chat_stream=stream)
    first = await relay.send("first")
    second = await relay.send("second", first.conversation_id)
    assert second.conversation_id == first.conversation_id
    assert second.response == "echo: second | seen: first | replies: 1"
    assert fake_openai.requests[1]["messages"][1] == {"role": "assistant", "content": first.response}
    other = await relay.send("elsewhere")
    assert other.conversation_id != first.conversation_id
    assert other.response == "echo: elsewhere | seen: - | replies: 0"


async def test_messages_of_one_conversation_take_turns(make_relay: Any, openai_settings: dict) -> None:
    relay = await make_relay(**openai_settings)
    a, b = await asyncio.gather(relay.send("a", "same"), relay.send("b", "same"))
    assert {a.response, b.response} == {"echo: a | seen: - | replies: 0", "echo: b | seen: a | replies: 1"}


async def test_caller_named_conversation_is_kept(make_relay: Any, openai_settings: dict) -> None:
    relay = await make_relay(**openai_settings)
    await relay.send("a", "my-thread")
    reply = await relay.send("b", "my-thread")
    assert reply.conversation_id == "my-thread"
    assert reply.response == "echo: b | seen: a | replies: 1"


async def test_history_is_bounded(make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI) -> None:
    relay = await make_relay(**openai_settings, chat_history_turns=1)
    cid = (await relay.send("one")).conversation_id
    await relay.send("two", cid)
    reply = await relay.send("three", cid)
    assert reply.response == "echo: three | seen: two | replies: 1"
    assert len(fake_openai.requests[2]["messages"]) == 3


async def test_least_recently_used_conversation_is_forgotten(make_relay: Any, openai_settings: dict) -> None:
    relay = await make_relay(**openai_settings, chat_max_conversations=2)
    await relay.send("a1", "a")
    await relay.send("b1", "b")
    await relay.send("a2", "a")  # a is now the most recently used
    await relay.send("c1", "c")  # drops b
    assert (await relay.send("a3", "a")).response.startswith("echo: a3 | seen: a1 / a2")
    assert (await relay.send("b2", "b")).response == "echo: b2 | seen: - | replies: 0"


@pytest.mark.parametrize("mode,stream", [("slow", False), ("slow_stream", True)])
async def test_slow_backend_times_out_and_request_is_cancelled(
    make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI, mode: str, stream: bool
) -> None:
    relay = await make_relay(**openai_settings, chat_stream=stream)
    fake_openai.mode = mode
    with pytest.raises(ChatTimeout, match="300"):
        await relay.send("take your time", timeout_ms=300)
    await asyncio.wait_for(fake_openai.disconnected.wait(), 5)
    assert relay.in_flight == 0


async def test_stop_ends_calls_in_flight_and_refuses_new_ones(
    make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI
) -> None:
    relay = await make_relay(**openai_settings)
    fake_openai.mode = "slow"
    sent = asyncio.ensure_future(relay.send("first", "same", timeout_ms=60_000))
    waiting = asyncio.ensure_future(relay.send("second", "same", timeout_ms=60_000))  # waits for its turn
    await asyncio.wait_for(fake_openai.started.wait(), 5)
    await asyncio.wait_for(relay.stop(), 5)
    for call in (sent, waiting):
        with pytest.raises(ChatUnavailable, match="^The agent is shutting down: the chat call was ended"):
            await call
    await asyncio.wait_for(fake_openai.disconnected.wait(), 5)
    assert len(fake_openai.requests) == 1 and relay.in_flight == 0
    with pytest.raises(ChatUnavailable, match="^The agent is shutting down; retry once it is back"):
        await relay.send("third")


async def test_failing_backend_is_unavailable_with_its_reason(
    make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI
) -> None:
    relay = await make_relay(**openai_settings)
    fake_openai.mode = "fail"
    with pytest.raises(ChatUnavailable, match="HTTP 500: the model crashed"):
        await relay.send("hi")


@pytest.mark.parametrize(
    "mode,stream,reason",
    [
        ("malformed", False, "not valid JSON"),
        ("bad_stream", True, "malformed stream event"),
        ("cut_stream", True, "ended before the reply was complete"),
        ("drop", False, r"connection to the chat backend at \S+ failed \(Client\w+Error"),
    ],
)
async def test_malformed_replies_are_unavailable(
    make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI, mode: str, stream: bool, reason: str
) -> None:
    relay = await make_relay(**openai_settings, chat_stream=stream)
    fake_openai.mode = mode
    with pytest.raises(ChatUnavailable, match=reason):
        await relay.send("two words here")


async def test_failed_turn_is_not_remembered(make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI) -> None:
    relay = await make_relay(**openai_settings)
    cid = (await relay.send("kept")).conversation_id
    fake_openai.mode = "fail"
    with pytest.raises(ChatUnavailable):
        await relay.send("lost", cid)
    fake_openai.mode = "ok"
    assert (await relay.send("next", cid)).response == "echo: next | seen: kept | replies: 1"


async def test_wrong_api_key_is_unavailable(make_relay: Any, openai_settings: dict) -> None:
    relay = await make_relay(**{**openai_settings, "chat_api_key": "sk-wrong-key-000"})
    with pytest.raises(ChatUnavailable, match="HTTP 401") as err:
        await relay.send("hi")
    assert "sk-" not in err.value.message


async def test_api_key_quoted_by_the_backend_is_redacted(
    make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI
) -> None:
    relay = await make_relay(**openai_settings)
    fake_openai.mode = "leak"
    with pytest.raises(ChatUnavailable, match="HTTP 429: key Bearer <redacted> is over quota") as err:
        await relay.send("hi")
    assert openai_settings["chat_api_key"] not in err.value.message


@pytest.mark.parametrize("stream", [False, True])
async def test_reply_over_the_size_bound_is_refused(make_relay: Any, openai_settings: dict, stream: bool) -> None:
    relay = await make_relay(**openai_settings, chat_max_reply_bytes=1024, chat_stream=stream)
    with pytest.raises(ChatUnavailable, match="chat_max_reply_bytes"):
        await relay.send("x" * 2000)


async def test_status_turns_reachable_after_the_probe(make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI) -> None:
    relay = await make_relay(**openai_settings)
    await wait_until(lambda: relay.status()["reachable"])
    assert relay.status() == {"configured": True, "reachable": True}
    assert fake_openai.probes >= 1


async def test_unreachable_backend(make_relay: Any, closed_port_url: str) -> None:
    relay = await make_relay(chat_backend="openai", chat_url=closed_port_url)
    with pytest.raises(ChatUnavailable, match="not reachable"):
        await relay.send("anyone?")
    assert relay.status() == {"configured": True, "reachable": False}


async def test_server_that_goes_away_becomes_unreachable(make_relay: Any, openai_settings: dict, fake_openai: FakeOpenAI) -> None:
    relay = await make_relay(**openai_settings, chat_check_interval_s=1)
    await wait_until(lambda: relay.status()["reachable"])
    await fake_openai.close()
    await wait_until(lambda: not relay.status()["reachable"])


@pytest.mark.parametrize(
    "settings,reason",
    [
        ({"chat_backend": "none"}, "chat_backend is none"),
        ({"chat_backend": "openai"}, "chat_url is not set"),
        ({"chat_backend": "openai", "chat_url": "localhost:8080"}, "not an http"),
        ({"chat_backend": "command"}, "chat_command is not set"),
    ],
)
async def test_not_configured(make_relay: Any, settings: dict, reason: str) -> None:
    relay = await make_relay(**settings)
    assert relay.status() == {"configured": False, "reachable": False}
    with pytest.raises(ChatUnavailable, match=reason):
        await relay.send("hi")


def test_stream_assembler_skips_comments_and_other_choices() -> None:
    stream = StreamAssembler()
    for line in (
        b": ping\n",
        b"event: message\n",
        b'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}\n',
        b"\n",
        b'data: {"choices": [{"index": 1, "delta": {"content": "other"}}]}\n',
        b'data:{"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n',
        b'data: {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}\n',
    ):
        stream.feed(line)
    assert stream.finished and stream.result() == "Hello"


def test_stream_error_event_is_unavailable() -> None:
    with pytest.raises(ChatUnavailable, match="overloaded"):
        StreamAssembler().feed(b'data: {"error": {"message": "overloaded"}}\n')


def test_completion_with_content_parts() -> None:
    raw = b'{"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]}'
    assert parse_completion(raw) == "ab"


@pytest.mark.parametrize(
    "raw,reason",
    [
        (b'{"choices": []}', "no field"),
        (b'{"choices": [{"message": {"content": null, "tool_calls": []}}]}', "no text content"),
        (b'{"error": {"message": "quota exceeded"}}', "quota exceeded"),
        (b"[1, 2]", "no field"),
    ],
)
def test_completion_without_text(raw: bytes, reason: str) -> None:
    with pytest.raises(ChatUnavailable, match=reason):
        parse_completion(raw)


async def test_a_probe_that_raises_does_not_end_the_probing(fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    # An unforeseen exception in one probe (not a network error, which probe() turns into False)
    # is logged; the next probe still runs and reachability still follows the server.
    from bureau_agent.chat.openai import OpenAIBackend

    backend = OpenAIBackend(fake_openai.url, api_key=None, model="m", stream=False, max_reply_bytes=1 << 20, check_interval_s=0.05)
    real_probe, calls = backend.probe, []

    async def flaky() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("an unforeseen probe failure")
        return await real_probe()

    backend.probe = flaky  # type: ignore[method-assign]
    await backend.start()
    try:
        await wait_until(lambda: backend.reachable(), timeout_s=10)
    finally:
        await backend.close()
    assert len(calls) >= 2 and "chat probe failed" in caplog.text
