"""The sync client's waits and file I/O (the twin of _async_io.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import IO, Union

from bureau_agent.client._common import CHUNK

Source = Union[str, "os.PathLike[str]", IO[bytes]]
Sink = Union[str, "os.PathLike[str]", IO[bytes]]


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def read_source(source: Source) -> Iterator[bytes]:
    if isinstance(source, (str, os.PathLike)):
        f: IO[bytes] = open(source, "rb")  # noqa: SIM115 (closed below)
        close = True
    else:
        f, close = source, False
    try:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return
            yield chunk
    finally:
        if close:
            f.close()


def write_sink(pieces: Iterator[bytes], sink: Sink) -> int:
    if isinstance(sink, (str, os.PathLike)):
        f: IO[bytes] = open(sink, "wb")  # noqa: SIM115
        close = True
    else:
        f, close = sink, False
    written = 0
    try:
        for piece in pieces:
            f.write(piece)
            written += len(piece)
    finally:
        if close:
            f.close()
    return written
