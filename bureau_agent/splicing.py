"""Moving a body of known length out of a socket with splice(2), through a pipe, never through
Python: into a file (files/splice.py) or into another socket (the control plane's proxy).

Nothing here knows HTTP: the caller hands over a connected stream socket that nobody else reads
meanwhile (SocketBody), what had already been read from it (`head`) and how many bytes are still
to come. Every function that moves bytes blocks (poll, splice) and runs on a worker thread; each
returns after at most WAIT_S without progress, so that the event loop looks in again (a cancel,
a stop) however quiet the peers are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import select
from collections.abc import Callable, Iterator

AVAILABLE = hasattr(os, "splice") and hasattr(fcntl, "F_SETPIPE_SZ")
PIPE_BYTES = 1 << 20  # the pipe's capacity: the default pipe-max-size, no privilege needed
STEP_BYTES = 8 << 20  # one worker-thread job moves up to this much, then the loop looks in again
WAIT_S = 0.25  # a job with nothing moving for this long returns, so a cancel is seen promptly


class CallerGone(ConnectionResetError):
    """The socket ended (EOF or reset) before the body did."""


class PeerGone(ConnectionResetError):
    """The socket the body was being spliced into was closed or reset by its other end."""


@dataclasses.dataclass
class SocketBody:
    """The rest of a body of known length, to be read from `sock` (non-blocking); `head` is what
    had already been read from it. `check` is called between steps and raises if the socket is
    no longer the caller's alone (someone else started reading it)."""

    head: bytes
    sock: int
    length: int
    check: Callable[[], None] = lambda: None
    received: int = 0  # of `length`, taken from sock so far
    piped: int = 0  # of those, still in the pipe (a socket being spliced into was full)

    @property
    def total(self) -> int:
        return len(self.head) + self.length

    @property
    def remaining(self) -> int:
        return self.length - self.received


@contextlib.contextmanager
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        with contextlib.suppress(OSError):  # EPERM past the user's pipe quota: the default size works too
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        yield read_end, write_end
    finally:
        os.close(read_end)
        os.close(write_end)


def _poller(fd: int, events: int) -> select.poll:
    poller = select.poll()
    poller.register(fd, events)
    return poller


def _splice(src: int, dst: int, count: int, gone: type[ConnectionResetError]) -> int | None:
    """One non-blocking splice(2): the bytes moved, or None when it would block; an OSError of
    the connection as `gone`."""
    while True:
        try:
            return os.splice(src, dst, count, flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
        except BlockingIOError:
            return None
        except InterruptedError:
            continue
        except OSError as exc:
            raise gone(exc.errno, exc.strerror) from None


def take(body: SocketBody, write_end: int, count: int, waiting: select.poll, wait: bool) -> int:
    """Up to count bytes of the body into the pipe: what is there now, or (wait) what arrives
    within WAIT_S; 0 when nothing did. The socket ending first: CallerGone."""
    while (got := _splice(body.sock, write_end, min(PIPE_BYTES, count), CallerGone)) is None:
        if not wait or not waiting.poll(WAIT_S * 1000):
            return 0
        wait = False  # readable now: one more try, then report
    if got == 0:
        raise CallerGone(errno.ECONNRESET, "the caller closed the connection before the end of the body")
    body.received += got
    return got


def to_socket(body: SocketBody, ends: tuple[int, int], out: int) -> int:
    """Move up to STEP_BYTES of the body into the socket `out` (non-blocking, and written by
    nobody else meanwhile); the bytes delivered (0: nothing moved within WAIT_S). Bytes taken
    but not yet delivered (out was full) stay in the pipe, counted in body.piped, for the next
    call. `out` closed by its end: PeerGone."""
    read_end, write_end = ends
    waiting, writable = _poller(body.sock, select.POLLIN | select.POLLRDHUP), _poller(out, select.POLLOUT)
    delivered = 0
    while delivered < STEP_BYTES and (body.piped or body.remaining):
        if not body.piped:
            body.piped = take(body, write_end, min(body.remaining, STEP_BYTES - delivered), waiting, wait=not delivered)
            if not body.piped:
                break
        put = _splice(read_end, out, body.piped, PeerGone)
        if put is None:
            if not writable.poll(WAIT_S * 1000):
                break
            continue
        if put == 0:
            raise PeerGone(errno.EPIPE, "the connection the body went into was closed")
        body.piped -= put
        delivered += put
    return delivered
