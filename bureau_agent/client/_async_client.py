"""The client's one implementation, asynchronous: AsyncBureau here, AsyncDesktop in
_async_desktop.py, its clipboard and files in _async_files.py. The _sync_* twins are generated
from these three by _unasync.py (`python -m bureau_agent.client._unasync`; a test fails when they
are stale), so `Bureau` and `AsyncBureau` have the same methods, arguments, answers and errors by
construction.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Optional, Union

from bureau_agent.client._async_desktop import AsyncDesktop
from bureau_agent.client._async_io import sleep
from bureau_agent.client._async_transport import Content, Response, Transport, TransportError
from bureau_agent.client._common import (
    DEFAULT_TIMEOUT,
    STREAM_TIMEOUT,
    USER_AGENT,
    RetryPolicy,
    SSEParser,
    Timeout,
    api_key_from,
    base_url_from,
    retry_policy,
    timeout_of,
)
from bureau_agent.client.errors import ConnectionFailed, error_from_response
from bureau_agent.client.models import DesktopInfo, Event, Me


class AsyncBureau:
    """The public API: `AsyncBureau(api_key=…, base_url=…)`, both defaulting to BUREAU_API_KEY
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

    async def __aenter__(self) -> AsyncBureau:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # the HTTP core -----------------------------------------------------------------------

    async def request(
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
                response = await self._http.send(
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
            data = await response.aread()
            await response.aclose()
            error = error_from_response(response.status_code, response.headers, data)
            delay = self.retry.delay(error, attempt, waited) if replayable else None
            if delay is None:
                raise error
            await sleep(delay)
            attempt, waited = attempt + 1, waited + delay

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        return response.json()

    async def _events(self, path: str, method: str = "GET", **kwargs: Any) -> AsyncIterator[Event]:
        response = await self.request(method, path, stream=True, timeout=STREAM_TIMEOUT, **kwargs)
        try:
            parser = SSEParser()
            async for chunk in response.aiter_bytes():
                for event in parser.feed(chunk):
                    yield event
        finally:
            await response.aclose()

    # the routes --------------------------------------------------------------------------

    async def me(self) -> Me:
        """GET /v1/me: this key's id, name, capabilities and rate limit."""
        return await self._json("GET", "/v1/me")

    async def desktops(self) -> list[DesktopInfo]:
        """GET /v1/desktops: every desktop the key owns (destroyed ones excluded)."""
        return (await self._json("GET", "/v1/desktops"))["desktops"]

    def desktop(self, desktop_id: str) -> AsyncDesktop:
        """A handle on one desktop (no request is made until a method is called)."""
        return AsyncDesktop(self, desktop_id)

    async def desktops_stream(self) -> AsyncIterator[Event]:
        """GET /v1/desktops/stream: `desktop.status` and `desktop.metrics` events, as they happen."""
        async for event in self._events("/v1/desktops/stream"):
            yield event

    async def openapi(self) -> dict[str, Any]:
        """GET /v1/openapi.json: the OpenAPI 3 document of the public API."""
        return await self._json("GET", "/v1/openapi.json")
