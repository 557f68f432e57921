"""The display owner: an X error makes it check the server at once; the ping follows the screen
size and frees the owner thread from a server that stopped answering."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time

import pytest
from Xlib import error as xerror

from bureau_agent.desktop.display import Display
from bureau_agent.errors import DisplayUnavailable
from tests.support.xvfb import Xvfb


async def test_an_x_error_wakes_the_monitor(own_xvfb: Xvfb) -> None:
    display = Display(own_xvfb.name, check_interval_s=3600)  # the periodic ping would take an hour
    changes: list[bool] = []
    display.add_listener(lambda state: changes.append(state.connected))
    await display.start()
    try:
        def bad_request_then_server_dies(conn) -> None:
            try:
                conn.create_resource_object("window", 0x1FFFFFF).get_geometry()  # BadDrawable
            except xerror.XError:
                own_xvfb.kill()  # the server dies right after the error, before anyone pings
                raise

        with pytest.raises(xerror.XError):
            await display.call(bad_request_then_server_dies)
        for _ in range(100):
            if not display.connected:
                break
            await asyncio.sleep(0.02)
        assert display.connected is False and changes == [True, False]
    finally:
        await display.close()


async def test_an_x_error_on_a_live_server_keeps_the_connection(xvfb: Xvfb) -> None:
    display = Display(xvfb.name, check_interval_s=3600)
    await display.start()
    try:
        # A stale size that only a ping corrects: it shows when the ping the error asks for has run.
        display.state = dataclasses.replace(display.state, width=1)
        with pytest.raises(xerror.XError):
            await display.call(lambda conn: conn.create_resource_object("window", 0x1FFFFFF).get_geometry())
        for _ in range(100):
            if display.state.width != 1:
                break
            await asyncio.sleep(0.02)
        assert display.state.width == xvfb.width  # the ping ran
        assert display.connected
        assert await display.call(lambda conn: conn.screen().width_in_pixels) == xvfb.width
    finally:
        await display.close()


async def test_the_ping_follows_the_screen_size(xvfb: Xvfb) -> None:
    display = Display(xvfb.name, check_interval_s=3600)
    await display.start()
    try:
        # A size from before a RandR resize (Xvfb cannot resize, so the state is made stale instead).
        display.state = dataclasses.replace(display.state, width=640, height=480)
        display.wake_monitor()
        for _ in range(100):
            if display.state.width != 640:
                break
            await asyncio.sleep(0.02)
        assert (display.state.width, display.state.height) == (xvfb.width, xvfb.height)
        assert display.connected
    finally:
        await display.close()


async def test_a_server_that_stops_answering_fails_calls_fast_and_closes(own_xvfb: Xvfb) -> None:
    display = Display(own_xvfb.name, check_interval_s=0.1, ping_timeout_s=0.5)
    await display.start()
    assert own_xvfb.proc is not None
    os.kill(own_xvfb.proc.pid, signal.SIGSTOP)  # alive but silent: reads on its socket block
    try:
        wire = display.input_wire
        assert wire is not None
        stuck = asyncio.ensure_future(display.call(lambda conn: conn.screen().root.get_geometry()))
        queued = asyncio.ensure_future(display.call(lambda conn: conn.get_input_focus()))
        pointer = asyncio.ensure_future(display.input(wire, [], True))  # awaits its reply on the loop
        started = time.monotonic()
        for call in (stuck, queued, pointer):
            with pytest.raises(DisplayUnavailable):
                await asyncio.wait_for(call, 10)
        assert time.monotonic() - started < 5  # the ping timeout freed them, not the kernel
        assert display.connected is False
        closing = time.monotonic()
        await asyncio.wait_for(display.close(), 10)
        assert time.monotonic() - closing < 5
    finally:
        os.kill(own_xvfb.proc.pid, signal.SIGCONT)
