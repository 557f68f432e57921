"""Ticker: ticks on its interval and on wake(), survives a failing tick, and closes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bureau_agent.aio import Ticker


async def test_a_failing_tick_is_logged_and_the_ticker_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def tick() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first tick fails")

    ticker = Ticker("test ticker", tick, 3600, logging.getLogger("test.ticker"))  # only wake() ticks
    ticker.start()
    try:
        for expected in (1, 2):
            ticker.wake()
            for _ in range(100):
                if calls >= expected:
                    break
                await asyncio.sleep(0.01)
            assert calls == expected
    finally:
        await ticker.close()
    assert "test ticker failed" in caplog.text and "first tick fails" in caplog.text
    ticker.wake()
    await asyncio.sleep(0.05)
    assert calls == 2  # closed: no more ticks


def test_listeners_are_told_in_order_and_one_that_raises_does_not_silence_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from bureau_agent.listeners import Listeners

    told: list[tuple[str, int]] = []
    listeners: Listeners[int] = Listeners("test", logging.getLogger("test.listeners"))

    def broken(value: int) -> None:
        raise RuntimeError("broken listener")

    listeners.add(lambda v: told.append(("first", v)))
    listeners.add(broken)
    listeners.add(lambda v: told.append(("last", v)))
    listeners.notify(7)
    assert told == [("first", 7), ("last", 7)]
    assert "test listener failed" in caplog.text and "broken listener" in caplog.text
