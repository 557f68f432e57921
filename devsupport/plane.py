"""A real control plane for the tests and the benchmark: a `bureau-agent control-plane serve`
subprocess and an HTTP helper."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bureau_agent.controlplane.keys import CAPABILITIES, generate_key, hash_key
from devsupport.net import free_port

REPO = Path(__file__).resolve().parents[1]
BOOT_TIMEOUT_S = 40.0


@dataclasses.dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        return self.json.get("error", {}).get("code")


def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30.0,
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = BOOT_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def make_key(name: str, caps: tuple[str, ...] = CAPABILITIES, limit: int | None = 100_000) -> tuple[str, dict[str, Any]]:
    key = generate_key()
    entry: dict[str, Any] = {"name": name, "hash": hash_key(key), "capabilities": list(caps)}
    if limit is not None:
        entry["rate_limit_per_minute"] = limit
    return key, entry


class Plane:
    """A control plane subprocess, its keys by name, and helpers to call it and its agents."""

    def __init__(self, root: Path, desktops: list[dict[str, Any]], keys: dict[str, tuple[str, ...]], **settings: Any) -> None:
        self.root = root
        self.port = free_port()
        self.keys: dict[str, str] = {}
        entries = []
        for name, caps in keys.items():
            limit = settings.pop(f"limit_{name}", 100_000)
            self.keys[name], entry = make_key(name, caps, limit)
            entries.append(entry)
        config = {
            "listen": f"127.0.0.1:{self.port}",
            "state_dir": "state",
            "heartbeat_interval_s": 1,
            "keys": entries,
            "desktops": desktops,
            **settings,
        }
        self.config_path = root / "control-plane.json"
        self.config_path.write_text(json.dumps(config), encoding="utf-8")
        self.log_path = root / "control-plane.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> Plane:
        """env: variables added to the control plane's environment (after the BUREAU_AGENT_ ones are dropped)."""
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("BUREAU_AGENT_")}, **(env or {})}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bureau_agent", "control-plane", "serve", "--config", str(self.config_path)],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._healthy, "the control plane to listen")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"control plane exited with {self.proc.returncode}: {self.log_path.read_text()}")
        try:
            return request(self.port, "GET", "/v1/health", timeout=2).status == 200
        except OSError:
            return False

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, and after timeout SIGKILL for the control plane and every process below it."""
        assert self.proc is not None
        if self.proc.poll() is None:
            # Taken first: Xvfb, the window managers, apps and agents run in their own sessions,
            # so killing the control plane alone would leave them running.
            try:
                children = psutil.Process(self.proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                children = []
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                for child in children:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        child.kill()  # psutil checks the pid was not reused since it was taken
                psutil.wait_procs(children, timeout=10)
        return self.proc.returncode

    # calls ------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        key: str | None = "full",
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        """key is a key name of this plane, or a literal Authorization value when it has a space."""
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["Authorization"] = key if " " in key else f"Bearer {self.keys[key]}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        return request(self.port, method, path, headers=all_headers, body=data)

    def desktop(self, desktop_id: str) -> dict[str, Any]:
        reply = self.call("GET", f"/v1/desktops/{desktop_id}")
        assert reply.status == 200, reply.body
        return reply.json

    def wait_ready(self, desktop_id: str, by_beat: bool = True) -> dict[str, Any]:
        """Running with agentReady; by_beat: reported by a real heartbeat of this boot's agent."""

        def ready() -> dict[str, Any] | None:
            d = self.desktop(desktop_id)
            beat_ok = not by_beat or (d["heartbeat"] is not None and d["heartbeat"]["agentReady"])
            return d if d["status"] == "running" and d["agentReady"] and beat_ok else None

        return wait_for(ready, f"desktop {desktop_id} running with agentReady")

    # the agent behind a desktop -----------------------------------------------------------

    def state_dir(self, desktop_id: str) -> Path:
        return self.root / "state" / "desktops" / desktop_id

    def runtime(self, desktop_id: str) -> dict[str, Any]:
        return json.loads((self.state_dir(desktop_id) / "runtime.json").read_text())

    def agent_token(self, desktop_id: str) -> str:
        return (self.state_dir(desktop_id) / "agent.token").read_text().strip()

    def heartbeat_token(self, desktop_id: str) -> str:
        return (self.state_dir(desktop_id) / "heartbeat.token").read_text().strip()

    def agent_call(self, desktop_id: str, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Reply:
        """The same call made directly to the desktop's agent, to compare with what the plane answers."""
        headers = {"Authorization": f"Bearer {self.agent_token(desktop_id)}"}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return request(self.runtime(desktop_id)["port"], method, path, headers=headers, body=data)
