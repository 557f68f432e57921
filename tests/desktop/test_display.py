"""The display owner: an X error makes it check the server at once."""

from __future__ import annotations

import asyncio

import pytest
from Xlib import error as xerror

from bureau_agent.desktop.display import Display
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
        with pytest.raises(xerror.XError):
            await display.call(lambda conn: conn.create_resource_object("window", 0x1FFFFFF).get_geometry())
        await asyncio.sleep(0.1)  # the ping the error asked for has run
        assert display.connected
        assert await display.call(lambda conn: conn.screen().width_in_pixels) == xvfb.width
    finally:
        await display.close()
