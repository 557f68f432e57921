"""Finding X windows."""

from __future__ import annotations

from typing import Any


def find_window(window: Any, title: str) -> Any:
    """The first window under window (itself included) whose WM_NAME is title, or None."""
    try:
        if window.get_wm_name() == title:
            return window
        children = window.query_tree().children
    except Exception:  # a window may vanish while we walk the tree
        return None
    for child in children:
        found = find_window(child, title)
        if found is not None:
            return found
    return None
