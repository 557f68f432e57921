"""`bureau-agent serve` as systemd runs it: a real process, a real notify socket, a real fake
control plane. READY=1 once bound, WATCHDOG=1 pings, STOPPING=1 and a last `stopping` beat on
SIGTERM, exit 0, and never the token in a log line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import psutil
import pytest
from aiohttp import web

from tests.support.control import FakeControlPlane, NotifySocket
from tests.support.wait import wait_until
from tests.support.wait import wait_until
from tests.support.xvfb import Xvfb

TOKEN = "server-test-token-" + "q" * 20
HEARTBEAT_TOKEN = "server-test-beat-" + "b" * 20


async def start_agent(display: str, heartbeat_url: str, output: int | None, **extra_env: str) -> asyncio.subprocess.Process:
    """`python -m bureau_agent serve` on display, beating to heartbeat_url (every 300 s: only
    the beats on change and the last one), with extra_env on top; no NOTIFY_SOCKET unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_AGENT_") and k != "NOTIFY_SOCKET"}
    env.update(
        {
            "BUREAU_AGENT_CONFIG": "/dev/null",
            "BUREAU_AGENT_TOKEN": TOKEN,
            "BUREAU_AGENT_HEARTBEAT_URL": heartbeat_url,
            "BUREAU_AGENT_HEARTBEAT_TOKEN": HEARTBEAT_TOKEN,
            "BUREAU_AGENT_DESKTOP_ID": "desk-srv",
            "BUREAU_AGENT_HEARTBEAT_INTERVAL_S": "300",
            **extra_env,
        }
    )
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bureau_agent", "serve", "--listen", "127.0.0.1:0", "--display", display,
        env=env, stdout=output, stderr=asyncio.subprocess.STDOUT,
    )


@pytest.mark.parametrize("abstract", [False, True], ids=["path-socket", "abstract-socket"])
async def test_systemd_notify_lifecycle_with_a_last_beat(xvfb: Xvfb, tmp_path: Path, abstract: bool) -> None:
    control_plane = await FakeControlPlane().start()
    notify = NotifySocket(str(tmp_path), abstract=abstract)
    proc = await start_agent(
        xvfb.name, control_plane.url, asyncio.subprocess.PIPE,
        NOTIFY_SOCKET=notify.address, WATCHDOG_USEC="200000",  # a ping every 0.1 s
    )
    try:
        ready = await notify.expect("READY=1", timeout=20)
        match = re.search(r"STATUS=listening on 127\.0\.0\.1:(\d+); agentReady=(true|false)", ready)
        assert match, ready
        port = int(match.group(1))
        # READY=1 came after the bind: the port answers right away.
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/v1/health") as resp:
                assert resp.status == 200
        await notify.expect("WATCHDOG=1", timeout=5)
        await control_plane.wait_for(lambda b: b["state"] == "ready", timeout=10)
        watchdogs = sum(m == "WATCHDOG=1" for m in notify.receive_now())
        proc.send_signal(signal.SIGTERM)
        await notify.expect("STOPPING=1", timeout=10)
        output, _ = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        notify.close()
        await control_plane.close()
    assert proc.returncode == 0
    assert watchdogs >= 1
    last = control_plane.beats[-1]
    assert last["state"] == "stopping" and last["desktopId"] == "desk-srv"
    assert [b["seq"] for b in control_plane.beats] == list(range(1, len(control_plane.beats) + 1))
    assert control_plane.auth[-1] == f"Bearer {HEARTBEAT_TOKEN}"  # its own credential, not the agent token
    text = output.decode()
    assert TOKEN not in text and HEARTBEAT_TOKEN not in text
    messages = [json.loads(line)["msg"] for line in text.splitlines() if line.strip()]
    assert messages.index("listening") < messages.index("stopping") < messages.index("stopped")


async def test_exit_0_even_when_the_control_plane_hangs_on_the_last_beat(xvfb: Xvfb, tmp_path: Path) -> None:
    async def hang_after_first(index: int, beat: dict) -> web.StreamResponse:
        if index:
            await asyncio.sleep(60)
        return web.json_response({})

    control_plane = await FakeControlPlane(hang_after_first).start()
    proc = await start_agent(xvfb.name, control_plane.url, asyncio.subprocess.DEVNULL, BUREAU_AGENT_HEARTBEAT_TIMEOUT_S="30")
    try:
        await control_plane.wait_count(1, timeout=20)
        loop = asyncio.get_running_loop()
        started = loop.time()
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 15)
        elapsed = loop.time() - started
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await control_plane.close()
    assert proc.returncode == 0
    assert control_plane.beats[-1]["state"] == "stopping"
    assert elapsed < 5  # the 30 s beat timeout did not apply: the last beat is bounded to 2 s


async def test_sigterm_answers_the_call_in_flight_before_the_last_beat(xvfb: Xvfb) -> None:
    events: list[str] = []

    async def record(index: int, beat: dict) -> web.StreamResponse:
        events.append(f"beat:{beat['state']}")
        return web.json_response({})

    control_plane = await FakeControlPlane(record).start()
    proc = await start_agent(xvfb.name, control_plane.url, asyncio.subprocess.PIPE)
    try:
        port = None
        while port is None:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)  # type: ignore[union-attr]
            assert line, "the agent exited before listening"
            record_line = json.loads(line)
            if record_line["msg"] == "listening":
                port = int(record_line["listen"].rsplit(":", 1)[1])
        await control_plane.wait_count(1, timeout=10)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
            async def call() -> int:
                async with session.post(f"http://127.0.0.1:{port}/v1/exec", json={"command": "sleep 30"}) as resp:
                    await resp.read()
                    events.append(f"exec:{resp.status}")
                    return resp.status

            in_flight = asyncio.ensure_future(call())
            agent = psutil.Process(proc.pid)  # the command is running: its `sleep 30` is there

            def running() -> bool:
                return any(p.name() == "sleep" for p in agent.children(recursive=True))

            await wait_until(running, timeout_s=10, what="the command to run")
            proc.send_signal(signal.SIGTERM)
            status = await asyncio.wait_for(in_flight, 15)
        await asyncio.wait_for(proc.wait(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await control_plane.close()
    assert proc.returncode == 0 and status == 200
    # stopping at once (the control plane stops sending calls), the call, then the last beat
    assert events == ["beat:ready", "beat:stopping", "exec:200", "beat:stopping"]


async def _listening_port(proc: asyncio.subprocess.Process) -> int:
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)  # type: ignore[union-attr]
        assert line, "the agent exited before listening"
        record_line = json.loads(line)
        if record_line["msg"] == "listening":
            return int(record_line["listen"].rsplit(":", 1)[1])


async def _drain(proc: asyncio.subprocess.Process) -> None:
    """Keep reading the agent's log so that a full pipe never blocks it."""
    while await proc.stdout.readline():  # type: ignore[union-attr]
        pass


GRACE_S = 3.0
KILL_GRACE_S = 0.5


async def test_sigterm_lets_short_calls_finish_and_ends_long_ones_at_the_grace(xvfb: Xvfb, tmp_path: Path) -> None:
    """The contract's example: `sleep 1; echo finished` in flight answers `finished`; a 60 s
    command is ended at the grace and answers its output so far; both answer 200; chat calls
    follow the same rule (a 1 s turn answers its reply, a turn still running at the grace is
    ended and answered 503 chat_unavailable, since a turn has no partial reply); exit 0."""
    # The chat "agent": `quick` answers after 1 s, anything else says it started and hangs.
    agent_script = (
        f'case "$1" in quick) touch {tmp_path}/chat-quick; sleep 1; echo "reply to $1";; '
        f'*) touch {tmp_path}/chat-started; exec sleep 60;; esac'
    )
    env = {
        "BUREAU_AGENT_SHUTDOWN_GRACE_S": str(GRACE_S),
        "BUREAU_AGENT_EXEC_KILL_GRACE_MS": str(int(KILL_GRACE_S * 1000)),
        "BUREAU_AGENT_CHAT_BACKEND": "command",
        "BUREAU_AGENT_CHAT_COMMAND": json.dumps(["sh", "-c", agent_script, "sh", "{message}"]),
    }
    beats: list[str] = []

    async def record(index: int, beat: dict) -> web.StreamResponse:
        beats.append(beat["state"])
        return web.json_response({})

    control_plane = await FakeControlPlane(record).start()
    proc = await start_agent(xvfb.name, control_plane.url, asyncio.subprocess.PIPE, **env)
    drain: asyncio.Task[None] | None = None
    try:
        port = await _listening_port(proc)
        drain = asyncio.ensure_future(_drain(proc))
        await control_plane.wait_count(1, timeout=10)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
            async def post(path: str, body: dict) -> tuple[int, dict]:
                async with session.post(base + path, json=body) as resp:
                    return resp.status, await resp.json()

            short_started, long_started = tmp_path / "short-started", tmp_path / "long-started"
            short = asyncio.ensure_future(post("/v1/exec", {"command": f"touch {short_started}; sleep 1; echo finished"}))
            long = asyncio.ensure_future(post("/v1/exec", {"command": f"echo partial; touch {long_started}; sleep 60; echo never"}))
            chat_long = asyncio.ensure_future(post("/v1/chat", {"message": "hang"}))
            await wait_until(lambda: short_started.exists() and long_started.exists() and (tmp_path / "chat-started").exists(), 15, "the commands to run")
            # The quick chat turn starts now, so it is in flight when the signal comes (its
            # 1 s runs inside the 3 s grace).
            chat_short = asyncio.ensure_future(post("/v1/chat", {"message": "quick"}))
            await wait_until(lambda: (tmp_path / "chat-quick").exists(), 15, "the quick chat turn to run")
            proc.send_signal(signal.SIGTERM)
            # Bounded: the grace, the kill grace, the 2 s last beat, and room for a loaded machine.
            bound = GRACE_S + KILL_GRACE_S + 2 + 10
            (short_status, short_body), (long_status, long_body), (cs_status, cs_body), (cl_status, cl_body) = await asyncio.wait_for(
                asyncio.gather(short, long, chat_short, chat_long), bound
            )
            await asyncio.wait_for(proc.wait(), bound)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if drain is not None:
            await asyncio.wait_for(drain, 5)
        await control_plane.close()
    assert proc.returncode == 0
    assert short_status == 200 and short_body["stdout"] == "finished\n", short_body
    assert short_body["exitCode"] == 0 and short_body.get("signal") is None, short_body
    assert long_status == 200 and long_body["stdout"] == "partial\n", long_body
    assert long_body["signal"] in ("SIGTERM", "SIGKILL"), long_body
    assert cs_status == 200 and cs_body.get("response") == "reply to quick", cs_body
    assert cl_status == 503 and cl_body["error"]["code"] == "chat_unavailable", cl_body
    assert beats[0] == "ready" and beats[-1] == "stopping"
