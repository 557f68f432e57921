"""The display owner notices the X server going away and reconnects when it returns."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

import pytest

from bureau_agent.desktop.display import Display
from bureau_agent.errors import DisplayUnavailable
from tests.support.agent import AUTH
from tests.support.xvfb import Xvfb
from tests.support.wait import wait_until


async def test_calls_run_on_one_owner_thread_off_the_loop(xvfb: Xvfb) -> None:
    display = Display(xvfb.name)
    await display.start()
    try:
        threads = {await display.call(lambda conn: threading.get_ident()) for _ in range(5)}
        assert len(threads) == 1 and threading.get_ident() not in threads
        width = await display.call(lambda conn: conn.screen().width_in_pixels)
        assert width == xvfb.width
        assert display.state.has_xtest
    finally:
        await display.close()


async def test_loss_and_return_of_the_x_server(own_xvfb: Xvfb) -> None:
    display = Display(own_xvfb.name, check_interval_s=0.1)
    changes: list[bool] = []
    display.add_listener(lambda state: changes.append(state.connected))
    await display.start()
    try:
        first_generation = display.state.generation
        own_xvfb.kill()
        await wait_until(lambda: not display.connected, timeout_s=2.0)
        with pytest.raises(DisplayUnavailable) as info:
            await display.call(lambda conn: conn.get_input_focus())
        assert info.value.headers["Retry-After"] == "1"
        own_xvfb.restart()
        await wait_until(lambda: display.connected)
        assert display.state.generation > first_generation
        assert await display.call(lambda conn: conn.screen().width_in_pixels) == own_xvfb.width
        assert changes == [True, False, True]
    finally:
        await display.close()


async def test_agent_starts_without_a_display_and_becomes_ready_when_it_appears(
    make_agent: Callable[..., Any], own_xvfb: Xvfb
) -> None:
    own_xvfb.kill()
    client = await make_agent(own_xvfb.name)
    body = await (await client.get("/v1/status", headers=AUTH)).json()
    assert body["agentReady"] is False and body["display"]["connected"] is False
    own_xvfb.restart()

    async def ready() -> bool:
        return (await (await client.get("/v1/health")).json())["agentReady"]

    for _ in range(100):
        if await ready():
            break
        await asyncio.sleep(0.05)
    body = await (await client.get("/v1/status", headers=AUTH)).json()
    assert body["agentReady"] is True and body["display"]["width"] == own_xvfb.width


async def test_status_follows_the_display_through_a_restart(make_agent: Callable[..., Any], own_xvfb: Xvfb) -> None:
    client = await make_agent(own_xvfb.name)

    async def status() -> dict[str, Any]:
        return await (await client.get("/v1/status", headers=AUTH)).json()

    assert (await status())["agentReady"] is True
    own_xvfb.kill()
    for _ in range(100):  # the issue asks for 2 s; leave room for a loaded machine
        body = await status()
        if not body["agentReady"] and not body["display"]["connected"]:
            break
        await asyncio.sleep(0.05)
    body = await status()
    assert body["agentReady"] is False and body["display"]["connected"] is False
    own_xvfb.restart()
    for _ in range(100):
        if (await status())["agentReady"]:
            break
        await asyncio.sleep(0.05)
    assert (await status())["agentReady"] is True
