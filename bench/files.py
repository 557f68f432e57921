"""File transfer rows: a large file up and down through the agent and through the local control
plane, as throughput, next to `cp` of the same file on the same disk (the floor) and `curl` from
`python -m http.server` (a plain HTTP file server); and the agent's RSS growth during an upload.

Every side is one process per transfer, timed from start to exit: curl for the HTTP sides (so
the client costs the same everywhere), cp for the floor. The upload fsyncs before it answers,
so its floor is `cp` then `sync FILE`. The source file sits in the page cache for every side,
and a global sync (untimed) before each transfer keeps one side's write-back off the next.

`python -m bench.files [--mib N] [--reps N]` runs these rows alone, with an Xvfb of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import psutil

from bench.agent import AgentProcess
from bench.measure import Row, Side, Stat
from bench.report import markdown_tables
from tests.support.agentproc import free_port

SECTION = "files"
MiB = 1024 * 1024


def make_source(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            part = os.urandom(min(8 * MiB, left))
            f.write(part)
            left -= len(part)


def run_timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def side(label: str, size: int, reps: int, transfer: Callable[[], float], reset: Callable[[], None]) -> Side:
    """MB/s of each rep (10^6 bytes a second); reset() runs untimed before each."""
    try:
        rates = []
        for _ in range(reps):
            reset()
            rates.append(size / transfer() / 1e6)
        return Side(label, Stat(rates))
    except subprocess.CalledProcessError as exc:
        return Side(label, unavailable=f"n/a (exit {exc.returncode}: {exc.stderr.decode(errors='replace').strip()[:80]})")
    except FileNotFoundError as exc:
        return Side(label, unavailable=f"n/a ({exc.filename} not installed)")


class PeakRss:
    """The largest RSS of a process while it runs, sampled every 5 ms on a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.before = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.before = self.peak = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Endpoints:
    """How curl reaches the files API: the agent directly, or a desktop of the control plane."""

    def __init__(self, base: str, auth: str | None) -> None:
        self.base, self.auth = base, auth

    def url(self, path: Path) -> str:
        return f"{self.base}?path={quote(str(path))}"

    def curl(self, *args: str) -> list[str]:
        head = ["curl", "-sS", "--fail", "-o", "/dev/null"] if "-o" not in args else ["curl", "-sS", "--fail"]
        return head + (["-H", f"Authorization: {self.auth}"] if self.auth else []) + list(args)


def transfer_rows(name: str, ends: Endpoints, src: Path, size: int, reps: int, dst: Path, floors: dict[str, Side],
                  targets: tuple[str, str], agent_pid: int | None = None) -> list[Row]:  # fmt: skip
    def clear() -> None:
        dst.unlink(missing_ok=True)
        os.sync()  # each side starts with no dirty pages of the one before to write back

    peaks: list[float] = []

    def upload() -> float:
        if agent_pid is None:
            return run_timed(ends.curl("-T", str(src), ends.url(dst)))
        with PeakRss(agent_pid) as rss:
            seconds = run_timed(ends.curl("-T", str(src), ends.url(dst)))
        peaks.append((rss.peak - rss.before) / MiB)
        return seconds

    up = side(f"curl -T → PUT /v1/{name}", size, reps, upload, clear)
    down = side(f"curl -o ← GET /v1/{name}", size, reps, lambda: run_timed(ends.curl("-o", str(dst), ends.url(src))), clear)
    label = "agent" if agent_pid is not None else "control plane"
    rows = [
        Row(SECTION, f"upload {size // MiB} MiB, {label}", "MB/s", up, floors["up"], target=targets[0], higher_is_better=True),
        Row(SECTION, f"download {size // MiB} MiB, {label}", "MB/s", down, floors["down"], target=targets[1], higher_is_better=True),
    ]
    if agent_pid is not None:
        rows.append(Row(SECTION, f"download {size // MiB} MiB, agent vs an HTTP file server", "MB/s", down, floors["http"], higher_is_better=True))
        if peaks:
            growth = Side("peak RSS less RSS before, sampled every 5 ms", Stat([max(peaks)]))
            rows.append(Row(SECTION, f"agent RSS growth during a {size // MiB} MiB upload", "MiB", growth, target="≤ 16 MiB"))
    clear()
    return rows


def floor_sides(workdir: Path, src: Path, size: int, reps: int) -> dict[str, Side]:
    dst = workdir / "floor.bin"

    def clear() -> None:
        dst.unlink(missing_ok=True)
        os.sync()

    up = side("cp, then sync FILE", size, reps, lambda: run_timed(["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", str(src), str(dst)]), clear)
    down = side("cp", size, reps, lambda: run_timed(["cp", str(src), str(dst)]), clear)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(src.parent), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/"]).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("python -m http.server did not start")
            time.sleep(0.05)
        http = side("curl -o ← python -m http.server", size, reps,
                    lambda: run_timed(["curl", "-sS", "--fail", "-o", str(dst), f"http://127.0.0.1:{port}/{src.name}"]), clear)  # fmt: skip
    finally:
        server.terminate()
        server.wait()
    clear()
    return {"up": up, "down": down, "http": http}


def plane_rows(workdir: Path, src: Path, size: int, reps: int, floors: dict[str, Side]) -> list[Row]:
    from bureau_agent.controlplane.keys import CAPABILITIES
    from tests.controlplane.support import Plane

    (workdir / "plane").mkdir(exist_ok=True)
    plane = Plane(workdir / "plane", [{"id": "dsk_bench", "name": "Bench", "autostart": True}], {"full": CAPABILITIES})
    plane.start()
    try:
        plane.wait_ready("dsk_bench", by_beat=False)
        ends = Endpoints(f"http://127.0.0.1:{plane.port}/v1/desktops/dsk_bench/files", f"Bearer {plane.keys['full']}")
        return transfer_rows("desktops/:id/files", ends, src, size, reps, workdir / "via-plane.bin", floors, ("≥ 30 % of cp", "≥ 30 % of cp"))
    finally:
        plane.stop()


def files_rows_sync(agent_base: str, agent_pid: int, workdir: Path, mib: int, reps: int) -> list[Row]:
    size = mib * MiB
    src = workdir / "files-src.bin"
    make_source(src, size)
    try:
        floors = floor_sides(workdir, src, size, reps)
        ends = Endpoints(f"{agent_base}/v1/files", None)  # the benchmark's agent runs with --dev
        rows = transfer_rows("files", ends, src, size, reps, workdir / "via-agent.bin", floors, ("≥ 50 % of cp", "≥ 50 % of cp"), agent_pid)
        return rows + plane_rows(workdir, src, size, reps, floors)
    finally:
        src.unlink(missing_ok=True)


async def files_rows(agent: AgentProcess, workdir: Path, mib: int, reps: int) -> list[Row]:
    """The rows, on a thread: every side is a subprocess waited for."""
    assert agent.proc is not None
    return await asyncio.to_thread(files_rows_sync, agent.base_url, agent.proc.pid, workdir, mib, reps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.files", description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    if shutil.which("curl") is None:
        print("bench.files: curl is not installed (scripts/install-deps --test)", file=sys.stderr)
        return 2
    from tests.support.xvfb import Xvfb

    workdir = Path(tempfile.mkdtemp(prefix="bureau-bench-files-"))
    xvfb = Xvfb().start()
    try:
        env = {**os.environ, "DISPLAY": xvfb.name}

        async def run() -> list[Row]:
            agent = AgentProcess(xvfb.name, env, workdir / "agent.log")
            agent.spawn()
            try:
                await agent.wait_healthy()
                return await files_rows(agent, workdir, args.mib, args.reps)
            finally:
                agent.stop()

        rows = asyncio.run(run())
    finally:
        xvfb.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(markdown_tables(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

