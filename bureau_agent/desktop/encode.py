"""Turn a captured frame into image bytes: crop, draw the pointer, downscale, encode. Pure: no X.

    encode(frame, "png"|"jpeg"|"webp", quality, max_width, max_height, region=…, cursor=…) -> bytes
    encode_sized(frame, fmt, quality, (out_width, out_height), region=…, cursor=…) -> bytes

`frame` is anything with width, height and bgra (4 bytes a pixel, as the X server gives them);
`cursor` anything with x, y, xhot, yhot, width, height and bgra (premultiplied, as XFixes gives
it). Every step releases the GIL for most of its time, so encodes run well on worker threads.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from bureau_agent.desktop import jpeg
from bureau_agent.system.memory import trim

if TYPE_CHECKING:
    from PIL import Image

# Pillow frees every image's memory at once by default, so each 8 MB image of an encode costs
# ~2000 fresh page faults: half the time of a 1920x1080 PNG here. Keeping a few freed blocks
# for reuse halves it (27 -> 13 ms), for at most 8 blocks (<= 16 MiB each) of retained memory.
# PILLOW_BLOCKS_MAX in the environment still wins when it asks for more. This is process-wide
# state of Pillow's, so it is set when Pillow is first loaded for an encode (_pil), not as a
# side effect of importing this module (doctor, the benchmark, a test importing it).
PILLOW_BLOCKS_KEPT = 8


@functools.cache
def _pil() -> ModuleType:
    """PIL.Image, imported and tuned at the first encode, not at start: an agent that takes no
    screenshot (or none yet) does not carry Pillow (~3 MiB of RSS, tests/desktop/test_memory.py).
    Concurrent first calls at worst import it twice under the import lock, which is harmless."""
    from PIL import Image as pil_image

    pil_image.core.set_blocks_max(max(pil_image.core.get_blocks_max(), PILLOW_BLOCKS_KEPT))
    return pil_image


def release_memory() -> None:
    """Give back what encoding keeps between calls: Pillow's kept blocks and glibc's free lists.

    Called after a quiet spell, so a desktop that stops taking screenshots does not carry
    ~100 MB of buffers it only needs while screenshots come quickly.
    """
    if "PIL.Image" in sys.modules:  # never imported: no block kept
        _pil().core.clear_cache()
    trim(collect=False)  # on an encode thread: a full collection would hold the GIL for nothing


MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
DEFAULT_QUALITY = 80
# libwebp "method" 0..6 trades speed for size; 0 is ~3x faster than the default 4 for ~15 % more
# bytes on screen content (figures in docs/screenshot.md). Agents wait on every screenshot.
WEBP_METHOD = 0


class FrameLike(Protocol):
    width: int
    height: int
    bgra: bytes | bytearray


class CursorLike(Protocol):
    x: int  # pointer position on the screen
    y: int
    xhot: int  # hotspot inside the cursor image
    yhot: int
    width: int
    height: int
    bgra: bytes  # premultiplied alpha, B G R A byte order


@dataclasses.dataclass(frozen=True)
class _Pixels:
    """A bare FrameLike: rows copied out of a frame."""

    width: int
    height: int
    bgra: bytes | bytearray


@dataclasses.dataclass(frozen=True)
class Region:
    x: int
    y: int
    width: int
    height: int


def fit(width: int, height: int, max_width: int | None, max_height: int | None) -> tuple[int, int, float]:
    """(out_width, out_height, scale) for a width x height image that must fit the bounds.

    Keeps the aspect ratio and never upscales; scale is image pixels per source pixel, exact on
    the limiting side (the other side is rounded to whole pixels, at least 1).
    """
    scale = 1.0
    if max_width is not None and width > max_width:
        scale = max_width / width
    if max_height is not None and height * scale > max_height:
        scale = max_height / height
    if scale >= 1.0:
        return width, height, 1.0
    # scale <= each bound / side, so rounding never crosses a bound (bounds are integers).
    return max(1, round(width * scale)), max(1, round(height * scale)), scale


def to_image(frame: FrameLike, region: Region | None = None) -> Image.Image:
    """The frame (or its region) as a new RGB image; the alpha byte of X pixels is meaningless."""
    box = region or Region(0, 0, frame.width, frame.height)
    stride = frame.width * 4
    offset = (box.y * frame.width + box.x) * 4
    # The raw decoder reads just the region's rows, `stride` bytes apart: converting the whole
    # 8 MB frame and cropping it after took ~15x longer for a 400x300 region.
    with memoryview(frame.bgra) as view:
        pixels = view[offset : offset + (box.height - 1) * stride + box.width * 4]
        return _pil().frombuffer("RGB", (box.width, box.height), pixels, "raw", "BGRX", stride, 1)


def draw_cursor(image: Image.Image, cursor: CursorLike, origin: tuple[int, int] = (0, 0)) -> None:
    """Blend the pointer image onto image with its hotspot at the pointer position.

    origin is the screen position of image's top-left pixel (the region's corner).
    """
    if cursor.width <= 0 or cursor.height <= 0:
        return
    sprite = _pil().frombuffer("RGBA", (cursor.width, cursor.height), cursor.bgra, "raw", "BGRa", 0, 1)
    left = cursor.x - cursor.xhot - origin[0]
    top = cursor.y - cursor.yhot - origin[1]
    image.paste(sprite, (left, top), sprite)  # paste clips at the edges and blends by alpha


def _bgrx_with_cursor(frame: FrameLike, box: Region, cursor: CursorLike) -> tuple[bytes | bytearray, int]:
    """(pixels, offset of box's first pixel) for TurboJPEG: box's rows with the pointer drawn in.

    Only when the pointer overlaps box are its rows copied (the frame itself is never written
    to); the copy keeps the frame's row pitch. The pointer is blended by draw_cursor() on an
    image of just the pixels it covers, so they come out exactly as on the Pillow path.
    """
    stride = frame.width * 4
    left, top = max(box.x, cursor.x - cursor.xhot), max(box.y, cursor.y - cursor.yhot)
    right = min(box.x + box.width, cursor.x - cursor.xhot + cursor.width)
    bottom = min(box.y + box.height, cursor.y - cursor.yhot + cursor.height)
    if left >= right or top >= bottom:  # nothing of the pointer shows in the region
        return frame.bgra, (box.y * frame.width + box.x) * 4
    rows = bytearray(memoryview(frame.bgra)[box.y * stride : (box.y + box.height) * stride])
    patch_box = Region(left, top - box.y, right - left, bottom - top)  # in the copied rows
    patch = to_image(_Pixels(frame.width, box.height, rows), patch_box)
    draw_cursor(patch, cursor, (left, top))
    packed, row_bytes = patch.tobytes("raw", "BGRX"), patch.width * 4
    offset = (patch_box.y * frame.width + patch_box.x) * 4
    for i in range(patch.height):
        rows[offset + i * stride : offset + i * stride + row_bytes] = packed[i * row_bytes : (i + 1) * row_bytes]
    return rows, box.x * 4


def encode(
    frame: FrameLike,
    fmt: str = "png",
    quality: int | None = None,
    max_width: int | None = None,
    max_height: int | None = None,
    *,
    region: Region | None = None,
    cursor: CursorLike | None = None,
) -> bytes:
    """The frame (or its region) as an image fitted into max_width x max_height (see fit())."""
    box = region or Region(0, 0, frame.width, frame.height)
    out_w, out_h, _ = fit(box.width, box.height, max_width, max_height)
    return encode_sized(frame, fmt, quality, (out_w, out_h), region=region, cursor=cursor)


def encode_sized(
    frame: FrameLike,
    fmt: str,
    quality: int | None,
    size: tuple[int, int],
    *,
    region: Region | None = None,
    cursor: CursorLike | None = None,
) -> bytes:
    """encode() to an output size already fitted: the screenshot service fits once, for the ETag
    and the headers too."""
    if fmt not in MEDIA_TYPES:
        raise ValueError(f"unknown image format {fmt!r}")
    q = DEFAULT_QUALITY if quality is None else quality
    box = region or Region(0, 0, frame.width, frame.height)
    if fmt == "jpeg" and size == (box.width, box.height) and jpeg.available():
        # The common case, straight from the X server's BGRX bytes: no conversion, no crop copy.
        if cursor is not None:
            pixels, offset = _bgrx_with_cursor(frame, box, cursor)
        else:
            pixels, offset = frame.bgra, (box.y * frame.width + box.x) * 4
        return jpeg.encode_pixels(pixels, box.width, box.height, q, jpeg.BGRX, pitch=frame.width * 4, offset=offset)
    image = to_image(frame, box)
    if cursor is not None:
        draw_cursor(image, cursor, (box.x, box.y))  # on to_image's own copy: the frame stays as it was
    if size != image.size:
        # Bicubic is as sharp on text as Lanczos for ~30 % less time (figures in
        # docs/screenshot.md); reducing_gap does a fast box reduce first for large factors.
        image = image.resize(size, _pil().BICUBIC, reducing_gap=2.0)
    if fmt == "png":
        from bureau_agent.desktop.png import encode_png  # Pillow's and isal's, at the first PNG

        return encode_png(image)
    if fmt == "jpeg" and jpeg.available():
        return jpeg.encode_pixels(image.tobytes("raw", "RGBX"), image.width, image.height, q, jpeg.RGBX)
    buf = io.BytesIO()
    if fmt == "jpeg":  # without libturbojpeg: correct, ~2x slower (one core, a conversion first)
        image.save(buf, "JPEG", quality=q)
    else:
        image.save(buf, "WEBP", quality=q, method=WEBP_METHOD)
    return buf.getvalue()
