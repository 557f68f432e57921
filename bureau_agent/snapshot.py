"""The agent's state as /v1/status shows it and the heartbeat sends it: built in one place."""

from __future__ import annotations

from typing import Any

from bureau_agent.desktop.display import Display
from bureau_agent.desktop.readiness import Readiness
from bureau_agent.system import metrics
from bureau_agent.system.identity import Identity

NOT_CONFIGURED_CHAT = {"configured": False, "reachable": False}


def agent_snapshot(
    identity: Identity, display: Display, readiness: Readiness, chat: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "agentReady": readiness.ready,
        **identity.to_json(),
        "display": display.state.to_json(),
        "chat": chat or dict(NOT_CONFIGURED_CHAT),
        "metrics": metrics.collect(),
    }
