"""The client's methods for the routes that other issues add (act, screen stream, windows,
clipboard, files, streams, openapi), against the real control plane of conftest.py. Each test
runs as soon as its route is served on the branch (tests/client/routes.py reads that from the
code): a route that goes missing fails its test."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from bureau_agent.client import AsyncBureau, Bureau, Exists, FileNotFound, InvalidRequest, WindowNotFound
from tests.client.conftest import MAIN
from tests.client.routes import control_plane_serves, served
from tests.controlplane.support import Plane, wait_for


@pytest.fixture
def bureau(plane: Plane, url: str) -> Iterator[Bureau]:
    with Bureau(api_key=plane.keys["full"], base_url=url) as b:
        yield b


@served("POST", "act")
def test_act(bureau: Bureau) -> None:
    d = bureau.desktop(MAIN)
    result = d.act(
        [{"action": "move", "x": 300, "y": 300}, {"action": "wait", "ms": 5}],
        settle={"quiet_ms": 50, "timeout_ms": 2000},
        screenshot={"max_width": 512},
    )
    assert result["results"] == [{"x": 300, "y": 300}, {}]
    shot = result["screenshot"]
    assert shot is not None and shot["scale"] == 0.5 and (shot["screenWidth"], shot["screenHeight"]) == (1024, 768)
    assert Image.open(io.BytesIO(base64.b64decode(shot["data"]))).size == (512, 384)
    # coordinates of a half-size screenshot are mapped back to the screen
    assert d.act([{"action": "move", "x": 100, "y": 50}], image_scale=0.5, settle=False, screenshot=False)["results"] == [{"x": 200, "y": 100}]
    with pytest.raises(InvalidRequest) as caught:
        d.act([{"action": "move", "x": 1, "y": 1}, {"action": "click", "x": 5}])
    assert caught.value.details.get("index") == 1


@served("GET", "screen/stream")
async def test_screen_stream(plane: Plane, url: str, bureau: Bureau) -> None:
    for frame in bureau.desktop(MAIN).screen_stream(max_width=256):
        assert frame.content_type == "image/jpeg"
        assert Image.open(io.BytesIO(frame.data)).size == (256, 192)
        break
    async with AsyncBureau(api_key=plane.keys["full"], base_url=url) as ab:
        async for frame in ab.desktop(MAIN).screen_stream(format="png", max_width=128):
            assert Image.open(io.BytesIO(frame.data)).format == "PNG"
            break


@served("GET", "windows")
@pytest.mark.usefixtures("xterm")  # once it is on the screen, openbox manages it
def test_windows(bureau: Bureau) -> None:
    d = bureau.desktop(MAIN)
    listed = d.windows()
    xterm = next(w for w in listed["windows"] if w["class"] == "XTerm")
    assert d.window_activate(xterm["id"]) == {"activated": True}
    assert d.windows()["activeWindow"] == xterm["id"]
    with pytest.raises(WindowNotFound):
        d.window_activate(1)
    d.exec("xterm -T closeme -geometry 20x5+600+400 &")
    extra = wait_for(lambda: next((w for w in d.windows()["windows"] if w["title"] == "closeme"), None), "the second xterm", 15)
    moved = d.window_geometry(extra["id"], x=500, y=300)
    assert (moved["x"], moved["y"]) == (500, 300)
    assert d.window_state(extra["id"], "maximized")["state"] == "maximized"
    assert d.window_close(extra["id"], force=True, timeout_ms=1000) == {"closed": True}
    d.window_activate(xterm["id"])  # the typing tests type into it


@served("GET", "clipboard")
def test_clipboard(bureau: Bureau) -> None:
    d = bureau.desktop(MAIN)
    assert d.clipboard.set("copié ✓") == {"length": 7}
    got = d.clipboard.get()
    assert got["text"] == "copié ✓" and "UTF8_STRING" in got["targets"]


@served("PUT", "files")
async def test_files(plane: Plane, url: str, bureau: Bureau, tmp_path: Path) -> None:
    d = bureau.desktop(MAIN)
    remote = tmp_path / "remote"
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    written = d.files.upload(f"{remote}/big.bin", source, parents=True)
    assert written["size"] == source.stat().st_size
    assert d.files.upload(f"{remote}/small.txt", b"small\n")["size"] == 6
    assert d.files.upload(f"{remote}/fo.bin", io.BytesIO(b"x" * 70_000))["size"] == 70_000
    with pytest.raises(Exists):
        d.files.upload(f"{remote}/small.txt", b"again", overwrite=False)
    assert d.files.stat(f"{remote}/big.bin").size == written["size"]
    with pytest.raises(FileNotFound):
        d.files.stat(f"{remote}/nothing")
    with pytest.raises(FileNotFound):
        d.files.read(f"{remote}/nothing")
    out = io.BytesIO()
    assert d.files.download(f"{remote}/big.bin", out) == written["size"]
    assert out.getvalue() == source.read_bytes()
    assert d.files.read(f"{remote}/small.txt") == b"small\n"
    d.files.mkdir(f"{remote}/sub")
    d.files.move(f"{remote}/small.txt", f"{remote}/sub/small.txt")
    assert [e["name"] for e in d.files.list(str(remote))["entries"]] == ["big.bin", "fo.bin", "sub"]
    assert d.files.delete(str(remote), recursive=True) == {"deleted": True}
    async with AsyncBureau(api_key=plane.keys["full"], base_url=url) as ab:
        ad = ab.desktop(MAIN)
        assert (await ad.files.upload(f"{remote}.async", source))["size"] == written["size"]
        assert await ad.files.download(f"{remote}.async", tmp_path / "back.bin") == written["size"]
        assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()


@served("POST", "chat")
@control_plane_serves("/v1/desktops/stream")
def test_chat_stream_and_desktops_stream(bureau: Bureau) -> None:
    events = list(bureau.desktop(MAIN).chat_stream("streamed hello"))
    assert events[-1].data["response"].strip() == "got: streamed hello"
    assert "".join(e.data.get("delta", "") for e in events[:-1]).strip() == "got: streamed hello"
    first = next(iter(bureau.desktops_stream()))
    assert first.event == "desktop.status" and "agentReady" in first.data


@control_plane_serves("/v1/openapi.json")
def test_openapi(bureau: Bureau) -> None:
    assert "/v1/desktops/{id}/click" in bureau.openapi()["paths"]


@served("GET", "events")
async def test_events(plane: Plane, url: str) -> None:
    async with AsyncBureau(api_key=plane.keys["full"], base_url=url) as ab:
        d = ab.desktop(MAIN)
        seen = []
        got_one = asyncio.Event()

        async def move_until_seen() -> None:
            # The stream sends nothing until something happens, and when it has subscribed is
            # not visible here: move until the consumer has seen a move's action event.
            while not got_one.is_set():
                await d.move(11, 12)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(got_one.wait(), 0.5)

        async def read() -> None:
            async for event in d.events():
                seen.append(event)
                if event.event == "action":
                    got_one.set()
                    return

        mover = asyncio.ensure_future(move_until_seen())
        try:
            await asyncio.wait_for(read(), 30)
        finally:
            got_one.set()
            await mover
        assert seen[-1].data["route"].endswith("move")
