"""What one feature module of the API contributes to the application.

Each api module exports one FEATURE; app.py lists them. A feature's lifespan is an aiohttp
cleanup context (it creates the feature's domain service and stores it under its key in
appkeys); its on_shutdown ends what the feature has in flight once the grace for calls to finish
on their own is over (see app.py for the order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from aiohttp import web

from bureau_agent.httpkit.routes import Route

Lifespan = Callable[[web.Application], AsyncIterator[None]]
Hook = Callable[[web.Application], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Feature:
    name: str
    routes: Sequence[Route]
    lifespan: Lifespan | None = None
    # Ends what is still running after the shutdown grace (commands, chat turns), at once.
    on_shutdown: Hook | None = None
    # Closes what must not hold the shutdown at all (streams, subscribers), at its very start.
    on_stopping: Hook | None = None
