"""GET /v1/screen/stream: multipart/x-mixed-replace frames, one each time the screen changes.

The stream subscribes to the damage watcher (desktop/damage.py): while nothing is drawn it
sends nothing and encodes nothing. A change is sent at most `fps` times a second, encoded by the
screenshot service (the same encoder and cache as GET /v1/screenshot); changes that come while
a frame is being encoded or written are coalesced into the next frame, which is always the
latest screen. A viewer that reads slowly holds the stream in its write (aiohttp waits for the
socket to drain), so at most one frame waits in the agent's buffers for it, never a queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.api.feature import Feature
from bureau_agent.desktop.damage import Subscription
from bureau_agent.desktop.screenshots import Shot, ShotOptions
from bureau_agent.errors import AgentError
from bureau_agent.httpkit.http import read_query
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import enum, integer
from bureau_agent.viewers import Viewers

log = logging.getLogger("bureau_agent.stream")

BOUNDARY = "bureau-frame"
MAX_FPS = 30
ALIVE_CHECK_S = 1.0  # while the screen is still, how often a stream looks at its connection
# A browser shows a part of an <img> multipart stream only once the next part begins (Chromium
# does), so the last frame before the screen goes still would never be shown: it is sent once
# more this long after it, marked as a repeat (X-Frame-Repeat) for clients that read frames.
REPEAT_AFTER_S = 0.25
REPEAT_HEADER = "X-Frame-Repeat"

QUERY = {
    "format": enum("jpeg", "png", description="frame format (default jpeg)"),
    "quality": integer(1, 100, description="jpeg quality (default 80)"),
    "maxWidth": integer(1, 16384, description="downscale frames to at most this width"),
    "maxHeight": integer(1, 16384, description="downscale frames to at most this height"),
    "fps": integer(1, MAX_FPS, description="at most this many frames a second (default 10)"),
}


def _part(shot: Shot, *, repeat: bool = False) -> bytes:
    assert shot.data is not None
    head = (
        f"--{BOUNDARY}\r\nContent-Type: {shot.media_type}\r\nContent-Length: {len(shot.data)}\r\n"
        f"X-Screen-Width: {shot.screen_width}\r\nX-Screen-Height: {shot.screen_height}\r\n"
        f"X-Scale: {shot.scale:.10g}\r\n" + (f"{REPEAT_HEADER}: true\r\n" if repeat else "") + "\r\n"
    )
    return head.encode("ascii") + shot.data + b"\r\n"


class _Viewer:
    """One open stream: its connection, its damage subscription, and how to end both."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.sub: Subscription | None = None
        self.closed = False
        self.frames = 0

    def close(self) -> None:
        self.closed = True
        if self.sub is not None:
            self.sub.close()  # a wait for damage returns at once
        transport = self.request.transport
        if transport is not None:
            transport.close()  # a write blocked on a viewer that does not read fails at once

    def gone(self) -> bool:
        transport = self.request.transport
        return self.closed or transport is None or transport.is_closing()


async def screen_stream(request: web.Request) -> web.StreamResponse:
    query = read_query(request, QUERY)
    options = ShotOptions(
        fmt=query.get("format", "jpeg"),
        quality=query.get("quality"),
        max_width=query.get("maxWidth"),
        max_height=query.get("maxHeight"),
    )
    interval = 1 / query.get("fps", 10)
    screenshots = request.app[appkeys.SCREENSHOTS]
    viewer = _Viewer(request)
    with request.app[appkeys.SCREEN_VIEWERS].open(viewer.close):
        with await request.app[appkeys.DAMAGE].subscribe() as sub:
            viewer.sub = sub
            shot = await screenshots.shot(options)  # fails before the 200: a 503 stays a 503
            response = web.StreamResponse(
                headers={
                    "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                    "Cache-Control": "no-cache, no-store",
                    "X-Accel-Buffering": "no",  # a proxy in between must not hold frames back
                }
            )
            await response.prepare(request)
            try:
                await _serve(viewer, sub, response, shot, options, interval, screenshots)
            except (ConnectionError, asyncio.CancelledError):
                pass  # the viewer went away, or shutdown closed the connection
            except AgentError as exc:  # the display went away: the viewer reconnects
                log.info("screen stream ended", extra={"error": exc.message})
    return response


async def _serve(
    viewer: _Viewer, sub: Subscription, response: web.StreamResponse, shot: Shot, options: ShotOptions, interval: float, screenshots: Any
) -> None:
    seen = sub.batches
    etag = shot.etag
    await response.write(_part(shot))
    viewer.frames += 1
    sent_at = time.monotonic()
    last: Shot | None = shot  # the frame to repeat once when the screen goes still
    while not viewer.gone():
        if sub.batches == seen:  # nothing drawn since the last frame was taken
            if last is None:
                await sub.next_change(ALIVE_CHECK_S)
            elif not await sub.next_change(REPEAT_AFTER_S) and sub.batches == seen and not viewer.gone():
                await response.write(_part(last, repeat=True))
                last = None
            continue
        wait = sent_at + interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)  # changes meanwhile go into this same next frame
        seen = sub.batches
        shot = await screenshots.shot(options, etag)
        if shot.data is None:  # drawn, but the pixels came out the same
            continue
        etag = shot.etag
        await response.write(_part(shot))
        viewer.frames += 1
        sent_at = time.monotonic()
        last = shot


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    app[appkeys.SCREEN_VIEWERS] = Viewers(app[appkeys.SETTINGS].stream_max_clients, "screen streams")
    yield


async def on_stopping(app: web.Application) -> None:
    app[appkeys.SCREEN_VIEWERS].close_all()


ROUTES = [
    Route(
        "GET",
        "/v1/screen/stream",
        screen_stream,
        "A live view of the screen: a new frame each time it changes (multipart/x-mixed-replace)",
        query=QUERY,
        response_media={f"multipart/x-mixed-replace; boundary={BOUNDARY}": {"type": "string", "format": "binary"}},
        errors=(400, 429, 503),
    ),
]

FEATURE = Feature("stream", ROUTES, lifespan=lifespan, on_stopping=on_stopping)
