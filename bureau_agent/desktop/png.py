"""A fast PNG writer for screen frames: 8-bit RGB, one row filter for all rows, one IDAT.

Why not Pillow's PNG save: it picks a filter per row by trial and deflates at zlib level 6,
~90-200 ms for a busy 1920x1080 frame. Here:
- the "Up" filter for every row (each byte minus the byte above, mod 256), computed by Pillow's
  C ImageChops.subtract_modulo against the image shifted one row down: ~3 ms, and ~20 % fewer
  bytes than no filter on desktop content (runs of equal rows, gradients, photos);
- deflate with ISA-L (igzip, SIMD) at its level 1: ~6 ms where zlib level 1 takes ~35 ms.
Without python-isal (no wheel for some platform) the standard zlib at level 1 is used: correct,
about 6x slower. Figures in docs/screenshot.md.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from PIL import Image, ImageChops

try:
    from isal import isal_zlib as _deflate_lib

    DEFLATE = "isal"
except ImportError:  # pragma: no cover - python-isal ships wheels for the platforms we run on
    _deflate_lib = zlib  # type: ignore[no-redef]
    DEFLATE = "zlib"

SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILTER_NONE, FILTER_UP = 0, 2
MAX_DIMENSION = 2**31 - 1  # PNG's limit for sizes and chunk lengths
_crc32: Callable[[bytes], int] = getattr(_deflate_lib, "crc32", zlib.crc32)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", _crc32(kind + data) & 0xFFFFFFFF)


def raw_rows(data: bytes | bytearray | memoryview, width: int, height: int, filter_type: int = FILTER_NONE) -> bytes:
    """The PNG scanlines: each row of (already filtered) RGB bytes preceded by its filter type."""
    stride = width * 3
    if len(data) != stride * height:
        raise ValueError(f"rgb has {len(data)} bytes, expected {stride * height} for {width}x{height}")
    view = memoryview(data)
    # sep.join([b"", row0, row1, …]) = sep+row0+sep+row1… in one copy.
    return bytes([filter_type]).join([b"", *(view[i : i + stride] for i in range(0, len(view), stride))])


def write_png(
    data: bytes | bytearray | memoryview, width: int, height: int, *, filter_type: int = FILTER_NONE, level: int = 1
) -> bytes:
    """A PNG file from packed 8-bit RGB rows, top to bottom, already filtered with filter_type."""
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise ValueError(f"bad PNG size {width}x{height}")
    idat = _deflate_lib.compress(raw_rows(data, width, height, filter_type), level)
    if len(idat) > MAX_DIMENSION:
        raise ValueError(f"{width}x{height} compresses to more than one IDAT chunk can hold")
    # IHDR: width, height, bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join((SIGNATURE, _chunk(b"IHDR", ihdr), _chunk(b"IDAT", idat), _chunk(b"IEND", b"")))


def up_filtered(image: Image.Image) -> bytes:
    """The RGB bytes of image with PNG's Up filter applied (the row above the first is zeros)."""
    above = Image.new("RGB", image.size)
    if image.height > 1:
        above.paste(image.crop((0, 0, image.width, image.height - 1)), (0, 1))
    return ImageChops.subtract_modulo(image, above).tobytes()


def encode_png(image: Image.Image) -> bytes:
    """A Pillow image as an RGB PNG, fast."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    return write_png(up_filtered(image), image.width, image.height, filter_type=FILTER_UP)
