"""Bounded capture of one output stream (pure: no I/O, no clock).

A command may print far more than we keep. The buffer keeps the first `limit` bytes and only
counts the rest, so the pipe is always drained (a child blocked on a full pipe would never
finish) while memory stays bounded.
"""

from __future__ import annotations


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

    def feed(self, data: bytes) -> None:
        if self._frozen:
            return
        self.total += len(data)
        room = self.limit - self._kept
        if room > 0 and data:
            piece = data[:room]
            self._chunks.append(piece)
            self._kept += len(piece)

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

    Only a *complete-looking but unfinished* sequence is dropped; bytes that are not UTF-8 at all
    are left for the decoder to replace.
    """
    # A sequence is at most 4 bytes: look back at most 3 bytes for its lead byte.
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: this is the last lead (or ASCII)
            if byte >= 0xF8:  # never a lead byte
                need = 1
            elif byte >= 0xF0:
                need = 4
            elif byte >= 0xE0:
                need = 3
            elif byte >= 0xC0:
                need = 2
            else:
                need = 1
            return data[:-back] if need > back and byte >= 0xC0 else data
    return data
