"""The control plane's own errors, in the same error root and shape as the agent's."""

from __future__ import annotations

from typing import Any

from bureau_agent.errors import AgentError


class Forbidden(AgentError):
    """The key is valid but lacks the route's capability; `required` and `held` are top-level."""

    status, code = 403, "forbidden"

    def __init__(self, required: str, held: tuple[str, ...]) -> None:
        super().__init__(f"This key lacks the capability {required} that this route requires.")
        self.required, self.held = required, list(held)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "required": self.required, "held": self.held}


class RateLimited(AgentError):
    status, code = 429, "rate_limited"

    def __init__(self, limit: int, retry_after_s: int) -> None:
        super().__init__(
            f"This key made more than {limit} requests in a minute; retry after {retry_after_s} s.",
            details={"limitPerMinute": limit},
            headers={
                "Retry-After": str(retry_after_s),
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
            },
        )


class DesktopUnavailable(AgentError):
    """503: the desktop cannot take control calls now (not running, agent not ready or unreachable)."""

    status = 503

    def __init__(self, code: str, message: str, details: dict[str, Any], retry_after_s: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after_s)} if retry_after_s else None
        super().__init__(message, details=details, headers=headers)
        self.code = code


class BadGateway(AgentError):
    status, code = 502, "bad_gateway"


class SessionRefused(AgentError):
    """403: a dashboard-session request from another origin, or a change without the dashboard's header."""

    status, code = 403, "forbidden"
