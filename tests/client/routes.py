"""Which public routes this branch serves, read from the code (not probed, so that a route that
breaks fails its test instead of skipping it): the control plane's forwards table, the agent's
Route declarations, the control plane's own routes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bureau_agent.controlplane.routes import FORWARDS

PACKAGE = Path(__file__).resolve().parents[2] / "bureau_agent"
FORWARDED = {(f.method, f.path) for f in FORWARDS}


def _declared(folder: str, text: str) -> bool:
    return any(text in path.read_text(encoding="utf-8") for path in (PACKAGE / folder).rglob("*.py"))


def served(method: str, path: str, agent_path: str | None = None) -> pytest.MarkDecorator:
    """Skip (saying why) until the control plane forwards the route and the agent declares it."""
    agent = f'"/v1/{agent_path or path}"'
    ok = (method, path) in FORWARDED and _declared("api", agent)
    return pytest.mark.skipif(not ok, reason=f"{method} /v1/desktops/:id/{path} is not served on this branch yet")


def control_plane_serves(path: str) -> pytest.MarkDecorator:
    ok = _declared("controlplane", f'"{path}"')
    return pytest.mark.skipif(not ok, reason=f"the control plane has no {path} on this branch yet")
