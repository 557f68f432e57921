"""Log lines are JSON, and the two guards keep a token out of them."""

from __future__ import annotations

import json
import logging

from aiohttp.http_exceptions import BadHttpMessage

from bureau_agent.log import JsonFormatter, _quiet_bad_requests

SECRET = "log-secret-token-0123456789"


def make_record(msg: str, exc: BaseException | None = None, **extra: object) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc else None
    record = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, msg, (), exc_info)
    record.__dict__.update(extra)
    return record


def test_lines_are_json_with_extras_and_secrets_masked() -> None:
    line = JsonFormatter([SECRET]).format(make_record(f"saw {SECRET}", header=f"Bearer {SECRET}"))
    data = json.loads(line)
    assert data["level"] == "error" and data["logger"] == "aiohttp.server"
    assert SECRET not in line and data["header"] == "Bearer <redacted>"


def test_a_malformed_request_is_one_warning_without_its_text() -> None:
    exc = BadHttpMessage(f"Invalid header value char: b'Authorization: Bearer {SECRET}\\x00'")
    record = make_record("Error handling request", exc)
    assert _quiet_bad_requests(record)
    line = JsonFormatter().format(record)  # no masking: the filter alone must drop the text
    data = json.loads(line)
    assert SECRET not in line and "exc" not in data
    assert data["level"] == "warning" and data["msg"] == "malformed request refused" and data["status"] == 400


def test_other_errors_keep_their_traceback() -> None:
    record = make_record("boom", RuntimeError("kept"))
    assert _quiet_bad_requests(record)
    assert "kept" in json.loads(JsonFormatter().format(record))["exc"]
