"""The agent's event log: numbered events in a ring of the last 256, and subscribers that read
from it by id (GET /v1/events).

Neutral (no HTTP, no X). Subscribers hold no queue of their own: each remembers the last id it
sent and reads what follows from the ring when woken, so a slow subscriber costs nothing, and
one that falls more than the ring behind skips what the ring no longer has.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from typing import Any

RING = 256


@dataclasses.dataclass(frozen=True)
class Event:
    id: int
    type: str  # "status" or "action"
    data: dict[str, Any]


class EventLog:
    def __init__(self, size: int = RING) -> None:
        self._ring: collections.deque[Event] = collections.deque(maxlen=size)
        self._last_id = 0
        # Plain futures, woken where the event is published: a Condition needs a task per
        # publish to notify from, a loop turn on every click even when nobody listens.
        self._waiters: set[asyncio.Future[None]] = set()
        self.closed = False

    @property
    def last_id(self) -> int:
        return self._last_id

    def publish(self, type_: str, data: dict[str, Any]) -> Event:
        self._last_id += 1
        event = Event(self._last_id, type_, data)
        self._ring.append(event)
        self._wake()
        return event

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def after(self, last_id: int) -> list[Event]:
        """Events newer than last_id still in the ring. An id from the future (another boot of
        the agent numbered further) gets the whole ring."""
        if last_id > self._last_id:
            last_id = 0
        return [e for e in self._ring if e.id > last_id]

    async def wait(self, last_id: int, timeout_s: float) -> bool:
        """Wait until an event newer than last_id exists (or close()); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not (self.closed or self._last_id > last_id):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait({waiter}, timeout=remaining)
            finally:
                self._waiters.discard(waiter)
                waiter.cancel()  # a no-op once woken; a cancelled wait leaves nothing behind
        return not self.closed

    async def close(self) -> None:
        self.closed = True
        self._wake()
