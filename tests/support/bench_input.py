"""Quick input latency measurement (not a test): python -m tests.support.bench_input

Starts its own Xvfb, an agent on a real TCP port, an xterm sink, and times over one keep-alive
HTTP connection: click, key combination, 100 ASCII characters, 100 mixed Unicode characters;
then the same actions with xdotool on the same display. Prints medians in ms.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time

import aiohttp
from aiohttp import web

from bureau_agent.app import create_app
from tests.support.agent import AUTH, TOKEN, agent_settings
from tests.support.xrecorder import XtermSink
from tests.support.xvfb import Xvfb

ASCII = ("The quick brown fox jumps over the lazy dog, 0123456789! " * 2)[:100]
MIXED = ("é€日本語😀àçß ascii Ω " * 8)[:100]


async def timed(session: aiohttp.ClientSession, url: str, body: dict, runs: int, gap_s: float = 0) -> float:
    samples = []
    for _ in range(runs):
        await asyncio.sleep(gap_s)
        t = time.perf_counter()
        async with session.post(url, json=body, headers=AUTH) as resp:
            await resp.read()
            assert resp.status == 200, await resp.text()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def xdotool(display: str, args: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(["xdotool", *args], env={"DISPLAY": display, "LC_ALL": "C.UTF-8"}, check=True)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


async def main() -> None:
    server = Xvfb().start()
    sink = XtermSink(server.name)
    runner = web.AppRunner(create_app(agent_settings(server.name), TOKEN))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            rows = [
                ("click", await timed(session, base + "/v1/click", {"x": 400, "y": 300}, 300),
                 xdotool(server.name, ["mousemove", "400", "300", "click", "1"], 20)),
                ("key ctrl+shift+a", await timed(session, base + "/v1/key", {"key": "ctrl+shift+a"}, 300),
                 xdotool(server.name, ["key", "ctrl+shift+a"], 20)),
                ("type 100 ASCII", await timed(session, base + "/v1/type", {"text": ASCII}, 50),
                 xdotool(server.name, ["type", ASCII], 5)),
                ("type 100 mixed Unicode", await timed(session, base + "/v1/type", {"text": MIXED}, 30),
                 xdotool(server.name, ["type", MIXED], 5)),
                # After the restore delay: every missing character bound afresh.
                ("type 100 mixed Unicode, map restored before", await timed(
                    session, base + "/v1/type", {"text": MIXED}, 10, gap_s=0.7), float("nan")),
            ]
        for name, agent_ms, xdo_ms in rows:
            print(f"| {name} | {agent_ms:.2f} ms | {xdo_ms:.1f} ms |")
    finally:
        await runner.cleanup()
        sink.stop()
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
