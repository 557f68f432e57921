"""BoundedBuffer and the UTF-8 tail trim: pure, no processes."""

from __future__ import annotations

import pytest

from bureau_agent.process.output import BoundedBuffer, drop_partial_utf8_tail


def test_keeps_everything_under_the_limit() -> None:
    buf = BoundedBuffer(10)
    buf.feed(b"abc")
    buf.feed(b"def")
    assert buf.value() == b"abcdef"
    assert not buf.truncated
    assert buf.text() == "abcdef"


def test_keeps_the_first_bytes_and_counts_the_rest() -> None:
    buf = BoundedBuffer(4)
    for chunk in (b"ab", b"cdef", b"gh"):
        buf.feed(chunk)
    assert buf.value() == b"abcd"
    assert buf.truncated
    assert buf.total == 8


def test_exactly_the_limit_is_not_truncated() -> None:
    buf = BoundedBuffer(4)
    buf.feed(b"abcd")
    buf.feed(b"")
    assert not buf.truncated


def test_frozen_buffer_ignores_later_data() -> None:
    buf = BoundedBuffer(100)
    buf.feed(b"before")
    buf.freeze()
    buf.feed(b"after")
    assert buf.value() == b"before"
    assert buf.total == 6


def test_invalid_utf8_is_replaced() -> None:
    buf = BoundedBuffer(100)
    buf.feed(b"ok \xff\xfe end")
    assert buf.text() == "ok \ufffd\ufffd end"


def test_a_character_cut_by_the_cap_is_dropped_not_replaced() -> None:
    whole = BoundedBuffer(5)  # é is 2 bytes: a cap of 5 keeps it whole
    whole.feed("abcé".encode() + b"xyz")
    cut = BoundedBuffer(4)  # a cap of 4 keeps only its first byte
    cut.feed("abcé".encode())
    assert whole.text() == "abcé"
    assert cut.text() == "abc"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", b""),
        (b"abc", b"abc"),
        ("é".encode(), "é".encode()),
        ("é".encode()[:1], b""),
        (b"a" + "€".encode()[:2], b"a"),
        (b"a" + "😀".encode()[:3], b"a"),
        (b"a" + "😀".encode(), b"a" + "😀".encode()),
        (b"a\xff", b"a\xff"),  # not UTF-8 at all: left for the decoder to replace
        (b"\x80\x80\x80\x80", b"\x80\x80\x80\x80"),
    ],
)
def test_drop_partial_utf8_tail(data: bytes, expected: bytes) -> None:
    assert drop_partial_utf8_tail(data) == expected


@pytest.mark.parametrize("tail", [b"\xe0\x80", b"\xc0", b"\xf5\x80\x80"])
def test_a_tail_that_cannot_begin_a_character_is_replaced_not_dropped(tail: bytes) -> None:
    # Overlong or beyond U+10FFFF: not a character cut by the cap but bytes that are not UTF-8.
    assert drop_partial_utf8_tail(b"a" + tail) == b"a" + tail
    buf = BoundedBuffer(1 + len(tail))
    buf.feed(b"a" + tail + b"more")
    assert buf.text() == "a" + "\ufffd" * len(tail)
