"""The public routes a test needs, checked against the code before it runs (the control plane's
forwards table, the agent's Route declarations, the control plane's own routes): a route that
goes missing fails its tests, with the reason, instead of skipping them."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bureau_agent.controlplane.routes import FORWARDS

PACKAGE = Path(__file__).resolve().parents[2] / "bureau_agent"
FORWARDED = {(f.method, f.path) for f in FORWARDS}
T = TypeVar("T")


def _declared(folder: str, text: str) -> bool:
    return any(text in path.read_text(encoding="utf-8") for path in (PACKAGE / folder).rglob("*.py"))


def _requiring(ok: bool, reason: str) -> Callable[[T], T]:
    def mark(test: Any) -> Any:
        if inspect.iscoroutinefunction(test):

            @functools.wraps(test)
            async def checked_async(*args: Any, **kwargs: Any) -> Any:
                assert ok, reason
                return await test(*args, **kwargs)

            return checked_async

        @functools.wraps(test)
        def checked(*args: Any, **kwargs: Any) -> Any:
            assert ok, reason
            return test(*args, **kwargs)

        return checked

    return mark


def served(method: str, path: str, agent_path: str | None = None) -> Callable[[T], T]:
    """The control plane forwards the route and the agent declares it."""
    agent = f'"/v1/{agent_path or path}"'
    ok = (method, path) in FORWARDED and _declared("api", agent)
    return _requiring(ok, f"{method} /v1/desktops/:id/{path} is not served")


def control_plane_serves(path: str) -> Callable[[T], T]:
    return _requiring(_declared("controlplane", f'"{path}"'), f"the control plane has no {path}")
