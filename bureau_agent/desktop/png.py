"""A fast PNG writer for screen frames: 8-bit RGB, no row filter, one IDAT, fast deflate.

Why not Pillow's PNG save: it tries adaptive row filters and deflates at zlib level 6, ~90-110 ms
for a busy 1920x1080 frame. Screens are mostly flat areas and text, where the filters win little;
deflating the raw rows with ISA-L (igzip, SIMD) at its level 1 takes ~5 ms for the same frame
with a size within ~15 % of Pillow's. Without ISA-L (python-isal missing on some platform) the
standard zlib at level 1 is used: correct, about 6x slower. See docs/screenshot.md for figures.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

try:
    from isal import isal_zlib as _deflate_lib

    DEFLATE = "isal"
except ImportError:  # pragma: no cover - python-isal ships wheels for the platforms we run on
    _deflate_lib = zlib  # type: ignore[no-redef]
    DEFLATE = "zlib"

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_DIMENSION = 2**31 - 1  # PNG's limit for sizes and chunk lengths
_crc32: Callable[[bytes], int] = getattr(_deflate_lib, "crc32", zlib.crc32)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", _crc32(kind + data) & 0xFFFFFFFF)


def raw_rows(rgb: bytes | bytearray | memoryview, width: int, height: int) -> bytes:
    """The PNG scanlines: each row of RGB bytes preceded by filter type 0 (None)."""
    stride = width * 3
    if len(rgb) != stride * height:
        raise ValueError(f"rgb has {len(rgb)} bytes, expected {stride * height} for {width}x{height}")
    view = memoryview(rgb)
    # b"\0".join([b"", row0, row1, …]) = b"\0row0\0row1…" in one copy.
    return b"\x00".join([b"", *(view[i : i + stride] for i in range(0, len(view), stride))])


def write_png(rgb: bytes | bytearray | memoryview, width: int, height: int, level: int = 1) -> bytes:
    """Encode packed 8-bit RGB rows (top to bottom) as a PNG file."""
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise ValueError(f"bad PNG size {width}x{height}")
    idat = _deflate_lib.compress(raw_rows(rgb, width, height), level)
    if len(idat) > MAX_DIMENSION:
        raise ValueError(f"{width}x{height} compresses to more than one IDAT chunk can hold")
    # IHDR: width, height, bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join((SIGNATURE, _chunk(b"IHDR", ihdr), _chunk(b"IDAT", idat), _chunk(b"IEND", b"")))
