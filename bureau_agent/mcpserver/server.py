"""The MCP server: tools registered from the key's capabilities (GET /v1/me), each call
validated, its desktop resolved, and sent through the async client; stdio or streamable HTTP."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Optional

import jsonschema
from mcp import types
from mcp.server.lowlevel import Server

from bureau_agent import __version__
from bureau_agent.client import AsyncBureau, BureauError
from bureau_agent.mcpserver.hints import hint
from bureau_agent.mcpserver.tools import READ, Result, Tool, allowed

log = logging.getLogger("bureau_agent.mcpserver")

DESKTOPS_TTL_S = 30.0  # desktops are not created over the API; a short cache spares a list per call

INSTRUCTIONS = (
    "Tools to drive cloud desktops (Linux, X11): see the screen with desktop_screenshot, act with "
    "desktop_click/desktop_type/desktop_key (or several steps and a settled screenshot with desktop_act), "
    "run commands with desktop_exec/desktop_bash/desktop_exec_python. Coordinates are screen pixels."
)


class ToolError(Exception):
    """A call the model can fix: its text goes back as the tool error."""


class BureauTools:
    """The tools one API key may use, and how a call runs."""

    def __init__(self, bureau: AsyncBureau, capabilities: list[str]) -> None:
        self.bureau = bureau
        self.capabilities = capabilities
        self.tools = {tool.name: tool for tool in allowed(capabilities)}
        self._desktops: Optional[tuple[float, list[str]]] = None

    async def desktop_ids(self) -> list[str]:
        now = time.monotonic()
        if self._desktops is None or now - self._desktops[0] > DESKTOPS_TTL_S:
            self._desktops = (now, [d["id"] for d in await self.bureau.desktops()])
        return self._desktops[1]

    async def resolve(self, arguments: dict[str, Any]) -> str:
        desktop_id = arguments.get("desktopId")
        if desktop_id:
            return str(desktop_id)
        if READ not in self.capabilities:
            raise ToolError("desktopId is required: this API key cannot list desktops (it lacks desktop:read).")
        ids = await self.desktop_ids()
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise ToolError("desktopId: this API key sees no desktop.")
        raise ToolError(f"desktopId is required: this API key sees {len(ids)} desktops ({', '.join(ids)}); pass one of them as desktopId.")

    async def call(self, name: str, arguments: Optional[dict[str, Any]]) -> Result:
        tool = self.tools.get(name)
        if tool is None:
            raise ToolError(f"unknown tool {name!r}; the tools of this key are: {', '.join(self.tools)}.")
        arguments = arguments or {}
        validate(tool, arguments)
        desktop_id = None
        try:
            if not tool.desktop:
                return await tool.run(self.bureau, arguments)
            desktop_id = await self.resolve(arguments)
            return await tool.run(self.bureau.desktop(desktop_id), arguments)
        except BureauError as error:
            raise ToolError(hint(error, desktop_id, set(self.tools))) from error


_VALIDATORS: dict[str, jsonschema.protocols.Validator] = {}


def validate(tool: Tool, arguments: dict[str, Any]) -> None:
    """The arguments against the tool's schema; the message names the argument at fault."""
    validator = _VALIDATORS.get(tool.name)
    if validator is None:
        validator = _VALIDATORS[tool.name] = jsonschema.Draft202012Validator(tool.schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    if error is None:
        return
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        raise ToolError(f"argument {missing} is required by {tool.name}.")
    if error.validator == "additionalProperties":
        raise ToolError(f"{tool.name}: {error.message} (its arguments: {', '.join(tool.schema['properties'])}).")
    raise ToolError(f"argument {where or '(arguments)'}: {error.message}.")


def build_server(tools: BureauTools) -> Server[Any, Any]:
    server: Server[Any, Any] = Server("bureau", version=__version__, instructions=INSTRUCTIONS)

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [tool.to_mcp() for tool in tools.tools.values()]

    # Our own validation (validate_input=False): the SDK's message does not say which argument.
    @server.call_tool(validate_input=False)
    async def call_tool(name: str, arguments: dict[str, Any]) -> Any:
        try:
            return await tools.call(name, arguments)
        except ToolError as exc:
            return types.CallToolResult(content=[types.TextContent(type="text", text=str(exc))], isError=True)
        except Exception as exc:  # a bug must not end the server: the model gets a tool error
            log.exception("tool %s failed", name)
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=f"internal error in {name}: {exc!r}")], isError=True
            )

    return server


async def open_tools(bureau: AsyncBureau) -> BureauTools:
    me = await bureau.me()
    return BureauTools(bureau, list(me["capabilities"]))


async def run_stdio(bureau: AsyncBureau) -> None:
    from mcp.server.stdio import stdio_server

    tools = await open_tools(bureau)
    server = build_server(tools)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def http_app(server: Server[Any, Any], host: str, port: int) -> Any:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.routing import Mount

    # DNS-rebinding guard: a web page in the user's browser must not reach a loopback server
    # that holds an API key, so only the Host names of this listener are accepted.
    hosts = [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"]
    security = TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=[f"http://{h}" for h in hosts])
    manager = StreamableHTTPSessionManager(app=server, security_settings=security)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with manager.run():
            yield

    return Starlette(routes=[Mount("/mcp", app=manager.handle_request)], lifespan=lifespan)


async def run_http(bureau: AsyncBureau, host: str, port: int) -> None:
    import uvicorn

    tools = await open_tools(bureau)
    app = http_app(build_server(tools), host, port)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()
