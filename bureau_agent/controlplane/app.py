"""The control plane's aiohttp application: the public /v1 API, the dashboard, the agents' heartbeat route.

Every /v1 route but /v1/health and /v1/openapi.json needs `Authorization: Bearer sk_live_…`, or
the dashboard's session cookie (same rights as the key it was made from; see sessions.py for
what else a cookie request must show). The order of checks is: the key (401), the key's rate
limit (429), the route's capability (403), the desktop (404), then for control and chat routes
the desktop's state (503) before the call goes to its agent. A streamed answer (a screen
stream, an event stream) counts once against the rate limit, when it opens.

Every route is a Route declaration (httpkit.routes): ROUTES registers them and builds
/v1/openapi.json from them, so the document lists exactly what the router serves.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from bureau_agent import __version__
from bureau_agent.config import is_loopback
from bureau_agent.controlplane import dashboard, schemas
from bureau_agent.controlplane.appkeys import CLIENT, CONFIG, DESKTOPS, EVENTS, KEYS, LIMITER, OPENAPI, ROUTES, SESSIONS
from bureau_agent.controlplane.config import ControlPlaneConfig
from bureau_agent.controlplane.desktops import DesktopManager, LocalDesktop
from bureau_agent.controlplane.errors import Forbidden, RateLimited, SessionRefused
from bureau_agent.controlplane.events import DesktopEvents, send_events
from bureau_agent.controlplane.keys import ApiKey, KeyStore
from bureau_agent.controlplane.proxy import AgentClient
from bureau_agent.controlplane.ratelimit import RateLimiter
from bureau_agent.controlplane.routes import FORWARDS, Forward
from bureau_agent.controlplane.sessions import COOKIE, SessionStore, cookie_request_refusal
from bureau_agent.errors import Busy, InvalidRequest, NotFound, Unauthorized
from bureau_agent.httpkit.auth import bearer_token
from bureau_agent.httpkit.http import json_response, read_json
from bureau_agent.httpkit.middleware import error_middleware, payload_too_large
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import Schema, enum, integer, obj, string
from bureau_agent.httpkit.serving import start_listening, wait_for_stop_signal

log = logging.getLogger("bureau_agent.controlplane")

# typed request keys (a plain string key draws aiohttp's NotAppKeyWarning on every request)
REQUEST_KEY = web.RequestKey("api_key", ApiKey)
RATE_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("rate_limit_headers", dict)

PUBLIC_PATHS = frozenset({"/v1/health", "/v1/openapi.json"})
LIFECYCLE = ("start", "stop", "restart")
MAX_BEAT_BYTES = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Known fields are checked; others are accepted so that a newer agent can add to its beat.
BEAT: Schema = obj(
    {
        "desktopId": string(64, min_length=1),
        "state": enum("starting", "ready", "degraded", "stopping"),
        "agentReady": {"type": "boolean"},
        "bootId": string(128, min_length=1),
        "seq": integer(0),
        "version": string(64),
        "uptimeS": {"type": "number"},
        "sentAt": string(64),
    },
    ("desktopId", "state", "agentReady", "bootId", "seq"),
    additionalProperties={},
)


def make_key_middleware(config: ControlPlaneConfig) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def key_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v1/") or request.path in PUBLIC_PATHS:
            return await handler(request)
        key = _authenticate(request)
        limit = key.rate_limit_per_minute or config.rate_limit_per_minute
        decision = request.app[LIMITER].take(key.id, limit)
        if not decision.allowed:
            log.info("rate limited", extra={"key": key.name, "path": request.path})
            raise RateLimited(limit, decision.retry_after_s)
        request[REQUEST_KEY] = key
        # Added as the answer's headers go out (on_response_prepare), which for a streamed
        # answer is before the handler returns.
        request[RATE_HEADERS] = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(decision.remaining)}
        started = time.monotonic()
        response = await handler(request)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "key": key.name,
                "ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return response

    return key_middleware


def _authenticate(request: web.Request) -> ApiKey:
    """The key of the Authorization header, or else of the dashboard's session cookie."""
    if "Authorization" in request.headers or COOKIE not in request.cookies:
        key = request.app[KEYS].authenticate(bearer_token(request) or "")
        if key is None:
            raise Unauthorized("A valid API key is required: Authorization: Bearer sk_live_….")
        return key
    key = request.app[SESSIONS].lookup(request.cookies[COOKIE])
    if key is None:
        raise Unauthorized("The dashboard session has ended; sign in again with an API key.")
    refusal = cookie_request_refusal(request)
    if refusal:
        log.info("dashboard session request refused", extra={"path": request.path, "reason": refusal})
        raise SessionRefused(refusal)
    return key


async def _add_rate_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(request.get(RATE_HEADERS, {}))


def requires(capability: str) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            key: ApiKey = request[REQUEST_KEY]
            if capability not in key.capabilities:
                raise Forbidden(capability, key.capabilities)
            return await handler(request)

        return checked

    return wrap


def _desktop(request: web.Request) -> LocalDesktop:
    desktop_id = request.match_info["id"]
    desktop = request.app[DESKTOPS].get(desktop_id)
    if desktop is None:
        raise NotFound(f"There is no desktop {desktop_id}.")
    return desktop


# public routes --------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def me(request: web.Request) -> web.Response:
    key: ApiKey = request[REQUEST_KEY]
    limit = key.rate_limit_per_minute or request.app[CONFIG].rate_limit_per_minute
    return json_response(
        {"id": key.id, "name": key.name, "capabilities": list(key.capabilities), "rateLimit": {"perMinute": limit}}
    )


@requires("desktop:read")
async def list_desktops(request: web.Request) -> web.Response:
    return json_response({"desktops": [d.to_json() for d in request.app[DESKTOPS].listed()]})


@requires("desktop:read")
async def get_desktop(request: web.Request) -> web.Response:
    return json_response(_desktop(request).to_json())


def lifecycle(action: str) -> Handler:
    @requires("desktop:lifecycle")
    async def handler(request: web.Request) -> web.Response:
        desktop = _desktop(request)
        await request.read()  # a body, if any, is ignored: these routes take none
        if action == "stop":
            await desktop.stop()
            return json_response(desktop.to_json())
        if action == "restart":
            await desktop.restart()
            return json_response(desktop.to_json(), status=202)
        queued = await desktop.start()
        return json_response(desktop.to_json(), status=202 if queued else 200)

    return handler


def forward(agent_path: str, capability: str) -> Handler:
    @requires(capability)
    async def handler(request: web.Request) -> web.StreamResponse:
        path = agent_path.format_map(request.match_info)  # {wid} and the like, as matched
        return await request.app[CLIENT].forward(_desktop(request), request, path)

    return handler


@requires("desktop:read")
async def desktops_stream(request: web.Request) -> web.StreamResponse:
    """The control plane's own server-sent events: desktop.status and desktop.metrics."""
    hub = request.app[EVENTS]
    sub = hub.subscribe()
    if sub is None:
        raise Busy("Too many dashboard streams are open; retry later.", retry_after_s=5)
    try:
        return await send_events(request, sub)
    finally:
        hub.unsubscribe(sub)


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


# the agents' heartbeat -------------------------------------------------------------------


async def heartbeat(request: web.Request) -> web.Response:
    # The credential first, the desktop second: an unauthenticated caller gets 401 whatever the
    # id, so it cannot learn which ids exist (a 404 only answers a caller holding a credential).
    sender = request.app[DESKTOPS].beat_sender(bearer_token(request))
    if sender is None:
        raise Unauthorized("This heartbeat does not carry a desktop's current heartbeat credential.")
    desktop = _desktop(request)
    if desktop is not sender:
        raise Unauthorized("This heartbeat credential belongs to another desktop.")
    try:
        # A clone with its own cap: the limit also holds for a chunked body, which has no
        # Content-Length to check up front (read_json has no size parameter of its own).
        beat = await read_json(request.clone(client_max_size=MAX_BEAT_BYTES), BEAT)
    except web.HTTPRequestEntityTooLarge:
        raise payload_too_large(MAX_BEAT_BYTES) from None  # the middleware would name max_body_bytes
    if beat["desktopId"] != desktop.id:
        raise InvalidRequest(f"desktopId {beat['desktopId']!r} does not match the desktop {desktop.id} of this URL.")
    accepted = desktop.liveness.record(beat)
    if not accepted:
        log.info("stale heartbeat ignored", extra={"desktop": desktop.id, "seq": beat["seq"]})
    else:
        request.app[EVENTS].metrics(desktop.id, beat.get("metrics"))
    interval = request.app[CONFIG].heartbeat_interval_s
    return json_response({"intervalS": int(interval) if interval == int(interval) else interval})


# the application ---------------------------------------------------------------------------


DESKTOP_ID = {"id": string(64, description="the desktop's id, dsk_…")}
FORWARD_ERRORS = (400, 403, 404, 429, 502, 503)


def _forward_route(fwd: Forward) -> Route:
    path = "/v1/desktops/{id}/" + fwd.path
    media = schemas.forwarded_media(fwd.path)
    return Route(
        fwd.method,
        path,
        forward(fwd.agent_path, fwd.capability),
        f"{fwd.summary} (forwarded to the agent's {fwd.method} /v1/{fwd.agent_path}; needs {fwd.capability})",
        body=schemas.agent_body("request body") if fwd.method in ("POST", "PUT") else None,
        response=schemas.agent_body("answer") if fwd.method != "HEAD" else None,
        response_media=media,
        errors=FORWARD_ERRORS,
        path_params={**DESKTOP_ID, **schemas.path_params(fwd.path)},
    )


def build_routes() -> list[Route]:
    """Every route of the control plane, in registration order."""
    desktop_path = {"path_params": DESKTOP_ID}
    routes = [
        Route("GET", "/v1/health", health, "Liveness (no auth)", response=schemas.HEALTH, errors=(), auth=False),
        Route("GET", "/v1/openapi.json", openapi, "This OpenAPI 3 document of every route (no auth)",
              response={"type": "object"}, errors=(), auth=False),
        Route("GET", "/v1/me", me, "The calling key: id, name, capabilities, rate limit", response=schemas.ME, errors=(429,)),
        Route("GET", "/v1/desktops", list_desktops, "Every desktop (needs desktop:read)", response=schemas.DESKTOPS,
              errors=(403, 429)),
        Route("GET", "/v1/desktops/stream", desktops_stream,
              "Server-sent events of every desktop's status and metrics (needs desktop:read)",
              response_media={"text/event-stream": {"type": "string", "description": schemas.DESKTOPS_STREAM}},
              errors=(403, 429)),
        Route("GET", "/v1/desktops/{id}", get_desktop, "One desktop (needs desktop:read)", response=schemas.DESKTOP,
              errors=(403, 404, 429), **desktop_path),
    ]
    for action in LIFECYCLE:
        routes.append(
            Route("POST", f"/v1/desktops/{{id}}/{action}", lifecycle(action),
                  f"{action.capitalize()} the desktop (needs desktop:lifecycle); 202 while it boots",
                  response=schemas.DESKTOP, errors=(403, 404, 429), **desktop_path,
                  extra_responses={} if action == "stop" else {"202": {"description": "queued: poll until agentReady",
                                   "content": {"application/json": {"schema": schemas.DESKTOP}}}})
        )
    routes += [_forward_route(fwd) for fwd in FORWARDS]
    routes.append(
        Route("POST", "/agent/v1/desktops/{id}/heartbeat", heartbeat,
              "An agent's heartbeat (its own heartbeat token, not an API key)", body=BEAT,
              response=schemas.HEARTBEAT_REPLY, errors=(400, 401, 404), auth=False, **desktop_path)
    )
    routes += dashboard.ROUTES
    return routes  # fmt: skip


def create_app(config: ControlPlaneConfig) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, make_key_middleware(config)], client_max_size=config.max_body_bytes
    )
    app.on_response_prepare.append(_add_rate_headers)
    app[CONFIG] = config
    app[KEYS] = KeyStore(config.keys)
    app[LIMITER] = RateLimiter()
    app[SESSIONS] = SessionStore()
    client = AgentClient()
    app[CLIENT] = client
    desktops = DesktopManager(config, client.ready, on_change=lambda desktop_id: app[EVENTS].changed(desktop_id))
    app[DESKTOPS] = desktops
    app[EVENTS] = DesktopEvents(
        desktops.desktops, lambda desktop_id: (desktops.desktops[desktop_id].status, desktops.desktops[desktop_id].agent_ready)
    )
    routes = build_routes()
    app[ROUTES] = routes
    app[OPENAPI] = schemas.openapi_document(routes, __version__)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        await client.open()
        app[EVENTS].start()
        try:
            yield
        finally:
            await app[DESKTOPS].close()  # every child process of every desktop
            await app[EVENTS].close()
            await client.close()

    async def end_streams(app: web.Application) -> None:
        # Before aiohttp waits for the handlers: an open stream must not hold the shutdown.
        await app[EVENTS].close()
        for desktop in app[DESKTOPS].listed():
            desktop.end_streams()

    app.cleanup_ctx.append(lifespan)
    app.on_shutdown.append(end_streams)
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
    return app


def heartbeat_base(host: str, port: int) -> str:
    """The URL the agents reach this control plane at (a wildcard listen means loopback)."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if addr.is_unspecified:
        addr = ipaddress.ip_address("::1" if addr.version == 6 else "127.0.0.1")
    return f"http://[{addr}]:{port}" if addr.version == 6 else f"http://{addr}:{port}"


async def serve(config: ControlPlaneConfig) -> int:
    app = create_app(config)
    runner = await start_listening(app, config.listen_host, config.listen_port)
    if runner is None:
        return 1
    port = runner.addresses[0][1]
    base = heartbeat_base(config.listen_host, port)
    if not is_loopback(config.listen_host):
        log.warning(
            "listening beyond loopback over plain HTTP: API keys and calls cross the network unencrypted; "
            "listen on 127.0.0.1, or put a TLS proxy in front",
            extra={"listen": config.listen},
        )
    log.info("control plane listening", extra={"url": base, "desktops": len(app[DESKTOPS].desktops)})
    # Signal handlers before the desktops boot, so Ctrl-C during a boot still stops cleanly.
    stopped = asyncio.get_running_loop().create_task(wait_for_stop_signal())
    await app[DESKTOPS].start_autostart(base)
    await stopped
    log.info("control plane stopping")
    # Desktops first, while the listener is still up: their agents' last beats can arrive.
    await app[DESKTOPS].close()
    await runner.cleanup()
    log.info("control plane stopped")
    return 0
