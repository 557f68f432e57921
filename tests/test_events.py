"""The event log's waiting: woken by a publish, by close(), or not at all (timeout, cancel), and
nothing left registered either way."""

from __future__ import annotations

import asyncio

import pytest

from bureau_agent.events import EventLog


async def test_a_publish_wakes_every_waiter_and_a_timeout_does_not() -> None:
    log = EventLog()
    waiting = [asyncio.ensure_future(log.wait(0, 30)) for _ in range(3)]
    await asyncio.sleep(0)  # all three are waiting
    assert not any(w.done() for w in waiting)
    log.publish("action", {"n": 1})
    assert await asyncio.gather(*waiting) == [True, True, True]
    assert log.after(0)[0].data == {"n": 1}
    assert await log.wait(1, 0.01) is False  # nothing newer than 1 comes
    assert await log.wait(0, 0.01) is True  # already there: no wait
    assert log._waiters == set()


async def test_close_wakes_a_waiter_and_a_cancelled_wait_leaves_nothing() -> None:
    log = EventLog()
    cancelled = asyncio.ensure_future(log.wait(0, 30))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert log._waiters == set()
    waiting = asyncio.ensure_future(log.wait(0, 30))
    await asyncio.sleep(0)
    await log.close()
    assert await waiting is False
