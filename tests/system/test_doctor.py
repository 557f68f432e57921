"""`bureau-agent doctor`: every readiness check, each failure with a fix."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bureau_agent.config import load_settings
from bureau_agent.desktop.readiness import Check
from bureau_agent.doctor import report, run_checks
from devsupport.a11y import A11ySession
from tests.support.agent import agent_settings
from tests.support.users import TestUser
from tests.support.xvfb import Xvfb


def by_name(checks):  # type: ignore[no-untyped-def]
    return {c.name: c for c in checks}


def test_all_checks_pass_on_a_good_setup(xvfb: Xvfb, tmp_path: Path) -> None:
    with A11ySession(xvfb):  # a desktop session: its accessibility bus is on the root window
        _all_checks_pass(xvfb, tmp_path)


def _all_checks_pass(xvfb: Xvfb, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t" * 32)
    token_file.chmod(0o600)
    settings = agent_settings(
        xvfb.name, token=None, token_file=str(token_file), listen="127.0.0.1:0",
        heartbeat_url="https://cp.example/v1/heartbeat", desktop_id="desk-1", exec_user="nobody",
    )
    checks = run_checks(settings)
    names = [c.name for c in checks]
    assert names == ["display", "xtest", "capture", "accessibility", "window_manager", "token", "token_file_mode", "token_reach", "heartbeat", "jpeg", "listen"]
    if os.geteuid() != 0:  # the agent is then the desktop user: its commands could read the token
        assert [c.name for c in checks if not c.ok] == ["token_reach"]
        return
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    out = io.StringIO()
    assert report(checks, out) == 0
    assert "11 ok, 0 failed" in out.getvalue() and "t" * 32 not in out.getvalue()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the file is given to another user")
def test_a_token_the_desktop_user_can_read_is_flagged(xvfb: Xvfb, tmp_path: Path, desktop_user: TestUser) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t" * 32)

    def reach(**settings: object) -> Check:
        return by_name(run_checks(agent_settings(xvfb.name, listen="127.0.0.1:0", **settings)))["token_reach"]

    token_file.chmod(0o600)
    assert reach(token=None, token_file=str(token_file), exec_user=desktop_user.name).ok
    os.chown(token_file, desktop_user.uid, desktop_user.gid)  # what the old ensure-token did
    check = reach(token=None, token_file=str(token_file), exec_user=desktop_user.name)
    assert not check.ok and desktop_user.name in check.detail and "chown root:root" in check.fix
    os.chown(token_file, 0, desktop_user.gid)
    token_file.chmod(0o640)  # through the user's group
    assert not reach(token=None, token_file=str(token_file), exec_user=desktop_user.name).ok
    token_file.chmod(0o600)
    # commands as root, and a token in the environment, are flagged too
    no_user = reach(token=None, token_file=str(token_file))
    assert not no_user.ok and "exec_user" in no_user.detail
    in_env = by_name(run_checks(load_settings(environ={"BUREAU_AGENT_TOKEN": "e" * 32}, overrides={
        "config": "/dev/null", "display": xvfb.name, "listen": "127.0.0.1:0", "exec_user": desktop_user.name})))["token_reach"]
    assert not in_env.ok and "environment" in in_env.detail


def test_a_heartbeat_without_its_credential_or_over_plain_http_is_flagged(xvfb: Xvfb) -> None:
    def beat(**settings: object) -> Check:
        return by_name(run_checks(agent_settings(xvfb.name, listen="127.0.0.1:0", desktop_id="d", **settings)))["heartbeat"]

    assert beat(heartbeat_url="https://cp.example/beat").ok
    missing = beat(heartbeat_url="https://cp.example/beat", heartbeat_token_file="/nonexistent/heartbeat-token")
    assert not missing.ok and "heartbeat_token_file" in missing.detail and missing.fix
    plain = beat(heartbeat_url="http://cp.example/beat")
    assert not plain.ok and "plain http" in plain.detail


def test_failures_each_come_with_a_fix(own_xvfb: Xvfb, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    own_xvfb.kill()
    token_file = tmp_path / "token"
    token_file.write_text("t" * 32)
    token_file.chmod(0o644)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = agent_settings(
            own_xvfb.name, token=None, token_file=str(token_file), listen=f"127.0.0.1:{port}",
            heartbeat_url="https://cp.example/beat", xauthority=str(tmp_path / "missing"),
        )
        checks = by_name(run_checks(settings))
    failed = {name for name, c in checks.items() if not c.ok}
    assert failed == {"xauthority", "display", "accessibility", "token_file_mode", "token_reach", "heartbeat", "listen"}  # a bare socket is no agent
    assert all(checks[name].fix for name in failed)
    assert "0644" in checks["token_file_mode"].detail and "chmod 600" in checks["token_file_mode"].fix
    assert "desktop id" in checks["heartbeat"].detail
    out = io.StringIO()
    assert report(list(checks.values()), out) == 1
    assert out.getvalue().count("fix: ") == len(failed)


def test_missing_turbojpeg_is_a_failure_with_a_fix(xvfb: Xvfb, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bureau_agent.desktop import jpeg

    monkeypatch.setattr(jpeg, "available", lambda: False)
    check = by_name(run_checks(agent_settings(xvfb.name, listen="127.0.0.1:0")))["jpeg"]
    assert not check.ok and "Pillow" in check.detail and "libturbojpeg0" in check.fix


def test_no_token_is_a_failure_with_a_fix(xvfb: Xvfb) -> None:
    checks = by_name(run_checks(agent_settings(xvfb.name, token=None, listen="127.0.0.1:0")))
    assert not checks["token"].ok and "BUREAU_AGENT_TOKEN_FILE" in checks["token"].fix


def test_the_command_exits_1_and_prints_the_fix(own_xvfb: Xvfb) -> None:
    own_xvfb.kill()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_AGENT_")}
    env.update({"BUREAU_AGENT_CONFIG": "/dev/null", "BUREAU_AGENT_TOKEN": "x" * 20, "BUREAU_AGENT_LISTEN": "127.0.0.1:0"})
    result = subprocess.run(
        [sys.executable, "-m", "bureau_agent", "doctor", "--display", own_xvfb.name],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert f"[FAIL] display: cannot connect to display {own_xvfb.name}" in result.stdout
    assert "fix: start the X server" in result.stdout
    assert "x" * 20 not in result.stdout


async def test_a_running_agent_on_the_listen_address_is_fine(agent, xvfb: Xvfb) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from bureau_agent.doctor import _listen_check

    listen = f"127.0.0.1:{agent.server.port}"
    check = await asyncio.get_running_loop().run_in_executor(None, _listen_check, agent_settings(xvfb.name, listen=listen))
    assert check.ok and "already answers" in check.detail
