"""What a caller asks of the tree: apart from the service, so that the API can parse a request
without importing dbus-fast (the service is loaded at the first request: threaded.py)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Query:
    window: int | str = "active"  # an X window id, "active" or "all"
    max_depth: int = 30
    max_nodes: int = 2000
    interactive: bool = False
