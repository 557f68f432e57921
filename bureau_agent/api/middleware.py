"""The agent's token middleware (the error middleware and bearer parsing are httpkit's)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from aiohttp import web

from bureau_agent.config import is_loopback
from bureau_agent.errors import Unauthorized
from bureau_agent.httpkit.auth import bearer_token, token_matches
from bureau_agent.httpkit.middleware import payload_too_large

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


def make_auth_middleware(
    token: str | None,
    max_body_bytes: int,
    public: Collection[str],
    streamed: Collection[tuple[str, str]] = (),
    body_limits: Mapping[str, int] | None = None,
) -> web.middleware:
    """Every path but the public ones needs `Authorization: Bearer <token>`.

    token None means development mode (loopback only, checked at start-up). Bound to loopback is
    not enough there: a web page in a local browser can still send a request (a text/plain POST
    needs no CORS preflight), and DNS rebinding lets it read the answer. So without a token a
    request that carries an Origin header (browsers add it to those) or names a Host that is not
    loopback is refused. Oversized bodies announced by Content-Length are refused before
    anything is read, except on the streamed routes ((method, path): uploads with a limit of their own).
    body_limits gives a route (by its path pattern) a limit of its own instead of max_body_bytes;
    its handler reads the body with that limit (request.clone(client_max_size=…)).
    """
    public_paths = frozenset(public)
    streamed_routes = frozenset(streamed)
    limits = dict(body_limits or {})

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
        resource = request.match_info.route.resource
        limit = limits.get(resource.canonical, max_body_bytes) if resource is not None else max_body_bytes
        if (
            request.content_length is not None
            and request.content_length > limit
            and (request.method, request.path) not in streamed_routes
        ):
            raise payload_too_large(limit)
        return await handler(request)

    return auth_middleware
