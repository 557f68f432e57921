"""The interface every chat backend implements, and small helpers they share."""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bureau_agent.chat.conversations import Conversation
from bureau_agent.errors import ChatTimeout, ChatUnavailable

T = TypeVar("T")

# Called with each piece of the reply as the agent produces it (a streamed chat call); the
# pieces joined are the reply. A backend that cannot tell pieces apart never calls it.
OnDelta = Callable[[str], None]

EXCERPT_CHARS = 300  # of a backend's error text quoted back to the caller


@dataclasses.dataclass(frozen=True)
class Deadline:
    """When a chat call must have its reply (time.monotonic), and the timeoutMs it came from."""

    at: float
    timeout_ms: int

    @classmethod
    def after(cls, timeout_ms: int) -> Deadline:
        return cls(time.monotonic() + timeout_ms / 1000, timeout_ms)

    def remaining_s(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def error(self) -> ChatTimeout:
        return ChatTimeout(
            f"The on-desktop AI agent did not answer within timeoutMs={self.timeout_ms}; the request was cancelled."
        )


async def within(coro: Coroutine[Any, Any, T], deadline: Deadline) -> T:
    """Await coro; at the deadline cancel it, wait until it has cleaned up, raise ChatTimeout.

    Unlike asyncio.wait_for, a TimeoutError raised inside coro cannot pass for the deadline.
    """
    task = asyncio.ensure_future(coro)
    try:
        done, _ = await asyncio.wait([task], timeout=deadline.remaining_s())
    except asyncio.CancelledError:  # our caller was cancelled (agent stopping): coro stops too
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise deadline.error()
    return task.result()


class Backend(abc.ABC):
    """One kind of on-desktop AI agent. reply() raises ChatUnavailable when the agent fails."""

    name: str

    async def start(self) -> None:
        """Start background work (reachability checks)."""

    async def close(self) -> None:
        """Stop background work and release connections."""

    async def stop(self) -> None:
        """The agent is stopping: end the calls in flight now (they fail; the relay answers their
        callers and cancels whatever is still running after this)."""

    @abc.abstractmethod
    def reachable(self) -> bool:
        """The last known reachability; cheap, never blocks."""

    def refuse_reason(self) -> str | None:
        """Why a request must not even be tried now (None: try it)."""
        return None

    @abc.abstractmethod
    async def reply(
        self, message: str, conversation: Conversation, deadline: Deadline, on_delta: OnDelta | None = None
    ) -> str:
        """Send message in conversation and return the whole reply; record the turn on success.

        on_delta, when given, is called with each piece of the reply as it arrives (the caller
        streams); the whole reply is still returned. Past the deadline raise deadline.error(),
        having aborted the request or ended the process.
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
