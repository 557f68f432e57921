"""The control plane's aiohttp application: the public /v1 API and the agents' heartbeat route.

Every /v1 route but /v1/health needs `Authorization: Bearer sk_live_…`. The order of checks is:
the key (401), the key's rate limit (429), the route's capability (403), the desktop (404), then
for control and chat routes the desktop's state (503) before the call goes to its agent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from bureau_agent.httpkit.http import json_response, read_json
from bureau_agent.httpkit.auth import bearer_token, token_matches
from bureau_agent.httpkit.middleware import error_middleware, payload_too_large
from bureau_agent.httpkit.schema import Schema, enum, integer, obj, string
from bureau_agent.controlplane.config import ControlPlaneConfig
from bureau_agent.controlplane.desktops import DesktopManager, LocalDesktop
from bureau_agent.controlplane.errors import Forbidden, RateLimited
from bureau_agent.controlplane.keys import ApiKey, KeyStore
from bureau_agent.controlplane.proxy import AgentClient
from bureau_agent.controlplane.ratelimit import RateLimiter
from bureau_agent.controlplane.routes import FORWARDS
from bureau_agent.errors import InvalidRequest, NotFound, Unauthorized
from bureau_agent.httpkit.serving import start_listening, wait_for_stop_signal

log = logging.getLogger("bureau_agent.controlplane")

CONFIG = web.AppKey("config", ControlPlaneConfig)
KEYS = web.AppKey("keys", KeyStore)
LIMITER = web.AppKey("limiter", RateLimiter)
CLIENT = web.AppKey("agent_client", AgentClient)
DESKTOPS = web.AppKey("desktops", DesktopManager)
REQUEST_KEY = "api_key"
RATE_HEADERS = "rate_limit_headers"

PUBLIC_PATHS = frozenset({"/v1/health"})
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
        key = request.app[KEYS].authenticate(bearer_token(request) or "")
        if key is None:
            raise Unauthorized("A valid API key is required: Authorization: Bearer sk_live_….")
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


# the agents' heartbeat -------------------------------------------------------------------


async def heartbeat(request: web.Request) -> web.Response:
    desktop = _desktop(request)
    # constant time, and the same for a stopped desktop (no token) as for a wrong token
    if not token_matches(bearer_token(request), desktop.token):
        raise Unauthorized("This heartbeat does not carry the desktop's current agent token.")
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
    interval = request.app[CONFIG].heartbeat_interval_s
    return json_response({"intervalS": int(interval) if interval == int(interval) else interval})


# the application ---------------------------------------------------------------------------


def create_app(config: ControlPlaneConfig) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, make_key_middleware(config)], client_max_size=config.max_body_bytes
    )
    app.on_response_prepare.append(_add_rate_headers)
    app[CONFIG] = config
    app[KEYS] = KeyStore(config.keys)
    app[LIMITER] = RateLimiter()
    client = AgentClient()
    app[CLIENT] = client
    app[DESKTOPS] = DesktopManager(config, client.ready)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        await client.open()
        try:
            yield
        finally:
            await app[DESKTOPS].close()  # every child process of every desktop
            await client.close()

    app.cleanup_ctx.append(lifespan)
    r = app.router
    r.add_get("/v1/health", health)
    r.add_get("/v1/me", me)
    r.add_get("/v1/desktops", list_desktops)
    r.add_get("/v1/desktops/{id}", get_desktop)
    for action in LIFECYCLE:
        r.add_post(f"/v1/desktops/{{id}}/{action}", lifecycle(action))
    for fwd in FORWARDS:
        r.add_route(fwd.method, "/v1/desktops/{id}/" + fwd.path, forward(fwd.agent_path, fwd.capability))
    r.add_post("/agent/v1/desktops/{id}/heartbeat", heartbeat)
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
