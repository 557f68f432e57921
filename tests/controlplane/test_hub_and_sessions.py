"""Units: the desktops event hub (publish on change, drop don't buffer) and the dashboard session table."""

from __future__ import annotations

import asyncio

from bureau_agent.controlplane import events as events_module
from bureau_agent.controlplane.events import DesktopEvents, metrics_event
from bureau_agent.controlplane.keys import ApiKey
from bureau_agent.controlplane.sessions import IDLE_S, LIFETIME_S, MAX_SESSIONS, SessionStore

KEY = ApiKey("k", "sha256:" + "0" * 64, ("desktop:read",))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def hub(states: dict[str, tuple[str, bool]]) -> DesktopEvents:
    return DesktopEvents(states, lambda i: states[i])


async def test_status_is_published_on_change_only() -> None:
    states = {"a": ("stopped", False), "b": ("stopped", False)}
    h = hub(states)
    h.start()
    try:
        sub = h.subscribe()
        assert sub is not None
        assert [e.data for e in await sub.next() + await sub.next()] == [
            {"id": "a", "status": "stopped", "agentReady": False},
            {"id": "b", "status": "stopped", "agentReady": False},
        ]
        h.changed("a")  # nothing changed: nothing sent
        states["a"] = ("booting", False)
        h.changed("a")
        h.changed("a")
        states["a"] = ("running", True)
        h.changed("a")
        got = [(await sub.next())[0].data for _ in range(2)]
        assert got == [{"id": "a", "status": "booting", "agentReady": False}, {"id": "a", "status": "running", "agentReady": True}]
        h.unsubscribe(sub)
    finally:
        await h.close()


async def test_a_subscriber_that_does_not_read_drops_and_then_gets_a_snapshot() -> None:
    states = {"a": ("running", True)}
    h = hub(states)
    h.start()
    try:
        sub = h.subscribe()
        assert sub is not None
        for i in range(events_module.QUEUE_EVENTS * 3):
            h.metrics("a", {"cpuPercent": i, "memoryPercent": 1, "diskPercent": 2})
        assert sub.dropped > 0
        assert sub._queue.qsize() == events_module.QUEUE_EVENTS  # bounded
        states["a"] = ("stopping", False)  # a change it never got: its queue was full
        h.changed("a")
        batch = await sub.next()  # after a loss: the state as it is now, not the stale queue
        assert [e.data for e in batch] == [{"id": "a", "status": "stopping", "agentReady": False}]
        assert sub._queue.empty()
    finally:
        await h.close()


async def test_close_ends_every_subscriber_even_a_full_one() -> None:
    h = hub({"a": ("running", True)})
    h.start()
    sub = h.subscribe()
    assert sub is not None
    for _ in range(events_module.QUEUE_EVENTS * 2):
        h.metrics("a", {"cpuPercent": 1})
    await h.close()
    assert await asyncio.wait_for(sub.next(), 1) == []


def test_metrics_event_takes_percentages_and_refuses_junk() -> None:
    event = metrics_event("a", {"cpuPercent": 12.5, "memoryPercent": 40, "diskPercent": True})
    assert event is not None and event.data == {"id": "a", "cpu": 12.5, "memory": 40, "disk": None}
    assert metrics_event("a", None) is None and metrics_event("a", "x") is None


def test_sessions_end_when_idle_or_old_and_are_bounded() -> None:
    clock = Clock()
    store = SessionStore(clock)
    sid = store.create(KEY)
    assert store.lookup(sid) is KEY
    assert store.lookup(sid + "x") is None and store.lookup(None) is None and store.lookup("") is None
    clock.now += IDLE_S - 1
    assert store.lookup(sid) is KEY  # use keeps it alive
    clock.now += IDLE_S + 1
    assert store.lookup(sid) is None  # idle too long
    sid = store.create(KEY)
    for _ in range(int(LIFETIME_S / (IDLE_S / 2)) + 1):
        clock.now += IDLE_S / 2
        store.lookup(sid)
    assert store.lookup(sid) is None  # used all along, but past its lifetime
    first = store.create(KEY)
    for _ in range(MAX_SESSIONS):
        store.create(KEY)
    assert len(store) == MAX_SESSIONS and store.lookup(first) is None  # the least recently used went
    last = store.create(KEY)
    store.delete(last)
    assert store.lookup(last) is None
