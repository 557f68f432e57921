"""The Runner without HTTP: cancellation, shutdown and the bound, with real processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bureau_agent.errors import Busy
from bureau_agent.process.environment import Session
from bureau_agent.process.runner import Command, Runner
from tests.support.procs import gone


@pytest.fixture
async def runner() -> AsyncIterator[Runner]:
    runner = Runner(
        Session(display=None, xauthority=None, user=None),
        max_concurrent=2,
        output_limit_bytes=4096,
        kill_grace_s=0.5,
    )
    yield runner
    await runner.close()


def sh(script: str, timeout_s: float = 30) -> Command:
    return Command(argv=["sh", "-c", script], timeout_s=timeout_s)


async def read_pid(marker_file: str) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(marker_file) as fh:
                text = fh.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        await asyncio.sleep(0.01)
    raise AssertionError("the command did not start")


async def test_a_cancelled_call_still_ends_its_tree(runner: Runner, tmp_path: object) -> None:
    pid_file = f"{tmp_path}/pid"
    task = asyncio.ensure_future(runner.run(sh(f"sleep 300 & echo $! > {pid_file}; wait")))
    pid = await read_pid(pid_file)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 5
    while not gone(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert gone(pid)
    assert runner.running == 0


async def test_over_the_bound_is_busy_and_the_slot_comes_back(runner: Runner) -> None:
    calls = [asyncio.ensure_future(runner.run(sh("sleep 0.3"))) for _ in range(2)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert runner.running == 2
    with pytest.raises(Busy) as caught:
        await runner.run(sh("true"))
    assert caught.value.headers["Retry-After"] == "1"
    await asyncio.gather(*calls)
    assert (await runner.run(sh("echo ok"))).stdout == "ok\n"


async def test_no_bound_of_its_own_when_max_concurrent_is_none() -> None:
    # The chat backend's runner: the relay counts its calls, so the runner must not refuse any.
    runner = Runner(Session(display=None, xauthority=None, user=None), max_concurrent=None, output_limit_bytes=4096, kill_grace_s=0.5)
    try:
        calls = [asyncio.ensure_future(runner.run(sh("sleep 0.3; echo done"))) for _ in range(5)]
        await asyncio.sleep(0.1)
        assert runner.running == 5
        assert [r.stdout for r in await asyncio.gather(*calls)] == ["done\n"] * 5
    finally:
        await runner.close()


async def test_after_stop_all_new_commands_are_refused(runner: Runner) -> None:
    await runner.stop_all()
    with pytest.raises(Busy, match="shutting down"):
        await runner.run(sh("true"))


async def test_result_json_shape(runner: Runner) -> None:
    result = await runner.run(Command(argv=["sh", "-c", "printf abc"], timeout_s=5, stdin=b""))
    assert result.to_json() == {
        "stdout": "abc",
        "stderr": "",
        "exitCode": 0,
        "signal": None,
        "timedOut": False,
        "durationMs": result.duration_ms,
        "truncated": {"stdout": False, "stderr": False},
    }
