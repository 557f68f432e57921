"""GET /v1/screenshot: parse the query, ask the screenshot service, answer bytes or 304."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.httpkit.http import read_query
from bureau_agent.api.feature import Feature
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import enum, integer, string
from bureau_agent.desktop.encode import Region
from bureau_agent.desktop.screenshots import Screenshots, Shot, ShotOptions
from bureau_agent.errors import InvalidRequest

MAX_SIDE = 16384

QUERY = {
    "format": enum("png", "jpeg", "webp", description="image format (default png)"),
    "quality": integer(1, 100, description="jpeg/webp quality (default 80); ignored for png, which is lossless"),
    "maxWidth": integer(1, MAX_SIDE, description="downscale to at most this width, keeping the aspect ratio"),
    "maxHeight": integer(1, MAX_SIDE, description="downscale to at most this height, keeping the aspect ratio"),
    "region": string(64, description="x,y,w,h in screen pixels: capture only this rectangle of the screen"),
    "cursor": {"type": "boolean", "description": "draw the mouse pointer into the image (default false)"},
}

IMAGE = {"type": "string", "format": "binary"}


_REGION = re.compile(r"\s*(-?\d{1,6})\s*,\s*(-?\d{1,6})\s*,\s*(-?\d{1,6})\s*,\s*(-?\d{1,6})\s*")


def parse_region(text: str) -> Region:
    """Parse "x,y,w,h" (w and h at least 1); whether it fits the screen is checked on the frame."""
    match = _REGION.fullmatch(text)
    if match is None:
        raise InvalidRequest(f"region must be x,y,w,h (four integers), not {text!r}.", details={"field": "region"})
    x, y, w, h = map(int, match.groups())
    if w < 1 or h < 1:
        raise InvalidRequest(f"region width and height must be at least 1, not {w}x{h}.", details={"field": "region"})
    return Region(x, y, w, h)


def options_from(query: dict[str, Any]) -> ShotOptions:
    """ShotOptions from the validated query (read_query has checked every type and range)."""
    region = query.get("region")
    return ShotOptions(
        fmt=query.get("format", "png"),
        quality=query.get("quality"),
        max_width=query.get("maxWidth"),
        max_height=query.get("maxHeight"),
        region=parse_region(region) if region is not None else None,
        cursor=query.get("cursor", False),
    )


def _headers(shot: Shot) -> dict[str, str]:
    return {
        "ETag": shot.etag,
        "Cache-Control": "no-cache",  # a cache may keep it, but must revalidate: the screen moves
        "X-Screen-Width": str(shot.screen_width),
        "X-Screen-Height": str(shot.screen_height),
        "X-Scale": format(shot.scale, ".10g"),
    }


async def screenshot(request: web.Request) -> web.Response:
    options = options_from(read_query(request, QUERY))
    shot = await request.app[appkeys.SCREENSHOTS].shot(options, request.headers.get("If-None-Match"))
    if shot.data is None:
        return web.Response(status=304, headers=_headers(shot))
    return web.Response(body=shot.data, content_type=shot.media_type, headers=_headers(shot))


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    service = Screenshots(
        app[appkeys.CAPTURER],
        max_concurrent=settings.screenshot_max_concurrent,
        cache_bytes=settings.screenshot_cache_bytes,
    )
    app[appkeys.SCREENSHOTS] = service
    try:
        yield
    finally:
        await service.close()


ROUTES = [
    Route(
        "GET",
        "/v1/screenshot",
        screenshot,
        "Capture the screen as PNG, JPEG or WebP",
        query=QUERY,
        response_media={"image/png": IMAGE, "image/jpeg": IMAGE, "image/webp": IMAGE},
        errors=(400, 503),
        response_headers={
            "X-Screen-Width": {"type": "integer", "description": "width of the whole screen in pixels"},
            "X-Screen-Height": {"type": "integer", "description": "height of the whole screen in pixels"},
            "X-Scale": {"type": "number", "description": "image pixels per screen pixel"},
            "ETag": {"type": "string", "description": "identifies the image; send it back in If-None-Match"},
        },
        extra_responses={"304": {"description": "Not modified: the screen matches If-None-Match"}},
    ),
]

FEATURE = Feature("screenshot", ROUTES, lifespan=lifespan)
