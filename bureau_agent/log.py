"""One JSON object a line on stdout, for journald.

Callers never log a secret. Two guards catch what callers do not control: aiohttp's own report
of a request it could not parse quotes the raw header line (which may carry the bearer token),
so it is cut down to one line without the request text; and any secret given to setup_logging
is masked wherever it would still appear in a line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from bureau_agent.timestamps import utc_timestamp

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
MASK = "<redacted>"


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # longest first: a secret that contains another is masked whole
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def _mask(self, value: Any) -> Any:
        """value with every secret masked in every string it holds, before JSON encoding: in
        the encoded text a secret holding `"` or `\\` is escaped and would no longer match."""
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {self._mask(str(k)): self._mask(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self._mask(v) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self._mask(str(value))  # what json.dumps(default=str) would have written

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": utc_timestamp(record.created, timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if self.secrets:
            line = self._mask(line)
        return json.dumps(line, default=str, ensure_ascii=False)


def _quiet_bad_requests(record: logging.LogRecord) -> bool:
    """aiohttp.server: a malformed request becomes one warning line, without its text."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError):
        record.msg, record.args = "malformed request refused", ()
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        record.__dict__["status"] = exc.code
    return True


def setup_logging(level: str = "info", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server_log = logging.getLogger("aiohttp.server")
    server_log.filters[:] = [_quiet_bad_requests]
