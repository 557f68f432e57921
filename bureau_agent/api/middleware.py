"""The two middlewares: one that turns every failure into the error shape, one for the token."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from bureau_agent.api.http import json_response
from bureau_agent.errors import (
    AgentError,
    Internal,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)

log = logging.getLogger("bureau_agent.api")

PUBLIC_PATHS = frozenset({"/v1/health"})


def error_response(error: AgentError) -> web.Response:
    return json_response(error.to_json(), status=error.status, headers=error.headers)


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> AgentError:
    if isinstance(exc, web.HTTPNotFound):
        return NotFound(f"There is no route {request.path}.")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}; use {', '.join(sorted(exc.allowed_methods))}.",
            sorted(exc.allowed_methods),
        )
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge("The request body is larger than the configured limit.")
    if exc.status < 500:
        return InvalidRequest(exc.reason or "The request is malformed.")
    return Internal("The agent failed to answer this request.")


@web.middleware
async def error_middleware(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AgentError as exc:
        if exc.status >= 500:
            log.warning("request failed", extra={"path": request.path, "code": exc.code, "error": exc.message})
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and 304s are answers, not errors
            raise
        return error_response(_from_http_exception(exc, request))
    except (ConnectionResetError, OSError) as exc:
        if request.transport is None or request.transport.is_closing():
            raise  # the caller went away; nobody to answer
        log.exception("unexpected OS error", extra={"path": request.path})
        return error_response(Internal(f"The agent hit an OS error: {exc.strerror or type(exc).__name__}."))
    except Exception:
        log.exception("unexpected error", extra={"path": request.path})
        return error_response(Internal("The agent hit an unexpected error; it has been logged."))


def make_auth_middleware(token: str | None, max_body_bytes: int) -> web.middleware:
    """Every path but PUBLIC_PATHS needs `Authorization: Bearer <token>`.

    token None means development mode (loopback only, checked at start-up). Oversized bodies
    announced by Content-Length are refused before anything is read.
    """
    expected = token.encode("utf-8") if token else None

    @web.middleware
    async def auth_middleware(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS:
            return await handler(request)
        if expected is not None:
            header = request.headers.get("Authorization", "")
            scheme, _, presented = header.partition(" ")
            # compare_digest on bytes: constant time whatever the presented value is.
            ok = scheme.lower() == "bearer" and hmac.compare_digest(
                presented.strip().encode("utf-8", "surrogateescape"), expected
            )
            if not ok:
                raise Unauthorized()
        if request.content_length is not None and request.content_length > max_body_bytes:
            raise PayloadTooLarge(f"The request body is larger than the limit of {max_body_bytes} bytes.")
        return await handler(request)

    return auth_middleware
