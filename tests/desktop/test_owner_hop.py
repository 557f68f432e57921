"""The hop to the display owner (Display.call): results and errors come back, calls run in order,
and a call whose caller gave up before its turn never runs (run_in_executor's rule, kept)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bureau_agent.desktop.display import Display
from tests.support.xvfb import Xvfb


async def test_results_errors_and_order(xvfb: Xvfb) -> None:
    display = Display(xvfb.name)
    await display.start()
    try:
        seen: list[int] = []
        results = await asyncio.gather(*(display.call(lambda conn, i=i: seen.append(i) or i) for i in range(50)))
        assert results == list(range(50)) and seen == list(range(50))

        def fail(conn: object) -> None:
            raise ValueError("from the owner thread")

        with pytest.raises(ValueError, match="from the owner thread"):
            await display.call(fail)
        width = await display.call(lambda conn: conn.screen().width_in_pixels)
        assert width == xvfb.width
    finally:
        await display.close()


async def test_a_call_cancelled_before_its_turn_never_runs(xvfb: Xvfb) -> None:
    display = Display(xvfb.name)
    await display.start()
    try:
        gate, started = threading.Event(), threading.Event()
        ran: list[str] = []

        def block(conn: object) -> None:
            started.set()
            assert gate.wait(10)

        blocker = asyncio.ensure_future(display.call(block))
        queued = asyncio.ensure_future(display.call(lambda conn: ran.append("queued")))
        while not started.is_set():  # the owner is inside block(): queued waits its turn
            await asyncio.sleep(0.001)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        gate.set()
        await blocker
        await display.call(lambda conn: ran.append("after"))  # everything queued before it is done
        assert ran == ["after"]
    finally:
        gate.set()
        await display.close()
