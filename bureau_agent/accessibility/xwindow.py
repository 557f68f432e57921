"""The X side of choosing a window's tree: the active window, and a window's pid and geometry.

These run on the display owner's thread (Display.call); python-xlib is not thread-safe.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from Xlib import X
from Xlib import error as xerror


@dataclasses.dataclass(frozen=True)
class WindowInfo:
    id: int
    pid: int | None
    x: int
    y: int
    width: int
    height: int
    title: str


def _property(conn: Any, window: Any, name: str) -> Any:
    atom = conn.get_atom(name, only_if_exists=True)
    if not atom:
        return None
    prop = window.get_full_property(atom, X.AnyPropertyType)
    return None if prop is None else prop.value


def active_window(conn: Any) -> int | None:
    """_NET_ACTIVE_WINDOW of the root (None without a window manager, or with nothing active)."""
    value = _property(conn, conn.screen().root, "_NET_ACTIVE_WINDOW")
    if value is None or len(value) == 0 or not int(value[0]):
        return None
    return int(value[0])


def window_info(conn: Any, wid: int) -> WindowInfo | None:
    """The window's _NET_WM_PID, title and geometry on the screen; None when there is no such window."""
    try:
        window = conn.create_resource_object("window", wid)
        geometry = window.get_geometry()
        origin = window.translate_coords(conn.screen().root, 0, 0)
        pid_value = _property(conn, window, "_NET_WM_PID")
        title = _property(conn, window, "_NET_WM_NAME") or _property(conn, window, "WM_NAME") or b""
    except (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch):
        return None
    if isinstance(title, bytes):
        title = title.decode("utf-8", "replace")
    pid = int(pid_value[0]) if pid_value is not None and len(pid_value) else None
    # translate_coords answers the root's coordinates of the window's origin, negated
    return WindowInfo(wid, pid, -origin.x, -origin.y, geometry.width, geometry.height, str(title))
