"""What the control plane knows of one agent's readiness: its heartbeats, or a status-poll bridge.

`agentReady` comes from the last heartbeat of the current boot. A beat that stops arriving
(nothing for `stale_after_s`) counts as not ready, and so does a `stopping` beat. Beats carry
(bootId, seq); within one bootId a seq that is not newer than the last one is ignored, so a late
or replayed beat cannot undo a newer one. Until the first beat of a boot arrives, the bridge
value (from polling the agent's GET /v1/status) stands in; once beats arrive the bridge is ignored.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass
class Beat:
    boot_id: str
    seq: int
    state: str
    agent_ready: bool
    received_at: float  # clock() time


class Liveness:
    def __init__(
        self, interval_s: float, clock: Callable[[], float] = time.monotonic, on_change: Callable[[], None] | None = None
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._on_change = on_change  # after each reset, recorded beat and bridge value
        self.last: Beat | None = None
        self.bridge_ready = False

    @property
    def stale_after_s(self) -> float:
        # three missed beats (the agent jitters ±20 % and backs off on failure)
        return 3 * self.interval_s + 2

    def reset(self) -> None:
        """A new boot of the desktop: forget the previous agent."""
        self.last, self.bridge_ready = None, False
        self._notify()

    def _notify(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def record(self, body: dict[str, Any]) -> bool:
        """Record a validated beat; False when it is older than the one already held."""
        boot_id, seq = body["bootId"], body["seq"]
        if self.last is not None and self.last.boot_id == boot_id and seq <= self.last.seq:
            return False
        self.last = Beat(boot_id, seq, body["state"], body["agentReady"], self._clock())
        self._notify()
        return True

    def set_bridge(self, ready: bool) -> None:
        self.bridge_ready = ready
        self._notify()

    @property
    def from_beats(self) -> bool:
        return self.last is not None

    @property
    def ready(self) -> bool:
        beat = self.last
        if beat is None:
            return self.bridge_ready
        if beat.state == "stopping" or self._clock() - beat.received_at > self.stale_after_s:
            return False
        return beat.agent_ready

    def describe(self) -> dict[str, Any] | None:
        """The last beat as the desktop resource shows it (no secrets in a beat)."""
        beat = self.last
        if beat is None:
            return None
        return {
            "state": beat.state,
            "agentReady": beat.agent_ready,
            "bootId": beat.boot_id,
            "seq": beat.seq,
            "ageS": round(self._clock() - beat.received_at, 1),
        }
