"""GET /v1/events (Server-Sent Events), and the one middleware that records every call's
`action` event from the Route table (a route with `event_summary` makes one when it ends).

`status` events: agentReady and the display (connected, size), sampled once a second, one event
per change. `action` events: {"route", "summary", "status", "durationMs", "at"}. Every event has
an `id`; a client reconnecting with Last-Event-ID gets what it missed of the last 256.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.aio import Ticker
from bureau_agent.api.feature import Feature
from bureau_agent.errors import AgentError, InvalidRequest
from bureau_agent.events import Event, EventLog
from bureau_agent.timestamps import utc_timestamp
from bureau_agent.httpkit.http import PARSED_BODY, read_query
from bureau_agent.httpkit.routes import Route
from bureau_agent.viewers import Viewers

log = logging.getLogger("bureau_agent.events")

KEEPALIVE_S = 15.0  # a comment line this often: proxies keep the stream open, dead peers show
STATUS_INTERVAL_S = 1.0
SUMMARY_CHARS = 120


def _sse(event: Event) -> bytes:
    data = json.dumps(event.data, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()


QUERY = {"lastEventId": {"type": "integer", "minimum": 0, "description": "as the Last-Event-ID header: replay what came after"}}


def _last_event_id(request: web.Request, query: dict[str, Any]) -> int:
    text = request.headers.get("Last-Event-ID")
    if text is None:
        return int(query.get("lastEventId", -1))
    try:
        return max(0, int(text))
    except ValueError:
        raise InvalidRequest("Last-Event-ID must be an event id (an integer).", details={"field": "Last-Event-ID"}) from None


async def events(request: web.Request) -> web.StreamResponse:
    last = _last_event_id(request, read_query(request, QUERY))
    log_ = request.app[appkeys.EVENTS]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def close() -> None:
        if request.transport is not None:
            request.transport.close()

    with request.app[appkeys.EVENT_VIEWERS].open(close):
        # Before the headers go out: a client that sees them and then calls gets that call's event.
        cursor = log_.last_id if last < 0 else last  # no Last-Event-ID: from now on
        await response.prepare(request)
        try:
            await response.write(b": bureau-agent events\n\n")
            for event in log_.after(cursor) if last >= 0 else []:
                await response.write(_sse(event))
                cursor = event.id
            while not log_.closed and request.transport is not None and not request.transport.is_closing():
                if not await log_.wait(cursor, KEEPALIVE_S):
                    if log_.closed:
                        break
                    await response.write(b": keepalive\n\n")
                    continue
                for event in log_.after(cursor):
                    await response.write(_sse(event))
                    cursor = event.id
        except (ConnectionError, asyncio.CancelledError):
            pass
    return response


def make_action_middleware(routes: list[Route]):  # type: ignore[no-untyped-def]
    """Records an `action` event when a call to a route with event_summary ends, whatever its
    status. Inside the auth middleware: a refused token is no call."""
    table = {(r.method, r.path): r for r in routes if r.event_summary is not None}

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = table.get((request.method, resource.canonical)) if resource is not None else None
        if route is None:
            return await handler(request)
        started = time.monotonic()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except AgentError as exc:
            status = exc.status
            raise
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            await _record(request, route, status, started)

    return middleware


async def _record(request: web.Request, route: Route, status: int, started: float) -> None:
    events_log = request.app.get(appkeys.EVENTS)
    if events_log is None or route.event_summary is None:
        return
    # What the handler parsed; never a read of our own: a client that stopped sending would
    # hold this call's end. None when it was not JSON, too large, or the connection went.
    body = request.get(PARSED_BODY) if route.body is not None else None
    # Routes without a JSON body (files: GET, PUT, DELETE) are summarised from their query.
    args = body if isinstance(body, dict) else dict(request.query) if route.body is None else None
    try:
        summary = route.event_summary(args)
    except Exception:  # a body the handler refused may lack anything: never fail the call for it
        summary = route.path.removeprefix("/v1/")
    events_log.publish(
        "action",
        {
            "route": f"{route.method} {route.path}",
            "summary": summary[:SUMMARY_CHARS],
            "status": status,
            "durationMs": round((time.monotonic() - started) * 1000),
            "at": utc_timestamp(timespec="milliseconds"),
        },
    )


def _status(app: web.Application) -> dict[str, Any]:
    return {"agentReady": app[appkeys.READINESS].ready, "display": app[appkeys.DISPLAY].state.to_json()}


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    log_ = EventLog()
    app[appkeys.EVENTS] = log_
    app[appkeys.EVENT_VIEWERS] = Viewers(app[appkeys.SETTINGS].events_max_clients, "event streams")
    last: dict[str, Any] = {}

    async def sample() -> None:
        nonlocal last
        current = _status(app)
        if current != last:
            last = current
            log_.publish("status", {**current, "at": utc_timestamp(timespec="milliseconds")})

    await sample()
    ticker = Ticker("status events", sample, STATUS_INTERVAL_S, log)
    ticker.start()
    app[appkeys.READINESS].add_listener(lambda ready: ticker.wake())
    try:
        yield
    finally:
        await ticker.close()
        await log_.close()


async def on_stopping(app: web.Application) -> None:
    app[appkeys.EVENT_VIEWERS].close_all()
    await app[appkeys.EVENTS].close()


EVENT_SCHEMA = {"type": "string", "description": "text/event-stream: `status` and `action` events, each with an id"}
ROUTES = [
    Route(
        "GET",
        "/v1/events",
        events,
        "Server-Sent Events: status changes and each input/act/exec/bash/python/chat call once it ends",
        query=QUERY,
        response_media={"text/event-stream": EVENT_SCHEMA},
        errors=(400, 429),
    ),
]

FEATURE = Feature("events", ROUTES, lifespan=lifespan, on_stopping=on_stopping)
