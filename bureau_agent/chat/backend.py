"""The interface every chat backend implements, and small helpers they share."""

from __future__ import annotations

import abc
from typing import Any

from bureau_agent.chat.conversations import Conversation
from bureau_agent.errors import ChatUnavailable

EXCERPT_CHARS = 300  # of a backend's error text quoted back to the caller


class Backend(abc.ABC):
    """One kind of on-desktop AI agent. reply() raises ChatUnavailable when the agent fails."""

    name: str

    async def start(self) -> None:
        """Start background work (reachability checks)."""

    async def close(self) -> None:
        """Stop background work and release connections."""

    @abc.abstractmethod
    def reachable(self) -> bool:
        """The last known reachability; cheap, never blocks."""

    def refuse_reason(self) -> str | None:
        """Why a request must not even be tried now (None: try it)."""
        return None

    @abc.abstractmethod
    async def reply(self, message: str, conversation: Conversation) -> str:
        """Send message in conversation and return the whole reply; record the turn on success.

        Cancellation (the relay's timeout) must abort the backend request or end the process.
        """


def excerpt(text: str) -> str:
    """A short, single-line quote of a backend's output."""
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def dig(data: Any, path: str, what: str) -> Any:
    """The value at a dotted path ("result", "message.content", "choices.0.text") in JSON data."""
    value = data
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise ChatUnavailable(f"The {what} has no field {path!r}.")
    return value
