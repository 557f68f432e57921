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
    frame: tuple[int, int, int, int] | None = None  # with the window manager's decorations

    def rectangles(self) -> list[tuple[int, int, int, int]]:
        """Where the window is: toolkits report either its own area (Qt, Chromium) or the area
        with the decorations (GTK 3)."""
        return [(self.x, self.y, self.width, self.height)] + ([self.frame] if self.frame else [])


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
        extents = _property(conn, window, "_NET_FRAME_EXTENTS")  # left, right, top, bottom
    except (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch):
        return None
    if isinstance(title, bytes):
        title = title.decode("utf-8", "replace")
    pid = int(pid_value[0]) if pid_value is not None and len(pid_value) else None
    # translate_coords answers the root's coordinates of the window's origin, negated
    x, y, w, h = -origin.x, -origin.y, geometry.width, geometry.height
    frame = None
    if extents is not None and len(extents) == 4:
        left, right, top, bottom = (int(v) for v in extents)
        frame = (x - left, y - top, w + left + right, h + top + bottom)
    return WindowInfo(wid, pid, x, y, w, h, str(title), frame)
