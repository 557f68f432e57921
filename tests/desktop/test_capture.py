"""Capture on a real Xvfb: exact pixels, damage-driven reuse of frames, the pointer, a dead server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from PIL import Image

from bureau_agent.desktop.capture import Capturer, Frame
from bureau_agent.errors import DisplayUnavailable
from tests.support.pattern_window import PatternWindow, warp_pointer
from tests.support.xvfb import Xvfb


@pytest.fixture(scope="module")
def quiet_xvfb() -> Iterator[Xvfb]:
    """A server of this module's own: nothing else draws on it, so damage is ours alone."""
    server = Xvfb(640, 480).start()
    yield server
    server.stop()


@pytest.fixture
async def capturer(quiet_xvfb: Xvfb) -> AsyncIterator[Capturer]:
    cap = Capturer(quiet_xvfb.name)
    yield cap
    await cap.close()


def crop_rgb(frame: Frame, x: int, y: int, w: int, h: int) -> bytes:
    image = Image.frombuffer("RGB", (frame.width, frame.height), frame.bgra, "raw", "BGRX", 0, 1)
    return image.crop((x, y, x + w, y + h)).tobytes()


async def test_screen_has_the_window_pixels_exactly(quiet_xvfb: Xvfb, capturer: Capturer) -> None:
    with PatternWindow(quiet_xvfb.name, 33, 17, 211, 97, seed=7) as win:
        frame, cursor = await capturer.screen()
    assert cursor is None
    assert (frame.left, frame.top, frame.width, frame.height) == (0, 0, 640, 480)
    assert len(frame.bgra) == 640 * 480 * 4 and len(frame.digest) == 16
    assert crop_rgb(frame, 33, 17, 211, 97) == win.rgb()


async def test_unchanged_screen_reuses_the_frame_and_changes_are_seen(quiet_xvfb: Xvfb, capturer: Capturer) -> None:
    with PatternWindow(quiet_xvfb.name, 300, 200, 64, 48, seed=1) as win:
        first, _ = await capturer.screen()
        grabs = capturer.full_grabs
        again, _ = await capturer.screen()
        assert again is first and capturer.full_grabs == grabs  # nothing drawn: no new grab

        win.paint(2)
        changed, _ = await capturer.screen()
        assert capturer.full_grabs == grabs + 1
        assert changed.digest != first.digest
        assert crop_rgb(changed, 300, 200, 64, 48) == win.rgb()

        win.paint(2)  # drawn again, but the same pixels: a new grab with the same digest
        same, _ = await capturer.screen()
        assert capturer.full_grabs == grabs + 2
        assert same.digest == changed.digest


async def test_cursor_reports_the_pointer(quiet_xvfb: Xvfb, capturer: Capturer) -> None:
    warp_pointer(quiet_xvfb.name, 123, 77)
    frame, cursor = await capturer.screen(with_cursor=True)
    assert cursor is not None
    assert (cursor.x, cursor.y) == (123, 77)
    assert cursor.width > 0 and cursor.height > 0
    assert 0 <= cursor.xhot < cursor.width and 0 <= cursor.yhot < cursor.height
    assert len(cursor.bgra) == cursor.width * cursor.height * 4
    assert any(cursor.bgra[3::4])  # some pixel is not transparent
    warp_pointer(quiet_xvfb.name, 5, 400)
    _, moved = await capturer.screen(with_cursor=True)
    assert moved is not None and (moved.x, moved.y) == (5, 400)


async def test_region_grab(quiet_xvfb: Xvfb, capturer: Capturer) -> None:
    with PatternWindow(quiet_xvfb.name, 10, 10, 40, 30, seed=3) as win:
        frame = await capturer.grab(10, 10, 40, 30)
        first = win.rgb()
        win.paint(4)
        later = await capturer.grab(10, 10, 40, 30)
    assert (frame.width, frame.height) == (40, 30)
    # The frame keeps mss's buffer uncopied: a later grab must not have written into it.
    assert crop_rgb(frame, 0, 0, 40, 30) == first
    assert crop_rgb(later, 0, 0, 40, 30) == win.rgb() != first


async def test_dead_server_is_display_unavailable_until_it_returns(own_xvfb: Xvfb) -> None:
    cap = Capturer(own_xvfb.name)
    try:
        await cap.screen()
        own_xvfb.kill()
        with pytest.raises(DisplayUnavailable) as info:
            await cap.screen()
        assert info.value.headers["Retry-After"] == "1"
        own_xvfb.restart()
        frame, _ = await cap.screen()
        assert (frame.width, frame.height) == (own_xvfb.width, own_xvfb.height)
    finally:
        await cap.close()


async def test_server_restarted_between_calls_is_captured_at_once(own_xvfb: Xvfb) -> None:
    """Stale connections to the old server are replaced within the same call, not a 503."""
    cap = Capturer(own_xvfb.name)
    try:
        await cap.screen()
        own_xvfb.kill()
        own_xvfb.restart()
        with PatternWindow(own_xvfb.name, 0, 0, 16, 16, seed=2) as win:
            frame, cursor = await cap.screen(with_cursor=True)
        assert cursor is not None
        assert crop_rgb(frame, 0, 0, 16, 16) == win.rgb()
    finally:
        await cap.close()


@pytest.mark.parametrize("script", ["exec sleep 60", 'echo "no number" >&"$2"; exec sleep 60', "exit 3"])
def test_an_xvfb_that_reports_no_display_is_killed_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str
) -> None:
    """The test helper's own start: a stuck or failing Xvfb (here a stand-in script, called as
    Xvfb -displayfd FD …) gives an error within the timeout and is not left running."""
    fake = tmp_path / "Xvfb"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    server = Xvfb()
    with pytest.raises(RuntimeError, match="display number"):
        server.start(timeout=0.5)
    assert server.proc is not None and server.proc.poll() is not None
