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
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.measure import Budget, Row, Side, Stat, time_async, time_sync
from bench.report import markdown_tables

DESKTOP = "dsk_bench"
CLICK = {"x": 400, "y": 300}


def _side(label: str, stat: Stat, baseline: Stat) -> Side:
    return Side(label, stat, note=f"{stat.median - baseline.median:+.2f} ms over plain aiohttp")


async def _measure(base_url: str, key: str, budget: Budget, shot_budget: Budget) -> list[Row]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    from bureau_agent.client import AsyncBureau, Bureau

    path = f"/v1/desktops/{DESKTOP}"
    headers = {"Authorization": f"Bearer {key}"}
    results: dict[str, dict[str, Stat]] = {"click": {}, "screenshot": {}}
    async with aiohttp.ClientSession(base_url, headers=headers) as http:

        async def plain_click() -> None:
            async with http.post(f"{path}/click", json=CLICK) as r:
                assert r.status == 200
                await r.json()

        async def plain_shot() -> None:
            async with http.get(f"{path}/screenshot") as r:
                assert r.status == 200
                await r.read()

        results["click"]["aiohttp"] = await time_async(plain_click, budget)
        results["screenshot"]["aiohttp"] = await time_async(plain_shot, shot_budget)

        async with AsyncBureau(api_key=key, base_url=base_url) as ab:
            d = ab.desktop(DESKTOP)

            async def async_click() -> None:
                await d.click(**CLICK)

            async def async_shot() -> None:
                await d.screenshot()

            results["click"]["async"] = await time_async(async_click, budget)
            results["screenshot"]["async"] = await time_async(async_shot, shot_budget)

        with Bureau(api_key=key, base_url=base_url) as b:
            sd = b.desktop(DESKTOP)
            # on a worker thread: the sync client blocks, and this loop serves nothing meanwhile
            results["click"]["sync"] = await asyncio.to_thread(time_sync, lambda: sd.click(**CLICK), budget)
            results["screenshot"]["sync"] = await asyncio.to_thread(time_sync, sd.screenshot, shot_budget)

        env = {**os.environ, "BUREAU_API_KEY": key, "BUREAU_API_URL": base_url}
        params = StdioServerParameters(command=sys.executable, args=["-m", "bureau_agent", "mcp"], env=env)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()

            def tool(name: str, arguments: dict[str, Any]) -> Callable[[], Awaitable[None]]:
                async def call() -> None:
                    result = await session.call_tool(name, {"desktopId": DESKTOP, **arguments})
                    assert not result.isError, result.content

                return call

            results["click"]["mcp"] = await time_async(tool("desktop_click", CLICK), budget)
            results["screenshot"]["mcp"] = await time_async(tool("desktop_screenshot", {}), shot_budget)

        # the baseline once more, last: the machine's load drifts over a run
        results["click"]["aiohttp"] = Stat(results["click"]["aiohttp"].samples + (await time_async(plain_click, budget)).samples)

    rows = []
    for action, label in (("click", "click"), ("screenshot", "screenshot PNG 1280×800 (screen unchanged)")):
        r = results[action]
        base = Side("plain aiohttp, same call", r["aiohttp"])
        rows += [
            Row("latency", f"{label} via Bureau (sync client)", "ms", _side("Bureau", r["sync"], r["aiohttp"]), base, "≤ +0.3 ms"),
            Row("latency", f"{label} via AsyncBureau", "ms", _side("AsyncBureau", r["async"], r["aiohttp"]), base, "≤ +0.3 ms"),
            Row("latency", f"{label} via MCP tool call (stdio)", "ms", _side("MCP", r["mcp"], r["aiohttp"]), base, "≤ +5 ms"),
        ]
    return rows


def client_rows(budget: Budget, shot_budget: Budget) -> list[Row]:
    """Starts a control plane with one desktop, measures, stops it (blocking: run it off the loop)."""
    from tests.controlplane.support import Plane

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
