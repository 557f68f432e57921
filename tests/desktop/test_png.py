"""The fast PNG writer: valid files (chunk CRCs, one zlib stream) that decode pixel-exact."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from PIL import Image, ImageDraw

from bureau_agent.desktop import png
from bureau_agent.desktop.png import FILTER_UP, SIGNATURE, adler32_combine, encode_png, raw_rows, up_filter

FILTER_NONE = 0


def write_png(data: bytes | bytearray, width: int, height: int, *, filter_type: int = FILTER_NONE, level: int = 1) -> bytes:
    """The reference encoder: packed RGB rows (already filtered) as scanlines, stdlib zlib, the
    module's chunk writer. What encode_png makes must decode like what this makes."""
    png._check_size(width, height)
    return png._png_file(width, height, [zlib.compress(raw_rows(data, width, height, filter_type), level)])


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == SIGNATURE
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC on {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data)
    return chunks


def _busy(width: int, height: int, seed: int) -> Image.Image:
    """Flat areas, text and a noisy 'photo' block: what a desktop looks like to deflate."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (236, 236, 236))
    draw = ImageDraw.Draw(image)
    for i in range(0, height, 14):
        draw.text((4, i), f"line {i} {rng.random():.6f} the quick brown fox", fill=(rng.randrange(80), 0, 0))
    noise = Image.frombytes("RGB", (width // 2 + 1, height // 2 + 1), rng.randbytes((width // 2 + 1) * (height // 2 + 1) * 3))
    image.paste(noise, (width // 2, height // 3))
    return image


@pytest.mark.parametrize("width,height", [(1, 1), (7, 3), (1, 9), (333, 77), (640, 481)])
def test_random_pixels_decode_exactly(width: int, height: int) -> None:
    rgb = random.Random(width * height).randbytes(width * height * 3)
    for data in (encode_png(Image.frombytes("RGB", (width, height), rgb)), write_png(rgb, width, height)):
        decoded = Image.open(io.BytesIO(data))
        assert decoded.mode == "RGB" and decoded.size == (width, height)
        assert decoded.tobytes() == rgb


@pytest.mark.parametrize("width,height,chunk_rows", [(301, 199, 64), (1921, 1081, 64), (50, 40, 1), (50, 40, 7)])
@pytest.mark.parametrize("bands", [1, 2, 3, 4])
def test_busy_screen_decodes_exactly(width: int, height: int, chunk_rows: int, bands: int) -> None:
    image = _busy(width, height, seed=width)
    data = encode_png(image, chunk_rows=chunk_rows, bands=bands)
    assert Image.open(io.BytesIO(data)).tobytes() == image.tobytes()
    if width > 100:  # and it does compress: flat areas and text make most of a real-size frame
        assert len(data) < width * height * 3 / 2


def test_up_filter_is_each_byte_minus_the_byte_above() -> None:
    rgb = random.Random(3).randbytes(5 * 4 * 3)
    filtered = up_filter(Image.frombytes("RGB", (5, 4), rgb)).tobytes()
    stride = 15  # the first row is taken unfiltered by encode_png: only rows 1.. are checked
    assert filtered[stride:] == bytes((rgb[i] - rgb[i - stride]) % 256 for i in range(stride, len(rgb)))


def test_modes_other_than_rgb_are_converted() -> None:
    grey = Image.frombytes("L", (9, 5), bytes(range(45)))
    assert Image.open(io.BytesIO(encode_png(grey))).tobytes() == grey.convert("RGB").tobytes()


def test_structure_is_one_ihdr_one_idat_one_iend() -> None:
    rgb = bytes(range(256)) * 45  # 16x240 RGB
    image = Image.frombytes("RGB", (16, 240), rgb)
    chunks = _chunks(encode_png(image))
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (16, 240, 8, 2, 0, 0, 0)
    # The IDAT is one complete zlib stream (header + adler32 checked by zlib) of Up-filtered rows.
    rows = zlib.decompress(chunks[1][1])
    assert rows == raw_rows(rgb[:48] + up_filter(image).tobytes()[48:], 16, 240, FILTER_UP)
    assert rows[:: 16 * 3 + 1] == bytes([FILTER_UP]) * 240


@pytest.mark.parametrize("bands", [2, 3, 4])
def test_bands_deflated_apart_are_one_zlib_stream(bands: int) -> None:
    image = _busy(640, 203, seed=9)
    ((_, one),) = [c for c in _chunks(encode_png(image, bands=1)) if c[0] == b"IDAT"]
    ((_, joined),) = [c for c in _chunks(encode_png(image, bands=bands)) if c[0] == b"IDAT"]
    assert joined != one
    inflater = zlib.decompressobj()
    rows = inflater.decompress(joined)  # checks the combined Adler-32 at the end
    assert inflater.eof and not inflater.unused_data  # one final block, nothing after it
    assert rows == zlib.decompress(one)
    broken = joined[:-4] + struct.pack(">I", (struct.unpack(">I", joined[-4:])[0] + 1) & 0xFFFFFFFF)
    with pytest.raises(zlib.error):  # and the checksum is really checked
        zlib.decompress(broken)


def test_adler32_combines_like_one_pass() -> None:
    rng = random.Random(4)
    for _ in range(50):
        a, b = rng.randbytes(rng.randrange(0, 70_000)), rng.randbytes(rng.randrange(0, 140_000))
        assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_wrong_buffer_size_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 30 for 5x2"):
        write_png(b"\x00" * 29, 5, 2)
    with pytest.raises(ValueError, match="bad PNG size"):
        write_png(b"", 0, 0)
