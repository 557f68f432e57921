"""Helpers to build an agent for tests: settings for a display, the token, auth headers."""

from __future__ import annotations

from typing import Any

from bureau_agent.config import Settings, load_settings

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# The heartbeat's own credential: never the agent token (config.resolve_heartbeat_token refuses that).
HEARTBEAT_TOKEN = "test-heartbeat-0123456789abcdef"


def agent_settings(display: str | None, **overrides: Any) -> Settings:
    """Settings as the daemon would resolve them, isolated from the machine's environment."""
    values: dict[str, Any] = {"config": "/dev/null", "display": display, "token": TOKEN}
    values.update(overrides)
    if values.get("heartbeat_url") and "heartbeat_token_file" not in values:
        values.setdefault("heartbeat_token", HEARTBEAT_TOKEN)
    return load_settings(environ={}, overrides=values)
