"""Settings precedence (defaults < TOML < environment < flags) and bad values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bureau_agent.config import ConfigError, load_settings, resolve_heartbeat_token, resolve_token


def write_toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return str(path)


def test_defaults_apply_without_file_env_or_flags() -> None:
    settings = load_settings(config_path=None, environ={}, overrides={"config": "/dev/null"})
    assert settings.listen == "127.0.0.1:7700"
    assert settings.exec_output_limit_bytes == 1024 * 1024
    assert settings.sources["listen"] == "default"


def test_toml_then_environment_then_flags(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        'listen = "127.0.0.1:7001"\n'
        'display = ":7"\n'
        "[heartbeat]\nurl = \"http://cp.example/beat\"\ninterval_s = 20\n"
        "[exec]\nmax_concurrent = 3\n",
    )
    env = {"BUREAU_AGENT_CONFIG": path, "BUREAU_AGENT_LISTEN": "127.0.0.1:7002", "BUREAU_AGENT_HEARTBEAT_INTERVAL_S": "30"}
    settings = load_settings(environ=env, overrides={"listen": "127.0.0.1:7003"})
    assert settings.listen == "127.0.0.1:7003" and settings.sources["listen"] == "flag"
    assert settings.heartbeat_interval_s == 30.0 and settings.sources["heartbeat_interval_s"] == "$BUREAU_AGENT_HEARTBEAT_INTERVAL_S"
    assert settings.heartbeat_url == "http://cp.example/beat" and settings.sources["heartbeat_url"] == path
    assert settings.exec_max_concurrent == 3
    assert settings.display == ":7"


def test_display_falls_back_to_plain_display_variable_and_toml_wins_over_it(tmp_path: Path) -> None:
    assert load_settings(environ={"DISPLAY": ":3"}, overrides={"config": "/dev/null"}).display == ":3"
    path = write_toml(tmp_path, 'display = ":9"\n')
    assert load_settings(environ={"DISPLAY": ":3"}, overrides={"config": path}).display == ":9"
    assert load_settings(environ={"DISPLAY": ":3", "BUREAU_AGENT_DISPLAY": ":4"}, overrides={"config": path}).display == ":4"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"BUREAU_AGENT_MAX_BODY_BYTES": "lots"}, "max_body_bytes"),
        ({"BUREAU_AGENT_MAX_BODY_BYTES": "10"}, "max_body_bytes: 10 is below"),
        ({"BUREAU_AGENT_DEV": "maybe"}, "dev"),
        ({"BUREAU_AGENT_LISTEN": "nowhere"}, "listen"),
        ({"BUREAU_AGENT_LOG_LEVEL": "chatty"}, "log_level"),
        ({"BUREAU_AGENT_NO_SUCH_THING": "1"}, "BUREAU_AGENT_NO_SUCH_THING"),
        ({"BUREAU_AGENT_CONFIG": "/nonexistent/agent.toml"}, "/nonexistent/agent.toml"),
    ],
)
def test_bad_values_name_the_key(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings(environ=env)


@pytest.mark.parametrize("raw", ["[oops", 'a "b', "[" * 100_000])
def test_a_list_that_does_not_parse_names_the_key(raw: str) -> None:
    with pytest.raises(ConfigError, match="chat_command: .* is neither a JSON array nor shell words"):
        load_settings(environ={"BUREAU_AGENT_CHAT_COMMAND": raw}, overrides={"config": "/dev/null"})


def test_lists_from_text_are_json_arrays_or_shell_words() -> None:
    env = {"BUREAU_AGENT_CHAT_COMMAND": '["agent", "-p", "{message}"]', "BUREAU_AGENT_CHAT_RESUME_ARGS": "--resume '{sessionId}'"}
    settings = load_settings(environ=env, overrides={"config": "/dev/null"})
    assert settings.chat_command == ["agent", "-p", "{message}"] and settings.chat_resume_args == ["--resume", "{sessionId}"]


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "infinity"])
def test_non_finite_numbers_are_refused_from_text(raw: str) -> None:
    with pytest.raises(ConfigError, match="heartbeat_interval_s: .* is not a finite number"):
        load_settings(environ={}, overrides={"config": "/dev/null", "heartbeat_interval_s": raw})


@pytest.mark.parametrize(("text", "needle"), [
    ("[heartbeat]\ninterval_s = nan\n", "heartbeat_interval_s: nan is not a finite number"),
    ("[heartbeat]\ninterval_s = inf\n", "heartbeat_interval_s: inf is not a finite number"),
    ("shutdown_grace_s = -inf\n", "shutdown_grace_s: -inf is not a finite number"),
    ("[exec]\nmax_concurrent = inf\n", "exec_max_concurrent: inf is not an integer"),
    ("[exec]\nmax_concurrent = nan\n", "exec_max_concurrent: nan is not an integer"),
])
def test_non_finite_numbers_are_refused_from_toml(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings(environ={}, overrides={"config": write_toml(tmp_path, text)})


def test_a_default_timeout_above_its_maximum_is_refused() -> None:
    with pytest.raises(ConfigError, match="exec_default_timeout_ms: larger than exec_max_timeout_ms"):
        load_settings(environ={}, overrides={"config": "/dev/null", "exec_max_timeout_ms": 1000})
    with pytest.raises(ConfigError, match="chat_timeout_ms: larger than chat_max_timeout_ms"):
        load_settings(environ={}, overrides={"config": "/dev/null", "chat_max_timeout_ms": 5000})
    settings = load_settings(environ={}, overrides={"config": "/dev/null", "chat_max_timeout_ms": 5000, "chat_timeout_ms": 5000})
    assert settings.chat_timeout_ms == settings.chat_max_timeout_ms == 5000


def test_bad_toml_names_key_and_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exec_max_concurrent"):
        load_settings(environ={}, overrides={"config": write_toml(tmp_path, "[exec]\nmax_concurrent = \"eight\"\n")})
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(environ={}, overrides={"config": write_toml(tmp_path, "colour = 3\n")})
    with pytest.raises(ConfigError, match="agent.toml"):
        load_settings(environ={}, overrides={"config": write_toml(tmp_path, "listen = \n")})


def test_token_from_file_and_refusal_without_one(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-abcdefgh\n")
    os.chmod(token_file, 0o600)
    settings = load_settings(environ={"BUREAU_AGENT_TOKEN_FILE": str(token_file)}, overrides={"config": "/dev/null"})
    assert resolve_token(settings, environ={}) == "s3cret-token-abcdefgh"
    assert "s3cret" not in repr(load_settings(environ={"BUREAU_AGENT_TOKEN": "s3cret-token-abcdefgh"}, overrides={"config": "/dev/null"}).redacted())

    bare = load_settings(environ={}, overrides={"config": "/dev/null"})
    with pytest.raises(ConfigError, match="no token"):
        resolve_token(bare, environ={})


def test_token_from_systemd_credentials(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("credential-token-0123456789")
    bare = load_settings(environ={}, overrides={"config": "/dev/null"})
    assert resolve_token(bare, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "credential-token-0123456789"


def test_dev_mode_needs_no_token_but_only_binds_loopback() -> None:
    dev = load_settings(environ={}, overrides={"config": "/dev/null", "dev": True})
    assert resolve_token(dev, environ={}) is None
    exposed = load_settings(environ={}, overrides={"config": "/dev/null", "dev": True, "listen": "0.0.0.0:7700"})
    with pytest.raises(ConfigError, match="loopback"):
        resolve_token(exposed, environ={})


def test_short_token_is_refused() -> None:
    settings = load_settings(environ={"BUREAU_AGENT_TOKEN": "short"}, overrides={"config": "/dev/null"})
    with pytest.raises(ConfigError, match="shorter than 16"):
        resolve_token(settings, environ={})


def test_config_path_argument_is_read(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'listen = "127.0.0.1:7009"\n')
    assert load_settings(config_path=path, environ={}).listen == "127.0.0.1:7009"


def test_configuration_reference_lists_every_setting() -> None:
    from bureau_agent.config import FIELDS

    page = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    missing = [f.name for f in FIELDS if f"`{f.name}`" not in page]
    assert not missing, f"docs/configuration.md lacks {missing}"


def test_the_configuration_reference_table_is_generated_from_the_fields() -> None:
    from bureau_agent.config import (
        TABLE_END,
        TABLE_START,
        markdown_table,
        with_markdown_table,
    )

    page = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    # Regenerate with: .venv/bin/python -m bureau_agent.config docs/configuration.md
    assert page.count(TABLE_START) == 1 and f"{TABLE_START}\n{markdown_table()}{TABLE_END}" in page
    assert with_markdown_table(page) == page
    row = next(line for line in markdown_table().splitlines() if line.startswith("| `chat_api_key` "))
    assert row == "| `chat_api_key` | str | — |  | openai backend: bearer token sent to chat_url (secret: never logged) |"
    row = next(line for line in markdown_table().splitlines() if line.startswith("| `max_body_bytes` "))
    assert row == "| `max_body_bytes` | int | `2097152` | 1024 – 67108864 | largest request body accepted |"


def test_the_largest_shutdown_grace_fits_in_the_units_stop_timeout() -> None:
    from bureau_agent.config import FIELDS_BY_NAME

    unit = (Path(__file__).parent.parent / "systemd" / "bureau-agent.service").read_text()
    stop_timeout_s = int(next(line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("TimeoutStopSec=")))
    grace = FIELDS_BY_NAME["shutdown_grace_s"].maximum
    assert grace is not None and grace + 2 < stop_timeout_s  # + the last beat, bounded to 2 s
    with pytest.raises(ConfigError, match="shutdown_grace_s: 26.0 is above the maximum 25"):
        load_settings(environ={}, overrides={"config": "/dev/null", "shutdown_grace_s": "26"})


def test_secret_values_are_every_secret_setting_and_the_token() -> None:
    settings = load_settings(
        environ={
            "BUREAU_AGENT_TOKEN": "token-from-settings-0123",
            "BUREAU_AGENT_CHAT_API_KEY": "sk-chat-key-0123456789",
            "BUREAU_AGENT_CHAT_ENV": "AGENT_KEY=env-secret-value DEBUG=1 EMPTY=",
            "BUREAU_AGENT_DESKTOP_ID": "desk-not-secret",
        },
        overrides={"config": "/dev/null"},
    )
    values = settings.secret_values("token-from-a-file-0123456")
    assert set(values) == {
        "token-from-a-file-0123456", "token-from-settings-0123", "sk-chat-key-0123456789",
        "AGENT_KEY=env-secret-value", "env-secret-value", "DEBUG=1", "EMPTY=",
    }  # "1" and "" alone are no credential, and masking them would shred every line
    assert load_settings(environ={}, overrides={"config": "/dev/null"}).secret_values(None) == []


AGENT_TOKEN = "agent-token-0123456789abcdef"


def _beat_settings(**values: str) -> object:
    return load_settings(environ={}, overrides={"config": "/dev/null", **values})


def test_a_heartbeat_url_needs_a_credential_of_its_own(tmp_path: Path) -> None:
    assert resolve_heartbeat_token(_beat_settings(), AGENT_TOKEN, environ={}) is None  # no URL: no beats
    url = "https://control.example/v1/agents/heartbeat"
    with pytest.raises(ConfigError, match="heartbeat_token_file: a heartbeat URL is set but no heartbeat credential"):
        resolve_heartbeat_token(_beat_settings(heartbeat_url=url), AGENT_TOKEN, environ={})
    path = tmp_path / "heartbeat-token"
    path.write_text("beat-credential-0123456789\n")
    settings = _beat_settings(heartbeat_url=url, heartbeat_token_file=str(path))
    assert resolve_heartbeat_token(settings, AGENT_TOKEN, environ={}) == "beat-credential-0123456789"
    # systemd's LoadCredential=heartbeat-token
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds/heartbeat-token").write_text("credential-beat-0123456789")
    creds = {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}
    assert resolve_heartbeat_token(_beat_settings(heartbeat_url=url), AGENT_TOKEN, environ=creds) == "credential-beat-0123456789"
    dev = load_settings(environ={"BUREAU_AGENT_HEARTBEAT_TOKEN": "beat-from-env-0123456"}, overrides={"config": "/dev/null", "heartbeat_url": url})
    assert resolve_heartbeat_token(dev, AGENT_TOKEN, environ={}) == "beat-from-env-0123456"
    assert "beat-from-env-0123456" in dev.secret_values() and "beat-from-env" not in repr(dev.redacted())


def test_the_heartbeat_credential_is_never_the_agent_token() -> None:
    settings = _beat_settings(heartbeat_url="https://cp.example/beat", heartbeat_token=AGENT_TOKEN)
    with pytest.raises(ConfigError, match="must not be the agent token"):
        resolve_heartbeat_token(settings, AGENT_TOKEN, environ={})
    short = _beat_settings(heartbeat_url="https://cp.example/beat", heartbeat_token="short")
    with pytest.raises(ConfigError, match="shorter than 16"):
        resolve_heartbeat_token(short, AGENT_TOKEN, environ={})


@pytest.mark.parametrize(
    "url, allow_http, refused",
    [
        ("https://cp.example/beat", False, False),
        ("http://127.0.0.1:8700/beat", False, False),
        ("http://[::1]:8700/beat", False, False),
        ("http://localhost:8700/beat", False, False),
        ("http://10.0.0.5:8700/beat", False, True),
        ("http://cp.example/beat", False, True),
        ("http://10.0.0.5:8700/beat", True, False),
        ("ftp://cp.example/beat", True, True),
    ],
)
def test_a_plain_http_heartbeat_url_is_refused_unless_loopback_or_allowed(url: str, allow_http: bool, refused: bool) -> None:
    settings = _beat_settings(heartbeat_url=url, heartbeat_token="beat-credential-0123456789", heartbeat_allow_http=str(allow_http))
    if refused:
        with pytest.raises(ConfigError, match="heartbeat_url"):
            resolve_heartbeat_token(settings, AGENT_TOKEN, environ={})
    else:
        assert resolve_heartbeat_token(settings, AGENT_TOKEN, environ={}) == "beat-credential-0123456789"


def test_settings_declare_one_typed_attribute_per_field() -> None:
    import typing

    from bureau_agent.config import FIELDS, Settings

    hints = typing.get_type_hints(Settings)
    declared = {name for name in hints if name not in ("values", "sources")}
    assert declared == {f.name for f in FIELDS}
    for field in FIELDS:
        kinds = {str: str, int: int, float: float, bool: bool, list: list[str]}
        expected = kinds[field.kind] if field.default is not None else kinds[field.kind] | None
        assert hints[field.name] == expected, field.name
    settings = load_settings(environ={}, overrides={"config": "/dev/null"})
    assert settings.exec_max_concurrent == 8 and settings.heartbeat_url is None
    with pytest.raises(AttributeError):
        settings.exec_max_concurent  # type: ignore[attr-defined]  # a typo is an error, not Any
    assert "secret" not in repr(load_settings(environ={"BUREAU_AGENT_TOKEN": "secret-token-0123456789"}, overrides={"config": "/dev/null"}))


def test_input_settings_come_from_the_settings_with_the_registrys_defaults() -> None:
    from bureau_agent.desktop.input_service import InputSettings

    assert InputSettings() == InputSettings.from_settings(load_settings(environ={}, overrides={"config": "/dev/null"}))
    tuned = load_settings(environ={"BUREAU_AGENT_INPUT_CLICK_INTERVAL_MS": "40"}, overrides={"config": "/dev/null"})
    assert InputSettings.from_settings(tuned).click_interval_ms == 40
