"""Ending a command's whole process tree, including what escaped its process group.

A command runs in its own session, so its process group id is its pid and killpg reaches every
process that stayed in the group. Programs that called setsid() or double-forked have left the
group and may have been re-parented to init; they are found by the marker variable
BUREAU_AGENT_RUN_ID=<run id> that every process of the run inherits, read from
/proc/<pid>/environ. A process that both cleared its environment and left the group is found
only while it is still a descendant of the command's main process.

Processes are identified through psutil, which checks the creation time before each signal, so
a recycled pid is never signalled by mistake. find_tree blocks (it reads all of /proc): call it
from a thread, as the async end_tree does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import psutil

from bureau_agent.process.environment import RUN_ID_VAR


def marker(run_id: str) -> bytes:
    return f"{RUN_ID_VAR}={run_id}".encode()


def _has_marker(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            data = fh.read()
    except OSError:  # gone, a kernel thread, or another user's process
        return False
    return b"\0" + needle + b"\0" in b"\0" + data + b"\0"


def _in_group(pid: int, pgid: int) -> bool:
    try:
        return os.getpgid(pid) == pgid
    except OSError:
        return False


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _still_alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [proc for proc in procs if _alive(proc)]


def find_tree(pgid: int, root_pid: int | None, run_id: str) -> list[psutil.Process]:
    """Every live process of the run: its group, the root's descendants, carriers of the marker.

    root_pid only while the root is not yet reaped (afterwards its pid may belong to another).
    """
    me = os.getpid()
    needle = marker(run_id)
    found: dict[int, psutil.Process] = {}

    def add(proc: psutil.Process) -> None:
        if proc.pid != me and proc.pid not in found and _alive(proc):
            found[proc.pid] = proc

    for pid in psutil.pids():
        if pid != me and (_in_group(pid, pgid) or _has_marker(pid, needle)):
            try:
                add(psutil.Process(pid))
            except psutil.Error:
                pass
    if root_pid is not None:
        try:
            for child in psutil.Process(root_pid).children(recursive=True):
                add(child)
        except psutil.Error:
            pass
    return list(found.values())


def signal_tree(pgid: int, procs: list[psutil.Process], sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:  # the group is empty (or no longer ours)
        pass
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass


async def end_tree(
    pgid: int,
    run_id: str,
    grace_s: float,
    *,
    root_pid: int | None = None,
    root_running: asyncio.Future[None] | None = None,
    poll_s: float = 0.05,
) -> str:
    """SIGTERM (and SIGCONT, for stopped ones) to the tree, up to grace_s for it to go, then SIGKILL.

    Returns the name of the last signal sent ("SIGTERM" when the tree went within the grace).
    root_running, when given, is a future done once the root process was reaped.
    """

    def root() -> int | None:
        return root_pid if root_running is None or not root_running.done() else None

    procs = await asyncio.to_thread(find_tree, pgid, root(), run_id)
    signal_tree(pgid, procs, signal.SIGTERM)
    signal_tree(pgid, procs, signal.SIGCONT)
    # During the grace only the processes found are checked (a /proc read each), no system scan.
    # Not psutil.wait_procs: it waitpid()s our own children, stealing the main process's exit
    # status from asyncio's child watcher, and it counts zombies as alive.
    deadline = time.monotonic() + grace_s
    while procs and (remaining := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(poll_s, remaining))
        procs = await asyncio.to_thread(_still_alive, procs)
    # One rescan catches what the first one missed or what started meanwhile (a TERM handler's child).
    procs = await asyncio.to_thread(find_tree, pgid, root(), run_id)
    if not procs:
        return "SIGTERM"
    signal_tree(pgid, procs, signal.SIGKILL)
    return "SIGKILL"
