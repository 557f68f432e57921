"""Typed application keys: how handlers and the app factory reach the services it created.

One module for every key, below api/ and beside the domain: the keys name domain objects, not
HTTP, so the heartbeat wiring and the status document read them without importing the handlers.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from bureau_agent.accessibility.threaded import ThreadedAccessibility
from bureau_agent.chat.relay import ChatRelay
from bureau_agent.config import Settings
from bureau_agent.control.heartbeat import Heartbeat
from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.clipboard import Clipboard
from bureau_agent.desktop.damage import DamageWatcher
from bureau_agent.desktop.display import Display
from bureau_agent.desktop.input_service import InputService
from bureau_agent.desktop.readiness import Readiness
from bureau_agent.events import EventLog
from bureau_agent.desktop.screenshots import Screenshots
from bureau_agent.desktop.windows import WindowService
from bureau_agent.files.service import FileService
from bureau_agent.httpkit.routes import Route
from bureau_agent.process.runner import Runner
from bureau_agent.system.identity import Identity
from bureau_agent.system.metrics import CpuSampler
from bureau_agent.viewers import Viewers


class ChatStatus(Protocol):
    """What /v1/status and the heartbeat need to know about the chat relay."""

    def status(self) -> dict[str, Any]:  # {"configured": bool, "reachable": bool}
        ...


SETTINGS = web.AppKey("settings", Settings)
IDENTITY = web.AppKey("identity", Identity)
ROUTES = web.AppKey("routes", list[Route])
OPENAPI = web.AppKey("openapi", dict)
STATUS_CPU = web.AppKey("status_cpu", CpuSampler)  # /v1/status's own CPU window, apart from the heartbeat's
HEARTBEAT = web.AppKey("heartbeat", Heartbeat)

DISPLAY = web.AppKey("display", Display)
CAPTURER = web.AppKey("capturer", Capturer)
DAMAGE = web.AppKey("damage", DamageWatcher)  # who drew what: act's settle wait, the screen stream
READINESS = web.AppKey("readiness", Readiness)
INPUT = web.AppKey("input", InputService)
SCREENSHOTS = web.AppKey("screenshots", Screenshots)
WINDOWS = web.AppKey("windows", WindowService)
CLIPBOARD = web.AppKey("clipboard", Clipboard)
RUNNER = web.AppKey("process_runner", Runner)
RELAY = web.AppKey("chat_relay", ChatRelay)
CHAT_STATUS = web.AppKey("chat_status", ChatStatus)
FILES = web.AppKey("files", FileService)
ACCESSIBILITY = web.AppKey("accessibility", ThreadedAccessibility)
SCREEN_VIEWERS = web.AppKey("screen_viewers", Viewers)
EVENTS = web.AppKey("events", EventLog)
EVENT_VIEWERS = web.AppKey("event_viewers", Viewers)
