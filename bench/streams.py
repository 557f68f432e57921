"""Stream rows: the first event or frame of a stream, through the local control plane against direct.

A local control plane with one desktop is started (its own Xvfb, window manager and agent); the
desktop's agent relays chat to a fake OpenAI-compatible server in this process, which streams
its answer word by word. Each sample opens a stream and stops the clock at its first event
(chat: the first `delta`; screen: the first multipart frame), the same call made straight to
the agent (its port and token from the desktop's state directory) being the baseline, so the
difference is what the control plane adds. `python -m bench.streams` runs only these rows.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.measure import Budget, Row, Side, Stat
from bench.report import markdown_tables
from bureau_agent.controlplane.keys import CAPABILITIES
from devsupport.plane import Plane
from devsupport.fake_openai import FakeOpenAI

DESKTOP = "dsk_bench"
BUDGET = Budget(60, warmup=5, seconds=20)


async def _first_chat_event(session: aiohttp.ClientSession, url: str, token: str) -> None:
    async with session.post(
        url, json={"message": "one two three", "stream": True}, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
        while True:
            line = await resp.content.readline()
            if not line:
                raise RuntimeError("the stream ended before its first event")
            if line.startswith(b"data: "):
                return


async def _first_frame(session: aiohttp.ClientSession, url: str, token: str) -> int:
    """The status of the answer; at 200, returns once the first frame's bytes arrived."""
    async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
        if resp.status != 200:
            return resp.status
        seen = b""
        while b"\r\n\r\n" not in seen or len(seen) < 1024:  # a part's headers, then image bytes
            chunk = await resp.content.readany()
            if not chunk:
                break
            seen += chunk
        return 200


async def _timed(call, budget: Budget) -> Stat:  # type: ignore[no-untyped-def]
    for _ in range(budget.warmup):
        await call()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < budget.count and (time.perf_counter() - started < budget.seconds or len(samples) < budget.min_count):
        t0 = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - t0) * 1000)
    return Stat(samples)


async def stream_rows(budget: Budget = BUDGET) -> list[Row]:
    fake = await FakeOpenAI().start()
    root = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    agent_args = ["--set", "chat_backend=openai", "--set", f"chat_url={fake.url}"]
    plane = Plane(root, [{"id": DESKTOP, "name": "Bench", "autostart": True, "agent_args": agent_args}], {"full": CAPABILITIES})
    rows: list[Row] = []
    try:
        await asyncio.get_running_loop().run_in_executor(None, plane.start)
        await asyncio.get_running_loop().run_in_executor(None, plane.wait_ready, DESKTOP)
        key, token = plane.keys["full"], plane.agent_token(DESKTOP)
        agent = f"http://127.0.0.1:{plane.runtime(DESKTOP)['port']}/v1"
        public = f"http://127.0.0.1:{plane.port}/v1/desktops/{DESKTOP}"
        async with aiohttp.ClientSession() as session:
            through = await _timed(lambda: _first_chat_event(session, f"{public}/chat", key), budget)
            direct = await _timed(lambda: _first_chat_event(session, f"{agent}/chat", token), budget)
            rows.append(
                Row("latency", "chat stream: first delta, through the control plane", "ms",
                    Side("control plane", through), Side("direct to the agent", direct), target="≤ direct + 20 ms")
            )  # fmt: skip
            status = await _first_frame(session, f"{agent}/screen/stream", token)
            if status != 200:
                rows.append(Row("latency", "screen stream: first frame, through the control plane", "ms",
                                Side("control plane", unavailable=f"n/a (agent HTTP {status})")))  # fmt: skip
            else:
                through = await _timed(lambda: _first_frame(session, f"{public}/screen/stream", key), budget)
                direct = await _timed(lambda: _first_frame(session, f"{agent}/screen/stream", token), budget)
                rows.append(
                    Row("latency", "screen stream: first frame, through the control plane", "ms",
                        Side("control plane", through), Side("direct to the agent", direct), target="≤ direct + 20 ms")
                )  # fmt: skip
    finally:
        await asyncio.get_running_loop().run_in_executor(None, plane.stop)
        await fake.close()
    return rows


def main() -> int:
    rows = asyncio.run(stream_rows())
    print(markdown_tables(rows))
    for row in rows:
        if row.agent.stat and row.baseline and row.baseline.stat:
            extra = row.agent.stat.median - row.baseline.stat.median
            print(f"\n{row.name}: the control plane adds {extra:.2f} ms at the median", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
