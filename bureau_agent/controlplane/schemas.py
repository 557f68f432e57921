"""The JSON shapes of the control plane's own answers, for its OpenAPI document.

The forwarded routes carry the agent's bodies unchanged. Their schemas are not repeated here:
the control plane must not import the agent's API package (the layering test), and a copy
would drift. A forwarded route is documented as "the agent's body" (an open object) with a
pointer to the agent's own /v1/openapi.json, where the exact schemas are.
"""

from __future__ import annotations

import re
from typing import Any

from bureau_agent.httpkit.openapi import build_document
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import Schema

NUMBER: Schema = {"type": "number"}
NULLABLE_STRING: Schema = {"type": "string", "nullable": True}

HEALTH: Schema = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}

ME: Schema = {
    "type": "object",
    "required": ["id", "name", "capabilities", "rateLimit"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "capabilities": {"type": "array", "items": {"type": "string"}},
        "rateLimit": {"type": "object", "properties": {"perMinute": {"type": "integer"}}},
    },
}

DESKTOP: Schema = {
    "type": "object",
    "required": ["id", "name", "status", "tier", "ipAddress", "agentReady", "createdAt", "display", "heartbeat", "error"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "status": {"type": "string", "enum": ["stopped", "booting", "running", "stopping", "error"]},
        "tier": {"type": "string"},
        "ipAddress": NULLABLE_STRING,
        "agentReady": {"type": "boolean"},
        "createdAt": NULLABLE_STRING,
        "display": NULLABLE_STRING,
        "heartbeat": {
            "type": "object",
            "nullable": True,
            "properties": {
                "state": {"type": "string"},
                "agentReady": {"type": "boolean"},
                "bootId": {"type": "string"},
                "seq": {"type": "integer"},
                "ageS": NUMBER,
            },
        },
        "error": NULLABLE_STRING,
    },
}

DESKTOPS: Schema = {"type": "object", "required": ["desktops"], "properties": {"desktops": {"type": "array", "items": DESKTOP}}}

HEARTBEAT_REPLY: Schema = {"type": "object", "required": ["intervalS"], "properties": {"intervalS": NUMBER}}

DESKTOPS_STREAM = (
    "Server-sent events. `event: desktop.status` with `data: {id, status, agentReady}`: one per desktop when the "
    "stream opens, then one on every change. `event: desktop.metrics` with `data: {id, cpu, memory, disk}` "
    "(percentages, null when the agent did not report them) with each heartbeat. A subscriber that does not read "
    "loses events; the next thing it reads is a fresh desktop.status of every desktop."
)

SIGN_IN: Schema = {
    "type": "object",
    "required": ["key"],
    "additionalProperties": False,
    "properties": {"key": {"type": "string", "maxLength": 256, "description": "an API key, sk_live_…"}},
}

AGENT_DOCUMENT = "the agent's own GET /v1/openapi.json"


def agent_body(what: str) -> Schema:
    """A forwarded body: the agent's, passed through unchanged."""
    return {"type": "object", "description": f"The agent's {what}, unchanged; its schema is in {AGENT_DOCUMENT}."}


def forwarded_media(path: str) -> dict[str, Schema] | None:
    """The non-JSON answers a forwarded route can give (None: JSON only)."""
    if path == "screenshot":
        return {media: {"type": "string", "format": "binary"} for media in ("image/png", "image/jpeg", "image/webp")}
    if path == "screen/stream":
        return {"multipart/x-mixed-replace": {"type": "string", "format": "binary", "description": "one image part per frame"}}
    if path in ("events", "chat"):
        return {"text/event-stream": {"type": "string", "description": f"server-sent events; see {AGENT_DOCUMENT}"}}
    if path.startswith("files"):
        return {"application/octet-stream": {"type": "string", "format": "binary"}}
    return None


def path_params(path: str) -> dict[str, Any]:
    """A string schema for each {placeholder} of a path."""
    return {name: {"type": "string"} for name in re.findall(r"{(\w+)}", path)}


def openapi_document(routes: list[Route], version: str) -> dict[str, Any]:
    """The control plane's document: httpkit's, plus the cookie scheme and its own error texts."""
    document = build_document(
        routes,
        title="bureau local control plane",
        version=version,
        description=(
            "The public API of a local bureau control plane (docs/control-plane.md). Every /v1 route but /v1/health "
            "and /v1/openapi.json needs `Authorization: Bearer sk_live_…`, or the dashboard's session cookie. "
            "Forwarded routes (/v1/desktops/{id}/…) carry the agent's request and answer unchanged; their exact "
            f"bodies are described in {AGENT_DOCUMENT}."
        ),
    )
    document["components"]["securitySchemes"]["dashboardSession"] = {"type": "apiKey", "in": "cookie", "name": "bureau_session"}
    document["security"] = [{"bearer": []}, {"dashboardSession": []}]
    for status, text in ((403, "The key lacks the route's capability (forbidden: required, held), or a refused "
                              "dashboard-session request"), (404, "No such desktop or route (not_found)"),
                         (429, "The key's rate limit (rate_limited) or the agent's bound (busy); see Retry-After"),
                         (502, "The agent refused the control plane's credentials (bad_gateway)"),
                         (503, "The desktop is not running or its agent is not ready; see Retry-After")):
        for item in document["paths"].values():
            for op in item.values():
                if isinstance(op, dict) and str(status) in op.get("responses", {}):
                    op["responses"][str(status)]["description"] = text
    return document  # fmt: skip
