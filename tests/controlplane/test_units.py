"""The pure parts: keys, the rate limiter, liveness, configuration, the CLI verbs."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from bureau_agent.cli import main
from bureau_agent.config import ConfigError
from bureau_agent.controlplane.app import heartbeat_base
from bureau_agent.controlplane.config import load_config, toml_value
from bureau_agent.controlplane.keys import (
    CAPABILITIES,
    ApiKey,
    KeyConfigError,
    KeyStore,
    generate_key,
    hash_key,
    key_from_config,
)
from bureau_agent.controlplane.liveness import Liveness
from bureau_agent.controlplane.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# keys ------------------------------------------------------------------------------------------


def test_generated_keys_are_distinct_and_prefixed() -> None:
    a, b = generate_key(), generate_key()
    assert a != b and a.startswith("sk_live_") and len(a) > 40


def test_keystore_finds_a_key_by_its_hash_only() -> None:
    key = generate_key()
    other = generate_key()
    store = KeyStore([ApiKey("a", hash_key(other), ()), ApiKey("b", hash_key(key), ("desktop:read",))])
    found = store.authenticate(key)
    assert found is not None and found.name == "b"
    assert store.authenticate(key[:-1]) is None
    assert store.authenticate(key + "x") is None
    assert store.authenticate("") is None
    assert store.authenticate(hash_key(key)) is None  # the stored hash is not a credential
    assert key not in repr(found)


def test_key_config_refuses_plain_keys_and_unknown_capabilities() -> None:
    key = generate_key()
    with pytest.raises(KeyConfigError, match=r"keys\[0\].hash"):
        key_from_config({"name": "x", "hash": key, "capabilities": []}, 0)
    with pytest.raises(KeyConfigError, match="desktop:admin"):
        key_from_config({"hash": hash_key(key), "capabilities": ["desktop:admin"]}, 0)
    with pytest.raises(KeyConfigError, match="'key'"):
        key_from_config({"hash": hash_key(key), "key": key}, 0)


@pytest.mark.parametrize("digest", ["sha256:" + "é" * 64, "sha256:" + "g" * 64, "sha256:" + "a" * 63 + "\n"])
def test_key_config_refuses_a_hash_that_is_not_hex(digest: str) -> None:
    # A non-ASCII hash used to load and then make authenticate() raise on every request.
    with pytest.raises(KeyConfigError, match=r"keys\[0\].hash"):
        key_from_config({"hash": digest, "capabilities": []}, 0)
    upper = key_from_config({"hash": hash_key("sk_live_x").upper().replace("SHA256:", "sha256:")}, 0)
    assert KeyStore([upper]).authenticate("sk_live_x") == upper


# rate limit ------------------------------------------------------------------------------------


def test_rate_limit_allows_a_burst_then_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert [limiter.take("k", 60).allowed for _ in range(60)] == [True] * 60
    refused = limiter.take("k", 60)
    assert not refused.allowed and refused.retry_after_s == 1
    assert limiter.take("other", 60).allowed  # per key
    clock.now += 1.0
    assert limiter.take("k", 60).allowed
    assert not limiter.take("k", 60).allowed


def test_retry_after_reflects_a_slow_limit() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert limiter.take("k", 2).allowed and limiter.take("k", 2).allowed
    assert limiter.take("k", 2).retry_after_s == 30
    clock.now += 20
    assert limiter.take("k", 2).retry_after_s == 10


# liveness --------------------------------------------------------------------------------------


def _beat(seq: int, ready: bool = True, state: str = "ready", boot: str = "b1") -> dict:
    return {"bootId": boot, "seq": seq, "state": state, "agentReady": ready}


def test_liveness_bridge_until_the_first_beat() -> None:
    live = Liveness(10, Clock())
    assert live.ready is False
    live.set_bridge(True)
    assert live.ready is True
    assert live.record(_beat(1, ready=False))
    assert live.ready is False  # beats rule once they arrive
    live.set_bridge(True)
    assert live.ready is False


def test_liveness_goes_stale_without_beats() -> None:
    clock = Clock()
    live = Liveness(2, clock)
    live.record(_beat(1))
    clock.now += live.stale_after_s
    assert live.ready is True
    clock.now += 0.5
    assert live.ready is False
    live.record(_beat(2))
    assert live.ready is True


def test_liveness_orders_beats_by_seq_within_a_boot() -> None:
    live = Liveness(10, Clock())
    assert live.record(_beat(3))
    assert not live.record(_beat(2, ready=False))
    assert live.ready is True
    assert live.record(_beat(1, ready=False, boot="b2"))
    assert live.ready is False
    live.reset()
    assert live.describe() is None and live.ready is False


# configuration and CLI -------------------------------------------------------------------------


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    path.write_text(json.dumps({"desktops": [{"id": "a b"}]}))
    with pytest.raises(ConfigError, match=r"desktops\[0\].id"):
        load_config(path)
    path.write_text(json.dumps({"desktops": [{"id": "a", "colour": 1}]}))
    with pytest.raises(ConfigError, match="colour"):
        load_config(path)
    path.write_text(json.dumps({"rate_limit_per_minute": 0}))
    with pytest.raises(ConfigError, match="rate_limit_per_minute"):
        load_config(path)
    path.write_text(json.dumps({"desktops": [{"id": "a"}, {"id": "a"}]}))
    with pytest.raises(ConfigError, match="share an id"):
        load_config(path)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_init_and_new_key_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    path = tmp_path / f"cp{suffix}"
    assert main(["control-plane", "init", "--config", str(path), "--app", "xterm -geometry 80x24"]) == 0
    desktop_id = capsys.readouterr().out.strip()
    assert main(["control-plane", "init", "--config", str(path)]) == 2  # no silent overwrite
    capsys.readouterr()
    assert main(["control-plane", "new-key", "--config", str(path), "--name", "ci", "--capability", "desktop:read"]) == 0
    key = capsys.readouterr().out.strip()
    assert main(["control-plane", "new-key", "--config", str(path)]) == 0
    full = capsys.readouterr().out.strip()
    assert key not in path.read_text() and full not in path.read_text()
    config = load_config(path)
    assert [d.id for d in config.desktops] == [desktop_id]
    assert config.desktops[0].autostart and config.desktops[0].apps == [["xterm", "-geometry", "80x24"]]
    store = KeyStore(config.keys)
    assert store.authenticate(key).capabilities == ("desktop:read",)  # type: ignore[union-attr]
    assert store.authenticate(full).capabilities == CAPABILITIES  # type: ignore[union-attr]
    assert config.state_dir == tmp_path / "state"
    assert not stat.S_IMODE(path.stat().st_mode) & 0o002


def test_heartbeat_base_maps_wildcards_to_loopback() -> None:
    assert heartbeat_base("0.0.0.0", 8700) == "http://127.0.0.1:8700"
    assert heartbeat_base("::", 8700) == "http://[::1]:8700"
    assert heartbeat_base("127.0.0.1", 1) == "http://127.0.0.1:1"
    assert heartbeat_base("localhost", 2) == "http://localhost:2"


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_new_key_refuses_an_entry_the_loader_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    path = tmp_path / f"cp{suffix}"
    assert main(["control-plane", "init", "--config", str(path)]) == 0
    before = path.read_bytes()
    for limit in ("0", "-5"):
        assert main(["control-plane", "new-key", "--config", str(path), "--rate-limit-per-minute", limit]) == 2
        assert "rate_limit_per_minute" in capsys.readouterr().err
    assert path.read_bytes() == before  # nothing appended: the file still loads
    load_config(path)
    assert main(["control-plane", "new-key", "--config", str(path), "--rate-limit-per-minute", "5"]) == 0
    assert load_config(path).keys[0].rate_limit_per_minute == 5


@pytest.mark.parametrize(
    "flags, field",
    [
        (["--heartbeat-interval-s", "0"], "heartbeat_interval_s"),
        (["--heartbeat-interval-s", "nan"], "nan"),
        (["--listen", "nowhere"], "listen"),
        (["--desktop-id", "a b"], r"desktops\[0\].id"),
        (["--app", ""], r"desktops\[0\].apps\[0\]"),
        (["--app", "xterm -title 'unclosed"], "--app"),
    ],
)
@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_init_refuses_values_the_loader_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], field: str, suffix: str
) -> None:
    path = tmp_path / f"cp{suffix}"
    assert main(["control-plane", "init", "--config", str(path), *flags]) == 2
    assert re.search(field, capsys.readouterr().err)
    assert not path.exists()


def test_init_writes_any_text_as_valid_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # json.dumps' default \ud83d\ude00 escapes are not TOML; DEL must be escaped in TOML
    path = tmp_path / "cp.toml"
    name = 'Bureau 😀 "quoted" \\ tab\t nl\n del\x7f bell\x07 é'
    assert main(["control-plane", "init", "--config", str(path), "--desktop-name", name, "--app", "xterm -T 'my term 😀'"]) == 0
    capsys.readouterr()
    assert "😀" in path.read_text(encoding="utf-8")
    desktop = load_config(path).desktops[0]
    assert desktop.name == name
    assert desktop.apps == [["xterm", "-T", "my term 😀"]]  # quoted like the agent's list settings


def test_toml_value_refuses_what_toml_cannot_hold() -> None:
    with pytest.raises(ConfigError, match="TOML"):
        toml_value("\udcff")  # an undecodable argv byte
    with pytest.raises(ConfigError, match="TOML"):
        toml_value(float("inf"))


@pytest.mark.parametrize(
    "setting, value",
    [
        ("boot_timeout_s", -1),
        ("boot_timeout_s", 0),
        ("stop_grace_s", -0.5),
        ("max_body_bytes", 0),
        ("heartbeat_interval_s", 301),
        ("rate_limit_per_minute", True),
        ("listen", 8700),
    ],
)
def test_top_level_settings_are_range_checked(tmp_path: Path, setting: str, value: object) -> None:
    path = tmp_path / "cp.json"
    path.write_text(json.dumps({setting: value}))
    with pytest.raises(ConfigError, match=setting):
        load_config(path)


@pytest.mark.parametrize("text", ["boot_timeout_s = nan", "heartbeat_interval_s = nan", "stop_grace_s = inf", "max_body_bytes = inf"])
def test_toml_nan_and_inf_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "cp.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=text.split()[0]):
        load_config(path)


def test_settings_in_range_load(tmp_path: Path) -> None:
    path = tmp_path / "cp.toml"
    path.write_text("boot_timeout_s = 5\nstop_grace_s = 0\nmax_body_bytes = 1024\nheartbeat_interval_s = 2.5\n")
    config = load_config(path)
    assert (config.boot_timeout_s, config.stop_grace_s, config.max_body_bytes, config.heartbeat_interval_s) == (5.0, 0.0, 1024, 2.5)
    assert isinstance(config.boot_timeout_s, float)


def test_new_key_replaces_the_file_whole_or_not_at_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cp.toml"
    assert main(["control-plane", "init", "--config", str(path)]) == 0
    path.chmod(0o640)
    assert main(["control-plane", "new-key", "--config", str(path)]) == 0
    capsys.readouterr()
    before, inode = path.read_bytes(), path.stat().st_ino
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # the operator's mode is kept

    def crash(fd: int) -> None:  # the machine goes down while the new file is being written
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("os.fsync", crash)
    with pytest.raises(OSError):
        main(["control-plane", "new-key", "--config", str(path)])
    assert path.read_bytes() == before and path.stat().st_ino == inode  # every earlier key is still there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.toml"]  # no temporary file left behind
    monkeypatch.undo()
    assert main(["control-plane", "new-key", "--config", str(path)]) == 0
    assert path.stat().st_ino != inode and len(load_config(path).keys) == 2  # renamed over, not rewritten


def test_a_desktop_session_is_openbox_or_xfce(tmp_path: Path) -> None:
    from bureau_agent.controlplane.session import session_programs

    path = tmp_path / "cp.json"
    path.write_text(json.dumps({"desktops": [{"id": "a"}, {"id": "b", "session": "xfce"}, {"id": "c", "session": "xfce", "window_manager": ["openbox"]}]}))
    a, b, c = load_config(path).desktops
    assert session_programs(a).window_manager == ["openbox", "--sm-disable"] and not session_programs(a).bus
    xfce = session_programs(b)
    assert xfce.bus and xfce.window_manager[0] == "xfwm4"
    assert [argv[0] for _, argv in xfce.after_wm] == ["xfdesktop", "xfce4-panel"]
    assert any("at-spi-bus-launcher" in argv[0] for _, argv in xfce.before_wm)
    assert session_programs(c).window_manager == ["openbox"]  # window_manager replaces the session's own
    path.write_text(json.dumps({"desktops": [{"id": "a", "session": "gnome"}]}))
    with pytest.raises(ConfigError, match=r"desktops\[0\]\.session: 'gnome' is not one of openbox, xfce"):
        load_config(path)


def test_a_warning_when_listening_beyond_loopback_over_plain_http(tmp_path: Path) -> None:
    from tests.controlplane.support import Plane

    for listen, warned in (("0.0.0.0", True), ("127.0.0.1", False)):
        root = tmp_path / listen
        root.mkdir()
        plane = Plane(root, [], {"full": CAPABILITIES})
        config = json.loads(plane.config_path.read_text())
        config["listen"] = f"{listen}:{plane.port}"
        plane.config_path.write_text(json.dumps(config))
        plane.start()
        plane.stop()
        lines = [json.loads(line) for line in plane.log_path.read_text().splitlines() if line.startswith("{")]
        warnings = [line for line in lines if "beyond loopback" in line.get("msg", "")]
        assert bool(warnings) == warned, lines


def test_init_writes_the_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bureau_agent.controlplane import cli, config

    assert cli.SESSIONS == config.SESSIONS  # the CLI's copy (it does not import the loader up front)
    path = tmp_path / "cp.toml"
    assert main(["control-plane", "init", "--config", str(path), "--session", "xfce"]) == 0
    assert load_config(path).desktops[0].session == "xfce"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["control-plane", "init", "--config", str(tmp_path / "other.toml"), "--session", "gnome"])
