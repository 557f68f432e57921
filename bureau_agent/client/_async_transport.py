"""The async client's wire: aiohttp. Its twin _sync_transport.py uses the standard library.

Not httpx, which has both flavours: its async client cost about 0.8 ms more per call than
aiohttp's here (GET /v1/me through the local control plane, median of 300: httpx.AsyncClient
1.2 ms, aiohttp 0.4 ms), alone past the client's 0.3 ms budget; aiohttp is already the daemon's
own dependency. Both transports offer the same small surface (send, and a Response with
status_code, headers, content, json(), text, aread/read, aclose/close, aiter_bytes/iter_bytes),
so the client's one implementation sits on either.
"""

from __future__ import annotations

import json as jsonlib
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any, Optional, Union

import aiohttp

from bureau_agent.client._common import Timeout

Content = Union[bytes, AsyncIterator[bytes], None]


class TransportError(Exception):
    """No answer: refused, reset, timed out."""


class Response:
    def __init__(self, raw: aiohttp.ClientResponse, content: Optional[bytes]) -> None:
        self._raw = raw
        self.status_code = raw.status
        self.headers: Mapping[str, str] = raw.headers
        self._content = content

    @property
    def content(self) -> bytes:
        assert self._content is not None, "a streamed answer: read it with aiter_bytes()"
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode(self._raw.get_encoding() if self._raw.charset else "utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    async def aread(self) -> bytes:
        if self._content is None:
            try:
                self._content = await self._raw.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TransportError(repr(exc)) from exc
        return self._content

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._raw.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(repr(exc)) from exc

    async def aclose(self) -> None:
        if self._content is None and not self._raw.content.at_eof():
            self._raw.close()  # a stream left midway: its connection cannot serve another call
        else:
            self._raw.release()


class Transport:
    def __init__(self, timeout: Timeout, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self._timeout = timeout
        self._ssl: Union[ssl.SSLContext, bool] = ssl_context or True  # True: verify with the system's CAs
        self._session: Optional[aiohttp.ClientSession] = None

    def _client(self) -> aiohttp.ClientSession:
        # made on first use: an aiohttp session belongs to the loop that is running then
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=True)
        return self._session

    async def send(
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
        all_headers = dict(headers)
        data: Any = content
        if json is not None:
            data = jsonlib.dumps(json).encode()
            all_headers["Content-Type"] = "application/json"
        try:
            raw = await self._client().request(
                method,
                url,
                params=params,
                data=data,
                headers=all_headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=t.connect, sock_read=t.read),
                allow_redirects=False,
                ssl=self._ssl,
            )
            body = None if stream else await raw.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(repr(exc)) from exc
        if not stream:
            raw.release()
        return Response(raw, body)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
