"""The one error root of the agent.

Every failure a caller can see is an AgentError: it carries the HTTP status, the snake_case code
of the API contract, one clear sentence and optional details. Domain code (desktop/, process/,
chat/) raises these without knowing about HTTP; the error middleware turns them into
`{"error": {"code", "message", "details"?}}`.
"""

from __future__ import annotations

from typing import Any


class AgentError(Exception):
    status: int = 500
    code: str = "internal"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = dict(headers or {})

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class InvalidRequest(AgentError):
    status, code = 400, "invalid_request"


class OutOfBounds(AgentError):
    status, code = 400, "out_of_bounds"


class UnknownKey(AgentError):
    status, code = 400, "unknown_key"


class Unauthorized(AgentError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str = "A valid bearer token is required.") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class NotFound(AgentError):
    status, code = 404, "not_found"


class WindowNotFound(AgentError):
    """A window id that is not (or no longer) a listed window, also when it vanished mid-call."""

    status, code = 404, "window_not_found"


class NoWindowManager(AgentError):
    """A window state only a window manager can give (minimized, maximized, fullscreen)."""

    status, code = 409, "no_window_manager"


class MethodNotAllowed(AgentError):
    status, code = 405, "method_not_allowed"

    def __init__(self, message: str, allowed: list[str]) -> None:
        super().__init__(message, headers={"Allow": ", ".join(sorted(allowed))})


class PayloadTooLarge(AgentError):
    status, code = 413, "payload_too_large"


class _RetryLater(AgentError):
    def __init__(self, message: str, retry_after_s: int = 1, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers["Retry-After"] = str(max(1, int(retry_after_s)))


class Busy(_RetryLater):
    status, code = 429, "busy"


class DisplayUnavailable(_RetryLater):
    status, code = 503, "display_unavailable"


class ChatUnavailable(AgentError):
    status, code = 503, "chat_unavailable"


class AccessibilityUnavailable(AgentError):
    """No accessibility bus can be reached; the message says what to start or set."""

    status, code = 503, "accessibility_unavailable"


class ChatTimeout(AgentError):
    status, code = 504, "chat_timeout"


class ClipboardTimeout(AgentError):
    status, code = 504, "clipboard_timeout"


class Internal(AgentError):
    status, code = 500, "internal"


class PermissionDenied(AgentError):
    status, code = 403, "permission_denied"


class FileNotFound(AgentError):
    status, code = 404, "file_not_found"


class Exists(AgentError):
    status, code = 409, "exists"


class NotEmpty(AgentError):
    status, code = 409, "not_empty"


class InsufficientStorage(AgentError):
    status, code = 507, "insufficient_storage"


class RangeNotSatisfiable(AgentError):
    status, code = 416, "range_not_satisfiable"
