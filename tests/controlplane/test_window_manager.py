"""Apps start only once the window manager manages the screen, so they are shown."""

from __future__ import annotations

import os
import subprocess

from bureau_agent.controlplane.window_manager import wait_for_window_manager
from tests.support.xvfb import Xvfb


def test_waits_until_a_window_manager_manages_the_screen(own_xvfb: Xvfb) -> None:
    assert not wait_for_window_manager(own_xvfb.name, 0.2)  # a bare X server: nobody manages it
    env = dict(os.environ, DISPLAY=own_xvfb.name)
    wm = subprocess.Popen(["openbox", "--sm-disable"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_window_manager(own_xvfb.name, 20)
    finally:
        wm.terminate()
        wm.wait(10)


def test_no_display_is_simply_not_managed() -> None:
    assert not wait_for_window_manager(":4095", 0.2)
