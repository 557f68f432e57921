"""GET /v1/screenshot."""

from __future__ import annotations

from aiohttp import web

from bureau_agent.api.http import read_query
from bureau_agent.api.routes import Route
from bureau_agent.api.schema import enum, integer, string
from bureau_agent.errors import NotImplementedYet

QUERY = {
    "format": enum("png", "jpeg", "webp"),
    "quality": integer(1, 100),
    "maxWidth": integer(1, 16384),
    "maxHeight": integer(1, 16384),
    "region": string(64, description="x,y,w,h in screen pixels"),
    "cursor": {"type": "boolean"},
}

IMAGE = {"type": "string", "format": "binary"}


async def screenshot(request: web.Request) -> web.Response:
    read_query(request, QUERY)
    raise NotImplementedYet("/v1/screenshot is not implemented yet.")


ROUTES = [
    Route(
        "GET",
        "/v1/screenshot",
        screenshot,
        "Capture the screen as PNG, JPEG or WebP",
        query=QUERY,
        response_media={"image/png": IMAGE, "image/jpeg": IMAGE, "image/webp": IMAGE},
        errors=(400, 503),
        extra_responses={"304": {"description": "Not modified: the screen matches If-None-Match"}},
    ),
]
