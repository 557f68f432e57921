"""The "stream" rows: GET /v1/screen/stream's first-frame latency after a change, its frame rate
and the agent's CPU with 1 and 4 viewers of a continuously changing 1920x1080 screen, and the
agent's CPU with 4 viewers of a still screen (the screen stream costs nothing while nothing
changes)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp
import psutil

from bench.measure import Row, Side, Stat

if TYPE_CHECKING:
    from bench.suite import Suite

WINDOW_S = 5.0


class _Viewer:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url
        self.resp: aiohttp.ClientResponse | None = None
        self.frames = 0
        self.arrived = asyncio.Event()

    async def open(self) -> None:
        # A closed viewer's place is freed when its stream next looks (within a second): retry.
        for _ in range(40):
            self.resp = await self.session.get(self.url)
            if self.resp.status != 429:
                break
            self.resp.close()
            await asyncio.sleep(0.1)
        assert self.resp.status == 200, self.resp.status
        boundary = self.resp.headers["Content-Type"].split("boundary=")[1].encode()
        asyncio.ensure_future(self._read(b"--" + boundary))

    async def _read(self, marker: bytes) -> None:
        assert self.resp is not None
        try:
            while True:
                line = await self.resp.content.readline()
                if not line:
                    return
                if line.strip() != marker:
                    continue
                length = 0
                while (line := await self.resp.content.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await self.resp.content.readexactly(length + 2)
                self.frames += 1
                self.arrived.set()
        except (aiohttp.ClientError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return

    async def next_frame(self, timeout: float = 5.0) -> None:
        self.arrived.clear()
        await asyncio.wait_for(self.arrived.wait(), timeout)

    def close(self) -> None:
        if self.resp is not None:
            self.resp.close()


def _cpu(pid: int) -> Callable[[], float]:
    proc = psutil.Process(pid)

    def seconds() -> float:
        times = proc.cpu_times()
        return times.user + times.system

    return seconds


class _Animator:
    """Changes the scene every 10 ms from a thread of its own (the scene's X connection is used
    by nothing else meanwhile)."""

    def __init__(self, perturb: Callable[[], None]) -> None:
        self.perturb = perturb
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.perturb()
            time.sleep(0.01)

    def __enter__(self) -> _Animator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


async def stream_rows(suite: Suite) -> list[Row]:
    assert suite.agent_pid is not None
    cpu = _cpu(suite.agent_pid)
    url = suite.base_url + "/v1/screen/stream?format=jpeg&fps=30"
    rows: list[Row] = []
    async with aiohttp.ClientSession() as session:
        # first frame after a change
        viewer = _Viewer(session, url)
        await viewer.open()
        await viewer.next_frame()
        samples = []
        for _ in range(suite.plan.medium.count):
            await asyncio.sleep(0.05)  # past the fps interval: the change is not held by the cap
            arrived = asyncio.ensure_future(viewer.next_frame())
            await asyncio.sleep(0)
            t0 = time.perf_counter()
            await asyncio.to_thread(suite.scene.perturb)
            await arrived
            samples.append((time.perf_counter() - t0) * 1000)
        viewer.close()
        rows.append(Row("stream", "screen stream: first frame after a change (JPEG, 1920x1080)", "ms",
                        Side("GET /v1/screen/stream?format=jpeg&fps=30", Stat(samples))))  # fmt: skip
        for count in (1, 4):
            viewers = [_Viewer(session, url) for _ in range(count)]
            for v in viewers:
                await v.open()
            with _Animator(suite.scene.perturb):
                await asyncio.sleep(0.5)
                f0, c0, t0 = [v.frames for v in viewers], cpu(), time.perf_counter()
                await asyncio.sleep(WINDOW_S)
                f1, c1, t1 = [v.frames for v in viewers], cpu(), time.perf_counter()
            for v in viewers:
                v.close()
            fps = [(b - a) / (t1 - t0) for a, b in zip(f0, f1)]
            note = f"{count} viewer(s), fps=30 asked, the screen changing every 10 ms; frames/s per viewer {', '.join(f'{x:.1f}' for x in fps)}"
            rows.append(Row("stream", f"screen stream, {count} viewer(s): frames/s each", "frames/s",
                            Side("GET /v1/screen/stream?format=jpeg&fps=30", Stat([min(fps)]), note=note), higher_is_better=True))  # fmt: skip
            rows.append(Row("stream", f"screen stream, {count} viewer(s) of a changing screen: agent CPU", "%",
                            Side("agent process", Stat([(c1 - c0) / (t1 - t0) * 100]), note=note)))  # fmt: skip
        viewers = [_Viewer(session, url) for _ in range(4)]
        for v in viewers:
            await v.open()
        await asyncio.sleep(0.5)
        f0, c0, t0 = sum(v.frames for v in viewers), cpu(), time.perf_counter()
        await asyncio.sleep(WINDOW_S)
        f1, c1, t1 = sum(v.frames for v in viewers), cpu(), time.perf_counter()
        for v in viewers:
            v.close()
        rows.append(Row("stream", "screen stream, 4 viewers of a still screen: agent CPU", "%",
                        Side("agent process", Stat([(c1 - c0) / (t1 - t0) * 100]),
                             note=f"{f1 - f0} frames sent in {t1 - t0:.1f} s")))  # fmt: skip
    return rows
