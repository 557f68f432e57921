"""What the public API answers, typed. JSON answers are TypedDicts with the API's own (camelCase)
keys, exactly as docs/control-plane.md and the agent contract spell them, so nothing is renamed
between the wire and the program; binary answers and stream items are small dataclasses."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal, Optional, TypedDict, Union

# Python 3.10 has no typing.NotRequired; total=False classes carry the optional keys instead.

Point = Union[tuple[int, int], "PointDict"]
Button = Literal["left", "middle", "right", "back", "forward"]
Direction = Literal["up", "down", "left", "right"]
Selection = Literal["clipboard", "primary"]
WindowState = Literal["normal", "minimized", "maximized", "fullscreen"]


class PointDict(TypedDict):
    x: int
    y: int


class Region(TypedDict):
    x: int
    y: int
    w: int
    h: int


class RateLimit(TypedDict):
    perMinute: int


class Me(TypedDict):
    id: str
    name: str
    capabilities: list[str]
    rateLimit: RateLimit


class DesktopInfo(TypedDict):
    id: str
    name: str
    status: Literal["stopped", "booting", "running", "stopping", "error"]
    tier: str
    ipAddress: Optional[str]
    agentReady: bool
    createdAt: str
    display: Optional[str]
    heartbeat: Optional[dict[str, Any]]
    error: Optional[str]


class Position(TypedDict):
    x: int
    y: int


class Typed(TypedDict):
    typed: int


class KeyResult(TypedDict):
    key: str


class Truncated(TypedDict):
    stdout: bool
    stderr: bool


class ExecResult(TypedDict):
    stdout: str
    stderr: str
    exitCode: Optional[int]
    signal: Optional[str]
    timedOut: bool
    durationMs: int
    truncated: Truncated


class ChatReply(TypedDict):
    response: str
    conversationId: Optional[str]
    durationMs: int


class ActScreenshot(TypedDict):
    contentType: str
    data: str  # base64
    width: int
    height: int
    screenWidth: int
    screenHeight: int
    scale: float
    etag: str


class ActResult(TypedDict):
    results: list[dict[str, Any]]
    settled: bool
    changed: bool
    changedRegion: Optional[Region]
    settleMs: int
    durationMs: int
    screenshot: Optional[ActScreenshot]


class Window(TypedDict):
    id: int
    title: str
    # "class" is a Python keyword: read it as window["class"]
    instance: str
    pid: Optional[int]
    x: int
    y: int
    width: int
    height: int
    desktop: Optional[int]
    focused: bool
    state: WindowState


class WindowList(TypedDict):
    windows: list[Window]
    activeWindow: Optional[int]


class ClipboardContent(TypedDict):
    text: Optional[str]
    targets: list[str]
    owner: Optional[int]


class ClipboardSet(TypedDict):
    length: int


class FileEntry(TypedDict):
    name: str
    type: Literal["file", "dir", "symlink", "other"]
    size: int
    modifiedAt: str
    mode: str


class _DirectoryBase(TypedDict):
    path: str
    entries: list[FileEntry]


class Directory(_DirectoryBase, total=False):
    truncated: bool


class Written(TypedDict):
    path: str
    size: int
    sha256: str


class AccessibilityTree(TypedDict, total=False):
    root: dict[str, Any]
    nodeCount: int
    truncated: bool
    durationMs: int
    skipped: list[Any]


@dataclasses.dataclass(frozen=True)
class Screenshot:
    """An image of the screen. `scale` is image pixels per screen pixel (X-Scale): a point (u, v)
    of the image is the screen point (round(u / scale), round(v / scale))."""

    data: bytes
    content_type: str
    scale: float
    screen_width: int
    screen_height: int
    etag: Optional[str] = None
    not_modified: bool = False  # a 304 for if_none_match: data is empty, the screen is unchanged

    def to_screen(self, x: float, y: float) -> tuple[int, int]:
        return round(x / self.scale), round(y / self.scale)

    def save(self, path: Union[str, Path]) -> Path:
        path = Path(path)
        path.write_bytes(self.data)
        return path


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """HEAD /files: what the headers say about a file."""

    path: str
    size: Optional[int]
    content_type: Optional[str]
    etag: Optional[str]
    last_modified: Optional[str]


@dataclasses.dataclass(frozen=True)
class Event:
    """One Server-Sent Event: `event` is its type (`status`, `action`, `delta`, …), `data` the
    decoded JSON (or the raw text when it is not JSON)."""

    event: str
    data: Any
    id: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Frame:
    """One frame of the screen stream."""

    data: bytes
    content_type: str
    headers: dict[str, str]
