"""The fleet rows of the benchmark: the simulation itself is devsupport/fleet.py, which the
tests run at a small size."""

from __future__ import annotations

from typing import Any

from devsupport.fleet import Scenario, simulate


def fleet_rows(scenario: Scenario | None = None) -> list[Any]:
    """The bench rows (section "fleet")."""
    import time

    from bench.measure import Row, Side, Stat

    scenario = scenario or Scenario()
    started = time.perf_counter()
    result = simulate(scenario)
    wall = time.perf_counter() - started
    how = (f"{scenario.agents} agents started within {scenario.rollout_s:g} s, interval {scenario.interval_s:g} s, "
           f"simulated clock ({wall:.1f} s of wall time)")  # fmt: skip
    rows = []
    for name, r in (("steady state", result.steady), ("the minute after a 5 min outage", result.recovery)):
        note = f"mean {r.mean:.0f}, peak {r.peak:.0f} ({r.peak / result.steady.mean:.2f}× steady mean), p99 {r.p99:.0f}; {how}"
        rows.append(Row("fleet", f"fleet beats/s, {name}", "beats/s", Side("Heartbeat + Backoff", Stat([r.mean]), note=note)))
    return rows


if __name__ == "__main__":
    import json
    import sys
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    t0 = time.perf_counter()
    res = simulate(Scenario(agents=n))
    print(json.dumps(res.to_json()), f"{time.perf_counter() - t0:.1f} s")
