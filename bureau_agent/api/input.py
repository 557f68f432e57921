"""POST /v1/click, /v1/move, /v1/drag, /v1/scroll, /v1/type and /v1/key."""

from __future__ import annotations

from aiohttp import web

from bureau_agent.api.http import read_json
from bureau_agent.api.routes import Route
from bureau_agent.api.schema import array, enum, integer, obj, string
from bureau_agent.errors import NotImplementedYet

BUTTON = enum("left", "middle", "right", "back", "forward", description="mouse button")
MODIFIERS = array(string(64, min_length=1), 16, description="key names held during the action")
POINT = obj({"x": integer(description="screen x in pixels"), "y": integer(description="screen y in pixels")}, ("x", "y"))
POINTER_RESPONSE = obj({"x": integer(), "y": integer()}, ("x", "y"))

CLICK = obj({"x": integer(), "y": integer(), "button": BUTTON, "clicks": integer(1, 3), "modifiers": MODIFIERS})
MOVE = obj({"x": integer(), "y": integer()}, ("x", "y"))
DRAG = obj(
    {
        "from": POINT,
        "to": POINT,
        "button": BUTTON,
        "modifiers": MODIFIERS,
        "durationMs": integer(0, 10_000),
        "path": array(POINT, 256),
    },
    ("from", "to"),
)
SCROLL = obj(
    {
        "direction": enum("up", "down", "left", "right"),
        "amount": integer(1, 100),
        "x": integer(),
        "y": integer(),
        "modifiers": MODIFIERS,
    },
    ("direction",),
)
TYPE = obj({"text": string(100_000), "delayMs": integer(0, 1000)}, ("text",))
KEY = obj({"key": string(1000, min_length=1), "repeat": integer(1, 100)}, ("key",))


def _stub(schema: dict) -> web.RequestHandler:
    async def handler(request: web.Request) -> web.Response:
        await read_json(request, schema)
        raise NotImplementedYet(f"{request.path} is not implemented yet.")

    return handler


ROUTES = [
    Route("POST", "/v1/click", _stub(CLICK), "Click a mouse button", body=CLICK, response=POINTER_RESPONSE, errors=(400, 503)),
    Route("POST", "/v1/move", _stub(MOVE), "Move the pointer", body=MOVE, response=POINTER_RESPONSE, errors=(400, 503)),
    Route("POST", "/v1/drag", _stub(DRAG), "Drag with a button held", body=DRAG, response=POINTER_RESPONSE, errors=(400, 503)),
    Route("POST", "/v1/scroll", _stub(SCROLL), "Scroll the wheel", body=SCROLL, response=POINTER_RESPONSE, errors=(400, 503)),
    Route("POST", "/v1/type", _stub(TYPE), "Type Unicode text", body=TYPE, response=obj({"typed": integer(0)}, ("typed",)), errors=(400, 503)),
    Route("POST", "/v1/key", _stub(KEY), "Press key combinations", body=KEY, response=obj({"key": string()}, ("key",)), errors=(400, 503)),
]
