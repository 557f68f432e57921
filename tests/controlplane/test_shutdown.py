"""Ctrl-C (SIGINT) or SIGTERM on the control plane ends every child process of every desktop."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil

from bureau_agent.controlplane.keys import CAPABILITIES
from tests.controlplane.conftest import desktops
from tests.controlplane.support import Plane


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_ctrl_c_ends_every_child(tmp_path: Path) -> None:
    two = desktops(apps=[["xterm"]])
    two[1]["autostart"] = True
    plane = Plane(tmp_path, two, {"full": CAPABILITIES}).start()
    try:
        plane.wait_ready("dsk_main")
        plane.wait_ready("dsk_idle")
        assert plane.proc is not None
        children = psutil.Process(plane.proc.pid).children(recursive=True)
        names = {p.name() for p in children}
        assert {"Xvfb", "openbox", "xterm"} <= names, names
        assert len([p for p in children if p.name() == "Xvfb"]) == 2
        plane.proc.send_signal(signal.SIGINT)
        assert plane.proc.wait(timeout=30) == 0
        assert not [p.pid for p in children if _alive(p.pid)]
        for desktop in ("dsk_main", "dsk_idle"):
            assert not (plane.state_dir(desktop) / "agent.token").exists()
    finally:
        plane.stop()
