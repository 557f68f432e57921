"""Figures the reliability suite measured, printed at the end of the run (and saved as JSON).

Sizes come from BUREAU_RELIABILITY_SCALE (default 1, the small CI size; 10 gives the full sizes
of the issue: 1000+ generated requests, 10 000 mixed requests, 10 Xvfb restarts).
"""

from __future__ import annotations

import json
import os
from typing import Any

FIGURES: dict[str, dict[str, Any]] = {}


def scale() -> float:
    raw = os.environ.get("BUREAU_RELIABILITY_SCALE", "1")
    try:
        value = float(raw)
    except ValueError:
        raise RuntimeError(f"BUREAU_RELIABILITY_SCALE={raw!r} is not a number") from None
    if not 0.1 <= value <= 1000:
        raise RuntimeError(f"BUREAU_RELIABILITY_SCALE={raw!r} is outside 0.1-1000")
    return value


def scaled(n: int, minimum: int = 1) -> int:
    return max(minimum, round(n * scale()))


def record(section: str, **values: Any) -> None:
    FIGURES.setdefault(section, {}).update(values)


def render() -> list[str]:
    lines = [f"scale {scale():g} (BUREAU_RELIABILITY_SCALE)"]
    for section, values in FIGURES.items():
        lines.append(f"{section}:")
        for key, value in values.items():
            lines.append(f"  {key}: {json.dumps(value, ensure_ascii=False)}")
    return lines


def save(path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"scale": scale(), "figures": FIGURES}, fh, indent=2, ensure_ascii=False)
