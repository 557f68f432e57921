"""Bounded capture of one output stream (pure: no I/O, no clock).

A command may print far more than we keep. The buffer keeps the first `limit` bytes and only
counts the rest, so the pipe is always drained (a child blocked on a full pipe would never
finish) while memory stays bounded.
"""

from __future__ import annotations

import codecs


class BoundedBuffer:
    """The first `limit` bytes of a stream; `truncated` once anything was dropped."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self.total = 0  # bytes seen, kept or not
        self._chunks: list[bytes] = []
        self._kept = 0
        self._frozen = False

    def feed(self, data: bytes) -> bytes:
        """Take data; the part of it that is kept (b"" once the limit is reached or frozen)."""
        if self._frozen:
            return b""
        self.total += len(data)
        room = self.limit - self._kept
        if room > 0 and data:
            piece = data[:room]
            self._chunks.append(piece)
            self._kept += len(piece)
            return piece
        return b""

    def freeze(self) -> None:
        """Stop keeping or counting: what a background program writes later is not ours."""
        self._frozen = True

    @property
    def truncated(self) -> bool:
        return self.total > self._kept

    def value(self) -> bytes:
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0] if self._chunks else b""

    def text(self) -> str:
        data = self.value()
        if self.truncated:
            data = drop_partial_utf8_tail(data)
        return data.decode("utf-8", errors="replace")


def drop_partial_utf8_tail(data: bytes) -> bytes:
    """data without a UTF-8 sequence cut short at its end (the cap may fall inside a character).

    Only a valid but unfinished sequence is dropped; bytes that are not UTF-8 at all are left for
    the decoder to replace.
    """
    # An incremental decoder holds back exactly such a tail (at most 3 bytes) to wait for the rest;
    # the last 3 bytes are enough to find it.
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    decoder.decode(data[-3:], final=False)
    pending = decoder.getstate()[0]
    return data[: len(data) - len(pending)]
