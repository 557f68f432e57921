"""Forwarding a public control or chat call to the desktop's agent, and probing its readiness.

The request body goes to the agent unchanged (with the agent's token instead of the caller's
key), and the agent's answer comes back unchanged: status, body bytes (images included, not
re-encoded or decompressed) and headers, less the hop-by-hop ones. Both bodies are streamed, so
an upload or download of any size, or an endless stream, is never held whole here.

A streamed answer is registered on its desktop while it runs (LocalDesktop.streams): stopping
the desktop ends it (the agent side is closed, the caller's answer ends cleanly; a caller that
does not even read is cut off after END_GRACE_S), so no viewer is left on a dead desktop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload
from multidict import CIMultiDict
from yarl import URL

from bureau_agent import splicing
from bureau_agent.controlplane.desktops import AGENT_HOST, LocalDesktop, OpenStream
from bureau_agent.controlplane.errors import BadGateway, DesktopUnavailable
from bureau_agent.errors import AgentError
from bureau_agent.httpkit import takeover
from bureau_agent.httpkit.middleware import STARTED_STREAM, error_response
from bureau_agent.splicing import SocketBody

log = logging.getLogger("bureau_agent.controlplane.proxy")

# Headers of the caller's request that mean something to the agent.
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "If-None-Match", "Range", "If-Range")
# Headers of the agent's answer that belong to the hop, not to the answer.
DROPPED_RESPONSE_HEADERS = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Content-Length", "Date", "Server", "WWW-Authenticate",
    )
)  # fmt: skip
PROBE_TIMEOUT_S = 2.0
WHOLE_ANSWER_BYTES = 256 * 1024  # answers up to this size are read whole and sent in one write
STREAM_CHUNK_BYTES = 256 * 1024
CONNECT_TIMEOUT_S = 5.0
END_GRACE_S = 1.0  # a stream ended by a stop: how long its caller has to take the end


class AgentClient:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # No total timeout: exec and chat calls may legitimately run for their whole timeoutMs.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S)
        self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "AgentClient.open() was not awaited"
        return self._session

    async def ready(self, port: int, token: str) -> bool | None:
        """agentReady from the agent's GET /v1/status, or None unless it answers as this boot's agent.

        An authenticated route, not /v1/health: whatever else took the port (or an agent of an
        earlier boot) does not accept this boot's token, so it is never taken for the agent.
        """
        url = f"http://{AGENT_HOST}:{port}/v1/status"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self.session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)) as resp:
                if resp.status != 200:
                    return None
                data = json.loads(await resp.read())
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("agentReady"), bool) or not isinstance(data.get("bootId"), str):
            return None
        return data["agentReady"]

    async def forward(self, desktop: LocalDesktop, request: web.Request, action: str) -> web.StreamResponse:
        """The agent's answer to this request, streamed both ways: neither body is held whole."""
        check_callable(desktop)
        port, token = desktop.port, desktop.token
        assert port is not None and token is not None
        raw_query = request.rel_url.raw_query_string
        url = URL(f"http://{AGENT_HOST}:{port}/v1/{action}" + (f"?{raw_query}" if raw_query else ""), encoded=True)
        headers = {h: request.headers[h] for h in FORWARDED_REQUEST_HEADERS if h in request.headers}
        headers["Authorization"] = f"Bearer {token}"
        body: Any = None
        if request.body_exists:
            if request.content_length is not None:
                headers["Content-Length"] = str(request.content_length)
            body = _chunks(request.content)
        # An upload's body goes from the caller's socket into the agent's connection by splice
        # (SplicedBody), never through Python; any other body through aiohttp, chunk by chunk.
        spliceable = request.method == "PUT" and action == "files"
        with takeover.socket_body(request) if spliceable else contextlib.nullcontext() as taken:
            if isinstance(taken, SocketBody):
                body = SplicedBody(taken)
            elif isinstance(taken, bytes):
                body = _chunks(request.content, taken)
            try:
                return takeover.answer_closing(request, await self._exchange(desktop, request, url, headers, body))
            except AgentError as exc:
                if not request.get(takeover.TAKEN_OVER) or request.get(STARTED_STREAM):
                    raise
                return takeover.answer_closing(request, error_response(exc))  # the connection is out of step: closed

    async def _exchange(
        self, desktop: LocalDesktop, request: web.Request, url: URL, headers: dict[str, str], body: Any
    ) -> web.StreamResponse:
        try:
            async with self.session.request(
                request.method, url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                if resp.status == 401:  # the agent refused our token: a control-plane fault, not the caller's
                    raise BadGateway(f"The agent of desktop {desktop.id} refused the control plane's credentials.")
                answer_headers = CIMultiDict(
                    (k, v) for k, v in resp.headers.items() if k.lower() not in DROPPED_RESPONSE_HEADERS
                )
                length = resp.content_length
                if length is not None and length <= WHOLE_ANSWER_BYTES and request.method != "HEAD":
                    # small answers (every JSON reply) in one write: the common case stays cheap
                    return web.Response(status=resp.status, body=await resp.read(), headers=answer_headers)
                return await _stream(desktop, request, resp, answer_headers, length)
        except (aiohttp.ClientError, OSError) as exc:
            if request.get(STARTED_STREAM):
                raise  # the answer has begun: all that can be done is to end it
            log.warning("agent unreachable", extra={"desktop": desktop.id, "error": type(exc).__name__})
            raise DesktopUnavailable(
                "agent_unreachable",
                f"The agent of desktop {desktop.id} did not answer; retry shortly.",
                {"status": desktop.status, "agentReady": desktop.agent_ready},
                retry_after_s=1,
            ) from None


class SplicedBody(Payload):
    """A request body spliced from the caller's socket (httpkit.takeover) into the agent's
    connection (bureau_agent/splicing.py): what aiohttp had already buffered goes first, through
    aiohttp's writer with the headers; once that is on the wire, the rest moves socket → pipe →
    socket on a worker thread, one step at a time, and never through Python. Written to the
    agent's connection only while aiohttp writes nothing else to it (it is this request's body)."""

    def __init__(self, body: SocketBody) -> None:
        super().__init__(body)
        self._size = body.total

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a spliced body is never held, so it cannot be decoded")

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        body: SocketBody = self._value
        if body.head:
            await writer.write(body.head)
        else:
            writer.send_headers()  # type: ignore[attr-defined]
        await writer.drain()
        transport = writer.transport
        out = transport.get_extra_info("socket") if transport is not None else None
        if transport is None or out is None:
            raise ConnectionResetError("the connection to the agent closed before the body")
        while transport.get_write_buffer_size():  # the spliced bytes must follow aiohttp's, never overtake them
            await asyncio.sleep(0.001)
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[int] | None = None
        with splicing.pipe() as ends:
            try:
                while body.piped or body.remaining:
                    body.check()
                    pending = loop.run_in_executor(None, splicing.to_socket, body, ends, out.fileno())
                    await pending
                    pending = None
            except splicing.PeerGone:
                return  # the agent stopped reading and closed: its answer, read next, says why
            finally:
                if pending is not None and not pending.done():  # the thread still uses the pipe
                    with contextlib.suppress(BaseException):
                        await asyncio.shield(pending)


async def _chunks(content: aiohttp.StreamReader, head: bytes = b"") -> AsyncIterator[bytes]:
    if head:
        yield head
    async for chunk in content.iter_chunked(STREAM_CHUNK_BYTES):
        yield chunk


async def _stream(
    desktop: LocalDesktop, request: web.Request, resp: aiohttp.ClientResponse, headers: CIMultiDict[str], length: int | None
) -> web.StreamResponse:
    out = web.StreamResponse(status=resp.status, headers=headers)
    if length is not None:
        out.content_length = length
    request[STARTED_STREAM] = True
    loop = asyncio.get_running_loop()
    finished = False

    def cut_off() -> None:
        if not finished and request.transport is not None:
            request.transport.close()

    def end() -> None:
        resp.close()  # the read below ends; a caller that does not read is cut off after a grace
        loop.call_later(END_GRACE_S, cut_off)

    stream = OpenStream(end)
    desktop.streams.add(stream)
    try:
        await out.prepare(request)
        # iter_any: what has arrived goes on at once, so a stream's frame or event is never held
        # back waiting for a chunk to fill.
        try:
            async for chunk in resp.content.iter_any():
                await out.write(chunk)
        except (aiohttp.ClientError, OSError):
            if not stream.ended:
                raise
        if stream.ended and length is not None:
            raise ConnectionResetError("the desktop stopped")  # a sized body cut short cannot end cleanly
        await out.write_eof()
        return out
    finally:
        finished = True
        desktop.streams.discard(stream)


def check_callable(desktop: LocalDesktop) -> None:
    """503 unless the desktop is running and its agent is ready (the public contract)."""
    details = {"status": desktop.status, "agentReady": desktop.agent_ready}
    if desktop.status != "running":
        retry = 2 if desktop.status == "booting" else None
        raise DesktopUnavailable(
            "desktop_not_running",
            f"Desktop {desktop.id} is {desktop.status}, not running; start it and poll until agentReady is true.",
            details,
            retry_after_s=retry,
        )
    if not desktop.agent_ready:
        raise DesktopUnavailable(
            "agent_not_ready",
            f"The agent of desktop {desktop.id} is not ready; poll until agentReady is true.",
            details,
            retry_after_s=2,
        )
