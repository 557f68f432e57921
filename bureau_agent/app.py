"""The application factory and its lifecycle.

create_app() builds the aiohttp application: middlewares, every feature's routes, and the
services (display owner, capturer, readiness, …) opened and closed in cleanup contexts. Each
feature module under api/ exports one FEATURE (api/feature.py): its routes, and optionally a
lifespan (a cleanup context that creates its domain service under its key in appkeys) and
shutdown hooks.

Shutdown, in this order (aiohttp runs on_shutdown once the listener is closed, before it waits
for the handlers still running):
1. the heartbeat says `stopping` at once, so the control plane stops sending calls;
2. streams and subscribers are closed (features' on_stopping): they never hold the shutdown;
3. calls in flight get up to shutdown_grace_s to finish on their own (a `sleep 1; echo
   finished` answers `finished`);
4. what is still running is ended (features' on_shutdown, all at once so kill graces do not add
   up), and those calls answer with what they have;
5. the cleanup contexts close in reverse order: the heartbeat's first (the last `stopping`
   beat, bounded), then the features' services, then the display.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.api import accessibility, act, chat, clipboard, events, files, input, process, screenshot, stream, system, windows
from bureau_agent.api.feature import Feature
from bureau_agent.api.middleware import make_auth_middleware
from bureau_agent.config import Settings
from bureau_agent.control.client import ControlPlaneClient
from bureau_agent.control.heartbeat import Heartbeat
from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.damage import DamageWatcher
from bureau_agent.desktop.display import Display
from bureau_agent.desktop.readiness import Readiness
from bureau_agent.httpkit.middleware import error_middleware
from bureau_agent.httpkit.routes import Route
from bureau_agent.inflight import InFlight
from bureau_agent.snapshot import status_of
from bureau_agent.system.identity import Identity
from bureau_agent.system.metrics import CpuSampler

log = logging.getLogger("bureau_agent.app")

FEATURES: tuple[Feature, ...] = (
    system.FEATURE,
    input.FEATURE,
    screenshot.FEATURE,
    process.FEATURE,
    chat.FEATURE,
    files.FEATURE,
    accessibility.FEATURE,
    windows.FEATURE,
    clipboard.FEATURE,
    act.FEATURE,
    stream.FEATURE,
    events.FEATURE,
)

IN_FLIGHT = web.AppKey("in_flight", InFlight)


async def desktop_lifespan(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    display = Display(settings.display, reply_spin_s=settings.input_reply_spin_us / 1e6)
    capturer = Capturer(settings.display)
    readiness = Readiness(display, capturer)
    damage = DamageWatcher(settings.display)
    app[appkeys.DISPLAY], app[appkeys.CAPTURER], app[appkeys.READINESS] = display, capturer, readiness
    app[appkeys.DAMAGE] = damage
    await display.start()
    await readiness.start()
    damage.start()
    try:
        yield
    finally:
        await damage.close()
        await readiness.close()
        await capturer.close()
        await display.close()


def heartbeat_lifespan(heartbeat_token: str | None):  # type: ignore[no-untyped-def]
    """The heartbeat, created after every service (its first beat knows agentReady) and closed
    first (its last `stopping` beat goes out before the services close). The token is only
    handed to the client for its Authorization header; it is never logged."""

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        settings = app[appkeys.SETTINGS]
        if not settings.heartbeat_url:
            yield
            return
        if not settings.desktop_id:
            log.warning("heartbeat without a desktop id: set desktop_id (BUREAU_AGENT_DESKTOP_ID)")
        readiness = app[appkeys.READINESS]
        cpu = CpuSampler()  # the heartbeat's own CPU window: /v1/status calls do not shrink it
        heartbeat = Heartbeat(
            ControlPlaneClient(settings.heartbeat_url, heartbeat_token, settings.heartbeat_timeout_s),
            settings.desktop_id,
            lambda: status_of(app, cpu),
            lambda: readiness.ready,
            interval_s=settings.heartbeat_interval_s,
            random=random.SystemRandom().random,
            startup_grace_s=settings.heartbeat_startup_grace_s,
        )
        readiness.add_listener(lambda ready: heartbeat.changed())
        app[appkeys.HEARTBEAT] = heartbeat
        log.info("heartbeat started", extra={"url": settings.heartbeat_url, "intervalS": settings.heartbeat_interval_s})
        heartbeat.start()
        try:
            yield
        finally:
            await heartbeat.stop()

    return lifespan


async def _shutdown(app: web.Application) -> None:
    heartbeat = app.get(appkeys.HEARTBEAT)
    if heartbeat is not None:
        heartbeat.begin_stopping()
    await asyncio.gather(*(f.on_stopping(app) for f in FEATURES if f.on_stopping is not None))
    grace = app[appkeys.SETTINGS].shutdown_grace_s
    if not await app[IN_FLIGHT].drained(grace):
        log.info("calls still running after the shutdown grace are ended", extra={"calls": app[IN_FLIGHT].count})
    await asyncio.gather(*(f.on_shutdown(app) for f in FEATURES if f.on_shutdown is not None))


def create_app(settings: Settings, token: str | None, heartbeat_token: str | None = None) -> web.Application:
    """token None only in development mode (checked by config.resolve_token)."""
    if settings.xauthority:
        os.environ["XAUTHORITY"] = settings.xauthority  # python-xlib and libxcb read it from here
    routes: list[Route] = [route for feature in FEATURES for route in feature.routes]
    public = {route.path for route in routes if not route.auth}  # what the OpenAPI document says
    streamed = {(route.method, route.path) for route in routes if route.request_media}
    body_limits = {route.path: route.body_limit(settings) for route in routes if route.body_limit is not None}
    in_flight = InFlight()
    app = web.Application(
        middlewares=[
            in_flight.middleware,
            error_middleware,
            make_auth_middleware(token, settings.max_body_bytes, public, streamed, body_limits),
            events.make_action_middleware(routes),  # inside auth: a refused token is no call
        ],
        client_max_size=settings.max_body_bytes,
        # An upload (PUT /v1/files) is read as it arrives: a 1 MiB buffer instead of aiohttp's
        # 64 KiB means fewer pauses of the socket and fewer, larger chunks (measured: ~20 % less
        # CPU per upload). It fills only while a body comes faster than its handler reads it.
        handler_args={"read_bufsize": 1 << 20},
    )
    app[appkeys.SETTINGS] = settings
    app[appkeys.IDENTITY] = Identity.new()
    app[appkeys.ROUTES] = routes
    app[IN_FLIGHT] = in_flight
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
    app.cleanup_ctx.append(desktop_lifespan)
    app.cleanup_ctx.extend(f.lifespan for f in FEATURES if f.lifespan is not None)
    app.cleanup_ctx.append(heartbeat_lifespan(heartbeat_token))  # last: it reads every service, and stops first
    app.on_shutdown.append(_shutdown)
    return app
