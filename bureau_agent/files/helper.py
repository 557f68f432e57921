"""The agent's side of the files helper (worker.py): start it as the desktop user, talk to it.

One helper process per operation, started like an exec command (RunAs.popen_kwargs: uid, gid,
supplementary groups, no preexec_fn) plus the configured umask, with a minimal environment and
cwd "/". Its only channel is one end of a SOCK_SEQPACKET socketpair (its number in argv); the agent's end is
non-blocking and read from the event loop. A reply may carry one descriptor (SCM_RIGHTS). Replies
are bounded in size and checked for shape: the helper runs as the user, so the user could
tamper with it, and the agent trusts nothing it says beyond what the user could do anyway.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import marshal
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from bureau_agent.errors import (
    AgentError,
    Exists,
    FileNotFound,
    InsufficientStorage,
    Internal,
    InvalidRequest,
    NotEmpty,
    PermissionDenied,
)
from bureau_agent.process.environment import DEFAULT_PATH, RunAs

log = logging.getLogger("bureau_agent.files")

SOURCE = (Path(__file__).parent / "worker.py").read_text(encoding="utf-8")
MAX_REPLY = 256 * 1024
START_TIMEOUT_S = 10.0  # the helper's first reply to a quick request (open, create)
# Any other reply: generous (a recursive delete or a copy across filesystems takes a while), but a
# bound, so that a helper the user stopped or tampered with cannot hold a slot for ever.
OP_TIMEOUT_S = 600.0
EXIT_WAIT_S = 5.0


def _fail(reply: dict[str, Any], names: dict[str, str]) -> AgentError:
    """The API error for a failed helper operation; names maps the field to the caller's path."""
    err = reply.get("errno") if isinstance(reply.get("errno"), int) else 0
    which = reply.get("which") if reply.get("which") in names else next(iter(names))
    path = names[which]
    reason = str(reply.get("strerror", ""))[:200]
    details = {"field": which, "path": path}
    if err in (errno.ENOENT,):
        return FileNotFound(f"{path} does not exist (as the desktop user sees it).", details=details)
    if err in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDenied(f"The desktop user may not do this to {path}: {reason}.", details=details)
    if err == errno.EEXIST:
        return Exists(f"{path} already exists; pass overwrite=true to replace it.", details=details)
    if err == errno.ENOTEMPTY:
        return NotEmpty(f"{path} is a directory that is not empty.", details=details)
    if err in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(f"No space left for {path}; nothing was left behind.", details=details)
    if err == errno.EISDIR:
        return InvalidRequest(f"{path} is a directory; a file was expected.", details=details)
    if err == errno.ENOTDIR:
        return InvalidRequest(f"A part of {path} is not a directory.", details=details)
    if err in (errno.ELOOP, errno.ENAMETOOLONG, errno.EINVAL, errno.EXDEV, errno.EBUSY):
        return InvalidRequest(f"{path}: {reason}.", details=details)
    log.warning("files helper failed", extra={"errno": err, "error": reason})
    return Internal(f"The file operation on {path} failed: {reason or 'the helper stopped'}.")


def interpreter(name: str) -> str:
    """The helper's Python: the desktop's (the `python` setting, looked up in the PATH commands
    get), which the desktop user can run; the agent's own may sit where only root can enter (a
    venv under /root). The agent's as a last resort."""
    found = name if "/" in name else shutil.which(name, path=DEFAULT_PATH)
    return found or sys.executable


def os_error(exc: OSError, path: str) -> AgentError:
    """The API error for an OSError of the agent's own reads and writes on a passed descriptor."""
    return _fail({"errno": exc.errno or 0, "strerror": exc.strerror or str(exc)}, {"path": path})


class Helper:
    """One running helper process and the agent's end of its socket."""

    def __init__(self, proc: asyncio.subprocess.Process, sock: socket.socket) -> None:
        self._proc = proc
        self._sock = sock

    @classmethod
    async def start(cls, run_as: RunAs, umask: int, python: str) -> Helper:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            ours.setblocking(False)
            env = {"PATH": "/usr/bin:/bin", "HOME": run_as.home, "USER": run_as.name, "LANG": "C.UTF-8"}
            # pass_fds keeps the descriptor's number in the child: the helper is told it in argv.
            proc = await asyncio.create_subprocess_exec(
                python, "-I", "-S", "-c", SOURCE, str(theirs.fileno()),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),), cwd="/", env=env, umask=umask,
                start_new_session=True, **run_as.popen_kwargs(),
            )  # fmt: skip
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return cls(proc, ours)

    async def send(self, message: dict[str, Any]) -> None:
        # marshal: the helper reads it with a built-in module (json would slow its start).
        await asyncio.get_running_loop().sock_sendall(self._sock, marshal.dumps(message))

    async def receive(self, timeout_s: float = OP_TIMEOUT_S) -> tuple[dict[str, Any], int | None]:
        """One reply and the descriptor it carried (the caller owns it), or Internal on EOF."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self._sock, MAX_REPLY, 1)
                break
            except (BlockingIOError, InterruptedError):
                ready = loop.create_future()
                loop.add_reader(self._sock.fileno(), lambda: ready.done() or ready.set_result(None))
                try:
                    await asyncio.wait_for(ready, timeout_s)
                except asyncio.TimeoutError:
                    raise Internal("The file helper did not answer in time.") from None
                finally:
                    loop.remove_reader(self._sock.fileno())
        fd = fds[0] if fds else None
        for extra in fds[1:]:
            os.close(extra)
        try:
            reply = json.loads(data) if data else None
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            if fd is not None:
                os.close(fd)
            raise Internal("The file helper stopped without an answer.")
        return reply, fd

    async def close(self) -> None:
        """Close our end (the helper aborts whatever it holds and exits) and reap it."""
        self._sock.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._proc.wait()), EXIT_WAIT_S)
        except asyncio.TimeoutError:
            self._kill()
            await self._proc.wait()
        except asyncio.CancelledError:
            self._kill()
            raise

    def _kill(self) -> None:
        try:
            os.killpg(self._proc.pid, 9)
        except ProcessLookupError:
            pass

    async def __aenter__(self) -> Helper:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def expect(reply: dict[str, Any], fd: int | None, names: dict[str, str], *, want_fd: bool = False) -> dict[str, Any]:
    """reply when it says ok (and carried a descriptor of a regular file when one is wanted)."""
    if reply.get("ok") is not True:
        if fd is not None:
            os.close(fd)
        raise _fail(reply, names)
    if want_fd:
        if fd is None or not stat.S_ISREG(os.fstat(fd).st_mode):
            if fd is not None:
                os.close(fd)
            raise Internal("The file helper answered without an open file.")
    elif fd is not None:
        os.close(fd)
    return reply
