"""The TurboJPEG encoder: bands joined by restart markers decode to exactly what one encode gives,
strict decoders accept the stream, regions read in place, and C is never let past the buffer."""

from __future__ import annotations

import io
import random
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from bureau_agent.desktop import jpeg
from bureau_agent.desktop.capture import Frame
from bureau_agent.desktop.encode import Region, encode


def test_turbojpeg_is_installed() -> None:
    assert jpeg.available(), "libturbojpeg is missing: scripts/install-deps installs it"


def busy_image(width: int, height: int, seed: int = 3) -> Image.Image:
    """Colour fields with grain and text-like strokes: every band's data differs."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (24, 16), rng.randbytes(24 * 16 * 3)).resize((width, height), Image.BICUBIC)
    grain = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    image = Image.blend(image.filter(ImageFilter.GaussianBlur(3)), grain, 0.2)
    draw = ImageDraw.Draw(image)
    for y in range(5, height, 13):
        draw.text((4, y), "agent desktop " * 20, fill=(rng.randrange(256), 0, 0))
    return image


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def markers(data: bytes) -> list[int]:
    """Every marker in the stream (RSTn inside the entropy data included; FF00 is a stuffed byte)."""
    return [data[i + 1] for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] not in (0x00, 0xFF)]


@pytest.mark.parametrize("size", [(1920, 1080), (1001, 777), (640, 35)])
@pytest.mark.parametrize("bands", [2, 3, 4])
def test_bands_decode_to_the_same_pixels_as_one_encode(size: tuple[int, int], bands: int) -> None:
    width, height = size
    pixels = busy_image(width, height).tobytes("raw", "BGRX")
    whole = jpeg.encode_pixels(pixels, width, height, 80, bands=1)
    joined = jpeg.encode_pixels(pixels, width, height, 80, bands=bands)
    assert joined != whole  # really joined: a DRI segment and restart markers
    found = markers(joined)
    real_bands = min(bands, 3) if height < 3 * jpeg.MCU_ROWS else bands  # 35 rows: three MCU rows at most
    assert found.count(0xDD) == 1 and [m for m in found if 0xD0 <= m <= 0xD7] == [0xD0 + i for i in range(real_bands - 1)]
    a, b = decode(whole), decode(joined)
    assert b.format == "JPEG" and b.size == (width, height)
    assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def test_a_strict_decoder_finds_nothing_wrong(tmp_path: Path) -> None:
    width, height = 1920, 1080
    joined = jpeg.encode_pixels(busy_image(width, height).tobytes("raw", "BGRX"), width, height, 80, bands=3)
    good, bad = tmp_path / "good.jpg", tmp_path / "bad.jpg"
    good.write_bytes(joined)
    bad.write_bytes(joined[: len(joined) // 2] + joined[-2:])  # the check itself must be able to fail
    strict = ["identify", "-regard-warnings"]
    assert subprocess.run([*strict, str(good)], capture_output=True).returncode == 0
    assert subprocess.run([*strict, str(bad)], capture_output=True).returncode != 0


def test_pixels_come_out_in_the_right_colours() -> None:
    width, height = 64, 48
    source = Image.new("RGB", (width, height))
    ImageDraw.Draw(source).rectangle((0, 0, 31, 47), fill=(220, 30, 30))
    ImageDraw.Draw(source).rectangle((32, 0, 63, 47), fill=(30, 30, 220))
    for fmt, raw in ((jpeg.BGRX, "BGRX"), (jpeg.RGBX, "RGBX")):
        image = decode(jpeg.encode_pixels(source.tobytes("raw", raw), width, height, 90, fmt))
        r, g, b = image.getpixel((8, 24))
        assert r > 200 and g < 60 and b < 60
        r, g, b = image.getpixel((56, 24))
        assert b > 200 and r < 60 and g < 60


def test_a_region_is_read_in_place() -> None:
    width, height = 300, 200
    image = busy_image(width, height)
    pixels = image.tobytes("raw", "BGRX")
    x, y, w, h = 37, 21, 101, 90
    in_place = jpeg.encode_pixels(pixels, w, h, 75, pitch=width * 4, offset=(y * width + x) * 4)
    copied = jpeg.encode_pixels(image.crop((x, y, x + w, y + h)).tobytes("raw", "BGRX"), w, h, 75)
    assert in_place == copied


def mean_error(a: Image.Image, b: Image.Image) -> float:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
    return sum(i * n for i, n in enumerate(diff.histogram())) / (a.width * a.height)


def test_the_frame_path_is_as_faithful_as_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    width, height = 800, 600
    source = busy_image(width, height)
    frame = Frame(0, 0, width, height, bytearray(source.tobytes("raw", "BGRX")))
    region = Region(100, 50, 400, 300)
    fast = decode(encode(frame, "jpeg", 80, region=region))
    monkeypatch.setattr(jpeg, "available", lambda: False)
    slow = decode(encode(frame, "jpeg", 80, region=region))
    assert fast.size == slow.size == (400, 300)
    truth = source.crop((100, 50, 500, 350))
    fast_error, slow_error = mean_error(fast, truth), mean_error(slow, truth)
    print(f"mean error against the source: TurboJPEG {fast_error:.2f}, Pillow {slow_error:.2f}")
    assert fast_error < slow_error * 1.1
    assert mean_error(decode(encode(frame, "jpeg", 80, region=Region(101, 50, 400, 300))), truth) > fast_error * 2  # it can fail


@pytest.mark.parametrize(
    "variable,value", [("TJ_OPTIMIZE", "1"), ("TJ_RESTART", "1"), ("TJ_RESTART", "5B"), ("TJ_PROGRESSIVE", "1"), ("TJ_ARITHMETIC", "1")]
)
def test_libturbojpeg_environment_never_makes_a_corrupt_join(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    """libturbojpeg reads these on every encode: Huffman tables of each band's own, restart
    markers of each band's own, other SOFs. Such bands are not joined; one encode of the whole is."""
    width, height = 640, 480
    pixels = busy_image(width, height).tobytes("raw", "BGRX")
    plain = jpeg.encode_pixels(pixels, width, height, 80, bands=1)
    monkeypatch.setenv(variable, value)
    banded = jpeg.encode_pixels(pixels, width, height, 80, bands=2)
    assert banded == jpeg.encode_pixels(pixels, width, height, 80, bands=1) != plain  # the variable took effect
    path = tmp_path / "banded.jpg"
    path.write_bytes(banded)
    assert subprocess.run(["identify", "-regard-warnings", str(path)], capture_output=True).returncode == 0
    if variable != "TJ_ARITHMETIC":  # Pillow's libjpeg does not decode arithmetic coding
        assert ImageChops.difference(decode(plain).convert("RGB"), decode(banded).convert("RGB")).getbbox() is None


def test_bands_with_different_tables_are_not_joined() -> None:
    width, height = 256, 64
    image = busy_image(width, height)
    top, bottom = (image.crop((0, y, width, y + 32)).tobytes("raw", "BGRX") for y in (0, 32))
    parts = [jpeg.encode_pixels(top, width, 32, 80), jpeg.encode_pixels(bottom, width, 32, 80)]
    assert jpeg.join_bands(parts, height, 32)[:2] == b"\xff\xd8"  # same tables: joined
    parts[1] = jpeg.encode_pixels(bottom, width, 32, 81)
    with pytest.raises(jpeg.Unjoinable, match="headers"):
        jpeg.join_bands(parts, height, 32)


def test_reading_past_the_buffer_is_refused() -> None:
    pixels = bytes(100 * 10 * 4)
    with pytest.raises(ValueError, match="overrun"):
        jpeg.encode_pixels(pixels, 100, 11, 80)
    with pytest.raises(ValueError, match="overrun"):
        jpeg.encode_pixels(pixels, 50, 10, 80, pitch=400, offset=201 * 4)
    with pytest.raises(ValueError):
        jpeg.encode_pixels(pixels, 100, 10, 0)
    with pytest.raises(ValueError):
        jpeg.encode_pixels(pixels, 100, 10, 80, pitch=396)


def test_only_baseline_jpegs_are_joined() -> None:
    buf = io.BytesIO()
    busy_image(64, 64).save(buf, "JPEG", progressive=True)
    with pytest.raises(ValueError, match="baseline"):
        jpeg.join_bands([buf.getvalue(), buf.getvalue()], 128, 16)


def test_the_header_says_the_full_height() -> None:
    width, height = 256, 100
    joined = jpeg.encode_pixels(busy_image(width, height).tobytes("raw", "BGRX"), width, height, 80, bands=2)
    sof = joined.index(b"\xff\xc0")
    assert struct.unpack_from(">HH", joined, sof + 5) == (height, width)
