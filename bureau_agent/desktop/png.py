"""A fast PNG writer for screen frames: 8-bit RGB, one row filter for all rows, one IDAT.

Why not Pillow's PNG save: it picks a filter per row by trial and deflates at zlib level 6,
~90-200 ms for a busy 1920x1080 frame. Here:
- the "Up" filter for every row (each byte minus the byte above, mod 256), computed by Pillow's
  C ImageChops.subtract_modulo against the image rolled one row down: ~1 ms, and ~20 % fewer
  bytes than no filter on desktop content (runs of equal rows, gradients, photos);
- deflate with ISA-L (igzip, SIMD) at its level 1: ~6 ms where zlib level 1 takes ~35 ms;
- rows packed and deflated band by band, never as one 6 MB buffer (see _packed_bands).
Without python-isal (no wheel for some platform) the standard zlib at level 1 is used: correct,
about 6x slower. Figures in docs/screenshot.md.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator

from PIL import Image, ImageChops

try:
    from isal import isal_zlib as _deflate_lib
except ImportError:  # pragma: no cover - python-isal ships wheels for the platforms we run on
    _deflate_lib = zlib  # type: ignore[no-redef]

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


def _png_file(width: int, height: int, idat: bytes) -> bytes:
    if len(idat) > MAX_DIMENSION:
        raise ValueError(f"{width}x{height} compresses to more than one IDAT chunk can hold")
    # IHDR: width, height, bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join((SIGNATURE, _chunk(b"IHDR", ihdr), _chunk(b"IDAT", idat), _chunk(b"IEND", b"")))


def _check_size(width: int, height: int) -> None:
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise ValueError(f"bad PNG size {width}x{height}")


def write_png(
    data: bytes | bytearray | memoryview, width: int, height: int, *, filter_type: int = FILTER_NONE, level: int = 1
) -> bytes:
    """A PNG file from packed 8-bit RGB rows, top to bottom, already filtered with filter_type."""
    _check_size(width, height)
    return _png_file(width, height, _deflate_lib.compress(raw_rows(data, width, height, filter_type), level))


def up_filter(image: Image.Image) -> Image.Image:
    """image with PNG's Up filter applied to every row but the first (see encode_png)."""
    # offset() rolls the image down one row; only the first row (whose "above" wrapped round
    # from the bottom) is wrong, and encode_png takes that row from the unfiltered image.
    return ImageChops.subtract_modulo(image, ImageChops.offset(image, 0, 1))


def _packed_bands(image: Image.Image, rows: int, height: int | None = None) -> Iterator[bytes]:
    """The packed RGB bytes of image's first `height` rows (default all), `rows` rows at a time.

    The raw encoder that Image.tobytes() drives, streamed: no 6 MB intermediate copy to allocate
    (fresh pages cost more than the copy) and each band is still in cache when it is deflated.
    """
    encoder = Image._getencoder("RGB", "raw", ("RGB", 0, 1))
    try:
        encoder.setimage(image.im, (0, 0, image.width, image.height if height is None else height))
        while True:
            _, status, data = encoder.encode(image.width * 3 * rows)  # whole rows only
            if data:
                yield data
            if status:
                break
        if status < 0:
            raise RuntimeError(f"Pillow raw encoder error {status}")
    finally:
        encoder.cleanup()


def encode_png(image: Image.Image, level: int = 1, band_rows: int = 16) -> bytes:
    """A Pillow image as an RGB PNG, fast: Up filter, streamed in bands through one deflate stream.

    16 rows of 1920 pixels are 92 KB: under glibc's mmap threshold, so band buffers come from
    the heap and are reused rather than mapped fresh (page faults) each time.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    width, height = image.size
    _check_size(width, height)
    stride = width * 3
    # The first row is stored as is (Up against the zeros above it is the row itself); taking it
    # with the encoder rather than crop() allocates no small image, which would steal and shrink
    # one of the big memory blocks Pillow keeps for reuse.
    (first_row,) = _packed_bands(image, 1, 1)
    compressor = _deflate_lib.compressobj(level)
    parts = []
    for i, band in enumerate(_packed_bands(up_filter(image), band_rows)):
        if i == 0:
            band = first_row + band[stride:]
        parts.append(compressor.compress(raw_rows(band, width, len(band) // stride, FILTER_UP)))
    parts.append(compressor.flush())
    return _png_file(width, height, b"".join(parts))
