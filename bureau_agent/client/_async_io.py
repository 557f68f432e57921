"""The async client's waits and file I/O: file reads and writes run in a worker thread so that
an upload or a download never blocks the event loop. _sync_io.py is its synchronous twin."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import IO, Union

from bureau_agent.client._common import CHUNK

Source = Union[str, "os.PathLike[str]", IO[bytes]]
Sink = Union[str, "os.PathLike[str]", IO[bytes]]


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def read_source(source: Source) -> AsyncIterator[bytes]:
    """The bytes of a path or a binary file object, piece by piece (never all in memory)."""
    if isinstance(source, (str, os.PathLike)):
        f: IO[bytes] = await asyncio.to_thread(open, source, "rb")
        close = True
    else:
        f, close = source, False
    try:
        while True:
            chunk = await asyncio.to_thread(f.read, CHUNK)
            if not chunk:
                return
            yield chunk
    finally:
        if close:
            await asyncio.to_thread(f.close)


async def write_sink(pieces: AsyncIterator[bytes], sink: Sink) -> int:
    """Writes the pieces to a path (created or replaced) or a binary file object; → bytes written."""
    if isinstance(sink, (str, os.PathLike)):
        f: IO[bytes] = await asyncio.to_thread(open, sink, "wb")
        close = True
    else:
        f, close = sink, False
    written = 0
    try:
        async for piece in pieces:
            await asyncio.to_thread(f.write, piece)
            written += len(piece)
    finally:
        if close:
            await asyncio.to_thread(f.close)
    return written
