"""The benchmark run: every row, in an order that keeps the screen static where it must be.

Agent rows go through one keep-alive connection (Client); each baseline does the same action
the way other servers do (Baselines). A route that answers non-2xx makes its row "n/a (HTTP …)"
instead of timing error answers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import io
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from PIL import Image

from bench import accessibility, step, stream
from bench.agent import Client, byte_compile, running_agent, time_to_ready
from bench.baselines import Baselines
from bench.client import client_rows
from bench.encode import encoding_rows
from bench.files import files_rows
from bench.fleet import Scenario, fleet_rows
from bench.floor import floor_rows
from bench.measure import Budget, Row, Side, Stat, Unavailable, time_async, time_sync
from bench.scene import HEIGHT, WIDTH, Scene
from bench.streams import stream_rows
from bench.windows import window_rows
from devsupport.unit import unit_environment

CLICK_AT = (640, 360)  # inside scene.PHOTO_BOX: nothing there reacts to input
DRAG_FROM, DRAG_TO = (200, 200), (900, 500)
BASH_SCRIPT = 'set -e\nfor i in 1 2 3; do echo "line $i"; done\nn=$(printf "%s\\n" a b c | wc -l)\necho "count $n" >&2\n'
ASCII_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"()[]{}<>@#$%^&*-_=+/\\|`~\t"
# What users type: words with accents, €, a dash, CJK and an emoji (16 characters a US layout lacks).
MIXED_CHARS = "Café crème à 3,50 € — naïve façade; 東京 😀 Grüße, señor! Ça va? Øl & smørrebrød. "
# A stress case: 39 distinct characters a US layout lacks, more than Xvfb's 19 spare keycodes.
MANY_CHARS = "aé€中😀ßñçøåæœ ÄÖÜüö£¥«»–—…αβγДЖЯ日本語한글ﬁ🚀✓→½"


# Rows of modules of their own, by name (`python -m bench --only NAME` runs just those): each
# takes the running Suite (its plan, scene, client) and returns its rows.
async def _core_rows(suite: Suite) -> list[Row]:
    """The agent's own rows (input, its floor, typing, screenshots, commands), for a quick run."""
    for rows in (suite.input_rows, suite.floor_rows, suite.typing_rows, suite.screenshot_rows, suite.command_rows):
        await rows()
    return []  # they add to suite.rows themselves


EXTRA: dict[str, Callable[[Suite], Awaitable[list[Row]]]] = {
    "step": step.step_rows,
    "stream": stream.stream_rows,
}
ONLY = {**EXTRA, "core": _core_rows}  # what --only can name; "core" is in every full run anyway


@dataclasses.dataclass(frozen=True)
class Plan:
    fast: Budget  # cheap agent calls: click, move, key, scroll, 304, exec
    medium: Budget  # agent screenshots, typing, drag, bash
    slow: Budget  # baselines: one process per action
    encode: Budget  # the encoders in process
    encode_baseline: Budget  # Pillow's and mss's encoders in process: up to ~200 ms a call
    typing_baseline: Budget  # xdotool type: about 0.7 s for 100 characters here
    text_len: int
    load_clicks: Budget
    concurrent_clients: int
    clicks_per_client: int
    baseline_clicks_per_client: int
    idle_s: float
    ready_reps: int
    files_mib: int = 256  # the file moved up and down by the files rows
    files_reps: int = 3
    fleet_agents: int = 5000  # the simulated fleet (bench/fleet.py)


FULL = Plan(
    fast=Budget(200, warmup=10, seconds=5),
    medium=Budget(40, warmup=3, seconds=6),
    slow=Budget(20, warmup=1, seconds=5),
    encode=Budget(30, warmup=2, seconds=3),
    encode_baseline=Budget(10, warmup=1, seconds=3),
    typing_baseline=Budget(4, warmup=0, seconds=8, min_count=2),
    text_len=100,
    load_clicks=Budget(200, warmup=5, seconds=6),
    concurrent_clients=8,
    clicks_per_client=50,
    baseline_clicks_per_client=5,
    idle_s=60.0,
    ready_reps=3,
)
SMOKE = Plan(
    fast=Budget(3, warmup=1, seconds=1),
    medium=Budget(2, warmup=1, seconds=1),
    slow=Budget(2, warmup=0, seconds=1, min_count=1),
    encode=Budget(2, warmup=0, seconds=1, min_count=1),
    encode_baseline=Budget(1, warmup=0, seconds=1, min_count=1),
    typing_baseline=Budget(1, warmup=0, seconds=1, min_count=1),
    text_len=12,
    load_clicks=Budget(3, warmup=1, seconds=1),
    concurrent_clients=8,
    clicks_per_client=2,
    baseline_clicks_per_client=1,
    idle_s=2.0,
    ready_reps=1,
    files_mib=4,
    files_reps=1,
    fleet_agents=50,
)


def sample_text(alphabet: str, length: int) -> str:
    """length code points cycling through alphabet, ending with a newline (so `cat` gets the line)."""
    body = (alphabet * (length // len(alphabet) + 1))[: length - 1]
    return body + "\n"


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


async def agent_side(label: str, call: Callable[[], Awaitable[Any]], budget: Budget, before: Callable[[], Any] | None = None) -> Side:
    try:
        return Side(label, await time_async(call, budget, before))
    except Unavailable as exc:
        return Side(label, unavailable=str(exc))
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return Side(label, unavailable=f"n/a ({type(exc).__name__})")


# A baseline tool failing, or not installed: its row says so instead of stopping the run.
BASELINE_ERRORS = (subprocess.CalledProcessError, FileNotFoundError)


def baseline_failed(label: str, exc: BaseException) -> Side:
    if isinstance(exc, subprocess.CalledProcessError):
        return Side(label, unavailable=f"n/a (exit {exc.returncode})")
    if isinstance(exc, FileNotFoundError):
        return Side(label, unavailable=f"n/a ({exc.filename} not installed)")
    raise exc


def baseline_side(label: str, call: Callable[[], Any], budget: Budget) -> Side:
    try:
        return Side(label, time_sync(call, budget))
    except BASELINE_ERRORS as exc:
        return baseline_failed(label, exc)


def wait_typed(path: Path, expected: bytes, timeout: float = 5.0, settle: float = 0.4) -> str | None:
    """None when the file ends up holding exactly `expected` (xterm and the tty lag the input),
    else where it first differs."""
    deadline = time.monotonic() + timeout
    last, changed = b"", time.monotonic()
    while time.monotonic() < deadline:
        data = path.read_bytes()
        if data != last:
            last, changed = data, time.monotonic()
        elif len(data) >= len(expected) and time.monotonic() - changed >= settle:
            break
        time.sleep(0.02)
    return None if last == expected else first_difference(expected.decode(), last.decode(errors="replace"))


def first_difference(expected: str, got: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
    return f"{len(got)}/{len(expected)} chars, first difference at {at}: expected {expected[at:at + 3]!r}, got {got[at:at + 3]!r}"


def check_png(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as img:
        if img.format != "PNG" or img.size != (WIDTH, HEIGHT):
            raise Unavailable(f"n/a (not a {WIDTH}×{HEIGHT} PNG)")
        img.load()


class Suite:
    def __init__(self, plan: Plan, scene: Scene, workdir: Path, only: tuple[str, ...] = ()) -> None:
        self.plan = plan
        self.only = only
        self.scene = scene
        self.workdir = workdir
        # As systemd/bureau-agent.service runs it (its Environment= lines that change the figures).
        self.env = {**scene.env(), **unit_environment()}
        byte_compile()  # as the image ships it: the start and RSS rows measure no compiling
        self.base = Baselines(scene.name, self.env, workdir)
        self.rows: list[Row] = []
        self.client: Client | None = None
        self.base_url = ""
        self.xdotool_click: Side | None = None
        self.agent_pid: int | None = None

    async def run(self) -> list[Row]:
        p = self.plan
        if not self.only:
            log("start → ready")
            await self.ready_row()
            log(f"fleet of {p.fleet_agents} heartbeats, simulated clock")
            # On a thread of its own: the simulation runs its own (virtual-time) event loop.
            self.rows += await asyncio.get_running_loop().run_in_executor(None, fleet_rows, Scenario(agents=p.fleet_agents))
        async with running_agent(self.scene.name, self.env, self.workdir / "agent.log") as agent:
            self.base_url = agent.base_url
            self.client = Client(agent.base_url)
            self.agent_pid = agent.proc.pid if agent.proc is not None else None
            try:
                assert agent.proc is not None
                self.start_rss_row(agent.proc.pid)
                if self.only:
                    for name in self.only:
                        log(f"{name} rows")
                        self.rows += await ONLY[name](self)
                    return self.rows
                await self.input_rows()
                await self.floor_rows()
                await self.typing_rows()
                await self.screenshot_rows()
                await self.encoding_rows()
                await self.command_rows()
                self.rows += await stream_rows(p.medium)  # a control plane and desktop of their own
                self.rows += await accessibility.rows(self.scene, agent.base_url, self.plan.medium, self.plan.slow, log)
                self.rows += await window_rows(p.fast, p.medium, p.slow, self.workdir)  # a display of their own, with openbox
                await self.load_rows()
                self.rows += await files_rows(agent, self.workdir, p.files_mib, p.files_reps)
                self.rows += await asyncio.to_thread(client_rows, p.fast, p.medium)  # its own control plane
                for name, rows in EXTRA.items():
                    log(f"{name} rows")
                    self.rows += await rows(self)
                log(f"idle RSS and CPU over {p.idle_s:g} s")
                assert agent.proc is not None
                await self.idle_rows(agent.proc.pid)
            finally:
                await self.client.close()
                self.base.close()
        return self.rows

    def add(self, row: Row) -> None:
        self.rows.append(row)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        assert self.client is not None
        return await self.client.post(path, body)

    # --- input ----------------------------------------------------------------------------------
    async def input_rows(self) -> None:
        p, b = self.plan, self.base
        x, y = CLICK_AT
        self.scene.focus_sink()
        log("click, move, key, drag, scroll")
        self.xdotool_click = baseline_side("xdotool mousemove X Y click 1", lambda: b.click(x, y), p.slow)
        self.add(Row("latency", "click", "ms",
                     await agent_side("POST /v1/click", lambda: self.post("/v1/click", {"x": x, "y": y}), p.fast),
                     self.xdotool_click, target="≤ 0.5 ms"))  # fmt: skip
        moves = iter(range(10**9))

        def spot() -> dict[str, int]:
            i = next(moves)
            return {"x": 100 + i % 1000, "y": 100 + (i * 7) % 500}

        self.add(Row("latency", "move", "ms",
                     await agent_side("POST /v1/move", lambda: self.post("/v1/move", spot()), p.fast),
                     baseline_side("xdotool mousemove X Y", lambda: b.move(**spot()), p.slow)))  # fmt: skip
        self.add(Row("latency", "key combination ctrl+a", "ms",
                     await agent_side("POST /v1/key", lambda: self.post("/v1/key", {"key": "ctrl+a"}), p.fast),
                     baseline_side("xdotool key ctrl+a", lambda: b.key("ctrl+a"), p.slow), target="≤ 0.6 ms"))  # fmt: skip
        drag = {"from": {"x": DRAG_FROM[0], "y": DRAG_FROM[1]}, "to": {"x": DRAG_TO[0], "y": DRAG_TO[1]}, "durationMs": 0}
        self.add(Row("latency", "drag (durationMs 0)", "ms",
                     await agent_side("POST /v1/drag", lambda: self.post("/v1/drag", drag), p.medium),
                     baseline_side("xdotool mousemove mousedown mousemove mouseup", lambda: b.drag(DRAG_FROM, DRAG_TO), p.slow)))  # fmt: skip
        scroll = {"direction": "down", "amount": 3, "x": x, "y": y}
        self.add(Row("latency", "scroll 3 clicks", "ms",
                     await agent_side("POST /v1/scroll", lambda: self.post("/v1/scroll", scroll), p.fast),
                     baseline_side("xdotool click --repeat 3 5 (default 100 ms between)", lambda: b.scroll(x, y, 3), p.slow)))  # fmt: skip

    async def floor_rows(self) -> None:
        log("the floor: no-op HTTP round trip, raw XTest click")
        stats = {row.name: row.agent.stat for row in self.rows}
        self.rows += await floor_rows(self.scene.name, self.base_url, self.plan.fast, stats.get("click"), stats.get("key combination ctrl+a"))

    async def typing_rows(self) -> None:
        n = self.plan.text_len
        log("typing into xterm running cat")
        await self.typing_row(f"type {n} ASCII chars", sample_text(ASCII_CHARS, n), "≤ 10 ms, correct")
        await self.typing_row(f"type {n} mixed Unicode chars", sample_text(MIXED_CHARS, n), "≤ 100 ms, correct")
        many = sample_text(MANY_CHARS, n)
        distinct = len({c for c in many if ord(c) > 0x7E})
        await self.typing_row(f"type {n} Unicode chars, {distinct} distinct not in the layout (stress)", many, "correct")

    async def typing_row(self, name: str, text: str, target: str) -> None:
        self.scene.focus_typing()
        try:
            typed = 0

            async def agent_type() -> None:
                nonlocal typed
                await self.post("/v1/type", {"text": text})
                typed += 1

            self.scene.type_file.write_bytes(b"")
            agent = await agent_side("POST /v1/type", agent_type, self.plan.medium)
            notes: list[str | None] = []
            if agent.stat is not None:
                wrong = wait_typed(self.scene.type_file, text.encode() * typed)
                agent.correct = wrong is None
                notes.append(wrong)
            if self.scene.restore_keymap():  # the baseline must not pay for the agent's leftovers
                notes.append("keyboard map left changed")
            agent.note = "; ".join(n for n in notes if n) or None
            self.scene.type_file.write_bytes(b"")
            count = 0

            def xdotool_type() -> None:
                nonlocal count
                self.base.type(text)
                count += 1

            baseline = baseline_side("xdotool type (default 12 ms/char delay)", xdotool_type, self.plan.typing_baseline)
            if baseline.stat is not None:
                baseline.note = wait_typed(self.scene.type_file, text.encode() * count)
                baseline.correct = baseline.note is None
            self.scene.restore_keymap(grace_s=0.5)
            self.add(Row("latency", name, "ms", agent, baseline, target=target))
        finally:
            self.scene.focus_sink()

    # --- screenshots ----------------------------------------------------------------------------
    async def screenshot_rows(self) -> None:
        p, b = self.plan, self.base
        log("screenshots")
        png_side = await self.fresh_frames_side("GET /v1/screenshot", {}, check_png)
        scrot = baseline_side("scrot to a PNG file", b.scrot_png, p.slow)
        name = f"screenshot PNG {WIDTH}×{HEIGHT}, screen changed before each"
        self.add(Row("latency", name, "ms", png_side, scrot, target="≤ 25 ms, ≥ 4× scrot"))
        self.add(Row("latency", "screenshot PNG, vs ImageMagick", "ms", png_side,
                     baseline_side("import -window root file.png", b.import_png, p.slow)))  # fmt: skip
        self.add(Row("latency", "screenshot PNG, vs Pillow default", "ms", png_side,
                     baseline_side("mss grab + Pillow default PNG save (in process)", b.pillow_png, p.slow)))  # fmt: skip
        jpeg = await self.fresh_frames_side("GET /v1/screenshot?format=jpeg&quality=80", {"format": "jpeg", "quality": "80"})
        self.add(Row("latency", "screenshot JPEG q80, screen changed before each", "ms", jpeg,
                     baseline_side("scrot --quality 80 to a JPEG file", lambda: b.scrot_jpeg(80), p.slow), target="≤ 10 ms"))  # fmt: skip
        self.add(Row("latency", "screenshot PNG, screen unchanged (no If-None-Match)", "ms",
                     await self.unchanged_side(), scrot))  # fmt: skip
        self.add(Row("latency", "screenshot, screen unchanged (304)", "ms", await self.not_modified_side(),
                     scrot, target="≤ 2 ms"))  # fmt: skip

    async def fresh_frames_side(self, label: str, params: dict[str, str], check: Callable[[bytes], None] | None = None) -> Side:
        """Before each (untimed) call the scene changes a full-height column of pixels, so every
        call captures and encodes a new frame; an answer with the previous ETag is stale."""
        assert self.client is not None
        client = self.client
        last: list[str | None] = [None]
        stale = 0
        size = 0

        async def shot() -> None:
            nonlocal stale, size
            _, etag, data = await client.screenshot(params)
            if etag is not None and etag == last[0]:
                stale += 1
            last[0], size = etag, len(data)

        side = await agent_side(label, shot, self.plan.medium, before=self.scene.perturb)
        if side.stat is None:
            return side
        if check is not None:
            try:
                check((await client.screenshot(params))[2])
            except Unavailable as exc:
                return Side(label, unavailable=str(exc))
        side.note = f"{size // 1024} KiB" + (f"; {stale} STALE answers (same ETag after a change)" if stale else "")
        return side

    async def unchanged_side(self) -> Side:
        assert self.client is not None
        client = self.client

        async def shot() -> None:
            await client.screenshot({})

        return await agent_side("GET /v1/screenshot, same screen as the call before", shot, self.plan.medium)

    async def not_modified_side(self) -> Side:
        assert self.client is not None
        client = self.client
        label = "GET /v1/screenshot with If-None-Match"
        try:
            _, etag, _ = await client.screenshot({})
        except Unavailable as exc:
            return Side(label, unavailable=str(exc))
        if not etag:
            return Side(label, unavailable="n/a (no ETag)")

        async def conditional() -> None:
            status, _, _ = await client.screenshot({}, etag)
            if status != 304:
                raise Unavailable(f"n/a (HTTP {status}, not 304)")

        return await agent_side(label, conditional, self.plan.fast)

    async def encoding_rows(self) -> None:
        p = self.plan
        log("encoding, in process")
        loop = asyncio.get_running_loop()  # on a thread of its own, which owns its X connection
        self.rows += await loop.run_in_executor(None, encoding_rows, self.scene.name, p.encode, p.encode_baseline)

    # --- commands -------------------------------------------------------------------------------
    async def command_rows(self) -> None:
        p, b = self.plan, self.base
        log("exec and bash")

        async def run(path: str, body: dict[str, Any]) -> None:
            result = await self.post(path, body)
            if not isinstance(result, dict) or result.get("exitCode") != 0:
                raise Unavailable(f"n/a (exitCode {result.get('exitCode') if isinstance(result, dict) else '?'})")

        self.add(Row("latency", "exec true", "ms", await agent_side("POST /v1/exec", lambda: run("/v1/exec", {"argv": ["true"]}), p.fast),
                     baseline_side("subprocess.run(['true']) in process, no HTTP (floor)", b.exec_true, p.slow), target="≤ 5 ms"))  # fmt: skip
        self.add(Row("latency", "bash script (loop, pipe, stderr)", "ms",
                     await agent_side("POST /v1/bash", lambda: run("/v1/bash", {"script": BASH_SCRIPT}), p.medium),
                     baseline_side("bash -c SCRIPT in process, no HTTP (floor)", lambda: b.bash(BASH_SCRIPT), p.slow)))  # fmt: skip

    # --- under load -----------------------------------------------------------------------------
    async def load_rows(self) -> None:
        log("click while 4 clients loop screenshots")
        self.add(Row("load", "click while 4 clients loop PNG screenshots of a changing screen", "ms", await self.click_under_load(), self.xdotool_click))
        log(f"clicks per second, {self.plan.concurrent_clients} concurrent clients")
        agent = await self.click_throughput()
        baseline = await asyncio.get_running_loop().run_in_executor(None, self.xdotool_throughput)
        self.add(Row("load", f"clicks per second, {self.plan.concurrent_clients} concurrent clients", "clicks/s",
                     agent, baseline, higher_is_better=True))  # fmt: skip

    async def click_under_load(self) -> Side:
        label = "POST /v1/click, 4 other connections looping GET /v1/screenshot"
        loaders = [Client(self.base_url) for _ in range(4)]
        stop = asyncio.Event()
        shots = 0

        async def loop_screenshots(client: Client) -> None:
            nonlocal shots
            while not stop.is_set():
                self.scene.perturb()  # a new frame each time: the encoders really work
                await client.screenshot({})
                shots += 1

        try:
            await loaders[0].screenshot({})  # a screenshot that fails makes the row meaningless
            await self.post("/v1/click", {"x": CLICK_AT[0], "y": CLICK_AT[1]})
        except Unavailable as exc:
            for client in loaders:
                await client.close()
            return Side(label, unavailable=str(exc))
        tasks = [asyncio.ensure_future(loop_screenshots(c)) for c in loaders]
        try:
            await asyncio.sleep(0.2)  # screenshots in flight before the first click
            side = await agent_side(label, lambda: self.post("/v1/click", {"x": CLICK_AT[0], "y": CLICK_AT[1]}), self.plan.load_clicks)
        finally:
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for client in loaders:
                await client.close()
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed and side.stat is not None:
            return Side(label, unavailable=f"n/a (screenshot loop: {failed[0]})")
        side.note = f"{shots} screenshots served meanwhile"
        return side

    async def click_throughput(self) -> Side:
        p = self.plan
        label = f"POST /v1/click from {p.concurrent_clients} keep-alive connections"
        clients = [Client(self.base_url) for _ in range(p.concurrent_clients)]
        body = {"x": CLICK_AT[0], "y": CLICK_AT[1]}
        try:
            await asyncio.gather(*(c.post("/v1/click", body) for c in clients))  # open every connection

            latencies: list[float] = []

            async def worker(client: Client) -> None:
                for _ in range(p.clicks_per_client):
                    t0 = time.perf_counter()
                    await client.post("/v1/click", body)
                    latencies.append((time.perf_counter() - t0) * 1000)

            started = time.perf_counter()
            await asyncio.gather(*(worker(c) for c in clients))
            wall = time.perf_counter() - started
            each = Stat(latencies)
            note = f"each click {each.median:.2f} ms median, {each.p95:.2f} ms p95"
            return Side(label, Stat([p.concurrent_clients * p.clicks_per_client / wall]), note=note)
        except Unavailable as exc:
            return Side(label, unavailable=str(exc))
        finally:
            for client in clients:
                await client.close()

    def xdotool_throughput(self) -> Side:
        p = self.plan
        label = f"{p.concurrent_clients} concurrent loops of xdotool mousemove click"

        def worker(_: int) -> None:
            for _ in range(p.baseline_clicks_per_client):
                self.base.click(*CLICK_AT)

        try:
            with concurrent.futures.ThreadPoolExecutor(p.concurrent_clients) as pool:
                started = time.perf_counter()
                list(pool.map(worker, range(p.concurrent_clients)))
                wall = time.perf_counter() - started
        except BASELINE_ERRORS as exc:
            return baseline_failed(label, exc)
        return Side(label, Stat([p.concurrent_clients * p.baseline_clicks_per_client / wall]))

    # --- resources ------------------------------------------------------------------------------
    def start_rss_row(self, pid: int) -> None:
        """RSS once the agent is ready and before the first call: imports and services only."""
        rss = psutil.Process(pid).memory_info().rss / (1024 * 1024)
        self.add(Row("resources", "RSS at start", "MiB", Side("agent process", Stat([rss]), note="agentReady, before any call; target ≤ 45 MiB"),
                     target="≤ 45 MiB"))  # fmt: skip

    async def idle_rows(self, pid: int) -> None:
        proc = psutil.Process(pid)
        await asyncio.sleep(min(1.0, self.plan.idle_s))  # let the last calls' work finish

        def cpu_seconds() -> float:
            total = 0.0
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    times = p.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            return total

        cpu0, t0 = cpu_seconds(), time.perf_counter()
        await asyncio.sleep(self.plan.idle_s)
        cpu1, t1 = cpu_seconds(), time.perf_counter()
        rss = proc.memory_info().rss / (1024 * 1024)
        window = f"over {self.plan.idle_s:g} s idle, after the run"
        self.add(Row("resources", "idle RSS", "MiB", Side("agent process", Stat([rss]), note=window + "; target ≤ 60 MiB"), target="≤ 60 MiB"))
        self.add(Row("resources", "idle CPU", "%", Side("agent process", Stat([(cpu1 - cpu0) / (t1 - t0) * 100]), note=window)))

    async def ready_row(self) -> None:
        ready: list[float | None] = []
        health: list[float] = []
        for _ in range(self.plan.ready_reps):
            r, h = await time_to_ready(self.scene.name, self.env, self.workdir)
            ready.append(r)
            health.append(h)
        if all(r is not None for r in ready):
            side = Side("READY=1 on NOTIFY_SOCKET", Stat([r * 1000 for r in ready if r is not None]),
                        note=f"/v1/health first answered at {Stat(health).median * 1000:.0f} ms")  # fmt: skip
        else:
            side = Side("first 200 from GET /v1/health", Stat([h * 1000 for h in health]),
                        note="no READY=1 arrived: measured until /v1/health answered")  # fmt: skip
        self.add(Row("resources", "process start → ready", "ms", side))

