"""An OpenAPI 3 document generated from the same Route table that registers the handlers."""

from __future__ import annotations

import re
from typing import Any

from bureau_agent.httpkit.routes import Route

_ERROR_TEXT = {
    400: "Invalid request (invalid_request, out_of_bounds or unknown_key)",
    401: "Missing or wrong bearer token (unauthorized)",
    404: "Not found",
    403: "The desktop user may not do this (permission_denied)",
    409: "The target exists (exists) or is a non-empty directory (not_empty)",
    413: "Body over the configured limit (payload_too_large)",
    416: "The range does not overlap the file (range_not_satisfiable)",
    507: "The disk filled; nothing was left behind (insufficient_storage)",
    429: "Too many concurrent calls (busy); see Retry-After",
    503: "The display or the chat agent is unavailable; see Retry-After",
    504: "The chat agent did not answer in time (chat_timeout)",
    500: "A bug (internal)",
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


def _clean(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop the validator-only keywords that OpenAPI 3.0 does not know."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("allowNul",):
            continue
        if isinstance(value, dict):
            value = _clean(value) if key != "properties" else {k: _clean(v) for k, v in value.items()}
        elif isinstance(value, list):
            value = [_clean(v) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", route.method.lower() + route.path.removeprefix("/v1")).strip("_"),
        "responses": {},
    }
    # Path parameters on the operation, not the path item: a path's keys are then all methods.
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _clean(schema)} for name, schema in route.path_params.items()
    ] + [
        {"name": name, "in": "query", "required": False, "schema": _clean(schema)} for name, schema in route.query.items()
    ]
    if parameters:
        op["parameters"] = parameters
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _clean(route.body)}}}
    elif route.request_media:
        op["requestBody"] = {"required": True, "content": {media: {"schema": s} for media, s in route.request_media.items()}}
    ok: dict[str, Any] = {"description": "OK"}
    content: dict[str, Any] = {}
    if route.response is not None:
        content["application/json"] = {"schema": _clean(route.response)}
    if route.response_media:  # beside JSON when a route answers both (format=text)
        content.update({media: {"schema": schema} for media, schema in route.response_media.items()})
    if content:
        ok["content"] = content
    if route.response_headers:
        ok["headers"] = {name: {"schema": schema} for name, schema in route.response_headers.items()}
    op["responses"]["200"] = ok
    op["responses"].update(route.extra_responses)
    statuses = set(route.errors) | {500}
    if route.auth:
        statuses.add(401)
    if route.body is not None:
        statuses |= {400, 413}
    for status in sorted(statuses):
        op["responses"][str(status)] = {
            "description": _ERROR_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    if not route.auth:
        op["security"] = []
    return op


def build_document(routes: list[Route], *, title: str, version: str, description: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": version,
            "description": description,
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
