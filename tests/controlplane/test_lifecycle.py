"""start/stop/restart of a real local desktop, and 503 while it cannot take calls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from bureau_agent.controlplane.keys import CAPABILITIES
from bureau_agent.system.sdnotify import SUPERVISION_VARIABLES
from tests.controlplane.conftest import IDLE, MAIN
from tests.controlplane.support import Plane, wait_for
from tests.support.procs import alive

CLICK = {"x": 5, "y": 5}


@pytest.fixture(scope="module")
def plane(make_plane: Callable[..., Plane]) -> Plane:
    return make_plane(apps=[["xterm", "-geometry", "40x10+0+0"]])


def test_a_desktop_has_its_processes_and_a_private_token(plane: Plane) -> None:
    runtime = plane.runtime(MAIN)
    assert set(runtime["pids"]) == {"xvfb", "dbus", "wm", "app0", "agent"}
    assert all(alive(pid) for pid in runtime["pids"].values())
    token_file = plane.state_dir(MAIN) / "agent.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert plane.state_dir(MAIN).stat().st_mode & 0o777 == 0o700
    assert len(plane.agent_token(MAIN)) >= 32
    # the agent listens on loopback only and refuses calls without its token
    assert plane.agent_call(MAIN, "GET", "/v1/health").status == 200
    agent = psutil.Process(runtime["pids"]["agent"])
    assert agent.environ()["BUREAU_AGENT_DESKTOP_ID"] == MAIN
    assert agent.environ()["BUREAU_AGENT_HEARTBEAT_URL"].endswith(f"/agent/v1/desktops/{MAIN}/heartbeat")
    assert agent.environ()["BUREAU_AGENT_HEARTBEAT_INTERVAL_S"] == "1"
    assert plane.agent_token(MAIN) not in " ".join(agent.cmdline())


def test_children_inherit_no_agent_settings_or_systemd_supervision(tmp_path: Path) -> None:
    # The control plane's own unit: its children must neither notify it nor answer its watchdog.
    inherited = {
        "NOTIFY_SOCKET": "/run/bureau-test/notify",
        "WATCHDOG_USEC": "30000000",
        "WATCHDOG_PID": "1",
        "BUREAU_AGENT_TOKEN": "not-for-the-desktops",
        "XAUTHORITY": "/nonexistent/Xauthority",  # the displays here have none
    }
    desktop = {"id": "dsk_env", "autostart": True, "apps": [["xterm"]]}
    other = Plane(tmp_path, [desktop], {"full": CAPABILITIES}).start(env=inherited)
    try:
        other.wait_ready("dsk_env")
        pids = other.runtime("dsk_env")["pids"]
        assert set(pids) == {"xvfb", "dbus", "wm", "app0", "agent"}
        for name, pid in pids.items():
            environ = psutil.Process(pid).environ()
            leaked = sorted(k for k in environ if k in SUPERVISION_VARIABLES or k == "BUREAU_AGENT_TOKEN")
            assert not leaked, f"{name} inherited {leaked}"
            # the parent's X cookie is not passed on; the programs on the display get the desktop's own
            own = str(other.state_dir("dsk_env") / "Xauthority")
            assert environ.get("XAUTHORITY") == (None if name == "xvfb" else own), name
    finally:
        other.stop()


def _connects(display_name: str, xauthority: str) -> bool:
    """Whether a fresh X client with that authority file is let in (run apart: python-xlib and
    libX11 read XAUTHORITY once per process)."""
    code = "import sys; from Xlib import display; display.Display(sys.argv[1]).close()"
    env = {**os.environ, "XAUTHORITY": xauthority}
    return subprocess.run([sys.executable, "-c", code, display_name], env=env, capture_output=True, timeout=30).returncode == 0


def test_only_the_desktops_own_programs_hold_its_x_cookie(plane: Plane) -> None:
    # No Xvfb -ac: a local user without the cookie cannot read or drive the desktop.
    display_name = plane.desktop(MAIN)["display"]
    cookie = plane.state_dir(MAIN) / "Xauthority"
    assert cookie.stat().st_mode & 0o777 == 0o600
    assert _connects(display_name, str(cookie))
    assert not _connects(display_name, os.devnull)
    agent = psutil.Process(plane.runtime(MAIN)["pids"]["agent"])
    assert agent.environ()["XAUTHORITY"] == str(cookie)
    assert "-ac" not in psutil.Process(plane.runtime(MAIN)["pids"]["xvfb"]).cmdline()


def _viewable_xterms(display_name: str) -> int:
    from Xlib import X
    from Xlib import display as xdisplay

    conn = xdisplay.Display(display_name)  # python-xlib reads $XAUTHORITY at each connection
    try:
        found, windows = 0, [conn.screen().root]
        while windows:
            window = windows.pop()
            windows.extend(window.query_tree().children)
            if (window.get_wm_class() or ("", ""))[1] == "XTerm" and window.get_attributes().map_state == X.IsViewable:
                found += 1
        return found
    finally:
        conn.close()


def test_the_app_is_shown_under_the_window_manager(plane: Plane) -> None:
    # Started before the window manager managed the screen, an app could stay unmapped.
    cookie = plane.state_dir(MAIN) / "Xauthority"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XAUTHORITY", str(cookie))
        wait_for(lambda: _viewable_xterms(plane.desktop(MAIN)["display"]) == 1, "the xterm to be viewable", timeout=10)


def test_stop_then_start_again(plane: Plane) -> None:
    before = plane.runtime(MAIN)
    old_token = plane.agent_token(MAIN)

    reply = plane.call("POST", f"/v1/desktops/{MAIN}/stop")
    assert reply.status == 200
    assert (reply.json["status"], reply.json["agentReady"]) == ("stopped", False)
    assert not any(alive(pid) for pid in before["pids"].values())
    assert not (plane.state_dir(MAIN) / "agent.token").exists()

    reply = plane.call("POST", f"/v1/desktops/{MAIN}/click", body=CLICK)
    assert (reply.status, reply.code) == (503, "desktop_not_running")
    assert plane.call("POST", f"/v1/desktops/{MAIN}/stop").status == 200  # stopping a stopped desktop is fine

    reply = plane.call("POST", f"/v1/desktops/{MAIN}/start")
    assert reply.status == 202
    assert reply.json["status"] in ("booting", "running")  # the boot is queued, not awaited
    desktop = plane.wait_ready(MAIN)
    assert desktop["agentReady"] is True
    after = plane.runtime(MAIN)
    assert after["pids"]["agent"] != before["pids"]["agent"]
    assert plane.agent_token(MAIN) != old_token
    reply = plane.call("POST", f"/v1/desktops/{MAIN}/click", body=CLICK)
    assert reply.status != 503


def test_503_agent_not_ready_then_restart(plane: Plane) -> None:
    runtime = plane.runtime(MAIN)
    os.kill(runtime["pids"]["xvfb"], signal.SIGKILL)  # the display dies; the agent lives on
    wait_for(lambda: not plane.desktop(MAIN)["agentReady"], "agentReady to turn false", timeout=20)
    desktop = plane.desktop(MAIN)
    assert desktop["status"] == "running"
    assert desktop["heartbeat"]["agentReady"] is False  # the agent's own beat said so
    reply = plane.call("POST", f"/v1/desktops/{MAIN}/click", body=CLICK)
    assert (reply.status, reply.code) == (503, "agent_not_ready")
    assert reply.headers["Retry-After"]
    assert reply.json["error"]["details"] == {"status": "running", "agentReady": False}

    reply = plane.call("POST", f"/v1/desktops/{MAIN}/restart")
    assert reply.status == 202
    assert reply.json["status"] in ("booting", "running")
    assert not alive(runtime["pids"]["agent"])
    plane.wait_ready(MAIN)
    assert plane.runtime(MAIN)["pids"]["agent"] != runtime["pids"]["agent"]
    assert plane.call("POST", f"/v1/desktops/{MAIN}/click", body=CLICK).status != 503


def test_an_agent_that_dies_puts_the_desktop_in_error(plane: Plane) -> None:
    runtime = plane.runtime(MAIN)
    os.kill(runtime["pids"]["agent"], signal.SIGKILL)
    desktop = wait_for(lambda: (d := plane.desktop(MAIN))["status"] == "error" and d, "status error")
    assert "exited" in desktop["error"] and desktop["agentReady"] is False
    wait_for(lambda: not any(alive(pid) for pid in runtime["pids"].values()), "the other children to end", timeout=10)
    reply = plane.call("POST", f"/v1/desktops/{MAIN}/click", body=CLICK)
    assert (reply.status, reply.code) == (503, "desktop_not_running")
    assert plane.call("POST", f"/v1/desktops/{MAIN}/start").status == 202
    plane.wait_ready(MAIN)


def test_stop_during_boot_leaves_nothing_running(plane: Plane) -> None:
    assert plane.proc is not None
    control_plane = psutil.Process(plane.proc.pid)
    before = {p.pid for p in control_plane.children(recursive=True)}
    xvfbs_before = [p.pid for p in control_plane.children() if _name(p) == "Xvfb"]

    def booted() -> list[psutil.Process]:
        # new, and not started by what ran before (the main desktop's xterm shell starts
        # programs of its own at any time: pyenv's rehash here)
        return [p for p in control_plane.children(recursive=True) if p.pid not in before and not _below(p, before)]

    reply = plane.call("POST", f"/v1/desktops/{IDLE}/start")
    assert (reply.status, reply.json["status"]) == (202, "booting")
    # Stop only once the boot has started something, or the test could pass with nothing to end.
    deadline = time.monotonic() + 10
    while not any(_name(p) == "Xvfb" for p in booted()):
        assert time.monotonic() < deadline, "the boot started no Xvfb"
        time.sleep(0.005)
    spawned = booted()
    assert plane.desktop(IDLE)["status"] == "booting"  # the agent takes far longer to answer
    reply = plane.call("POST", f"/v1/desktops/{IDLE}/stop")
    assert (reply.status, reply.json["status"]) == (200, "stopped")
    assert not [(p.pid, _name(p)) for p in spawned if alive(p.pid)]
    # and nothing the boot started after the snapshot (the window manager, the agent) either
    assert not [(p.pid, _name(p)) for p in booted() if alive(p.pid)]
    assert [p.pid for p in control_plane.children() if _name(p) == "Xvfb" and alive(p.pid)] == xvfbs_before
    assert plane.desktop(IDLE)["status"] == "stopped"


def _below(proc: psutil.Process, pids: set[int]) -> bool:
    try:
        return any(parent.pid in pids for parent in proc.parents())
    except psutil.NoSuchProcess:
        return False


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.NoSuchProcess:
        return ""
