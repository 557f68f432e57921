"""Load: mixed requests at 32 concurrent, bounded in time, with nothing leaked.

Two mixes: the desktop one (click, type, key, screenshot, exec `true`: what an AI agent does all
day) and a frame one (status, health, the document, 404 and 400 refusals: the HTTP frame alone).
A warm-up at the same concurrency comes first (thread pools, X connections and caches reach
their working size), then the measured run. After it and a settle, the agent must hold no more
file descriptors or threads than before (a small slack for lazily sized pools), its memory must
stay bounded, and no child may be left a zombie.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import aiohttp
import pytest

from tests.support import figures
from tests.support.agentproc import AgentProcess, resources
from tests.support.loadgen import FRAME_EXPECTED, Call, Outcome, by_kind, calls, frame_call, mixed_call, run_load, summary
from tests.support.xvfb import Xvfb

pytestmark = pytest.mark.reliability

CONCURRENCY = 32
WARMUP = 200
SETTLE_S = 2.0
FD_SLACK = 2
THREAD_SLACK = 2
RSS_GROWTH_BOUND = 48 * 2**20


def desktop_ok(outcome: Outcome) -> bool:
    if outcome.status != 200:
        return False
    if outcome.call.kind == "screenshot":
        return outcome.content_type.startswith("image/") and outcome.size > 0
    if outcome.call.kind == "exec":
        return isinstance(outcome.body, dict) and outcome.body.get("exitCode") == 0
    return True


def frame_ok(outcome: Outcome) -> bool:
    return outcome.status == FRAME_EXPECTED[outcome.call.kind]


MIXES: dict[str, tuple[Callable[[random.Random, int, int], Call], Callable[[Outcome], bool]]] = {
    "desktop": (mixed_call, desktop_ok),
    "frame": (frame_call, frame_ok),
}


@pytest.mark.parametrize("mix", sorted(MIXES))
async def test_load_has_no_error_and_leaks_nothing(rel_xvfb: Xvfb, spawn_agent: Callable[..., AgentProcess], mix: str) -> None:
    factory, is_ok = MIXES[mix]
    # exec concurrency at the client's: this test is about leaks, not the 429 bound.
    agent = spawn_agent(rel_xvfb.name, settings={"exec_max_concurrent": CONCURRENCY})
    n = figures.scaled(1000, minimum=100)
    width, height = rel_xvfb.width, rel_xvfb.height

    async def load(count: int, seed: int) -> list[Outcome]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
            return await run_load(session, agent.url, calls(factory, count, width, height, seed), agent.auth, CONCURRENCY)

    warm = await load(WARMUP, seed=1)
    failed = [o.describe() for o in warm if not is_ok(o)]
    assert not failed, f"{len(failed)} warm-up requests failed, first: {failed[:5]}"
    await asyncio.sleep(SETTLE_S)
    before = resources(agent.ps)

    started = time.monotonic()
    outcomes = await load(n, seed=2)
    wall = time.monotonic() - started
    right_after = resources(agent.ps)
    await asyncio.sleep(SETTLE_S)  # closed connections and ended children are reaped
    after = resources(agent.ps)

    figures.record(
        f"load ({mix})",
        concurrency=CONCURRENCY,
        **summary(outcomes, wall, is_ok),
        byKind=by_kind(outcomes, is_ok),
        before=before.to_json(),
        rightAfter=right_after.to_json(),
        afterSettle=after.to_json(),
    )
    failed = [o.describe() for o in outcomes if not is_ok(o)]
    assert not failed, f"{len(failed)} of {n} requests failed, first: {failed[:5]}"
    assert len(outcomes) == n
    # Bounded in time: a generous 50 ms a request (32 at once) plus a minute.
    assert wall < n * 0.05 + 60, f"{n} requests took {wall:.0f} s"
    assert after.fds <= before.fds + FD_SLACK, f"file descriptors {before.fds} -> {after.fds}"
    assert after.threads <= before.threads + THREAD_SLACK, f"threads {before.threads} -> {after.threads}"
    assert after.rss <= before.rss + RSS_GROWTH_BOUND, f"RSS {before.rss >> 20} -> {after.rss >> 20} MiB"
    assert after.zombies == 0, f"{after.zombies} zombie children"
    assert agent.alive()
