"""`bureau-agent doctor`: check what the agent needs and say how to fix each problem.

The display, XTest and capture checks are the very ones behind agentReady
(desktop.readiness.desktop_checks), so doctor and the heartbeat cannot disagree. The rest is
configuration: X authority, token (its file's mode, and whether the desktop user could read it:
the agent must run as root with exec_user, the token in a root-only file), heartbeat URL, its
credential and desktop id, and whether the listen address can be bound. Exit status 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import sys
import urllib.parse
import urllib.request
from typing import TextIO

from bureau_agent.accessibility.bus import FIX as FIX_ACCESSIBILITY
from bureau_agent.accessibility.service import Accessibility
from bureau_agent.config import ConfigError, Settings, check_heartbeat_url, resolve_heartbeat_token, resolve_token
from bureau_agent.desktop import jpeg
from bureau_agent.desktop.bands import band_count
from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.display import Display
from bureau_agent.desktop.readiness import Check, desktop_checks
from bureau_agent.desktop.windows import WindowService
from bureau_agent.errors import AgentError
from bureau_agent.process.environment import RunAs, Session

UNIT_TOKEN_FILE = "/etc/bureau-agent/token"
FIX_RUN_AS_ROOT = (
    "run the agent as root (bureau-agent.service has no User=) with exec_user "
    "(BUREAU_AGENT_EXEC_USER) set to the desktop user"
)
FIX_HEARTBEAT_TOKEN = (
    "write the heartbeat credential the control plane gave this desktop to /etc/bureau-agent/heartbeat-token "
    "(mode 0600) and set heartbeat_token_file (BUREAU_AGENT_HEARTBEAT_TOKEN_FILE) to it"
)
FIX_TOKEN = (
    "write a random token (for example `openssl rand -hex 32`) to /etc/bureau-agent/token with mode 0600 "
    "(bureau-agent.service loads it with LoadCredential), or set BUREAU_AGENT_TOKEN_FILE"
)


def _agent_token(settings: Settings) -> str | None:
    try:
        return resolve_token(settings)
    except ConfigError:
        return None  # reported by the token check


async def _desktop_checks(settings: Settings) -> list[Check]:
    name = settings.display
    if not name:
        return [Check("display", False, "no display is configured", "set DISPLAY or --display (for example :0)")]
    display = Display(name)
    capturer = Capturer(name)
    try:
        await display.start()
        checks = await desktop_checks(display.state, capturer)
        checks.append(await _accessibility_check(settings, display))
        if display.connected:
            checks.append(await _window_manager_check(display))
        return checks
    finally:
        await capturer.close()
        await display.close()


async def _accessibility_check(settings: Settings, display: Display) -> Check:
    """Is the AT-SPI bus reachable the way GET /v1/accessibility finds it?"""
    session = Session.from_settings(settings)
    service = Accessibility(display, lambda: session.environment({}, "doctor"), timeout_s=settings.accessibility_timeout_ms / 1000)
    try:
        ok, detail = await service.check()
    finally:
        await service.close()
    return Check("accessibility", ok, detail.split(" Fix: ")[0], "" if ok else FIX_ACCESSIBILITY)


NO_WM = (
    "none is running: the windows are the mapped children of the root, activate sets the input focus "
    "itself, minimized/maximized/fullscreen answer 409 no_window_manager, close needs the client's "
    "WM_DELETE_WINDOW (or force), and new windows are not placed or decorated"
)


async def _window_manager_check(display: Display) -> Check:
    """Not a failure (the agent works without one), but what /v1/windows does differs."""
    name = await display.call(WindowService(display).window_manager)
    if name is None:
        return Check("window_manager", True, NO_WM)
    return Check("window_manager", True, f"{name or 'an EWMH window manager'} manages the screen (all window actions available)")


def _xauthority_check(settings: Settings) -> Check | None:
    path = settings.xauthority
    if not path:
        return None
    if not os.access(path, os.R_OK):
        return Check("xauthority", False, f"{path} is not readable by this user", "point XAUTHORITY at the desktop user's .Xauthority (or the display manager's cookie file)")
    return Check("xauthority", True, f"{path} is readable")


def _token_path(settings: Settings) -> str | None:
    """The file the token comes from: token_file, systemd's credential, or the file the unit's
    LoadCredential reads (doctor run by hand, outside the unit)."""
    if settings.token_file:
        return str(settings.token_file)
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir and os.path.exists(os.path.join(cred_dir, "token")):
        return os.path.join(cred_dir, "token")
    return UNIT_TOKEN_FILE if os.path.exists(UNIT_TOKEN_FILE) else None


def readable_by(path: str, user: RunAs) -> bool:
    """Whether user may read path, by its owner, group and mode (root reads everything)."""
    info = os.stat(path)
    if user.uid == 0:
        return True
    if info.st_uid == user.uid:
        return bool(info.st_mode & stat.S_IRUSR)
    if info.st_gid == user.gid or info.st_gid in user.groups:
        return bool(info.st_mode & stat.S_IRGRP)
    return bool(info.st_mode & stat.S_IROTH)


def _reach_check(settings: Settings, path: str | None) -> Check:
    """Nothing the desktop user runs may read the token (agent-api.md, "Authentication")."""
    if os.geteuid() != 0:
        me = RunAs.current()
        return Check(
            "token_reach", False,
            f"the agent runs as {me.name}, the user its commands run as: they can read its token and its environment",
            FIX_RUN_AS_ROOT,
        )  # fmt: skip
    if not settings.exec_user:
        return Check("token_reach", False, "the agent is root and no exec_user is set: commands would run as root", FIX_RUN_AS_ROOT)
    try:
        user = RunAs.lookup(settings.exec_user)
    except AgentError as exc:
        return Check("token_reach", False, exc.message, "set exec_user to the desktop user's name")
    if settings.sources.get("token", "").startswith("$"):
        return Check(
            "token_reach", False, f"the token is in the agent's environment ({settings.sources['token']})",
            "put it in a 0600 root file (/etc/bureau-agent/token, loaded by LoadCredential) instead",
        )  # fmt: skip
    if path is not None and readable_by(path, user):
        return Check("token_reach", False, f"{path} is readable by {user.name}, the desktop user", f"chown root:root {path} && chmod 600 {path}")
    return Check("token_reach", True, f"commands run as {user.name}, who cannot read the token")


def _token_checks(settings: Settings) -> list[Check]:
    try:
        token = resolve_token(settings)
    except ConfigError as exc:
        return [Check("token", False, str(exc), FIX_TOKEN)]
    if token is None:
        return [Check("token", True, "development mode: no token, loopback only")]
    checks = [Check("token", True, f"configured ({len(token)} characters)")]
    path = _token_path(settings)
    if path and os.path.exists(path):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        ok = mode & 0o077 == 0
        checks.append(Check("token_file_mode", ok, f"{path} has mode {mode:04o}", f"chmod 600 {path}"))
    checks.append(_reach_check(settings, path if path and os.path.exists(path) else None))
    return checks


def _heartbeat_check(settings: Settings) -> Check:
    url = settings.heartbeat_url
    if not url:
        return Check("heartbeat", True, "no heartbeat URL configured (heartbeats off)")
    parsed = urllib.parse.urlparse(url)
    try:
        check_heartbeat_url(settings)
    except ConfigError as exc:
        return Check("heartbeat", False, str(exc), "set heartbeat_url (BUREAU_AGENT_HEARTBEAT_URL) to the control plane's https:// heartbeat URL")
    try:
        resolve_heartbeat_token(settings, _agent_token(settings))
    except ConfigError as exc:
        return Check("heartbeat", False, str(exc), FIX_HEARTBEAT_TOKEN)
    if not settings.desktop_id:
        return Check("heartbeat", False, "heartbeat URL set but no desktop id", "set desktop_id (BUREAU_AGENT_DESKTOP_ID)")
    return Check("heartbeat", True, f"{parsed.scheme}://{parsed.hostname}{parsed.path} as desktop {settings.desktop_id}")


def _jpeg_check() -> Check:
    if jpeg.available():
        count = band_count(1920, 1080, jpeg.MCU_ROWS)
        return Check("jpeg", True, f"libjpeg-turbo (TurboJPEG): a 1920x1080 frame is encoded in {count} parallel band(s)")
    return Check(
        "jpeg", False, "libturbojpeg is missing: JPEG screenshots fall back to Pillow, about 2x slower",
        "apt-get install libturbojpeg0 (Debian) or libturbojpeg (Ubuntu)",
    )


def _listen_check(settings: Settings) -> Check:
    """Can the listen address be bound? (If the agent already runs, it holds it: say so.)"""
    host, port = settings.listen_host, settings.listen_port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return Check("listen", False, f"{settings.listen}: {exc}", "set listen to HOST:PORT with a local address")
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            if _agent_answers(host, port):
                return Check("listen", True, f"an agent already answers on {settings.listen}")
            return Check(
                "listen", False, f"cannot bind {settings.listen}: {exc.strerror}",
                "free the port (another program holds it) or change listen",
            )
    return Check("listen", True, f"{settings.listen} can be bound")


def _agent_answers(host: str, port: int) -> bool:
    """True when a bureau agent (the running service) answers /v1/health there."""
    target = f"[{host}]" if ":" in host else host
    if target in ("0.0.0.0", "[::]"):
        target = "127.0.0.1"
    try:
        with urllib.request.urlopen(f"http://{target}:{port}/v1/health", timeout=1) as resp:
            return json.load(resp).get("status") == "ok"
    except (OSError, ValueError, AttributeError):
        return False


def run_checks(settings: Settings) -> list[Check]:
    checks = asyncio.run(_desktop_checks(settings))
    xauth = _xauthority_check(settings)
    if xauth is not None:
        checks.insert(0, xauth)
    checks.extend(_token_checks(settings))
    checks.append(_heartbeat_check(settings))
    checks.append(_jpeg_check())
    checks.append(_listen_check(settings))
    return checks


def report(checks: list[Check], out: TextIO) -> int:
    for check in checks:
        print(f"[{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}", file=out)
        if not check.ok and check.fix:
            print(f"       fix: {check.fix}", file=out)
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} ok, {len(failed)} failed", file=out)
    return 1 if failed else 0


def doctor(settings: Settings, out: TextIO | None = None) -> int:
    return report(run_checks(settings), out or sys.stdout)

