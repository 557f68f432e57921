"""POST /v1/chat: relay a message to the on-desktop AI agent; its whole reply, or a stream of it.

With "stream": true the answer is text/event-stream: `data: {"delta": str}` events as the agent
produces its reply, then one last `data: {"response", "conversationId", "durationMs"}` event.
The status line waits for the first piece, so an error before it (the agent not configured,
busy, failing at once) is the usual JSON error with its status; an error after it can only be a
last `data: {"error": {...}}` event. A backend that cannot give pieces (JSON output) gives the
whole reply as one delta at the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.api.feature import Feature
from bureau_agent.chat.relay import ChatRelay, ChatReply
from bureau_agent.errors import AgentError, Internal
from bureau_agent.httpkit.http import json_response, read_json
from bureau_agent.httpkit.middleware import STARTED_STREAM
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import integer, obj, string

log = logging.getLogger("bureau_agent.chat")

# The hard ceilings; chat_max_message_chars and chat_max_timeout_ms set the configured bounds.
CHAT = obj(
    {
        "message": string(1_000_000, min_length=1, description="at most chat_max_message_chars (default 100000)"),
        "conversationId": string(
            200, min_length=1, description="continue this conversation; omitted: a new one is started and its id returned"
        ),
        "timeoutMs": integer(1, 3_600_000, description="default chat_timeout_ms, at most chat_max_timeout_ms"),
        "stream": {
            "type": "boolean",
            "description": "true: answer text/event-stream, {\"delta\"} events then the reply's event (see docs/streams.md)",
        },
    },
    ("message",),
)
REPLY = obj(
    {
        "response": string(description="the agent's whole reply"),
        "conversationId": {"type": "string", "nullable": True, "description": "pass it back to continue the conversation"},
        "durationMs": integer(0),
    },
    ("response", "conversationId", "durationMs"),
)
STREAM_DESCRIPTION = (
    'With "stream": true: `data: {"delta": str}` events, then a last `data:` event that is the reply '
    '({"response", "conversationId", "durationMs"}) or, for a failure after the first event, {"error": {...}}.'
)


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    relay = ChatRelay(app[appkeys.SETTINGS])
    await relay.start()
    app[appkeys.RELAY] = relay
    app[appkeys.CHAT_STATUS] = relay
    try:
        yield
    finally:
        await relay.close()


async def on_stopping(app: web.Application) -> None:
    """At the very start of the shutdown: streamed chat calls end now (a stream never holds it)."""
    if appkeys.RELAY in app:
        await app[appkeys.RELAY].stop_streams()


async def on_shutdown(app: web.Application) -> None:
    """Once the shutdown grace is over, end the chat calls still running so that they answer."""
    if appkeys.RELAY in app:
        await app[appkeys.RELAY].stop()


async def chat(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, CHAT)
    relay = request.app[appkeys.RELAY]
    if body.get("stream"):
        return await _stream(request, relay, body)
    reply = await relay.send(body["message"], body.get("conversationId"), body.get("timeoutMs"))
    return json_response(reply.to_json())


class _Pieces:
    """The reply's pieces not yet written: the writer takes them all at once, so a slow reader
    gets them joined in fewer writes (bounded by chat_max_reply_bytes, like the reply)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.ready = asyncio.Event()

    def put(self, piece: str) -> None:
        self.items.append(piece)
        self.ready.set()

    def take(self) -> list[str]:
        items, self.items = self.items, []
        self.ready.clear()
        return items


def event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace") + b"\n\n"


async def _open(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    request[STARTED_STREAM] = True
    await response.prepare(request)
    return response


async def _stream(request: web.Request, relay: ChatRelay, body: dict[str, Any]) -> web.StreamResponse:
    pieces = _Pieces()
    call = asyncio.ensure_future(relay.send(body["message"], body.get("conversationId"), body.get("timeoutMs"), pieces.put))
    response: web.StreamResponse | None = None
    wrote = False  # a delta went out
    try:
        while not call.done():
            waiter = asyncio.ensure_future(pieces.ready.wait())
            try:
                await asyncio.wait((call, waiter), return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            batch = pieces.take()
            if batch:
                response = response or await _open(request)
                await response.write(b"".join(event({"delta": piece}) for piece in batch))
                wrote = True
        batch = pieces.take()
        error = call.exception()
        if response is None:
            if error is not None:
                raise error  # nothing sent yet: the JSON error with its status
            response = await _open(request)
        last: dict[str, Any]
        if error is None:
            reply: ChatReply = call.result()
            if not batch and not wrote:
                batch = [reply.response]  # a backend without pieces: the whole reply as one
            last = reply.to_json()
        else:
            if not isinstance(error, AgentError):
                log.error("chat stream failed", exc_info=error)
                error = Internal("The chat call failed unexpectedly; it has been logged.")
            last = error.to_json()
        await response.write(b"".join(event({"delta": piece}) for piece in batch) + event(last))
        await response.write_eof()
        return response
    finally:
        if not call.done():  # the caller went away (a write failed), or we were cancelled
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)


ROUTES = [
    Route(
        "POST",
        "/v1/chat",
        chat,
        "Relay a message to the on-desktop AI agent: its whole reply, or with stream its pieces as server-sent events",
        body=CHAT,
        response=REPLY,
        response_media={"text/event-stream": {"type": "string", "description": STREAM_DESCRIPTION}},
        errors=(400, 429, 503, 504),
        # The message itself is the user's business: its length only.
        event_summary=lambda body: f"chat message, {len(str(body['message']))} characters",
    ),
]

FEATURE = Feature("chat", ROUTES, lifespan=lifespan, on_shutdown=on_shutdown, on_stopping=on_stopping)
