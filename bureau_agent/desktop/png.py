"""A fast PNG writer for screen frames: 8-bit RGB, one row filter for all rows, one IDAT.

Why not Pillow's PNG save: it picks a filter per row by trial and deflates at zlib level 6,
~90-200 ms for a busy 1920x1080 frame. Here:
- the "Up" filter for every row (each byte minus the byte above, mod 256), computed by Pillow's
  C ImageChops.subtract_modulo against the image rolled one row down: ~1 ms, and ~20 % fewer
  bytes than no filter on desktop content (runs of equal rows, gradients, photos);
- deflate with ISA-L (igzip, SIMD) at its level 1: ~6 ms where zlib level 1 takes ~35 ms;
- rows packed and deflated chunk by chunk, never as one 6 MB buffer (see _packed_rows);
- the image split into horizontal bands deflated on parallel threads (desktop/bands.py), each a
  raw deflate stream ending on a byte boundary (a sync flush, the last one final), so their
  concatenation is one valid zlib stream; its Adler-32 is combined from the bands' own.
Without python-isal (no wheel for some platform) the standard zlib at level 1 is used: correct,
about 6x slower. Figures in docs/screenshot.md.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator

from PIL import Image, ImageChops

from bureau_agent.desktop.bands import reserve, run_bands

try:
    from isal import isal_zlib as _deflate_lib
except ImportError:  # pragma: no cover - python-isal ships wheels for the platforms we run on
    _deflate_lib = zlib  # type: ignore[no-redef]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILTER_UP = 2
MAX_DIMENSION = 2**31 - 1  # PNG's limit for sizes and chunk lengths
_crc32: Callable[[bytes, int], int] = getattr(_deflate_lib, "crc32", zlib.crc32)
_adler32: Callable[[bytes, int], int] = getattr(_deflate_lib, "adler32", zlib.adler32)


def _chunk(kind: bytes, parts: list[bytes]) -> list[bytes]:
    """A chunk as pieces for one final join: its data stays in the parts it was made in."""
    crc = _crc32(kind, 0)
    for part in parts:
        crc = _crc32(part, crc)
    return [struct.pack(">I", sum(map(len, parts))), kind, *parts, struct.pack(">I", crc & 0xFFFFFFFF)]


def raw_rows(data: bytes | bytearray | memoryview, width: int, height: int, filter_type: int) -> bytes:
    """The PNG scanlines: each row of (already filtered) RGB bytes preceded by its filter type."""
    stride = width * 3
    if len(data) != stride * height:
        raise ValueError(f"rgb has {len(data)} bytes, expected {stride * height} for {width}x{height}")
    view = memoryview(data)
    # sep.join([b"", row0, row1, …]) = sep+row0+sep+row1… in one copy.
    return bytes([filter_type]).join([b"", *(view[i : i + stride] for i in range(0, len(view), stride))])


def _png_file(width: int, height: int, idat: list[bytes]) -> bytes:
    """The file, joined once, from the IDAT data in pieces (the zlib stream as made)."""
    if sum(map(len, idat)) > MAX_DIMENSION:
        raise ValueError(f"{width}x{height} compresses to more than one IDAT chunk can hold")
    # IHDR: width, height, bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join([SIGNATURE, *_chunk(b"IHDR", [ihdr]), *_chunk(b"IDAT", idat), *_chunk(b"IEND", [])])


def _check_size(width: int, height: int) -> None:
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise ValueError(f"bad PNG size {width}x{height}")


def up_filter(image: Image.Image) -> Image.Image:
    """image with PNG's Up filter applied to every row but the first (see encode_png)."""
    # offset() rolls the image down one row; only the first row (whose "above" wrapped round
    # from the bottom) is wrong, and encode_png takes that row from the unfiltered image.
    return ImageChops.subtract_modulo(image, ImageChops.offset(image, 0, 1))


def _packed_rows(image: Image.Image, rows: int, top: int = 0, bottom: int | None = None) -> Iterator[bytes]:
    """The packed RGB bytes of image's rows top..bottom (default: to the end), `rows` at a time.

    The raw encoder that Image.tobytes() drives, streamed: no 6 MB intermediate copy to allocate
    (fresh pages cost more than the copy) and each chunk is still in cache when it is deflated.
    """
    encoder = Image._getencoder("RGB", "raw", ("RGB", 0, 1))
    try:
        encoder.setimage(image.im, (0, top, image.width, image.height if bottom is None else bottom))
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


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of A+B from adler32(A), adler32(B) and len(B) (the arithmetic of zlib's
    adler32_combine, which Python's zlib does not expose)."""
    base = 65521
    n = second_length % base
    low = ((first & 0xFFFF) + (second & 0xFFFF) - 1) % base
    high = (n * (first & 0xFFFF) + (first >> 16) + (second >> 16) - n) % base
    return (high << 16) | low


ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KiB window, "fastest" level; (0x7801 % 31 == 0)


def encode_png(image: Image.Image, level: int = 1, chunk_rows: int = 16, bands: int | None = None) -> bytes:
    """A Pillow image as an RGB PNG, fast: Up filter, bands deflated in parallel, in chunks.

    16 rows of 1920 pixels are 92 KB: under glibc's mmap threshold, so chunk buffers come from
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
    (first_row,) = _packed_rows(image, 1, 0, 1)
    filtered = up_filter(image)

    def deflate_band(top: int, bottom: int) -> tuple[list[bytes], int, int]:
        """(raw deflate data in pieces, Adler-32 and length of the scanlines) of rows top..bottom."""
        compressor = _deflate_lib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        parts: list[bytes] = []
        adler, length = 1, 0
        for j, chunk in enumerate(_packed_rows(filtered, chunk_rows, top, bottom)):
            if top == 0 and j == 0:
                chunk = first_row + chunk[stride:]
            lines = raw_rows(chunk, width, len(chunk) // stride, FILTER_UP)
            adler = _adler32(lines, adler)
            length += len(lines)
            parts.append(compressor.compress(lines))
        parts.append(compressor.flush(zlib.Z_FINISH if bottom == height else zlib.Z_SYNC_FLUSH))
        return parts, adler, length

    with reserve(width, height, chunk_rows, bands) as ranges:
        deflated = run_bands(deflate_band, ranges)
    adler = deflated[0][1]
    for _, band_adler, band_length in deflated[1:]:
        adler = adler32_combine(adler, band_adler, band_length)
    idat = [ZLIB_HEADER, *(piece for pieces, _, _ in deflated for piece in pieces), struct.pack(">I", adler)]
    return _png_file(width, height, idat)
