"""The chat relay: picks the backend the configuration names and runs each message through it.

It owns what every backend shares: the bounds (message size, calls at once, timeout), the
conversations (an id is made up when the caller gives none, so the caller can continue), the
deadline that cancels the backend, the end of calls in flight when the agent stops, the removal
of secrets from error messages, and the status shown in /v1/status and heartbeats.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from bureau_agent.chat.backend import Backend, Deadline, OnDelta, within
from bureau_agent.chat.command import CommandBackend, parse_env
from bureau_agent.chat.conversations import Conversation, Conversations
from bureau_agent.chat.openai import OpenAIBackend
from bureau_agent.config import MIN_MASKED_CHARS, Settings
from bureau_agent.errors import AgentError, Busy, ChatUnavailable, InvalidRequest
from bureau_agent.log import MASK
from bureau_agent.process.environment import Session

log = logging.getLogger("bureau_agent.chat")

STOPPING = "The agent is shutting down; retry once it is back."
STOPPED = "The agent is shutting down: the chat call was ended; retry once it is back."


def redact(text: str, secrets: list[str]) -> str:
    """text with each secret replaced by MASK, also as backend.excerpt() quotes it: its whitespace
    runs collapsed, or cut short before a "…" (only a prefix under MIN_MASKED_CHARS may remain)."""
    for secret in sorted(secrets, key=len, reverse=True):  # a secret that holds another goes whole
        for form in dict.fromkeys((secret, " ".join(secret.split()))):
            if len(form) < MIN_MASKED_CHARS:
                continue
            text = text.replace(form, MASK)
            for end in range(len(form) - 1, MIN_MASKED_CHARS - 1, -1):
                if "…" not in text:
                    break
                text = text.replace(form[:end] + "…", MASK + "…")
    return text


@dataclasses.dataclass(frozen=True)
class ChatReply:
    response: str
    conversation_id: str
    duration_ms: int

    def to_json(self) -> dict[str, Any]:
        return {"response": self.response, "conversationId": self.conversation_id, "durationMs": self.duration_ms}


def make_backend(settings: Settings) -> tuple[Backend | None, str]:
    """The configured backend, or None and the sentence saying what configuration is missing."""
    kind = settings.chat_backend
    if kind == "openai":
        url = settings.chat_url
        if not url:
            return None, "chat_backend is openai but chat_url is not set."
        if not url.startswith(("http://", "https://")):
            return None, f"chat_url {url!r} is not an http:// or https:// URL."
        return (
            OpenAIBackend(
                url,
                api_key=settings.chat_api_key,
                model=settings.chat_model,
                stream=settings.chat_stream,
                max_reply_bytes=settings.chat_max_reply_bytes,
                check_interval_s=settings.chat_check_interval_s,
            ),
            "",
        )
    if kind == "command":
        if not settings.chat_command:
            return None, "chat_backend is command but chat_command is not set."
        try:
            env = parse_env(list(settings.chat_env or ()))
        except ValueError as exc:
            return None, f"{exc}."
        return (
            CommandBackend(
                list(settings.chat_command),
                input_mode=settings.chat_input,
                reply_field=settings.chat_reply_field,
                session_field=settings.chat_session_field,
                new_session_args=list(settings.chat_new_session_args or ()),
                resume_args=list(settings.chat_resume_args or ()),
                cwd=settings.chat_cwd,
                env=env,
                session=Session.from_settings(settings),
                max_reply_bytes=settings.chat_max_reply_bytes,
                kill_grace_s=settings.exec_kill_grace_ms / 1000,
            ),
            "",
        )
    return None, "No on-desktop AI agent is configured (chat_backend is none)."


class ChatRelay:
    def __init__(self, settings: Settings) -> None:
        self.kind: str = settings.chat_backend
        self.backend, self.unconfigured_reason = make_backend(settings)
        self.max_message_chars: int = settings.chat_max_message_chars
        self.max_timeout_ms: int = settings.chat_max_timeout_ms
        self.default_timeout_ms: int = settings.chat_timeout_ms  # config refuses one above the maximum
        self.max_concurrent: int = settings.chat_max_concurrent
        self.conversations = Conversations(settings.chat_max_conversations, settings.chat_history_turns)
        self.in_flight = 0
        # chat_api_key and chat_env (items and values): an agent's error output may quote them.
        self.secrets = settings.secret_values()
        self._stopping = False
        self._calls: set[asyncio.Future[str]] = set()
        self._streams: set[asyncio.Future[str]] = set()  # the calls of them that stream
        self._streams_closed = False

    async def start(self) -> None:
        if self.backend is None:
            if self.kind != "none":  # a backend was named, but its settings are incomplete
                log.warning("chat backend not configured", extra={"reason": self.unconfigured_reason})
            return
        await self.backend.start()

    async def stop(self) -> None:
        """Refuse new calls and end those in flight; their callers get ChatUnavailable at once."""
        self._stopping = True
        if self.backend is not None:
            await self.backend.stop()  # command: each agent's tree is ended (TERM, grace, KILL)
        calls = list(self._calls)
        for call in calls:  # what is left: openai requests (aborted, connection closed), waits for a turn
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    async def stop_streams(self) -> None:
        """Refuse new streamed calls and end those running now: a stream never holds the
        shutdown. Calls that wait for a whole reply keep their grace (stop() ends them after it)."""
        self._streams_closed = True
        streams = list(self._streams)
        for call in streams:
            call.cancel()
        await asyncio.gather(*streams, return_exceptions=True)

    async def close(self) -> None:
        await self.stop()
        if self.backend is not None:
            await self.backend.close()

    def status(self) -> dict[str, Any]:
        return {
            "configured": self.backend is not None,
            "reachable": self.backend is not None and self.backend.reachable(),
        }

    async def send(
        self,
        message: str,
        conversation_id: str | None = None,
        timeout_ms: int | None = None,
        on_delta: OnDelta | None = None,
    ) -> ChatReply:
        """Relay one message and wait for the whole reply; every failure is an AgentError.

        on_delta (a streamed call) is given the reply's pieces as the backend produces them; a
        backend that has none to give (JSON output, a JSON answer) gives none, and the caller
        sends the whole reply as one piece.
        """
        try:
            return await self._send(message, conversation_id, timeout_ms, on_delta)
        except AgentError as exc:
            # Once, for every backend: the message goes to the caller and to the log.
            clean = redact(exc.message, self.secrets)
            if clean != exc.message:
                exc.message, exc.args = clean, (clean,)
            raise

    async def _send(
        self, message: str, conversation_id: str | None, timeout_ms: int | None, on_delta: OnDelta | None
    ) -> ChatReply:
        if len(message) > self.max_message_chars:
            raise InvalidRequest(
                f"message has {len(message)} characters; the limit is {self.max_message_chars}.", details={"field": "message"}
            )
        if timeout_ms is not None and timeout_ms > self.max_timeout_ms:
            raise InvalidRequest(f"timeoutMs must be at most {self.max_timeout_ms}.", details={"field": "timeoutMs"})
        timeout_ms = self.default_timeout_ms if timeout_ms is None else timeout_ms
        if self.backend is None:
            raise ChatUnavailable(self.unconfigured_reason)
        if self._stopping or (self._streams_closed and on_delta is not None):
            raise ChatUnavailable(STOPPING)
        refused = self.backend.refuse_reason()
        if refused:
            raise ChatUnavailable(refused)
        if self.in_flight >= self.max_concurrent:
            raise Busy(
                f"{self.max_concurrent} chat calls are already running (chat_max_concurrent); retry later.", retry_after_s=1
            )

        self.in_flight += 1
        started = time.monotonic()
        conversation = self.conversations.get(conversation_id or str(uuid.uuid4()))
        try:
            turn = self._turn(message, conversation, Deadline.after(timeout_ms), on_delta)
            response = await self._stoppable(turn, streaming=on_delta is not None)
        finally:
            self.in_flight -= 1
        duration_ms = int((time.monotonic() - started) * 1000)
        # Sizes only: the message and the reply are the user's, never logged.
        log.info(
            "chat reply",
            extra={
                "backend": self.backend.name,
                "conversationId": conversation.id,
                "durationMs": duration_ms,
                "messageChars": len(message),
                "replyChars": len(response),
                "streamed": on_delta is not None,
            },
        )
        return ChatReply(response, conversation.id, duration_ms)

    async def _stoppable(self, coro: Coroutine[Any, Any, str], streaming: bool = False) -> str:
        """Run coro as a task stop() can cancel; cancelled by our caller, it is cancelled too."""
        call = asyncio.ensure_future(coro)
        self._calls.add(call)
        if streaming:
            self._streams.add(call)
        try:
            await asyncio.wait([call])
        except asyncio.CancelledError:
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            raise
        finally:
            self._calls.discard(call)
            self._streams.discard(call)
        stopped = self._stopping or (streaming and self._streams_closed)
        if call.cancelled() or (stopped and call.exception() is not None):
            raise ChatUnavailable(STOPPED)  # stop() ended it, whatever the backend made of that
        return call.result()

    async def _turn(self, message: str, conversation: Conversation, deadline: Deadline, on_delta: OnDelta | None) -> str:
        assert self.backend is not None
        # One message at a time per conversation, so each sees the last; the wait counts in the timeout.
        await within(conversation.lock.acquire(), deadline)
        try:
            if self._stopping:  # stop() came while this call waited for its turn
                raise ChatUnavailable(STOPPED)
            return await self.backend.reply(message, conversation, deadline, on_delta)
        finally:
            conversation.lock.release()
