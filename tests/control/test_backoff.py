"""Heartbeat timing, pure: injected random sources, no sleeps."""

from __future__ import annotations

import random

import pytest

from bureau_agent.control.backoff import Backoff, jittered

TOP = 1.0 - 1e-12  # the largest value random() can return, near enough


def test_jitter_stays_within_twenty_percent() -> None:
    assert jittered(10.0, lambda: 0.0) == pytest.approx(8.0)
    assert jittered(10.0, lambda: TOP) == pytest.approx(12.0)
    assert jittered(10.0, lambda: 0.5) == pytest.approx(10.0)
    rng = random.Random(7)
    draws = [jittered(10.0, rng.random) for _ in range(1000)]
    assert 8.0 <= min(draws) < 8.2 and 11.8 < max(draws) <= 12.0


def test_ceiling_doubles_from_one_second_up_to_sixty() -> None:
    backoff = Backoff(lambda: TOP)
    delays = [backoff.failure() for _ in range(9)]
    assert delays == pytest.approx([1, 2, 4, 8, 16, 32, 60, 60, 60])
    assert backoff.failing


def test_full_jitter_spreads_over_the_whole_range_with_a_small_floor() -> None:
    assert Backoff(lambda: 0.0).failure() == pytest.approx(0.1)
    half = Backoff(lambda: 0.5)
    assert [half.failure() for _ in range(3)] == pytest.approx([0.5, 1.0, 2.0])
    rng = random.Random(3)
    backoff = Backoff(rng.random)
    for _ in range(6):
        backoff.failure()
    draws = []
    for _ in range(500):
        draws.append(backoff.failure())  # ceiling stays 60 from here on
    assert 0.1 <= min(draws) < 5 and 55 < max(draws) <= 60


def test_success_starts_again_from_the_base() -> None:
    backoff = Backoff(lambda: TOP)
    for _ in range(5):
        backoff.failure()
    backoff.success()
    assert not backoff.failing
    assert backoff.failure() == pytest.approx(1.0)


def test_a_very_long_outage_does_not_overflow() -> None:
    backoff = Backoff(lambda: TOP)
    for _ in range(5000):
        delay = backoff.failure()
    assert delay == pytest.approx(60.0)


def test_custom_base_and_cap_and_bad_values() -> None:
    backoff = Backoff(lambda: TOP, base_s=0.05, cap_s=0.2)
    assert [backoff.failure() for _ in range(4)] == pytest.approx([0.05, 0.1, 0.2, 0.2])
    with pytest.raises(ValueError, match="base_s"):
        Backoff(lambda: 0.5, base_s=0)
    with pytest.raises(ValueError, match="cap_s"):
        Backoff(lambda: 0.5, base_s=2, cap_s=1)
