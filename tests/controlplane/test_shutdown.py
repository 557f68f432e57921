"""Ctrl-C (SIGINT) or SIGTERM on the control plane ends every child process of every desktop."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil

from bureau_agent.controlplane.keys import CAPABILITIES
from tests.controlplane.conftest import desktops
from tests.controlplane.support import Plane
from tests.support.procs import alive


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
        assert not [p.pid for p in children if alive(p.pid)]
        for desktop in ("dsk_main", "dsk_idle"):
            assert not (plane.state_dir(desktop) / "agent.token").exists()
    finally:
        plane.stop()


def test_a_hung_control_plane_is_killed_with_its_desktops(tmp_path: Path) -> None:
    # The desktops' processes run in their own sessions: killing the control plane alone leaves them.
    plane = Plane(tmp_path, desktops(apps=[["xterm"]]), {"full": CAPABILITIES}).start()
    try:
        plane.wait_ready("dsk_main")
        assert plane.proc is not None
        children = psutil.Process(plane.proc.pid).children(recursive=True)
        assert {"Xvfb", "openbox", "xterm"} <= {p.name() for p in children}
        os.kill(plane.proc.pid, signal.SIGSTOP)  # it cannot act on the SIGTERM
        assert plane.stop(timeout=1) == -signal.SIGKILL
        assert not [p.pid for p in children if alive(p.pid)]
    finally:
        plane.stop()
