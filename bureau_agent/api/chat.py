"""POST /v1/chat."""

from __future__ import annotations

from aiohttp import web

from bureau_agent.api.http import read_json
from bureau_agent.api.routes import Route
from bureau_agent.api.schema import integer, obj, string
from bureau_agent.errors import ChatUnavailable

CHAT = obj(
    {"message": string(100_000, min_length=1), "conversationId": string(200, min_length=1), "timeoutMs": integer(1, 3_600_000)},
    ("message",),
)
REPLY = obj(
    {"response": string(), "conversationId": {"type": "string", "nullable": True}, "durationMs": integer(0)},
    ("response", "conversationId", "durationMs"),
)


async def chat(request: web.Request) -> web.Response:
    await read_json(request, CHAT)
    raise ChatUnavailable("No on-desktop AI agent is configured.")


ROUTES = [
    Route("POST", "/v1/chat", chat, "Relay a message to the on-desktop AI agent", body=CHAT, response=REPLY, errors=(400, 503, 504)),
]
