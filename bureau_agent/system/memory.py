"""Giving memory back to the system: glibc keeps what Python frees in its heap and arenas, and a
daemon that idles most of the time should not carry a burst's or its start-up's leftovers."""

from __future__ import annotations

import ctypes
import functools
import gc

@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - not glibc (musl): no malloc_trim, nothing to trim
    except (OSError, AttributeError):
        return None
    return libc


def trim(*, collect: bool = True) -> None:
    """Collect cyclic garbage (unless collect is False), then return free heap pages to the
    system (glibc's malloc_trim, every arena). A few milliseconds on a big heap."""
    if collect:
        gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
