"""GET /v1/accessibility: parse the query, ask the accessibility service, answer JSON or text."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.accessibility.query import Query
from bureau_agent.accessibility.threaded import ThreadedAccessibility
from bureau_agent.api.feature import Feature
from bureau_agent.errors import InvalidRequest
from bureau_agent.httpkit.http import json_response, read_query
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import enum, integer, string
from bureau_agent.process.environment import Session

MAX_DEPTH = 100
MAX_NODES = 20_000

QUERY = {
    "window": string(32, description=(
        "an X window id from GET /v1/windows (decimal, or hex with 0x), `active` (default: the window "
        "the window manager says is active; the whole desktop when none is) or `all` (every application)"
    )),
    "maxDepth": integer(0, MAX_DEPTH, description="levels below the root kept (default 30); deeper nodes are counted in `omitted`"),
    "maxNodes": integer(1, MAX_NODES, description="nodes answered at most (default 2000), breadth first; the rest are counted in `omitted`"),
    "interactive": {"type": "boolean", "description": (
        "only nodes that can be acted on (actions, focusable or editable, and showing) and the named "
        "containers above them (default false)"
    )},
    "format": enum("json", "text", description="`json` (default) or `text`: one line a node, indented by depth, for a model's context"),
}

NODE: dict[str, Any] = {
    "type": "object",
    "required": ["role", "name", "states", "x", "y", "width", "height", "actions", "children"],
    "properties": {
        "role": {"type": "string", "description": "AT-SPI role name (`button`, `entry`, `check box`, `menu item`, `link`, …)"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "value": {"type": "string", "description": "the current value (Value interface) or the text of an editable field, at most 200 characters; never a password field's"},
        "states": {"type": "array", "items": {"type": "string"}, "description": "AT-SPI state names (`focused`, `checked`, `enabled`, `showing`, …)"},
        "x": {"type": "integer", "description": "screen pixels; 0 with width and height 0 when the node is not on screen"},
        "y": {"type": "integer"},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "actions": {"type": "array", "items": {"type": "string"}, "description": "Action interface names (`click`, `press`, `activate`, …)"},
        "children": {"type": "array", "items": {"type": "object", "description": "a node, as this one"}},
        "omitted": {"type": "integer", "description": "children left out by maxDepth or maxNodes"},
    },
}

RESPONSE = {
    "type": "object",
    "required": ["root", "nodeCount", "truncated", "durationMs", "skipped", "window"],
    "properties": {
        "root": NODE,
        "nodeCount": {"type": "integer"},
        "truncated": {"type": "boolean", "description": "true when maxNodes or maxDepth left nodes out"},
        "durationMs": {"type": "number"},
        "skipped": {
            "type": "array",
            "description": "applications left out because they did not answer within accessibility_timeout_ms",
            "items": {
                "type": "object",
                "required": ["name", "pid", "bus", "reason"],
                "properties": {
                    "name": {"type": "string"}, "pid": {"type": "integer", "nullable": True},
                    "bus": {"type": "string"}, "reason": {"type": "string"},
                },
            },
        },
        "window": {"type": "integer", "nullable": True, "description": "the X window whose tree this is (null: the whole desktop)"},
        "note": {"type": "string", "description": "why a window's tree is empty (its application exports none, or did not answer)"},
    },
}


def parse_window(text: str | None) -> int | str:
    if text is None or text == "active":
        return "active"
    if text == "all":
        return "all"
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise InvalidRequest(f"window must be a window id, `active` or `all`, not {text!r}.", details={"field": "window"}) from None
    if not 0 < value < 2**32:
        raise InvalidRequest(f"window {text} is not an X window id.", details={"field": "window"})
    return value


async def accessibility(request: web.Request) -> web.Response:
    query = read_query(request, QUERY)
    result = await request.app[appkeys.ACCESSIBILITY].tree(Query(
        window=parse_window(query.get("window")),
        max_depth=query.get("maxDepth", 30),
        max_nodes=query.get("maxNodes", 2000),
        interactive=query.get("interactive", False),
    ))
    # Encoding 2000 nodes takes milliseconds: off the loop, like every large answer
    if query.get("format") == "text":
        text = await asyncio.to_thread(result.to_text)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")
    return await asyncio.to_thread(lambda: json_response(result.to_json()))


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    session = Session.from_settings(settings)
    service = ThreadedAccessibility(
        app[appkeys.DISPLAY],
        # the desktop user's session bus, as their commands see it (root agent: /run/user/UID/bus)
        lambda: session.environment({}, "accessibility"),
        timeout_s=settings.accessibility_timeout_ms / 1000,
    )
    await service.start()
    app[appkeys.ACCESSIBILITY] = service
    try:
        yield
    finally:
        await service.close()


ROUTES = [
    Route(
        "GET",
        "/v1/accessibility",
        accessibility,
        "The accessibility (AT-SPI) tree of a window, the active window or the desktop, bounded in size and time",
        query=QUERY,
        response=RESPONSE,
        response_media={"text/plain": {"type": "string", "description": "format=text: one line a node, `- button \"OK\" [focusable, enabled] @(120,340 80x30)`"}},
        errors=(400, 404, 503),
    ),
]

FEATURE = Feature("accessibility", ROUTES, lifespan=lifespan)
