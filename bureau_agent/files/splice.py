"""An upload's body straight from the socket into the file (bureau_agent/splicing.py).

Read through Python, every byte of an upload is copied three times (the kernel's socket buffers
into a bytes object, the HTTP parser's slice of it, then into the page cache) and handled in
256 KiB pieces on the event loop. Spliced, the socket's pages move into a pipe and from the pipe
into the page cache: one copy, in the kernel, on a files thread, with nothing on the loop. The
sha256 is then taken from the page cache (pread of what was just written) on another files
thread, one step behind the splicing, so hashing and receiving overlap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
from collections.abc import Callable
from typing import Any

from bureau_agent.splicing import AVAILABLE, STEP_BYTES, CallerGone, SocketBody, pipe, take

__all__ = ["AVAILABLE", "STEP_BYTES", "CallerGone", "SocketBody", "hash_range", "pipe", "step"]

HASH_READ = 256 * 1024  # the read-back buffer: small enough to stay in the CPU's cache for sha256
SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """libc's sync_file_range(2) (the os module has none), or None where it cannot be had."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        call = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call  # type: ignore[no-any-return]


_SYNC_FILE_RANGE = _sync_file_range()


def start_writeback(fd: int, offset: int, count: int) -> None:
    """Start writing [offset, offset + count) of fd to disk without waiting: the upload's fsync
    at the end then has little left to write, instead of every byte at once. Advisory: a
    failure here is fsync's to report."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, count, SYNC_FILE_RANGE_WRITE)


def step(body: SocketBody, ends: tuple[int, int], fd: int, offset: int, count: int) -> int:
    """Move up to count bytes of the body into fd at offset; the bytes moved (0 when nothing
    arrived within WAIT_S). Blocking: runs on a files thread. OSError from the file side as it
    is (ENOSPC...); the socket ending early: CallerGone."""
    read_end, write_end = ends
    waiting = select.poll()
    waiting.register(body.sock, select.POLLIN | select.POLLRDHUP)
    moved = 0
    while moved < count:
        got = take(body, write_end, count - moved, waiting, wait=not moved)
        if not got:
            break  # report progress (or the silence) to the loop rather than sit on it
        while got:  # the pipe holds only this step's bytes: drain it all into the file
            put = os.splice(read_end, fd, got, offset_dst=offset + moved, flags=os.SPLICE_F_MOVE)
            got -= put
            moved += put
    if moved:
        start_writeback(fd, offset, moved)  # here, not on the hashing thread: the busier one
    return moved


def hash_range(fd: int, digest: Any, offset: int, count: int, buf: bytearray) -> None:
    """Feed digest bytes [offset, offset + count) of fd, read back from the page cache."""
    view = memoryview(buf)
    end = offset + count
    while offset < end:
        got = os.preadv(fd, [view[: min(len(buf), end - offset)]], offset)
        if got == 0:
            raise OSError(errno.EIO, "the upload's file is shorter than what was written to it")
        digest.update(view[:got])
        offset += got
