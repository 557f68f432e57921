"""POST /v1/exec, /v1/bash and /v1/python."""

from __future__ import annotations

from aiohttp import web

from bureau_agent.api.http import read_json
from bureau_agent.api.routes import Route
from bureau_agent.api.schema import array, integer, obj, string
from bureau_agent.errors import NotImplementedYet

MAX_SOURCE = 1_000_000  # characters of a command, script or code

COMMON = {
    "timeoutMs": integer(1, description="default and maximum come from the configuration"),
    "cwd": string(4096, min_length=1),
    "env": {"type": "object", "additionalProperties": string(131_072)},
    "stdin": string(MAX_SOURCE, allowNul=True),
}
EXEC = obj({"command": string(MAX_SOURCE, min_length=1), "argv": array(string(131_072), 4096, min_items=1), **COMMON})
BASH = obj({"script": string(MAX_SOURCE), **COMMON}, ("script",))
PYTHON = obj({"code": string(MAX_SOURCE), **COMMON}, ("code",))

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


def _stub(schema: dict) -> web.RequestHandler:
    async def handler(request: web.Request) -> web.Response:
        await read_json(request, schema)
        raise NotImplementedYet(f"{request.path} is not implemented yet.")

    return handler


ROUTES = [
    Route("POST", "/v1/exec", _stub(EXEC), "Run a command (sh -c, or an argv)", body=EXEC, response=RESULT, errors=(400, 429)),
    Route("POST", "/v1/bash", _stub(BASH), "Run a bash script", body=BASH, response=RESULT, errors=(400, 429)),
    Route("POST", "/v1/python", _stub(PYTHON), "Run Python code with the desktop's python3", body=PYTHON, response=RESULT, errors=(400, 429)),
]
