"""POST /v1/chat: relay a message to the on-desktop AI agent and return its whole reply."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bureau_agent.api import context
from bureau_agent.api.http import json_response, read_json
from bureau_agent.api.routes import Route
from bureau_agent.api.schema import integer, obj, string
from bureau_agent.chat.relay import ChatRelay

RELAY = web.AppKey("chat_relay", ChatRelay)

# The hard ceilings; chat_max_message_chars and chat_max_timeout_ms set the configured bounds.
CHAT = obj(
    {
        "message": string(1_000_000, min_length=1, description="at most chat_max_message_chars (default 100000)"),
        "conversationId": string(
            200, min_length=1, description="continue this conversation; omitted: a new one is started and its id returned"
        ),
        "timeoutMs": integer(1, 3_600_000, description="default chat_timeout_ms, at most chat_max_timeout_ms"),
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


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    relay = ChatRelay(app[context.SETTINGS])
    await relay.start()
    app[RELAY] = relay
    app[context.CHAT_STATUS] = relay
    try:
        yield
    finally:
        await relay.close()


async def on_shutdown(app: web.Application) -> None:
    """Before the server waits for calls in flight, end the chat calls so they answer (app.py registers it)."""
    if RELAY in app:
        await app[RELAY].stop()


async def chat(request: web.Request) -> web.Response:
    body = await read_json(request, CHAT)
    reply = await request.app[RELAY].send(body["message"], body.get("conversationId"), body.get("timeoutMs"))
    return json_response(reply.to_json())


ROUTES = [
    Route(
        "POST",
        "/v1/chat",
        chat,
        "Relay a message to the on-desktop AI agent and wait for its whole reply",
        body=CHAT,
        response=REPLY,
        errors=(400, 429, 503, 504),
    ),
]
