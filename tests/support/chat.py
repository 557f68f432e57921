"""Fixtures and helpers shared by the chat tests (tests/chat and tests/api/test_chat.py)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bureau_agent.chat.relay import ChatRelay
from tests.support.agent import agent_settings
from tests.support.procs import alive, free_port  # noqa: F401 - alive: for the chat tests
from tests.support.fake_openai import FakeOpenAI

FAKE_CLI = str(Path(__file__).resolve().parent / "fake_cli_agent.py")
API_KEY = "sk-test-0123456789"


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    server = await FakeOpenAI(api_key=API_KEY).start()
    yield server
    await server.close()


@pytest.fixture
def openai_settings(fake_openai: FakeOpenAI) -> dict[str, Any]:
    return {"chat_backend": "openai", "chat_url": fake_openai.url, "chat_api_key": API_KEY, "chat_model": "fake-model"}


@pytest.fixture
def openai_agent(make_agent: Any, xvfb: Any, fake_openai: FakeOpenAI) -> Any:
    """openai_agent(**settings) -> a test client for an agent whose chat backend is fake_openai."""

    async def make(**overrides: Any) -> Any:
        settings = {"chat_backend": "openai", "chat_url": fake_openai.url, "chat_api_key": API_KEY, **overrides}
        return await make_agent(xvfb.name, **settings)

    return make


@pytest.fixture
def cli_settings(tmp_path: Path) -> dict[str, Any]:
    """The fake CLI agent as a command backend: plain text, message as the last argument."""
    return {"chat_backend": "command", "chat_command": [sys.executable, FAKE_CLI, "--state", str(tmp_path)]}


@pytest.fixture
def closed_port_url() -> str:
    """An http URL on a loopback port where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture
async def make_relay() -> AsyncIterator[Callable[..., Awaitable[ChatRelay]]]:
    """make_relay(**settings) -> a started relay, closed after the test."""
    relays: list[ChatRelay] = []

    async def make(**overrides: Any) -> ChatRelay:
        relay = ChatRelay(agent_settings(overrides.pop("display", None), **overrides))
        await relay.start()
        relays.append(relay)
        return relay

    yield make
    for relay in relays:
        await relay.close()


async def all_gone(pids: list[int], timeout_s: float = 5.0) -> bool:
    for _ in range(int(timeout_s / 0.05)):
        if not any(alive(p) for p in pids):
            return True
        await asyncio.sleep(0.05)
    return False


def pids_in(state: Path) -> list[int]:
    """The pids the fake CLI agent wrote to its state directory."""
    return [int(p) for p in (state / "pids").read_text().split()]
