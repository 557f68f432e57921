"""The "step" rows: one step of an agent's loop (act, then look), against the two usual ways.

An X app (devsupport/reactive_window.py) fills itself with a new color when clicked, 300 ms
later or at once. Each way of taking the step is timed and its screenshot checked at the
window's center: the right frame shows the new color.

- act: POST /v1/act with the click, settle, a JPEG screenshot (one call);
- click, then an immediate GET /v1/screenshot (two calls): fast, but the frame is often old;
- click, sleep 2 s, screenshot: the "fixed sleep" an agent loop uses instead of settling.

And the cost of a waiting act to everyone else: click latency from a second connection while an
act waits its whole timeoutMs.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from typing import TYPE_CHECKING, Any

from PIL import Image

from bench.agent import Client
from bench.measure import Budget, Row, Side, Stat, time_async
from devsupport.reactive_window import ReactiveWindow, color

if TYPE_CHECKING:
    from bench.suite import Suite

WIN = (1400, 100, 300, 200)  # outside the scene's xterms; override-redirect, so on top
SHOT = {"format": "jpeg", "quality": "80"}
DELAY_MS = 300
QUIET_MS = 150


def _right(jpeg: bytes, k: int) -> bool:
    img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    got = img.getpixel((WIN[0] + WIN[2] // 2, WIN[1] + WIN[3] // 2))
    return all(abs(a - b) <= 24 for a, b in zip(got, color(k)))  # JPEG shifts a flat color a little


class _Way:
    """One way of taking a step, timed over `budget` steps, counting right frames."""

    def __init__(self, client: Client, win: ReactiveWindow) -> None:
        self.client, self.win = client, win
        self.right = 0
        self.steps = 0

    @property
    def clicks(self) -> int:
        """Clicks the app has seen, whichever way made them (the colors go on across ways)."""
        return sum(line.startswith("clicked ") for line in self.win.lines)

    async def settle_app(self) -> None:
        """Untimed, between steps: the app has painted the last click (no fill left pending)."""
        if self.clicks:
            await asyncio.to_thread(self.win.wait_for, f"painted {self.clicks}")

    async def timed(self, step: Any, budget: Budget) -> Stat:
        samples: list[float] = []
        started = time.perf_counter()
        for i in range(budget.warmup + budget.count):
            await self.settle_app()
            t0 = time.perf_counter()
            expected = self.clicks + 1
            jpeg = await step()
            ms = (time.perf_counter() - t0) * 1000
            await asyncio.to_thread(self.win.wait_for, f"clicked {expected}")
            if i >= budget.warmup:
                samples.append(ms)
                self.steps += 1
                self.right += _right(jpeg, expected)
            if time.perf_counter() - started > budget.seconds and len(samples) >= budget.min_count:
                break
        await self.settle_app()
        return Stat(samples)

    def note(self) -> str:
        return f"right frame {self.right}/{self.steps}"


async def _act(client: Client, settle: Any) -> bytes:
    cx, cy = WIN[0] + WIN[2] // 2, WIN[1] + WIN[3] // 2
    body = {"actions": [{"action": "click", "x": cx, "y": cy}], "settle": settle, "screenshot": {"format": "jpeg", "quality": 80}}
    data = await client.post("/v1/act", body)
    return base64.b64decode(data["screenshot"]["data"])


async def _click_then_shot(client: Client, sleep_s: float = 0.0) -> bytes:
    cx, cy = WIN[0] + WIN[2] // 2, WIN[1] + WIN[3] // 2
    await client.post("/v1/click", {"x": cx, "y": cy})
    if sleep_s:
        await asyncio.sleep(sleep_s)
    return (await client.screenshot(SHOT))[2]


async def _side(label: str, client: Client, win: ReactiveWindow, step: Any, budget: Budget) -> Side:
    way = _Way(client, win)
    stat = await way.timed(step, budget)
    return Side(label, stat, note=way.note())


async def step_rows(suite: Suite) -> list[Row]:
    plan, client, scene = suite.plan, suite.client, suite.scene
    assert client is not None
    budget = plan.medium
    sleepy = Budget(max(2, plan.slow.count // 4), warmup=0, seconds=plan.slow.seconds * 2, min_count=2)
    rows: list[Row] = []
    until_change = {"quietMs": QUIET_MS, "untilChange": True}

    with ReactiveWindow(scene.name, *WIN, delay_ms=DELAY_MS) as win:
        act_late = await _side(f"act: click, settle (untilChange, quiet {QUIET_MS} ms), JPEG", client, win,
                               lambda: _act(client, until_change), budget)  # fmt: skip
        quick = await _side("POST /v1/click, then GET /v1/screenshot at once", client, win, lambda: _click_then_shot(client), budget)
        slept = await _side("POST /v1/click, sleep 2 s, GET /v1/screenshot", client, win,
                            lambda: _click_then_shot(client, 2.0), sleepy)  # fmt: skip
    target = f"<= {DELAY_MS + QUIET_MS + 30} ms, right frame every time"
    rows.append(Row("step", f"one step, the app repaints {DELAY_MS} ms after the click", "ms", act_late, quick, target=target))
    rows.append(Row("step", f"one step, the app repaints {DELAY_MS} ms after the click (fixed sleep)", "ms", act_late, slept, target=target))

    with ReactiveWindow(scene.name, *WIN, delay_ms=0) as win:
        act_now = await _side(f"act: click, settle (quiet {QUIET_MS} ms), JPEG", client, win,
                              lambda: _act(client, {"quietMs": QUIET_MS}), budget)  # fmt: skip
        act_bare = await _side("act: click, no settle, JPEG", client, win, lambda: _act(client, False), budget)
        quick_now = await _side("POST /v1/click, then GET /v1/screenshot at once", client, win, lambda: _click_then_shot(client), budget)
    rows.append(Row("step", "one step, the app repaints at once", "ms", act_now, quick_now, target=f"<= {QUIET_MS + 30} ms"))
    rows.append(Row("step", "act overhead: act without settle vs click + screenshot (two calls)", "ms", act_bare, quick_now,
                    target="act <= click + screenshot + 3 ms"))  # fmt: skip
    rows.append(Row("step", "act machinery: act with one click, no settle, no screenshot vs POST /v1/click", "ms",
                    await _bare(suite, {"actions": [{"action": "click", "x": 640, "y": 360}], "settle": False, "screenshot": False}),
                    await _bare(suite, None), target="<= click + 3 ms"))  # fmt: skip
    rows.append(Row("step", "click from a second connection while an act waits its timeoutMs", "ms",
                    await _click_while_act_waits(suite), target="p95 <= 2 ms"))  # fmt: skip
    return rows


async def _bare(suite: Suite, act_body: dict[str, Any] | None) -> Side:
    client = suite.client
    assert client is not None
    if act_body is None:
        label, call = "POST /v1/click", lambda: client.post("/v1/click", {"x": 640, "y": 360})
    else:
        label, call = "POST /v1/act", lambda: client.post("/v1/act", act_body)
    return Side(label, await time_async(call, suite.plan.fast))


async def _click_while_act_waits(suite: Suite) -> Side:
    label = "POST /v1/click; another connection's act waits 3 s for a change that never comes"
    other = Client(suite.base_url)
    client = suite.client
    assert client is not None
    body = {"actions": [], "settle": {"untilChange": True, "timeoutMs": 3000}, "screenshot": False}
    samples: list[float] = []
    rounds = 0
    try:
        budget = suite.plan.fast
        while len(samples) < budget.count and rounds < 4:
            rounds += 1
            waiting = asyncio.ensure_future(other.post("/v1/act", body))
            await asyncio.sleep(0.05)  # the act is in its wait
            while not waiting.done() and len(samples) < budget.count:
                t0 = time.perf_counter()
                await client.post("/v1/click", {"x": 640, "y": 360})  # the scene's photo: nothing reacts
                if not waiting.done():
                    samples.append((time.perf_counter() - t0) * 1000)
            await waiting
    finally:
        await other.close()
    return Side(label, Stat(samples), note=f"{len(samples)} clicks over {rounds} act waits")
