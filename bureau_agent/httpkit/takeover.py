"""Taking a request's body away from aiohttp, to splice it from the socket (bureau_agent/splicing.py).

aiohttp must first stop reading the socket: what it has buffered is taken (read_nowait may
resume its reading and feed more: taken too, all in one synchronous step, so that the loop reads
no byte in between), then the transport's reading is paused until the body is in. Afterwards
aiohttp's parser still waits for body bytes it will never see, so the connection must not serve
another request: the answer carries `Connection: close` (answer_closing) and whatever the caller
sends after the body is dropped.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from aiohttp import web

from bureau_agent import splicing
from bureau_agent.errors import AgentError, Internal
from bureau_agent.splicing import SocketBody

# A body of at least this size (by Content-Length) is taken over; the connection then closes
# after the answer, which costs a keep-alive caller one new connection: noise next to this.
MIN_BYTES = 1 << 20

# Set on a request whose body was taken from its socket: its connection closes after the answer.
TAKEN_OVER = web.RequestKey("httpkit_taken_over", bool)


def eligible(request: web.Request) -> bool:
    """A body worth splicing, of known length, on a plain TCP transport, not yet all arrived."""
    transport, length = request.transport, request.content_length
    sock = transport.get_extra_info("socket") if transport is not None else None
    return (
        splicing.AVAILABLE
        and length is not None
        and length >= MIN_BYTES
        and transport is not None
        and sock is not None
        and sock.type == socket.SOCK_STREAM
        and transport.get_extra_info("sslcontext") is None
        and request.headers.get("Content-Encoding", "identity").lower() == "identity"  # aiohttp would decode it
        and not request.content.is_eof()
    )


@contextlib.contextmanager
def socket_body(request: web.Request) -> Iterator[SocketBody | bytes | None]:
    """The request's body as a SocketBody to splice from, or, when it cannot be (eligible()), None;
    or the whole body as bytes when it turns out to have all arrived already. On the way out the
    connection is handed back to aiohttp in a state it can close cleanly."""
    if not eligible(request):
        yield None
        return
    content, transport, length = request.content, request.transport, request.content_length
    assert transport is not None and length is not None
    parts: list[bytes] = []
    while data := content.read_nowait():
        parts.append(data)
    transport.pause_reading()
    head = b"".join(parts)
    if content.is_eof() or len(head) >= length:
        transport.resume_reading()
        yield head
        return

    def still_ours() -> None:
        if transport.is_reading() or transport.is_closing():
            raise Internal("The request's connection was read by someone else meanwhile; its body was not used.")

    body = SocketBody(head, transport.get_extra_info("socket").fileno(), length - len(head), still_ours)
    request[TAKEN_OVER] = True
    try:
        yield body
    except AgentError:  # answered (answer_closing) on a connection that then closes
        _give_back(request, body)
        raise
    except BaseException:
        transport.abort()  # the caller gone, a cancel, a fault: nothing more on this connection
        raise
    _give_back(request, body)


def _give_back(request: web.Request, body: SocketBody) -> None:
    transport = request.transport
    if transport is None or transport.is_closing():
        return
    if body.received == body.length:
        # The parser would take what follows (a pipelined request) for body: the protocol drops
        # all further data instead (close()), still reading it, so that fewer closes after the
        # answer find unread bytes and reset; the body is marked ended (which resumes the reading).
        request.protocol.close()
        request.content.feed_eof()
    else:  # aiohttp reads (and drops) what still comes, or sees the caller go, as it would have
        transport.resume_reading()


def answer_closing(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """The response, with `Connection: close` when the request's body was taken over."""
    if request.get(TAKEN_OVER):
        response.force_close()
    return response
