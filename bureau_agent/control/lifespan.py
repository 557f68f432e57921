"""Wiring of the heartbeat into the application: created after the desktop services, so the
first beat already knows agentReady; stopped first, so the last `stopping` beat goes out after
calls in flight have finished and before the display closes.

setup_heartbeat(app, token) is all create_app needs to call. Without a heartbeat URL nothing
runs. The token is handed to the client only to build the Authorization header; it is never
logged.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import AsyncIterator

from aiohttp import web

from bureau_agent.api import context
from bureau_agent.control.client import ControlPlaneClient
from bureau_agent.control.heartbeat import Heartbeat
from bureau_agent.snapshot import snapshot_of
from bureau_agent.system.metrics import CpuSampler

log = logging.getLogger("bureau_agent.heartbeat")

HEARTBEAT = web.AppKey("heartbeat", Heartbeat)


def setup_heartbeat(app: web.Application, token: str | None) -> None:
    app.cleanup_ctx.append(functools.partial(heartbeat_lifespan, token=token))
    app.on_shutdown.append(_begin_stopping)


async def heartbeat_lifespan(app: web.Application, token: str | None) -> AsyncIterator[None]:
    settings = app[context.SETTINGS]
    if not settings.heartbeat_url:
        yield
        return
    if not settings.desktop_id:
        log.warning("heartbeat without a desktop id: set desktop_id (BUREAU_AGENT_DESKTOP_ID)")
    readiness = app[context.READINESS]
    cpu = CpuSampler()  # the heartbeat's own CPU window: /v1/status calls do not shrink it
    heartbeat = Heartbeat(
        ControlPlaneClient(settings.heartbeat_url, token, settings.heartbeat_timeout_s),
        settings.desktop_id,
        lambda: snapshot_of(app, cpu),
        lambda: readiness.ready,
        interval_s=settings.heartbeat_interval_s,
        random=random.SystemRandom().random,
        startup_grace_s=settings.heartbeat_startup_grace_s,
    )
    readiness.add_listener(lambda ready: heartbeat.changed())
    app[HEARTBEAT] = heartbeat
    log.info("heartbeat started", extra={"url": settings.heartbeat_url, "intervalS": settings.heartbeat_interval_s})
    heartbeat.start()
    try:
        yield
    finally:
        await heartbeat.stop()


async def _begin_stopping(app: web.Application) -> None:
    """on_shutdown runs once the listener is closed, before calls in flight are awaited: from
    then on only the last `stopping` beat is sent."""
    heartbeat = app.get(HEARTBEAT)
    if heartbeat is not None:
        heartbeat.begin_stopping()
