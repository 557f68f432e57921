"""Timing of the heartbeat, pure: the random source is injected so tests need no sleeps.

`random` is a callable returning a float in [0, 1), such as random.random.
"""

from __future__ import annotations

from collections.abc import Callable

Random = Callable[[], float]

JITTER_FRACTION = 0.2


def jittered(interval_s: float, random: Random, fraction: float = JITTER_FRACTION) -> float:
    """interval_s ± fraction, uniformly, so that a fleet started together does not beat in step."""
    return interval_s * (1.0 + fraction * (2.0 * random() - 1.0))


class Backoff:
    """Full-jitter exponential backoff: after the n-th failure in a row, wait a uniform random
    time in [floor_s, min(cap_s, base_s * 2**(n-1))]. success() starts again from base_s.

    The small floor keeps a run of unlucky draws from turning into a tight retry loop.
    """

    def __init__(self, random: Random, base_s: float = 1.0, cap_s: float = 60.0, floor_s: float = 0.1) -> None:
        if not 0 < base_s <= cap_s:
            raise ValueError(f"backoff: base_s {base_s} must be > 0 and <= cap_s {cap_s}")
        self.random = random
        self.base_s = base_s
        self.cap_s = cap_s
        self.floor_s = min(floor_s, base_s)
        self.failures = 0

    def ceiling_s(self) -> float:
        """The largest delay the next failure() may return."""
        # min() first on the exponent so that a long outage cannot overflow the float.
        exponent = min(self.failures, 62)
        return min(self.cap_s, self.base_s * (2.0 ** exponent))

    def failure(self) -> float:
        """Record one more failure; the delay before the next attempt."""
        ceiling = self.ceiling_s()
        self.failures += 1
        return max(self.floor_s, ceiling * self.random())

    def success(self) -> None:
        self.failures = 0

    @property
    def failing(self) -> bool:
        return self.failures > 0
