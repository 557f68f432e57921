"""GET /v1/health, /v1/status and /v1/openapi.json."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bureau_agent import __version__, appkeys
from bureau_agent.httpkit.http import json_response
from bureau_agent.httpkit.openapi import build_document
from bureau_agent.api.feature import Feature
from bureau_agent.httpkit.routes import Route
from bureau_agent.snapshot import status_of
from bureau_agent.status import STATUS_SCHEMA
from bureau_agent.system.metrics import CpuSampler



async def lifespan(app: web.Application) -> AsyncIterator[None]:
    # The route table is fixed once the app runs: its document is built once, not per request.
    app[appkeys.OPENAPI] = build_document(
        app[appkeys.ROUTES],
        title="bureau-agent",
        version=__version__,
        description="The HTTP API of the agent inside each bureau desktop. Every route but "
        "/v1/health needs `Authorization: Bearer <agent token>`.",
    )
    app[appkeys.STATUS_CPU] = CpuSampler()
    yield


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "agentReady": request.app[appkeys.READINESS].ready})


async def status(request: web.Request) -> web.Response:
    return json_response(status_of(request.app, request.app[appkeys.STATUS_CPU]).to_json())


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[appkeys.OPENAPI])


HEALTH_SCHEMA = {
    "type": "object",
    "required": ["status", "agentReady"],
    "properties": {"status": {"type": "string", "enum": ["ok"]}, "agentReady": {"type": "boolean"}},
}

ROUTES = [
    Route("GET", "/v1/health", health, "Liveness: the process is up (no auth)", response=HEALTH_SCHEMA, errors=(), auth=False),
    Route("GET", "/v1/status", status, "Readiness, version, display, chat and host metrics", response=STATUS_SCHEMA, errors=()),
    Route("GET", "/v1/openapi.json", openapi, "This OpenAPI 3 document", response={"type": "object"}, errors=()),
]

FEATURE = Feature("system", ROUTES, lifespan=lifespan)
