"""The boot's readiness probe takes only the agent that holds this boot's token for the agent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from bureau_agent.controlplane.proxy import AgentClient
from tests.support.procs import free_port

TOKEN = "this-boots-token"
Serve = Callable[[web.Application], Awaitable[int]]


@pytest.fixture
async def client() -> AsyncIterator[AgentClient]:
    agent_client = AgentClient()
    await agent_client.open()
    yield agent_client
    await agent_client.close()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """serve(app) -> the loopback port it listens on, until the end of the test."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> int:
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    yield start
    for runner in runners:
        await runner.cleanup()


def _app(routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]) -> web.Application:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    return app


def _agent(token: str, ready: bool) -> web.Application:
    """Answers like an agent: health without auth, status only with its token."""

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "agentReady": ready})

    async def status(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"error": {"code": "unauthorized"}}, status=401)
        return web.json_response({"agentReady": ready, "bootId": "boot-1", "version": "x"})

    return _app({"/v1/health": health, "/v1/status": status})


async def test_the_agent_of_this_boot_is_taken(client: AgentClient, serve: Serve) -> None:
    assert await client.ready(await serve(_agent(TOKEN, True)), TOKEN) is True
    assert await client.ready(await serve(_agent(TOKEN, False)), TOKEN) is False


async def test_an_agent_of_another_boot_is_not_taken(client: AgentClient, serve: Serve) -> None:
    assert await client.ready(await serve(_agent("an-earlier-token", True)), TOKEN) is None


@pytest.mark.parametrize(
    "answer",
    [
        {"status": "ok", "agentReady": True},  # has no bootId: not an agent's status
        {"agentReady": "yes", "bootId": "b"},
        ["agentReady", True],
    ],
)
async def test_a_foreign_server_on_the_port_is_not_taken(client: AgentClient, serve: Serve, answer: Any) -> None:
    # It answers /v1/health the way an agent does and every other path with 200 and JSON.
    async def anything(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "agentReady": True} if request.path == "/v1/health" else answer)

    port = await serve(_app({"/{tail:.*}": anything}))
    assert await client.ready(port, TOKEN) is None


async def test_nothing_on_the_port_is_not_taken(client: AgentClient) -> None:
    assert await client.ready(free_port(), TOKEN) is None
