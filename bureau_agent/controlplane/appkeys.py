"""The control plane's typed application keys, in one place (the agent has its own in bureau_agent.appkeys)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bureau_agent.controlplane.config import ControlPlaneConfig
from bureau_agent.controlplane.desktops import DesktopManager
from bureau_agent.controlplane.events import DesktopEvents
from bureau_agent.controlplane.keys import KeyStore
from bureau_agent.controlplane.proxy import AgentClient
from bureau_agent.controlplane.ratelimit import RateLimiter
from bureau_agent.controlplane.sessions import SessionStore
from bureau_agent.httpkit.routes import Route

CONFIG = web.AppKey("config", ControlPlaneConfig)
KEYS = web.AppKey("keys", KeyStore)
LIMITER = web.AppKey("limiter", RateLimiter)
CLIENT = web.AppKey("agent_client", AgentClient)
DESKTOPS = web.AppKey("desktops", DesktopManager)
EVENTS = web.AppKey("desktop_events", DesktopEvents)
SESSIONS = web.AppKey("sessions", SessionStore)
ROUTES = web.AppKey("routes", list[Route])
OPENAPI = web.AppKey("openapi", dict[str, Any])
