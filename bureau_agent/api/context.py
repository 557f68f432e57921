"""Typed application keys: how handlers reach the services the app factory created."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from bureau_agent.config import Settings
from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.display import Display
from bureau_agent.desktop.readiness import Readiness
from bureau_agent.system.identity import Identity


class ChatStatus(Protocol):
    """What /v1/status and the heartbeat need to know about the chat relay."""

    def status(self) -> dict[str, Any]:  # {"configured": bool, "reachable": bool}
        ...


SETTINGS = web.AppKey("settings", Settings)
IDENTITY = web.AppKey("identity", Identity)
DISPLAY = web.AppKey("display", Display)
CAPTURER = web.AppKey("capturer", Capturer)
READINESS = web.AppKey("readiness", Readiness)
CHAT_STATUS = web.AppKey("chat_status", ChatStatus)
