"""asyncio helpers that Python 3.10 and 3.11 get subtly wrong."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until event is set or timeout passes; True when it was set.

    Not asyncio.wait_for(event.wait(), timeout): before Python 3.12, a cancel that arrives just
    as the event is set is swallowed by wait_for, so a service loop cancelled by close() would
    run on forever (seen here: close() hanging when the X server died during shutdown).
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=max(0.0, timeout))
    finally:
        waiter.cancel()
    return bool(done)
