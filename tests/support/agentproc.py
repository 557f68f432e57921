"""The agent as a real `python -m bureau_agent serve` subprocess, and what it uses of the machine.

The reliability suite drives the daemon the way the control plane does: over TCP, with a token
from a file, logging JSON lines that are kept in a file so a test can read them afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from tests.support.agent import TOKEN
from tests.support.procs import free_port

AGENT = [sys.executable, "-m", "bureau_agent"]


@dataclasses.dataclass(frozen=True)
class Resources:
    """What one process holds of the machine at one moment."""

    rss: int
    fds: int
    threads: int
    children: int
    zombies: int

    def to_json(self) -> dict[str, Any]:
        return {
            "rssMiB": round(self.rss / 2**20, 1),
            "fds": self.fds,
            "threads": self.threads,
            "children": self.children,
            "zombies": self.zombies,
        }


def resources(proc: psutil.Process) -> Resources:
    children = proc.children(recursive=True)
    zombies = 0
    for child in children:
        try:
            zombies += child.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            pass
    return Resources(
        rss=proc.memory_info().rss,
        fds=proc.num_fds(),
        threads=proc.num_threads(),
        children=len(children),
        zombies=zombies,
    )


class AgentProcess:
    """One agent subprocess on a display, its log written to log_path."""

    def __init__(
        self,
        display: str,
        log_path: Path,
        *,
        token: str = TOKEN,
        settings: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.display = display
        self.log_path = log_path
        self.token = token
        self.settings = dict(settings or {})
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def ps(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    def start(self, timeout_s: float = 20.0) -> AgentProcess:
        token_file = self.log_path.with_suffix(".token")
        token_file.write_text(self.token)
        token_file.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_AGENT_")}
        env.update({"BUREAU_AGENT_CONFIG": "/dev/null", "BUREAU_AGENT_TOKEN_FILE": str(token_file)})
        env.update(self.extra_env)
        args = AGENT + ["serve", "--listen", f"127.0.0.1:{self.port}", "--display", self.display, "--log-level", "debug"]
        for name, value in self.settings.items():
            args += ["--set", f"{name}={value}"]
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode} at start:\n{self.log_text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "/v1/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"agent did not answer within {timeout_s} s:\n{self.log_text()[-4000:]}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout_s)

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within timeout_s."""
        if self.proc is None:
            return None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines; a line that is not JSON is returned as {"raw": line}."""
        lines = []
        for line in self.log_text().splitlines():
            if not line.strip():
                continue
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append({"raw": line})
        return lines


def secret_leaks(text: str, token: str) -> list[str]:
    """Lines of text that carry the token or a recognisable part of it."""
    needles = {token, token[:12], token[-12:]}
    return [line for line in text.splitlines() if any(n in line for n in needles)]
