"""Rows for the public API's Python client and MCP server: a click and a screenshot through
`Bureau` (sync), `AsyncBureau` and the MCP tool call (the SDK's client over stdio to
`bureau-agent mcp`), each against the same call made with plain aiohttp, in the same run,
through one real local control plane and its desktop.

`python -m bench.client [--smoke]` runs these rows alone; `python -m bench` includes them.
Targets: the client adds at most 0.3 ms to a call, the MCP layer at most 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.measure import Budget, Row, Side, Stat
from bench.report import markdown_tables

DESKTOP = "dsk_bench"
CLICK = {"x": 400, "y": 300}


def _side(label: str, stat: Stat, baseline: Stat) -> Side:
    return Side(label, stat, note=f"{stat.median - baseline.median:+.2f} ms over plain aiohttp")


async def _interleaved(calls: dict[str, Callable[[], Awaitable[Any]]], budget: Budget) -> dict[str, Stat]:
    """One call of each variant a round, the order rotating: the machine's load drifts over a
    run (other test suites share its 2 cores), and this way the drift falls on every variant
    alike instead of on whichever ran during a busy minute."""
    names = list(calls)
    for _ in range(budget.warmup):
        for name in names:
            await calls[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    started = time.perf_counter()
    for i in range(budget.count):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            t0 = time.perf_counter()
            await calls[name]()
            samples[name].append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() - started > budget.seconds and i + 1 >= budget.min_count:
            break
    return {name: Stat(values) for name, values in samples.items()}


async def _measure(base_url: str, key: str, budget: Budget, shot_budget: Budget) -> list[Row]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    from bureau_agent.client import AsyncBureau, Bureau

    path = f"/v1/desktops/{DESKTOP}"
    env = {**os.environ, "BUREAU_API_KEY": key, "BUREAU_API_URL": base_url}
    params = StdioServerParameters(command=sys.executable, args=["-m", "bureau_agent", "mcp"], env=env)
    async with (
        aiohttp.ClientSession(base_url, headers={"Authorization": f"Bearer {key}"}) as http,
        AsyncBureau(api_key=key, base_url=base_url) as ab,
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        with Bureau(api_key=key, base_url=base_url) as b:
            sd, ad = b.desktop(DESKTOP), ab.desktop(DESKTOP)

            async def plain_click() -> None:
                async with http.post(f"{path}/click", json=CLICK) as r:
                    assert r.status == 200
                    await r.json()

            async def plain_shot() -> None:
                async with http.get(f"{path}/screenshot") as r:
                    assert r.status == 200
                    await r.read()

            async def sync_click() -> None:
                sd.click(**CLICK)  # blocks the loop for the call: nothing else runs meanwhile

            async def sync_shot() -> None:
                sd.screenshot()

            async def async_click() -> None:
                await ad.click(**CLICK)

            async def async_shot() -> None:
                await ad.screenshot()

            def tool(name: str, arguments: dict[str, Any]) -> Callable[[], Awaitable[None]]:
                async def call() -> None:
                    result = await session.call_tool(name, {"desktopId": DESKTOP, **arguments})
                    assert not result.isError, result.content

                return call

            clicks = await _interleaved(
                {"aiohttp": plain_click, "sync": sync_click, "async": async_click, "mcp": tool("desktop_click", CLICK)}, budget
            )
            shots = await _interleaved(
                {"aiohttp": plain_shot, "sync": sync_shot, "async": async_shot, "mcp": tool("desktop_screenshot", {})},
                shot_budget,
            )

    rows = []
    for label, r in (("click", clicks), ("screenshot PNG 1280×800 (screen unchanged)", shots)):
        base = Side("plain aiohttp, same call", r["aiohttp"])
        rows += [
            Row("latency", f"{label} via Bureau (sync client)", "ms", _side("Bureau", r["sync"], r["aiohttp"]), base, "≤ +0.3 ms"),
            Row("latency", f"{label} via AsyncBureau", "ms", _side("AsyncBureau", r["async"], r["aiohttp"]), base, "≤ +0.3 ms"),
            Row("latency", f"{label} via MCP tool call (stdio)", "ms", _side("MCP", r["mcp"], r["aiohttp"]), base, "≤ +5 ms"),
        ]
    return rows


def client_rows(budget: Budget, shot_budget: Budget) -> list[Row]:
    """Starts a control plane with one desktop, measures, stops it (blocking: run it off the loop)."""
    from devsupport.plane import Plane

    root = Path(tempfile.mkdtemp(prefix="bench-client-"))
    desktops = [{"id": DESKTOP, "name": "Bench", "autostart": True, "width": 1280, "height": 800, "apps": [["xterm"]]}]
    plane = Plane(root, desktops, {"full": ("desktop:read", "desktop:control")}, limit_full=1_000_000)
    plane.start()
    try:
        plane.wait_ready(DESKTOP)
        return asyncio.run(_measure(f"http://127.0.0.1:{plane.port}", plane.keys["full"], budget, shot_budget))
    finally:
        plane.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a couple of calls a row: checks the harness")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args(argv)
    if args.smoke:
        rows = client_rows(Budget(3, warmup=1, seconds=1), Budget(2, warmup=1, seconds=1))
    else:
        rows = client_rows(Budget(300, warmup=20, seconds=8), Budget(100, warmup=5, seconds=8))
    print(markdown_tables(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_json() for r in rows], indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
