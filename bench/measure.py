"""Timing loops and the statistics the table shows: median, p95, ratio.

A loop runs a warm-up, then times each call with perf_counter until it has `count` samples or
its time budget is spent (keeping at least `min_count`), so a slow baseline cannot stretch the
run. Nothing here knows about HTTP or X.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any


@dataclasses.dataclass
class Stat:
    """Samples in milliseconds (or one value for rates and resources)."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank

    def to_json(self) -> dict[str, Any]:
        return {"n": len(self.samples), "median": self.median, "p95": self.p95}


@dataclasses.dataclass
class Side:
    """One side of a row (the agent, or a baseline): numbers, or why there are none."""

    label: str
    stat: Stat | None = None
    unavailable: str | None = None  # for example "n/a (HTTP 501)"
    correct: bool | None = None  # for typing rows: did the text arrive byte for byte
    note: str | None = None
    bytes: int | None = None  # for encoding rows: the size of one output
    signed: bool = False  # a difference of medians measured apart (an overhead): noise can make it negative

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label}
        out.update(self.stat.to_json() if self.stat else {"n": 0, "median": None, "p95": None})
        out.update(unavailable=self.unavailable, correct=self.correct, note=self.note, bytes=self.bytes, signed=self.signed)
        return out


@dataclasses.dataclass
class Row:
    section: str  # "latency", "encoding", "load" or "resources"
    name: str
    unit: str
    agent: Side
    baseline: Side | None = None
    target: str | None = None
    higher_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        """How many times better the agent is than the baseline (>1: the agent wins)."""
        if self.baseline is None or self.agent.stat is None or self.baseline.stat is None:
            return None
        a, b = self.agent.stat.median, self.baseline.stat.median
        if self.higher_is_better:
            return a / b if b > 0 else None
        return b / a if a > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "unit": self.unit,
            "target": self.target,
            "agent": self.agent.to_json(),
            "baseline": self.baseline.to_json() if self.baseline else None,
            "ratio": self.ratio,
        }


class Unavailable(Exception):
    """The thing measured cannot run here: the message is what the table shows instead."""


@dataclasses.dataclass(frozen=True)
class Budget:
    count: int
    warmup: int = 1
    seconds: float = 10.0
    min_count: int = 3


async def time_async(call: Callable[[], Awaitable[Any]], budget: Budget, before: Callable[[], Any] | None = None) -> Stat:
    """before(), when given, runs ahead of every call and is not timed (for example: change the screen)."""
    for _ in range(budget.warmup):
        if before is not None:
            before()
        await call()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < budget.count:
        if before is not None:
            before()
        t0 = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() - started > budget.seconds and len(samples) >= min(budget.min_count, budget.count):
            break
    return Stat(samples)


def time_sync(call: Callable[[], Any], budget: Budget) -> Stat:
    """time_async's loop for a plain function, on the calling thread, no event loop needed:
    awaiting nothing but call, the coroutine runs to its end on the first send()."""

    async def run() -> None:
        call()

    loop = time_async(run, budget)
    try:
        loop.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    loop.close()
    raise RuntimeError("time_async suspended on a synchronous call")
