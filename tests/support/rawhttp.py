"""HTTP/1.1 over a bare socket, for requests that no well-behaved client library would send."""

from __future__ import annotations

import dataclasses
import json
import socket
from typing import Any


@dataclasses.dataclass
class RawAnswer:
    status: int | None  # None: the connection ended without a status line
    headers: dict[str, str]
    body: bytes
    error: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        try:
            return self.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None


def request_bytes(method: str, path: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


def exchange(port: int, data: bytes, timeout_s: float = 15.0) -> RawAnswer:
    """Send data, then read the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        error = None
        try:
            sock.sendall(data)
        except OSError as exc:  # the server may answer and close before reading everything
            error = f"send: {exc}"
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if complete(b"".join(chunks)):  # a keep-alive server may not close at once
                    break
        except OSError as exc:
            error = f"recv: {exc}"
    return parse(b"".join(chunks), error)


def complete(raw: bytes) -> bool:
    answer = parse(raw)
    length = answer.headers.get("content-length")
    return answer.status is not None and length is not None and len(answer.body) >= int(length)


def parse(raw: bytes, error: str | None = None) -> RawAnswer:
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if not sep or len(parts) < 2 or not parts[1].isdigit():
        return RawAnswer(None, {}, raw, error or "no status line")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return RawAnswer(int(parts[1]), headers, body, error)
