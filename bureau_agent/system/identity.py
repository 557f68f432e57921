"""Who this agent process is: version, a random boot id, and when it started."""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

from bureau_agent import __version__
from bureau_agent.timestamps import utc_timestamp


@dataclasses.dataclass(frozen=True)
class Identity:
    version: str
    boot_id: str
    started_at: str  # RFC 3339, UTC
    started_monotonic: float

    @classmethod
    def new(cls) -> Identity:
        return cls(
            version=__version__,
            boot_id=str(uuid.uuid4()),
            started_at=utc_timestamp(),
            started_monotonic=time.monotonic(),
        )

    def uptime_s(self) -> float:
        return round(time.monotonic() - self.started_monotonic, 3)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "bootId": self.boot_id, "startedAt": self.started_at, "uptimeS": self.uptime_s()}
