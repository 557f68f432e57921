"""The control plane's configuration: one TOML or JSON file (chosen by its extension).

    listen = "127.0.0.1:8700"
    state_dir = "state"              # relative to the file; token files and logs go here
    rate_limit_per_minute = 60
    heartbeat_interval_s = 10        # asked of every agent, and told again in each beat's reply

    [[keys]]
    name = "dev"
    hash = "sha256:…"                # bureau-agent control-plane new-key adds these
    capabilities = ["desktop:read", "desktop:lifecycle", "desktop:control", "desktop:chat"]

    [[desktops]]
    id = "dsk_local1"
    name = "Local desktop"
    autostart = true
    session = "openbox"              # or "xfce": xfwm4, xfdesktop, xfce4-panel, D-Bus and AT-SPI
    apps = [["xterm"]]               # programs started on the display after the window manager
    agent_args = ["--set", "chat_backend=none"]   # extra flags for its `bureau-agent serve`
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bureau_agent.config import ConfigError, Field, _coerce, split_listen, tomllib
from bureau_agent.controlplane.keys import ApiKey, KeyConfigError, key_from_config
from bureau_agent.timestamps import utc_timestamp

MiB = 1024 * 1024
SESSIONS = ("openbox", "xfce")  # what controlplane/session.py starts for each
DESKTOP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclasses.dataclass(frozen=True)
class DesktopConfig:
    id: str
    name: str
    tier: str = "local"
    width: int = 1280
    height: int = 800
    session: str = "openbox"  # controlplane/session.py: "openbox" (light) or "xfce" (like production)
    window_manager: list[str] | None = None  # None: the session's own
    apps: list[list[str]] = dataclasses.field(default_factory=list)
    agent_args: list[str] = dataclasses.field(default_factory=list)  # extra `serve` flags
    autostart: bool = False
    destroyed: bool = False
    created_at: str = ""


@dataclasses.dataclass(frozen=True)
class ControlPlaneConfig:
    path: Path
    listen: str = "127.0.0.1:8700"
    state_dir: Path = Path("state")
    rate_limit_per_minute: int = 60
    heartbeat_interval_s: float = 10.0
    boot_timeout_s: float = 30.0
    stop_grace_s: float = 5.0
    max_body_bytes: int = 4 * MiB
    keys: tuple[ApiKey, ...] = ()
    desktops: tuple[DesktopConfig, ...] = ()

    @property
    def listen_host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return split_listen(self.listen)[1]


def _now_iso() -> str:
    return utc_timestamp()


def parse_document(text: str, path: Path) -> dict[str, Any]:
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError(f"control-plane config {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"control-plane config {path}: expected a table/object at the top")
    return data


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"control-plane config {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"control-plane config {path}: {exc}") from None


def read_document(path: Path) -> dict[str, Any]:
    return parse_document(read_text(path), path)


def _typed(
    data: Mapping[str, Any],
    name: str,
    kind: type,
    default: Any,
    where: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
) -> Any:
    """data[name] (or default) checked by the agent's own coercion: type, then range."""
    field = Field(where + name, kind, default, help="", minimum=minimum, maximum=maximum)
    return _coerce(field, data.get(name, default), from_text=False)  # it refuses TOML's nan and inf too


def _argv_list(value: Any, where: str, program: bool = False) -> list[str]:
    """A list of strings; program: an argv to run, so it needs at least the program's name."""
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value) or (program and not value):
        raise ConfigError(f"{where}: expected a {'non-empty ' if program else ''}list of strings")
    return list(value)


def _session(entry: Mapping[str, Any], where: str) -> str:
    session = _typed(entry, "session", str, "openbox", where)
    if session not in SESSIONS:
        raise ConfigError(f"{where}session: {session!r} is not one of {', '.join(SESSIONS)}")
    return str(session)


def desktop_from_config(entry: Any, index: int) -> DesktopConfig:
    where = f"desktops[{index}]."
    if not isinstance(entry, Mapping):
        raise ConfigError(f"desktops[{index}]: expected a table")
    known = {f.name for f in dataclasses.fields(DesktopConfig)}
    unknown = set(entry) - known
    if unknown:
        raise ConfigError(f"{where}{sorted(unknown)[0]}: unknown field")
    desktop_id = _typed(entry, "id", str, None, where) if "id" in entry else None
    if desktop_id is None or not DESKTOP_ID.match(desktop_id):
        raise ConfigError(f"{where}id: expected 1-64 letters, digits, '_' or '-'")
    width = _typed(entry, "width", int, 1280, where, 64, 8192)
    height = _typed(entry, "height", int, 800, where, 64, 8192)
    apps = entry.get("apps", [])
    if not isinstance(apps, list):
        raise ConfigError(f"{where}apps: expected a list of argv lists")
    return DesktopConfig(
        id=desktop_id,
        name=_typed(entry, "name", str, desktop_id, where),
        tier=_typed(entry, "tier", str, "local", where),
        width=width,
        height=height,
        session=_session(entry, where),
        window_manager=_argv_list(entry["window_manager"], where + "window_manager") if "window_manager" in entry else None,
        apps=[_argv_list(a, f"{where}apps[{i}]", program=True) for i, a in enumerate(apps)],
        agent_args=_argv_list(entry.get("agent_args", []), where + "agent_args"),
        autostart=_typed(entry, "autostart", bool, False, where),
        destroyed=_typed(entry, "destroyed", bool, False, where),
        created_at=_typed(entry, "created_at", str, "", where) or _now_iso(),
    )


def config_from_document(data: Mapping[str, Any], file: Path) -> ControlPlaneConfig:
    """The configuration a parsed document describes; file is where it lives (state_dir is relative to it)."""
    known = {f.name for f in dataclasses.fields(ControlPlaneConfig)} - {"path"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown setting in {file}")
    keys = data.get("keys", [])
    desktops = data.get("desktops", [])
    if not isinstance(keys, list) or not isinstance(desktops, list):
        raise ConfigError("keys, desktops: expected arrays of tables")
    try:
        api_keys = tuple(key_from_config(e, i) for i, e in enumerate(keys))
    except KeyConfigError as exc:
        raise ConfigError(str(exc)) from None
    desktop_configs = tuple(desktop_from_config(e, i) for i, e in enumerate(desktops))
    ids = [d.id for d in desktop_configs]
    if len(set(ids)) != len(ids):
        raise ConfigError("desktops: two desktops share an id")
    listen = _typed(data, "listen", str, "127.0.0.1:8700")
    split_listen(listen)
    state_dir = Path(_typed(data, "state_dir", str, "state"))
    return ControlPlaneConfig(
        path=file,
        listen=listen,
        state_dir=state_dir if state_dir.is_absolute() else file.parent / state_dir,
        rate_limit_per_minute=_typed(data, "rate_limit_per_minute", int, 60, minimum=1),
        heartbeat_interval_s=_typed(data, "heartbeat_interval_s", float, 10.0, minimum=1, maximum=300),
        # a boot needs Xvfb, the window manager and a Python process: under a second fails every boot
        boot_timeout_s=_typed(data, "boot_timeout_s", float, 30.0, minimum=1),
        stop_grace_s=_typed(data, "stop_grace_s", float, 5.0, minimum=0),
        max_body_bytes=_typed(data, "max_body_bytes", int, 4 * MiB, minimum=1024),
        keys=api_keys,
        desktops=desktop_configs,
    )


def load_config(path: str | os.PathLike[str]) -> ControlPlaneConfig:
    file = Path(path).resolve()
    return config_from_document(read_document(file), file)


def toml_value(value: Any) -> str:
    """A string, number, boolean or (nested) list as TOML.

    JSON's forms are TOML's too, provided non-ASCII stays literal (TOML has no surrogate-pair
    escapes, so json's default \\ud83d\\ude00 would be refused) and DEL is escaped (TOML requires
    it; json escapes the other control characters already).
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")  # a lone surrogate (undecodable argv bytes) has no TOML form
    except (ValueError, UnicodeEncodeError):
        raise ConfigError(f"{value!r} cannot be written as TOML (not a finite number or not valid UTF-8)") from None
    return text.replace("\x7f", "\\u007f")


def toml_entry(name: str, entry: Mapping[str, Any]) -> list[str]:
    """The lines of one entry of the TOML array of tables `name`."""
    return [f"[[{name}]]"] + [f"{key} = {toml_value(value)}" for key, value in entry.items()]


def write_new(path: Path, text: str, appended: bool = False) -> None:
    """Write (or append) text only once the resulting file loads: a bad value is refused here,
    not by every later command that reads the file."""
    whole = read_text(path) + text if appended else text
    config_from_document(parse_document(whole, path), path.resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, whole)


def replace_file(path: Path, text: str) -> None:
    """Write a temporary file next to path, flush it to disk, then rename it over path: a crash
    leaves the old file or the new one, never half of either (the keys live in this file).
    An existing file keeps its mode; a new one is 0600 (it holds key hashes and desktop ids)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def append_key(path: str | os.PathLike[str], key: ApiKey) -> None:
    """Add a key entry to the file (the key's hash only), keeping the rest of the file as it is."""
    file = Path(path)
    if file.suffix == ".json":
        data = read_document(file)
        keys = data.setdefault("keys", [])
        if not isinstance(keys, list):
            raise ConfigError("keys: expected an array")
        keys.append(key.to_config())
        write_new(file, json.dumps(data, indent=2) + "\n")
        return
    write_new(file, "\n" + "\n".join(toml_entry("keys", key.to_config())) + "\n", appended=True)
