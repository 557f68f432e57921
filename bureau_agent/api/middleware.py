"""The two middlewares: one that turns every failure into the error shape, one for the token.

bearer_token() and token_matches() are the one way a bearer token is read and checked, for any
server here that takes one.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Collection

from aiohttp import web

from bureau_agent.api.http import json_response
from bureau_agent.config import is_loopback
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

def bearer_token(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <token>` (the scheme is case-insensitive), or None."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return presented.strip() if scheme.lower() == "bearer" else None


def token_matches(presented: str | None, expected: str | None) -> bool:
    """Whether presented is expected, in constant time; no expected token matches nothing."""
    # compare_digest on bytes, run even without a token: the time says nothing of the value.
    same = hmac.compare_digest(
        (presented or "").encode("utf-8", "surrogateescape"), (expected or "\0").encode("utf-8", "surrogateescape")
    )
    return same and presented is not None and bool(expected)


def payload_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")


def is_loopback_host(host: str) -> bool:
    """Whether a Host header names a loopback host (localhost, 127.0.0.1, [::1], any port)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, sep, rest = host[1:].partition("]")
        port_ok = sep and (not rest or (rest[:1] == ":" and rest[1:].isdigit()))
    else:
        name, sep, port = host.partition(":")
        port_ok = not sep or port.isdigit()
    return bool(port_ok) and bool(name) and is_loopback(name)


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
    if isinstance(exc, web.HTTPRequestEntityTooLarge):  # read past the limit: a body sent without Content-Length
        return payload_too_large(request.client_max_size)
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
    except OSError as exc:  # ConnectionResetError included
        if request.transport is None or request.transport.is_closing():
            raise  # the caller went away; nobody to answer
        log.exception("unexpected OS error", extra={"path": request.path})
        return error_response(Internal(f"The agent hit an OS error: {exc.strerror or type(exc).__name__}."))
    except Exception:
        log.exception("unexpected error", extra={"path": request.path})
        return error_response(Internal("The agent hit an unexpected error; it has been logged."))


def make_auth_middleware(token: str | None, max_body_bytes: int, public: Collection[str]) -> web.middleware:
    """Every path but the public ones needs `Authorization: Bearer <token>`.

    token None means development mode (loopback only, checked at start-up). Bound to loopback is
    not enough there: a web page in a local browser can still send a request (a text/plain POST
    needs no CORS preflight), and DNS rebinding lets it read the answer. So without a token a
    request that carries an Origin header (browsers add it to those) or names a Host that is not
    loopback is refused. Oversized bodies announced by Content-Length are refused before
    anything is read.
    """
    public_paths = frozenset(public)

    @web.middleware
    async def auth_middleware(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
        if request.path in public_paths:
            return await handler(request)
        if token is not None:
            if not token_matches(bearer_token(request), token):
                raise Unauthorized()
        elif "Origin" in request.headers:
            raise Unauthorized("Development mode does not answer web pages: this request carries an Origin header.")
        elif not is_loopback_host(request.headers.get("Host", "")):
            raise Unauthorized("Development mode answers only requests whose Host is loopback (localhost, 127.0.0.1, [::1]).")
        if request.content_length is not None and request.content_length > max_body_bytes:
            raise payload_too_large(max_body_bytes)
        return await handler(request)

    return auth_middleware
