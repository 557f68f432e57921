"""GET /v1/clipboard (read a selection's text) and POST /v1/clipboard (own it with text)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.api.feature import Feature
from bureau_agent.desktop.clipboard import SELECTIONS, Clipboard, ClipboardSettings
from bureau_agent.errors import DisplayUnavailable, InvalidRequest
from bureau_agent.httpkit.http import json_response, read_query
from bureau_agent.httpkit.middleware import payload_too_large
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import array, enum, integer, obj, string, validate

SELECTION = enum(*SELECTIONS, description="CLIPBOARD (ctrl+c/ctrl+v) or PRIMARY (select / middle click); default clipboard")
CONTENT = obj(
    {
        "text": string(nullable=True, description="the selection as text; null when no one owns it or it offers no text"),
        "targets": array(string(), description="the formats (TARGETS) the owner offers, e.g. UTF8_STRING, image/png"),
        "owner": integer(0, nullable=True, description="X window id of the owner; null when no one owns it"),
    },
    ("text", "targets", "owner"),
)
SET = obj(
    {
        "text": string(min_length=1, description="the text, up to clipboard_max_bytes bytes of UTF-8 (default 8 MiB)"),
        "selection": SELECTION,
    },
    ("text",),
)
SET_RESPONSE = obj({"length": integer(0, description="characters now held by the selection")}, ("length",))
IN_THREAD_BYTES = 64 * 1024  # bodies and answers above this are parsed / encoded off the event loop


def _clipboard(request: web.Request) -> Clipboard:
    if not request.app[appkeys.DISPLAY].connected:
        raise DisplayUnavailable("The X display is not available right now.", retry_after_s=1)
    return request.app[appkeys.CLIPBOARD]


def body_limit(settings: Any) -> int:
    # JSON spells a non-ASCII BMP character \uXXXX (6 bytes for 3 of UTF-8): twice the text bound
    return 2 * settings.clipboard_max_bytes + 64 * 1024


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8.") from None
    except ValueError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None
    return validate(data, SET)


async def _respond(data: dict[str, Any], size: int) -> web.Response:
    if size <= IN_THREAD_BYTES:
        return json_response(data)
    return await asyncio.get_running_loop().run_in_executor(None, json_response, data)


async def get_clipboard(request: web.Request) -> web.Response:
    query = read_query(request, {"selection": SELECTION})
    content = await _clipboard(request).get(query.get("selection", "clipboard"))
    return await _respond(content.to_json(), len(content.text or ""))


async def set_clipboard(request: web.Request) -> web.Response:
    clipboard = _clipboard(request)
    limit = body_limit(request.app[appkeys.SETTINGS])
    try:
        raw = await request.clone(client_max_size=limit).read()
    except web.HTTPRequestEntityTooLarge:  # sent without Content-Length (the middleware checks that one)
        raise payload_too_large(limit) from None
    if len(raw) <= IN_THREAD_BYTES:
        body = _parse(raw)
    else:
        body = await asyncio.get_running_loop().run_in_executor(None, _parse, raw)
    length = await clipboard.set(body["text"], body.get("selection", "clipboard"))
    return json_response({"length": length})


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    clipboard = Clipboard(settings.display, ClipboardSettings.from_settings(settings))
    app[appkeys.CLIPBOARD] = clipboard
    await clipboard.start()
    try:
        yield
    finally:
        await clipboard.close()


ROUTES = [
    Route(
        "GET", "/v1/clipboard", get_clipboard,
        "Read the clipboard (or PRIMARY) as text, with the formats its owner offers",
        query={"selection": SELECTION}, response=CONTENT, errors=(400, 413, 503, 504),
    ),
    Route(
        "POST", "/v1/clipboard", set_clipboard,
        "Set the clipboard (or PRIMARY) to text; the agent serves it to every application until another takes it",
        body=SET, response=SET_RESPONSE, errors=(400, 413, 503, 504), body_limit=body_limit,
    ),
]

FEATURE = Feature("clipboard", ROUTES, lifespan=lifespan)
