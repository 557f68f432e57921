"""The fast PNG writer: valid files (chunk CRCs, one zlib stream) that decode pixel-exact."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from PIL import Image, ImageDraw

from bureau_agent.desktop.png import SIGNATURE, raw_rows, write_png


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


@pytest.mark.parametrize("width,height", [(1, 1), (7, 3), (333, 77), (640, 481)])
def test_random_pixels_decode_exactly(width: int, height: int) -> None:
    rgb = random.Random(width * height).randbytes(width * height * 3)
    data = write_png(rgb, width, height)
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == "RGB" and decoded.size == (width, height)
    assert decoded.tobytes() == rgb


@pytest.mark.parametrize("width,height", [(301, 199), (1921, 1081)])
def test_busy_screen_decodes_exactly(width: int, height: int) -> None:
    image = _busy(width, height, seed=width)
    data = write_png(image.tobytes(), width, height)
    assert Image.open(io.BytesIO(data)).tobytes() == image.tobytes()
    # And it does compress: flat areas and text make most of the frame.
    assert len(data) < width * height * 3 / 2


def test_structure_is_one_ihdr_one_idat_one_iend() -> None:
    rgb = bytes(range(256)) * 45  # 16x240 RGB
    data = write_png(rgb, 16, 240)
    chunks = _chunks(data)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (16, 240, 8, 2, 0, 0, 0)
    # The IDAT is one complete zlib stream (header + adler32 checked by zlib) of filter-0 rows.
    assert zlib.decompress(chunks[1][1]) == raw_rows(rgb, 16, 240)
    assert raw_rows(rgb, 16, 240)[:: 16 * 3 + 1] == b"\x00" * 240


def test_wrong_buffer_size_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 30 for 5x2"):
        write_png(b"\x00" * 29, 5, 2)
    with pytest.raises(ValueError, match="bad PNG size"):
        write_png(b"", 0, 0)
