"""Shared fixtures: one real Xvfb for the session, and an agent app on it per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Callable

import pytest
from aiohttp.test_utils import TestClient

from bureau_agent.app import create_app
from bureau_agent.config import resolve_heartbeat_token
from devsupport.xclients import openbox
from tests.support.agent import TOKEN, agent_settings
from tests.support.xvfb import Xvfb

# Shared fixtures, registered once here instead of imported (with noqa) by each test module:
# the input display, its recorder, sink and service; the chat fakes; a real throwaway account.
pytest_plugins = ("tests.support.inputx", "tests.support.chat", "tests.support.users")


@pytest.fixture(scope="session")
def xvfb() -> Iterator[Xvfb]:
    server = Xvfb().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def wm_xvfb() -> Iterator[Xvfb]:
    """An Xvfb of the module's own under openbox, so windows get focus and _NET_ACTIVE_WINDOW is
    kept as on a real desktop (module-wide: a window manager costs a second to start)."""
    server = Xvfb().start()
    try:
        with openbox(server):
            yield server
    finally:
        server.stop()


@pytest.fixture
def own_xvfb() -> Iterator[Xvfb]:
    """An Xvfb of the test's own, for tests that kill and restart the server."""
    server = Xvfb().start()
    yield server
    server.stop()


@pytest.fixture
async def agent(aiohttp_client: Callable[..., Any], xvfb: Xvfb) -> AsyncIterator[TestClient]:
    """A test client for an agent on the session Xvfb; requests need AUTH headers."""
    client = await aiohttp_client(create_app(agent_settings(xvfb.name), TOKEN))
    yield client


@pytest.fixture
def make_agent(aiohttp_client: Callable[..., Any]) -> Callable[..., Any]:
    """make_agent(display, **settings) -> test client, for tests that need other settings."""

    async def make(display: str | None, token: str | None = TOKEN, **overrides: Any) -> TestClient:
        settings = agent_settings(display, token=token, **overrides)
        # resolved as the daemon's CLI does: required with a URL, never the agent token
        heartbeat_token = resolve_heartbeat_token(settings, token, environ={})
        return await aiohttp_client(create_app(settings, token, heartbeat_token=heartbeat_token))

    return make
