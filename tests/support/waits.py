"""Waiting for a state that something else brings about, bounded, without sleep-and-hope."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(predicate: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.02) -> None:
    """Return once predicate() is true; fail naming `what` if it is not within timeout_s. For
    states only visible by looking (a file written by a child, a process gone)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(poll_s)
