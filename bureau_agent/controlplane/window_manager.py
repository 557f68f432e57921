"""Waiting for a local desktop's window manager, so the apps started after it are managed.

A window manager that is still starting can lose an app's first MapRequest: seen here with
openbox, an xterm started right after it stayed unmapped (a black screen) in about one boot in
four. An EWMH window manager announces that it manages the screen by setting
_NET_SUPPORTING_WM_CHECK on the root window, after it has taken over map requests.
"""

from __future__ import annotations

import time

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib.error import DisplayError

POLL_S = 0.05


def wait_for_window_manager(display_name: str, timeout_s: float) -> bool:
    """True as soon as a window manager manages display_name, False after timeout_s (blocking)."""
    try:
        conn = xdisplay.Display(display_name)
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
