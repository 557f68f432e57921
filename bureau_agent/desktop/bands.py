"""Encoding an image as horizontal bands on the idle cores.

The encoders used (TurboJPEG through ctypes, ISA-L deflate) release the GIL for their whole C
call, so bands on separate threads really run in parallel. The calling thread encodes the first
band itself and a small shared pool the others: one thread hand-off per extra band. Cores that
already encode a band do not count as idle, so under a load of screenshots each encode runs as
one band and the event loop still finds CPU time for input.

    with reserve(width, height, unit_rows) as ranges:  # counted busy until the block ends
        results = run_bands(work, ranges)
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

MAX_BANDS = 4  # beyond this the hand-offs and the join cost more than the cores give
MIN_BAND_PIXELS = 256 * 1024  # smaller bands are not worth a thread hand-off

_lock = threading.Lock()
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_busy = 0  # bands being encoded right now, by every caller


def cores() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def idle_cores() -> int:
    """Cores not already encoding a band (at least 1): while other encodes keep the cores busy,
    more bands would only make them, and the event loop, wait for CPU time."""
    return max(1, cores() - _busy)


def band_count(width: int, height: int, unit_rows: int = 1, available: int | None = None) -> int:
    """How many bands for a width x height image: one per idle core, at most MAX_BANDS, each at
    least MIN_BAND_PIXELS and at least unit_rows high."""
    available = idle_cores() if available is None else available
    return max(1, min(available, MAX_BANDS, width * height // MIN_BAND_PIXELS, height // unit_rows))


def split_rows(height: int, bands: int, unit_rows: int = 1) -> list[tuple[int, int]]:
    """(top, bottom) of at most `bands` bands covering rows 0..height, each a whole number of
    unit_rows high but the last, which may be shorter."""
    units = -(-height // unit_rows)
    rows = -(-units // max(1, bands)) * unit_rows
    return [(top, min(height, top + rows)) for top in range(0, height, rows)]


@contextlib.contextmanager
def reserve(width: int, height: int, unit_rows: int = 1, bands: int | None = None) -> Iterator[list[tuple[int, int]]]:
    """The row ranges of a width x height encode (band_count() of the cores idle now, or `bands`
    when given), their cores counted busy until the block ends.

    Counting and reserving under one lock: encodes starting together must not each see every
    core idle and all split into as many bands as there are cores.
    """
    global _busy
    with _lock:
        count = band_count(width, height, unit_rows, available=idle_cores()) if bands is None else bands
        ranges = split_rows(height, count, unit_rows)
        _busy += len(ranges)
    try:
        yield ranges
    finally:
        with _lock:
            _busy -= len(ranges)


def run_bands(work: Callable[[int, int], T], bands: list[tuple[int, int]]) -> list[T]:
    """[work(top, bottom) for each band], in parallel; returns only when every band has finished
    (so callers may free what the bands read), raising the first band's error if any."""
    others = [_band_pool().submit(work, *band) for band in bands[1:]]
    try:
        first = work(*bands[0])
    finally:
        concurrent.futures.wait(others)
    return [first] + [f.result() for f in others]


def _band_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=MAX_BANDS - 1, thread_name_prefix="band")
        return _pool
