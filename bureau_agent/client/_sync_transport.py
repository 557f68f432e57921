"""The sync client's wire: the standard library's http.client, with a small keep-alive pool
(the twin of _async_transport.py).

Not httpx: measured against the same local control plane, interleaved call by call (GET /v1/me,
median of 550), http.client took 0.48 ms, aiohttp 0.58 ms and httpx.Client 0.95 ms: httpx alone
was past the client's 0.3 ms budget over plain aiohttp. What the client needs of HTTP is small:
keep-alive, streamed bodies both ways, connect and read timeouts, TLS.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import select
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Optional, Union
from urllib.parse import urlencode, urlsplit

from bureau_agent.client._common import CHUNK, Timeout

Content = Union[bytes, Iterator[bytes], None]
POOL_SIZE = 8


class TransportError(Exception):
    """No answer: refused, reset, timed out."""


ERRORS = (OSError, http.client.HTTPException)


class Response:
    def __init__(self, raw: http.client.HTTPResponse, release: Any, content: Optional[bytes]) -> None:
        self._raw = raw
        self._release = release
        self.status_code = raw.status
        self.headers: Mapping[str, str] = raw.headers  # an email.message.Message: case-insensitive get
        self._content = content

    @property
    def content(self) -> bytes:
        assert self._content is not None, "a streamed answer: read it with iter_bytes()"
        return self._content

    @property
    def text(self) -> str:
        charset = self._raw.headers.get_content_charset() or "utf-8"
        return self.content.decode(charset, "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def read(self) -> bytes:
        if self._content is None:
            try:
                self._content = self._raw.read()
            except ERRORS as exc:
                raise TransportError(repr(exc)) from exc
        return self._content

    def iter_bytes(self) -> Iterator[bytes]:
        try:
            while True:
                chunk = self._raw.read1(CHUNK)
                if not chunk:
                    return
                yield chunk
        except ERRORS as exc:
            raise TransportError(repr(exc)) from exc

    def close(self) -> None:
        self._release()


class Transport:
    def __init__(self, timeout: Timeout, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self._timeout = timeout
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()  # a Bureau may be shared by threads: each call has its own connection

    def _connection(self, scheme: str, host: str, port: int, timeout: Timeout) -> tuple[http.client.HTTPConnection, bool]:
        key = (scheme, host, port)
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                conn = idle.pop()
                if conn.sock is not None and not _closed_by_peer(conn.sock):
                    return conn, True
                conn.close()
        if scheme == "https":
            context = self._ssl or ssl.create_default_context()
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=timeout.connect, context=context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout.connect)
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, False

    def _put_back(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < POOL_SIZE:
                idle.append(conn)
                return
        conn.close()

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Optional[Mapping[str, str]],
        json: Any,
        content: Content,
        headers: Mapping[str, str],
        stream: bool,
        timeout: Optional[Timeout],
    ) -> Response:
        t = timeout or self._timeout
        parts = urlsplit(url)
        scheme = parts.scheme or "http"
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname or "127.0.0.1", port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        all_headers = dict(headers)
        body: Any = content
        if json is not None:
            body = jsonlib.dumps(json).encode()
            all_headers["Content-Type"] = "application/json"
        if body is None and method in ("POST", "PUT"):
            body = b""  # Content-Length: 0
        chunked = body is not None and not isinstance(body, bytes) and "Content-Length" not in all_headers
        for attempt in (0, 1):
            conn, reused = self._connection(*key, timeout=t)
            try:
                conn.sock.settimeout(t.read)  # type: ignore[union-attr]
                conn.request(method, target, body=body, headers=all_headers, encode_chunked=chunked)
                raw = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                # A reused connection the server had just closed: the request never reached it.
                # Only a bytes body can be sent again.
                if reused and attempt == 0 and (body is None or isinstance(body, bytes)):
                    continue
                raise TransportError(repr(exc)) from exc
            except ERRORS as exc:
                conn.close()
                raise TransportError(repr(exc)) from exc
            break

        def release() -> None:
            if raw.isclosed() and not raw.will_close:
                self._put_back(key, conn)
            else:
                conn.close()

        data = None
        if not stream:
            try:
                data = raw.read()
            except ERRORS as exc:
                conn.close()
                raise TransportError(repr(exc)) from exc
            release()
        return Response(raw, release, data)

    def close(self) -> None:
        with self._lock:
            for idle in self._idle.values():
                for conn in idle:
                    conn.close()
            self._idle.clear()


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle keep-alive connection that is readable has been closed (or broken) by the server."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
