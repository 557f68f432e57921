"""The units pass `systemd-analyze verify` (really run, in a scratch root that has the system's
units and the programs the units start), and say what the issue requires."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devsupport.unit import unit_environment

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
SYSTEM_UNITS = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if (p / "sysinit.target").exists()), None)

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or SYSTEM_UNITS is None,
    reason="systemd-analyze is not installed: run scripts/install-deps --test",
)


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Every key's values in order (a unit may repeat a key, e.g. Environment=)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def make_root(tmp_path: Path, units: dict[str, str], dropins: dict[str, str] | None = None) -> Path:
    """A scratch root: the system's own units, ours in /etc/systemd/system, and a stub for every
    program our units start (verify checks that ExecStart= programs exist and are executable)."""
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True)
    for name, text in units.items():
        (etc / name).write_text(text)
        for match in re.finditer(r"^Exec\w+=[-@+!:]*(/\S+)", text, re.M):
            program = root / match.group(1).lstrip("/")
            program.parent.mkdir(parents=True, exist_ok=True)
            program.write_text("#!/bin/sh\n")
            program.chmod(0o755)
    for path, text in (dropins or {}).items():
        (etc / path).parent.mkdir(parents=True, exist_ok=True)
        (etc / path).write_text(text)
    return root


def verify(root: Path, *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", *names],
        capture_output=True, text=True, timeout=60,
    )


def our_units() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(UNITS.glob("*.service"))}


def test_the_example_drop_in_keeps_the_agent_root() -> None:
    dropin = read_unit(UNITS / "examples/10-desktop-user.conf")["Service"]
    env = dict(e.split("=", 1) for e in dropin["Environment"])
    assert "User" not in dropin and env["BUREAU_AGENT_EXEC_USER"] == "alice"
    assert env["XAUTHORITY"] == "/home/alice/.Xauthority"


def test_every_unit_verifies_cleanly(tmp_path: Path) -> None:
    units = our_units()
    assert set(units) == {"bureau-agent.service", "bureau-xvfb.service", "bureau-agent-token.service"}
    dropins = {"bureau-agent.service.d/10-desktop-user.conf": (UNITS / "examples/10-desktop-user.conf").read_text()}
    result = verify(make_root(tmp_path, units, dropins), *units)
    # verify exits 0 on mere parse warnings ("ignoring"), so any output at all is a failure.
    assert result.returncode == 0 and result.stderr.strip() == "" and result.stdout.strip() == "", result.stderr


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (("Type=notify", "Type=notfy"), "Failed to parse service type"),
        (("WatchdogSec=30", "WatchdogSec=half a minute"), "Failed to parse"),
        (("Restart=always", "Restrat=always"), "Unknown key"),
    ],
)
def test_verify_really_runs_and_catches_a_broken_unit(tmp_path: Path, breakage: tuple[str, str], expected: str) -> None:
    text = (UNITS / "bureau-agent.service").read_text()
    assert breakage[0] in text
    root = make_root(tmp_path, {"bureau-agent.service": text.replace(breakage[0], breakage[1])})
    result = verify(root, "bureau-agent.service")
    assert expected in result.stderr


def test_a_missing_program_fails_verify(tmp_path: Path) -> None:
    units = {"bureau-agent.service": (UNITS / "bureau-agent.service").read_text()}
    root = make_root(tmp_path, units)
    (root / "opt/bureau-agent/bin/bureau-agent").unlink()
    result = verify(root, "bureau-agent.service")
    assert result.returncode != 0 and "bureau-agent" in result.stderr


def test_the_agent_unit_says_what_the_issue_requires() -> None:
    unit = read_unit(UNITS / "bureau-agent.service")
    service = unit["Service"]
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert service["Restart"] == ["always"] and service["WatchdogSec"] == ["30"]
    # root, so that nothing the desktop user runs can read the token: commands run as exec_user
    assert "User" not in service and "DynamicUser" not in service
    env = dict(e.split("=", 1) for e in service["Environment"])
    assert env["BUREAU_AGENT_EXEC_USER"] and env["BUREAU_AGENT_EXEC_USER"] != "root"
    assert env["DISPLAY"] == ":0" and env["XAUTHORITY"].startswith("/")
    assert not any(name.startswith(("BUREAU_AGENT_TOKEN", "BUREAU_AGENT_HEARTBEAT_TOKEN=")) for name in env)  # /proc/<pid>/environ
    assert env["MALLOC_ARENA_MAX"] == "2"  # idle RSS (issue 14)
    # RSS at start: no CA bundle parsed at import; TLS still verified (tests/control/test_tls_trust.py)
    assert env["SSL_CERT_FILE"] == "/dev/null"
    assert service["LoadCredential"] == ["token:/etc/bureau-agent/token"]
    for forbidden in ("PrivateTmp", "PrivateNetwork", "PrivateIPC", "NoNewPrivileges", "DynamicUser"):
        assert forbidden not in service, forbidden
    after = " ".join(unit["Unit"]["After"]).split()
    assert {"display-manager.service", "bureau-xvfb.service", "bureau-agent-token.service"} <= set(after)
    # Stopping takes, at worst, the longest grace for calls in flight, then the kill grace of the
    # commands still running (the default), their reaping, and the bounded last beat: systemd
    # must wait at least that long before it kills the agent, or callers lose their answers.
    assert int(service["TimeoutStopSec"][0]) > stop_bound_s()


def stop_bound_s() -> float:
    from bureau_agent.config import FIELDS_BY_NAME
    from bureau_agent.control.heartbeat import STOPPING_BEAT_TIMEOUT_S
    from bureau_agent.process.runner import REAP_WAIT_S

    grace = FIELDS_BY_NAME["shutdown_grace_s"].maximum
    kill = FIELDS_BY_NAME["exec_kill_grace_ms"].default / 1000
    return float(grace + kill + REAP_WAIT_S + STOPPING_BEAT_TIMEOUT_S)


def test_the_xvfb_unit_serves_the_agents_display() -> None:
    xvfb = read_unit(UNITS / "bureau-xvfb.service")
    agent = read_unit(UNITS / "bureau-agent.service")
    env = dict(e.split("=", 1) for e in xvfb["Service"]["Environment"])
    agent_env = dict(e.split("=", 1) for e in agent["Service"]["Environment"])
    assert env["XVFB_DISPLAY"] == agent_env["DISPLAY"]
    assert xvfb["Service"]["User"] == [agent_env["BUREAU_AGENT_EXEC_USER"]]  # the desktop user's X server
    assert "bureau-agent.service" in xvfb["Unit"]["Before"][0]
    assert "PrivateTmp" not in xvfb["Service"]


def test_the_bench_reads_the_units_environment_but_not_its_site() -> None:
    env = unit_environment(UNITS / "bureau-agent.service")
    assert env == {"MALLOC_ARENA_MAX": "2", "SSL_CERT_FILE": "/dev/null"}
