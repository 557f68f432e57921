"""The command backend against a real command-line agent (tests/support/fake_cli_agent.py)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from bureau_agent.chat.command import parse_env
from bureau_agent.chat.conversations import Conversations
from bureau_agent.chat.relay import make_backend
from bureau_agent.errors import ChatTimeout, ChatUnavailable, InvalidRequest
from tests.support.agent import agent_settings
from tests.support.chat import alive, all_gone, pids_in

JSON = ["--output", "json"]


async def test_plain_text_reply_with_the_message_as_one_argument(make_relay: Any, cli_settings: dict) -> None:
    relay = await make_relay(**cli_settings)
    message = """it's "quoted" $HOME; echo pwned | cat `id` --state /"""
    reply = await relay.send(message)
    assert reply.response.startswith(f"echo: {message} | seen: - | session: ")


async def test_message_placeholder_inside_an_argument(make_relay: Any, cli_settings: dict) -> None:
    command = [*cli_settings["chat_command"], "--", "prefix {message} suffix"]
    relay = await make_relay(**{**cli_settings, "chat_command": command})
    assert (await relay.send("mid")).response.startswith("echo: prefix mid suffix |")


async def test_message_on_stdin(make_relay: Any, cli_settings: dict) -> None:
    relay = await make_relay(**cli_settings, chat_input="stdin", chat_max_message_chars=300_000)
    message = "line one\nline two " + "z" * 200_000  # longer than one argv element may be
    reply = await relay.send(message)
    assert reply.response.startswith("echo: line one\nline two zzz")
    assert len(reply.response) > 200_000


async def test_json_reply_and_session_resumed(make_relay: Any, cli_settings: dict) -> None:
    relay = await make_relay(
        **{**cli_settings, "chat_command": cli_settings["chat_command"] + JSON},
        chat_reply_field="result",
        chat_session_field="session_id",
        chat_resume_args=["--resume", "{sessionId}"],
    )
    first = await relay.send("first")
    session = first.response.rsplit("session: ", 1)[1]
    second = await relay.send("second", first.conversation_id)
    assert second.response == f"echo: second | seen: first | session: {session}"
    fresh = await relay.send("third")
    assert fresh.response.startswith("echo: third | seen: - |")


async def test_json_lines_output_uses_the_last_line(make_relay: Any, cli_settings: dict) -> None:
    relay = await make_relay(
        **{**cli_settings, "chat_command": cli_settings["chat_command"] + ["--output", "jsonl"]},
        chat_reply_field="meta.turns",
    )
    assert (await relay.send("count")).response == "1"


async def test_session_named_after_the_conversation(make_relay: Any, cli_settings: dict) -> None:
    relay = await make_relay(
        **cli_settings,
        chat_new_session_args=["--session-id", "{conversationId}"],
        chat_resume_args=["--resume", "{conversationId}"],
    )
    first = await relay.send("one", "conv-42")
    assert first.response == "echo: one | seen: - | session: conv-42"
    assert (await relay.send("two", "conv-42")).response == "echo: two | seen: one | session: conv-42"


def test_argv_of_a_continued_conversation(cli_settings: dict) -> None:
    backend, _ = make_backend(
        agent_settings(None, **cli_settings, chat_session_field="sid", chat_resume_args=["--resume={sessionId}", "{conversationId}"])
    )
    conversation = Conversations(4, 0).get("c1")
    base = cli_settings["chat_command"]
    assert backend.argv("hi", conversation) == [*base, "hi"]  # type: ignore[union-attr]
    conversation.turns = 1  # answered, but the agent named no session: nothing to resume
    assert backend.argv("hi", conversation) == [*base, "hi"]  # type: ignore[union-attr]
    conversation.session_id = "s9"
    assert backend.argv("hi", conversation) == [*base, "--resume=s9", "c1", "hi"]  # type: ignore[union-attr]


async def test_slow_agent_times_out_and_its_process_tree_ends(make_relay: Any, cli_settings: dict, tmp_path: Path) -> None:
    relay = await make_relay(**cli_settings)
    task = asyncio.ensure_future(relay.send("slow", timeout_ms=60_000))
    await _wait_file(tmp_path / "pids")
    agent_pids = pids_in(tmp_path)
    assert all(alive(p) for p in agent_pids)
    task.cancel()  # the call is cancelled (the caller gone): the runner ends the tree in the background
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await all_gone(agent_pids)

    (tmp_path / "pids").unlink()
    with pytest.raises(ChatTimeout):  # the runner's own timeout ends the tree before it returns
        await relay.send("slow", timeout_ms=3000)
    assert await all_gone(pids_in(tmp_path))


async def test_agent_ignoring_term_is_killed(make_relay: Any, cli_settings: dict, tmp_path: Path) -> None:
    relay = await make_relay(**cli_settings, exec_kill_grace_ms=200)
    with pytest.raises(ChatTimeout):
        await relay.send("stubborn", timeout_ms=3000)
    assert await all_gone(pids_in(tmp_path))


async def test_failing_agent_names_its_status_and_error(make_relay: Any, cli_settings: dict) -> None:
    relay = await make_relay(**cli_settings)
    with pytest.raises(ChatUnavailable, match="exited with status 3: agent exploded: no model loaded"):
        await relay.send("fail")


SECRET = "sk-agent  0123\t456789"  # whitespace runs: the error quotes them collapsed


@pytest.mark.parametrize(
    "pad,expected",
    [
        (0, "The chat command exited with status 3: bad key <redacted>"),
        # The quote is cut at 300 characters inside the key: its head must not show either.
        (281, "The chat command exited with status 3: " + "." * 281 + " bad key <redacted>…"),
    ],
)
async def test_secret_quoted_by_a_failing_agent_is_redacted(make_relay: Any, cli_settings: dict, pad: int, expected: str) -> None:
    relay = await make_relay(**cli_settings, chat_env=[f"CHAT_TEST_VAR={SECRET}", f"CHAT_TEST_PAD={pad}"])
    with pytest.raises(ChatUnavailable) as err:
        await relay.send("leak")
    assert err.value.message == expected  # the pad (3 characters, too short to be a key) is left alone
    assert str(err.value) == expected
    assert "sk-agent" not in err.value.message


@pytest.mark.parametrize(
    "message,settings,reason",
    [
        ("malformed", {"chat_reply_field": "result"}, "not JSON"),
        ("hello", {"chat_reply_field": "answer"}, "no field 'answer'"),
        ("silent", {}, "without printing a reply"),
        ("big", {"chat_max_reply_bytes": 100_000}, "chat_max_reply_bytes"),
    ],
)
async def test_bad_output_is_unavailable(make_relay: Any, cli_settings: dict, message: str, settings: dict, reason: str) -> None:
    command = cli_settings["chat_command"] + (JSON if "chat_reply_field" in settings else [])
    relay = await make_relay(**{**cli_settings, "chat_command": command}, **settings)
    with pytest.raises(ChatUnavailable, match=reason):
        await relay.send(message)


async def test_agent_environment_has_no_agent_secret(
    make_relay: Any, cli_settings: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BUREAU_AGENT_TOKEN", "secret-token-0123456789")
    monkeypatch.setenv("BUREAU_AGENT_CHAT_API_KEY", "sk-secret")
    relay = await make_relay(**cli_settings, display=":77", chat_env=["CHAT_TEST_VAR=a=b c"], chat_cwd=str(tmp_path))
    reply = (await relay.send("env")).response
    assert reply == f"env: BUREAU_AGENT_RUN_ID display: :77 extra: a=b c cwd: {tmp_path}"


async def test_default_working_directory_is_the_home(make_relay: Any, cli_settings: dict) -> None:
    relay = await make_relay(**cli_settings)
    assert (await relay.send("env")).response.endswith(f"cwd: {os.path.expanduser('~')}")


def test_parse_env() -> None:
    assert parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(ValueError, match="'NOPE'"):
        parse_env(["NOPE"])


async def test_bad_chat_env_is_not_configured(make_relay: Any, cli_settings: dict) -> None:
    relay = await make_relay(**cli_settings, chat_env=["=x"])
    assert relay.status()["configured"] is False
    with pytest.raises(ChatUnavailable, match="chat_env"):
        await relay.send("hi")


async def test_missing_working_directory(make_relay: Any, cli_settings: dict, tmp_path: Path) -> None:
    relay = await make_relay(**cli_settings, chat_cwd=str(tmp_path / "nope"))
    with pytest.raises(ChatUnavailable, match="chat_cwd"):
        await relay.send("hi")


async def test_child_left_holding_the_output_does_not_hold_the_reply(
    make_relay: Any, cli_settings: dict, tmp_path: Path
) -> None:
    relay = await make_relay(**cli_settings)
    started = time.monotonic()
    try:
        reply = await relay.send("background", timeout_ms=20_000)
        assert reply.response.startswith("echo: background |")
        assert time.monotonic() - started < 10  # the child sleeps 30 s
        (child,) = pids_in(tmp_path)
        assert alive(child)  # what the agent started keeps running
    finally:
        for pid in pids_in(tmp_path):
            os.kill(pid, 9)


async def test_missing_executable(make_relay: Any) -> None:
    relay = await make_relay(chat_backend="command", chat_command=["/nonexistent/agent", "-p"])
    assert relay.status() == {"configured": True, "reachable": False}
    with pytest.raises(ChatUnavailable, match="'/nonexistent/agent' is not found"):
        await relay.send("hi")


async def test_executable_is_searched_in_the_path_the_agent_gets(make_relay: Any, tmp_path: Path) -> None:
    agent = tmp_path / "bin" / "my-agent"
    agent.parent.mkdir()
    agent.write_text('#!/bin/sh\necho "mine: $1"\n')
    agent.chmod(0o755)
    relay = await make_relay(chat_backend="command", chat_command=["my-agent"], chat_env=[f"PATH={agent.parent}:/usr/bin:/bin"])
    assert relay.status() == {"configured": True, "reachable": True}
    assert (await relay.send("hi")).response == "mine: hi"
    unlisted = await make_relay(chat_backend="command", chat_command=["my-agent"])
    assert unlisted.status() == {"configured": True, "reachable": False}


async def test_status_of_an_installed_command(make_relay: Any, cli_settings: dict) -> None:
    relay = await make_relay(**cli_settings)
    assert relay.status() == {"configured": True, "reachable": True}


async def test_message_too_long_for_one_argument(make_relay: Any, cli_settings: dict) -> None:
    relay = await make_relay(**cli_settings, chat_max_message_chars=300_000)
    with pytest.raises(InvalidRequest, match="chat_input"):
        await relay.send("é" * 70_000)  # 140 000 bytes in UTF-8


async def _wait_file(path: Path, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if path.exists() and path.read_text().strip().count(" ") == 1:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} was not written")
