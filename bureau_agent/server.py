"""`bureau-agent serve`: bind, run until SIGTERM/SIGINT, then shut down cleanly.

Under systemd (Type=notify) it says READY=1 as soon as the listener is bound — display readiness
is the heartbeat's business, not the unit's: an agent waiting for its X server is still up and
answering /v1/health — then STATUS= lines as agentReady changes, WATCHDOG=1 from the event loop
at half of WatchdogSec (so a blocked loop gets the service restarted), and STOPPING=1 on a stop
signal. Shutdown: the listener closes at once, calls in flight get up to shutdown_grace_s, the
last `stopping` heartbeat is sent (bounded to 2 s), the services close, and the exit code is 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.app import create_app
from bureau_agent.config import Settings
from bureau_agent.httpkit.serving import start_listening, wait_for_stop_signal
from bureau_agent.system.sdnotify import Notifier, watchdog_interval_s

log = logging.getLogger("bureau_agent.server")


def bound_addresses(runner: web.AppRunner) -> list[str]:
    """HOST:PORT of every bound socket (the real port when the settings said port 0)."""
    out = []
    for addr in runner.addresses:
        if isinstance(addr, tuple) and len(addr) >= 2:
            host = addr[0]
            out.append(f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}")
    return out


def status_line(listen: str, ready: bool) -> str:
    return f"listening on {listen}; agentReady={'true' if ready else 'false'}"


async def _watchdog(notifier: Notifier, interval_s: float) -> None:
    """Pings from the event loop itself: if the loop is blocked, the pings stop."""
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval_s)


async def serve(settings: Settings, token: str | None, heartbeat_token: str | None = None) -> int:
    watchdog_s = watchdog_interval_s(os.environ)
    notifier = Notifier.from_environ()  # also removes NOTIFY_SOCKET etc. from what children inherit
    notifier.status("starting")
    app = create_app(settings, token, heartbeat_token=heartbeat_token)
    runner = await start_listening(app, settings.listen_host, settings.listen_port, settings.shutdown_grace_s)
    if runner is None:
        notifier.status(f"cannot listen on {settings.listen}")
        notifier.close()
        return 1
    listen = ", ".join(bound_addresses(runner)) or settings.listen
    readiness = app[appkeys.READINESS]
    notifier.ready(status_line(listen, readiness.ready))
    readiness.add_listener(lambda ready: notifier.status(status_line(listen, ready)))
    log.info(
        "listening",
        extra={"listen": listen, "auth": token is not None, "settings": settings.redacted()},
    )

    tasks: list[asyncio.Task[Any]] = []
    if watchdog_s is not None and notifier.enabled:
        tasks.append(asyncio.get_running_loop().create_task(_watchdog(notifier, watchdog_s), name="watchdog"))

    await wait_for_stop_signal()
    log.info("stopping", extra={"graceS": settings.shutdown_grace_s})
    notifier.stopping(f"stopping: finishing calls in flight (up to {settings.shutdown_grace_s:g} s)")
    try:
        await runner.cleanup()  # the watchdog keeps pinging meanwhile: the loop is alive
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        notifier.close()
    log.info("stopped")
    return 0
