"""The encoders in the benchmark's own process, on one frame grabbed from the scene: what each
part of a screenshot costs without HTTP, with the bytes it makes, next to what a Python server
would call instead (Pillow's saves with their defaults, mss.tools.to_png).

Synchronous: run it on a thread of its own (the X connection lives and dies there).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import mss
import mss.tools
from PIL import Image

from bench.measure import Budget, Row, Side, time_sync
from bureau_agent.desktop.capture import Frame
from bureau_agent.desktop.encode import WEBP_METHOD, _pil, encode

SECTION = "encoding"


def side(label: str, call: Callable[[], object], budget: Budget) -> Side:
    """Timed calls; `bytes` is the size of one output when call returns the encoded bytes."""
    out = call()  # also the first warm-up: any error shows before the timing starts
    result = Side(label, time_sync(call, budget))
    if isinstance(out, bytes):
        result.bytes = len(out)
    return result


def pillow_save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def encoding_rows(display: str, budget: Budget, baseline: Budget) -> list[Row]:
    _pil()  # Pillow loaded and tuned as the agent's first encode does: its figures, not a cold Pillow's
    with mss.MSS(display=display) as sct:
        monitor = sct.monitors[0]
        shot = sct.grab(monitor)
        frame = Frame(0, 0, shot.width, shot.height, shot.raw)
        # The baselines get their input ready (untimed): an RGB image, and mss's RGB bytes.
        image = Image.frombuffer("RGB", shot.size, shot.raw, "raw", "BGRX", 0, 1)
        rgb = shot.rgb
        width, height = shot.size
        return [
            Row(SECTION, f"mss grab {width}×{height} (XCB, MIT-SHM)", "ms", side("mss grab of the root window", lambda: sct.grab(monitor), budget)),
            Row(SECTION, "PNG encode", "ms", side('encode(frame, "png")', lambda: encode(frame, "png"), budget),
                side("mss.tools.to_png, default (zlib level 6, no filter)", lambda: mss.tools.to_png(rgb, shot.size), baseline)),
            Row(SECTION, "PNG encode, maxWidth=1280 (bicubic)", "ms",
                side('encode(frame, "png", max_width=1280)', lambda: encode(frame, "png", max_width=1280), budget)),
            Row(SECTION, "JPEG q80 encode", "ms", side('encode(frame, "jpeg", 80)', lambda: encode(frame, "jpeg", 80), budget),
                side("Pillow JPEG q80 save of the RGB image", lambda: pillow_save(image, "JPEG", quality=80), baseline)),
            Row(SECTION, f"WebP q80 encode (method {WEBP_METHOD})", "ms",
                side('encode(frame, "webp", 80)', lambda: encode(frame, "webp", 80), budget),
                side("Pillow WebP q80 save, default method 4", lambda: pillow_save(image, "WEBP", quality=80), baseline)),
        ]  # fmt: skip
