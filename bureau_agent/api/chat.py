"""POST /v1/chat: relay a message to the on-desktop AI agent and return its whole reply."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.httpkit.http import json_response, read_json
from bureau_agent.api.feature import Feature
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import integer, obj, string
from bureau_agent.chat.relay import ChatRelay


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
    relay = ChatRelay(app[appkeys.SETTINGS])
    await relay.start()
    app[appkeys.RELAY] = relay
    app[appkeys.CHAT_STATUS] = relay
    try:
        yield
    finally:
        await relay.close()


async def on_shutdown(app: web.Application) -> None:
    """Once the shutdown grace is over, end the chat calls still running so that they answer."""
    if appkeys.RELAY in app:
        await app[appkeys.RELAY].stop()


async def chat(request: web.Request) -> web.Response:
    body = await read_json(request, CHAT)
    reply = await request.app[appkeys.RELAY].send(body["message"], body.get("conversationId"), body.get("timeoutMs"))
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

FEATURE = Feature("chat", ROUTES, lifespan=lifespan, on_shutdown=on_shutdown)
