"""The public API's errors as exceptions, one class per error code.

Every error answer of the public API is `{"error": {"code", "message", "details"?}}` (a 403 also
carries `required` and `held` at the top level). `error_from_response` turns one into the class
named after its code, so a caller writes `except DesktopNotRunning:` rather than comparing
strings. A code this client does not know yet still raises a `BureauError` with that code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class BureauError(Exception):
    """An error answer of the public API (or, for ConnectionFailed, no answer at all)."""

    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        retry_after_s: float | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})
        self.retry_after_s = retry_after_s
        self.body: dict[str, Any] = dict(body or {})

    def __str__(self) -> str:
        prefix = f"{self.status} {self.code}" if self.status else self.code
        return f"{prefix}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class ConnectionFailed(BureauError):
    """The API could not be reached (refused, reset, timed out): there is no HTTP status."""

    code = "connection_failed"


class InvalidRequest(BureauError):
    code = "invalid_request"


class OutOfBounds(InvalidRequest):
    code = "out_of_bounds"


class UnknownKey(InvalidRequest):
    code = "unknown_key"


class Unauthorized(BureauError):
    code = "unauthorized"


class Forbidden(BureauError):
    """The key lacks the route's capability: `required` is the one it needs, `held` what it has."""

    code = "forbidden"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.required: str | None = self.body.get("required")
        self.held: list[str] = list(self.body.get("held") or [])


class PermissionDenied(BureauError):
    code = "permission_denied"


class NotFound(BureauError):
    code = "not_found"


class WindowNotFound(NotFound):
    code = "window_not_found"


class FileNotFound(NotFound):
    code = "file_not_found"


class MethodNotAllowed(BureauError):
    code = "method_not_allowed"


class Exists(BureauError):
    code = "exists"


class NotEmpty(BureauError):
    code = "not_empty"


class PayloadTooLarge(BureauError):
    code = "payload_too_large"


class Busy(BureauError):
    """Too many concurrent exec/bash/python/chat calls on the desktop (429, with Retry-After)."""

    code = "busy"


class RateLimited(BureauError):
    """The key's per-minute budget is spent (429, with Retry-After)."""

    code = "rate_limited"


class Unavailable(BureauError):
    """A 503: the desktop or one of its parts cannot serve the call right now."""

    code = "unavailable"


class DesktopNotRunning(Unavailable):
    code = "desktop_not_running"


class AgentNotReady(Unavailable):
    code = "agent_not_ready"


class AgentUnreachable(Unavailable):
    code = "agent_unreachable"


class DisplayUnavailable(Unavailable):
    code = "display_unavailable"


class ChatUnavailable(Unavailable):
    code = "chat_unavailable"


class AccessibilityUnavailable(Unavailable):
    code = "accessibility_unavailable"


class ChatTimeout(BureauError):
    code = "chat_timeout"


class ClipboardTimeout(BureauError):
    code = "clipboard_timeout"


class InsufficientStorage(BureauError):
    code = "insufficient_storage"


class BadGateway(BureauError):
    code = "bad_gateway"


class Internal(BureauError):
    code = "internal"


class DesktopFailed(BureauError):
    """wait_ready: the desktop went to status `error` (its boot failed or its agent died)."""

    code = "desktop_failed"


class ReadyTimeout(BureauError, TimeoutError):
    """wait_ready: the desktop was not running with agentReady within the timeout."""

    code = "ready_timeout"


ERRORS: dict[str, type[BureauError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest, OutOfBounds, UnknownKey, Unauthorized, Forbidden, PermissionDenied, NotFound,
        WindowNotFound, FileNotFound, MethodNotAllowed, Exists, NotEmpty, PayloadTooLarge, Busy,
        RateLimited, DesktopNotRunning, AgentNotReady, AgentUnreachable, DisplayUnavailable,
        ChatUnavailable, AccessibilityUnavailable, ChatTimeout, ClipboardTimeout, InsufficientStorage,
        BadGateway, Internal,
    )
}  # fmt: skip


# For an answer without the API's error body (a HEAD, a proxy's page): the class its status means.
BY_STATUS: dict[int, type[BureauError]] = {
    400: InvalidRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    409: BureauError, 413: PayloadTooLarge, 429: RateLimited, 502: BadGateway, 503: Unavailable, 500: Internal,
}  # fmt: skip


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (the delta form; an HTTP date is not used by this API)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> BureauError:
    """The exception for one error answer; a body that is not the API's error shape still gives one."""
    parsed: Any = None
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        pass
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code = error["code"]
        message = str(error.get("message") or code)
        details = error.get("details") if isinstance(error.get("details"), dict) else None
    else:
        code = f"http_{status}"
        message = body[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
        details = None
    cls = ERRORS.get(code) or BY_STATUS.get(status, BureauError)
    return cls(
        message,
        status=status,
        code=code,
        details=details,
        retry_after_s=retry_after(headers),
        body=parsed if isinstance(parsed, dict) else None,
    )
