"""POST /v1/exec, /v1/bash and /v1/python: parse, run through the Runner, answer the result.

Choices where the spec is silent (see docs/process.md): a command that cannot start answers
200 with exit code 127 (not found) or 126 (not runnable) like a shell; the default cwd is the
desktop user's home; on agent shutdown running commands are ended and answered normally
(`exitCode: null`, `signal` the signal that ended them, `timedOut: false`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.httpkit.http import json_response, read_json
from bureau_agent.api.feature import Feature
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import array, integer, obj, string
from bureau_agent.errors import InvalidRequest
from bureau_agent.process.environment import MAX_ARG_BYTES, Session, check_env
from bureau_agent.process.runner import Command, Runner

MAX_SOURCE = 1_000_000  # characters of a command, script or code
BIG_RESPONSE = 256 * 1024  # above this many characters the JSON is encoded in a thread


COMMON = {
    "timeoutMs": integer(1, description="default and maximum come from the configuration (exec_default_timeout_ms, exec_max_timeout_ms)"),
    "cwd": string(4096, min_length=1, description="working directory (default: the desktop user's home)"),
    "env": {"type": "object", "additionalProperties": string(131_072), "description": "added to the desktop session environment"},
    "stdin": string(MAX_SOURCE, allowNul=True, description="bytes fed to the command's stdin (default: /dev/null)"),
}
EXEC = obj(
    {
        "command": string(MAX_SOURCE, min_length=1, description="run by /bin/sh -c"),
        "argv": array(string(131_072), 4096, min_items=1, description="program and arguments, no shell"),
        **COMMON,
    },
    description="exactly one of command and argv",
)
BASH = obj({"script": string(MAX_SOURCE, description="run by bash -c"), **COMMON}, ("script",))
PYTHON = obj({"code": string(MAX_SOURCE, description="run by the desktop's python3 -c"), **COMMON}, ("code",))

RESULT = obj(
    {
        "stdout": string(),
        "stderr": string(),
        "exitCode": {"type": "integer", "nullable": True},
        "signal": {"type": "string", "nullable": True},
        "timedOut": {"type": "boolean"},
        "durationMs": integer(0),
        "truncated": obj({"stdout": {"type": "boolean"}, "stderr": {"type": "boolean"}}, ("stdout", "stderr")),
    },
    ("stdout", "stderr", "exitCode", "signal", "timedOut", "durationMs", "truncated"),
)


def _check_arg(value: str, field: str) -> None:
    if len(value.encode("utf-8")) > MAX_ARG_BYTES:  # the schema has refused lone surrogates
        raise InvalidRequest(
            f"{field} is longer than {MAX_ARG_BYTES} bytes, the kernel's limit for one argument.",
            details={"field": field},
        )


async def _run(request: web.Request, argv: list[str], body: dict[str, Any]) -> web.Response:
    settings = request.app[appkeys.SETTINGS]
    timeout_ms = body.get("timeoutMs", settings.exec_default_timeout_ms)
    if timeout_ms > settings.exec_max_timeout_ms:
        raise InvalidRequest(
            f"timeoutMs must be at most {settings.exec_max_timeout_ms} (exec_max_timeout_ms).",
            details={"field": "timeoutMs"},
        )
    env: dict[str, str] = body.get("env", {})
    check_env(env)
    stdin = body["stdin"].encode("utf-8") if "stdin" in body else None
    command = Command(argv=argv, timeout_s=timeout_ms / 1000, stdin=stdin, cwd=body.get("cwd"), env=env)
    result = (await request.app[appkeys.RUNNER].run(command)).to_json()
    if len(result["stdout"]) + len(result["stderr"]) > BIG_RESPONSE:
        return await asyncio.to_thread(json_response, result)  # building a Response touches no loop state
    return json_response(result)


async def run_exec(request: web.Request) -> web.Response:
    body = await read_json(request, EXEC)
    if ("command" in body) == ("argv" in body):
        raise InvalidRequest("Give exactly one of command and argv.", details={"field": "command"})
    if "command" in body:
        _check_arg(body["command"], "command")
        argv = ["/bin/sh", "-c", body["command"]]
    else:
        argv = body["argv"]
        for i, arg in enumerate(argv):
            _check_arg(arg, f"argv[{i}]")
    return await _run(request, argv, body)


async def run_bash(request: web.Request) -> web.Response:
    body = await read_json(request, BASH)
    _check_arg(body["script"], "script")
    return await _run(request, ["bash", "-c", body["script"]], body)


async def run_python(request: web.Request) -> web.Response:
    body = await read_json(request, PYTHON)
    _check_arg(body["code"], "code")
    return await _run(request, [request.app[appkeys.SETTINGS].python, "-c", body["code"]], body)


async def on_shutdown(app: web.Application) -> None:
    """Once the shutdown grace is over, end the commands still running so that their calls answer."""
    if appkeys.RUNNER in app:
        await app[appkeys.RUNNER].stop_all()


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    runner = Runner(
        Session.from_settings(settings),
        max_concurrent=settings.exec_max_concurrent,
        output_limit_bytes=settings.exec_output_limit_bytes,
        kill_grace_s=settings.exec_kill_grace_ms / 1000,
    )
    app[appkeys.RUNNER] = runner
    try:
        yield
    finally:
        await runner.close()


ERRORS = (400, 429)
def _lines(text: str) -> str:
    n = len(text.splitlines()) or 1
    return f"{n} line{'s' if n != 1 else ''}"


def _exec_summary(body: dict[str, Any]) -> str:
    # Only the program's name: arguments, env and stdin may carry secrets.
    words = body["argv"] if "argv" in body else str(body.get("command", "")).split()
    return f"exec {os.path.basename(str(words[0]))[:40]}" if words else "exec"


ROUTES = [
    Route("POST", "/v1/exec", run_exec, "Run a command (sh -c, or an argv)", body=EXEC, response=RESULT, errors=ERRORS,
          event_summary=_exec_summary),
    Route("POST", "/v1/bash", run_bash, "Run a bash script", body=BASH, response=RESULT, errors=ERRORS,
          event_summary=lambda body: f"bash script, {_lines(str(body['script']))}"),
    Route("POST", "/v1/python", run_python, "Run Python code with the desktop's python3", body=PYTHON, response=RESULT,
          errors=ERRORS, event_summary=lambda body: f"python code, {_lines(str(body['code']))}"),
]  # fmt: skip

FEATURE = Feature("process", ROUTES, lifespan=lifespan, on_shutdown=on_shutdown)
