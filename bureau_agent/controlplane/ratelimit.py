"""A per-key token bucket: `limit` calls a minute, refilled continuously.

A burst of up to `limit` calls is allowed, then one call every 60/limit seconds. The caller
learns how long to wait (Retry-After) from the time the next token takes to refill.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable


@dataclasses.dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # 0 when allowed


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key_id: str, limit_per_minute: int) -> Decision:
        now = self._clock()
        rate = limit_per_minute / 60.0
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(float(limit_per_minute), now)
        else:
            bucket.tokens = min(float(limit_per_minute), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Decision(True, limit_per_minute, int(bucket.tokens), 0)
        wait = (1.0 - bucket.tokens) / rate
        return Decision(False, limit_per_minute, 0, max(1, math.ceil(round(wait, 6))))  # no float fuzz
