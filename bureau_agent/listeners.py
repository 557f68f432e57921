"""Listeners of a value that changes: the one fan-out for the display's state and agentReady."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Listeners(Generic[T]):
    """Callbacks told each new value in the order they were added. A listener that raises is
    logged and the others are still told: one broken listener must not silence the rest."""

    def __init__(self, what: str, log: logging.Logger) -> None:
        self._what = what
        self._log = log
        self._listeners: list[Callable[[T], None]] = []

    def add(self, listener: Callable[[T], None]) -> None:
        self._listeners.append(listener)

    def notify(self, value: T) -> None:
        for listener in list(self._listeners):  # a listener may add another
            try:
                listener(value)
            except Exception:
                self._log.exception("%s listener failed", self._what)
