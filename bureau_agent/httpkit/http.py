"""Small helpers that every handler uses to read a request and write an answer."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bureau_agent.httpkit.schema import Schema, parse_query, validate
from bureau_agent.errors import InvalidRequest


# The body as read_json parsed it (before the schema check), for what summarises the call
# afterwards (the action event): parsed once, never read again.
PARSED_BODY = web.RequestKey("httpkit_parsed_body", object)


async def read_json(request: web.Request, schema: Schema) -> dict[str, Any]:
    """The request body parsed as JSON and checked against schema; an empty body is {}."""
    raw = await request.read()  # over the limit: the error middleware makes it a 413
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidRequest("The request body is not valid UTF-8.") from None
        except RecursionError:
            raise InvalidRequest("The request body is nested too deeply.") from None
        except ValueError as exc:
            raise InvalidRequest(f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
    request[PARSED_BODY] = data
    return validate(data, schema)


def read_query(request: web.Request, params: dict[str, Schema]) -> dict[str, Any]:
    return parse_query(dict(request.query), params)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        # backslashreplace: a lone surrogate echoed from a request (JSON allows "\ud800") becomes
        # the JSON escape \ud800 again instead of failing the whole answer with a 500.
        body=json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace"),
        status=status,
        headers=headers,
        content_type="application/json",
    )
