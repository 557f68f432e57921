"""The `command` backend: a command-line agent run once per message, never through a shell.

The message is one argv element (the element holding `{message}`, or else appended last) or the
process's stdin. The reply is stdout, as plain text or as the JSON field chat_reply_field names
(a dotted path).

A conversation continues the agent's own session. On a conversation's first message
chat_new_session_args are added after the configured argv (`{conversationId}` filled in, for
agents that let the caller name the session); once it got a reply, chat_resume_args are added
instead (`{sessionId}`, `{conversationId}`). The session id is the JSON field chat_session_field
of the previous reply, or the conversation id when that is not configured.

The agent is run by the process runner of /v1/exec (bureau_agent/process), so it gets exactly
what a command gets: the desktop user (exec_user when the agent is root), the desktop session's
environment without any BUREAU_AGENT_* secret (plus chat_env), its own process group, bounded
output, and its whole tree ended (TERM, then KILL after exec_kill_grace_ms) on timeout.

A streamed call (on_delta) gets stdout as it is printed, when stdout is the reply (plain text,
no chat_reply_field); the newlines at its start and end are held back, as the whole reply drops
them. With chat_reply_field the reply is a field of JSON known only once the agent exits, so it
comes as one piece at the end (the relay's fallback).
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
from collections.abc import Mapping

from bureau_agent.chat.backend import Backend, Deadline, OnDelta, dig, excerpt
from bureau_agent.chat.conversations import Conversation
from bureau_agent.errors import AgentError, ChatUnavailable, InvalidRequest
from bureau_agent.process.environment import MAX_ARG_BYTES, Session
from bureau_agent.process.runner import Command, Result, Runner

MESSAGE = "{message}"


def parse_env(items: list[str]) -> dict[str, str]:
    """chat_env's NAME=VALUE items as a mapping; a malformed item is a ValueError naming it."""
    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or "\x00" in item:
            raise ValueError(f"chat_env item {name or item!r} is not NAME=VALUE")
        env[name] = value
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
        env: Mapping[str, str],
        session: Session,
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
        self.env = dict(env)
        self.session = session
        self.max_reply_bytes = max_reply_bytes
        # No bound here: the relay counts chat calls (chat_max_concurrent) before any reaches us.
        self.runner = Runner(session, max_concurrent=None, output_limit_bytes=max_reply_bytes, kill_grace_s=kill_grace_s)

    def _found(self) -> bool:
        # Searched in the PATH of the very environment the agent gets, so the two cannot disagree.
        path = self.session.environment(self.env, run_id="")["PATH"]
        return shutil.which(self.command[0], path=path) is not None

    def reachable(self) -> bool:
        try:
            return self._found()
        except AgentError:  # exec_user does not exist: nothing can run (a call says so)
            return False

    def refuse_reason(self) -> str | None:
        if not self._found():
            return f"The chat command {self.command[0]!r} is not found or not executable."
        if self.cwd is not None and not os.path.isdir(self.cwd):
            return f"chat_cwd {self.cwd!r} is not an existing directory."
        return None

    async def stop(self) -> None:
        await self.runner.stop_all()  # each agent's whole tree, TERM then KILL, before its call returns

    async def close(self) -> None:
        await self.runner.close()

    def argv(self, message: str, conversation: Conversation) -> list[str]:
        """The argv of one run: the command with the message placed, plus the session args."""
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

    async def reply(
        self, message: str, conversation: Conversation, deadline: Deadline, on_delta: OnDelta | None = None
    ) -> str:
        streaming = on_delta is not None and self.reply_field is None
        pieces = StdoutPieces(on_delta) if streaming and on_delta is not None else None
        command = Command(
            argv=self.argv(message, conversation),
            timeout_s=deadline.remaining_s(),
            stdin=message.encode("utf-8") if self.input_mode == "stdin" else None,
            cwd=self.cwd,
            env=self.env,
            on_stdout=pieces.feed if pieces is not None else None,
        )
        # The runner ends the process tree at the timeout and only then returns; a cancelled
        # call (the agent stopping) has its tree ended in the background.
        result = await self.runner.run(command)
        if result.timed_out:
            raise deadline.error()
        text = self._parse(result, conversation)
        conversation.add_turn(message, text)
        return text

    def _parse(self, result: Result, conversation: Conversation) -> str:
        if result.exit_code != 0:
            how = f"was killed by {result.signal}" if result.exit_code is None else f"exited with status {result.exit_code}"
            detail = excerpt(result.stderr) or "no error output"
            raise ChatUnavailable(f"The chat command {how}: {detail}")
        if result.stdout_truncated:
            raise ChatUnavailable(f"The chat command printed more than chat_max_reply_bytes ({self.max_reply_bytes}).")
        text = result.stdout
        data = _parse_json_output(text) if self.reply_field is not None or self.session_field is not None else None
        if self.session_field is not None:
            session = dig(data, self.session_field, "chat command's output")
            if isinstance(session, (str, int)) and not isinstance(session, bool) and str(session):
                conversation.session_id = str(session)
        reply = text.strip("\n") if self.reply_field is None else _as_text(dig(data, self.reply_field, "chat command's output"))
        if not reply.strip():
            raise ChatUnavailable("The chat command exited without printing a reply.")
        return reply


class StdoutPieces:
    """Bytes of stdout in, text pieces out: whole UTF-8 characters only, and without the
    newlines at the start and the end (held back until text follows them), so that the pieces
    joined are exactly the reply, stdout.strip("\\n")."""

    def __init__(self, on_delta: OnDelta) -> None:
        self.on_delta = on_delta
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._started = False
        self._newlines = ""

    def feed(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if not self._started:
            text = text.lstrip("\n")
            if not text:
                return
            self._started = True
        body = text.rstrip("\n")
        if body:
            self.on_delta(self._newlines + body)
            self._newlines = ""
        self._newlines += text[len(body):]


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
