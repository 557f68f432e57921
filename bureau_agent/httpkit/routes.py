"""The declaration of one HTTP route: what registers it and what documents it."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bureau_agent.httpkit.schema import Schema

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    body: Schema | None = None  # JSON request body schema
    request_media: dict[str, Schema] | None = None  # a raw body streamed by the handler (no body size limit)
    query: dict[str, Schema] = dataclasses.field(default_factory=dict)
    response: Schema | None = None  # JSON 200 response schema
    response_media: dict[str, Schema] | None = None  # non-JSON 200 bodies (e.g. images)
    errors: tuple[int, ...] = (400,)  # statuses this route can answer besides 200/401/500
    response_headers: dict[str, Schema] = dataclasses.field(default_factory=dict)  # on the 200
    auth: bool = True
    extra_responses: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    path_params: dict[str, Schema] = dataclasses.field(default_factory=dict)  # {name} parts of path
    # A body limit of the route's own, from the app's settings, instead of the app-wide one
    # (the handler reads its body with request.clone(client_max_size=...)).
    body_limit: Callable[[Any], int] | None = None
    # The call's one-line summary for its `action` event (GET /v1/events), from the parsed JSON
    # body (None when it was not JSON), or the query for a route without a JSON body. None: the
    # route makes no event. Must never show a secret.
    event_summary: Callable[[Any], str] | None = None
