"""Nothing the desktop user runs can read the agent token (agent-api.md, "Authentication").

A real agent runs as root (as the unit runs it) with exec_user a real throwaway account, its
token in a 0600 root file in a directory everyone may enter: /v1/exec, as the user, can neither
`cat` the token file nor the agent's /proc/<pid>/environ. Each denial is set against a control
that shows the same read works where the rights allow it, so the test fails if isolation fails.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agentproc import AgentProcess
from tests.support.users import TestUser
from tests.support.xvfb import Xvfb

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the agent runs as root, commands as a created user")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory any user may enter (tmp_path's parents are root-only, which would hide the
    token whatever its own mode): only the token file's owner and mode protect it here."""
    path = Path(tempfile.mkdtemp(prefix="bureau-token-"))
    path.chmod(0o755)
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def _exec(agent: AgentProcess, **body: Any) -> dict[str, Any]:
    request = urllib.request.Request(
        agent.url + "/v1/exec", data=json.dumps(body).encode(), method="POST",
        headers={**agent.auth, "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return {"status": resp.status, **json.load(resp)}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, **json.load(exc)}


@pytest.fixture
def root_agent(xvfb: Xvfb, open_dir: Path, desktop_user: TestUser) -> Iterator[AgentProcess]:
    agent = AgentProcess(xvfb.name, open_dir / "agent.log", settings={"exec_user": desktop_user.name})
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


def test_commands_run_as_the_user_and_cannot_read_the_token(root_agent: AgentProcess, open_dir: Path, desktop_user: TestUser) -> None:
    token_file = open_dir / "agent.token"
    info = token_file.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (0, 0o600)
    assert root_agent.ps.uids().real == 0  # the agent is root, as the unit runs it

    whoami = _exec(root_agent, command="id -u")
    assert whoami["stdout"].strip() == str(desktop_user.uid)

    # control: the user can enter the directory and read what is meant for it
    readable = open_dir / "readable"
    readable.write_text("for everyone")
    readable.chmod(0o644)
    assert _exec(root_agent, argv=["cat", str(readable)])["stdout"] == "for everyone"

    denied = _exec(root_agent, argv=["cat", str(token_file)])
    assert denied["exitCode"] != 0 and "Permission denied" in denied["stderr"]
    assert root_agent.token not in denied["stdout"] + denied["stderr"]

    # nor through /v1/files, which reads with the same user's rights
    def read_file(path: Path) -> tuple[int, bytes]:
        request = urllib.request.Request(f"{root_agent.url}/v1/files?path={urllib.parse.quote(str(path))}", headers=root_agent.auth)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    assert read_file(readable) == (200, b"for everyone")
    status, body = read_file(token_file)
    assert status == 403 and root_agent.token.encode() not in body


def test_the_agents_environment_is_not_readable_by_the_users_commands(root_agent: AgentProcess, desktop_user: TestUser) -> None:
    pid = root_agent.ps.pid
    # control: the agent's environment names its token file, and root can read it
    assert b"BUREAU_AGENT_TOKEN_FILE=" in Path(f"/proc/{pid}/environ").read_bytes()
    # control: the user reads its own process's environment
    own = _exec(root_agent, command="cat /proc/self/environ")
    assert own["exitCode"] == 0 and f"USER={desktop_user.name}" in own["stdout"]

    denied = _exec(root_agent, argv=["cat", f"/proc/{pid}/environ"])
    assert denied["exitCode"] != 0 and "Permission denied" in denied["stderr"], denied
    # nor does anything of the agent's own settings reach the user's commands
    env = _exec(root_agent, command="env")["stdout"]
    assert "BUREAU_AGENT_TOKEN" not in env and root_agent.token not in env


def test_cwd_is_entered_by_the_user_and_says_nothing_of_root_only_places(
    root_agent: AgentProcess, open_dir: Path, desktop_user: TestUser
) -> None:
    # a relative cwd is the user's home's, not the agent's working directory
    Path(desktop_user.home, "work").mkdir()
    os.chown(Path(desktop_user.home, "work"), desktop_user.uid, desktop_user.gid)
    here = _exec(root_agent, command="pwd", cwd="work")
    assert here["status"] == 200 and here["stdout"].strip() == f"{desktop_user.home}/work", here

    private = open_dir / "private"
    private.mkdir(mode=0o700)  # root's: the user may not enter it
    (private / "inside").mkdir()
    try:
        answers = [_exec(root_agent, command="pwd", cwd=str(path)) for path in (private, private / "inside", private / "absent")]
        # the same 400 for an existing directory and a missing one: a caller learns only what the user could
        assert [a["status"] for a in answers] == [400, 400, 400]
        messages = [a["error"]["message"].replace(str(path), "P") for a, path in zip(answers, (private, private / "inside", private / "absent"))]
        assert len(set(messages)) == 1 and desktop_user.name in messages[0], messages
        # and what the user may enter works, a command that cannot run answers like a shell
        assert _exec(root_agent, command="pwd", cwd=str(open_dir))["stdout"].strip() == str(open_dir)
        assert _exec(root_agent, argv=["no-such-program-xyz"], cwd=str(open_dir))["exitCode"] == 127
    finally:
        (private / "inside").rmdir()
        private.rmdir()
