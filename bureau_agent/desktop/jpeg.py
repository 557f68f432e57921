"""Fast JPEG: libjpeg-turbo's TurboJPEG API (through ctypes) on the X server's own BGRX pixels,
as horizontal bands encoded on parallel threads and joined into one baseline JPEG.

    available() -> bool
    encode_pixels(pixels, width, height, quality, pixel_format=BGRX, pitch=…, offset=…) -> bytes

Why not Pillow's save: it needs the frame converted to RGB first and encodes on one core. Here:
- TurboJPEG reads 4-byte BGRX pixels directly (no conversion), from any rectangle of the frame
  (a region is a start offset and the frame's row pitch: no crop copy);
- ctypes releases the GIL for the whole call, so bands really run on separate cores;
- each band is a complete JPEG of a slice of rows that is a whole number of MCU rows; the
  bands' entropy-coded data are joined with restart markers (RSTn) under one header whose DRI
  says a restart comes every band-of-MCUs. A decoder resets its DC predictors at each RSTn,
  exactly where each band's encoder started from zero, so the result is a valid baseline JPEG
  that decodes to the same pixels as one encode of the whole frame. That needs every band
  encoded with the same tables and no restart markers of its own, which libturbojpeg's
  environment variables (TJ_OPTIMIZE, TJ_RESTART, TJ_PROGRESSIVE, TJ_ARITHMETIC) break: bands
  that differ are never joined, the image is encoded again in one piece.
Figures (1920x1080, 2 cores) in docs/screenshot.md. Without libturbojpeg (package libturbojpeg0
on Debian, libturbojpeg on Ubuntu) `available()` is False and the caller uses Pillow.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import struct
import threading

from bureau_agent.desktop.bands import reserve, run_bands

RGBX, BGRX = 2, 3  # TJPF_RGBX, TJPF_BGRX
_SAMP_420 = 2  # TJSAMP_420: chroma halved both ways, as Pillow's default
MCU_ROWS = 16  # pixel rows in an MCU at 4:2:0
MCU_COLUMNS = 16
MAX_RESTART_INTERVAL = 0xFFFF  # DRI holds 16 bits

_SOF0, _SOS, _EOI, _RST0, _DRI = 0xC0, 0xDA, 0xD9, 0xD0, 0xDD

log = logging.getLogger("bureau_agent.jpeg")
_warned = False  # the one-band fallback is reported once, not on every screenshot


class Unjoinable(ValueError):
    """Band JPEGs that cannot be joined by restart markers (see join_bands)."""


class _Library:
    """The few TurboJPEG 2.x functions used, with their C signatures."""

    def __init__(self, cdll: ctypes.CDLL) -> None:
        void_p, c_int = ctypes.c_void_p, ctypes.c_int
        self.init_compress = cdll.tjInitCompress
        self.init_compress.restype = void_p
        self.init_compress.argtypes = []
        self.compress = cdll.tjCompress2
        self.compress.restype = c_int
        self.compress.argtypes = [
            void_p, void_p, c_int, c_int, c_int, c_int,  # handle, src, width, pitch, height, format
            ctypes.POINTER(void_p), ctypes.POINTER(ctypes.c_ulong), c_int, c_int, c_int,  # out, size, samp, q, flags
        ]  # fmt: skip
        self.free = cdll.tjFree
        self.free.argtypes = [void_p]
        self.destroy = cdll.tjDestroy
        self.destroy.argtypes = [void_p]
        self.error = cdll.tjGetErrorStr2
        self.error.restype = ctypes.c_char_p
        self.error.argtypes = [void_p]


def _load() -> _Library | None:
    for name in ("libturbojpeg.so.0", ctypes.util.find_library("turbojpeg")):
        if not name:
            continue
        try:
            return _Library(ctypes.CDLL(name))
        except (OSError, AttributeError):  # not there, or too old to have the 2.x API
            continue
    return None


_lib = _load()


def available() -> bool:
    return _lib is not None


class _Compressor:
    """One TurboJPEG handle. Handles are not thread-safe: each thread keeps its own."""

    def __init__(self, lib: _Library) -> None:
        self.lib = lib
        self.handle = lib.init_compress()
        if not self.handle:
            raise MemoryError("tjInitCompress failed")

    def __del__(self) -> None:  # the thread that owned it ended
        try:
            self.lib.destroy(self.handle)
        except Exception:  # at interpreter exit ctypes may already be torn down; the OS frees it
            pass

    def compress(self, address: int, width: int, pitch: int, height: int, pixel_format: int, quality: int) -> bytes:
        out = ctypes.c_void_p()
        size = ctypes.c_ulong(0)
        status = self.lib.compress(
            self.handle, address, width, pitch, height, pixel_format, ctypes.byref(out), ctypes.byref(size), _SAMP_420, quality, 0
        )
        try:
            if status != 0:
                raise RuntimeError(f"TurboJPEG: {self.lib.error(self.handle).decode(errors='replace')}")
            return ctypes.string_at(out, size.value)
        finally:
            if out:
                self.lib.free(out)


_local = threading.local()


def _compressor() -> _Compressor:
    compressor: _Compressor | None = getattr(_local, "compressor", None)
    if compressor is None:
        assert _lib is not None
        compressor = _local.compressor = _Compressor(_lib)
    return compressor


def _interval(width: int, band_rows: int) -> int:
    """MCUs in a band of band_rows rows: the restart interval."""
    return (band_rows // MCU_ROWS) * -(-width // MCU_COLUMNS)


def _address(pixels: bytes | bytearray) -> tuple[int, object]:
    """The address of pixels' first byte, and the object that must stay alive while it is used."""
    if isinstance(pixels, bytes):
        keep = ctypes.c_char_p(pixels)  # points at the bytes object's own buffer: no copy
        return ctypes.cast(keep, ctypes.c_void_p).value or 0, keep
    array = (ctypes.c_char * len(pixels)).from_buffer(pixels)  # writable buffers: no copy either
    return ctypes.addressof(array), array


def encode_pixels(
    pixels: bytes | bytearray,
    width: int,
    height: int,
    quality: int,
    pixel_format: int = BGRX,
    *,
    pitch: int | None = None,
    offset: int = 0,
    bands: int | None = None,
) -> bytes:
    """A JPEG (4:2:0) of the width x height rectangle of 4-byte pixels starting at byte `offset`
    of `pixels`, rows `pitch` bytes apart (default width * 4)."""
    if _lib is None:
        raise RuntimeError("libturbojpeg is not installed")
    pitch = width * 4 if pitch is None else pitch
    if width <= 0 or height <= 0 or pitch < width * 4 or offset < 0 or not 1 <= quality <= 100:
        raise ValueError(f"bad JPEG request: {width}x{height}, pitch {pitch}, offset {offset}, quality {quality}")
    if offset + (height - 1) * pitch + width * 4 > len(pixels):  # never let C read past the buffer
        raise ValueError(f"{width}x{height} pixels at offset {offset}, pitch {pitch} overrun a {len(pixels)}-byte buffer")
    base, keep = _address(pixels)

    def band(top: int, bottom: int) -> bytes:
        return _compressor().compress(base + offset + top * pitch, width, pitch, bottom - top, pixel_format, quality)

    with reserve(width, height, MCU_ROWS, bands) as ranges:
        interval = _interval(width, ranges[0][1] - ranges[0][0])
        if interval > MAX_RESTART_INTERVAL:  # a band over 65535 MCUs (~16 M pixels) cannot be a DRI interval: one encode
            ranges = [(0, height)]
        parts = run_bands(band, ranges)  # returns once no band reads the pixels any more
    del keep
    if len(parts) == 1:
        return parts[0]
    try:
        return join_bands(parts, height, interval)
    except Unjoinable as exc:
        global _warned
        if not _warned:
            _warned = True
            log.warning("JPEG bands cannot be joined, encoding in one band", extra={"reason": str(exc)})
        return encode_pixels(pixels, width, height, quality, pixel_format, pitch=pitch, offset=offset, bands=1)


def _segments(jpeg: bytes) -> tuple[int, int, int]:
    """(offset of the SOF0 marker, offset of the SOS marker, offset where entropy data starts)."""
    if jpeg[:2] != b"\xff\xd8" or jpeg[-2:] != b"\xff\xd9":
        raise ValueError("not a complete JPEG")
    pos, sof = 2, -1
    while pos + 4 <= len(jpeg):
        if jpeg[pos] != 0xFF:
            raise ValueError(f"no marker at byte {pos}")
        marker = jpeg[pos + 1]
        (length,) = struct.unpack_from(">H", jpeg, pos + 2)
        if marker == _SOF0:
            sof = pos
        elif marker == _SOS:
            if sof < 0:
                raise ValueError("SOS before a baseline SOF0")
            return sof, pos, pos + 2 + length
        elif 0xC1 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            raise Unjoinable(f"not a baseline JPEG (SOF marker {marker:#x})")
        elif marker == _DRI:  # restart markers of its own would clash with those joining the bands
            raise Unjoinable("a band has its own restart interval")
        pos += 2 + length
    raise ValueError("no SOS marker")


def join_bands(parts: list[bytes], height: int, interval: int) -> bytes:
    """One JPEG of the full height from band JPEGs of equal MCU count (the last may be shorter),
    by restart markers between their entropy-coded data.

    Only part 0's header is kept, so every part's must be the same (tables, sampling, width,
    scan), but for SOF0's height; and no part may have a restart interval of its own. Otherwise
    Unjoinable: joined, the file would decode to garbage.
    """
    sof, sos, data = _segments(parts[0])
    first = parts[0]
    height_at = sof + 5  # SOF0: marker, length, precision, then the height (2 bytes)
    for part in parts[1:]:
        same = _segments(part) == (sof, sos, data) and part[:height_at] == first[:height_at]
        if not same or part[height_at + 2 : data] != first[height_at + 2 : data]:
            raise Unjoinable("the bands were encoded with different headers (tables)")
    header = bytearray(first[:sos])
    struct.pack_into(">H", header, height_at, height)
    out = [bytes(header), struct.pack(">HHH", 0xFF00 | _DRI, 4, interval), first[sos:-2]]
    for i, part in enumerate(parts[1:]):
        out.append(bytes((0xFF, _RST0 + i % 8)))
        out.append(part[data:-2])
    out.append(bytes((0xFF, _EOI)))
    return b"".join(out)
