"""Finding and ending a process tree, with real processes that leave their group."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import psutil

from bureau_agent.process.environment import RUN_ID_VAR
from bureau_agent.process.tree import end_tree, find_tree
from tests.support.procs import gone


def start_tree(run_id: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A shell in its own session with a child in its group and one that setsid'ed away."""
    script = "sleep 60 & echo $!; setsid sh -c 'echo $$; exec sleep 61' & wait"
    proc = subprocess.Popen(
        ["sh", "-c", script],
        env=env if env is not None else {"PATH": os.environ["PATH"], RUN_ID_VAR: run_id},
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    pids = [int(proc.stdout.readline()), int(proc.stdout.readline())]
    return proc, pids


def start_ready(script: str, run_id: str) -> subprocess.Popen[bytes]:
    """sh -c script in a session of its own, returned once it printed "ready"."""
    proc = subprocess.Popen(
        ["sh", "-c", script],
        env={"PATH": os.environ["PATH"], RUN_ID_VAR: run_id},
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


async def test_find_tree_sees_the_group_and_the_setsid_escapee() -> None:
    proc, (in_group, escaped) = start_tree("tree-a")
    try:
        assert os.getsid(escaped) != os.getsid(proc.pid)
        found = {p.pid for p in find_tree(proc.pid, proc.pid, "tree-a")}
        assert {proc.pid, in_group, escaped} <= found
        assert os.getpid() not in found
        assert not find_tree(proc.pid + 10_000_000, None, "another-run")
    finally:
        await end_tree(proc.pid, "tree-a", 1.0, root_pid=proc.pid)
        proc.wait(timeout=5)


async def test_end_tree_ends_everything_with_sigterm() -> None:
    proc, pids = start_tree("tree-b")
    sent = await end_tree(proc.pid, "tree-b", 2.0, root_pid=proc.pid)
    proc.wait(timeout=5)
    assert sent == "SIGTERM"
    deadline = time.monotonic() + 5
    while not all(gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all(gone(p) for p in pids)


async def test_end_tree_kills_what_ignores_sigterm() -> None:
    proc = start_ready("trap '' TERM; echo ready; while :; do sleep 0.05; done", "tree-c")
    sent = await end_tree(proc.pid, "tree-c", 0.2, root_pid=proc.pid)
    assert sent == "SIGKILL"
    assert proc.wait(timeout=5) == -9


async def test_end_tree_leaves_the_exit_status_of_the_main_process_to_its_parent() -> None:
    # The runner reports how the main process ended from asyncio's waitpid: end_tree must not reap it.
    proc = start_ready("echo ready; exec sleep 60", "tree-d")
    assert await end_tree(proc.pid, "tree-d", 2.0, root_pid=proc.pid) == "SIGTERM"
    assert proc.wait(timeout=5) == -15


async def test_end_tree_kills_what_the_tree_starts_during_the_grace(tmp_path: Path) -> None:
    # On TERM the shell starts a setsid child (out of the group, not yet found), then exits.
    late = tmp_path / "late"
    script = f"trap 'setsid sleep 62 & echo $! > {late}; exit 0' TERM; echo ready; while :; do sleep 0.05; done"
    proc = start_ready(script, "tree-e")
    try:
        assert await end_tree(proc.pid, "tree-e", 2.0, root_pid=proc.pid) == "SIGKILL"
        assert proc.wait(timeout=5) == 0
        pid = int(late.read_text())
        deadline = time.monotonic() + 5
        while not gone(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert gone(pid)
    finally:
        if late.exists():
            try:
                psutil.Process(int(late.read_text())).kill()
            except psutil.Error:
                pass
