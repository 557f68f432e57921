"""Running one command to completion, bounded in time, output and number, never hanging.

Each command is an asyncio subprocess in its own session (so its own process group), as the
desktop user, with stdin from the request or /dev/null and both outputs on pipes read by a
protocol that keeps draining past the cap. The call ends when the main process ends:

- Normal exit: we wait up to SETTLE_S for the pipes to reach EOF (the last bytes written just
  before exit), then answer. A background program (`xterm &`, `nohup app &`) that still holds the
  pipes does not hold the answer: from then on its output is read and thrown away by a lingering
  reader, so it never blocks on a full pipe nor dies of SIGPIPE. Up to MAX_LINGERING such pipe
  pairs are kept; beyond that, and when the agent stops, our ends are closed (the program then
  gets EPIPE/SIGPIPE if it writes to them).
- Timeout, or agent shutdown: the whole tree is ended (tree.end_tree: TERM, grace, KILL) and the
  output gathered so far is returned.
- The caller went away (the handler is cancelled): the tree is ended in the background all the
  same.

The main process is always reaped (asyncio's child watcher waits for it), so no zombie is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from bureau_agent.errors import Busy, Internal, InvalidRequest
from bureau_agent.process.environment import Session
from bureau_agent.process.output import BoundedBuffer
from bureau_agent.process.tree import end_tree

log = logging.getLogger("bureau_agent.process")

SETTLE_S = 0.1  # after the main process exits: how long its pipes may take to reach EOF
REAP_WAIT_S = 5.0  # after SIGKILL: how long the call waits for the main process to be reaped
MAX_LINGERING = 64  # background programs whose output we keep draining after the call


@dataclasses.dataclass(frozen=True)
class Command:
    argv: list[str]
    timeout_s: float
    stdin: bytes | None = None
    cwd: str | None = None
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Called on the event loop with each piece of stdout that is kept, as it arrives (chat
    # streaming); never with what is past the output limit or from a background program.
    on_stdout: Callable[[bytes], None] | None = None


@dataclasses.dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_code: int | None
    signal: str | None
    timed_out: bool
    duration_ms: int
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "stdout": self.stdout,
            "stderr": self.stderr,
            "exitCode": self.exit_code,
            "signal": self.signal,
            "timedOut": self.timed_out,
            "durationMs": self.duration_ms,
            "truncated": {"stdout": self.stdout_truncated, "stderr": self.stderr_truncated},
        }


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


class _Capture(asyncio.SubprocessProtocol):
    """Feeds both pipes into bounded buffers; futures for EOF of each pipe and for the exit."""

    def __init__(
        self, limit: int, loop: asyncio.AbstractEventLoop, on_stdout: Callable[[bytes], None] | None = None
    ) -> None:
        self.on_stdout = on_stdout
        self.streams = {1: BoundedBuffer(limit), 2: BoundedBuffer(limit)}
        self.eof: dict[int, asyncio.Future[None]] = {1: loop.create_future(), 2: loop.create_future()}
        self.exited: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        kept = self.streams[fd].feed(data)
        if fd == 1 and kept and self.on_stdout is not None:
            self.on_stdout(kept)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        future = self.eof.get(fd)
        if future is not None and not future.done():
            future.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def finished(self) -> bool:
        return self.exited.done() and all(f.done() for f in self.eof.values())


class Runner:
    """Runs commands; at most max_concurrent at once (None: no bound of its own), the rest refused with Busy."""

    def __init__(
        self,
        session: Session,
        *,
        max_concurrent: int | None,
        output_limit_bytes: int,
        kill_grace_s: float,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.session = session
        self.max_concurrent = max_concurrent
        self.output_limit_bytes = output_limit_bytes
        self.kill_grace_s = kill_grace_s
        self.settle_s = settle_s
        self.running = 0
        self._closing = False
        self._stop: asyncio.Future[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._lingering: dict[asyncio.Task[None], asyncio.SubprocessTransport] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- public -------------------------------------------------------------------------

    async def run(self, command: Command) -> Result:
        if self._closing:
            raise Busy("The agent is shutting down; retry once it is back.", retry_after_s=5)
        if self.max_concurrent is not None and self.running >= self.max_concurrent:
            raise Busy(
                f"{self.running} commands are already running, the limit (exec_max_concurrent) "
                f"is {self.max_concurrent}; retry shortly.",
                retry_after_s=1,
            )
        self.running += 1
        self._idle.clear()
        try:
            return await self._run(command)
        finally:
            self.running -= 1
            if self.running == 0:
                self._idle.set()

    async def stop_all(self) -> None:
        """Refuse new commands, end the running ones (their callers get their results), wait for them."""
        self._closing = True
        stop = self._stop_future()
        if not stop.done():
            stop.set_result(None)
        await self._idle.wait()

    async def close(self) -> None:
        """stop_all, then let go of the pipes of background programs and finish the cleanups."""
        await self.stop_all()
        for transport in self._lingering.values():
            _close_pipes(transport)
        pending = set(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=self.kill_grace_s + REAP_WAIT_S + 1)
            for task in late:
                task.cancel()

    # --- one command ----------------------------------------------------------------------

    async def _run(self, command: Command) -> Result:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        run_as = self.session.run_as()
        user_kwargs = run_as.popen_kwargs()
        argv, pass_fds, status = command.argv, (), None
        if command.cwd is None:
            cwd = run_as.home if os.path.isdir(run_as.home) else "/"
        else:
            cwd = os.path.join(run_as.home, command.cwd)  # a relative cwd is the user's, not the agent's
            if user_kwargs:
                # subprocess changes directory before it switches user: as root, any directory
                # would do, and whether it exists would answer for root-only places. The child,
                # as the user, changes directory itself; nothing is checked here.
                status, write_end = os.pipe()
                argv, pass_fds = [*CHDIR_AS_USER, str(write_end), cwd, *command.argv], (write_end,)
        run_id = uuid.uuid4().hex
        try:
            transport, proto = await loop.subprocess_exec(
                lambda: _Capture(self.output_limit_bytes, loop, command.on_stdout),
                *argv,
                stdin=subprocess.PIPE if command.stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd="/" if status is not None else cwd,
                env=self.session.environment(command.env, run_id),
                start_new_session=True,
                pass_fds=pass_fds,
                **user_kwargs,
            )
        except OSError as exc:
            if status is not None:
                os.close(status)
            return _spawn_failure(command, cwd, exc, started)
        finally:
            for fd in pass_fds:
                os.close(fd)
        if status is not None and await loop.run_in_executor(None, _chdir_failed, status):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(proto.exited), REAP_WAIT_S)  # it exits at once
            transport.close()
            raise InvalidRequest(
                f"cwd {command.cwd!r} is not a directory that {run_as.name} can enter.", details={"field": "cwd"}
            )
        pid = transport.get_pid()
        stdin = transport.get_pipe_transport(0)
        if stdin is not None:
            if command.stdin:
                stdin.write(command.stdin)
            stdin.close()  # after the buffered bytes are written: the command sees EOF

        timed_out = False
        sent: str | None = None
        try:
            stop = self._stop_future()
            await asyncio.wait((proto.exited, stop), timeout=command.timeout_s, return_when=asyncio.FIRST_COMPLETED)
            if not proto.exited.done():
                timed_out = not stop.done()
                sent = await self._end(pid, run_id, proto)
            await asyncio.wait(tuple(proto.eof.values()), timeout=self.settle_s)
        except asyncio.CancelledError:
            proto.on_stdout = None  # nobody is listening any more
            self._spawn(self._abandon(transport, proto, pid, run_id))
            raise

        returncode = transport.get_returncode()
        out, err = proto.streams[1], proto.streams[2]
        result = Result(
            stdout=out.text(),
            stderr=err.text(),
            exit_code=returncode if returncode is not None and returncode >= 0 else None,
            signal=signal_name(-returncode) if returncode is not None and returncode < 0 else sent,
            timed_out=timed_out,
            duration_ms=int((time.monotonic() - started) * 1000),
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
        )
        if timed_out:
            log.info("command timed out", extra={"pid": pid, "durationMs": result.duration_ms, "signal": result.signal})
        self._release(transport, proto)
        return result

    async def _end(self, pid: int, run_id: str, proto: _Capture) -> str:
        """End the tree of a command that is still running; wait (bounded) for its main process."""
        sent = await end_tree(pid, run_id, self.kill_grace_s, root_pid=pid, root_running=proto.exited)
        try:
            await asyncio.wait_for(asyncio.shield(proto.exited), REAP_WAIT_S)
        except asyncio.TimeoutError:  # stuck in the kernel (D state): reaped later by _linger
            log.warning("command survived SIGKILL", extra={"pid": pid})
        return sent

    async def _abandon(self, transport: asyncio.SubprocessTransport, proto: _Capture, pid: int, run_id: str) -> None:
        if not proto.exited.done():
            await self._end(pid, run_id, proto)
        self._release(transport, proto)

    def _release(self, transport: asyncio.SubprocessTransport, proto: _Capture) -> None:
        """Close the transport now, or once a background program lets go of the pipes."""
        for stream in proto.streams.values():
            stream.freeze()
        if proto.finished():
            transport.close()
            return
        if len(self._lingering) >= MAX_LINGERING or self._closing:
            _close_pipes(transport)
        task = self._spawn(self._linger(transport, proto))
        self._lingering[task] = transport
        task.add_done_callback(lambda t: self._lingering.pop(t, None))

    async def _linger(self, transport: asyncio.SubprocessTransport, proto: _Capture) -> None:
        try:
            await asyncio.wait((proto.exited, *proto.eof.values()))
        finally:
            if proto.exited.done():
                transport.close()  # never kills: the process has exited

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _stop_future(self) -> asyncio.Future[None]:
        if self._stop is None:
            self._stop = asyncio.get_running_loop().create_future()
        return self._stop


# argv prefix: STATUS_FD CWD ARGV... The directory is changed by the child after it became the
# user; a failure writes to the status pipe (which is closed before the command is executed, so
# the command never holds it) and exits. A command that cannot be executed is answered by the
# shell (127 not found, 126 not runnable), like a command without a cwd.
CHDIR_AS_USER = (
    "/bin/bash", "-c",  # not dash: the status pipe's number may have two digits
    'fd=$1; cd -- "$2" 2>/dev/null || { printf x >&"$fd"; exit 125; }; eval "exec $fd>&-"; shift 2; exec "$@"',
    "bureau-agent",
)  # fmt: skip


def _chdir_failed(status_fd: int) -> bool:
    """Blocks until the child executes the command (EOF) or reports a failed chdir."""
    try:
        return os.read(status_fd, 1) != b""
    finally:
        os.close(status_fd)


def _close_pipes(transport: asyncio.SubprocessTransport) -> None:
    for fd in (1, 2):
        pipe = transport.get_pipe_transport(fd)
        if pipe is not None:
            pipe.close()


def _spawn_failure(command: Command, cwd: str, exc: OSError, started: float) -> Result:
    """A command that cannot start is answered like a shell would: 127 not found, 126 not runnable."""
    if exc.filename == cwd and exc.filename != command.argv[0]:
        raise InvalidRequest(f"cwd {cwd!r} cannot be entered: {exc.strerror}.", details={"field": "cwd"}) from None
    if exc.errno == errno.E2BIG:
        raise InvalidRequest("The command line and env are too large for the kernel (E2BIG).") from None
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        code = 127
    elif exc.errno in (errno.EACCES, errno.ENOEXEC, errno.EISDIR, errno.EPERM, errno.ETXTBSY):
        code = 126
    else:
        raise Internal(f"The command could not be started: {exc.strerror or exc}.") from None
    return Result(
        stdout="",
        stderr=f"bureau-agent: {command.argv[0]}: {exc.strerror}\n",
        exit_code=code,
        signal=None,
        timed_out=False,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
