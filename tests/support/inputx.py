"""Fixtures for the input tests: an Xvfb of their own (they change its keyboard layout), the
recorder client, the xterm sink, and an input service on a real display connection."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from Xlib import display as xdisplay

from bureau_agent.config import default_settings
from bureau_agent.desktop.display import Display
from bureau_agent.desktop.input_service import InputService, InputSettings
from tests.support.xrecorder import Recorder, XtermSink
from tests.support.xvfb import Xvfb

# A borrowed keycode is restored this long after its last key: on a loaded 2-core test machine
# xterm can take longer than the production default to read its events.
SETTLE_MS = 200
RESTORE_MS = 300  # idle time before the map is restored
REPLY_SPIN_S = default_settings().input_reply_spin_us / 1e6  # the agent's default poll for X replies


@pytest.fixture(scope="module")
def input_xvfb() -> Iterator[Xvfb]:
    server = Xvfb(width=1024, height=768).start()
    yield server
    server.stop()


def set_layout(server: Xvfb, layout: str) -> None:
    subprocess.run(["setxkbmap", "-display", server.name, layout], check=True, timeout=20)


@pytest.fixture
def x_conn(input_xvfb: Xvfb) -> Iterator[xdisplay.Display]:
    """A plain X connection of the test's own, to look at the server's state."""
    conn = xdisplay.Display(input_xvfb.name)
    yield conn
    conn.close()


@pytest.fixture
def recorder(input_xvfb: Xvfb) -> Iterator[Recorder]:
    rec = Recorder(input_xvfb.name)
    yield rec
    rec.stop()


@pytest.fixture
def sink(input_xvfb: Xvfb) -> Iterator[XtermSink]:
    term = XtermSink(input_xvfb.name)
    yield term
    term.stop()


@pytest.fixture
async def service(input_xvfb: Xvfb) -> AsyncIterator[InputService]:
    disp = Display(input_xvfb.name, reply_spin_s=REPLY_SPIN_S)  # as the agent runs
    await disp.start()
    svc = InputService(disp, InputSettings(drag_duration_ms=50, mapping_settle_ms=SETTLE_MS, mapping_restore_ms=RESTORE_MS))
    yield svc
    await svc.close()
    await disp.close()


def full_map(conn: xdisplay.Display) -> tuple[list[list[int]], list[list[int]]]:
    first, last = conn.display.info.min_keycode, conn.display.info.max_keycode
    rows = [list(r) for r in conn.get_keyboard_mapping(first, last - first + 1)]
    return rows, [list(m) for m in conn.get_modifier_mapping()]


async def wait_restored(conn: xdisplay.Display, before: tuple[list[list[int]], list[list[int]]], timeout: float = 5.0) -> None:
    """Wait (on the loop: the agent's restore runs there) until the keyboard map is back to before."""
    deadline = time.monotonic() + timeout
    while full_map(conn) != before:
        assert time.monotonic() < deadline, "the keyboard map was not restored"
        await asyncio.sleep(0.05)


def keys_down(conn: xdisplay.Display) -> list[int]:
    return [i * 8 + b for i, byte in enumerate(conn.query_keymap()) for b in range(8) if byte >> b & 1]
