"""The real agent as a subprocess (`python -m bureau_agent serve --dev` on a free loopback port),
the keep-alive client the benchmark talks to it with, and the start-to-READY measurement."""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.http1 import Connection
from bench.measure import Unavailable
from devsupport.net import free_port

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 20.0
READY_GRACE_S = 1.0  # how long to wait for READY=1 once health answers


def byte_compile() -> None:
    """Byte-compile the package, as packaging/build-deb does for the VM image. Where
    PYTHONDONTWRITEBYTECODE is set (as on the machines here) the agent would otherwise compile
    every module at each start, and the compiler's leftovers add about 0.9 MiB to its RSS."""
    compileall.compile_dir(REPO / "bureau_agent", quiet=1)


async def _is_ready(resp: aiohttp.ClientResponse) -> bool:
    return (await resp.json()).get("agentReady") is True


class AgentProcess:
    def __init__(self, display: str, env: dict[str, str], log_path: Path) -> None:
        self.display = display
        self.env = dict(env)
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self, extra_env: dict[str, str] | None = None) -> None:
        argv = [sys.executable, "-m", "bureau_agent", "serve", "--dev", "--listen", f"127.0.0.1:{self.port}", "--display", self.display]
        env = {**self.env, **(extra_env or {})}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    async def poll_health(
        self, timeout: float, interval: float, accept: Callable[[aiohttp.ClientResponse], Awaitable[bool]] | None = None
    ) -> float | None:
        """Seconds until GET /v1/health answers 200 (and accept(response), when given), polled
        every `interval` seconds; None after timeout. Raises if the agent exits meanwhile."""
        assert self.proc is not None
        started = time.perf_counter()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            while time.perf_counter() - started < timeout:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the agent exited with {self.proc.returncode}; see {self.log_path}")
                with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError):
                    async with session.get(self.base_url + "/v1/health", timeout=aiohttp.ClientTimeout(total=1)) as resp:
                        if resp.status == 200 and (accept is None or await accept(resp)):
                            return time.perf_counter() - started
                await asyncio.sleep(interval)
        return None

    async def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> float:
        """Seconds until GET /v1/health answers 200 (polled every few milliseconds)."""
        seconds = await self.poll_health(timeout, 0.003)
        if seconds is None:
            raise RuntimeError(f"the agent did not answer /v1/health within {timeout:.0f} s; see {self.log_path}")
        return seconds

    async def wait_agent_ready(self, timeout: float = 10.0) -> bool:
        """True once /v1/health says agentReady (display, XTest and capture work)."""
        return await self.poll_health(timeout, 0.02, _is_ready) is not None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@contextlib.asynccontextmanager
async def running_agent(display: str, env: dict[str, str], log_path: Path) -> AsyncIterator[AgentProcess]:
    agent = AgentProcess(display, env, log_path)
    agent.spawn()
    try:
        await agent.wait_healthy()
        await agent.wait_agent_ready()  # if it never is, the rows say what the routes answer
        yield agent
    finally:
        agent.stop()


class Client:
    """One keep-alive HTTP/1.1 connection to the agent, reused by every call (bench.http1)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.connection = Connection(base_url)

    async def close(self) -> None:
        await self.connection.close()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = await self.connection.post_json(path, body)
        if not 200 <= answer.status < 300:
            raise Unavailable(f"n/a (HTTP {answer.status})")
        return _json(answer.body)

    async def get(self, path: str) -> Any:
        answer = await self.connection.request("GET", path)
        if answer.status != 200:
            raise Unavailable(f"n/a (HTTP {answer.status})")
        return _json(answer.body)

    async def screenshot(self, params: dict[str, str], etag: str | None = None) -> tuple[int, str | None, bytes]:
        headers = {"If-None-Match": etag} if etag else {}
        answer = await self.connection.request("GET", "/v1/screenshot", params=params, headers=headers)
        if answer.status != 304 and not 200 <= answer.status < 300:
            raise Unavailable(f"n/a (HTTP {answer.status})")
        return answer.status, answer.headers.get("etag"), answer.body


def _json(data: bytes) -> Any:
    return json.loads(data) if data else None


async def time_to_ready(display: str, env: dict[str, str], workdir: Path, timeout: float = START_TIMEOUT_S) -> tuple[float | None, float]:
    """Start a fresh agent with NOTIFY_SOCKET pointing at a datagram socket bound here.

    Returns (seconds until READY=1 arrived or None, seconds until /v1/health answered 200);
    both measured from just before the process is spawned.
    """
    path = workdir / f"notify-{os.getpid()}-{time.monotonic_ns()}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    agent = AgentProcess(display, env, workdir / "agent-ready.log")
    loop = asyncio.get_running_loop()

    async def ready() -> float:
        while True:
            message = await loop.sock_recv(sock, 4096)
            if b"READY=1" in message.split(b"\n"):
                return time.perf_counter() - started

    started = time.perf_counter()
    agent.spawn({"NOTIFY_SOCKET": str(path)})
    ready_task = asyncio.ensure_future(ready())
    try:
        health_s = await agent.wait_healthy(timeout)
        # READY=1 is sent around the time the listener opens: allow a short grace after health.
        done, _ = await asyncio.wait({ready_task}, timeout=READY_GRACE_S)
        ready_s = ready_task.result() if done else None
        return ready_s, health_s
    finally:
        ready_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ready_task
        agent.stop()
        sock.close()
        path.unlink(missing_ok=True)
