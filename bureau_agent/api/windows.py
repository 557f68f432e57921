"""GET /v1/windows and POST /v1/windows/{id}/{activate,close,geometry,state}."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.api.feature import Feature
from bureau_agent.desktop.windows import STATES, WindowService
from bureau_agent.errors import InvalidRequest, WindowNotFound
from bureau_agent.httpkit.http import json_response, read_json
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import Schema, enum, integer, obj, string

COORD = 32767  # X coordinates and sizes are 16-bit
WINDOW: Schema = obj(
    {
        "id": integer(0, description="X window id of the client window (the one xwininfo/xdotool name)"),
        "title": string(description="_NET_WM_NAME (UTF-8), else WM_NAME; empty when it has none"),
        "class": string(description="WM_CLASS class, e.g. XTerm; empty when unset"),
        "instance": string(description="WM_CLASS instance, e.g. xterm; empty when unset"),
        "pid": integer(0, nullable=True, description="_NET_WM_PID; null when the client does not set it"),
        "x": integer(description="screen x of the window's content (inside the frame), pixels"),
        "y": integer(description="screen y of the window's content (inside the frame), pixels"),
        "width": integer(0, description="content width in pixels"),
        "height": integer(0, description="content height in pixels"),
        "desktop": integer(0, nullable=True, description="_NET_WM_DESKTOP; null without a WM or on all desktops"),
        "focused": {"type": "boolean", "description": "whether it is the active (focused) window"},
        "state": enum(*STATES),
    },
    ("id", "title", "class", "instance", "pid", "x", "y", "width", "height", "desktop", "focused", "state"),
)
LISTING = obj(
    {
        "windows": {"type": "array", "items": WINDOW, "description": "stacking order, bottom first"},
        "activeWindow": integer(0, nullable=True, description="id of the active window, if it is listed"),
    },
    ("windows", "activeWindow"),
)
ACTIVATE = obj({"timeoutMs": integer(0, 10_000, description="how long to wait for the WM to confirm (default windows_confirm_ms)")})
CLOSE = obj(
    {
        "force": {"type": "boolean", "description": "kill the client (XKillClient) if the window is still there after timeoutMs"},
        "timeoutMs": integer(0, 60_000, description="how long to wait for the window to go (default 2000)"),
    }
)
GEOMETRY = obj(
    {
        "x": integer(-COORD, COORD, description="screen x of the content's top-left corner"),
        "y": integer(-COORD, COORD, description="screen y of the content's top-left corner"),
        "width": integer(1, COORD, description="content width in pixels (the WM may round it, e.g. to terminal cells)"),
        "height": integer(1, COORD, description="content height in pixels"),
    }
)
STATE = obj({"state": enum(*STATES, description="minimized iconifies; normal restores")}, ("state",))
ID_PARAM = {"id": string(description="window id, decimal or 0x-hexadecimal as listed by GET /v1/windows")}

def _service(request: web.Request) -> WindowService:
    return request.app[appkeys.WINDOWS]


def _window_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    try:
        wid = int(raw, 16) if raw.lower().startswith("0x") else int(raw, 10)
    except ValueError:
        raise InvalidRequest(f"window id {raw!r} is not a number (decimal or 0x-hexadecimal).", details={"field": "id"}) from None
    if not 0 < wid < 1 << 32:
        raise WindowNotFound(f"There is no window {raw}.", details={"id": wid})
    return wid


async def list_windows(request: web.Request) -> web.Response:
    return json_response((await _service(request).list()).to_json())


async def activate(request: web.Request) -> web.Response:
    wid = _window_id(request)
    body = await read_json(request, ACTIVATE)
    return json_response({"activated": await _service(request).activate(wid, body.get("timeoutMs"))})


async def close(request: web.Request) -> web.Response:
    wid = _window_id(request)
    body = await read_json(request, CLOSE)
    closed = await _service(request).close(wid, body.get("force", False), body.get("timeoutMs", 2000))
    return json_response({"closed": closed})


async def geometry(request: web.Request) -> web.Response:
    wid = _window_id(request)
    body = await read_json(request, GEOMETRY)
    if not body:
        raise InvalidRequest("Give at least one of x, y, width, height.")
    return json_response((await _service(request).geometry(wid, body)).to_json())


async def state(request: web.Request) -> web.Response:
    wid = _window_id(request)
    body = await read_json(request, STATE)
    return json_response((await _service(request).set_state(wid, body["state"])).to_json())


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    app[appkeys.WINDOWS] = WindowService(app[appkeys.DISPLAY], app[appkeys.SETTINGS].windows_confirm_ms)
    yield


ERRORS = (400, 404, 503)
ROUTES = [
    Route("GET", "/v1/windows", list_windows, "List the top-level windows, bottom first", response=LISTING, errors=(503,)),
    Route(
        "POST", "/v1/windows/{id}/activate", activate,
        "Raise and focus a window (restoring it when minimized); activated is true only once the WM reports it active",
        body=ACTIVATE, response=obj({"activated": {"type": "boolean"}}, ("activated",)), errors=ERRORS, path_params=ID_PARAM,
    ),
    Route(
        "POST", "/v1/windows/{id}/close", close,
        "Close a window politely (_NET_CLOSE_WINDOW, else WM_DELETE_WINDOW); force kills its client after timeoutMs",
        body=CLOSE, response=obj({"closed": {"type": "boolean", "description": "the window is gone"}}, ("closed",)),
        errors=ERRORS, path_params=ID_PARAM,
    ),
    Route(
        "POST", "/v1/windows/{id}/geometry", geometry, "Move and/or resize a window; answers the window as listed afterwards",
        body=GEOMETRY, response=WINDOW, errors=ERRORS, path_params=ID_PARAM,
    ),
    Route(
        "POST", "/v1/windows/{id}/state", state,
        "Minimize, maximize, fullscreen or restore a window; answers the window as listed afterwards "
        "(409 no_window_manager for anything but normal when no WM runs)",
        body=STATE, response=WINDOW, errors=(400, 404, 409, 503), path_params=ID_PARAM,
    ),
]

FEATURE = Feature("windows", ROUTES, lifespan=lifespan)
