"""The bureau-agent command as a user runs it: a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bureau_agent import __version__
from tests.support.xvfb import Xvfb
from tests.support.procs import free_port

AGENT = [sys.executable, "-m", "bureau_agent"]


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_AGENT_")}
    base["BUREAU_AGENT_CONFIG"] = "/dev/null"
    base.update(env or {})
    return subprocess.run(AGENT + args, env=base, capture_output=True, text=True, timeout=30)


def test_version() -> None:
    result = run(["version"])
    assert result.returncode == 0 and result.stdout.strip() == __version__


def test_bad_value_is_one_line_naming_the_key_and_exit_2() -> None:
    result = run(["serve", "--dev"], {"BUREAU_AGENT_EXEC_MAX_CONCURRENT": "many"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "exec_max_concurrent" in lines[0]
    result = run(["serve", "--set", "heartbeat_interval_s=0"])
    assert result.returncode == 2 and "heartbeat_interval_s" in result.stderr
    # no traceback for a value the parser itself rejects, nor for one every bound lets through
    for env in ({"BUREAU_AGENT_CHAT_COMMAND": "[oops"}, {"BUREAU_AGENT_CHAT_COMMAND": 'a "b'}, {"BUREAU_AGENT_HEARTBEAT_INTERVAL_S": "nan"}):
        result = run(["serve", "--dev"], env)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, (env, result.stderr)
        assert next(iter(env))[len("BUREAU_AGENT_"):].lower() in lines[0]


def test_refuses_to_start_without_a_token_or_dev_mode_off_loopback() -> None:
    result = run(["serve"])
    assert result.returncode == 2 and "token" in result.stderr
    result = run(["serve", "--dev", "--listen", "0.0.0.0:7700"])
    assert result.returncode == 2 and "loopback" in result.stderr


def test_serve_answers_then_stops_cleanly_on_sigterm_and_never_logs_the_token(xvfb: Xvfb, tmp_path: Path) -> None:
    token = "cli-test-token-" + "z" * 20
    token_file = tmp_path / "token"
    token_file.write_text(token)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_AGENT_")}
    env.update({"BUREAU_AGENT_CONFIG": "/dev/null", "BUREAU_AGENT_TOKEN_FILE": str(token_file)})
    proc = subprocess.Popen(
        AGENT + ["serve", "--listen", f"127.0.0.1:{port}", "--display", xvfb.name],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/status", headers={"Authorization": f"Bearer {token}"})
                with urllib.request.urlopen(request, timeout=2) as resp:
                    status = json.load(resp)
                break
            except OSError:
                assert time.monotonic() < deadline, "agent did not start"
                time.sleep(0.05)
        assert status["display"]["name"] == xvfb.name
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert any(line["msg"] == "stopped" for line in lines)
    listening = next(line for line in lines if line["msg"] == "listening")
    assert listening["settings"]["display"] == xvfb.name and listening["settings"]["token_file"] == str(token_file)
    assert token not in output


def test_python_module_and_console_script_agree() -> None:
    script = Path(sys.executable).parent / "bureau-agent"
    result = subprocess.run([str(script), "version"], capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == __version__
