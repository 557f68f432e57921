"""The floor under the click: what no HTTP input server on this machine can beat, measured in the
same run as the agent's click and key so that the overhead is read off one table.

- a keep-alive aiohttp POST round trip to a no-op handler in a process of its own (the same
  client, the same JSON body and answer shape as /v1/click), and
- the raw XTest click from this process: motion, press and release with one flush, and the same
  with the one round trip that proves the server has the events (what the agent does to answer
  with the pointer position).

Both HTTP sides go through the bench's lean client (bench.http1); the same two through aiohttp's
client are rows of their own, so what the client costs is in the table too.

`overhead` is the click's median minus the no-op round trip and the XTest click with its
round trip: what the agent's own layers (middleware, validation, the owner-thread hop, the
pointer bookkeeping, the JSON answer) cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from Xlib import X
from Xlib import display as xdisplay
from Xlib.ext import xtest

from bench.agent import Client
from bench.measure import Budget, Row, Side, Stat, time_async, time_sync
from devsupport.net import free_port

CLICK_AT = (640, 360)

# The no-op server: aiohttp, one POST route that reads the body and answers a small JSON object.
NOOP_SERVER = """
import sys
from aiohttp import web
async def noop(request):
    await request.read()
    return web.Response(body=b'{"x":640,"y":360}', content_type="application/json")
app = web.Application()
app.router.add_post("/noop", noop)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


@contextlib.asynccontextmanager
async def noop_server() -> AsyncIterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", NOOP_SERVER, str(port)], stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    client = Client(url)
    try:
        for _ in range(400):  # until it answers (bounded: 400 × 25 ms)
            if proc.poll() is not None:
                raise RuntimeError(f"the no-op server exited with {proc.returncode}")
            with contextlib.suppress(OSError, Exception):
                await client.post("/noop", {})
                break
            await asyncio.sleep(0.025)
        yield url
    finally:
        await client.close()
        proc.terminate()
        proc.wait(timeout=10)


class AiohttpClient:
    """aiohttp's client on one keep-alive connection: the common choice, for the client rows."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, force_close=False))

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.session.post(self.base_url + path, json=body) as resp:
            await resp.read()
            return resp.status


async def noop_sides(budget: Budget) -> tuple[Side, Side]:

    body = {"x": CLICK_AT[0], "y": CLICK_AT[1]}
    async with noop_server() as url:
        client = Client(url)
        heavy = AiohttpClient(url)
        try:
            lean = await time_async(lambda: client.post("/noop", body), budget)
            through_aiohttp = await time_async(lambda: heavy.post("/noop", body), budget)
        finally:
            await client.close()
            await heavy.session.close()
    return (Side("aiohttp no-op POST handler, own process, keep-alive", lean),
            Side("the same, through aiohttp's client", through_aiohttp))  # fmt: skip


async def aiohttp_click_side(agent_url: str, budget: Budget) -> Side:

    heavy = AiohttpClient(agent_url)
    try:
        stat = await time_async(lambda: heavy.post("/v1/click", {"x": CLICK_AT[0], "y": CLICK_AT[1]}), budget)
    finally:
        await heavy.session.close()
    return Side("POST /v1/click through aiohttp's client", stat)


def xtest_sides(display: str, budget: Budget) -> tuple[Side, Side]:
    conn = xdisplay.Display(display)
    try:
        root = conn.screen().root

        def events() -> None:
            xtest.fake_input(conn, X.MotionNotify, 0, x=CLICK_AT[0], y=CLICK_AT[1])
            xtest.fake_input(conn, X.ButtonPress, 1)
            xtest.fake_input(conn, X.ButtonRelease, 1)

        def flushed() -> None:
            events()
            conn.flush()

        def round_trip() -> Any:
            events()
            return root.query_pointer()

        one_flush = Side("python-xlib XTest motion+press+release, one flush", time_sync(flushed, budget))
        conn.sync()
        with_reply = Side("the same + QueryPointer round trip (the answer's position)", time_sync(round_trip, budget))
        return one_flush, with_reply
    finally:
        conn.close()


async def floor_rows(display: str, agent_url: str, budget: Budget, click: Stat | None, key: Stat | None) -> list[Row]:
    noop, noop_aiohttp = await noop_sides(budget)
    loop = asyncio.get_running_loop()
    flush, reply = await loop.run_in_executor(None, xtest_sides, display, budget)
    rows = [
        Row("latency", "click, through aiohttp's client", "ms", await aiohttp_click_side(agent_url, budget)),
        Row("latency", "floor: HTTP round trip, through aiohttp's client", "ms", noop_aiohttp),
        Row("latency", "floor: HTTP round trip", "ms", noop),
        Row("latency", "floor: raw XTest click", "ms", flush),
        Row("latency", "floor: raw XTest click + round trip", "ms", reply),
    ]
    assert noop.stat is not None and reply.stat is not None
    floor = noop.stat.median + reply.stat.median
    for name, stat, target in (("click", click, "≤ 0.5 ms"), ("key ctrl+a", key, "≤ 0.6 ms")):
        if stat is None:
            continue
        rows.append(Row("latency", f"{name}: overhead over the floor", "ms",
                        Side("agent median − (no-op round trip + XTest click with its round trip)",
                             Stat([stat.median - floor]), note=f"floor {floor:.3f} ms, {name} {stat.median:.3f} ms, target {target}",
                             signed=True)))  # fmt: skip
    return rows
