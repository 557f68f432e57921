"""Host metrics: each reader of cpuPercent has its own window, measured on the real host."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from bureau_agent.system import metrics
from bureau_agent.system.metrics import CpuSampler

BURN = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass\n"


def burn_one_core(seconds: float) -> None:
    subprocess.run([sys.executable, "-c", BURN.format(s=seconds)], check=True, timeout=30)


def test_a_sampler_measures_its_own_window_whatever_other_readers_do() -> None:
    # The heartbeat's window spans a CPU burn; /v1/status is read many times meanwhile and
    # right after. A shared psutil.cpu_percent() window would leave the heartbeat only the idle
    # moment since the last status read.
    heartbeat, status = CpuSampler(min_window_s=0), CpuSampler(min_window_s=0)
    burn_one_core(1.0)
    for _ in range(50):
        status.percent()
    psutil.cpu_percent(interval=None)  # another reader of psutil's shared window changes nothing either
    one_core = 100.0 / (psutil.cpu_count() or 1)
    assert heartbeat.percent() >= 0.5 * one_core


def test_the_first_value_is_not_a_zero_placeholder() -> None:
    # Before any window has passed: the average since boot, which is never exactly 0 on a host
    # that has run anything.
    assert CpuSampler().percent() > 0.0


def test_a_window_too_short_to_measure_repeats_the_last_value() -> None:
    sampler = CpuSampler(min_window_s=60)
    first = sampler.percent()
    burn_one_core(0.3)
    assert sampler.percent() == first


def test_collect_has_every_metric_and_a_steady_boot_time() -> None:
    sampler = CpuSampler()
    first = metrics.collect(sampler)
    assert set(first) == set(metrics.METRICS_SCHEMA["properties"])
    assert 0.0 <= first["cpuPercent"] <= 100.0 and first["systemUptimeS"] > 0
    time.sleep(0.2)
    second = metrics.collect(sampler)
    assert 0.1 <= second["systemUptimeS"] - first["systemUptimeS"] <= 5
