"""Fixtures: a real control plane subprocess with real local desktops, one per test module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bureau_agent.controlplane.keys import CAPABILITIES
from tests.controlplane.support import Plane

MAIN = "dsk_main"
IDLE = "dsk_idle"
GONE = "dsk_gone"

KEYS: dict[str, tuple[str, ...]] = {
    "full": CAPABILITIES,
    "none": (),
    "reader": ("desktop:read",),
    "operator": ("desktop:read", "desktop:lifecycle", "desktop:control"),
    "limited": CAPABILITIES,
}


def desktops(**main: Any) -> list[dict[str, Any]]:
    return [
        {"id": MAIN, "name": "Main", "autostart": True, "created_at": "2026-01-02T03:04:05Z", **main},
        {"id": IDLE, "name": "Idle"},
        {"id": GONE, "name": "Gone", "destroyed": True},
    ]


def _diverted(agent_args: list[str]) -> bool:
    """True when the test points the agent's heartbeat elsewhere (it then never beats here)."""
    return any(a.startswith("heartbeat_url=") for a in agent_args)


@pytest.fixture(scope="module")
def make_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Plane]]:
    """make_plane(**main_desktop_settings) -> a started Plane, stopped at the end of the module."""
    planes: list[Plane] = []

    def make(**main: Any) -> Plane:
        plane = Plane(tmp_path_factory.mktemp("plane"), desktops(**main), KEYS, limit_limited=3)
        planes.append(plane)
        plane.start()
        plane.wait_ready(MAIN, by_beat=not _diverted(main.get("agent_args", [])))
        return plane

    yield make
    for plane in planes:
        plane.stop()
