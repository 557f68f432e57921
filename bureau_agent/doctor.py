"""`bureau-agent doctor`: check what the agent needs and say how to fix each problem."""

from __future__ import annotations

import asyncio
import dataclasses
import urllib.parse

from bureau_agent.config import ConfigError, Settings, resolve_token
from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.display import Display


@dataclasses.dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


async def _desktop_checks(settings: Settings) -> list[Check]:
    name = settings.display
    if not name:
        return [Check("display", False, "no display is configured", "set DISPLAY or --display (for example :0)")]
    display = Display(name)
    capturer = Capturer(name)
    try:
        await display.start()
        state = display.state
        checks = [
            Check(
                "display",
                state.connected,
                f"{name}: {state.width}x{state.height}" if state.connected else f"cannot connect to {name}",
                "start the X server (or bureau-xvfb.service) and check XAUTHORITY",
            )
        ]
        if state.connected:
            checks.append(Check("xtest", state.has_xtest, "XTEST extension", "run an X server with the XTEST extension (Xorg and Xvfb have it by default)"))
            works = await capturer.works()
            checks.append(Check("capture", works, "a 1x1 screen capture", "install libxcb1, libxcb-shm0, libxcb-randr0, libxcb-render0, libxcb-xfixes0"))
        return checks
    finally:
        await capturer.close()
        await display.close()


def _token_check(settings: Settings) -> Check:
    try:
        token = resolve_token(settings)
    except ConfigError as exc:
        return Check("token", False, str(exc), "write a random token to a 0600 file and set BUREAU_AGENT_TOKEN_FILE")
    if token is None:
        return Check("token", True, "development mode: no token, loopback only")
    return Check("token", True, f"configured ({len(token)} characters)")


def _heartbeat_check(settings: Settings) -> Check:
    url = settings.heartbeat_url
    if not url:
        return Check("heartbeat", True, "no heartbeat URL configured (heartbeats off)")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return Check("heartbeat", False, f"{url!r} is not an http(s) URL", "set BUREAU_AGENT_HEARTBEAT_URL to the control plane's heartbeat URL")
    if not settings.desktop_id:
        return Check("heartbeat", False, "heartbeat URL set but no desktop id", "set BUREAU_AGENT_DESKTOP_ID")
    return Check("heartbeat", True, url)


def run_checks(settings: Settings) -> list[Check]:
    checks = asyncio.run(_desktop_checks(settings))
    checks.append(_token_check(settings))
    checks.append(_heartbeat_check(settings))
    return checks


def doctor(settings: Settings) -> int:
    checks = run_checks(settings)
    for check in checks:
        print(f"[{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
        if not check.ok and check.fix:
            print(f"       fix: {check.fix}")
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} ok, {len(failed)} failed")
    return 1 if failed else 0
