"""GET /v1/screen/stream on a real Xvfb: frames on change only, the fps cap, slow viewers, 429, shutdown."""

from __future__ import annotations

import asyncio
import io
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from bureau_agent import appkeys
from tests.support.agent import AUTH
from tests.support.agentproc import AgentProcess
from tests.support.pattern_window import PatternWindow
from tests.support.reactive_window import ReactiveWindow
from tests.support.xvfb import Xvfb


class Frames:
    """Reads a multipart/x-mixed-replace body part by part."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace; boundary=")
        self.boundary = resp.headers["Content-Type"].split("boundary=")[1].encode()
        self.repeats = 0

    async def next(self, timeout: float = 10.0) -> tuple[dict[str, str], bytes]:
        """The next new frame (a repeat of the last one, sent for browsers, is not one)."""

        async def new() -> tuple[dict[str, str], bytes]:
            while True:
                headers, body = await read()
                self.repeats += headers.get("X-Frame-Repeat") == "true"
                if headers.get("X-Frame-Repeat") != "true":
                    return headers, body

        async def read() -> tuple[dict[str, str], bytes]:
            line = await self.resp.content.readline()
            assert line.strip() == b"--" + self.boundary, line
            headers: dict[str, str] = {}
            while (line := await self.resp.content.readline()) not in (b"\r\n", b""):
                name, value = line.decode().split(":", 1)
                headers[name.strip()] = value.strip()
            body = await self.resp.content.readexactly(int(headers["Content-Length"]))
            assert await self.resp.content.readexactly(2) == b"\r\n"
            return headers, body

        return await asyncio.wait_for(new(), timeout)


@pytest.fixture
async def client(make_agent: Callable[..., Any], xvfb: Xvfb) -> TestClient:
    return await make_agent(xvfb.name, stream_max_clients=2)


@pytest.fixture
async def stream(client: TestClient) -> AsyncIterator[Callable[..., Any]]:
    opened: list[aiohttp.ClientResponse] = []

    async def open_stream(**params: str) -> Frames:
        resp = await client.get("/v1/screen/stream", params=params, headers=AUTH)
        opened.append(resp)
        return Frames(resp)

    yield open_stream
    for resp in opened:
        resp.close()


def rgb_at(jpeg: bytes, x: int, y: int) -> tuple[int, int, int]:
    return Image.open(io.BytesIO(jpeg)).convert("RGB").getpixel((x, y))  # type: ignore[return-value]


async def test_a_frame_at_once_then_only_when_the_screen_changes(stream: Callable[..., Any], xvfb: Xvfb) -> None:
    with PatternWindow(xvfb.name, 40, 40, 64, 48, seed=1) as win:
        frames = await stream(format="png")
        headers, first = await frames.next()
        assert headers["Content-Type"] == "image/png" and first.startswith(b"\x89PNG")
        assert headers["X-Screen-Width"] == str(xvfb.width)
        # A still screen for a while: then a change. The very next frame is the change, so no
        # frame was sent while nothing changed.
        pending = asyncio.ensure_future(frames.next())
        await asyncio.sleep(0.6)
        assert not pending.done()
        await asyncio.to_thread(win.paint, 2)
        _, changed = await pending
        img = Image.open(io.BytesIO(changed)).convert("RGB")
        assert img.crop((40, 40, 104, 88)).tobytes() == win.rgb()
        # while it was still: the first frame once more, marked (browsers show a part only
        # when the next begins), and nothing else
        assert frames.repeats == 1


async def test_frames_are_capped_at_fps(stream: Callable[..., Any], xvfb: Xvfb) -> None:
    with ReactiveWindow(xvfb.name, 10, 10, 100, 100, animate_ms=10):
        frames = await stream(fps="5")
        await frames.next()
        started = time.monotonic()
        for _ in range(5):
            await frames.next()
        # 5 more frames at 5 a second take at least ~1 s, however fast the screen changes.
        assert time.monotonic() - started >= 0.9


async def test_429_over_stream_max_clients(stream: Callable[..., Any], client: TestClient) -> None:
    first, second = await stream(), await stream()
    await first.next()
    await second.next()
    resp = await client.get("/v1/screen/stream", headers=AUTH)
    assert resp.status == 429 and (await resp.json())["error"]["code"] == "busy"
    assert "Retry-After" in resp.headers


async def test_closing_a_stream_frees_its_place(stream: Callable[..., Any], client: TestClient) -> None:
    viewers = client.app[appkeys.SCREEN_VIEWERS]
    a = await stream()
    await a.next()
    assert viewers.count == 1
    a.resp.close()
    for _ in range(100):  # the handler notices within its alive check
        if viewers.count == 0:
            break
        await asyncio.sleep(0.05)
    assert viewers.count == 0


async def test_bad_query_is_400(client: TestClient) -> None:
    for params in ({"fps": "31"}, {"format": "webp"}, {"fps": "0"}):
        resp = await client.get("/v1/screen/stream", params=params, headers=AUTH)
        assert resp.status == 400, params


async def test_a_viewer_that_never_reads_gets_no_growing_queue(client: TestClient, xvfb: Xvfb) -> None:
    """The agent stops making frames for it once the socket is full: its write waits."""
    viewers = client.app[appkeys.SCREEN_VIEWERS]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((client.host, client.port))
    sock.sendall(b"GET /v1/screen/stream?format=png&fps=30 HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH["Authorization"].encode() + b"\r\n\r\n")
    try:
        with ReactiveWindow(xvfb.name, 200, 100, 640, 480, animate_ms=10):
            for _ in range(100):
                if viewers.count == 1:
                    break
                await asyncio.sleep(0.05)
            viewer = next(iter(viewers._closers.values())).__self__  # type: ignore[attr-defined]
            # Frames stop being made once the socket is full: wait until the count stands still.
            counts = []
            for _ in range(40):
                await asyncio.sleep(0.25)
                counts.append(viewer.frames)
                if len(counts) >= 3 and counts[-1] == counts[-3]:
                    break
            assert counts[-1] == counts[-3], counts
            buffered = viewer.request.transport.get_write_buffer_size()
            assert buffered < 8 * 2**20  # at most the one frame it is stuck on (a PNG of the screen)
    finally:
        sock.close()


async def test_sigterm_with_three_open_streams_and_an_event_stream_exits_within_the_grace(own_xvfb: Xvfb, tmp_path: Path) -> None:
    agent = AgentProcess(own_xvfb.name, tmp_path / "agent.log", settings={"shutdown_grace_s": 20}).start()
    try:
        async with aiohttp.ClientSession() as session:
            streams = [await session.get(agent.url + "/v1/screen/stream", headers=agent.auth) for _ in range(3)]
            for resp in streams:
                await Frames(resp).next()
            events = await session.get(agent.url + "/v1/events", headers=agent.auth)
            assert events.status == 200
            streams.append(events)
            started = time.monotonic()
            agent.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(agent.wait, 30)
            assert code == 0
            assert time.monotonic() - started < 20  # within the grace: the streams did not hold it
            for resp in streams:
                resp.close()
    finally:
        agent.stop()
