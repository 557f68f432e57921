"""AsyncDesktop: one desktop's routes (the one implementation; _sync_desktop.py is generated)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Optional, Union
from urllib.parse import quote

from bureau_agent.client._async_files import AsyncClipboard, AsyncFiles
from bureau_agent.client._async_io import sleep
from bureau_agent.client._common import (
    STREAM_TIMEOUT,
    MultipartParser,
    Timeout,
    body,
    camelize,
    point,
    query,
    region_param,
    screenshot_of,
)
from bureau_agent.client.errors import DesktopFailed, DesktopNotRunning, ReadyTimeout
from bureau_agent.client.models import (
    AccessibilityTree,
    ActResult,
    Button,
    ChatReply,
    DesktopInfo,
    Direction,
    Event,
    ExecResult,
    Frame,
    KeyResult,
    Point,
    Position,
    Region,
    Screenshot,
    Typed,
    Window,
    WindowList,
    WindowState,
)

if TYPE_CHECKING:
    from bureau_agent.client._async_client import AsyncBureau


class AsyncDesktop:
    """One desktop. Control methods need it running with agentReady (else DesktopNotRunning or
    AgentNotReady, both 503); coordinates are pixels of the X screen, origin top-left."""

    def __init__(self, bureau: AsyncBureau, desktop_id: str) -> None:
        self.id = desktop_id
        self.bureau = bureau
        self.path = f"/v1/desktops/{quote(desktop_id, safe='')}"
        self.clipboard = AsyncClipboard(self)
        self.files = AsyncFiles(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"

    async def _post(self, route: str, payload: Mapping[str, Any], timeout_ms: Optional[int] = None) -> Any:
        timeout = None
        if timeout_ms is not None:
            # the call may legitimately run for its whole timeoutMs: wait that long, and a margin
            read = self.bureau._timeout.read
            timeout = Timeout(read=None if read is None else max(read, timeout_ms / 1000 + 30.0))
        return await self.bureau._json("POST", f"{self.path}/{route}", json=dict(payload), timeout=timeout)

    # read and lifecycle --------------------------------------------------------------------

    async def info(self) -> DesktopInfo:
        """GET /v1/desktops/:id: status (stopped, booting, running, stopping, error), agentReady, …"""
        return await self.bureau._json("GET", self.path)

    async def start(self) -> DesktopInfo:
        """Queue a boot (returns at once, status `booting`); wait_ready() waits for the end of it."""
        return await self.bureau._json("POST", f"{self.path}/start")

    async def stop(self) -> DesktopInfo:
        """Stop the desktop; returns once every process has ended (status `stopped`)."""
        return await self.bureau._json("POST", f"{self.path}/stop")

    async def restart(self) -> DesktopInfo:
        """Stop, then queue a boot (status `booting`)."""
        return await self.bureau._json("POST", f"{self.path}/restart")

    async def wait_ready(self, timeout: float = 60.0, interval: float = 0.25) -> DesktopInfo:
        """Poll until the desktop is running with agentReady: true. Raises ReadyTimeout after
        `timeout` seconds, DesktopFailed when it goes to `error`, DesktopNotRunning when it is
        stopped (nothing will boot it: call start() first)."""
        deadline = time.monotonic() + timeout
        while True:
            info = await self.info()
            if info["status"] == "running" and info["agentReady"]:
                return info
            if info["status"] == "error":
                raise DesktopFailed(f"desktop {self.id} failed: {info.get('error')}", details=dict(info))
            if info["status"] == "stopped":
                raise DesktopNotRunning(
                    f"desktop {self.id} is stopped: call start() before wait_ready()",
                    status=503,
                    details={"status": "stopped", "agentReady": False},
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReadyTimeout(
                    f"desktop {self.id} not ready after {timeout} s (status {info['status']}, agentReady {info['agentReady']})",
                    details=dict(info),
                )
            await sleep(min(interval, left))

    # input --------------------------------------------------------------------------------

    async def click(
        self,
        x: Optional[int] = None,
        y: Optional[int] = None,
        *,
        button: Optional[Button] = None,
        clicks: Optional[int] = None,
        modifiers: Optional[Sequence[str]] = None,
    ) -> Position:
        """Click at (x, y), or where the pointer is when both are left out. → the pointer position."""
        return await self._post(
            "click", body(x=x, y=y, button=button, clicks=clicks, modifiers=list(modifiers) if modifiers else None)
        )

    async def move(self, x: int, y: int) -> Position:
        """Move the pointer without clicking."""
        return await self._post("move", {"x": x, "y": y})

    async def drag(
        self,
        from_: Point,
        to: Point,
        *,
        button: Optional[Button] = None,
        modifiers: Optional[Sequence[str]] = None,
        duration_ms: Optional[int] = None,
        path: Optional[Sequence[Point]] = None,
    ) -> Position:
        """Press at from_, move through the waypoints of `path` to `to` over duration_ms, release.
        Points are (x, y) tuples or {"x", "y"} dicts."""
        return await self._post(
            "drag",
            body(
                from_=point(from_),
                to=point(to),
                button=button,
                modifiers=list(modifiers) if modifiers else None,
                duration_ms=duration_ms,
                path=[point(p) for p in path] if path else None,
            ),
        )

    async def scroll(
        self,
        direction: Direction,
        amount: Optional[int] = None,
        *,
        x: Optional[int] = None,
        y: Optional[int] = None,
        modifiers: Optional[Sequence[str]] = None,
    ) -> Position:
        """Turn the wheel `amount` clicks (default 3), at (x, y) when given."""
        return await self._post(
            "scroll",
            body(direction=direction, amount=amount, x=x, y=y, modifiers=list(modifiers) if modifiers else None),
        )

    async def type(self, text: str, *, delay_ms: Optional[int] = None) -> Typed:
        """Type any Unicode text (newline is Return, tab is Tab). → how many code points were typed."""
        return await self._post("type", body(text=text, delay_ms=delay_ms))

    async def key(self, key: str, *, repeat: Optional[int] = None) -> KeyResult:
        """xdotool key syntax: `Return`, `ctrl+a`, `ctrl+shift+t`, `ctrl+a BackSpace`."""
        return await self._post("key", body(key=key, repeat=repeat))

    async def screenshot(
        self,
        *,
        format: Optional[Literal["png", "jpeg", "webp"]] = None,
        quality: Optional[int] = None,
        max_width: Optional[int] = None,
        max_height: Optional[int] = None,
        region: Union[Region, tuple[int, int, int, int], str, None] = None,
        cursor: Optional[bool] = None,
        if_none_match: Optional[str] = None,
    ) -> Screenshot:
        """The screen as an image (PNG by default), with its scale and the screen's size.
        if_none_match: an earlier Screenshot.etag; an unchanged screen then gives not_modified."""
        params = query(
            format=format,
            quality=quality,
            max_width=max_width,
            max_height=max_height,
            region=region_param(region),
            cursor=cursor,
        )
        headers = {"If-None-Match": if_none_match} if if_none_match else None
        response = await self.bureau.request("GET", f"{self.path}/screenshot", params=params, headers=headers)
        return screenshot_of(response.status_code, response.headers, response.content)

    async def act(
        self,
        actions: Sequence[Mapping[str, Any]],
        *,
        image_scale: Optional[float] = None,
        settle: Union[Mapping[str, Any], Literal[False], None] = None,
        screenshot: Union[Mapping[str, Any], Literal[False], None] = None,
    ) -> ActResult:
        """Run the actions in order ({"action": "click", "x": …}, {"action": "type", "text": …},
        {"action": "wait", "ms": …}, …; keys in snake_case or camelCase), wait for the screen to
        settle, then take a screenshot (result["screenshot"]["data"] is base64)."""
        payload = body(
            actions=camelize(list(actions)),
            image_scale=image_scale,
            settle=camelize(settle) if settle else settle,
            screenshot=camelize(screenshot) if screenshot else screenshot,
        )
        return await self._post("act", payload)

    # commands and chat ------------------------------------------------------------------------

    async def exec(
        self,
        command: Optional[str] = None,
        *,
        argv: Optional[Sequence[str]] = None,
        timeout_ms: Optional[int] = None,
        cwd: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        stdin: Optional[str] = None,
    ) -> ExecResult:
        """Run a command (`/bin/sh -c command`, or argv) as the desktop user. The answer carries
        stdout, stderr and exitCode whatever the exit status: a failing command raises nothing."""
        payload = body(
            command=command,
            argv=list(argv) if argv is not None else None,
            timeout_ms=timeout_ms,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=stdin,
        )
        return await self._post("exec", payload, timeout_ms)

    async def bash(
        self,
        script: str,
        *,
        timeout_ms: Optional[int] = None,
        cwd: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        stdin: Optional[str] = None,
    ) -> ExecResult:
        """Run a multi-line bash script as the desktop user."""
        payload = body(script=script, timeout_ms=timeout_ms, cwd=cwd, env=dict(env) if env else None, stdin=stdin)
        return await self._post("bash", payload, timeout_ms)

    async def python(
        self,
        code: str,
        *,
        timeout_ms: Optional[int] = None,
        cwd: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        stdin: Optional[str] = None,
    ) -> ExecResult:
        """Run Python code with the desktop's python3, as the desktop user."""
        payload = body(code=code, timeout_ms=timeout_ms, cwd=cwd, env=dict(env) if env else None, stdin=stdin)
        return await self._post("python", payload, timeout_ms)

    async def chat(
        self, message: str, *, conversation_id: Optional[str] = None, timeout_ms: Optional[int] = None
    ) -> ChatReply:
        """Send a message to the on-desktop AI agent and wait for its whole reply."""
        payload = body(message=message, conversation_id=conversation_id, timeout_ms=timeout_ms)
        return await self._post("chat", payload, timeout_ms)

    async def chat_stream(
        self, message: str, *, conversation_id: Optional[str] = None, timeout_ms: Optional[int] = None
    ) -> AsyncIterator[Event]:
        """The reply as it is written: `{"delta"}` events, then the last `{"response", …}` one.
        An error after the first byte arrives as a last event whose data has "error"."""
        payload = body(message=message, conversation_id=conversation_id, timeout_ms=timeout_ms, stream=True)
        async for event in self.bureau._events(f"{self.path}/chat", method="POST", json=payload):
            yield event

    # windows and accessibility -------------------------------------------------------------------

    async def windows(self) -> WindowList:
        """The managed top-level windows, bottom of the stack first, and the active one's id."""
        return await self.bureau._json("GET", f"{self.path}/windows")

    async def window_activate(self, window_id: int) -> dict[str, bool]:
        return await self._post(f"windows/{int(window_id)}/activate", {})

    async def window_close(
        self, window_id: int, *, force: Optional[bool] = None, timeout_ms: Optional[int] = None
    ) -> dict[str, bool]:
        return await self._post(f"windows/{int(window_id)}/close", body(force=force, timeout_ms=timeout_ms))

    async def window_geometry(
        self,
        window_id: int,
        *,
        x: Optional[int] = None,
        y: Optional[int] = None,
        width: Optional[int] = None,
        height: Optional[int] = None,
    ) -> Window:
        return await self._post(f"windows/{int(window_id)}/geometry", body(x=x, y=y, width=width, height=height))

    async def window_state(self, window_id: int, state: WindowState) -> Window:
        return await self._post(f"windows/{int(window_id)}/state", {"state": state})

    async def accessibility(
        self,
        *,
        window: Union[int, Literal["active", "all"], None] = None,
        max_depth: Optional[int] = None,
        max_nodes: Optional[int] = None,
        interactive: Optional[bool] = None,
        format: Optional[Literal["json", "text"]] = None,
    ) -> Union[AccessibilityTree, str]:
        """The AT-SPI tree of a window (default the active one): a dict, or with format="text"
        one line a node, the form a language model reads best."""
        params = query(window=window, max_depth=max_depth, max_nodes=max_nodes, interactive=interactive, format=format)
        response = await self.bureau.request("GET", f"{self.path}/accessibility", params=params)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # streams ------------------------------------------------------------------------------------

    async def events(self, *, last_event_id: Optional[str] = None) -> AsyncIterator[Event]:
        """The desktop's activity: `status` and `action` events as they happen (with
        last_event_id: first those after it that the desktop still holds)."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else None
        async for event in self.bureau._events(f"{self.path}/events", headers=headers):
            yield event

    async def screen_stream(
        self,
        *,
        format: Optional[Literal["jpeg", "png"]] = None,
        quality: Optional[int] = None,
        max_width: Optional[int] = None,
        max_height: Optional[int] = None,
        fps: Optional[int] = None,
    ) -> AsyncIterator[Frame]:
        """A frame each time the screen changes (at most fps a second), none while it does not."""
        params = query(format=format, quality=quality, max_width=max_width, max_height=max_height, fps=fps)
        response = await self.bureau.request(
            "GET", f"{self.path}/screen/stream", params=params, stream=True, timeout=STREAM_TIMEOUT
        )
        try:
            parser = MultipartParser(response.headers.get("content-type", ""))
            async for chunk in response.aiter_bytes():
                for frame in parser.feed(chunk):
                    yield frame
        finally:
            await response.aclose()
