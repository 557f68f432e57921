"""The damage watcher on a real Xvfb: rectangles of what real clients draw, on its own thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bureau_agent.desktop.damage import DamageWatcher, union
from tests.support.pattern_window import PatternWindow, warp_pointer
from tests.support.reactive_window import ReactiveWindow
from tests.support.xvfb import Xvfb


@pytest.fixture
async def watcher(xvfb: Xvfb) -> AsyncIterator[DamageWatcher]:
    w = DamageWatcher(xvfb.name)
    w.start()
    yield w
    await w.close()


def test_union_is_the_bounding_box() -> None:
    assert union(None, (1, 2, 3, 4)) == (1, 2, 3, 4)
    assert union((0, 0, 10, 10), (5, 5, 10, 2)) == (0, 0, 15, 10)


async def test_drawing_is_reported_with_its_rectangle(watcher: DamageWatcher, xvfb: Xvfb) -> None:
    with PatternWindow(xvfb.name, 30, 40, 50, 20, seed=1) as win:
        with await watcher.subscribe() as sub:
            assert not sub.blind and not sub.changed  # what was drawn before subscribing is not counted
            await asyncio.to_thread(win.paint, 2)
            while sub.region is None or sub.region[2:] != (50, 20):
                assert await sub.next_change(5)
            assert sub.region == (30, 40, 50, 20) and sub.changed


async def test_the_pointer_is_not_damage(watcher: DamageWatcher, xvfb: Xvfb) -> None:
    with PatternWindow(xvfb.name, 30, 40, 50, 20, seed=1):
        with await watcher.subscribe() as sub:
            for i in range(10):
                await asyncio.to_thread(warp_pointer, xvfb.name, 35 + i, 45 + i)
            # A round trip through a second subscription: everything drawn before it is delivered.
            with await watcher.subscribe():
                pass
            assert not sub.changed


async def test_a_window_redrawing_the_same_area_keeps_being_reported(watcher: DamageWatcher, xvfb: Xvfb) -> None:
    """DeltaRectangles reports only growth of the region: the watcher must empty it after every
    batch, or it goes silent. (It also must not sleep on events python-xlib has buffered, the
    full suite's fps test caught that once; this test hits that race only by chance.)"""
    with ReactiveWindow(xvfb.name, 10, 10, 60, 60, animate_ms=15):
        with await watcher.subscribe() as sub:
            for _ in range(40):
                assert await sub.next_change(5), f"silent after {sub.batches} batches"


async def test_without_a_display_a_subscription_is_blind(own_xvfb: Xvfb) -> None:
    w = DamageWatcher(own_xvfb.name)
    w.start()
    try:
        own_xvfb.kill()
        own_xvfb.hold_number()
        with await w.subscribe() as sub:
            assert sub.blind
            assert not await sub.next_change(0.05)
        own_xvfb.restart()
    finally:
        await w.close()


async def test_close_all_ends_waits_at_once(watcher: DamageWatcher) -> None:
    sub = await watcher.subscribe()
    waiting = asyncio.ensure_future(sub.next_change(30))
    await asyncio.sleep(0)
    watcher.close_all()
    assert await asyncio.wait_for(waiting, 5) is False
