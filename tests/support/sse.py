"""Reading a server-sent event stream in tests, event by event, as a browser's EventSource would."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp


@dataclasses.dataclass
class Event:
    event: str  # "message" unless the stream named it
    data: str
    id: str | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.data)


async def events(resp: aiohttp.ClientResponse) -> AsyncIterator[Event]:
    """The events of resp as they arrive; comments and keep-alives are skipped."""
    name, data, event_id = "message", [], None
    while True:
        line = await resp.content.readline()
        if not line:
            return
        text = line.decode("utf-8").rstrip("\r\n")
        if not text:
            if data:
                yield Event(name, "\n".join(data), event_id)
            name, data = "message", []
            continue
        if text.startswith(":"):
            continue
        field, _, value = text.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value


async def next_event(stream: AsyncIterator[Event], timeout_s: float = 10.0) -> Event:
    """The next event, or AssertionError when none comes within timeout_s or the stream ends."""
    try:
        return await asyncio.wait_for(stream.__anext__(), timeout_s)
    except StopAsyncIteration:
        raise AssertionError("the event stream ended") from None
    except asyncio.TimeoutError:
        raise AssertionError(f"no event within {timeout_s} s") from None
