"""The MCP server driven by the mcp SDK's own client, over stdio and over streamable HTTP,
against the real control plane and desktops of conftest.py."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

from bureau_agent.client import Bureau
from bureau_agent.mcpserver.tools import TOOL_NAMES
from tests.client.conftest import IDLE, MAIN
from tests.client.routes import served
from tests.controlplane.support import REPO, Plane, wait_for
from tests.support.agentproc import free_port

READ_TOOLS = ["desktops_list", "desktops_get"]


def server_env(plane: Plane, key: str) -> dict[str, str]:
    return {**os.environ, "BUREAU_API_KEY": plane.keys[key], "BUREAU_API_URL": f"http://127.0.0.1:{plane.port}"}


@contextlib.asynccontextmanager
async def stdio_session(plane: Plane, key: str = "full") -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "bureau_agent", "mcp"], env=server_env(plane, key), cwd=str(REPO))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def json_of(result: types.CallToolResult) -> Any:
    assert not result.isError, text_of(result)
    return result.structuredContent if result.structuredContent is not None else json.loads(text_of(result))


async def test_full_key_sees_every_tool_and_they_work(plane: Plane, typed_file: Path, xterm: None) -> None:
    async with stdio_session(plane) as s:
        listed = await s.list_tools()
        assert [t.name for t in listed.tools] == TOOL_NAMES
        click = next(t for t in listed.tools if t.name == "desktop_click")
        assert "screen pixels" in click.inputSchema["properties"]["x"]["description"]

        shot = await s.call_tool("desktop_screenshot", {"desktopId": MAIN})
        assert not shot.isError, text_of(shot)
        images = [c for c in shot.content if isinstance(c, types.ImageContent)]
        assert len(images) == 1 and images[0].mimeType == "image/png"
        assert Image.open(io.BytesIO(base64.b64decode(images[0].data))).size == (1024, 768)
        small = await s.call_tool("desktop_screenshot", {"desktopId": MAIN, "maxWidth": 512, "format": "jpeg"})
        assert "scale 0.5" in text_of(small)

        assert json_of(await s.call_tool("desktop_click", {"desktopId": MAIN, "x": 100, "y": 100})) == {"x": 100, "y": 100}
        typed = await s.call_tool("desktop_type", {"desktopId": MAIN, "text": "typed through mcp\n"})
        assert json_of(typed) == {"typed": 18}
        async def file_has_line() -> bool:
            result = json_of(await s.call_tool("desktop_exec", {"desktopId": MAIN, "argv": ["cat", str(typed_file)]}))
            return "typed through mcp" in result["stdout"]
        await async_wait_for(file_has_line, "the line typed through MCP in the xterm's file")

        py = json_of(await s.call_tool("desktop_exec_python", {"desktopId": MAIN, "code": "import sys\nprint('py says', 6 * 7)\nsys.exit(5)"}))
        assert (py["stdout"], py["exitCode"]) == ("py says 42\n", 5)
        assert json_of(await s.call_tool("desktop_bash", {"desktopId": MAIN, "script": "echo a; echo b"}))["stdout"] == "a\nb\n"
        assert json_of(await s.call_tool("desktop_move", {"desktopId": MAIN, "x": 7, "y": 8})) == {"x": 7, "y": 8}
        assert json_of(await s.call_tool("desktop_key", {"desktopId": MAIN, "key": "shift"})) == {"key": "shift"}
        assert json_of(await s.call_tool("desktop_scroll", {"desktopId": MAIN, "direction": "up", "x": 50, "y": 50})) == {"x": 50, "y": 50}
        drag = {"desktopId": MAIN, "from": {"x": 200, "y": 200}, "to": {"x": 240, "y": 230}, "durationMs": 60}
        assert json_of(await s.call_tool("desktop_drag", drag)) == {"x": 240, "y": 230}
        chat = json_of(await s.call_tool("desktop_chat", {"desktopId": MAIN, "message": "ping"}))
        assert chat["response"].strip() == "got: ping"
        listed_desktops = json_of(await s.call_tool("desktops_list", {}))
        assert {d["id"] for d in listed_desktops["desktops"]} == {MAIN, IDLE}


async def async_wait_for(predicate: Any, what: str, timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"


async def test_errors_say_what_to_do_and_bad_input_names_the_argument(plane: Plane) -> None:
    with Bureau(api_key=plane.keys["full"], base_url=f"http://127.0.0.1:{plane.port}") as b:
        assert b.desktop(IDLE).info()["status"] == "stopped"
    async with stdio_session(plane) as s:
        stopped = await s.call_tool("desktop_click", {"desktopId": IDLE, "x": 1, "y": 1})
        assert stopped.isError
        assert text_of(stopped) == f"desktop {IDLE} is stopped: call desktops_start, then retry."

        missing = await s.call_tool("desktop_screenshot", {})
        assert missing.isError and "desktopId is required" in text_of(missing) and MAIN in text_of(missing)

        wrong_type = await s.call_tool("desktop_click", {"desktopId": MAIN, "x": "left side", "y": 3})
        assert wrong_type.isError and text_of(wrong_type).startswith("argument x:"), text_of(wrong_type)
        required = await s.call_tool("desktop_type", {"desktopId": MAIN})
        assert required.isError and text_of(required) == "argument text is required by desktop_type."
        unknown = await s.call_tool("desktop_key", {"desktopId": MAIN, "key": "Return", "keys": "x"})
        assert unknown.isError and "'keys' was unexpected" in text_of(unknown)
        nowhere = await s.call_tool("desktops_get", {"desktopId": "dsk_nowhere"})
        assert nowhere.isError and "call desktops_list" in text_of(nowhere)
        bad_key = await s.call_tool("desktop_key", {"desktopId": MAIN, "key": "NoSuchKeyAnywhere"})
        assert bad_key.isError and "NoSuchKeyAnywhere" in text_of(bad_key) and "keysym" in text_of(bad_key)
        # the server is still there and serving after all of that
        assert json_of(await s.call_tool("desktops_get", {"desktopId": MAIN}))["status"] == "running"


async def test_a_read_only_key_sees_only_the_read_tools(plane: Plane) -> None:
    async with stdio_session(plane, "reader") as s:
        assert [t.name for t in (await s.list_tools()).tools] == READ_TOOLS
        refused = await s.call_tool("desktop_click", {"desktopId": MAIN, "x": 1, "y": 1})
        assert refused.isError and "unknown tool 'desktop_click'" in text_of(refused)
        assert json_of(await s.call_tool("desktops_get", {"desktopId": MAIN}))["id"] == MAIN


def test_a_refused_key_stops_the_server_with_a_message(plane: Plane) -> None:
    env = {**server_env(plane, "full"), "BUREAU_API_KEY": "sk_live_wrong"}
    done = subprocess.run([sys.executable, "-m", "bureau_agent", "mcp"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert "401 unauthorized" in done.stderr


@pytest.fixture
def http_server(plane: Plane) -> Any:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bureau_agent", "mcp", "--http", f"127.0.0.1:{port}"],
        env=server_env(plane, "full"),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def listening() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(listening, "the MCP server to listen", 30)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stderr:
            proc.stderr.close()


async def test_streamable_http(http_server: str) -> None:
    async with streamable_http_client(http_server) as (read, write, _), ClientSession(read, write) as s:
        await s.initialize()
        assert [t.name for t in (await s.list_tools()).tools] == TOOL_NAMES
        shot = await s.call_tool("desktop_screenshot", {"desktopId": MAIN, "maxWidth": 256})
        image = next(c for c in shot.content if isinstance(c, types.ImageContent))
        assert Image.open(io.BytesIO(base64.b64decode(image.data))).size == (256, 192)
        py = json_of(await s.call_tool("desktop_exec_python", {"desktopId": MAIN, "code": "print('over http')"}))
        assert (py["stdout"], py["exitCode"]) == ("over http\n", 0)


async def test_desktop_id_may_be_left_out_when_the_key_sees_one_desktop(tmp_path: Path) -> None:
    # a control plane of its own with one desktop, stopped at first
    solo = Plane(tmp_path, [{"id": "dsk_solo", "name": "Solo"}], {"full": ("desktop:read", "desktop:lifecycle", "desktop:control")})
    solo.start()
    try:
        async with stdio_session(solo) as s:
            assert json_of(await s.call_tool("desktops_get", {}))["id"] == "dsk_solo"
            stopped = await s.call_tool("desktop_screenshot", {})
            assert stopped.isError and text_of(stopped) == "desktop dsk_solo is stopped: call desktops_start, then retry."
            # without desktop:chat the chat tool is not there at all
            assert "desktop_chat" not in [t.name for t in (await s.list_tools()).tools]
            started = json_of(await s.call_tool("desktops_start", {"timeoutS": 60}))
            assert (started["status"], started["agentReady"]) == ("running", True)
            shot = await s.call_tool("desktop_screenshot", {"maxWidth": 64})
            assert not shot.isError and any(isinstance(c, types.ImageContent) for c in shot.content)
            restarted = json_of(await s.call_tool("desktops_restart", {}))
            assert (restarted["status"], restarted["agentReady"]) == ("running", True)
            assert json_of(await s.call_tool("desktops_stop", {}))["status"] == "stopped"
    finally:
        solo.stop()


PRODUCT_TOOLS = [
    "desktops_list", "desktops_get", "desktops_start", "desktops_stop", "desktops_restart", "desktop_exec_python",
    "desktop_screenshot", "desktop_click", "desktop_type", "desktop_key", "desktop_scroll", "desktop_drag", "desktop_chat",
]  # fmt: skip
PROJECT_TOOLS = [
    "desktop_exec", "desktop_bash", "desktop_move", "desktop_act", "desktop_windows", "desktop_window_activate",
    "desktop_clipboard_get", "desktop_clipboard_set", "desktop_file_read", "desktop_file_write", "desktop_file_list",
    "desktop_accessibility",
]  # fmt: skip


def test_the_tool_table_matches_the_contract_and_its_schemas_are_valid() -> None:
    import jsonschema

    from bureau_agent.mcpserver.tools import TOOLS

    assert TOOL_NAMES == PRODUCT_TOOLS + PROJECT_TOOLS
    for tool in TOOLS:
        jsonschema.Draft202012Validator.check_schema(tool.schema)
        assert tool.schema["additionalProperties"] is False, tool.name
        if tool.desktop:
            assert "desktopId" in tool.schema["properties"] and "desktopId" not in tool.schema["required"], tool.name
        for name, prop in tool.schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"


@served("POST", "act")
async def test_act_tool_returns_the_settled_screenshot_as_an_image(plane: Plane) -> None:
    async with stdio_session(plane) as s:
        result = await s.call_tool(
            "desktop_act",
            {"desktopId": MAIN, "actions": [{"action": "move", "x": 320, "y": 240}], "screenshot": {"maxWidth": 512}},
        )
        assert not result.isError, text_of(result)
        image = next(c for c in result.content if isinstance(c, types.ImageContent))
        assert Image.open(io.BytesIO(base64.b64decode(image.data))).size == (512, 384)
        assert json.loads(result.content[1].text)["results"] == [{"x": 320, "y": 240}]
        assert "scale 0.5" in text_of(result)


@served("PUT", "files")
async def test_file_tools(plane: Plane, tmp_path: Path) -> None:
    async with stdio_session(plane) as s:
        path = str(tmp_path / "notes" / "a.txt")
        written = json_of(await s.call_tool("desktop_file_write", {"desktopId": MAIN, "path": path, "content": "héllo\n", "parents": True}))
        assert written["size"] == len("héllo\n".encode())
        assert text_of(await s.call_tool("desktop_file_read", {"desktopId": MAIN, "path": path})) == "héllo\n"
        listed = json_of(await s.call_tool("desktop_file_list", {"desktopId": MAIN, "path": str(tmp_path / "notes")}))
        assert [e["name"] for e in listed["entries"]] == ["a.txt"]
        missing = await s.call_tool("desktop_file_read", {"desktopId": MAIN, "path": str(tmp_path / "none")})
        assert missing.isError and "desktop_file_list" in text_of(missing)


@served("GET", "clipboard")
@pytest.mark.usefixtures("xterm")  # once it is on the screen, openbox manages it
async def test_clipboard_and_window_tools(plane: Plane) -> None:
    async with stdio_session(plane) as s:
        assert json_of(await s.call_tool("desktop_clipboard_set", {"desktopId": MAIN, "text": "from the model"})) == {"length": 14}
        assert json_of(await s.call_tool("desktop_clipboard_get", {"desktopId": MAIN}))["text"] == "from the model"
        windows = json_of(await s.call_tool("desktop_windows", {"desktopId": MAIN}))["windows"]
        xterm = next(w for w in windows if w["class"] == "XTerm")
        assert json_of(await s.call_tool("desktop_window_activate", {"desktopId": MAIN, "windowId": xterm["id"]})) == {"activated": True}
        gone = await s.call_tool("desktop_window_activate", {"desktopId": MAIN, "windowId": 1})
        assert gone.isError and "desktop_windows" in text_of(gone)
