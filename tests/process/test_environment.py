"""The desktop session environment: what children get, and what they never get."""

from __future__ import annotations

import os

import pytest

from bureau_agent.errors import InvalidRequest
from bureau_agent.process.environment import RUN_ID_VAR, RunAs, Session, build_environment, check_env

USER = RunAs("desk", 1234, 1234, (), "/home/desk", "/bin/bash")

AGENT_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "en_US.UTF-8",
    "LC_TIME": "de_DE.UTF-8",
    "XDG_SESSION_TYPE": "x11",
    "BUREAU_AGENT_TOKEN": "secret-secret-secret",
    "BUREAU_AGENT_TOKEN_FILE": "/etc/bureau-agent/token",
    "NOTIFY_SOCKET": "/run/systemd/notify",
    "INVOCATION_ID": "abc",
    "CREDENTIALS_DIRECTORY": "/run/credentials/x",
    "HOME": "/root",
}


def build(base: dict[str, str] = AGENT_ENV, **kwargs: object) -> dict[str, str]:
    args: dict[str, object] = {
        "display": ":7",
        "xauthority": None,
        "user": USER,
        "switching": False,
        "extra": {},
        "run_id": "run1",
    }
    args.update(kwargs)
    return build_environment(base, **args)  # type: ignore[arg-type]


def test_agent_secrets_and_service_variables_never_pass() -> None:
    env = build()
    assert not [k for k in env if k.startswith("BUREAU_AGENT_") and k != RUN_ID_VAR]
    for name in ("NOTIFY_SOCKET", "INVOCATION_ID", "CREDENTIALS_DIRECTORY"):
        assert name not in env


def test_session_variables_pass_and_user_identity_is_set() -> None:
    env = build()
    assert env["PATH"] == "/usr/bin:/bin"
    assert env["LANG"] == "en_US.UTF-8"
    assert env["LC_TIME"] == "de_DE.UTF-8"
    assert env["XDG_SESSION_TYPE"] == "x11"
    assert env["DISPLAY"] == ":7"
    assert (env["HOME"], env["USER"], env["LOGNAME"], env["SHELL"]) == ("/home/desk", "desk", "desk", "/bin/bash")
    assert env[RUN_ID_VAR] == "run1"


def test_xauthority_setting_wins() -> None:
    assert build(xauthority="/tmp/xa")["XAUTHORITY"] == "/tmp/xa"


@pytest.mark.parametrize("lang", [None, "C", "POSIX", "en_US.ISO-8859-1"])
def test_a_utf8_locale_is_ensured(lang: str | None) -> None:
    base = {"PATH": "/bin"} | ({"LANG": lang, "LC_ALL": lang} if lang else {})
    env = build(base)
    assert env["LANG"] == "C.UTF-8"
    assert "LC_ALL" not in env


def test_missing_path_gets_a_default() -> None:
    assert "/usr/bin" in build({})["PATH"]


def test_request_env_overrides_but_cannot_change_the_run_marker() -> None:
    env = build(extra={"LANG": "fr_FR.UTF-8", "FOO": "bar", RUN_ID_VAR: "forged"})
    assert env["LANG"] == "fr_FR.UTF-8"
    assert env["FOO"] == "bar"
    assert env[RUN_ID_VAR] == "run1"


def test_switching_user_drops_the_agents_session_paths() -> None:
    base = dict(AGENT_ENV, XDG_RUNTIME_DIR="/run/user/0", DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/0/bus")
    env = build(base, switching=True)
    assert env.get("XDG_RUNTIME_DIR") != "/run/user/0"
    assert "/run/user/0" not in env.get("DBUS_SESSION_BUS_ADDRESS", "")


@pytest.mark.parametrize("name", ["", "A=B", "A\x00B"])
def test_bad_env_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_env({name: "x"})
    assert "env" in caught.value.message


def test_env_value_with_nul_is_rejected() -> None:
    with pytest.raises(InvalidRequest, match="env.A"):
        check_env({"A": "x\x00y"})


def test_session_runs_as_the_agent_user_when_no_exec_user() -> None:
    session = Session(display=":3", xauthority=None, user=None, base_env={"BUREAU_AGENT_TOKEN": "t" * 20})
    run_as = session.run_as()
    assert run_as.uid == os.getuid()
    assert run_as.popen_kwargs() == {}
    env = session.environment({}, "r")
    assert "BUREAU_AGENT_TOKEN" not in env
    assert env["DISPLAY"] == ":3"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_root_agent_switches_to_exec_user() -> None:
    import pwd

    name = next((p.pw_name for p in pwd.getpwall() if p.pw_uid not in (0,) and p.pw_name == "nobody"), None)
    if name is None:
        pytest.skip("no nobody account")
    run_as = Session(display=None, xauthority=None, user=name).run_as()
    kwargs = run_as.popen_kwargs()
    assert kwargs["user"] == pwd.getpwnam(name).pw_uid
    assert kwargs["group"] == pwd.getpwnam(name).pw_gid
