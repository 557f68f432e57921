"""Forwarding a public control or chat call to the desktop's agent, and probing its readiness.

The request body goes to the agent unchanged (with the agent's token instead of the caller's
key), and the agent's answer comes back unchanged: status, body bytes (images included, not
re-encoded or decompressed) and headers, less the hop-by-hop ones.
"""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from bureau_agent.controlplane.desktops import AGENT_HOST, LocalDesktop
from bureau_agent.controlplane.errors import BadGateway, DesktopUnavailable

log = logging.getLogger("bureau_agent.controlplane.proxy")

# Headers of the caller's request that mean something to the agent.
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "If-None-Match")
# Headers of the agent's answer that belong to the hop, not to the answer.
DROPPED_RESPONSE_HEADERS = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Content-Length", "Date", "Server", "WWW-Authenticate",
    )
)  # fmt: skip
PROBE_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 5.0


class AgentClient:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # No total timeout: exec and chat calls may legitimately run for their whole timeoutMs.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S)
        self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "AgentClient.open() was not awaited"
        return self._session

    async def ready(self, port: int, token: str) -> bool | None:
        """agentReady from the agent's GET /v1/status, or None unless it answers as this boot's agent.

        An authenticated route, not /v1/health: whatever else took the port (or an agent of an
        earlier boot) does not accept this boot's token, so it is never taken for the agent.
        """
        url = f"http://{AGENT_HOST}:{port}/v1/status"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self.session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)) as resp:
                if resp.status != 200:
                    return None
                data = json.loads(await resp.read())
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("agentReady"), bool) or not isinstance(data.get("bootId"), str):
            return None
        return data["agentReady"]

    async def forward(self, desktop: LocalDesktop, request: web.Request, action: str) -> web.Response:
        check_callable(desktop)
        port, token = desktop.port, desktop.token
        assert port is not None and token is not None
        body = await request.read()
        raw_query = request.rel_url.raw_query_string
        url = URL(f"http://{AGENT_HOST}:{port}/v1/{action}" + (f"?{raw_query}" if raw_query else ""), encoded=True)
        headers = {h: request.headers[h] for h in FORWARDED_REQUEST_HEADERS if h in request.headers}
        headers["Authorization"] = f"Bearer {token}"
        try:
            async with self.session.request(
                request.method, url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                payload = await resp.read()
                answer_headers = [(k, v) for k, v in resp.headers.items() if k.lower() not in DROPPED_RESPONSE_HEADERS]
                status = resp.status
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("agent unreachable", extra={"desktop": desktop.id, "error": type(exc).__name__})
            raise DesktopUnavailable(
                "agent_unreachable",
                f"The agent of desktop {desktop.id} did not answer; retry shortly.",
                {"status": desktop.status, "agentReady": desktop.agent_ready},
                retry_after_s=1,
            ) from None
        if status == 401:  # the agent refused our token: a control-plane fault, not the caller's
            raise BadGateway(f"The agent of desktop {desktop.id} refused the control plane's credentials.")
        return web.Response(status=status, body=payload, headers=CIMultiDict(answer_headers))


def check_callable(desktop: LocalDesktop) -> None:
    """503 unless the desktop is running and its agent is ready (the public contract)."""
    details = {"status": desktop.status, "agentReady": desktop.agent_ready}
    if desktop.status != "running":
        retry = 2 if desktop.status == "booting" else None
        raise DesktopUnavailable(
            "desktop_not_running",
            f"Desktop {desktop.id} is {desktop.status}, not running; start it and poll until agentReady is true.",
            details,
            retry_after_s=retry,
        )
    if not desktop.agent_ready:
        raise DesktopUnavailable(
            "agent_not_ready",
            f"The agent of desktop {desktop.id} is not ready; poll until agentReady is true.",
            details,
            retry_after_s=2,
        )
