"""A fleet of agents beating to one control plane, on a simulated clock.

The agent's own Heartbeat and Backoff (bureau_agent/control/) run unmodified on an asyncio loop
whose clock is virtual: when nothing is ready to run, the loop jumps to its next timer instead
of waiting for it, so thousands of agents and half an hour of beats take seconds, and the same
seed gives the same figures. Each agent's client is a fake that records the (virtual) time of
every beat the control plane receives, and fails, like a refused connection, while the control
plane is down.

Scenario (issue 14): 5 000 agents started uniformly within one minute (an image rollout), a
control plane that is down for 5 minutes, then back. Reported: beats per second over 1 s bins
(mean, peak, p99) in steady state and in the minute after recovery.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random as random_module
import selectors
import statistics
from typing import Any

from bureau_agent.status import StatusDocument
from bureau_agent.control.backoff import Backoff
from bureau_agent.control.client import BeatFailed, BeatReply
from bureau_agent.control.heartbeat import Heartbeat


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """select(timeout) returns at once having moved the loop's clock on by timeout."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise RuntimeError("the simulated loop would wait forever: nothing is scheduled")
        self._loop.now += max(0.0, timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose time() only moves when the loop would otherwise sleep. No real I/O."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now


@dataclasses.dataclass
class ControlPlane:
    """Up except during [down_from, down_until); records every beat it receives while up."""

    down_from: float = math.inf
    down_until: float = math.inf
    received: list[float] = dataclasses.field(default_factory=list)
    senders: list[str] = dataclasses.field(default_factory=list)  # desktopId of each received beat
    refused: int = 0

    def up(self, now: float) -> bool:
        return not self.down_from <= now < self.down_until


class SimulatedClient:
    """What Heartbeat needs of ControlPlaneClient: post() and close(), answered at once."""

    def __init__(self, plane: ControlPlane, loop: VirtualTimeLoop) -> None:
        self.plane = plane
        self.loop = loop

    async def post(self, body: dict[str, Any], timeout_s: float | None = None) -> BeatReply:
        now = self.loop.time()
        if not self.plane.up(now):
            self.plane.refused += 1
            raise BeatFailed("connection refused (simulated)")
        self.plane.received.append(now)
        self.plane.senders.append(body["desktopId"])
        return BeatReply(200, None)

    async def close(self) -> None:
        pass


SNAPSHOT = StatusDocument(
    agent_ready=True, version="sim", boot_id="sim", started_at="", uptime_s=0, display={}, chat={}, metrics={}
)


@dataclasses.dataclass(frozen=True)
class Scenario:
    agents: int = 5000
    rollout_s: float = 60.0  # agents start uniformly within this window
    interval_s: float = 10.0  # heartbeat_interval_s (the default)
    down_at_s: float = 600.0  # the control plane goes down here...
    down_for_s: float = 300.0  # ...for this long
    after_s: float = 300.0  # simulated time kept after recovery
    seed: int = 14

    @property
    def up_at_s(self) -> float:
        return self.down_at_s + self.down_for_s


@dataclasses.dataclass(frozen=True)
class Rates:
    """Beats per second over 1 s bins of a window."""

    mean: float
    peak: float
    p99: float

    def to_json(self) -> dict[str, float]:
        return {"mean": round(self.mean, 1), "peak": round(self.peak, 1), "p99": round(self.p99, 1)}


def rates(times: list[float], start: float, end: float) -> Rates:
    bins = [0] * max(1, int(end - start))
    for t in times:
        if start <= t < end:
            i = int(t - start)
            if i < len(bins):
                bins[i] += 1
    ordered = sorted(bins)
    return Rates(statistics.fmean(bins), float(ordered[-1]), float(ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]))


@dataclasses.dataclass(frozen=True)
class Result:
    scenario: Scenario
    steady: Rates  # the minute before the outage, once every agent has been beating a while
    recovery: Rates  # the minute after the control plane is back
    beats: int
    refused: int
    plane: ControlPlane

    def first_beat_after(self, t: float) -> dict[str, float]:
        """desktopId → the time of its first beat received at or after t."""
        first: dict[str, float] = {}
        for when, who in zip(self.plane.received, self.plane.senders):
            if when >= t and who not in first:
                first[who] = when
        return first

    def to_json(self) -> dict[str, Any]:
        return {"agents": self.scenario.agents, "steady": self.steady.to_json(), "recovery": self.recovery.to_json(),
                "beats": self.beats, "refused": self.refused}  # fmt: skip


async def _fleet(scenario: Scenario, plane: ControlPlane, loop: VirtualTimeLoop) -> None:
    rng = random_module.Random(scenario.seed)
    beats: list[Heartbeat] = []

    async def start_one(at: float, seed: int) -> None:
        await asyncio.sleep(at)
        agent_random = random_module.Random(seed).random
        heartbeat = Heartbeat(
            SimulatedClient(plane, loop),  # type: ignore[arg-type]
            f"desk-{seed}",
            lambda: SNAPSHOT,
            lambda: True,
            interval_s=scenario.interval_s,
            random=agent_random,
            backoff=Backoff(agent_random),
            clock=loop.time,
        )
        heartbeat.start()
        beats.append(heartbeat)

    await asyncio.gather(*(start_one(rng.uniform(0, scenario.rollout_s), i) for i in range(scenario.agents)))
    await asyncio.sleep(scenario.up_at_s + scenario.after_s - loop.time())
    end = loop.time()
    # As on shutdown: each loop ends with its last `stopping` beat (received after the windows
    # measured, so it changes no figure).
    await asyncio.gather(*(heartbeat.stop() for heartbeat in beats))
    assert loop.time() - end < 5, "stop() took simulated time: a beat hung"


def simulate(scenario: Scenario) -> Result:
    plane = ControlPlane(scenario.down_at_s, scenario.up_at_s)
    loop = VirtualTimeLoop()
    heartbeat_log = logging.getLogger("bureau_agent.heartbeat")
    was_disabled, heartbeat_log.disabled = heartbeat_log.disabled, True  # thousands of "heartbeat failed"
    try:
        loop.run_until_complete(_fleet(scenario, plane, loop))
    finally:
        heartbeat_log.disabled = was_disabled
        loop.close()
    steady = rates(plane.received, scenario.down_at_s - 60, scenario.down_at_s)
    recovery = rates(plane.received, scenario.up_at_s, scenario.up_at_s + 60)
    return Result(scenario, steady, recovery, len(plane.received), plane.refused, plane)
