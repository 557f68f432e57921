"""The fleet simulation (devsupport/fleet.py) at a small size: the agent's own Heartbeat and Backoff
on a virtual clock, many agents started within a minute, a control plane down for 5 minutes."""

from __future__ import annotations

import asyncio

from devsupport.fleet import Scenario, VirtualTimeLoop, rates, simulate

SMALL = Scenario(agents=300, rollout_s=60, interval_s=10, down_at_s=300, down_for_s=300, after_s=180, seed=1)


def test_the_virtual_loop_jumps_instead_of_sleeping() -> None:
    loop = VirtualTimeLoop()
    try:
        order: list[tuple[str, float]] = []

        async def sleeper(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            order.append((name, loop.time()))

        async def both() -> None:
            await asyncio.gather(sleeper("late", 3600), sleeper("early", 5))

        loop.run_until_complete(both())
        assert [name for name, _ in order] == ["early", "late"]
        assert abs(order[0][1] - 5) < 0.01 and abs(order[1][1] - 3600) < 0.01
    finally:
        loop.close()


def test_rates_bin_by_second() -> None:
    r = rates([0.1, 0.2, 1.5, 3.9, 9.0], 0, 4)
    assert (r.mean, r.peak) == (1.0, 2.0)


def test_a_small_fleet_beats_evenly_and_recovers_without_a_storm() -> None:
    result = simulate(SMALL)
    expected = SMALL.agents / SMALL.interval_s  # every agent once per interval, jittered ±20 %
    assert 0.9 * expected <= result.steady.mean <= 1.1 * expected
    assert result.steady.peak <= 2 * result.steady.mean  # the rollout's spread does not bunch beats
    plane = result.plane
    # Nothing gets through while the control plane is down, and every agent kept trying.
    assert not [t for t in plane.received if SMALL.down_at_s <= t < SMALL.up_at_s]
    assert plane.refused >= SMALL.agents
    # No storm at recovery: the backed-off retries arrive spread over the backoff's 60 s cap.
    assert result.recovery.peak <= 2 * result.steady.mean
    # And no agent is left behind: each beats again within the cap (60 s) of the recovery.
    first = result.first_beat_after(SMALL.up_at_s)
    assert len(first) == SMALL.agents
    assert max(first.values()) <= SMALL.up_at_s + 60 + 1


def test_the_same_seed_gives_the_same_figures() -> None:
    small = Scenario(agents=50, down_at_s=120, down_for_s=60, after_s=60, seed=3)
    assert simulate(small).to_json() == simulate(small).to_json()
