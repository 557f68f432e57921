"""Building the status document (status.StatusDocument) from the app's services, once per
reading: /v1/status (api/system.py) and the heartbeat (app.py hands it to control/) each call
status_of with a CpuSampler of their own, so that neither resets the other's CPU window.
"""

from __future__ import annotations

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.status import NOT_CONFIGURED_CHAT, StatusDocument
from bureau_agent.system import metrics


def status_of(app: web.Application, cpu: metrics.CpuSampler) -> StatusDocument:
    chat = app[appkeys.CHAT_STATUS].status() if appkeys.CHAT_STATUS in app else None
    identity = app[appkeys.IDENTITY]
    return StatusDocument(
        agent_ready=app[appkeys.READINESS].ready,
        version=identity.version,
        boot_id=identity.boot_id,
        started_at=identity.started_at,
        uptime_s=identity.uptime_s(),
        display=app[appkeys.DISPLAY].state.to_json(),
        chat=chat or dict(NOT_CONFIGURED_CHAT),
        metrics=metrics.collect(cpu),
    )
