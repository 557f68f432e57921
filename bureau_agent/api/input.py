"""POST /v1/click, /v1/move, /v1/drag, /v1/scroll, /v1/type and /v1/key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.httpkit.http import json_response, read_json
from bureau_agent.api.feature import Feature
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import array, enum, integer, obj, string
from bureau_agent.desktop.input_service import InputService, InputSettings
from bureau_agent.desktop.pointer import BUTTONS, WHEEL

if TYPE_CHECKING:
    from bureau_agent.desktop.xtest import PointerState


BUTTON = enum(*BUTTONS, description="mouse button")
MODIFIERS = array(string(64, min_length=1), 16, description="key names held during the action")
POINT = obj({"x": integer(description="screen x in pixels"), "y": integer(description="screen y in pixels")}, ("x", "y"))
POINTER_RESPONSE = obj(
    {"x": integer(description="pointer x afterwards"), "y": integer(description="pointer y afterwards")}, ("x", "y")
)

CLICK = obj(
    {
        "x": integer(description="screen x; with y, or neither for the current position"),
        "y": integer(description="screen y; with x, or neither for the current position"),
        "button": BUTTON,
        "clicks": integer(1, 3, description="1, 2 (double click) or 3 (triple click)"),
        "modifiers": MODIFIERS,
    }
)
MOVE = obj({"x": integer(), "y": integer()}, ("x", "y"))
DRAG = obj(
    {
        "from": POINT,
        "to": POINT,
        "button": BUTTON,
        "modifiers": MODIFIERS,
        "durationMs": integer(0, 10_000, description="time spread over the motion steps (default: input_drag_duration_ms)"),
        "path": array(POINT, 256),
    },
    ("from", "to"),
)
SCROLL = obj(
    {
        "direction": enum(*WHEEL),
        "amount": integer(1, 100, description="wheel clicks (default 3)"),
        "x": integer(),
        "y": integer(),
        "modifiers": MODIFIERS,
    },
    ("direction",),
)
TYPE = obj(
    {
        "text": string(100_000, description="any Unicode text; newline is Return, tab is Tab"),
        "delayMs": integer(0, 1000, description="pause after each character (default 0)"),
    },
    ("text",),
)
KEY = obj(
    {
        "key": string(1000, min_length=1, description="xdotool syntax: `ctrl+shift+t`, `ctrl+a BackSpace`"),
        "repeat": integer(1, 100, description="times to press the whole sequence (default 1)"),
    },
    ("key",),
)


def _service(request: web.Request) -> InputService:
    return request.app[appkeys.INPUT]


def _pointer(state: PointerState) -> web.Response:
    return json_response({"x": state.x, "y": state.y})


def _modifiers(body: dict[str, Any]) -> list[str]:
    return list(body.get("modifiers", []))


async def click(request: web.Request) -> web.Response:
    body = await read_json(request, CLICK)
    state = await _service(request).click(
        body.get("x"), body.get("y"), body.get("button", "left"), body.get("clicks", 1), _modifiers(body)
    )
    return _pointer(state)


async def move(request: web.Request) -> web.Response:
    body = await read_json(request, MOVE)
    return _pointer(await _service(request).move(body["x"], body["y"]))


async def drag(request: web.Request) -> web.Response:
    body = await read_json(request, DRAG)
    state = await _service(request).drag(
        (body["from"]["x"], body["from"]["y"]),
        (body["to"]["x"], body["to"]["y"]),
        [(p["x"], p["y"]) for p in body.get("path", [])],
        body.get("button", "left"),
        _modifiers(body),
        body.get("durationMs"),
    )
    return _pointer(state)


async def scroll(request: web.Request) -> web.Response:
    body = await read_json(request, SCROLL)
    state = await _service(request).scroll(
        body["direction"], body.get("amount", 3), body.get("x"), body.get("y"), _modifiers(body)
    )
    return _pointer(state)


async def type_text(request: web.Request) -> web.Response:
    body = await read_json(request, TYPE)
    return json_response({"typed": await _service(request).type(body["text"], body.get("delayMs", 0))})


async def key(request: web.Request) -> web.Response:
    body = await read_json(request, KEY)
    return json_response({"key": await _service(request).key(body["key"], body.get("repeat", 1))})


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    """The input service of the app's display; on shutdown it releases all and restores the map."""
    service = InputService(app[appkeys.DISPLAY], InputSettings.from_settings(app[appkeys.SETTINGS]))
    app[appkeys.INPUT] = service
    try:
        yield
    finally:
        await service.close()


ERRORS = (400, 503)
ROUTES = [
    Route("POST", "/v1/click", click, "Click a mouse button", body=CLICK, response=POINTER_RESPONSE, errors=ERRORS),
    Route("POST", "/v1/move", move, "Move the pointer", body=MOVE, response=POINTER_RESPONSE, errors=ERRORS),
    Route("POST", "/v1/drag", drag, "Drag with a button held", body=DRAG, response=POINTER_RESPONSE, errors=ERRORS),
    Route("POST", "/v1/scroll", scroll, "Scroll the wheel", body=SCROLL, response=POINTER_RESPONSE, errors=ERRORS),
    Route("POST", "/v1/type", type_text, "Type Unicode text", body=TYPE, response=obj({"typed": integer(0)}, ("typed",)), errors=ERRORS),
    Route("POST", "/v1/key", key, "Press key combinations", body=KEY, response=obj({"key": string()}, ("key",)), errors=ERRORS),
]

FEATURE = Feature("input", ROUTES, lifespan=lifespan)
