"""Log lines are JSON, and the two guards keep a token out of them."""

from __future__ import annotations

import json
import logging

from aiohttp.http_exceptions import BadHttpMessage

from bureau_agent.config import load_settings
from bureau_agent.log import JsonFormatter, _quiet_bad_requests, setup_logging

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


def test_secrets_with_json_escapes_are_masked_everywhere_in_a_line() -> None:
    # `"` and `\\` are escaped in JSON text: masking must happen before encoding.
    secrets = ['pass"word\\with-quote', "tab\tand\nnewline-secret"]
    record = make_record(
        f"saw {secrets[0]}",
        RuntimeError(f"boom {secrets[1]}"),
        nested={"argv": ["agent", secrets[0]], secrets[1]: 1},
        other=ValueError(secrets[0]),
    )
    line = JsonFormatter(secrets).format(record)
    data = json.loads(line)
    for secret in secrets:
        assert secret not in line and json.dumps(secret)[1:-1] not in line
        assert secret not in json.dumps(data, ensure_ascii=False)
    assert data["msg"] == "saw <redacted>" and data["nested"] == {"argv": ["agent", "<redacted>"], "<redacted>": 1}
    assert data["other"] == "<redacted>" and "boom <redacted>" in data["exc"]


def test_a_secret_containing_another_is_masked_whole() -> None:
    line = JsonFormatter(["abcd", "abcdefgh-longer"]).format(make_record("x abcdefgh-longer y"))
    assert json.loads(line)["msg"] == "x <redacted> y"


def test_every_secret_setting_is_masked_once_logging_is_set_up(capsys: object) -> None:
    settings = load_settings(
        environ={
            "BUREAU_AGENT_CHAT_API_KEY": "sk-chat-key-0123456789",
            "BUREAU_AGENT_CHAT_ENV": '["AGENT_KEY=env-secret-value", "DEBUG=1"]',
        },
        overrides={"config": "/dev/null"},
    )
    try:
        setup_logging("info", secrets=settings.secret_values(SECRET))
        logging.getLogger("bureau_agent.test").warning(
            "spawned", extra={"argv": ["agent", "--key", "sk-chat-key-0123456789"], "env": "AGENT_KEY=env-secret-value", "value": "env-secret-value", "token": SECRET}
        )
    finally:
        logging.getLogger().handlers[:] = []
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    data = json.loads(out.strip().splitlines()[-1])
    for secret in ("sk-chat-key-0123456789", "env-secret-value", SECRET):
        assert secret not in out
    assert data["argv"] == ["agent", "--key", "<redacted>"] and data["env"] == "<redacted>"
    assert data["value"] == "<redacted>" and data["token"] == "<redacted>"
