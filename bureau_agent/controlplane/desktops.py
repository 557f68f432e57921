"""Local desktops: an Xvfb display, a window manager, optional apps and a bureau-agent each.

Lifecycle: stopped → booting → running → stopping → stopped (or `error` when the boot fails or
the agent dies). start() only queues the boot and returns; the boot task starts the processes,
waits for the agent's HTTP port to answer and then marks the desktop running. Each boot gets
fresh secrets, each a 0600 file in the desktop's 0700 state directory: the agent token (what the
control plane presents to the agent), the heartbeat credential (what the agent presents with its
beats: receiving beats must not give the power to drive the desktop) and the X cookie (only the
desktop's own programs may connect to its display), and a fresh loopback port, so a previous
boot's agent can neither beat nor be reached by mistake.

Every change of status or of the liveness calls on_change(desktop id) (the event hub, for
GET /v1/desktops/stream). The forwards whose answers are streams register in `streams` while
they run, and stopping the desktop (stop, restart, the agent dying) ends them first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from bureau_agent.config import ENV_PREFIX
from bureau_agent.httpkit.auth import token_matches
from bureau_agent.controlplane import processes
from bureau_agent.controlplane.config import ControlPlaneConfig, DesktopConfig
from bureau_agent.controlplane import xauth
from bureau_agent.controlplane.liveness import Liveness
from bureau_agent.controlplane.session import session_env, session_programs
from bureau_agent.controlplane.window_manager import wait_for_window_manager
from bureau_agent.system.sdnotify import SUPERVISION_VARIABLES

log = logging.getLogger("bureau_agent.controlplane.desktops")

AGENT_HOST = "127.0.0.1"
BOOT_ATTEMPTS = 3  # a port taken between free_port() and the agent's bind: try another
BRIDGE_INTERVAL_S = 1.0
WINDOW_MANAGER_TIMEOUT_S = 5.0
# Not passed on to a desktop's programs: X auth of the parent's display, and systemd's supervision
# of the control plane's own unit (a child must not notify it or answer for its watchdog).
DROPPED_VARIABLES = frozenset({"XAUTHORITY", *SUPERVISION_VARIABLES})

# probe(port, token) -> the agent's agentReady from GET /v1/status, or None unless the agent
# holding this boot's token answers
Probe = Callable[[int, str], Awaitable["bool | None"]]


class BootFailed(Exception):
    pass


class OpenStream:
    """A forwarded answer being streamed; end() makes it finish now (its reader sees the end)."""

    def __init__(self, end: Callable[[], None]) -> None:
        self._end = end
        self.ended = False

    def end(self) -> None:
        self.ended = True
        self._end()


class LocalDesktop:
    def __init__(
        self, config: DesktopConfig, plane: ControlPlaneConfig, probe: Probe, on_change: Callable[[str], None] | None = None
    ) -> None:
        self.config = config
        self.plane = plane
        self.probe = probe
        self.on_change = on_change
        self._status = "stopped"
        self.streams: set[OpenStream] = set()
        self.error: str | None = None
        self.display: str | None = None
        self.port: int | None = None
        self.token: str | None = None
        self.heartbeat_token: str | None = None
        self.heartbeat_url: str | None = None
        self.liveness = Liveness(plane.heartbeat_interval_s, on_change=self._changed)
        self.state_dir = plane.state_dir / "desktops" / config.id
        self._procs: list[tuple[str, asyncio.subprocess.Process]] = []
        self._agent: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._logs: list[IO[bytes]] = []
        self._bus_address: str | None = None

    @property
    def runtime_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def status(self) -> str:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = value
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.id)

    def end_streams(self) -> None:
        """End every forwarded stream of this desktop (it is stopping: its agent goes away)."""
        for stream in list(self.streams):
            stream.end()
        self.streams.clear()

    @property
    def agent_ready(self) -> bool:
        return self.status == "running" and self.liveness.ready

    @property
    def token_file(self) -> Path:
        return self.state_dir / "agent.token"

    @property
    def heartbeat_token_file(self) -> Path:
        return self.state_dir / "heartbeat.token"

    @property
    def xauthority_file(self) -> Path:
        return self.state_dir / "Xauthority"

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._procs if proc.returncode is None}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.config.name,
            "status": self.status,
            "tier": self.config.tier,
            "ipAddress": AGENT_HOST if self.status in ("booting", "running") else None,
            "agentReady": self.agent_ready,
            "createdAt": self.config.created_at,
            "display": self.display if self.status in ("booting", "running") else None,
            "heartbeat": self.liveness.describe(),
            "error": self.error,
        }

    # lifecycle ---------------------------------------------------------------------------

    async def start(self) -> bool:
        """Queue a boot; False when the desktop is already booting or running."""
        async with self._lock:
            if self.status in ("booting", "running"):
                return False
            self.status, self.error = "booting", None
            self.liveness.reset()
            self._tasks.append(asyncio.get_running_loop().create_task(self._boot(), name=f"boot-{self.id}"))
            return True

    async def stop(self) -> None:
        async with self._lock:
            if self.status == "stopped":
                return
            self.status = "stopping"
            await self._teardown()
            self.status = "stopped"
            log.info("desktop stopped", extra={"desktop": self.id})

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    # boot --------------------------------------------------------------------------------

    async def _boot(self) -> None:
        try:
            await asyncio.wait_for(self._boot_steps(), self.plane.boot_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed boot is reported on the desktop, not raised
            message = "the boot timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            log.warning("desktop boot failed", extra={"desktop": self.id, "error": message})
            async with self._lock:
                if self.status == "booting":
                    await self._teardown(keep_task=asyncio.current_task())
                    self.status, self.error = "error", message
            return
        loop = asyncio.get_running_loop()
        self.status = "running"
        self._write_runtime()
        log.info("desktop running", extra={"desktop": self.id, "display": self.display, "port": self.port})
        self._tasks.append(loop.create_task(self._watch_agent(), name=f"watch-{self.id}"))
        self._tasks.append(loop.create_task(self._bridge(), name=f"bridge-{self.id}"))

    async def _boot_steps(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        await self._start_display()
        await self._start_session_bus()
        env = self._session_env()
        programs = session_programs(self.config)
        env.update(session_env(self.config, self.state_dir))
        if programs.bus and not self._bus_address:
            raise BootFailed("this session needs a D-Bus session bus, and dbus-daemon is not installed (run scripts/install-deps)")
        for name, argv in programs.before_wm:
            await self._spawn_optional(name, argv, env)
        if programs.window_manager and await self._spawn_optional("wm", programs.window_manager, env):
            if self.config.apps or programs.after_wm:
                await self._wait_for_window_manager()
        for name, argv in programs.after_wm:
            await self._spawn_optional(name, argv, env)
        for i, argv in enumerate(self.config.apps):
            await self._spawn_optional(f"app{i}", argv, env)
        self.token = secrets.token_urlsafe(32)
        self.heartbeat_token = secrets.token_urlsafe(32)
        _write_secret(self.token_file, self.token)
        _write_secret(self.heartbeat_token_file, self.heartbeat_token)
        for attempt in range(BOOT_ATTEMPTS):
            if await self._start_agent(env):
                return
            log.warning("agent exited during boot; retrying", extra={"desktop": self.id, "attempt": attempt + 1})
        raise BootFailed(f"the agent exited during boot {BOOT_ATTEMPTS} times; see {self.state_dir / 'agent.log'}")

    def _log_file(self, name: str) -> IO[bytes]:
        fh = open(self.state_dir / f"{name}.log", "ab")
        self._logs.append(fh)
        return fh

    async def _start_display(self) -> None:
        cookie = xauth.new_cookie()
        xauth.write_authority(self.xauthority_file, cookie)  # read by Xvfb at start
        read_fd, write_fd = os.pipe()
        argv = [
            "Xvfb", "-displayfd", str(write_fd),
            "-screen", "0", f"{self.config.width}x{self.config.height}x24",
            "-nolisten", "tcp", "-auth", str(self.xauthority_file), "-noreset",
        ]  # fmt: skip
        try:
            proc = await self._spawn("xvfb", argv, _inherited_env(), pass_fds=(write_fd,))
        except FileNotFoundError:
            os.close(read_fd)
            raise BootFailed("Xvfb is not installed (run scripts/install-deps)") from None
        finally:
            os.close(write_fd)
        number = await processes.read_display_number(read_fd, self.plane.boot_timeout_s)
        self.display = f":{number}"
        xauth.write_authority(self.xauthority_file, cookie, number)  # + the entry python-xlib matches

    async def _start_session_bus(self) -> None:
        """A D-Bus session bus for the desktop, as a desktop session has: on it D-Bus activation
        starts at-spi2-core's accessibility bus the first time an application or the agent asks
        org.a11y.Bus for it, so that GET /accessibility works. Optional, like the window manager."""
        self._bus_address = None
        # A runtime directory of the desktop's own: the accessibility bus's socket goes there, so
        # that two local desktops never share one.
        self.runtime_dir.mkdir(mode=0o700, exist_ok=True)
        read_fd, write_fd = os.pipe()
        try:
            argv = ["dbus-daemon", "--session", "--nofork", "--nosyslog", f"--print-address={write_fd}"]
            proc = await self._spawn("dbus", argv, self._session_env(), pass_fds=(write_fd,))
        except FileNotFoundError:
            os.close(read_fd)
            log.warning("dbus-daemon not found; the desktop runs without a session bus", extra={"desktop": self.id})
            return
        finally:
            os.close(write_fd)
        address = await processes.read_line(read_fd, self.plane.boot_timeout_s)
        if not address:
            raise BootFailed(f"dbus-daemon exited before it reported its address; see {self.state_dir / 'dbus.log'}")
        self._bus_address = address

    def _session_env(self) -> dict[str, str]:
        """The environment of the programs on the display (and of its agent): its name, its
        cookie, its own runtime directory and session bus."""
        env = {
            **_inherited_env(),
            "DISPLAY": self.display or "",
            "XAUTHORITY": str(self.xauthority_file),
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
        }
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # the control plane's own session is not the desktop's
        if self._bus_address:
            env["DBUS_SESSION_BUS_ADDRESS"] = self._bus_address
        return env

    async def _spawn(self, name: str, argv: list[str], env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> asyncio.subprocess.Process:
        """Start a child and record it for the teardown, even when the boot is cancelled (a stop
        during the boot) while the child is being started: it exists by then, and must be ended."""
        spawning = asyncio.ensure_future(processes.spawn(argv, env, self._log_file(name), pass_fds=pass_fds))
        try:
            proc = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self._procs.append((name, await spawning))
            raise
        self._procs.append((name, proc))
        return proc

    async def _spawn_optional(self, name: str, argv: list[str], env: dict[str, str]) -> bool:
        """The window manager and apps are comfort, not function: a missing one is logged."""
        try:
            await self._spawn(name, argv, env)
            return True
        except FileNotFoundError:
            log.warning("program not found; the desktop runs without it", extra={"desktop": self.id, "argv0": argv[0]})
            return False

    async def _wait_for_window_manager(self) -> None:
        """Apps started before the window manager manages the screen may never be shown."""
        loop = asyncio.get_running_loop()
        managed = await loop.run_in_executor(
            None, wait_for_window_manager, self.display or "", WINDOW_MANAGER_TIMEOUT_S, str(self.xauthority_file)
        )
        if not managed:
            log.warning("the window manager is not managing the screen yet; starting the apps anyway", extra={"desktop": self.id})

    @property
    def runtime_file(self) -> Path:
        return self.state_dir / "runtime.json"

    def _write_runtime(self) -> None:
        """Where this boot's agent and children are, for operators and tests (no secret here)."""
        info = {"display": self.display, "port": self.port, "pids": self.pids()}
        self.runtime_file.write_text(json.dumps(info) + "\n", encoding="utf-8")

    async def _start_agent(self, env: dict[str, str]) -> bool:
        """Start the agent on a fresh port; True once it answers with this boot's token, False if it exited."""
        assert self.token is not None
        token = self.token
        self.port = processes.free_port(AGENT_HOST)
        agent_env = dict(env)
        agent_env.update(
            {
                ENV_PREFIX + "TOKEN_FILE": str(self.token_file),
                ENV_PREFIX + "HEARTBEAT_TOKEN_FILE": str(self.heartbeat_token_file),
                ENV_PREFIX + "DESKTOP_ID": self.id,
                ENV_PREFIX + "HEARTBEAT_INTERVAL_S": f"{self.plane.heartbeat_interval_s:g}",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.heartbeat_url:
            agent_env[ENV_PREFIX + "HEARTBEAT_URL"] = self.heartbeat_url
        argv = [
            sys.executable, "-m", "bureau_agent", "serve", "--config", os.devnull,
            "--listen", f"{AGENT_HOST}:{self.port}", "--display", self.display or "",
            *self.config.agent_args,
        ]  # fmt: skip
        proc = await self._spawn("agent", argv, agent_env)
        self._agent = proc
        while proc.returncode is None:
            if await self.probe(self.port, token) is not None:
                return True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.1)
        self._procs.remove(("agent", proc))
        return False

    # while running -----------------------------------------------------------------------

    async def _watch_agent(self) -> None:
        """An agent that dies on its own takes the desktop to `error` (a start boots it again)."""
        agent = self._agent
        assert agent is not None
        code = await agent.wait()
        async with self._lock:
            if self.status == "running" and self._agent is agent:
                log.warning("agent exited; desktop in error", extra={"desktop": self.id, "code": code})
                await self._teardown(keep_task=asyncio.current_task())
                self.status, self.error = "error", f"the agent exited with code {code}"

    async def _bridge(self) -> None:
        """Until the first heartbeat of this boot, agentReady comes from polling the agent."""
        while self.status == "running" and not self.liveness.from_beats and self.port is not None and self.token:
            ready = await self.probe(self.port, self.token)
            self.liveness.set_bridge(bool(ready))
            await asyncio.sleep(BRIDGE_INTERVAL_S)

    # teardown ----------------------------------------------------------------------------

    async def _teardown(self, keep_task: asyncio.Task[Any] | None = None) -> None:
        """End every child (agent first, so it can send its last beat) and the boot/watch tasks."""
        self.end_streams()  # viewers see the end now, not after the agent's stop grace
        tasks = [t for t in self._tasks if t is not keep_task and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        procs, self._procs = self._procs, []
        agents = [p for name, p in procs if name == "agent"]
        others = [p for name, p in procs if name != "agent"]
        await asyncio.gather(*(processes.end(p, self.plane.stop_grace_s) for p in agents))
        await asyncio.gather(*(processes.end(p, 2.0) for p in reversed(others)))
        for fh in self._logs:
            fh.close()
        self._logs = []
        for path in (self.token_file, self.heartbeat_token_file, self.xauthority_file, self.runtime_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._agent, self.token, self.heartbeat_token, self.port, self.display = None, None, None, None, None
        self.liveness.reset()


def _write_secret(path: Path, value: str) -> None:
    """A fresh 0600 file (never an older file's mode or owner)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")


def _inherited_env() -> dict[str, str]:
    """The control plane's environment minus its own agent settings (they would configure every
    desktop's agent) and DROPPED_VARIABLES."""
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) and k not in DROPPED_VARIABLES}


class DesktopManager:
    def __init__(self, plane: ControlPlaneConfig, probe: Probe, on_change: Callable[[str], None] | None = None) -> None:
        self.desktops: dict[str, LocalDesktop] = {
            d.id: LocalDesktop(d, plane, probe, on_change) for d in plane.desktops if not d.destroyed
        }

    def get(self, desktop_id: str) -> LocalDesktop | None:
        return self.desktops.get(desktop_id)

    def beat_sender(self, presented: str | None) -> LocalDesktop | None:
        """The desktop whose current heartbeat credential was presented, or None. Every desktop's
        is compared, in constant time, so neither which ids exist nor which are running shows."""
        found: LocalDesktop | None = None
        for desktop in self.desktops.values():
            if token_matches(presented, desktop.heartbeat_token):
                found = desktop
        return found

    def listed(self) -> list[LocalDesktop]:
        return list(self.desktops.values())

    async def start_autostart(self, heartbeat_base: str) -> None:
        """Set where the agents beat (known once the listener is bound) and queue autostart boots."""
        for desktop in self.desktops.values():
            desktop.heartbeat_url = f"{heartbeat_base}/agent/v1/desktops/{desktop.id}/heartbeat"
        for desktop in self.desktops.values():
            if desktop.config.autostart:
                await desktop.start()

    async def close(self) -> None:
        await asyncio.gather(*(d.stop() for d in self.desktops.values()), return_exceptions=True)
