"""Resource metrics from psutil, in the shape /v1/status and the heartbeat send."""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import psutil


class CpuSampler:
    """CPU percent over this sampler's own window: from its previous sample to now.

    psutil.cpu_percent(interval=None) measures since the previous call by anyone in the process,
    so a /v1/status call shrank the heartbeat's window to whatever was left, and the very first
    call said 0.0. Each user of the metrics (the heartbeat, /v1/status) keeps its own sampler.
    A window shorter than min_window_s is not measured (the last value is returned): a burst of
    status calls would otherwise report the noise of a few milliseconds.
    """

    def __init__(self, min_window_s: float = 0.5) -> None:
        self.min_window_s = min_window_s
        self._times = psutil.cpu_times()
        self._at = time.monotonic()
        # the average since boot: a meaningful first value until a window has passed
        self._percent = _busy_percent(None, self._times) or 0.0

    def percent(self) -> float:
        now = time.monotonic()
        if now - self._at >= self.min_window_s:
            times = psutil.cpu_times()
            percent = _busy_percent(self._times, times)
            if percent is not None:
                self._percent = percent
            self._times, self._at = times, now
        return self._percent


def _busy_percent(before: Any, after: Any) -> float | None:
    """Busy share of the CPU time between two psutil.cpu_times() (None: since boot), as psutil
    computes it: idle and iowait are idle; guest time is already counted in user time."""
    def split(times: Any) -> tuple[float, float]:
        total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
        idle = times.idle + getattr(times, "iowait", 0.0)
        return total, idle

    total, idle = split(after)
    if before is not None:
        total_before, idle_before = split(before)
        total, idle = total - total_before, idle - idle_before
    if total <= 0:
        return None  # no clock tick in the window
    return round(min(100.0, max(0.0, 100.0 * (total - idle) / total)), 1)


@functools.cache
def _boot_time() -> float:
    return psutil.boot_time()  # fixed for the life of the host


def _disk_path() -> str:
    return os.path.expanduser("~") if os.path.isdir(os.path.expanduser("~")) else "/"


def collect(cpu: CpuSampler) -> dict[str, Any]:
    """Non-blocking; cpuPercent is over cpu's own window."""
    mem = psutil.virtual_memory()
    disk = psutil.disk_usage(_disk_path())
    load1, load5, load15 = os.getloadavg()
    return {
        "cpuPercent": cpu.percent(),
        "cpuCount": psutil.cpu_count() or 1,
        "memoryTotalBytes": mem.total,
        "memoryUsedBytes": mem.total - mem.available,
        "memoryPercent": mem.percent,
        "diskTotalBytes": disk.total,
        "diskUsedBytes": disk.used,
        "diskPercent": disk.percent,
        "load1": load1,
        "load5": load5,
        "load15": load15,
        "systemUptimeS": round(time.time() - _boot_time(), 1),
    }


METRICS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        name: {"type": "number"}
        for name in (
            "cpuPercent", "cpuCount", "memoryTotalBytes", "memoryUsedBytes", "memoryPercent",
            "diskTotalBytes", "diskUsedBytes", "diskPercent", "load1", "load5", "load15", "systemUptimeS",
        )
    },
}
