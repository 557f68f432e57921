"""POST /v1/act: a list of input actions, a wait until the screen settles, one screenshot.

Every action is validated (schema, coordinates after imageScale, key names, typeable text)
before the first one runs, so a refused list has done nothing. A damage subscription is opened
before the first action: every change the actions cause is seen, however early. Each action
takes the input lock for itself only, like its own route, and the settle wait holds no lock, so
another client's click is never held up by an act waiting for the screen.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
import time
from typing import Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.api.feature import Feature
from bureau_agent.api.input import ACTIONS, RESPONSES
from bureau_agent.api.screenshot import QUERY as SHOT_QUERY
from bureau_agent.api.screenshot import options_from
from bureau_agent.desktop.damage import Rect
from bureau_agent.desktop.encode import Region
from bureau_agent.desktop.screenshots import ShotOptions
from bureau_agent.desktop.settle import SettleOptions, wait_settled
from bureau_agent.errors import AgentError, InvalidRequest, OutOfBounds
from bureau_agent.httpkit.http import read_json
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import Schema, array, integer, obj, string, tagged, validate

MAX_ACTIONS = 64
MAX_WAIT_MS = 10_000
MAX_SETTLE_TIMEOUT_MS = 60_000

WAIT = obj({"ms": integer(0, MAX_WAIT_MS, description="pause before the next action")}, ("ms",))
ACTION = tagged(
    "action",
    {**{name: action.schema for name, action in ACTIONS.items()}, "wait": WAIT},
    description="the body of the input route of the same name, plus `action`; or a wait",
)
SETTLE = obj(
    {
        "quietMs": integer(0, 10_000, description="the screen must not change for this long (default 150)"),
        "timeoutMs": integer(0, MAX_SETTLE_TIMEOUT_MS, description="wait at most this long (default 3000)"),
        "untilChange": {
            "type": "boolean",
            "description": "the quiet period starts only after a first change (for late effects such as a page load)",
        },
    }
)
SIDE = integer(1, 100_000)
SCREENSHOT = obj(
    {
        **SHOT_QUERY,
        "region": obj({"x": integer(0), "y": integer(0), "w": SIDE, "h": SIDE}, ("x", "y", "w", "h"),
                      description="capture only this rectangle of the screen (screen pixels)"),
    }
)  # fmt: skip


def _or_false(schema: Schema, what: str) -> Schema:
    return {"oneOf": [schema, {"type": "boolean"}], "description": f"{what}; false: none (true: the defaults)"}


BODY = obj(
    {
        "actions": array(ACTION, MAX_ACTIONS, description="run in order; [] observes only"),
        "imageScale": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "the actions' coordinates are pixels of a screenshot scaled by this (its X-Scale); "
            "they are mapped to round(v / s) screen pixels. 0 < s <= 1, default 1",
        },
        "settle": _or_false(SETTLE, "wait until the screen stops changing"),
        "screenshot": _or_false(SCREENSHOT, "the options of GET /v1/screenshot, region as an object"),
    },
    ("actions",),
)
REGION = obj({"x": integer(), "y": integer(), "w": integer(), "h": integer()}, ("x", "y", "w", "h"), nullable=True)
SHOT = obj(
    {
        "contentType": string(),
        "data": string(description="the image, base64"),
        "width": integer(),
        "height": integer(),
        "screenWidth": integer(),
        "screenHeight": integer(),
        "scale": {"type": "number", "description": "image pixels per screen pixel"},
        "etag": string(description="the ETag GET /v1/screenshot gives the same image"),
    },
    ("contentType", "data", "width", "height", "screenWidth", "screenHeight", "scale", "etag"),
    nullable=True,
)
# anyOf, and each shape once: click, move, drag and scroll all answer {x, y}, which oneOf would
# refuse as matching several.
_SHAPES = [schema for i, schema in enumerate(RESPONSES.values()) if schema not in list(RESPONSES.values())[:i]]
RESULT = {"anyOf": [*_SHAPES, obj({})], "description": "the action's own response; {} for a wait"}
RESPONSE = obj(
    {
        "results": array(RESULT),
        "settled": {"type": "boolean", "description": "the screen was quiet for quietMs before timeoutMs"},
        "changed": {"type": "boolean", "description": "the screen changed between the first action and the screenshot"},
        "changedRegion": REGION,
        "settleMs": integer(0, description="time spent waiting after the last action"),
        "durationMs": integer(0),
        "screenshot": SHOT,
    },
    ("results", "settled", "changed", "changedRegion", "settleMs", "durationMs", "screenshot"),
)

_ACTION_FIELD = re.compile(r"actions\[(\d+)\]")


def _with_index(exc: AgentError, index: int, **more: Any) -> AgentError:
    details = dict(exc.details or {})
    field = details.get("field")
    if isinstance(field, str) and not field.startswith("actions["):
        details["field"] = f"actions[{index}].{field}"
    details.update(index=index, **more)
    exc.details = details
    if not exc.message.startswith("actions["):
        exc.message = f"actions[{index}]: {exc.message}"
    return exc


def _scaled(value: Any, scale: float) -> Any:
    """The body with every x and y coordinate (points, from/to, path) mapped to screen pixels."""
    if isinstance(value, dict):
        return {k: round(v / scale) if k in ("x", "y") and isinstance(v, int) else _scaled(v, scale) for k, v in value.items()}
    if isinstance(value, list):
        return [_scaled(v, scale) for v in value]
    return value


def _options(value: Any, schema: Schema, field: str) -> dict[str, Any] | None:
    if value is False:
        return None
    if value is True:
        return {}
    return validate(value, schema, field)  # type: ignore[no-any-return]


def _shot_options(query: dict[str, Any]) -> ShotOptions:
    """GET /v1/screenshot's options, but for the region: an object here, not "x,y,w,h"."""
    region = query.get("region")
    options = options_from({name: value for name, value in query.items() if name != "region"})
    return dataclasses.replace(options, region=Region(region["x"], region["y"], region["w"], region["h"]) if region else None)


class Plan:
    """A validated act request: nothing in it can be refused once it starts running."""

    def __init__(self, request: web.Request, body: dict[str, Any]) -> None:
        service = request.app[appkeys.INPUT]
        scale = body.get("imageScale", 1)
        if not 0 < scale <= 1:
            raise InvalidRequest("imageScale must be more than 0 and at most 1.", details={"field": "imageScale"})
        self.steps: list[tuple[str, dict[str, Any]]] = []
        for index, item in enumerate(body["actions"]):
            kind = item["action"]
            args = {k: v for k, v in item.items() if k != "action"}
            if kind != "wait":
                if scale != 1:
                    args = _scaled(args, scale)
                try:
                    ACTIONS[kind].check(service, args)
                except AgentError as exc:
                    raise _with_index(exc, index) from None
            self.steps.append((kind, args))
        settle = _options(body.get("settle", True), SETTLE, "settle")
        self.settle = None if settle is None else SettleOptions(
            settle.get("quietMs", 150), settle.get("timeoutMs", 3000), settle.get("untilChange", False)
        )  # fmt: skip
        shot = _options(body.get("screenshot", True), SCREENSHOT, "screenshot")
        self.shot = None if shot is None else _shot_options(shot)
        region = self.shot.region if self.shot else None
        state = request.app[appkeys.DISPLAY].state
        if region is not None and state.connected and (region.x + region.width > state.width or region.y + region.height > state.height):
            raise OutOfBounds(
                f"screenshot.region {region.x},{region.y},{region.width},{region.height} is not inside the "
                f"{state.width}x{state.height} screen.",
                details={"field": "screenshot.region", "screenWidth": state.width, "screenHeight": state.height},
            )


async def _parse(request: web.Request) -> Plan:
    try:
        return Plan(request, await read_json(request, BODY))
    except InvalidRequest as exc:
        match = _ACTION_FIELD.match(str((exc.details or {}).get("field", "")))
        if match:
            exc.details = {**(exc.details or {}), "index": int(match.group(1))}
        raise


def _clip(region: Rect | None, width: int, height: int) -> dict[str, int] | None:
    if region is None:
        return None
    x0, y0 = max(0, region[0]), max(0, region[1])
    x1, y1 = min(width, region[0] + region[2]), min(height, region[1] + region[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}


async def act(request: web.Request) -> web.Response:
    plan = await _parse(request)
    service = request.app[appkeys.INPUT]
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    with await request.app[appkeys.DAMAGE].subscribe() as sub:
        for index, (kind, args) in enumerate(plan.steps):
            try:
                if kind == "wait":
                    await asyncio.sleep(args["ms"] / 1000)
                    results.append({})
                else:
                    results.append(await ACTIONS[kind].run(service, args))
            except AgentError as exc:
                raise _with_index(exc, index, results=results) from None
        settled, settle_ms = False, 0
        if plan.settle is not None:
            outcome = await wait_settled(sub, plan.settle)
            settled, settle_ms = outcome.settled, outcome.waited_ms
        shot = None
        if plan.shot is not None:
            try:
                shot = await request.app[appkeys.SCREENSHOTS].shot(plan.shot)
            except AgentError as exc:
                exc.details = {**(exc.details or {}), "results": results}
                raise
        changed, region = sub.changed, sub.region
    state = request.app[appkeys.DISPLAY].state
    answer: dict[str, Any] = {
        "results": results,
        "settled": settled,
        "changed": changed,
        "changedRegion": _clip(region, state.width, state.height) if changed else None,
        "settleMs": settle_ms,
        "durationMs": round((time.monotonic() - started) * 1000),
        "screenshot": None,
    }
    if shot is None:
        return web.Response(body=_dumps(answer), content_type="application/json")
    info = {
        "contentType": shot.media_type,
        "width": shot.width,
        "height": shot.height,
        "screenWidth": shot.screen_width,
        "screenHeight": shot.screen_height,
        "scale": shot.scale,
        "etag": shot.etag,
    }
    data = shot.data or b""
    # A PNG of a full screen is megabytes: base64 and JSON of it run off the loop.
    body = await asyncio.get_running_loop().run_in_executor(None, _with_image, answer, info, data)
    return web.Response(body=body, content_type="application/json")


def _dumps(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer, separators=(",", ":")).encode()


def _with_image(answer: dict[str, Any], info: dict[str, Any], data: bytes) -> bytes:
    # The base64 is spliced in as bytes rather than handed to json.dumps, which would scan and
    # copy a megabyte string twice more: "screenshot" is the last key and "data" its last one.
    head = _dumps(dict(answer, screenshot={**info, "data": ""}))
    assert head.endswith(b'"data":""}}')
    return b"".join((head[:-3], base64.b64encode(data), b'"}}'))


def _summary(body: dict[str, Any]) -> str:
    kinds = [str(a.get("action")) for a in body.get("actions", []) if isinstance(a, dict)]
    shown = ", ".join(kinds[:8]) + (", …" if len(kinds) > 8 else "")
    return f"act: {len(kinds)} action{'s' if len(kinds) != 1 else ''}" + (f" ({shown})" if kinds else "")


ROUTES = [
    Route(
        "POST",
        "/v1/act",
        act,
        "Run input actions, wait until the screen settles, take one screenshot",
        body=BODY,
        response=RESPONSE,
        errors=(400, 503),
        event_summary=_summary,
    ),
]

FEATURE = Feature("act", ROUTES)
