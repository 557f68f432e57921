"""Random payloads for the file-transfer tests and benchmark, made a chunk at a time so that a
100 MiB body never sits whole in memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

MiB = 1024 * 1024


def random_chunks(total: int, digest: Any = None, chunk: int = MiB) -> Iterator[bytes]:
    """total random bytes in chunks of at most chunk bytes, each fed to digest (a hashlib object)
    if one is given, so the caller knows the sha256 of what it sent."""
    left = total
    while left:
        part = os.urandom(min(chunk, left))
        if digest is not None:
            digest.update(part)
        left -= len(part)
        yield part
