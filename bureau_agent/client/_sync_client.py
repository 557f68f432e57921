"""GENERATED from _async_client.py by _unasync.py: do not edit (the sync client, same methods)."""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Iterator, Callable, Mapping, Sequence
from typing import Any, Literal, Optional, Union
from urllib.parse import quote

from bureau_agent.client._sync_io import Sink, Source, read_source, sleep, write_sink
from bureau_agent.client._sync_transport import Content, Response, Transport, TransportError
from bureau_agent.client._common import (
    DEFAULT_TIMEOUT,
    STREAM_TIMEOUT,
    USER_AGENT,
    MultipartParser,
    RetryPolicy,
    SSEParser,
    api_key_from,
    base_url_from,
    body,
    camelize,
    point,
    query,
    region_param,
    retry_policy,
    screenshot_of,
    Timeout,
    timeout_of,
)
from bureau_agent.client.errors import (
    BureauError,
    ConnectionFailed,
    DesktopFailed,
    DesktopNotRunning,
    FileNotFound,
    NotFound,
    ReadyTimeout,
    error_from_response,
)
from bureau_agent.client.models import (
    AccessibilityTree,
    ActResult,
    Button,
    ChatReply,
    ClipboardContent,
    ClipboardSet,
    DesktopInfo,
    Direction,
    Directory,
    Event,
    ExecResult,
    FileInfo,
    Frame,
    KeyResult,
    Me,
    Point,
    Position,
    Region,
    Screenshot,
    Selection,
    Typed,
    Window,
    WindowList,
    WindowState,
    Written,
)


class Bureau:
    """The public API: `Bureau(api_key=…, base_url=…)`, both defaulting to BUREAU_API_KEY
    and BUREAU_API_URL (http://127.0.0.1:8700).

    retry: True (429/503 answers with Retry-After are retried, at most 3 times and 30 s of waiting
    in all), False (never), or a RetryPolicy of your own. ssl_context: for https URLs (default: the
    system's CAs, verified). on_response(method, path, status): called for every answer, retried
    ones included (for logs and metrics). timeout: seconds of silence allowed
    while waiting for an answer, or a Timeout(read, connect), for one call (exec, bash, python and chat stretch it to their own timeoutMs).
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        *,
        retry: Union[bool, RetryPolicy] = True,
        timeout: Union[float, Timeout] = DEFAULT_TIMEOUT,
        ssl_context: Optional[ssl.SSLContext] = None,
        on_response: Optional[Callable[[str, str, int], None]] = None,
    ) -> None:
        self.base_url = base_url_from(base_url)
        self.retry = retry_policy(retry)
        self._timeout = timeout_of(timeout)
        self._auth = {"Authorization": f"Bearer {api_key_from(api_key)}", "User-Agent": USER_AGENT}
        self._http = Transport(self._timeout, ssl_context)
        self._on_response = on_response

    def __enter__(self) -> Bureau:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # the HTTP core -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Mapping[str, str]] = None,
        json: Any = None,
        content: Content = None,
        headers: Optional[Mapping[str, str]] = None,
        stream: bool = False,
        timeout: Optional[Timeout] = None,
    ) -> Response:
        """One call of the public API: the answer when its status is below 400 (304 included),
        otherwise the BureauError of its code, after the retries the policy allows. A body that is
        an iterator is sent once only, so such a call is never retried."""
        replayable = content is None or isinstance(content, bytes)
        attempt, waited = 0, 0.0
        while True:
            try:
                response = self._http.send(
                    method,
                    self.base_url + path,  # absolute: a caller's own http_client has no base URL
                    params=params,
                    json=json,
                    content=content,
                    headers={**self._auth, **(headers or {})},
                    stream=stream,
                    timeout=timeout,
                )
            except TransportError as exc:
                raise ConnectionFailed(f"{method} {self.base_url}{path} failed: {exc}") from exc
            if self._on_response is not None:
                self._on_response(method, path, response.status_code)
            if response.status_code < 400:
                return response
            data = response.read()
            response.close()
            error = error_from_response(response.status_code, response.headers, data)
            delay = self.retry.delay(error, attempt, waited) if replayable else None
            if delay is None:
                raise error
            sleep(delay)
            attempt, waited = attempt + 1, waited + delay

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json()

    def _events(self, path: str, **kwargs: Any) -> Iterator[Event]:
        response = self.request("GET", path, stream=True, timeout=STREAM_TIMEOUT, **kwargs)
        try:
            parser = SSEParser()
            for chunk in response.iter_bytes():
                for event in parser.feed(chunk):
                    yield event
        finally:
            response.close()

    # the routes --------------------------------------------------------------------------

    def me(self) -> Me:
        """GET /v1/me: this key's id, name, capabilities and rate limit."""
        return self._json("GET", "/v1/me")

    def desktops(self) -> list[DesktopInfo]:
        """GET /v1/desktops: every desktop the key owns (destroyed ones excluded)."""
        return (self._json("GET", "/v1/desktops"))["desktops"]

    def desktop(self, desktop_id: str) -> Desktop:
        """A handle on one desktop (no request is made until a method is called)."""
        return Desktop(self, desktop_id)

    def desktops_stream(self) -> Iterator[Event]:
        """GET /v1/desktops/stream: `desktop.status` and `desktop.metrics` events, as they happen."""
        for event in self._events("/v1/desktops/stream"):
            yield event

    def openapi(self) -> dict[str, Any]:
        """GET /v1/openapi.json: the OpenAPI 3 document of the public API."""
        return self._json("GET", "/v1/openapi.json")


class Desktop:
    """One desktop. Control methods need it running with agentReady (else DesktopNotRunning or
    AgentNotReady, both 503); coordinates are pixels of the X screen, origin top-left."""

    def __init__(self, bureau: Bureau, desktop_id: str) -> None:
        self.id = desktop_id
        self.bureau = bureau
        self.path = f"/v1/desktops/{quote(desktop_id, safe='')}"
        self.clipboard = Clipboard(self)
        self.files = Files(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"

    def _post(self, route: str, payload: Mapping[str, Any], timeout_ms: Optional[int] = None) -> Any:
        timeout = None
        if timeout_ms is not None:
            # the call may legitimately run for its whole timeoutMs: wait that long, and a margin
            read = self.bureau._timeout.read
            timeout = Timeout(read=None if read is None else max(read, timeout_ms / 1000 + 30.0))
        return self.bureau._json("POST", f"{self.path}/{route}", json=dict(payload), timeout=timeout)

    # read and lifecycle --------------------------------------------------------------------

    def info(self) -> DesktopInfo:
        """GET /v1/desktops/:id: status (stopped, booting, running, stopping, error), agentReady, …"""
        return self.bureau._json("GET", self.path)

    def start(self) -> DesktopInfo:
        """Queue a boot (returns at once, status `booting`); wait_ready() waits for the end of it."""
        return self.bureau._json("POST", f"{self.path}/start")

    def stop(self) -> DesktopInfo:
        """Stop the desktop; returns once every process has ended (status `stopped`)."""
        return self.bureau._json("POST", f"{self.path}/stop")

    def restart(self) -> DesktopInfo:
        """Stop, then queue a boot (status `booting`)."""
        return self.bureau._json("POST", f"{self.path}/restart")

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.25) -> DesktopInfo:
        """Poll until the desktop is running with agentReady: true. Raises ReadyTimeout after
        `timeout` seconds, DesktopFailed when it goes to `error`, DesktopNotRunning when it is
        stopped (nothing will boot it: call start() first)."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.info()
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
            sleep(min(interval, left))

    # input --------------------------------------------------------------------------------

    def click(
        self,
        x: Optional[int] = None,
        y: Optional[int] = None,
        *,
        button: Optional[Button] = None,
        clicks: Optional[int] = None,
        modifiers: Optional[Sequence[str]] = None,
    ) -> Position:
        """Click at (x, y), or where the pointer is when both are left out. → the pointer position."""
        return self._post(
            "click", body(x=x, y=y, button=button, clicks=clicks, modifiers=list(modifiers) if modifiers else None)
        )

    def move(self, x: int, y: int) -> Position:
        """Move the pointer without clicking."""
        return self._post("move", {"x": x, "y": y})

    def drag(
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
        return self._post(
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

    def scroll(
        self,
        direction: Direction,
        amount: Optional[int] = None,
        *,
        x: Optional[int] = None,
        y: Optional[int] = None,
        modifiers: Optional[Sequence[str]] = None,
    ) -> Position:
        """Turn the wheel `amount` clicks (default 3), at (x, y) when given."""
        return self._post(
            "scroll",
            body(direction=direction, amount=amount, x=x, y=y, modifiers=list(modifiers) if modifiers else None),
        )

    def type(self, text: str, *, delay_ms: Optional[int] = None) -> Typed:
        """Type any Unicode text (newline is Return, tab is Tab). → how many code points were typed."""
        return self._post("type", body(text=text, delay_ms=delay_ms))

    def key(self, key: str, *, repeat: Optional[int] = None) -> KeyResult:
        """xdotool key syntax: `Return`, `ctrl+a`, `ctrl+shift+t`, `ctrl+a BackSpace`."""
        return self._post("key", body(key=key, repeat=repeat))

    def screenshot(
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
        response = self.bureau.request("GET", f"{self.path}/screenshot", params=params, headers=headers)
        return screenshot_of(response.status_code, response.headers, response.content)

    def act(
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
        return self._post("act", payload)

    # commands and chat ------------------------------------------------------------------------

    def exec(
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
        return self._post("exec", payload, timeout_ms)

    def bash(
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
        return self._post("bash", payload, timeout_ms)

    def python(
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
        return self._post("python", payload, timeout_ms)

    def chat(
        self, message: str, *, conversation_id: Optional[str] = None, timeout_ms: Optional[int] = None
    ) -> ChatReply:
        """Send a message to the on-desktop AI agent and wait for its whole reply."""
        payload = body(message=message, conversation_id=conversation_id, timeout_ms=timeout_ms)
        return self._post("chat", payload, timeout_ms)

    def chat_stream(
        self, message: str, *, conversation_id: Optional[str] = None, timeout_ms: Optional[int] = None
    ) -> Iterator[Event]:
        """The reply as it is written: `{"delta"}` events, then the last `{"response", …}` one.
        An error after the first byte arrives as a last event whose data has "error"."""
        payload = body(message=message, conversation_id=conversation_id, timeout_ms=timeout_ms, stream=True)
        response = self.bureau.request(
            "POST", f"{self.path}/chat", json=payload, stream=True, timeout=STREAM_TIMEOUT
        )
        try:
            parser = SSEParser()
            for chunk in response.iter_bytes():
                for event in parser.feed(chunk):
                    yield event
        finally:
            response.close()

    # windows and accessibility -------------------------------------------------------------------

    def windows(self) -> WindowList:
        """The managed top-level windows, bottom of the stack first, and the active one's id."""
        return self.bureau._json("GET", f"{self.path}/windows")

    def window_activate(self, window_id: int) -> dict[str, bool]:
        return self._post(f"windows/{int(window_id)}/activate", {})

    def window_close(
        self, window_id: int, *, force: Optional[bool] = None, timeout_ms: Optional[int] = None
    ) -> dict[str, bool]:
        return self._post(f"windows/{int(window_id)}/close", body(force=force, timeout_ms=timeout_ms))

    def window_geometry(
        self,
        window_id: int,
        *,
        x: Optional[int] = None,
        y: Optional[int] = None,
        width: Optional[int] = None,
        height: Optional[int] = None,
    ) -> Window:
        return self._post(f"windows/{int(window_id)}/geometry", body(x=x, y=y, width=width, height=height))

    def window_state(self, window_id: int, state: WindowState) -> Window:
        return self._post(f"windows/{int(window_id)}/state", {"state": state})

    def accessibility(
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
        response = self.bureau.request("GET", f"{self.path}/accessibility", params=params)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # streams ------------------------------------------------------------------------------------

    def events(self, *, last_event_id: Optional[str] = None) -> Iterator[Event]:
        """The desktop's activity: `status` and `action` events as they happen (with
        last_event_id: first those after it that the desktop still holds)."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else None
        for event in self.bureau._events(f"{self.path}/events", headers=headers):
            yield event

    def screen_stream(
        self,
        *,
        format: Optional[Literal["jpeg", "png"]] = None,
        quality: Optional[int] = None,
        max_width: Optional[int] = None,
        max_height: Optional[int] = None,
        fps: Optional[int] = None,
    ) -> Iterator[Frame]:
        """A frame each time the screen changes (at most fps a second), none while it does not."""
        params = query(format=format, quality=quality, max_width=max_width, max_height=max_height, fps=fps)
        response = self.bureau.request(
            "GET", f"{self.path}/screen/stream", params=params, stream=True, timeout=STREAM_TIMEOUT
        )
        try:
            parser = MultipartParser(response.headers.get("content-type", ""))
            for chunk in response.iter_bytes():
                for frame in parser.feed(chunk):
                    yield frame
        finally:
            response.close()


class Clipboard:
    """desktop.clipboard: read and set the X selections (clipboard, or primary)."""

    def __init__(self, desktop: Desktop) -> None:
        self._desktop = desktop

    def get(self, *, selection: Optional[Selection] = None) -> ClipboardContent:
        """The selection's text (None when no one owns it), its targets and owner window."""
        d = self._desktop
        return d.bureau._json("GET", f"{d.path}/clipboard", params=query(selection=selection))

    def set(self, text: str, *, selection: Optional[Selection] = None) -> ClipboardSet:
        """Own the selection with this text until another application takes it."""
        return self._desktop._post("clipboard", body(text=text, selection=selection))


class Files:
    """desktop.files: the desktop's files, with the desktop user's rights. Paths are absolute
    or relative to that user's home. Uploads and downloads stream: never all in memory."""

    def __init__(self, desktop: Desktop) -> None:
        self._desktop = desktop
        self._path = f"{desktop.path}/files"

    def list(self, path: str = ".") -> Directory:
        """A directory's entries, sorted by name."""
        response = self._desktop.bureau.request("GET", self._path, params={"path": path})
        if not response.headers.get("content-type", "").startswith("application/json"):
            raise BureauError(f"{path} is a file, not a directory: use read() or download()", code="not_a_directory")
        return response.json()

    def read(self, path: str) -> bytes:
        """A (small) file's bytes; download() streams a large one to disk."""
        response = self._desktop.bureau.request("GET", self._path, params={"path": path})
        return response.content

    def download(self, path: str, dest: Sink) -> int:
        """Stream a file to `dest` (a path, created or replaced, or a binary file object). → bytes."""
        response = self._desktop.bureau.request(
            "GET", self._path, params={"path": path}, stream=True, timeout=STREAM_TIMEOUT
        )
        try:
            return write_sink(response.iter_bytes(), dest)
        finally:
            response.close()

    def upload(
        self,
        path: str,
        source: Union[bytes, Source],
        *,
        parents: Optional[bool] = None,
        overwrite: Optional[bool] = None,
    ) -> Written:
        """Write `source` (bytes, a path, or a binary file object, streamed) to `path` on the
        desktop, atomically. → its path, size and sha256."""
        params = query(path=path, parents=parents, overwrite=overwrite)
        headers = {"Content-Type": "application/octet-stream"}
        content: Content
        if isinstance(source, (bytes, bytearray, memoryview)):
            content = bytes(source)
        else:
            size = _size_of(source)
            if size is not None:
                headers["Content-Length"] = str(size)  # so the server can refuse an oversize body up front
            content = read_source(source)
        return self._desktop.bureau._json(
            "PUT", self._path, params=params, content=content, headers=headers, timeout=STREAM_TIMEOUT
        )

    def stat(self, path: str) -> FileInfo:
        """HEAD: a file's size, type, ETag and modification time without its bytes."""
        try:
            response = self._desktop.bureau.request("HEAD", self._path, params={"path": path})
        except NotFound as exc:
            if exc.code != "http_404":
                raise
            # a HEAD answer has no body to name its code: on this route a 404 is a missing path
            raise FileNotFound(f"{path} does not exist (as the desktop user sees it).", status=404) from exc
        h = response.headers
        length = h.get("content-length")
        return FileInfo(
            path=path,
            size=int(length) if length and length.isdigit() else None,
            content_type=h.get("content-type"),
            etag=h.get("etag"),
            last_modified=h.get("last-modified"),
        )

    def delete(self, path: str, *, recursive: Optional[bool] = None) -> dict[str, bool]:
        d = self._desktop
        return d.bureau._json("DELETE", self._path, params=query(path=path, recursive=recursive))

    def mkdir(self, path: str, *, parents: Optional[bool] = None) -> dict[str, Any]:
        return self._desktop._post("files/mkdir", body(path=path, parents=parents))

    def move(self, from_: str, to: str, *, overwrite: Optional[bool] = None) -> dict[str, Any]:
        return self._desktop._post("files/move", body(from_=from_, to=to, overwrite=overwrite))


def _size_of(source: Source) -> Optional[int]:
    """The number of bytes an upload will send, when it can be known without reading it."""
    try:
        if isinstance(source, (str, os.PathLike)):
            return os.stat(source).st_size
        if source.seekable():
            return os.fstat(source.fileno()).st_size - source.tell()
    except (OSError, ValueError, AttributeError):
        pass
    return None
