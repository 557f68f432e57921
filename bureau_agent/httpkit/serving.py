"""What every long-running command here does the same way: bind an aiohttp app, wait for a stop signal."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

log = logging.getLogger("bureau_agent.httpkit.serving")


async def start_listening(app: web.Application, host: str, port: int, shutdown_timeout: float = 60.0) -> web.AppRunner | None:
    """The running AppRunner with its TCP site bound, or None (logged, cleaned up) when the bind fails."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_address=True).start()
    except OSError as exc:
        log.error("cannot listen", extra={"listen": f"{host}:{port}", "error": exc.strerror})
        await runner.cleanup()
        return None
    return runner


async def wait_for_stop_signal() -> None:
    """Return on the first SIGTERM or SIGINT (systemd's stop, Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
