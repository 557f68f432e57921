"""The HTTP client that posts heartbeats to the control plane.

Whatever the control plane does (refuses the connection, hangs, answers 500, HTML or a JSON
array) ends as either a BeatReply or a BeatFailed: nothing else escapes, and every request is
bounded by the configured timeout. The token goes in the Authorization header only; it is
never part of a message or a log line.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import aiohttp

from bureau_agent import __version__

# A reply is read only this far: the agent needs at most {"intervalS": n}.
MAX_REPLY_BYTES = 64 * 1024
MIN_INTERVAL_S, MAX_INTERVAL_S = 1.0, 300.0


class BeatFailed(Exception):
    """One heartbeat did not get a 2xx reply; the message is safe to log."""


class BeatReply:
    def __init__(self, status: int, interval_s: float | None) -> None:
        self.status = status
        self.interval_s = interval_s  # None unless the control plane asked for a new interval


def parse_interval(body: bytes) -> float | None:
    """{"intervalS": n} with 1 <= n <= 300 from a reply body; anything else is ignored."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("intervalS")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S:
        return None
    return float(value)


class ControlPlaneClient:
    def __init__(self, url: str, token: str | None, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._headers = {"User-Agent": f"bureau-agent/{__version__}", "Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                # A small pool: one beat at a time; never follow redirects with the token to a new host.
                connector=aiohttp.TCPConnector(limit=2, force_close=False),
                raise_for_status=False,
            )
        return self._session

    async def post(self, body: dict[str, Any], timeout_s: float | None = None) -> BeatReply:
        """POST one beat; BeatReply on 2xx, BeatFailed otherwise."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        timeout = aiohttp.ClientTimeout(total=limit, connect=limit, sock_read=limit)
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        try:
            session = self._open()
            async with session.post(self.url, data=data, timeout=timeout, allow_redirects=False) as resp:
                if not 200 <= resp.status < 300:
                    raise BeatFailed(f"the control plane answered {resp.status}")
                reply = await resp.content.read(MAX_REPLY_BYTES)
                return BeatReply(resp.status, parse_interval(reply))
        except BeatFailed:
            raise
        except asyncio.TimeoutError:
            raise BeatFailed(f"no answer within {limit:g} s") from None
        except aiohttp.ClientError as exc:
            raise BeatFailed(f"{type(exc).__name__}: {exc}") from None
        except (OSError, ValueError) as exc:  # e.g. a URL aiohttp cannot use
            raise BeatFailed(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
