"""POST /v1/exec, /v1/bash and /v1/python over HTTP, with real processes.

The agents here have no display (display=None): these routes must not need one.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Callable

import aiohttp
import psutil
import pytest
from aiohttp.test_utils import TestClient

from bureau_agent.appkeys import RUNNER
from tests.support.agent import AUTH
from tests.support.procs import gone, wait_gone

MiB = 1024 * 1024


@pytest.fixture
def strays() -> Iterator[list[int]]:
    """pids a test leaves running on purpose; killed at the end whatever happens."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass


@pytest.fixture
async def client(make_agent: Callable[..., Any]) -> AsyncIterator[TestClient]:
    yield await make_agent(None, exec_kill_grace_ms=500)


async def call(client: TestClient, route: str, expect: int = 200, **body: Any) -> dict[str, Any]:
    resp = await client.post(f"/v1/{route}", json=body, headers=AUTH)
    data = await resp.json()
    assert resp.status == expect, data
    return data


async def wait_running(client: TestClient, count: int) -> None:
    runner = client.server.app[RUNNER]
    deadline = time.monotonic() + 10
    while runner.running < count:
        assert time.monotonic() < deadline, "the command did not start"
        await asyncio.sleep(0.01)


# --- results ------------------------------------------------------------------------------


async def test_exit_code_and_separate_streams(client: TestClient) -> None:
    data = await call(client, "exec", command="echo out; echo err >&2; exit 7")
    assert data["stdout"] == "out\n"
    assert data["stderr"] == "err\n"
    assert data["exitCode"] == 7
    assert data["signal"] is None
    assert data["timedOut"] is False
    assert data["truncated"] == {"stdout": False, "stderr": False}
    assert isinstance(data["durationMs"], int) and data["durationMs"] >= 0


async def test_argv_keeps_spaces_and_quotes(client: TestClient) -> None:
    args = ["a b", "it's", '"quoted"', "$HOME", "*", ""]
    data = await call(client, "exec", argv=["printf", "[%s]\\n", *args])
    assert data["stdout"] == "".join(f"[{a}]\n" for a in args)
    assert data["exitCode"] == 0


async def test_cwd(client: TestClient, tmp_path: Any) -> None:
    data = await call(client, "exec", command="pwd", cwd=str(tmp_path))
    assert data["stdout"] == f"{tmp_path}\n"


async def test_env_is_added_to_the_session_environment(client: TestClient) -> None:
    data = await call(client, "exec", argv=["env"], env={"GREETING": "hello world", "EMPTY": ""})
    lines = data["stdout"].splitlines()
    assert "GREETING=hello world" in lines
    assert "EMPTY=" in lines
    assert any(line.startswith("PATH=") for line in lines)
    assert "utf" in next(line for line in lines if line.startswith("LANG=")).lower()
    assert not [line for line in lines if line.startswith("BUREAU_AGENT_") and not line.startswith("BUREAU_AGENT_RUN_ID=")]


async def test_no_agent_setting_reaches_the_child(make_agent: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # The agent's own environment carries BUREAU_AGENT_* settings (a token, under a careless
    # unit): set some before the agent starts, so that a leak would show.
    monkeypatch.setenv("BUREAU_AGENT_TOKEN", "leaked-token-0123456789")
    monkeypatch.setenv("BUREAU_AGENT_HEARTBEAT_TOKEN", "leaked-beat-0123456789")
    monkeypatch.setenv("BUREAU_AGENT_EXEC_MAX_CONCURRENT", "3")
    monkeypatch.setenv("KEPT_FOR_CONTRAST", "x")
    monkeypatch.setenv("LANG", "C.UTF-8")
    client = await make_agent(None)
    data = await call(client, "exec", argv=["env"])
    assert "leaked" not in data["stdout"]
    lines = data["stdout"].splitlines()
    assert [line.split("=", 1)[0] for line in lines if line.startswith("BUREAU_AGENT_")] == ["BUREAU_AGENT_RUN_ID"]
    assert "LANG=C.UTF-8" in lines  # an allow-listed variable of the agent does reach it


async def test_display_comes_from_the_settings(make_agent: Callable[..., Any]) -> None:
    client = await make_agent(":42")
    data = await call(client, "exec", command='printf %s "$DISPLAY"')
    assert data["stdout"] == ":42"


async def test_stdin(client: TestClient) -> None:
    data = await call(client, "exec", command="tr a-z A-Z; echo done", stdin="hello\nwörld\n")
    assert data["stdout"] == "HELLO\nWöRLD\ndone\n"


async def test_stdin_defaults_to_dev_null(client: TestClient) -> None:
    data = await call(client, "exec", command="cat; readlink /proc/self/fd/0", timeoutMs=5000)
    assert data["timedOut"] is False
    assert data["stdout"] == "/dev/null\n"


async def test_bash_heredoc_script(client: TestClient) -> None:
    script = 'name=world\ncat <<EOF\nhello $name\nEOF\ncat <<\'RAW\'\n$name\nRAW\nread -r line; echo "got $line"\n'
    data = await call(client, "bash", script=script, stdin="from stdin\n")
    assert data["stdout"] == "hello world\n$name\ngot from stdin\n"
    assert data["exitCode"] == 0


async def test_python_code_and_traceback(client: TestClient) -> None:
    ok = await call(client, "python", code="import sys\nprint(sys.stdin.read().upper())", stdin="abc")
    assert ok["stdout"] == "ABC\n"
    assert ok["exitCode"] == 0
    bad = await call(client, "python", code="def f():\n    raise ValueError('boom')\nf()\n")
    assert bad["exitCode"] == 1
    assert "Traceback (most recent call last)" in bad["stderr"]
    assert "ValueError: boom" in bad["stderr"]


async def test_output_over_the_cap_is_truncated(client: TestClient) -> None:
    data = await call(client, "python", code="import sys\nsys.stdout.write('x' * (2 * 1024 * 1024))\nprint('e', file=sys.stderr)")
    assert data["exitCode"] == 0
    assert data["stdout"] == "x" * MiB
    assert data["truncated"] == {"stdout": True, "stderr": False}
    assert data["stderr"] == "e\n"


async def test_configured_cap(make_agent: Callable[..., Any]) -> None:
    client = await make_agent(None, exec_output_limit_bytes=1024)
    data = await call(client, "exec", command="head -c 5000 /dev/zero | tr '\\0' y >&2")
    assert data["stderr"] == "y" * 1024
    assert data["truncated"] == {"stdout": False, "stderr": True}


async def test_invalid_utf8_is_replaced(client: TestClient) -> None:
    data = await call(client, "exec", command="printf 'a\\377b\\300'")
    assert data["stdout"] == "a\ufffdb\ufffd"


async def test_killed_by_a_signal(client: TestClient) -> None:
    data = await call(client, "exec", command="kill -KILL $$")
    assert data["exitCode"] is None
    assert data["signal"] == "SIGKILL"
    assert data["timedOut"] is False


async def test_missing_program_is_exit_127(client: TestClient) -> None:
    data = await call(client, "exec", argv=["/nonexistent/program"])
    assert data["exitCode"] == 127
    assert "/nonexistent/program" in data["stderr"]


# --- timeouts and process trees --------------------------------------------------------------


async def test_timeout_ends_grandchildren_including_setsid_ones(client: TestClient, strays: list[int]) -> None:
    script = (
        "sleep 300 & echo $!\n"
        "setsid sh -c 'echo $$; exec sleep 301' &\n"
        "( setsid sh -c 'sleep 302 & echo $!' & )\n"  # double fork + new session: orphaned away
        "sleep 0.2; echo partial >&2\n"
        "wait\n"
    )
    data = await call(client, "bash", script=script, timeoutMs=1000)
    pids = [int(line) for line in data["stdout"].split()]
    strays.extend(pids)
    assert len(pids) == 3
    assert data["timedOut"] is True
    assert data["exitCode"] is None
    assert data["signal"] == "SIGTERM"
    assert data["stderr"] == "partial\n"
    assert await wait_gone(pids)


async def test_timeout_kills_what_ignores_sigterm(client: TestClient) -> None:
    data = await call(client, "bash", script="trap '' TERM; echo $$; while :; do sleep 0.05; done", timeoutMs=300)
    assert data["timedOut"] is True
    assert data["signal"] == "SIGKILL"
    assert await wait_gone([int(data["stdout"])])


async def test_background_program_survives_and_the_call_returns(client: TestClient, strays: list[int]) -> None:
    started = time.monotonic()
    # The first sleep holds stdout and stderr open; the others are the usual ways to detach.
    data = await call(
        client,
        "exec",
        command="sleep 100 & echo $!; nohup sleep 101 >/dev/null 2>&1 & echo $!; setsid sleep 102 & echo $!; echo bye",
        timeoutMs=30_000,
    )
    elapsed = time.monotonic() - started
    *pids, last = data["stdout"].split()
    strays.extend(int(p) for p in pids)
    assert elapsed < 2
    assert last == "bye"
    assert data["exitCode"] == 0 and data["timedOut"] is False
    for pid in pids:
        assert not gone(int(pid)), f"background program {pid} was ended"


async def test_background_program_keeps_writing_without_dying(
    client: TestClient, strays: list[int], tmp_path: Any
) -> None:
    # Each round writes to the inherited stdout first, then counts itself in a file: rounds
    # counted after the call has answered prove its writes to the agent's pipe did not kill it.
    # The loop may print before the pid does, so the pid is tagged.
    ticks = tmp_path / "ticks"
    loop = f"(while :; do echo tick; echo >> {ticks}; sleep 0.01; done) & echo pid=$!"
    data = await call(client, "exec", command=loop, timeoutMs=30_000)
    pid = int(next(w for w in data["stdout"].split() if w.startswith("pid="))[4:])
    strays.append(pid)

    def rounds() -> int:
        return ticks.stat().st_size if ticks.exists() else 0

    answered_at = rounds()
    deadline = time.monotonic() + 10
    while rounds() < answered_at + 20:
        assert not gone(pid), "the background program died writing to its stdout"
        assert time.monotonic() < deadline, "the background program stopped writing"
        await asyncio.sleep(0.01)
    assert not gone(pid)


# --- bounds ----------------------------------------------------------------------------


async def test_64_concurrent_calls(make_agent: Callable[..., Any]) -> None:
    client = await make_agent(None, exec_max_concurrent=64)
    results = await asyncio.gather(
        *(call(client, "exec", command=f"sleep 0.2; echo {i}") for i in range(64))
    )
    assert [r["stdout"] for r in results] == [f"{i}\n" for i in range(64)]


async def test_over_the_bound_is_429_with_retry_after(make_agent: Callable[..., Any]) -> None:
    client = await make_agent(None, exec_max_concurrent=1)
    first = asyncio.ensure_future(call(client, "exec", command="sleep 0.5; echo first"))
    await wait_running(client, 1)
    resp = await client.post("/v1/python", json={"code": "pass"}, headers=AUTH)
    body = await resp.json()
    assert resp.status == 429
    assert body["error"]["code"] == "busy"
    assert int(resp.headers["Retry-After"]) >= 1
    assert (await first)["stdout"] == "first\n"
    assert (await call(client, "python", code="print(1)"))["stdout"] == "1\n"


async def test_no_zombies_after_500_calls(client: TestClient) -> None:
    sem = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with sem:
            data = await call(client, "exec", argv=["true"] if i % 2 else ["false"])
            assert data["exitCode"] == i % 2 ^ 1

    await asyncio.gather(*(one(i) for i in range(500)))
    await asyncio.sleep(0.1)
    zombies = [c.pid for c in psutil.Process().children() if c.status() == psutil.STATUS_ZOMBIE]
    assert zombies == []


async def test_shutdown_ends_running_commands_and_answers_callers(
    make_agent: Callable[..., Any], strays: list[int]
) -> None:
    client = await make_agent(None, exec_kill_grace_ms=500, shutdown_grace_s=0.5)
    async with aiohttp.ClientSession() as session:  # not the test client's: it is closed with the server

        async def post(body: dict[str, Any]) -> dict[str, Any]:
            async with session.post(client.make_url("/v1/bash"), json=body, headers=AUTH) as resp:
                assert resp.status == 200
                return await resp.json()

        calls = [
            asyncio.ensure_future(post({"script": "echo $$; setsid sleep 300 & echo $!; wait"})),
            asyncio.ensure_future(post({"script": "trap '' TERM; echo $$; while :; do sleep 0.05; done"})),
        ]
        await wait_running(client, 2)
        await asyncio.sleep(0.2)  # let them print their pids
        await client.server.close()
        first, second = await asyncio.wait_for(asyncio.gather(*calls), 10)
    pids = [int(p) for p in first["stdout"].split()] + [int(second["stdout"])]
    strays.extend(pids)
    assert first["signal"] == "SIGTERM" and first["exitCode"] is None and first["timedOut"] is False
    assert second["signal"] == "SIGKILL"
    assert await wait_gone(pids)


# --- requests that are refused ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("exec", {}, "command"),
        ("exec", {"command": "true", "argv": ["true"]}, "command"),
        ("exec", {"command": "true", "timeoutMs": 3_600_001}, "timeoutMs"),
        ("exec", {"command": "true", "timeoutMs": 0}, "timeoutMs"),
        ("exec", {"command": "true", "cwd": "/nonexistent/dir"}, "cwd"),
        ("exec", {"command": "true", "cwd": "/etc/hostname"}, "cwd"),
        ("exec", {"command": "true", "env": {"A=B": "x"}}, "env"),
        ("exec", {"command": "true", "env": {"": "x"}}, "env"),
        ("exec", {"command": "true", "env": {"A": 1}}, "env.A"),
        ("exec", {"command": "true", "shell": "zsh"}, "shell"),
        ("exec", {"argv": []}, "argv"),
        ("bash", {}, "script"),
        ("python", {"code": "x" * 200_000}, "code"),
    ],
)
async def test_invalid_requests(client: TestClient, route: str, body: dict[str, Any], field: str) -> None:
    data = await call(client, route, expect=400, **body)
    assert data["error"]["code"] == "invalid_request"
    assert field in data["error"]["message"]


async def test_requires_auth(client: TestClient) -> None:
    resp = await client.post("/v1/exec", json={"command": "true"})
    assert resp.status == 401


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs a root agent")
async def test_root_agent_runs_commands_as_exec_user(make_agent: Callable[..., Any], tmp_path: Any) -> None:
    import pwd

    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no nobody account")
    client = await make_agent(None, exec_user="nobody")
    data = await call(client, "exec", command='id -u; id -g; echo "$USER $LOGNAME $HOME"; pwd')
    uid, gid, names, cwd = data["stdout"].splitlines()
    assert (int(uid), int(gid)) == (user.pw_uid, user.pw_gid)
    assert names == f"nobody nobody {user.pw_dir}"
    assert cwd == (user.pw_dir if os.path.isdir(user.pw_dir) else "/")
    secret = tmp_path / "secret"
    secret.write_text("root only")
    secret.chmod(0o600)
    denied = await call(client, "exec", argv=["cat", str(secret)])
    assert denied["exitCode"] != 0 and "Permission denied" in denied["stderr"]
    # tmp_path is root's: nobody cannot make it its working directory either
    refused = await call(client, "exec", expect=400, command="cat secret", cwd=str(tmp_path))
    assert refused["error"]["message"] == f"cwd {str(tmp_path)!r} is not a directory that nobody can enter."
