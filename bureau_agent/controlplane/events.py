"""The control plane's own events, for GET /v1/desktops/stream: desktop.status and desktop.metrics.

desktop.status `{id, status, agentReady}` goes out on every change of either value. Changes
come from the desktops (status set, a heartbeat recorded, the bridge probe, a boot reset) and
from a once-a-second check, because agentReady also turns false by itself when beats stop
arriving (liveness.stale_after_s). desktop.metrics `{id, cpu, memory, disk}` (percentages)
goes out with each heartbeat that carries metrics.

Each subscriber has a bounded queue: a subscriber that does not read loses events rather than
growing memory (drop, don't buffer). It is told so: the next thing it reads after a loss is a
fresh desktop.status of every desktop, so what it shows is right again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from bureau_agent.httpkit.middleware import STARTED_STREAM

log = logging.getLogger("bureau_agent.controlplane.events")

QUEUE_EVENTS = 64  # per subscriber
CHECK_INTERVAL_S = 1.0
MAX_SUBSCRIBERS = 256
KEEPALIVE_S = 15.0  # a comment line after this long without an event


@dataclasses.dataclass(frozen=True)
class Event:
    name: str  # desktop.status, desktop.metrics
    data: dict[str, Any]


_CLOSED = Event("closed", {})


class Subscriber:
    def __init__(self, snapshot: Callable[[], list[Event]]) -> None:
        self._snapshot = snapshot
        self._queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_EVENTS)
        self.dropped = 0
        self._lagged = False
        self.closed = False

    def offer(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self._lagged = True

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_CLOSED)
        if self._queue.full():  # make room for the end: what it was to read is moot now
            self._queue.get_nowait()
            self._queue.put_nowait(_CLOSED)

    async def next(self) -> list[Event]:
        """The next events to send; [] once the stream is closed."""
        if self.closed:
            return []
        if self._lagged:
            self._lagged = False
            while not self._queue.empty():  # stale: replaced by the state as it is now
                if self._queue.get_nowait() is _CLOSED:
                    return []
            return self._snapshot()
        event = await self._queue.get()
        return [] if event is _CLOSED else [event]


def metrics_event(desktop_id: str, metrics: Any) -> Event | None:
    """desktop.metrics from a beat's metrics (the agent's /v1/status shape), None without them."""
    if not isinstance(metrics, dict):
        return None

    def number(name: str) -> float | None:
        value = metrics.get(name)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    return Event(
        "desktop.metrics",
        {"id": desktop_id, "cpu": number("cpuPercent"), "memory": number("memoryPercent"), "disk": number("diskPercent")},
    )


class DesktopEvents:
    """The hub. `state(desktop_id)` gives (status, agentReady) of a desktop as it is now."""

    def __init__(self, ids: Iterable[str], state: Callable[[str], tuple[str, bool]]) -> None:
        self.ids = list(ids)
        self.state = state
        self._last: dict[str, tuple[str, bool]] = {}
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def start(self) -> None:
        self._last = {i: self.state(i) for i in self.ids}
        self._task = asyncio.get_running_loop().create_task(self._check_loop(), name="desktop-events")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for sub in list(self._subscribers):
            sub.close()

    def subscribe(self) -> Subscriber | None:
        """A new subscriber (None past MAX_SUBSCRIBERS); its first events are the snapshot."""
        if len(self._subscribers) >= MAX_SUBSCRIBERS:
            return None
        sub = Subscriber(self.snapshot)
        for event in self.snapshot():
            sub.offer(event)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def snapshot(self) -> list[Event]:
        return [self._status_event(i, self.state(i)) for i in self.ids]

    def changed(self, desktop_id: str) -> None:
        """Something about the desktop may have changed: publish its status if it did."""
        if desktop_id not in self._last:
            return  # before start(), or not one of ours
        now = self.state(desktop_id)
        if now != self._last[desktop_id]:
            self._last[desktop_id] = now
            self._publish(self._status_event(desktop_id, now))

    def metrics(self, desktop_id: str, metrics: Any) -> None:
        event = metrics_event(desktop_id, metrics)
        if event is not None:
            self._publish(event)

    def _publish(self, event: Event) -> None:
        for sub in self._subscribers:
            sub.offer(event)

    @staticmethod
    def _status_event(desktop_id: str, state: tuple[str, bool]) -> Event:
        return Event("desktop.status", {"id": desktop_id, "status": state[0], "agentReady": state[1]})

    async def _check_loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL_S)
            for desktop_id in self.ids:
                try:
                    self.changed(desktop_id)
                except Exception:  # a check must never end the loop
                    log.exception("desktop status check failed", extra={"desktop": desktop_id})


async def send_events(request: web.Request, sub: Subscriber) -> web.StreamResponse:
    """Send sub's events as server-sent events until it is closed or the caller goes away."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    request[STARTED_STREAM] = True
    await response.prepare(request)
    await response.write(b": desktops\n\n")
    while True:
        try:
            batch = await asyncio.wait_for(sub.next(), KEEPALIVE_S)
        except asyncio.TimeoutError:
            await response.write(b": keep-alive\n\n")  # also how a caller that left is noticed
            continue
        if not batch:
            break  # closed: the control plane is stopping
        await response.write(
            b"".join(
                f"event: {e.name}\ndata: {json.dumps(e.data, separators=(',', ':'))}\n\n".encode() for e in batch
            )
        )
    await response.write_eof()
    return response
