"""The agent's state as /v1/status shows it and the heartbeat sends it: built in one place.

Below both the HTTP layer (api/system.py) and the control layer (control/lifespan.py), which
each pass their own CpuSampler so that neither resets the other's CPU window.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.system import metrics

NOT_CONFIGURED_CHAT = {"configured": False, "reachable": False}


def snapshot_of(app: web.Application, cpu: metrics.CpuSampler) -> dict[str, Any]:
    chat = app[appkeys.CHAT_STATUS].status() if appkeys.CHAT_STATUS in app else None
    return {
        "agentReady": app[appkeys.READINESS].ready,
        **app[appkeys.IDENTITY].to_json(),
        "display": app[appkeys.DISPLAY].state.to_json(),
        "chat": chat or dict(NOT_CONFIGURED_CHAT),
        "metrics": metrics.collect(cpu),
    }
