"""The sync client's wire: httpx.Client (the twin of _async_transport.py, which says why)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Optional, Union

import httpx

from bureau_agent.client._common import Timeout

HttpClient = httpx.Client
Content = Union[bytes, Iterator[bytes], None]


class TransportError(Exception):
    """No answer: refused, reset, timed out."""


class Response:
    def __init__(self, raw: httpx.Response) -> None:
        self._raw = raw
        self.status_code = raw.status_code
        self.headers: Mapping[str, str] = raw.headers

    @property
    def content(self) -> bytes:
        return self._raw.content

    @property
    def text(self) -> str:
        return self._raw.text

    def json(self) -> Any:
        return self._raw.json()

    def read(self) -> bytes:
        try:
            return self._raw.read()
        except httpx.TransportError as exc:
            raise TransportError(repr(exc)) from exc

    def iter_bytes(self) -> Iterator[bytes]:
        try:
            yield from self._raw.iter_bytes()
        except httpx.TransportError as exc:
            raise TransportError(repr(exc)) from exc

    def close(self) -> None:
        self._raw.close()


class Transport:
    def __init__(self, timeout: Timeout, http_client: Optional[HttpClient] = None) -> None:
        self._timeout = timeout
        self._own = http_client is None
        self._client = http_client or httpx.Client()

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
        request = self._client.build_request(
            method,
            url,
            params=params,
            json=json,
            content=content,
            headers=headers,
            timeout=httpx.Timeout(t.read, connect=t.connect),
        )
        try:
            return Response(self._client.send(request, stream=stream))
        except httpx.TransportError as exc:
            raise TransportError(repr(exc)) from exc

    def close(self) -> None:
        if self._own:
            self._client.close()
