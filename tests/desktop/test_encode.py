"""Encoding a frame: exact PNG pixels, region crops, pointer drawing, downscale sizes, formats."""

from __future__ import annotations

import dataclasses
import io
import random

import pytest
from PIL import Image

from bureau_agent.desktop.capture import Cursor, Frame
from bureau_agent.desktop import jpeg
from bureau_agent.desktop.encode import Region, encode, encode_sized, fit


def frame_of(rgb: bytes, width: int, height: int) -> Frame:
    """BGRA as X gives it, with junk in the 4th byte that must never leak into the image."""
    out = bytearray(width * height * 4)
    out[0::4], out[1::4], out[2::4] = rgb[2::3], rgb[1::3], rgb[0::3]
    out[3::4] = bytes([0x5A]) * (width * height)
    return Frame(0, 0, width, height, out)  # the capture's own types (a bytearray, as mss gives): no X needed


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


W, H = 97, 61
RGB = random.Random(5).randbytes(W * H * 3)
FRAME = frame_of(RGB, W, H)


def test_fit_keeps_aspect_never_upscales() -> None:
    assert fit(1920, 1080, None, None) == (1920, 1080, 1.0)
    assert fit(1920, 1080, 4000, 4000) == (1920, 1080, 1.0)
    assert fit(1920, 1080, 1280, None) == (1280, 720, 1280 / 1920)
    assert fit(1920, 1080, None, 540) == (960, 540, 0.5)
    assert fit(1920, 1080, 1000, 300) == (533, 300, 300 / 1080)  # height limits more
    assert fit(1000, 3, 10, None) == (10, 1, 0.01)  # never below one pixel


def test_png_is_pixel_exact() -> None:
    image = decode(encode(FRAME, "png"))
    assert image.format == "PNG" and image.mode == "RGB" and image.size == (W, H)
    assert image.tobytes() == RGB


def test_region_is_cropped_exactly() -> None:
    image = decode(encode(FRAME, "png", region=Region(10, 7, 31, 20)))
    full = Image.frombytes("RGB", (W, H), RGB)
    assert image.tobytes() == full.crop((10, 7, 41, 27)).tobytes()
    # Only the region's rows are read: one in the bottom-right corner ends on the frame's last byte.
    corner = decode(encode(FRAME, "png", region=Region(W - 13, H - 4, 13, 4)))
    assert corner.tobytes() == full.crop((W - 13, H - 4, W, H)).tobytes()
    assert decode(encode(FRAME, "png", region=Region(5, 9, 1, 1))).getpixel((0, 0)) == full.getpixel((5, 9))


@pytest.mark.parametrize("fmt,name", [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
def test_each_format_decodes_with_the_fitted_size(fmt: str, name: str) -> None:
    image = decode(encode(FRAME, fmt, 70, max_width=50))
    assert image.format == name
    assert image.size == fit(W, H, 50, None)[:2] == (50, 31)


def test_encode_sized_makes_the_size_it_is_given() -> None:
    assert encode_sized(FRAME, "png", None, (50, 31)) == encode(FRAME, "png", max_width=50)
    assert decode(encode_sized(FRAME, "jpeg", 80, (20, 10), region=Region(3, 4, 40, 20))).size == (20, 10)
    assert encode_sized(FRAME, "jpeg", None, (W, H)) == encode(FRAME, "jpeg", 80)


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_quality_changes_the_output(fmt: str) -> None:
    assert len(encode(FRAME, fmt, 10)) < len(encode(FRAME, fmt, 95))


def test_downscale_keeps_the_picture() -> None:
    # Left half red, right half blue: after a 4x downscale the halves are still there.
    rgb = b"".join((b"\xff\x00\x00" * 200 + b"\x00\x00\xff" * 200) for _ in range(100))
    image = decode(encode(frame_of(rgb, 400, 100), "png", max_width=100))
    assert image.size == (100, 25)
    assert image.getpixel((10, 12)) == (255, 0, 0)
    assert image.getpixel((90, 12)) == (0, 0, 255)


def test_cursor_is_blended_at_its_hotspot() -> None:
    # 3x3 sprite: opaque white centre, a half-transparent black (premultiplied) left of it.
    px = {(1, 1): b"\xff\xff\xff\xff", (0, 1): b"\x00\x00\x00\x80"}
    sprite = b"".join(px.get((x, y), b"\x00\x00\x00\x00") for y in range(3) for x in range(3))
    cursor = Cursor(x=20, y=30, xhot=1, yhot=1, width=3, height=3, serial=1, bgra=sprite)
    plain = Image.frombytes("RGB", (W, H), RGB)
    image = decode(encode(FRAME, "png", cursor=cursor))
    assert image.getpixel((20, 30)) == (255, 255, 255)  # the hotspot pixel is at the pointer
    under = plain.getpixel((19, 30))
    assert image.getpixel((19, 30)) == pytest.approx(tuple(c * 127 / 255 for c in under), abs=2)
    changed = [(x, y) for y in range(H) for x in range(W) if image.getpixel((x, y)) != plain.getpixel((x, y))]
    assert set(changed) <= {(20, 30), (19, 30)}
    # In a region the same screen position lands at region coordinates.
    cropped = decode(encode(FRAME, "png", region=Region(10, 20, 30, 30), cursor=cursor))
    assert cropped.getpixel((10, 10)) == (255, 255, 255)
    # A pointer at the very edge is clipped, not an error.
    edge = decode(encode(FRAME, "png", cursor=dataclasses.replace(cursor, x=0, y=0)))
    assert edge.getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_the_frame_is_not_modified_by_drawing(fmt: str) -> None:
    frame = frame_of(RGB, W, H)  # a bytearray, as the capture gives: drawing in place would show
    before = bytes(frame.bgra)
    encode(frame, fmt, cursor=Cursor(5, 5, 0, 0, 1, 1, 1, b"\xff\xff\xff\xff"))
    encode(frame, fmt, region=Region(2, 3, 20, 10), cursor=Cursor(5, 5, 0, 0, 1, 1, 1, b"\xff\xff\xff\xff"))
    assert frame.bgra == before


@pytest.mark.skipif(not jpeg.available(), reason="libturbojpeg is missing")
@pytest.mark.parametrize(
    "region,at",
    [(None, (20, 30)), (Region(10, 20, 30, 30), (20, 30)), (Region(19, 29, 30, 30), (20, 30)), (Region(50, 5, 20, 20), (20, 30))],
)
def test_jpeg_with_the_pointer_is_the_pillow_drawing_encoded(region: Region | None, at: tuple[int, int]) -> None:
    """With cursor=true the JPEG is still encoded from BGRX rows, with the pointer blended into a
    copy of them: the same bytes as encoding the image Pillow draws (the PNG path, exact), for a
    pointer inside the region, cut by its edge, and outside it."""
    px = {(1, 1): b"\xff\xff\xff\xff", (0, 1): b"\x00\x00\x00\x80", (2, 2): b"\x10\x40\x20\x40"}
    sprite = b"".join(px.get((x, y), b"\x00\x00\x00\x00") for y in range(3) for x in range(3))
    cursor = Cursor(x=at[0], y=at[1], xhot=1, yhot=1, width=3, height=3, serial=1, bgra=sprite)
    drawn = decode(encode(FRAME, "png", region=region, cursor=cursor))
    expected = jpeg.encode_pixels(drawn.tobytes("raw", "RGBX"), drawn.width, drawn.height, 80, jpeg.RGBX)
    assert encode(FRAME, "jpeg", 80, region=region, cursor=cursor) == expected


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="gif"):
        encode(FRAME, "gif")


def test_importing_the_encoder_leaves_pillows_block_cache_alone() -> None:
    # Pillow's kept-blocks bound is process-wide: importing encode must not change it, the first
    # encode's loading of Pillow does (tested in a fresh interpreter: this one has imported it long ago).
    import subprocess
    import sys

    code = (
        "from PIL import Image; before = Image.core.get_blocks_max();"
        "import bureau_agent.desktop.encode as e; assert Image.core.get_blocks_max() == before, 'changed at import';"
        "e._pil(); assert Image.core.get_blocks_max() >= e.PILLOW_BLOCKS_KEPT > before"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "PILLOW_BLOCKS_MAX"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
