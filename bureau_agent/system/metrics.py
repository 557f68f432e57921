"""Resource metrics from psutil, in the shape /v1/status and the heartbeat send."""

from __future__ import annotations

import os
import time
from typing import Any

import psutil


def _disk_path() -> str:
    return os.path.expanduser("~") if os.path.isdir(os.path.expanduser("~")) else "/"


def collect() -> dict[str, Any]:
    """Non-blocking: cpu_percent(interval=None) compares with the previous call."""
    mem = psutil.virtual_memory()
    disk = psutil.disk_usage(_disk_path())
    load1, load5, load15 = os.getloadavg()
    return {
        "cpuPercent": psutil.cpu_percent(interval=None),
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
        "systemUptimeS": round(time.time() - psutil.boot_time(), 1),
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
