"""The accessibility rows: GET /v1/accessibility of a Chromium page of about 1000 nodes and of the
GTK test window, against pyatspi walking the same tree in the same run (bench/pyatspi_walk.py,
the usual way: one property of one node at a time).

The scene gets a D-Bus session with the AT-SPI bus (the agent, already running, finds it on the
root window: the late-bus path), a GTK window and Chromium in real windows.

    python -m bench.accessibility [--smoke]     # these rows alone, on a display of their own
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from bench.measure import Budget, Row, Side, Unavailable, time_async, time_sync
from devsupport.a11y import APPS, SYSTEM_PYTHON, A11ySession, ChromiumApp, chromium_binary, find, gtk_app, read_line

PAGE_ROWS = 170  # list items of the test page: about 1000 accessible nodes with Chromium's own
WALKER = Path(__file__).parent / "pyatspi_walk.py"
TARGET = "≤ 150 ms, ≥ 5× pyatspi"


class Display(Protocol):
    name: str

    def env(self) -> dict[str, str]: ...


class PyatspiWalker:
    """A long-lived pyatspi process: each walk is one line in, one line out."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(WALKER)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        )
        if read_line(self.proc, 30, "pyatspi") != "ready":
            raise Unavailable("n/a (pyatspi did not start)")

    def walk(self, pid: int) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{pid}\n")
        self.proc.stdin.flush()
        return int(json.loads(read_line(self.proc, 120, "pyatspi walk"))["nodes"])

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


async def _tree(session: aiohttp.ClientSession, base_url: str, params: dict[str, str]) -> Any:
    async with session.get(base_url + "/v1/accessibility", params=params) as resp:
        if resp.status != 200:
            raise Unavailable(f"n/a (HTTP {resp.status})")
        return await resp.json() if params.get("format") != "text" else await resp.text()


async def _wait_tree(session: aiohttp.ClientSession, base_url: str, window: int, ready: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = await _tree(session, base_url, {"window": str(window)})
            if ready(body):
                return body
        except Unavailable:
            pass
        await asyncio.sleep(0.5)
    raise Unavailable("n/a (the tree never filled)")


async def rows(display: Display, base_url: str, budget: Budget, baseline: Budget, log: Any = print) -> list[Row]:
    if chromium_binary() is None or not Path(SYSTEM_PYTHON).exists():
        return [Row("latency", "accessibility tree", "ms", Side("GET /v1/accessibility", unavailable="n/a (no chromium)"))]
    out: list[Row] = []
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
    try:
        with A11ySession(display) as a11y:  # type: ignore[arg-type]
            walker = PyatspiWalker(a11y.env())
            try:
                log("accessibility: Chromium page")
                page = f"{(APPS / 'page.html').as_uri()}?rows={PAGE_ROWS}"
                with ChromiumApp(a11y, page, x=0, y=0, width=1200, height=900) as chromium:
                    body = await _wait_tree(session, base_url, chromium.window, lambda b: bool(find(b["root"], lambda n: n["name"] == f"Link {PAGE_ROWS - 1}")))
                    out += await _pair(session, base_url, walker, chromium.window, chromium.pid, body["nodeCount"], "Chromium page", budget, baseline)
                    text = await _tree(session, base_url, {"window": str(chromium.window), "interactive": "true", "format": "text"})
                    stat = await time_async(lambda: _tree(session, base_url, {"window": str(chromium.window), "interactive": "true", "format": "text"}), budget)
                    out.append(Row("latency", f"accessibility tree, same page, interactive=true format=text ({text.count(chr(10))} lines)", "ms",
                                   Side("GET /v1/accessibility?interactive=true&format=text", stat)))
                log("accessibility: GTK window")
                with gtk_app(a11y) as gtk:
                    body = await _wait_tree(session, base_url, gtk.window, lambda b: bool(find(b["root"], lambda n: n["name"] == "OK")))
                    out += await _pair(session, base_url, walker, gtk.window, gtk.pid, body["nodeCount"], "GTK 3 test window", budget, baseline)
            finally:
                walker.close()
    finally:
        await session.close()
    return out


async def _pair(session: aiohttp.ClientSession, base_url: str, walker: PyatspiWalker, window: int, pid: int, nodes: int, what: str, budget: Budget, baseline: Budget) -> list[Row]:
    params = {"window": str(window)}
    agent = Side("GET /v1/accessibility?window=…", await time_async(lambda: _tree(session, base_url, params), budget))
    loop = asyncio.get_running_loop()
    walked = await loop.run_in_executor(None, walker.walk, pid)
    stat = await loop.run_in_executor(None, time_sync, lambda: walker.walk(pid), baseline)
    base = Side(f"pyatspi walk, same data ({walked} nodes)", stat)
    return [Row("latency", f"accessibility tree, {what} ({nodes} nodes)", "ms", agent, base, target=TARGET if "Chromium" in what else None)]


def main(argv: list[str] | None = None) -> int:
    """These rows alone: an Xvfb, an agent on it, the rows, the table."""
    from bench.agent import running_agent
    from bench.report import markdown_tables
    from bench.scene import make_workdir
    from devsupport.xvfb import Xvfb

    parser = argparse.ArgumentParser(prog="python -m bench.accessibility")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    budget = Budget(2, warmup=1, seconds=1) if args.smoke else Budget(30, warmup=3, seconds=10)
    baseline = Budget(1, warmup=0, seconds=1, min_count=1) if args.smoke else Budget(8, warmup=1, seconds=20)
    workdir = make_workdir()
    xvfb = Xvfb(1920, 1080).start()
    try:
        async def run() -> list[Row]:
            env = {k: v for k, v in xvfb.env().items() if not k.startswith("BUREAU_AGENT_")}
            async with running_agent(xvfb.name, env, workdir / "agent.log") as agent:
                return await rows(xvfb, agent.base_url, budget, baseline, log=lambda m: print(m, file=sys.stderr))

        print(markdown_tables(asyncio.run(run())))
    finally:
        xvfb.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
