"""`bureau-agent serve`: bind, run until SIGTERM/SIGINT, then shut down cleanly.

On a stop signal the listener closes at once, calls in flight get up to shutdown_grace_s to
finish, the services close (cleanup contexts, in reverse order) and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from bureau_agent.app import create_app
from bureau_agent.config import Settings

log = logging.getLogger("bureau_agent.server")


async def serve(settings: Settings, token: str | None) -> int:
    app = create_app(settings, token)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_grace_s, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.listen_host, settings.listen_port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        log.error("cannot listen", extra={"listen": settings.listen, "error": exc.strerror})
        await runner.cleanup()
        return 1
    log.info(
        "listening",
        extra={"listen": settings.listen, "display": settings.display, "dev": settings.dev, "auth": token is not None},
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await runner.cleanup()
    log.info("stopped")
    return 0
