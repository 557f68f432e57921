"""The `command` backend: a command-line agent run once per message, never through a shell.

The configured argv is run with asyncio's subprocess; the message is one argv element (the
element holding `{message}`, or else appended last) or the process's stdin. The reply is stdout,
as plain text or as the JSON field chat_reply_field names (a dotted path).

A conversation continues the agent's own session. On a conversation's first message
chat_new_session_args are added after the configured argv (`{conversationId}` filled in, for
agents that let the caller name the session); once it got a reply, chat_resume_args are added
instead (`{sessionId}`, `{conversationId}`). The session id is the JSON field chat_session_field
of the previous reply, or the conversation id when that is not configured.

The child gets the agent's environment minus every BUREAU_AGENT_* variable (the token) and the
systemd plumbing, plus DISPLAY/XAUTHORITY of the desktop. It leads its own process group, which
is ended (TERM, then KILL after exec_kill_grace_ms) when the relay cancels it on timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
from collections.abc import Mapping

from bureau_agent.chat.backend import Backend, dig, excerpt
from bureau_agent.chat.conversations import Conversation
from bureau_agent.errors import ChatUnavailable, InvalidRequest

log = logging.getLogger("bureau_agent.chat")

MESSAGE = "{message}"
MAX_ARG_BYTES = 131_071  # Linux MAX_ARG_STRLEN (32 pages) less the NUL
STDERR_KEEP_BYTES = 16_384  # the tail of stderr kept to explain a failure
PIPE_GRACE_S = 0.5  # after the agent exits, how long a child it left may hold the pipes
READ_CHUNK = 65_536
EXIT_POLL_S = 0.05

# Never handed to the agent: our own settings (the token) and systemd's per-service plumbing.
_DROPPED_ENV = frozenset(
    {"NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "CREDENTIALS_DIRECTORY"}
)


def child_environment(environ: Mapping[str, str], display: str | None, xauthority: str | None) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if not k.startswith("BUREAU_AGENT_") and k not in _DROPPED_ENV}
    if display:
        env["DISPLAY"] = display
    if xauthority:
        env["XAUTHORITY"] = xauthority
    return env


class CommandBackend(Backend):
    name = "command"

    def __init__(
        self,
        command: list[str],
        *,
        input_mode: str,
        reply_field: str | None,
        session_field: str | None,
        new_session_args: list[str],
        resume_args: list[str],
        cwd: str | None,
        env: dict[str, str],
        max_reply_bytes: int,
        kill_grace_s: float,
    ) -> None:
        self.command = command
        self.input_mode = input_mode
        self.reply_field = reply_field
        self.session_field = session_field
        self.new_session_args = new_session_args
        self.resume_args = resume_args
        self.cwd = cwd
        self.env = env
        self.max_reply_bytes = max_reply_bytes
        self.kill_grace_s = kill_grace_s
        # Pipes still held by children that agents left running, drained until they close.
        self._drains: dict[asyncio.Task[None], asyncio.subprocess.Process] = {}

    def _executable(self) -> str | None:
        return shutil.which(self.command[0], path=self.env.get("PATH"))

    def reachable(self) -> bool:
        return self._executable() is not None

    def refuse_reason(self) -> str | None:
        if self._executable() is None:
            return f"The chat command {self.command[0]!r} is not found or not executable."
        return None

    async def close(self) -> None:
        for task, proc in list(self._drains.items()):
            task.cancel()
            # The agent has exited, so closing its transport only closes our ends of the pipes.
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
        await asyncio.gather(*self._drains, return_exceptions=True)

    def argv(self, message: str, conversation: Conversation) -> list[str]:
        """The argv of one run: the command with the message placed, plus resume args when continuing."""
        argv = [arg.replace(MESSAGE, message) if self.input_mode == "argv" else arg for arg in self.command]
        if conversation.turns and (conversation.session_id or not self.session_field):
            session = conversation.session_id or conversation.id
            argv += [a.replace("{sessionId}", session).replace("{conversationId}", conversation.id) for a in self.resume_args]
        elif not conversation.turns:
            argv += [a.replace("{conversationId}", conversation.id) for a in self.new_session_args]
        if self.input_mode == "argv" and not any(MESSAGE in arg for arg in self.command):
            argv.append(message)
        for arg in argv:
            if len(arg.encode("utf-8", "surrogateescape")) > MAX_ARG_BYTES:
                raise InvalidRequest(
                    f"message is too long to pass as one argument ({MAX_ARG_BYTES} bytes at most); "
                    "set chat_input = \"stdin\" for longer messages.",
                    details={"field": "message"},
                )
        return argv

    async def reply(self, message: str, conversation: Conversation) -> str:
        argv = self.argv(message, conversation)
        stdin_data = message.encode("utf-8") if self.input_mode == "stdin" else None
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin_data is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,  # its own process group, so the whole tree can be ended
            )
        except OSError as exc:
            raise ChatUnavailable(f"The chat command {argv[0]!r} could not be started: {exc.strerror or exc}.") from None
        log.debug("chat command started", extra={"pid": proc.pid})
        try:
            returncode, stdout, stderr, overflow = await self._run(proc, stdin_data)
        except BaseException:  # cancelled by the relay's deadline (or the agent stopping)
            await self._end_tree(proc)
            raise
        text = self._parse(returncode, stdout, stderr, overflow, conversation)
        conversation.add_turn(message, text)
        return text

    async def _run(self, proc: asyncio.subprocess.Process, stdin_data: bytes | None) -> tuple[int, bytes, bytes, bool]:
        """Feed stdin, read both pipes (bounded) and wait for the exit; (status, stdout, stderr, overflow)."""
        assert proc.stdout is not None and proc.stderr is not None
        out = _BoundedReader(proc.stdout, self.max_reply_bytes, keep_tail=False)
        err = _BoundedReader(proc.stderr, STDERR_KEEP_BYTES, keep_tail=True)
        readers = [asyncio.create_task(out.drain()), asyncio.create_task(err.drain())]
        try:
            if stdin_data is not None:
                await _feed(proc, stdin_data)
            returncode = await _exited(proc)
            # The agent has exited. A child it started (a desktop app) may still hold the pipes:
            # read what is there, and leave the rest to drain in the background.
            await asyncio.wait(readers, timeout=PIPE_GRACE_S)
        except BaseException:
            for task in readers:
                task.cancel()
            raise
        for task in readers:
            if not task.done():
                self._drains[task] = proc
                task.add_done_callback(lambda t: self._drains.pop(t, None))
        return returncode, bytes(out.data), bytes(err.data), out.overflow

    async def _end_tree(self, proc: asyncio.subprocess.Process) -> None:
        """TERM the process group, KILL it after the grace, reap the agent."""
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self.kill_grace_s)
        except asyncio.TimeoutError:
            pass
        _signal_group(proc.pid, signal.SIGKILL)  # also the children that outlived a TERMed leader
        await proc.wait()
        log.debug("chat command ended", extra={"pid": proc.pid, "returncode": proc.returncode})

    def _parse(self, returncode: int, stdout: bytes, stderr: bytes, overflow: bool, conversation: Conversation) -> str:
        if returncode != 0:
            how = f"was killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exited with status {returncode}"
            detail = excerpt(stderr.decode("utf-8", "replace")) or "no error output"
            raise ChatUnavailable(f"The chat command {how}: {detail}")
        if overflow:
            raise ChatUnavailable(f"The chat command printed more than chat_max_reply_bytes ({self.max_reply_bytes}).")
        text = stdout.decode("utf-8", "replace")
        if self.reply_field is None and self.session_field is None:
            reply = text.strip("\n")
        else:
            data = _parse_json_output(text)
            if self.session_field is not None:
                session = dig(data, self.session_field, "chat command's output")
                if isinstance(session, (str, int)) and not isinstance(session, bool) and str(session):
                    conversation.session_id = str(session)
            reply = text.strip("\n") if self.reply_field is None else _as_text(dig(data, self.reply_field, "chat command's output"))
        if not reply.strip():
            raise ChatUnavailable("The chat command exited without printing a reply.")
        return reply


def _parse_json_output(text: str) -> object:
    """stdout as one JSON document, or else its last JSON line (agents that print JSON lines)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    if lines:
        try:
            return json.loads(lines[-1])
        except ValueError:
            pass
    raise ChatUnavailable(f"The chat command's output is not JSON: {excerpt(text)!r}.")


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        raise ChatUnavailable("The chat command's reply field is null.")
    return json.dumps(value, ensure_ascii=False)


async def _exited(proc: asyncio.subprocess.Process) -> int:
    """The exit status, as soon as the process has exited.

    Since Python 3.11 proc.wait() also waits until the pipes are closed, which a child the agent
    left running would delay forever; the return code itself is known at once, so poll it too.
    """
    waiter = asyncio.ensure_future(proc.wait())
    try:
        while proc.returncode is None:
            await asyncio.wait([waiter], timeout=EXIT_POLL_S)
    finally:
        waiter.cancel()
    return proc.returncode


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    """Write the message to stdin and close it; an agent that does not read it is no error."""
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
        await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        proc.stdin.close()


class _BoundedReader:
    """Reads a pipe to its end, keeping at most limit bytes (the head, or the tail)."""

    def __init__(self, stream: asyncio.StreamReader, limit: int, *, keep_tail: bool) -> None:
        self.stream = stream
        self.limit = limit
        self.keep_tail = keep_tail
        self.data = bytearray()
        self.overflow = False

    async def drain(self) -> None:
        while chunk := await self.stream.read(READ_CHUNK):
            if self.keep_tail:
                self.data += chunk
                del self.data[: max(0, len(self.data) - self.limit)]
            elif len(self.data) + len(chunk) <= self.limit:
                self.data += chunk
            else:
                self.data += chunk[: self.limit - len(self.data)]
                self.overflow = True
