"""The one way this code writes a wall-clock time: RFC 3339 in UTC with a `Z` (heartbeat
`sentAt`, `startedAt` in /v1/status, a local desktop's `createdAt`, log lines' `ts`)."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_timestamp(at: float | None = None, timespec: str = "seconds") -> str:
    """`at` (seconds since the epoch; default now) as `2026-01-02T03:04:05Z`; timespec as
    datetime.isoformat's (`seconds`, `milliseconds`)."""
    moment = datetime.now(timezone.utc) if at is None else datetime.fromtimestamp(at, timezone.utc)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")
