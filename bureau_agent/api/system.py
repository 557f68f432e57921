"""GET /v1/health, /v1/status and /v1/openapi.json."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bureau_agent.api import context
from bureau_agent.api.http import json_response
from bureau_agent.api.openapi import build_document
from bureau_agent.api.routes import Route
from bureau_agent.snapshot import snapshot_of
from bureau_agent.system.metrics import METRICS_SCHEMA, CpuSampler

ROUTES_KEY = web.AppKey("routes", list)
OPENAPI = web.AppKey("openapi", dict)
STATUS_CPU = web.AppKey("status_cpu", CpuSampler)


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    # The route table is fixed once the app runs: its document is built once, not per request.
    app[OPENAPI] = build_document(app[ROUTES_KEY])
    app[STATUS_CPU] = CpuSampler()  # /v1/status's own CPU window, apart from the heartbeat's
    yield


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "agentReady": request.app[context.READINESS].ready})


async def status(request: web.Request) -> web.Response:
    return json_response(snapshot_of(request.app, request.app[STATUS_CPU]))


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


HEALTH_SCHEMA = {
    "type": "object",
    "required": ["status", "agentReady"],
    "properties": {"status": {"type": "string", "enum": ["ok"]}, "agentReady": {"type": "boolean"}},
}

STATUS_SCHEMA = {
    "type": "object",
    "required": ["agentReady", "version", "bootId", "startedAt", "uptimeS", "display", "chat", "metrics"],
    "properties": {
        "agentReady": {"type": "boolean"},
        "version": {"type": "string"},
        "bootId": {"type": "string"},
        "startedAt": {"type": "string"},
        "uptimeS": {"type": "number"},
        "display": {
            "type": "object",
            "required": ["name", "connected", "width", "height"],
            "properties": {
                "name": {"type": "string", "nullable": True},
                "connected": {"type": "boolean"},
                "width": {"type": "integer"},
                "height": {"type": "integer"},
            },
        },
        "chat": {
            "type": "object",
            "required": ["configured", "reachable"],
            "properties": {"configured": {"type": "boolean"}, "reachable": {"type": "boolean"}},
        },
        "metrics": METRICS_SCHEMA,
    },
}

ROUTES = [
    Route("GET", "/v1/health", health, "Liveness: the process is up (no auth)", response=HEALTH_SCHEMA, errors=(), auth=False),
    Route("GET", "/v1/status", status, "Readiness, version, display, chat and host metrics", response=STATUS_SCHEMA, errors=()),
    Route("GET", "/v1/openapi.json", openapi, "This OpenAPI 3 document", response={"type": "object"}, errors=()),
]
