"""File transfer rows: a large file up and down through the agent and through the local control
plane, as throughput, next to `cp` of the same file on the same disk (the floor) and `curl` from
`python -m http.server` (a plain HTTP file server); and the agent's RSS growth during an upload.

Every side is one process per transfer, timed from start to exit: curl for the HTTP sides (so
the client costs the same everywhere), cp for the floor. The upload fsyncs before it answers,
so its floor is `cp` then `sync FILE`. The source file sits in the page cache for every side,
a global sync (untimed) before each transfer keeps one side's write-back off the next, and the
sides take turns, one transfer each per round, so the machine's load falls on all alike. The
downloads are also run with curl writing to /dev/null: curl writing its file (16 KiB at a time,
its write size, which no option changes) is most of a download's time, so these rows show what
the servers themselves deliver.

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
from devsupport.net import free_port
from devsupport.payload import random_chunks

SECTION = "files"
MiB = 1024 * 1024


def make_source(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for part in random_chunks(size, chunk=8 * MiB):
            f.write(part)


def run_timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


class Sides:
    """Every side's transfers, run round by round (one of each per round) so that a change in the
    machine's load during the run falls on every side alike; each a rate in MB/s (10^6 bytes/s)."""

    def __init__(self, size: int, scratch: Path) -> None:
        self.size, self.scratch = size, scratch
        self.order: list[str] = []
        self.calls: dict[str, Callable[[], float]] = {}
        self.rates: dict[str, list[float]] = {}
        self.failed: dict[str, str] = {}

    def add(self, label: str, transfer: Callable[[], float]) -> None:
        self.order.append(label)
        self.calls[label], self.rates[label] = transfer, []

    def clear(self) -> None:
        for path in self.scratch.glob("dst-*"):
            path.unlink()
        os.sync()  # each transfer starts with no dirty pages of the one before to write back

    def run(self, reps: int) -> None:
        for _ in range(reps):
            for label in self.order:
                if label in self.failed:
                    continue
                self.clear()
                try:
                    self.rates[label].append(self.size / self.calls[label]() / 1e6)
                except subprocess.CalledProcessError as exc:
                    self.failed[label] = f"n/a (exit {exc.returncode}: {exc.stderr.decode(errors='replace').strip()[:80]})"
                except FileNotFoundError as exc:
                    self.failed[label] = f"n/a ({exc.filename} not installed)"
        self.clear()

    def side(self, label: str) -> Side:
        if label in self.failed:
            return Side(label, unavailable=self.failed[label])
        return Side(label, Stat(self.rates[label]))


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


def http_server(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(directory), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/"]).returncode != 0:
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError("python -m http.server did not start")
        time.sleep(0.05)
    return server, port


def files_rows_sync(agent_base: str, agent_pid: int, workdir: Path, mib: int, reps: int) -> list[Row]:
    from bureau_agent.controlplane.keys import CAPABILITIES
    from devsupport.plane import Plane

    size = mib * MiB
    src = workdir / "files-src.bin"
    make_source(src, size)
    dst = str(workdir / "dst-file.bin")
    (workdir / "plane").mkdir(exist_ok=True)
    plane = Plane(workdir / "plane", [{"id": "dsk_bench", "name": "Bench", "autostart": True}], {"full": CAPABILITIES})
    plane.start()
    server, port = http_server(workdir)
    try:
        plane.wait_ready("dsk_bench", by_beat=False)
        agent = Endpoints(f"{agent_base}/v1/files", None)  # the benchmark's agent runs with --dev
        via = Endpoints(f"http://127.0.0.1:{plane.port}/v1/desktops/dsk_bench/files", f"Bearer {plane.keys['full']}")
        peaks: list[float] = []
        cpu: dict[str, list[float]] = {"up": [], "down": []}
        proc = psutil.Process(agent_pid)

        def cpu_s() -> float:
            times = proc.cpu_times()
            return times.user + times.system + times.children_user + times.children_system  # the helpers too

        def agent_upload() -> float:
            before = cpu_s()
            with PeakRss(agent_pid) as rss:
                seconds = run_timed(agent.curl("-T", str(src), agent.url(Path(dst))))
            peaks.append((rss.peak - rss.before) / MiB)
            cpu["up"].append(cpu_s() - before)
            return seconds

        def agent_download() -> float:
            before = cpu_s()
            seconds = run_timed(agent.curl("-o", dst, agent.url(src)))
            cpu["down"].append(cpu_s() - before)
            return seconds

        sides = Sides(size, workdir)
        sides.add("cp, then sync FILE", lambda: run_timed(["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", str(src), dst]))
        sides.add("curl -T → PUT /v1/files", agent_upload)
        sides.add("curl -T → PUT /v1/desktops/:id/files", lambda: run_timed(via.curl("-T", str(src), via.url(Path(dst)))))
        sides.add("cp", lambda: run_timed(["cp", str(src), dst]))
        sides.add("curl -o ← python -m http.server", lambda: run_timed(["curl", "-sS", "--fail", "-o", dst, f"http://127.0.0.1:{port}/{src.name}"]))
        sides.add("curl -o ← GET /v1/files", agent_download)
        sides.add("curl -o ← GET /v1/desktops/:id/files", lambda: run_timed(via.curl("-o", dst, via.url(src))))
        # The same downloads with curl writing nothing: what the servers deliver when the client's
        # own writes into the page cache (most of its time) are left out.
        sides.add("curl -o /dev/null ← python -m http.server", lambda: run_timed(["curl", "-sS", "--fail", "-o", "/dev/null", f"http://127.0.0.1:{port}/{src.name}"]))
        sides.add("curl -o /dev/null ← GET /v1/files", lambda: run_timed(agent.curl(agent.url(src))))
        sides.run(reps)
    finally:
        server.terminate()
        server.wait()
        plane.stop()
        src.unlink(missing_ok=True)
    n = f"{mib} MiB"
    up, down = sides.side("cp, then sync FILE"), sides.side("cp")
    rows = [
        Row(SECTION, f"upload {n}, agent", "MB/s", sides.side("curl -T → PUT /v1/files"), up, "≥ 50 % of cp", True),
        Row(SECTION, f"download {n}, agent", "MB/s", sides.side("curl -o ← GET /v1/files"), down, "≥ 50 % of cp", True),
        Row(SECTION, f"download {n}, agent vs an HTTP file server", "MB/s", sides.side("curl -o ← GET /v1/files"),
            sides.side("curl -o ← python -m http.server"), None, True),
        Row(SECTION, f"download {n} to /dev/null, agent vs an HTTP file server", "MB/s", sides.side("curl -o /dev/null ← GET /v1/files"),
            sides.side("curl -o /dev/null ← python -m http.server"), None, True),
        Row(SECTION, f"upload {n}, control plane", "MB/s", sides.side("curl -T → PUT /v1/desktops/:id/files"), up, "≥ 30 % of cp", True),
        Row(SECTION, f"download {n}, control plane", "MB/s", sides.side("curl -o ← GET /v1/desktops/:id/files"), down, "≥ 30 % of cp", True),
    ]  # fmt: skip
    for way, what in (("up", "upload"), ("down", "download")):
        if cpu[way]:
            used = Side("user + system CPU of the agent and its helper", Stat([x * 1000 for x in cpu[way]]))
            rows.append(Row(SECTION, f"agent CPU per {n} {what}", "ms", used))
    if peaks:
        growth = Side("peak RSS less RSS before, sampled every 5 ms", Stat([max(peaks)]))
        rows.append(Row(SECTION, f"agent RSS growth during a {n} upload", "MiB", growth, target="≤ 16 MiB"))
    return rows


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
    from devsupport.xvfb import Xvfb

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

