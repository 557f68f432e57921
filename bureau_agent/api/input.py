"""POST /v1/click, /v1/move, /v1/drag, /v1/scroll, /v1/type and /v1/key."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.httpkit.http import json_response, read_json
from bureau_agent.api.feature import Feature
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import Schema, array, enum, integer, obj, string
from bureau_agent.desktop.input_service import InputService, InputSettings
from bureau_agent.desktop.keynames import check_typeable, parse_keys
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


def _pointer(state: PointerState) -> dict[str, Any]:
    return {"x": state.x, "y": state.y}


def _modifiers(body: dict[str, Any]) -> list[str]:
    return list(body.get("modifiers", []))


# Each input action once: its body schema, the checks that refuse it before anything is sent
# (act checks every action of a list before running the first), and the call. The routes below
# and POST /v1/act are both made of these.


@dataclasses.dataclass(frozen=True)
class Action:
    schema: Schema
    check: Callable[[InputService, dict[str, Any]], None]
    run: Callable[[InputService, dict[str, Any]], Awaitable[dict[str, Any]]]
    summary: Callable[[dict[str, Any]], str]  # for the action event: typed text cut at 40 characters


TYPED_CHARS = 40


def _at(body: dict[str, Any]) -> str:
    return f"({body['x']}, {body['y']})" if "x" in body and "y" in body else "the pointer"


def _click_summary(body: dict[str, Any]) -> str:
    clicks = body.get("clicks", 1)
    return f"{body.get('button', 'left')} click{f' x{clicks}' if clicks > 1 else ''} at {_at(body)}"


def _drag_summary(body: dict[str, Any]) -> str:
    start, end = body["from"], body["to"]
    return f"drag ({start['x']}, {start['y']}) to ({end['x']}, {end['y']})"


def _type_summary(body: dict[str, Any]) -> str:
    text = body["text"]
    shown = text[:TYPED_CHARS] + ("…" if len(text) > TYPED_CHARS else "")
    return f"type {json.dumps(shown, ensure_ascii=False)} ({len(text)} characters)"


def _check_click(service: InputService, body: dict[str, Any]) -> None:
    service.optional_point(body.get("x"), body.get("y"))
    service.modifier_keysyms(_modifiers(body))


async def _click(service: InputService, body: dict[str, Any]) -> dict[str, Any]:
    return _pointer(
        await service.click(body.get("x"), body.get("y"), body.get("button", "left"), body.get("clicks", 1), _modifiers(body))
    )


def _check_move(service: InputService, body: dict[str, Any]) -> None:
    service.check_point(body["x"], body["y"], "x, y")


async def _move(service: InputService, body: dict[str, Any]) -> dict[str, Any]:
    return _pointer(await service.move(body["x"], body["y"]))


def _check_drag(service: InputService, body: dict[str, Any]) -> None:
    service.check_point(body["from"]["x"], body["from"]["y"], "from")
    for i, p in enumerate(body.get("path", [])):
        service.check_point(p["x"], p["y"], f"path[{i}]")
    service.check_point(body["to"]["x"], body["to"]["y"], "to")
    service.modifier_keysyms(_modifiers(body))


async def _drag(service: InputService, body: dict[str, Any]) -> dict[str, Any]:
    state = await service.drag(
        (body["from"]["x"], body["from"]["y"]),
        (body["to"]["x"], body["to"]["y"]),
        [(p["x"], p["y"]) for p in body.get("path", [])],
        body.get("button", "left"),
        _modifiers(body),
        body.get("durationMs"),
    )
    return _pointer(state)


async def _scroll(service: InputService, body: dict[str, Any]) -> dict[str, Any]:
    return _pointer(
        await service.scroll(body["direction"], body.get("amount", 3), body.get("x"), body.get("y"), _modifiers(body))
    )


def _check_type(service: InputService, body: dict[str, Any]) -> None:
    check_typeable(body["text"])


async def _type(service: InputService, body: dict[str, Any]) -> dict[str, Any]:
    return {"typed": await service.type(body["text"], body.get("delayMs", 0))}


def _check_key(service: InputService, body: dict[str, Any]) -> None:
    parse_keys(body["key"])


async def _key(service: InputService, body: dict[str, Any]) -> dict[str, Any]:
    return {"key": await service.key(body["key"], body.get("repeat", 1))}


ACTIONS: dict[str, Action] = {
    "click": Action(CLICK, _check_click, _click, _click_summary),
    "move": Action(MOVE, _check_move, _move, lambda body: f"move to {_at(body)}"),
    "drag": Action(DRAG, _check_drag, _drag, _drag_summary),
    # scroll: the same optional point and modifiers as a click
    "scroll": Action(SCROLL, _check_click, _scroll, lambda body: f"scroll {body['direction']} {body.get('amount', 3)} at {_at(body)}"),
    "type": Action(TYPE, _check_type, _type, _type_summary),
    "key": Action(KEY, _check_key, _key, lambda body: f"key {body['key'][:TYPED_CHARS]}"),
}


def _handler(action: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        body = await read_json(request, action.schema)
        return json_response(await action.run(_service(request), body))

    return handle


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    """The input service of the app's display; on shutdown it releases all and restores the map."""
    service = InputService(app[appkeys.DISPLAY], InputSettings.from_settings(app[appkeys.SETTINGS]))
    app[appkeys.INPUT] = service
    try:
        yield
    finally:
        await service.close()


ERRORS = (400, 503)
TYPE_RESPONSE = obj({"typed": integer(0)}, ("typed",))
KEY_RESPONSE = obj({"key": string()}, ("key",))
RESPONSES: dict[str, Schema] = {
    "click": POINTER_RESPONSE, "move": POINTER_RESPONSE, "drag": POINTER_RESPONSE, "scroll": POINTER_RESPONSE,
    "type": TYPE_RESPONSE, "key": KEY_RESPONSE,
}  # fmt: skip
SUMMARIES = {
    "click": "Click a mouse button", "move": "Move the pointer", "drag": "Drag with a button held",
    "scroll": "Scroll the wheel", "type": "Type Unicode text", "key": "Press key combinations",
}  # fmt: skip
ROUTES = [
    Route("POST", f"/v1/{name}", _handler(action), SUMMARIES[name], body=action.schema, response=RESPONSES[name],
          errors=ERRORS, event_summary=action.summary)
    for name, action in ACTIONS.items()
]

FEATURE = Feature("input", ROUTES, lifespan=lifespan)
