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
    apps = [["xterm"]]               # programs started on the display after the window manager
    agent_args = ["--set", "chat_backend=none"]   # extra flags for its `bureau-agent serve`
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bureau_agent.config import ConfigError, split_listen
from bureau_agent.controlplane.keys import ApiKey, KeyConfigError, key_from_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on the 3.10 desktop images
    import tomli as tomllib

MiB = 1024 * 1024
DESKTOP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclasses.dataclass(frozen=True)
class DesktopConfig:
    id: str
    name: str
    tier: str = "local"
    width: int = 1280
    height: int = 800
    window_manager: list[str] = dataclasses.field(default_factory=lambda: ["openbox", "--sm-disable"])
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
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_document(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"control-plane config {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError(f"control-plane config {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"control-plane config {path}: expected a table/object at the top")
    return data


def _typed(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any, where: str) -> Any:
    value = data.get(name, default)
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}{name}: {value!r} has the wrong type")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}{name}: {value!r} has the wrong type")
    return value


def _argv_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return list(value)


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
    width = _typed(entry, "width", int, 1280, where)
    height = _typed(entry, "height", int, 800, where)
    if not (64 <= width <= 8192 and 64 <= height <= 8192):
        raise ConfigError(f"{where}width/height: {width}x{height} is outside 64..8192")
    apps = entry.get("apps", [])
    if not isinstance(apps, list):
        raise ConfigError(f"{where}apps: expected a list of argv lists")
    return DesktopConfig(
        id=desktop_id,
        name=_typed(entry, "name", str, desktop_id, where),
        tier=_typed(entry, "tier", str, "local", where),
        width=width,
        height=height,
        window_manager=_argv_list(entry.get("window_manager", ["openbox", "--sm-disable"]), where + "window_manager"),
        apps=[_argv_list(a, f"{where}apps[{i}]") for i, a in enumerate(apps)],
        agent_args=_argv_list(entry.get("agent_args", []), where + "agent_args"),
        autostart=_typed(entry, "autostart", bool, False, where),
        destroyed=_typed(entry, "destroyed", bool, False, where),
        created_at=_typed(entry, "created_at", str, "", where) or _now_iso(),
    )


def load_config(path: str | os.PathLike[str]) -> ControlPlaneConfig:
    file = Path(path).resolve()
    data = read_document(file)
    known = {f.name for f in dataclasses.fields(ControlPlaneConfig)} - {"path"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown setting in {file}")
    try:
        keys = tuple(key_from_config(e, i) for i, e in enumerate(data.get("keys", [])))
    except KeyConfigError as exc:
        raise ConfigError(str(exc)) from None
    desktops = tuple(desktop_from_config(e, i) for i, e in enumerate(data.get("desktops", [])))
    ids = [d.id for d in desktops]
    if len(set(ids)) != len(ids):
        raise ConfigError("desktops: two desktops share an id")
    listen = _typed(data, "listen", str, "127.0.0.1:8700", "")
    split_listen(listen)
    state_dir = Path(_typed(data, "state_dir", str, "state", ""))
    rate = _typed(data, "rate_limit_per_minute", int, 60, "")
    interval = float(_typed(data, "heartbeat_interval_s", (int, float), 10.0, ""))
    boot_timeout = float(_typed(data, "boot_timeout_s", (int, float), 30.0, ""))
    grace = float(_typed(data, "stop_grace_s", (int, float), 5.0, ""))
    max_body = _typed(data, "max_body_bytes", int, 4 * MiB, "")
    if rate < 1:
        raise ConfigError(f"rate_limit_per_minute: {rate} is below 1")
    if not 1 <= interval <= 300:
        raise ConfigError(f"heartbeat_interval_s: {interval:g} is outside 1..300")
    return ControlPlaneConfig(
        path=file,
        listen=listen,
        state_dir=state_dir if state_dir.is_absolute() else file.parent / state_dir,
        rate_limit_per_minute=rate,
        heartbeat_interval_s=interval,
        boot_timeout_s=boot_timeout,
        stop_grace_s=grace,
        max_body_bytes=max_body,
        keys=keys,
        desktops=desktops,
    )


def append_key(path: str | os.PathLike[str], key: ApiKey) -> None:
    """Add a key entry to the file (the key's hash only), keeping the rest of the file as it is."""
    file = Path(path)
    if file.suffix == ".json":
        data = read_document(file)
        data.setdefault("keys", []).append(key.to_config())
        text = json.dumps(data, indent=2) + "\n"
        file.write_text(text, encoding="utf-8")
        return
    entry = key.to_config()
    lines = ["", "[[keys]]"]
    for name, value in entry.items():
        lines.append(f"{name} = {json.dumps(value)}")  # JSON strings, ints and string lists are valid TOML
    with file.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
