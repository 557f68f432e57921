"""The `openai` backend: an OpenAI-compatible chat-completions endpoint inside the desktop.

Each message is POSTed to {chat_url}/chat/completions with the conversation's recent turns, so
any server that speaks the protocol (llama.cpp, vLLM, Ollama, LiteLLM, an agent framework's
OpenAI facade) keeps the thread. A JSON reply and a streamed (SSE) reply are both assembled into
one answer; the kind is taken from the response's Content-Type, whatever was asked for.

Reachability is a background probe (GET {chat_url}/models) every chat_check_interval_s, and
every real request updates it too; a request never waits for a probe.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from bureau_agent.aio import Ticker
from bureau_agent.chat.backend import Backend, Deadline, OnDelta, dig, excerpt, within
from bureau_agent.chat.conversations import Conversation
from bureau_agent.errors import ChatUnavailable

log = logging.getLogger("bureau_agent.chat")

PROBE_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None,
        model: str,
        stream: bool,
        max_reply_bytes: int,
        check_interval_s: float,
    ) -> None:
        self.base = url.rstrip("/")
        self.api_key = api_key
        self.model = model
        self.stream = stream
        self.max_reply_bytes = max_reply_bytes
        self.check_interval_s = check_interval_s
        self._reachable = False
        self._session: aiohttp.ClientSession | None = None
        # aio.Ticker: a probe that raises something unforeseen is logged and the next one runs,
        # where a bare loop would die quietly and leave `reachable` stuck.
        self._prober = Ticker("chat probe", self._check, check_interval_s, log)

    async def start(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._session = aiohttp.ClientSession(
            headers=headers,
            # No total timeout: the relay's deadline cancels the request. Connecting is bounded so
            # that a black-holed address is "unreachable", not a chat timeout.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S),
        )
        self._prober.start()
        self._prober.wake()  # the first probe at once, not after an interval

    async def close(self) -> None:
        await self._prober.close()
        if self._session is not None:
            await self._session.close()

    def reachable(self) -> bool:
        return self._reachable

    async def _check(self) -> None:
        reachable = await self.probe()
        if reachable != self._reachable:
            log.info("chat backend reachability changed", extra={"backend": self.name, "reachable": reachable})
        self._reachable = reachable

    async def probe(self) -> bool:
        """Any HTTP answer below 500 means a server is there (some have no /models: 404 is fine)."""
        assert self._session is not None
        try:
            async with self._session.get(
                self.base + "/models", timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)
            ) as resp:
                return resp.status < 500
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False

    async def reply(
        self, message: str, conversation: Conversation, deadline: Deadline, on_delta: OnDelta | None = None
    ) -> str:
        # Cancelled at the deadline: the request is aborted and its connection closed.
        return await within(self._reply(message, conversation, on_delta), deadline)

    async def _reply(self, message: str, conversation: Conversation, on_delta: OnDelta | None) -> str:
        assert self._session is not None
        body = {
            "model": self.model,
            "messages": [*conversation.history, {"role": "user", "content": message}],
            # A caller who streams asked for tokens as they come, whatever chat_stream says; a
            # server that answers JSON anyway gives one piece (the reply is the same).
            "stream": self.stream or on_delta is not None,
        }
        url = self.base + "/chat/completions"
        try:
            async with self._session.post(url, json=body) as resp:
                try:
                    text = await self._read_reply(resp, on_delta)
                except asyncio.CancelledError:
                    resp.close()  # drop the connection so the server sees the caller gave up
                    raise
        except aiohttp.ClientConnectorError as exc:
            self._reachable = False
            reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else str(exc)
            raise ChatUnavailable(f"The chat backend at {self.base} is not reachable: {reason}.") from None
        except aiohttp.ServerTimeoutError:  # only connecting has a timeout of its own
            self._reachable = False
            raise ChatUnavailable(
                f"The chat backend at {self.base} is not reachable: no connection within {CONNECT_TIMEOUT_S:g} s."
            ) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            detail = excerpt(str(exc))
            raise ChatUnavailable(
                f"The connection to the chat backend at {self.base} failed ({type(exc).__name__}{': ' + detail if detail else ''})."
            ) from None
        self._reachable = True
        conversation.add_turn(message, text)
        return text

    async def _read_reply(self, resp: aiohttp.ClientResponse, on_delta: OnDelta | None) -> str:
        if resp.status >= 400:
            raw = await self._read_body(resp, truncate=True)
            detail = _error_message(raw) or excerpt(raw.decode("utf-8", "replace"))
            raise ChatUnavailable(f"The chat backend answered HTTP {resp.status}: {detail or resp.reason}.")
        if resp.content_type == "text/event-stream":
            return await self._read_stream(resp, on_delta)
        return parse_completion(await self._read_body(resp))

    async def _read_body(self, resp: aiohttp.ClientResponse, *, truncate: bool = False) -> bytes:
        """The whole body, at most max_reply_bytes (beyond: the head when truncate, else an error)."""
        body = bytearray()
        while chunk := await resp.content.readany():
            body += chunk
            if len(body) > self.max_reply_bytes:
                if truncate:
                    return bytes(body[: self.max_reply_bytes])
                raise ChatUnavailable(
                    f"The chat backend's reply is larger than chat_max_reply_bytes ({self.max_reply_bytes})."
                )
        return bytes(body)

    async def _read_stream(self, resp: aiohttp.ClientResponse, on_delta: OnDelta | None = None) -> str:
        # The bound is on the text assembled, not on the events: their framing is ~100 bytes a
        # token. Memory stays bounded either way (a line is bounded by aiohttp's buffer).
        stream = StreamAssembler(on_delta)
        while not (stream.done or stream.finished):
            try:
                line = await resp.content.readline()
            except ValueError:  # a line longer than aiohttp's buffer limit
                raise ChatUnavailable("The chat backend sent a stream line that is too long.") from None
            if not line:
                break
            if stream.feed(line) > self.max_reply_bytes:
                raise ChatUnavailable(
                    f"The chat backend's reply is larger than chat_max_reply_bytes ({self.max_reply_bytes})."
                )
            stream.flush()
        return stream.result()


def parse_completion(raw: bytes) -> str:
    """The text of a non-streamed chat completion: choices[0].message.content."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ChatUnavailable(f"The chat backend's reply is not valid JSON: {excerpt(raw.decode('utf-8', 'replace'))!r}.") from None
    if isinstance(data, dict) and "error" in data:
        raise ChatUnavailable(f"The chat backend answered an error: {_error_message(raw)}.")
    message = dig(data, "choices.0.message", "chat backend's reply")
    return _content_text(message.get("content") if isinstance(message, dict) else None)


def _content_text(content: Any) -> str:
    """content is a string, or a list of parts of which the text parts count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if parts and all(isinstance(p, str) for p in parts):
            return "".join(parts)
    raise ChatUnavailable("The chat backend's reply has no text content (choices[0].message.content).")


def _error_message(raw: bytes) -> str | None:
    """error.message of an OpenAI-style error body, when there is one."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return excerpt(error["message"])
    if isinstance(error, str):
        return excerpt(error)
    return None


class StreamAssembler:
    """Server-sent events of a streamed completion, fed line by line, joined into one text.

    The stream is complete at `data: [DONE]` or once a chunk carries a finish_reason (what may
    follow, a usage chunk, has no text); a stream that ends before either was cut short, which
    is an error rather than a half answer.
    """

    def __init__(self, on_delta: OnDelta | None = None) -> None:
        self.on_delta = on_delta
        self.parts: list[str] = []
        self.size = 0  # UTF-8 bytes of the parts
        self.done = False
        self.finished = False
        self._pending: list[str] = []

    def feed(self, line: bytes) -> int:
        """Take one line; the size assembled so far. A piece past max_reply_bytes is counted
        before it is passed on, so the caller can stop before a too-large piece goes out."""
        text = line.decode("utf-8", "replace").strip()
        if not text.startswith("data:"):
            return self.size  # blank separators, comments (":"), event:/id:/retry: fields
        payload = text[len("data:"):].strip()
        if payload == "[DONE]":
            self.done = True
            return self.size
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise ChatUnavailable(f"The chat backend sent a malformed stream event: {excerpt(payload)!r}.") from None
        if not isinstance(chunk, dict):
            raise ChatUnavailable(f"The chat backend sent a malformed stream event: {excerpt(payload)!r}.")
        if "error" in chunk:
            raise ChatUnavailable(f"The chat backend answered an error: {_error_message(payload.encode()) or excerpt(payload)}.")
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str):
                self.parts.append(content)
                self.size += len(content.encode("utf-8"))
                self._pending.append(content)
            if choice.get("finish_reason"):
                self.finished = True
        return self.size

    def flush(self) -> None:
        """Hand the pieces taken since the last flush to on_delta."""
        pending, self._pending = self._pending, []
        if self.on_delta is not None:
            for piece in pending:
                if piece:
                    self.on_delta(piece)

    def result(self) -> str:
        if not (self.done or self.finished):
            raise ChatUnavailable("The chat backend's stream ended before the reply was complete.")
        return "".join(self.parts)
