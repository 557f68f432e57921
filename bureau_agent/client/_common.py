"""What both flavours of the client share and that does no I/O: request bodies, the retry
policy, screenshot headers, and incremental parsers for the two stream formats (Server-Sent
Events and multipart/x-mixed-replace). The sync and async clients differ only in how they wait."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Union

from bureau_agent.client.errors import BureauError
from bureau_agent.client.models import Event, Frame, Point, Region, Screenshot

DEFAULT_URL = "http://127.0.0.1:8700"
USER_AGENT = "bureau-client/1"
CHUNK = 256 * 1024  # upload/download piece: large enough to keep syscalls few, small enough for memory


def api_key_from(value: Optional[str]) -> str:
    key = value if value is not None else os.environ.get("BUREAU_API_KEY")
    if not key:
        raise ValueError("No API key: pass api_key=… or set BUREAU_API_KEY.")
    return key


def base_url_from(value: Optional[str]) -> str:
    return (value or os.environ.get("BUREAU_API_URL") or DEFAULT_URL).rstrip("/")


_CAMEL = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    """delay_ms → delayMs; a name already in camelCase is kept; a trailing _ (from_) is dropped."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), name.rstrip("_"))


def camelize(value: Any) -> Any:
    """Keys of nested dicts to camelCase (for act's actions, settle and screenshot options)."""
    if isinstance(value, Mapping):
        return {camel(str(k)): camelize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not _is_point_tuple(value):
        return [camelize(v) for v in value]
    if _is_point_tuple(value):
        return point(value)
    return value


def _is_point_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body from keyword arguments: None means "not sent" (the route's default applies)."""
    return {camel(k): v for k, v in fields.items() if v is not None}


def point(p: Point) -> dict[str, int]:
    if isinstance(p, Mapping):
        return {"x": int(p["x"]), "y": int(p["y"])}
    x, y = p
    return {"x": int(x), "y": int(y)}


def region_param(region: Union[Region, tuple[int, int, int, int], str, None]) -> Optional[str]:
    if region is None or isinstance(region, str):
        return region
    if isinstance(region, Mapping):
        return f"{region['x']},{region['y']},{region['w']},{region['h']}"
    return ",".join(str(int(v)) for v in region)


def query(**fields: Any) -> dict[str, str]:
    """Query parameters: camelCase names, booleans as true/false, None left out."""
    out: dict[str, str] = {}
    for k, v in fields.items():
        if v is None:
            continue
        out[camel(k)] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def screenshot_of(status: int, headers: Mapping[str, str], data: bytes) -> Screenshot:
    def number(name: str, default: float) -> float:
        try:
            return float(headers.get(name, default))
        except ValueError:
            return default

    return Screenshot(
        data=data,
        content_type=headers.get("content-type", ""),
        scale=number("x-scale", 1.0),
        screen_width=int(number("x-screen-width", 0)),
        screen_height=int(number("x-screen-height", 0)),
        etag=headers.get("etag"),
        not_modified=status == 304,
    )


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """429 and 503 answers that carry Retry-After are retried: at most `max_retries` times and
    at most `max_wait_s` seconds of waiting in all. A wait that would pass the budget is not
    started: the error is raised at once, so a caller never sleeps only to fail."""

    max_retries: int = 3
    max_wait_s: float = 30.0

    def delay(self, error: BureauError, attempt: int, waited_s: float) -> Optional[float]:
        if error.status not in (429, 503) or error.retry_after_s is None:
            return None
        if attempt >= self.max_retries or waited_s + error.retry_after_s > self.max_wait_s:
            return None
        return error.retry_after_s


NO_RETRY = RetryPolicy(max_retries=0, max_wait_s=0.0)


def retry_policy(retry: Union[bool, RetryPolicy]) -> RetryPolicy:
    if isinstance(retry, RetryPolicy):
        return retry
    return RetryPolicy() if retry else NO_RETRY


class SSEParser:
    """Incremental text/event-stream parser (the WHATWG rules: `event:`, `data:` lines joined by
    newlines, `id:`, comments ignored, an empty line ends an event)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._id: Optional[str] = None
        self.last_event_id: Optional[str] = None

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk
        events: list[Event] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                return events
            line = self._buffer[:end].rstrip(b"\r").decode("utf-8", "replace")
            self._buffer = self._buffer[end + 1 :]
            event = self._line(line)
            if event is not None:
                events.append(event)

    def _line(self, line: str) -> Optional[Event]:
        if not line:
            if not self._data and not self._event:
                return None
            text = "\n".join(self._data)
            try:
                data: Any = json.loads(text)
            except ValueError:
                data = text
            event = Event(event=self._event or "message", data=data, id=self._id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = self.last_event_id = value
        return None


class MultipartParser:
    """Incremental multipart/x-mixed-replace parser: each part's headers, then its bytes (by
    Content-Length when the part gives it, otherwise up to the next boundary)."""

    def __init__(self, content_type: str) -> None:
        match = re.search(r'boundary="?([^";]+)"?', content_type)
        if not match:
            raise ValueError(f"no boundary in {content_type!r}")
        boundary = match.group(1)
        self._delimiter = b"--" + boundary.removeprefix("--").encode()
        self._buffer = b""
        self._headers: Optional[dict[str, str]] = None

    def feed(self, chunk: bytes) -> list[Frame]:
        self._buffer += chunk
        frames: list[Frame] = []
        while True:
            if self._headers is None:
                start = self._buffer.find(self._delimiter)
                if start < 0:
                    return frames
                head_end = self._buffer.find(b"\r\n\r\n", start)
                if head_end < 0:
                    return frames
                lines = self._buffer[start + len(self._delimiter) : head_end].decode("latin-1").split("\r\n")
                self._headers = {}
                for line in lines:
                    name, sep, value = line.partition(":")
                    if sep:
                        self._headers[name.strip().lower()] = value.strip()
                self._buffer = self._buffer[head_end + 4 :]
            length = self._headers.get("content-length")
            if length is not None and length.isdigit():
                if len(self._buffer) < int(length):
                    return frames
                data, self._buffer = self._buffer[: int(length)], self._buffer[int(length) :]
            else:
                end = self._buffer.find(b"\r\n" + self._delimiter)
                if end < 0:
                    return frames
                data, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
            # A repeat of the last frame (sent so that browsers show it) is no new frame.
            if self._headers.get("x-frame-repeat") != "true":
                frames.append(Frame(data=data, content_type=self._headers.get("content-type", ""), headers=self._headers))
            self._headers = None


def chunks_of(data: Union[bytes, bytearray, memoryview], size: int = CHUNK) -> Iterable[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield bytes(view[start : start + size])


@dataclasses.dataclass(frozen=True)
class Timeout:
    """read: seconds of silence allowed while waiting for (a piece of) the answer, None for no
    limit; connect: seconds to open the connection."""

    read: Optional[float] = 300.0
    connect: float = 10.0


DEFAULT_TIMEOUT = Timeout()
STREAM_TIMEOUT = Timeout(read=None)  # a quiet stream is not a dead one


def timeout_of(value: Union[float, Timeout, None]) -> Timeout:
    if isinstance(value, Timeout):
        return value
    return Timeout(read=value)
