"""Waiting for a local desktop's window manager, so the apps started after it are managed.

A window manager that is still starting can lose an app's first MapRequest: seen here with
openbox, an xterm started right after it stayed unmapped (a black screen) in about one boot in
four. An EWMH window manager announces that it manages the screen by setting
_NET_SUPPORTING_WM_CHECK on the root window, after it has taken over map requests.
"""

from __future__ import annotations

import os
import threading
import time

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib.error import DisplayError

POLL_S = 0.05
# python-xlib takes the authority file from $XAUTHORITY only, when it connects: the control plane
# sets it around each connection (every program it spawns gets an explicit environment instead).
_CONNECTING = threading.Lock()


def _connect(display_name: str, xauthority: str | None) -> xdisplay.Display:
    with _CONNECTING:
        saved = os.environ.get("XAUTHORITY")
        if xauthority is not None:
            os.environ["XAUTHORITY"] = xauthority
        try:
            return xdisplay.Display(display_name)
        finally:
            if saved is None:
                os.environ.pop("XAUTHORITY", None)
            else:
                os.environ["XAUTHORITY"] = saved


def wait_for_window_manager(display_name: str, timeout_s: float, xauthority: str | None = None) -> bool:
    """True as soon as a window manager manages display_name, False after timeout_s (blocking)."""
    try:
        conn = _connect(display_name, xauthority)
    except (DisplayError, OSError):
        return False
    try:
        check = conn.intern_atom("_NET_SUPPORTING_WM_CHECK")
        root = conn.screen().root
        deadline = time.monotonic() + timeout_s
        while True:
            prop = root.get_full_property(check, Xatom.WINDOW)
            if prop is not None and len(prop.value) > 0 and prop.value[0] != X.NONE:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
    finally:
        conn.close()
