"""Open streams (screen stream, event stream): a bound on how many, and a way to end them all.

Neutral (no HTTP, no X): a stream handler registers the function that ends it (closing its
connection), and shutdown calls every one at once, so no stream holds the shutdown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from bureau_agent.errors import Busy

log = logging.getLogger("bureau_agent.viewers")


class Viewers:
    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self._closers: dict[int, Callable[[], None]] = {}
        self._next = 0
        self.closing = False

    @property
    def count(self) -> int:
        return len(self._closers)

    @contextlib.contextmanager
    def open(self, close: Callable[[], None]) -> Iterator[None]:
        """Hold one of the `limit` places while the stream runs; Busy (429) when none is free."""
        if self.closing:
            raise Busy(f"The agent is shutting down: no new {self.what}.", retry_after_s=5)
        if len(self._closers) >= self.limit:
            raise Busy(f"At most {self.limit} {self.what} at once; try again when one ends.", retry_after_s=5)
        key = self._next
        self._next += 1
        self._closers[key] = close
        try:
            yield
        finally:
            self._closers.pop(key, None)

    def close_all(self) -> None:
        self.closing = True
        for close in list(self._closers.values()):
            try:
                close()
            except Exception:  # one broken stream must not keep the others open
                log.exception("closing a stream failed")
