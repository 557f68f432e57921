"""The status document: the agent's state, built once per reading, that /v1/status answers
and the heartbeat sends (agent-api.md). One object, one schema, two readers.

Pure (no aiohttp, no X): snapshot.status_of builds it from the app's services; the control
layer reads it without knowing the app.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bureau_agent.system.metrics import METRICS_SCHEMA

NOT_CONFIGURED_CHAT = {"configured": False, "reachable": False}


@dataclasses.dataclass(frozen=True)
class StatusDocument:
    agent_ready: bool
    version: str
    boot_id: str
    started_at: str
    uptime_s: float
    display: dict[str, Any]
    chat: dict[str, Any]
    metrics: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The body of GET /v1/status (STATUS_SCHEMA)."""
        return {
            "agentReady": self.agent_ready,
            "version": self.version,
            "bootId": self.boot_id,
            "startedAt": self.started_at,
            "uptimeS": self.uptime_s,
            "display": self.display,
            "chat": self.chat,
            "metrics": self.metrics,
        }

    def beat_fields(self) -> dict[str, Any]:
        """What a heartbeat carries of it (the beat adds desktopId, state, seq and sentAt)."""
        status = self.to_json()
        del status["startedAt"]  # the control plane has bootId and uptimeS
        return status


STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["agentReady", "version", "bootId", "startedAt", "uptimeS", "display", "chat", "metrics"],
    "properties": {
        "agentReady": {"type": "boolean"},
        "version": {"type": "string"},
        "bootId": {"type": "string"},
        "startedAt": {"type": "string"},
        "uptimeS": {"type": "number"},
        "display": {
            "type": "object",
            "required": ["name", "connected", "width", "height"],
            "properties": {
                "name": {"type": "string", "nullable": True},
                "connected": {"type": "boolean"},
                "width": {"type": "integer"},
                "height": {"type": "integer"},
            },
        },
        "chat": {
            "type": "object",
            "required": ["configured", "reachable"],
            "properties": {"configured": {"type": "boolean"}, "reachable": {"type": "boolean"}},
        },
        "metrics": METRICS_SCHEMA,
    },
}
