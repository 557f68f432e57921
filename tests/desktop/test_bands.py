"""Bands: results in order, every band finished before the caller goes on, busy cores reserved at once."""

from __future__ import annotations

import threading
import time

import pytest

from bureau_agent.desktop import bands


def test_results_come_back_in_band_order_from_several_threads() -> None:
    threads: dict[int, str] = {}

    def work(top: int, bottom: int) -> int:
        threads[top] = threading.current_thread().name
        return top * bottom

    assert bands.run_bands(work, [(0, 1), (1, 2), (2, 3), (3, 4)]) == [0, 2, 6, 12]
    assert threads[0] == threading.current_thread().name  # the caller encodes the first band itself
    assert all(name.startswith("band") for i, name in threads.items() if i > 0)


def test_a_failing_band_raises_only_after_every_band_finished() -> None:
    finished = []

    def work(top: int, bottom: int) -> int:
        if top == 0:
            raise ValueError("band 0 failed")
        time.sleep(0.05)  # still reading its pixels when band 0 fails
        finished.append(top)
        return top

    with pytest.raises(ValueError, match="band 0"):
        bands.run_bands(work, [(0, 1), (1, 2), (2, 3)])
    assert sorted(finished) == [1, 2]


def test_bands_in_progress_leave_fewer_idle_cores() -> None:
    seen = []
    with bands.reserve(1, 10, bands=1) as ranges:
        assert ranges == [(0, 10)]
        bands.run_bands(lambda top, bottom: seen.append(bands.idle_cores()), ranges)
    assert seen == [max(1, bands.cores() - 1)]
    assert bands.idle_cores() == bands.cores()  # nothing running any more
    assert bands.band_count(1920, 1080, available=1) == 1


def test_encodes_starting_together_share_the_idle_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting the idle cores and reserving them is one step: of eight encodes that start at
    once on three cores one gets three bands and the others one each, never three each."""
    monkeypatch.setattr(bands, "cores", lambda: 3)
    start, hold = threading.Barrier(8), threading.Barrier(8)
    counts: list[int] = []

    def encode() -> None:
        start.wait()
        with bands.reserve(4000, 4000, 16) as ranges:
            counts.append(len(ranges))
            hold.wait()  # every reservation is held while the others are made

    threads = [threading.Thread(target=encode) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [1] * 7 + [3]
    assert bands.idle_cores() == 3  # every reservation given back
    with bands.reserve(4000, 4000, 16) as first, bands.reserve(4000, 4000, 16) as second:
        assert (len(first), len(second)) == (3, 1)
    with pytest.raises(RuntimeError), bands.reserve(4000, 4000, 16):
        raise RuntimeError("an encode failed")
    assert bands.idle_cores() == 3


def test_band_count_and_rows() -> None:
    assert bands.band_count(1920, 1080, 16, available=2) == 2
    assert bands.band_count(1920, 1080, 16, available=64) == bands.MAX_BANDS
    assert bands.band_count(200, 200, available=4) == 1  # too small for a thread hand-off
    assert bands.band_count(100_000, 20, 16, available=4) == 1  # one MCU row high
    assert bands.band_count(1920, 1080, 16, available=1) == 1
    assert bands.band_count(4000, 20, 16, available=4) == 1  # not two MCU rows high
    assert bands.split_rows(1080, 2, 16) == [(0, 544), (544, 1080)]  # 68 MCU rows: 34 each
    assert bands.split_rows(1080, 3, 16) == [(0, 368), (368, 736), (736, 1080)]  # 23 MCU rows each, the last 22 (and a half)
    assert bands.split_rows(35, 2) == [(0, 18), (18, 35)]
    assert bands.split_rows(35, 4, 16) == [(0, 16), (16, 32), (32, 35)]  # never more bands than units
    assert bands.split_rows(10, 1, 16) == [(0, 10)]
