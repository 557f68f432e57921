"""Child processes of a local desktop: started in their own session, ended group and all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Mapping, Sequence
from typing import IO

import psutil

log = logging.getLogger("bureau_agent.controlplane.processes")


async def spawn(
    argv: Sequence[str], env: Mapping[str, str], output: IO[bytes], pass_fds: Sequence[int] = ()
) -> asyncio.subprocess.Process:
    """Start argv in a new session (its own process group), output appended to `output`."""
    return await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=output,
        stderr=output,
        pass_fds=tuple(pass_fds),
        start_new_session=True,
    )


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the leader's pid


def _descendants(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).children(recursive=True)
    return []


def _kill_all(procs: list[psutil.Process]) -> None:
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()


async def end(proc: asyncio.subprocess.Process, grace_s: float) -> int | None:
    """TERM the process group, KILL it after grace_s; also KILL group members the leader left,
    and every descendant found before: a terminal's shell and its jobs run in sessions of their
    own (an xterm's shell, the shell's background jobs), out of the group's reach."""
    below = _descendants(proc.pid) if proc.returncode is None else []
    if proc.returncode is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except asyncio.TimeoutError:
            log.warning("child did not stop in time; killing it", extra={"pid": proc.pid})
    _signal_group(proc, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await proc.wait()
    # what they started meanwhile too (reparented to init by now: found through the ones still there)
    _kill_all(below + [d for p in below for d in _descendants(p.pid)])
    return proc.returncode


async def read_line(read_fd: int, timeout_s: float) -> str:
    """The first line a child writes to a pipe (Xvfb's -displayfd, dbus-daemon's
    --print-address), read in a thread: it blocks. "" when the child exits first."""
    def read() -> str:
        # The thread owns the pipe: it returns at EOF once the child is ended, then closes it.
        with os.fdopen(read_fd, "r") as reader:
            return reader.readline()

    return (await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, read), timeout_s)).strip()


async def read_display_number(read_fd: int, timeout_s: float) -> int:
    """The display number Xvfb writes to its -displayfd pipe."""
    text = await read_line(read_fd, timeout_s)
    if not text.isdigit():
        raise RuntimeError("Xvfb exited before it reported a display number")
    return int(text)


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now; the agent fails to bind in the rare race, and the boot retries."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
