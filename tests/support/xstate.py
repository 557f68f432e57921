"""What the X server says is held down right now: keys (XQueryKeymap) and pointer buttons."""

from __future__ import annotations

import asyncio
import time

from Xlib import X
from Xlib import display as xdisplay

BUTTON_MASKS = X.Button1Mask | X.Button2Mask | X.Button3Mask | X.Button4Mask | X.Button5Mask


def held(display_name: str) -> tuple[list[int], int]:
    """(keycodes held down, pointer button mask) as the X server sees them."""
    conn = xdisplay.Display(display_name)
    try:
        keymap = conn.query_keymap()
        mask = conn.screen().root.query_pointer().mask
    finally:
        conn.close()
    keycodes = [i * 8 + bit for i, byte in enumerate(keymap) for bit in range(8) if byte >> bit & 1]
    return keycodes, mask & BUTTON_MASKS


async def wait_released(display_name: str, timeout_s: float) -> None:
    """Wait until no key and no button is held; fail naming what is still held."""
    deadline = time.monotonic() + timeout_s
    while True:
        keys, buttons = await asyncio.to_thread(held, display_name)
        if not keys and not buttons:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still held after {timeout_s} s: keycodes {keys}, button mask {buttons:#x}")
        await asyncio.sleep(0.1)


def keyboard_mapping(display_name: str) -> list[tuple[int, ...]]:
    """The keysyms of every keycode: what /v1/type must leave as it found it."""
    conn = xdisplay.Display(display_name)
    try:
        first = conn.display.info.min_keycode
        count = conn.display.info.max_keycode - first + 1
        return [tuple(row) for row in conn.get_keyboard_mapping(first, count)]
    finally:
        conn.close()
