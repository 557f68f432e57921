"""Settings: a TOML file, overridden by BUREAU_AGENT_* environment variables, overridden by flags.

Every setting is declared once in FIELDS with its type, default and range, so the file, the
environment and the flags are parsed and checked by the same code. A TOML table flattens into
its prefix: `[heartbeat] url = "…"` is the setting `heartbeat_url`, and the environment variable
`BUREAU_AGENT_HEARTBEAT_URL`. A bad value raises ConfigError naming the key.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import json
import math
import os
import shlex
import sys
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on the 3.10 desktop images
    import tomli as tomllib

DEFAULT_CONFIG_PATH = "/etc/bureau-agent/agent.toml"
ENV_PREFIX = "BUREAU_AGENT_"


class ConfigError(Exception):
    """A setting is missing or has a bad value; the message names the key."""


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    kind: type  # str, int, float, bool or list (of str)
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    secret: bool = False


MiB = 1024 * 1024

FIELDS: tuple[Field, ...] = (
    Field("listen", str, "127.0.0.1:7700", "HOST:PORT the HTTP API listens on"),
    Field("display", str, None, "X display to drive (default: $DISPLAY)"),
    Field("xauthority", str, None, "X authority file (default: $XAUTHORITY)"),
    Field("token", str, None, "bearer token (prefer token_file)", secret=True),
    Field("token_file", str, None, "file holding the bearer token"),
    Field("dev", bool, False, "development mode: no token, loopback only"),
    Field("log_level", str, "info", "log level", choices=("debug", "info", "warning", "error")),
    Field("max_body_bytes", int, 2 * MiB, "largest request body accepted", 1024, 64 * MiB),
    # At most 25: with the kill grace, the reaping and the 2 s last beat it stays inside the
    # unit's TimeoutStopSec=40 (tests/packaging checks the sum).
    Field("shutdown_grace_s", float, 10.0, "how long calls in flight may finish on their own on shutdown before they are ended (at most 25: with the kill grace and the last beat it must end within the unit's TimeoutStopSec=40)", 0, 25),
    Field("desktop_id", str, None, "this desktop's id, sent in heartbeats"),
    Field("heartbeat_url", str, None, "control-plane URL the heartbeat POSTs to (https://, unless loopback or heartbeat_allow_http)"),
    # The heartbeat's own credential: whoever receives beats must not be able to drive the desktop.
    Field("heartbeat_token", str, None, "heartbeat credential (development; prefer heartbeat_token_file)", secret=True),
    Field("heartbeat_token_file", str, None, "file holding the heartbeat credential (required with heartbeat_url; never the agent token)"),
    Field("heartbeat_allow_http", bool, False, "allow a plain-http heartbeat URL to a host that is not loopback (a trusted private link)"),
    Field("heartbeat_interval_s", float, 10.0, "seconds between heartbeats", 1, 300),
    Field("heartbeat_timeout_s", float, 5.0, "timeout of one heartbeat request", 0.1, 60),
    Field("heartbeat_startup_grace_s", float, 60.0, "seconds a never-ready agent reports `starting` before `degraded`", 0, 3600),
    Field("exec_max_concurrent", int, 8, "exec/bash/python calls running at once", 1, 1024),
    Field("exec_output_limit_bytes", int, MiB, "bytes kept per output stream", 1024, 256 * MiB),
    Field("exec_default_timeout_ms", int, 60_000, "timeout when a call names none", 1, 172_800_000),
    Field("exec_max_timeout_ms", int, 3_600_000, "largest timeoutMs accepted", 1, 172_800_000),
    Field("exec_kill_grace_ms", int, 2000, "TERM-to-KILL grace when a command is ended", 0, 60_000),
    Field("exec_user", str, None, "desktop user that commands run as when the agent is root"),
    Field("python", str, "python3", "interpreter for /v1/python"),
    Field("screenshot_cache_bytes", int, 32 * MiB, "encoded screenshots kept for an unchanged screen", 0, 1024 * MiB),
    Field("screenshot_max_concurrent", int, 2, "screenshot encodes running at once", 1, 64),
    Field("input_click_interval_ms", int, 15, "pause between the clicks of a double or triple click", 0, 500),
    Field("input_mapping_pause_ms", int, 5, "pause after binding spare keycodes, before typing", 0, 1000),
    Field("input_mapping_settle_ms", int, 150, "pause before a borrowed keycode is rebound or restored", 0, 1000),
    Field("input_mapping_restore_ms", int, 500, "idle time before borrowed keycodes are restored (0: end of call)", 0, 60_000),
    Field("input_drag_duration_ms", int, 300, "drag duration when a call names none", 0, 10_000),
    Field("input_reply_spin_us", int, 200, "input calls poll this long for the X server's answer, then wait (0: never; off on one CPU)", 0, 2000),
    Field("chat_backend", str, "none", "on-desktop AI agent kind", choices=("none", "openai", "command")),
    Field("chat_url", str, None, "openai backend: base URL of the chat-completions API (…/v1)"),
    Field("chat_api_key", str, None, "openai backend: bearer token sent to chat_url", secret=True),
    Field("chat_model", str, "default", "openai backend: model name sent with each request"),
    Field("chat_stream", bool, False, "openai backend: ask for a streamed (SSE) reply"),
    Field("chat_history_turns", int, 20, "openai backend: turns of history kept per conversation", 0, 1000),
    Field("chat_command", list, None, "command backend: argv of the agent; {message} is replaced by the message"),
    Field("chat_input", str, "argv", "command backend: how the message is passed", choices=("argv", "stdin")),
    Field("chat_reply_field", str, None, "command backend: dotted JSON path of the reply in stdout (none: plain text)"),
    Field("chat_session_field", str, None, "command backend: dotted JSON path of the session id in stdout"),
    Field("chat_new_session_args", list, None, "command backend: args added to a conversation's first message ({conversationId})"),
    Field("chat_resume_args", list, None, "command backend: args added to continue a session ({sessionId}, {conversationId})"),
    Field("chat_cwd", str, None, "command backend: working directory of the agent (default: the user's home)"),
    Field("chat_env", list, None, "command backend: NAME=VALUE variables added to the agent's environment", secret=True),
    Field("chat_timeout_ms", int, 300_000, "chat timeout when a call names none", 1, 3_600_000),
    Field("chat_max_timeout_ms", int, 1_800_000, "largest chat timeoutMs accepted", 1, 3_600_000),
    Field("chat_max_concurrent", int, 4, "chat calls running at once", 1, 256),
    Field("chat_max_message_chars", int, 100_000, "longest chat message accepted", 1, 1_000_000),
    Field("chat_max_reply_bytes", int, 4 * MiB, "largest reply read from the chat backend", 1024, 256 * MiB),
    Field("chat_max_conversations", int, 1000, "conversations remembered (least recently used dropped)", 1, 1_000_000),
    Field("chat_check_interval_s", float, 15.0, "seconds between reachability checks of the chat backend", 1, 3600),
    # Files (/v1/files): every operation runs as exec's user; see docs/files.md.
    Field("files_max_upload_bytes", int, 2048 * MiB, "largest file a PUT /v1/files accepts (streamed, never held in memory)", 0, 2**50),
    Field("files_max_entries", int, 10_000, "entries of a directory listing (the rest: truncated)", 1, 1_000_000),
    Field("files_max_concurrent", int, 8, "file operations running at once", 1, 256),
    Field("files_umask", str, "022", "umask (octal) of files and directories that /v1/files creates"),
    # Accessibility (GET /v1/accessibility): the whole request, every application read in parallel
    # within it; one that has not answered by then is skipped and named.
    Field("accessibility_timeout_ms", int, 3000, "time bound of one accessibility tree request", 100, 60_000),
    # windows and clipboard
    Field("windows_confirm_ms", int, 1000, "how long a window action waits for the window manager to apply it", 0, 10_000),
    Field("clipboard_max_bytes", int, 8 * MiB, "largest clipboard text set or read (UTF-8 bytes)", 1, 256 * MiB),
    Field("clipboard_timeout_ms", int, 2000, "how long a selection owner may take to answer (each INCR step too)", 50, 60_000),
    # Streams (GET /v1/screen/stream): each costs an encode per changed frame, so they are few.
    Field("stream_max_clients", int, 4, "screen streams open at once (more: 429 busy)", 1, 64),
    Field("events_max_clients", int, 16, "event streams (GET /v1/events) open at once (more: 429 busy)", 1, 256),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

MIN_MASKED_CHARS = 4


class Settings:
    """The resolved settings, one typed attribute per field of FIELDS (declared below, checked
    against FIELDS by tests/test_config.py), so that a misspelt setting fails type-checking, and
    at run time raises AttributeError, instead of reading as Any. `values` holds the same by
    name, `sources` where each came from (default, a file, $VARIABLE, flag)."""

    listen: str
    display: str | None
    xauthority: str | None
    token: str | None
    token_file: str | None
    dev: bool
    log_level: str
    max_body_bytes: int
    shutdown_grace_s: float
    desktop_id: str | None
    heartbeat_url: str | None
    heartbeat_token: str | None
    heartbeat_token_file: str | None
    heartbeat_allow_http: bool
    heartbeat_interval_s: float
    heartbeat_timeout_s: float
    heartbeat_startup_grace_s: float
    exec_max_concurrent: int
    exec_output_limit_bytes: int
    exec_default_timeout_ms: int
    exec_max_timeout_ms: int
    exec_kill_grace_ms: int
    exec_user: str | None
    python: str
    screenshot_cache_bytes: int
    screenshot_max_concurrent: int
    input_click_interval_ms: int
    input_mapping_pause_ms: int
    input_mapping_settle_ms: int
    input_mapping_restore_ms: int
    input_drag_duration_ms: int
    input_reply_spin_us: int
    chat_backend: str
    chat_url: str | None
    chat_api_key: str | None
    chat_model: str
    chat_stream: bool
    chat_history_turns: int
    chat_command: list[str] | None
    chat_input: str
    chat_reply_field: str | None
    chat_session_field: str | None
    chat_new_session_args: list[str] | None
    chat_resume_args: list[str] | None
    chat_cwd: str | None
    chat_env: list[str] | None
    chat_timeout_ms: int
    chat_max_timeout_ms: int
    chat_max_concurrent: int
    chat_max_message_chars: int
    chat_max_reply_bytes: int
    chat_max_conversations: int
    chat_check_interval_s: float
    files_max_upload_bytes: int
    files_max_entries: int
    files_max_concurrent: int
    files_umask: str
    accessibility_timeout_ms: int
    windows_confirm_ms: int
    clipboard_max_bytes: int
    clipboard_timeout_ms: int
    stream_max_clients: int
    events_max_clients: int

    def __init__(self, values: dict[str, Any], sources: dict[str, str]) -> None:
        self.values = values
        self.sources = sources
        for name, value in values.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"Settings({self.redacted()!r})"

    @property
    def listen_host(self) -> str:
        return split_listen(self.values["listen"])[0]

    @property
    def listen_port(self) -> int:
        return split_listen(self.values["listen"])[1]

    def secret_values(self, *tokens: str | None) -> list[str]:
        """Every text that log lines must mask: each secret field's value, and the resolved tokens
        (the agent token and the heartbeat credential, which may come from files).

        A list (chat_env) gives each item, and each NAME=VALUE item its VALUE too, since a
        command line or error message may quote the value alone. Values shorter than
        MIN_MASKED_CHARS are left out: they cannot be credentials, and masking `1` would
        shred every line.
        """
        found: list[str] = [t for t in tokens if t]
        for field in FIELDS:
            value = self.values.get(field.name)
            if not field.secret or not value:
                continue
            for item in value if isinstance(value, list) else [value]:
                found.append(item)
                _, sep, rest = item.partition("=")
                if field.kind is list and sep:
                    found.append(rest)
        return list(dict.fromkeys(s for s in found if len(s) >= MIN_MASKED_CHARS))

    def redacted(self) -> dict[str, Any]:
        """The settings as they may be logged: secrets replaced."""
        return {
            k: ("<redacted>" if FIELDS_BY_NAME[k].secret and v else v) for k, v in self.values.items()
        }


TABLE_START = "<!-- settings table: generated from config.FIELDS by `python -m bureau_agent.config docs/configuration.md` -->"
TABLE_END = "<!-- end of the settings table -->"


def _markdown_value(value: Any) -> str:
    """value as it is written in the TOML file."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (str, list)):
        return f"`{json.dumps(value)}`"
    return f"`{value!r}`"


def _markdown_bound(field: Field, bound: float) -> str:
    return str(int(bound)) if field.kind is int or bound == int(bound) else f"{bound:g}"


def markdown_table() -> str:
    """The settings table of docs/configuration.md: FIELDS is the one place for the help text."""
    rows = ["| setting | type | default | range | meaning |", "|---|---|---|---|---|"]
    for f in FIELDS:
        if f.choices:
            allowed = " / ".join(f.choices)
        elif f.minimum is not None and f.maximum is not None:
            allowed = f"{_markdown_bound(f, f.minimum)} – {_markdown_bound(f, f.maximum)}"
        else:
            allowed = ""
        meaning = (f.help + (" (secret: never logged)" if f.secret else "")).replace("|", "\\|")
        rows.append(f"| `{f.name}` | {f.kind.__name__} | {_markdown_value(f.default)} | {allowed} | {meaning} |")
    return "\n".join(rows) + "\n"


def with_markdown_table(page: str) -> str:
    """page with the text between TABLE_START and TABLE_END replaced by markdown_table()."""
    head, start, rest = page.partition(TABLE_START)
    _, end, tail = rest.partition(TABLE_END)
    if not start or not end:
        raise ValueError("the page lacks the settings table markers")
    return f"{head}{TABLE_START}\n{markdown_table()}{TABLE_END}{tail}"


def parse_umask(value: str) -> int:
    """An octal umask such as 022 or 0027."""
    text = value.strip()
    if not (1 <= len(text) <= 4 and all(c in "01234567" for c in text)) or int(text, 8) > 0o777:
        raise ConfigError(f"files_umask: {value!r} is not an octal umask such as 022")
    return int(text, 8)


def split_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"listen: {value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _coerce(field: Field, raw: Any, from_text: bool) -> Any:
    """Turn a raw value (TOML value, or text from the environment/flags) into the field's type."""
    name = field.name
    if field.kind is bool:
        if isinstance(raw, bool):
            return raw
        if from_text and str(raw).strip().lower() in ("1", "true", "yes", "on"):
            return True
        if from_text and str(raw).strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: {raw!r} is not a boolean (true or false)")
    if field.kind is list:
        if from_text and isinstance(raw, str):
            text = raw.strip()
            try:
                raw = json.loads(text) if text.startswith("[") else shlex.split(text)
            except (ValueError, RecursionError) as exc:  # bad JSON, unbalanced quotes
                raise ConfigError(f"{name}: {raw!r} is neither a JSON array nor shell words ({exc})") from None
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise ConfigError(f"{name}: {raw!r} is not a list of strings")
        return raw
    if field.kind in (int, float):
        if isinstance(raw, bool):
            raise ConfigError(f"{name}: {raw!r} is not a number")
        try:
            value = field.kind(raw) if (from_text or isinstance(raw, (int, float))) else None
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf) from TOML
            value = None
        if value is None or (field.kind is int and isinstance(raw, float) and raw != int(raw)):
            raise ConfigError(f"{name}: {raw!r} is not {'an integer' if field.kind is int else 'a number'}")
        # nan compares false with both bounds, and inf is no usable duration: refuse both here.
        if not math.isfinite(value):
            raise ConfigError(f"{name}: {raw!r} is not a finite number")
        if field.minimum is not None and value < field.minimum:
            raise ConfigError(f"{name}: {value} is below the minimum {field.minimum:g}")
        if field.maximum is not None and value > field.maximum:
            raise ConfigError(f"{name}: {value} is above the maximum {field.maximum:g}")
        return value
    if not isinstance(raw, str):
        raise ConfigError(f"{name}: {raw!r} is not a string")
    if field.choices and raw not in field.choices:
        raise ConfigError(f"{name}: {raw!r} is not one of {', '.join(field.choices)}")
    return raw


def _flatten_toml(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}".replace("-", "_")
        if isinstance(value, dict):
            flat.update(_flatten_toml(value, name + "_"))
        else:
            flat[name] = value
    return flat


def read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return _flatten_toml(tomllib.load(fh))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None


def load_settings(
    config_path: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every setting: defaults < TOML file < environment < overrides (flags).

    A missing file is only an error when it was named explicitly (flag or environment).
    """
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    values: dict[str, Any] = {f.name: f.default for f in FIELDS}
    sources: dict[str, str] = {f.name: "default" for f in FIELDS}

    # Plain X environment variables are the natural defaults for the display settings.
    for name, var in (("display", "DISPLAY"), ("xauthority", "XAUTHORITY")):
        if env.get(var):
            values[name], sources[name] = env[var], f"${var}"

    path = overrides.pop("config", None) or config_path or env.get(ENV_PREFIX + "CONFIG")
    explicit = path is not None
    path = path or DEFAULT_CONFIG_PATH
    if explicit or os.path.exists(path):
        for name, raw in read_toml(path).items():
            field = FIELDS_BY_NAME.get(name)
            if field is None:
                raise ConfigError(f"{name}: unknown setting in {path}")
            values[name], sources[name] = _coerce(field, raw, from_text=False), path

    for var, raw in env.items():
        if not var.startswith(ENV_PREFIX) or var == ENV_PREFIX + "CONFIG":
            continue
        name = var[len(ENV_PREFIX):].lower()
        field = FIELDS_BY_NAME.get(name)
        if field is None:
            raise ConfigError(f"{var}: unknown setting")
        values[name], sources[name] = _coerce(field, raw, from_text=True), f"${var}"

    for name, raw in overrides.items():
        field = FIELDS_BY_NAME.get(name)
        if field is None:
            raise ConfigError(f"{name}: unknown setting")
        if raw is None:
            continue
        values[name], sources[name] = _coerce(field, raw, from_text=isinstance(raw, str)), "flag"

    split_listen(values["listen"])
    if values["exec_default_timeout_ms"] > values["exec_max_timeout_ms"]:
        raise ConfigError("exec_default_timeout_ms: larger than exec_max_timeout_ms")
    if values["chat_timeout_ms"] > values["chat_max_timeout_ms"]:
        raise ConfigError("chat_timeout_ms: larger than chat_max_timeout_ms")
    parse_umask(values["files_umask"])
    return Settings(values=values, sources=sources)


def default_settings() -> Settings:
    """Every setting at its default: no file, no environment, no flag."""
    return Settings(values={f.name: f.default for f in FIELDS}, sources={f.name: "default" for f in FIELDS})


def resolve_token(settings: Settings, environ: Mapping[str, str] | None = None) -> str | None:
    """The bearer token: `token`, else `token_file`, else systemd's LoadCredential `token`.

    Returns None only in development mode; otherwise a missing token is a ConfigError.
    """
    env = os.environ if environ is None else environ
    token = settings.token
    source = "token"
    if not token:
        path = settings.token_file
        cred_dir = env.get("CREDENTIALS_DIRECTORY")
        if not path and cred_dir and os.path.exists(os.path.join(cred_dir, "token")):
            path = os.path.join(cred_dir, "token")
        if path:
            source = "token_file"
            token = _read_secret_file(source, path)
    if token:
        if len(token) < 16:
            raise ConfigError(f"{source}: the token is shorter than 16 characters")
        return token
    if settings.dev:
        if not is_loopback(settings.listen_host):
            raise ConfigError(f"listen: development mode binds loopback only, not {settings.listen_host}")
        return None
    raise ConfigError(
        "token: no token configured; set BUREAU_AGENT_TOKEN_FILE (or token_file), "
        "or run with --dev on loopback"
    )


def _read_secret_file(name: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: {path} is not UTF-8 text") from None


def check_heartbeat_url(settings: Settings) -> None:
    """A heartbeat URL is https://, or plain http to a loopback host or with heartbeat_allow_http."""
    url = settings.heartbeat_url
    if not url:
        return
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"heartbeat_url: {url!r} is not an http(s) URL")
    if parsed.scheme == "http" and not is_loopback(parsed.hostname) and not settings.heartbeat_allow_http:
        raise ConfigError(
            f"heartbeat_url: {url!r} is plain http to {parsed.hostname}, which is not loopback: "
            "use https://, or set heartbeat_allow_http when the link to the control plane is trusted"
        )


def resolve_heartbeat_token(
    settings: Settings, agent_token: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The heartbeat's credential: `heartbeat_token`, else `heartbeat_token_file`, else systemd's
    LoadCredential `heartbeat-token`. None when no heartbeat URL is set; otherwise it is
    required, and never the agent token (whoever receives beats must not drive the desktop)."""
    if not settings.heartbeat_url:
        return None
    check_heartbeat_url(settings)
    token = settings.heartbeat_token
    source = "heartbeat_token"
    if not token:
        path = settings.heartbeat_token_file
        cred_dir = (os.environ if environ is None else environ).get("CREDENTIALS_DIRECTORY")
        if not path and cred_dir and os.path.exists(os.path.join(cred_dir, "heartbeat-token")):
            path = os.path.join(cred_dir, "heartbeat-token")
        if path:
            source = "heartbeat_token_file"
            token = _read_secret_file(source, path)
    if not token:
        raise ConfigError(
            "heartbeat_token_file: a heartbeat URL is set but no heartbeat credential; set "
            "heartbeat_token_file (BUREAU_AGENT_HEARTBEAT_TOKEN_FILE) to a file holding it"
        )
    if len(token) < 16:
        raise ConfigError(f"{source}: the heartbeat credential is shorter than 16 characters")
    if agent_token is not None and hmac.compare_digest(token.encode(), agent_token.encode()):
        raise ConfigError(f"{source}: the heartbeat credential must not be the agent token")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":  # python -m bureau_agent.config docs/configuration.md: regenerate its table
    for doc in sys.argv[1:]:
        Path(doc).write_text(with_markdown_table(Path(doc).read_text(encoding="utf-8")), encoding="utf-8")
