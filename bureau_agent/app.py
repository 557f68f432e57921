"""The application factory and its lifecycle.

create_app() builds the aiohttp application: middlewares, every feature's routes, and the
services (display owner, capturer, readiness, …) opened and closed in cleanup contexts. Each
feature module under api/ contributes ROUTES, and may contribute a `lifespan(app)` cleanup
context that creates its domain service and stores it under its own AppKey.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator

from aiohttp import web

from bureau_agent.api import chat, context, input, process, screenshot, system
from bureau_agent.api.middleware import error_middleware, make_auth_middleware
from bureau_agent.api.routes import Route
from bureau_agent.config import Settings
from bureau_agent.control.lifespan import setup_heartbeat
from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.display import Display
from bureau_agent.desktop.readiness import Readiness
from bureau_agent.system.identity import Identity

log = logging.getLogger("bureau_agent.app")

FEATURES = (system, input, screenshot, process, chat)


async def desktop_lifespan(app: web.Application) -> AsyncIterator[None]:
    settings = app[context.SETTINGS]
    display = Display(settings.display)
    capturer = Capturer(settings.display)
    readiness = Readiness(display, capturer)
    app[context.DISPLAY], app[context.CAPTURER], app[context.READINESS] = display, capturer, readiness
    await display.start()
    await readiness.start()
    try:
        yield
    finally:
        await readiness.close()
        await capturer.close()
        await display.close()


async def _end_calls_in_flight(app: web.Application) -> None:
    """Every feature's on_shutdown (ending its running commands, chat turns, …) at once, before
    the server waits for calls in flight; one after another, kill grace periods would add up."""
    hooks = [hook for feature in FEATURES if (hook := getattr(feature, "on_shutdown", None)) is not None]
    await asyncio.gather(*(hook(app) for hook in hooks))


def create_app(settings: Settings, token: str | None) -> web.Application:
    """token None only in development mode (checked by config.resolve_token)."""
    if settings.xauthority:
        os.environ["XAUTHORITY"] = settings.xauthority  # python-xlib and libxcb read it from here
    routes: list[Route] = []
    for feature in FEATURES:
        routes.extend(feature.ROUTES)
    public = {route.path for route in routes if not route.auth}  # what the OpenAPI document says
    app = web.Application(
        middlewares=[error_middleware, make_auth_middleware(token, settings.max_body_bytes, public)],
        client_max_size=settings.max_body_bytes,
    )
    app[context.SETTINGS] = settings
    app[context.IDENTITY] = Identity.new()
    app[system.ROUTES_KEY] = routes
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
    app.cleanup_ctx.append(desktop_lifespan)
    for feature in FEATURES:
        lifespan = getattr(feature, "lifespan", None)
        if lifespan is not None:
            app.cleanup_ctx.append(lifespan)
    app.on_shutdown.append(_end_calls_in_flight)
    setup_heartbeat(app, token)  # last: it reads every service, and stops first
    return app
