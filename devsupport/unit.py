"""The agent's systemd unit as the bench and the tests read it: the environment it runs with."""

from __future__ import annotations

from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "bureau-agent.service"
# The unit's Environment= lines that name the site (the desktop user, its display and cookie):
# a local run gives its own.
SITE_SPECIFIC = frozenset({"BUREAU_AGENT_EXEC_USER", "DISPLAY", "XAUTHORITY"})


def unit_environment(unit: Path = UNIT) -> dict[str, str]:
    """The Environment= settings of the unit that change how the agent runs (malloc arenas, the
    CA bundle), read from the unit itself so that a bench run cannot drift from what the VM runs."""
    env: dict[str, str] = {}
    for line in unit.read_text().splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            if name not in SITE_SPECIFIC:
                env[name] = value
    return env
