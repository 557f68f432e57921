"""Waiting for the screen to settle: no damage for a quiet period, bounded by a timeout.

The wait reads the times of damage batches from a Subscription opened before the actions ran
(damage.py), so a change caused by an action is seen however early or late it comes; nothing
compares frames. Waiting costs no thread and holds no lock: other clients' input goes on.
"""

from __future__ import annotations

import dataclasses
import time

from bureau_agent.desktop.damage import Subscription


@dataclasses.dataclass(frozen=True)
class SettleOptions:
    quiet_ms: int = 150
    timeout_ms: int = 3000
    until_change: bool = False


@dataclasses.dataclass(frozen=True)
class Settled:
    settled: bool  # the quiet period was reached before the timeout
    waited_ms: int


async def wait_settled(sub: Subscription, options: SettleOptions, started: float | None = None) -> Settled:
    """Wait from `started` (monotonic; default now) until no damage for quiet_ms, at most timeout_ms.

    The quiet period runs from the later of `started` and the last damage, so damage during the
    actions counts. With until_change, it only begins once damage has been seen at all. A
    subscription that cannot see damage (no display, no DAMAGE) is not settled and waits nothing.
    """
    start = time.monotonic() if started is None else started
    deadline = start + options.timeout_ms / 1000
    quiet_s = options.quiet_ms / 1000

    def result(settled: bool) -> Settled:
        return Settled(settled, round((time.monotonic() - start) * 1000))

    while True:
        if sub.blind or sub.closed:
            return result(False)
        now = time.monotonic()
        if options.until_change and not sub.changed:
            if now >= deadline:
                return result(False)
            await sub.next_change(deadline - now)
            continue
        last = sub.last_change
        quiet_from = start if last is None or last < start else last
        quiet_until = quiet_from + quiet_s
        if now >= quiet_until:
            return result(True)
        if now >= deadline:
            return result(False)
        await sub.next_change(min(quiet_until, deadline) - now)
