"""The tools: name, capability, description and argument schema, and what each one calls.

The first 13 names are the product's own MCP server's (@lebureau/mcp); the rest are this
project's additions (public-api.md, "The MCP server"). Each tool is registered only when the
key holds its capability. Arguments are the public routes' fields, camelCase as in the API.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any, Optional, Union

from mcp import types

from bureau_agent.client import AsyncBureau, AsyncDesktop, Screenshot
from bureau_agent.mcpserver.schema import (
    BUTTON,
    COMMAND_OPTIONS,
    COORD,
    MODIFIERS,
    POINT,
    Schema,
    args,
    integer,
    string,
)

READ, LIFECYCLE, CONTROL, CHAT = "desktop:read", "desktop:lifecycle", "desktop:control", "desktop:chat"
Content = list[Union[types.TextContent, types.ImageContent]]
Result = Union[Content, dict[str, Any]]
MAX_FILE_READ = 1024 * 1024  # a model gets at most 1 MiB of a file as text


@dataclasses.dataclass(frozen=True)
class Tool:
    name: str
    capability: str
    description: str
    schema: Schema
    run: Callable[..., Awaitable[Result]]
    desktop: bool = True  # takes desktopId and gets the resolved AsyncDesktop as first argument
    read_only: bool = False

    def to_mcp(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            description=self.description,
            inputSchema=self.schema,
            annotations=types.ToolAnnotations(readOnlyHint=self.read_only),
        )


def _pick(a: dict[str, Any], *names: str) -> dict[str, Any]:
    """The given arguments, renamed to the client's snake_case keywords."""
    out: dict[str, Any] = {}
    for name in names:
        if name in a:
            out["".join("_" + c.lower() if c.isupper() else c for c in name)] = a[name]
    return out


def image(shot: Screenshot, note: str) -> Content:
    return [
        types.ImageContent(type="image", data=base64.b64encode(shot.data).decode(), mimeType=shot.content_type),
        types.TextContent(type="text", text=note),
    ]


def describe_shot(shot: Screenshot) -> str:
    width, height = round(shot.screen_width * shot.scale), round(shot.screen_height * shot.scale)
    note = f"Screenshot {width}x{height} of a {shot.screen_width}x{shot.screen_height} screen"
    if shot.scale != 1:
        note += f", scale {shot.scale:g}: screen x = round(image x / {shot.scale:g}) (or pass imageScale {shot.scale:g} to desktop_act)"
    return note + "."


# read and lifecycle -----------------------------------------------------------------------------


async def desktops_list(bureau: AsyncBureau, a: dict[str, Any]) -> Result:
    return {"desktops": await bureau.desktops()}


async def desktops_get(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.info())


async def _ready_unless_told(d: AsyncDesktop, a: dict[str, Any], info: Any) -> Result:
    """start and restart wait for the desktop to be ready unless the call says "wait": false."""
    if a.get("wait", True):
        info = await d.wait_ready(timeout=a.get("timeoutS", 60))
    return dict(info)


async def desktops_start(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return await _ready_unless_told(d, a, await d.start())


async def desktops_stop(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.stop())


async def desktops_restart(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return await _ready_unless_told(d, a, await d.restart())


# control ----------------------------------------------------------------------------------------


async def screenshot(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    shot = await d.screenshot(**_pick(a, "format", "quality", "maxWidth", "maxHeight", "cursor"))
    return image(shot, describe_shot(shot))


async def click(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.click(**_pick(a, "x", "y", "button", "clicks", "modifiers")))


async def move(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.move(a["x"], a["y"]))


async def drag(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.drag(a["from"], a["to"], **_pick(a, "button", "modifiers", "durationMs", "path")))


async def scroll(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.scroll(a["direction"], a.get("amount"), **_pick(a, "x", "y", "modifiers")))


async def type_text(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.type(a["text"], **_pick(a, "delayMs")))


async def key(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.key(a["key"], **_pick(a, "repeat")))


async def exec_command(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.exec(a.get("command"), **_pick(a, "argv", "timeoutMs", "cwd", "env", "stdin")))


async def bash(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.bash(a["script"], **_pick(a, "timeoutMs", "cwd", "env", "stdin")))


async def python(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.python(a["code"], **_pick(a, "timeoutMs", "cwd", "env", "stdin")))


async def act(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    result = dict(await d.act(a["actions"], **_pick(a, "imageScale", "settle", "screenshot")))
    shot = result.pop("screenshot", None)
    content: Content = [types.TextContent(type="text", text=json.dumps(result))]
    if shot:
        content.insert(0, types.ImageContent(type="image", data=shot["data"], mimeType=shot["contentType"]))
        content.append(
            types.TextContent(
                type="text",
                text=describe_shot(
                    Screenshot(b"", shot["contentType"], shot["scale"], shot["screenWidth"], shot["screenHeight"])
                ),
            )
        )
    return content


async def windows(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.windows())


async def window_activate(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return await d.window_activate(a["windowId"])


async def clipboard_get(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.clipboard.get(**_pick(a, "selection")))


async def clipboard_set(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.clipboard.set(a["text"], **_pick(a, "selection")))


async def file_read(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    data = await d.files.read(a["path"])
    if len(data) > MAX_FILE_READ:
        return [types.TextContent(type="text", text=f"{a['path']} is {len(data)} bytes; only the first {MAX_FILE_READ} follow.\n" + data[:MAX_FILE_READ].decode("utf-8", "replace"))]
    try:
        return [types.TextContent(type="text", text=data.decode("utf-8"))]
    except UnicodeDecodeError:
        return [types.TextContent(type="text", text=f"{a['path']} is binary ({len(data)} bytes), base64:\n" + base64.b64encode(data).decode())]


async def file_write(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    data = a["content"].encode("utf-8")
    return dict(await d.files.upload(a["path"], data, **_pick(a, "parents", "overwrite")))


async def file_list(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.files.list(a.get("path", ".")))


async def accessibility(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    tree = await d.accessibility(format=a.get("format", "text"), **_pick(a, "window", "maxDepth", "maxNodes", "interactive"))
    return [types.TextContent(type="text", text=tree if isinstance(tree, str) else json.dumps(tree))]


async def chat(d: AsyncDesktop, a: dict[str, Any]) -> Result:
    return dict(await d.chat(a["message"], **_pick(a, "conversationId", "timeoutMs")))


WAIT: dict[str, Schema] = {
    "wait": {"type": "boolean", "description": "Wait until the desktop is running and its agent is ready. Default: true."},
    "timeoutS": integer("Seconds to wait for readiness. Default: 60.", 1, 600),
}
SHOT_OPTIONS: dict[str, Schema] = {
    "format": {"type": "string", "enum": ["png", "jpeg", "webp"], "description": "Image format. Default: png."},
    "quality": integer("JPEG/WebP quality 1-100. Default: 80.", 1, 100),
    "maxWidth": integer("Downscale to at most this width in pixels, keeping the aspect ratio (never upscales). Default: full size.", 1),
    "maxHeight": integer("Downscale to at most this height in pixels. Default: full size.", 1),
    "cursor": {"type": "boolean", "description": "Draw the mouse pointer into the image. Default: false."},
}
ACTION: Schema = {
    "type": "object",
    "properties": {"action": {"type": "string", "enum": ["click", "move", "drag", "scroll", "type", "key", "wait"]}},
    "required": ["action"],
    "description": (
        'One step, with the arguments of the tool of the same name: {"action": "click", "x": 10, "y": 20}, '
        '{"action": "type", "text": "hi"}, {"action": "key", "key": "Return"}, '
        '{"action": "scroll", "direction": "down"}, {"action": "drag", "from": {"x":1,"y":2}, "to": {"x":3,"y":4}}, '
        '{"action": "move", "x": 5, "y": 6}, {"action": "wait", "ms": 500}.'
    ),
}

TOOLS: list[Tool] = [
    Tool("desktops_list", READ, "List the desktops this API key can use: id, name, status (stopped, booting, running, stopping, error) and agentReady.", args({}, desktop=False), desktops_list, desktop=False, read_only=True),
    Tool("desktops_get", READ, "One desktop's status and agentReady (control tools need status running and agentReady true).", args({}), desktops_get, read_only=True),
    Tool("desktops_start", LIFECYCLE, "Boot a stopped desktop; by default waits until it is running and ready for control tools.", args(WAIT), desktops_start),
    Tool("desktops_stop", LIFECYCLE, "Shut a desktop down (every program on it ends).", args({}), desktops_stop),
    Tool("desktops_restart", LIFECYCLE, "Stop, then boot the desktop again; by default waits until it is ready.", args(WAIT), desktops_restart),
    Tool("desktop_exec_python", CONTROL, "Run Python 3 code on the desktop (as the desktop user, with DISPLAY set). Returns stdout, stderr, exitCode, timedOut. A failing script is not a tool error: read exitCode.", args({"code": string("Python source code, may span several lines.", min_length=1), **COMMAND_OPTIONS}, ("code",)), python),
    Tool("desktop_screenshot", CONTROL, "See the screen: returns the image. Coordinates for the other tools are pixels of the full-size screen; when maxWidth/maxHeight scaled the image, the note says the scale to divide by.", args(SHOT_OPTIONS), screenshot, read_only=True),
    Tool("desktop_click", CONTROL, f"Click the mouse at x, y ({COORD}). Without x and y: where the pointer is. Returns the pointer position.", args({"x": integer(f"Horizontal position {COORD}."), "y": integer("Vertical position, screen pixels."), "button": BUTTON, "clicks": integer("1 (default), 2 for a double click, 3 for a triple click.", 1, 3), "modifiers": MODIFIERS}), click),
    Tool("desktop_type", CONTROL, "Type text with the keyboard into the focused window: any Unicode, newline presses Return, tab presses Tab. Click the target field first.", args({"text": string("The text to type.", min_length=0), "delayMs": integer("Milliseconds between characters. Default: 0.", 0, 1000)}, ("text",)), type_text),
    Tool("desktop_key", CONTROL, "Press keys: one combination or several separated by spaces, xdotool syntax with X keysym names: Return, Escape, Tab, BackSpace, ctrl+a, ctrl+shift+t, alt+F4, Page_Down, 'ctrl+a BackSpace'.", args({"key": string("The key or combinations.", 256, 1), "repeat": integer("Times to press it all. Default: 1.", 1, 100)}, ("key",)), key),
    Tool("desktop_scroll", CONTROL, f"Turn the mouse wheel, at x, y when given ({COORD}).", args({"direction": {"type": "string", "enum": ["up", "down", "left", "right"], "description": "Which way the content moves into view: down shows what is below."}, "amount": integer("Wheel clicks. Default: 3.", 1, 100), "x": integer("Horizontal position, screen pixels."), "y": integer("Vertical position, screen pixels."), "modifiers": MODIFIERS}, ("direction",)), scroll),
    Tool("desktop_drag", CONTROL, f"Press a mouse button at `from`, move (through `path` if given) to `to`, release. Points are {{x, y}} {COORD}.", args({"from": {**POINT, "description": "Where the button is pressed, screen pixels."}, "to": {**POINT, "description": "Where it is released, screen pixels."}, "path": {"type": "array", "items": POINT, "maxItems": 64, "description": "Waypoints between from and to. Default: none."}, "button": BUTTON, "modifiers": MODIFIERS, "durationMs": integer("Milliseconds the motion takes. Default: the agent's (a few hundred).", 0, 10000)}, ("from", "to")), drag),
    Tool("desktop_chat", CHAT, "Send a message to the AI agent that runs on the desktop and wait for its reply.", args({"message": string("The message.", min_length=1), "conversationId": string("Continue this conversation (from an earlier reply). Default: a new one."), "timeoutMs": integer("Milliseconds to wait for the reply.", 1)}, ("message",)), chat),
    Tool("desktop_exec", CONTROL, "Run one shell command (/bin/sh -c) or an argv on the desktop as the desktop user. Returns stdout, stderr, exitCode, timedOut; a non-zero exit is not a tool error.", args({"command": string("Shell command line.", min_length=1), "argv": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "Program and arguments, instead of command."}, **COMMAND_OPTIONS}), exec_command),
    Tool("desktop_bash", CONTROL, "Run a multi-line bash script on the desktop as the desktop user. Returns stdout, stderr, exitCode.", args({"script": string("The bash script.", min_length=1), **COMMAND_OPTIONS}, ("script",)), bash),
    Tool("desktop_move", CONTROL, f"Move the mouse pointer to x, y ({COORD}) without clicking (for hover menus and tooltips).", args({"x": integer("Horizontal position, screen pixels."), "y": integer("Vertical position, screen pixels.")}, ("x", "y")), move),
    Tool("desktop_act", CONTROL, "Do several input steps in order, wait until the screen stops changing, and return the settled screenshot: one call per step of your loop instead of action + screenshot.", args({"actions": {"type": "array", "items": ACTION, "maxItems": 64, "description": "The steps, run in order; [] only waits for the screen to settle and takes the screenshot."}, "imageScale": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "Coordinates in the actions are pixels of a screenshot scaled by this factor. Default: 1 (screen pixels)."}, "settle": {"type": ["object", "boolean"], "description": "{quietMs (default 150), timeoutMs (default 3000), untilChange (default false)} or false for no wait."}, "screenshot": {"type": ["object", "boolean"], "description": "Screenshot options (format, quality, maxWidth, maxHeight, cursor) or false for none. Default: full-size PNG."}}, ("actions",)), act),
    Tool("desktop_windows", CONTROL, "List the open windows: id, title, class, position, size, state, and which is focused.", args({}), windows, read_only=True),
    Tool("desktop_window_activate", CONTROL, "Bring a window to the front and focus it (restores a minimized one).", args({"windowId": integer("The window id from desktop_windows.")}, ("windowId",)), window_activate),
    Tool("desktop_clipboard_get", CONTROL, "Read the clipboard's text (null when nothing is copied).", args({"selection": {"type": "string", "enum": ["clipboard", "primary"], "description": "Default: clipboard."}}), clipboard_get, read_only=True),
    Tool("desktop_clipboard_set", CONTROL, "Put text on the clipboard, for pasting with ctrl+v.", args({"text": string("The text."), "selection": {"type": "string", "enum": ["clipboard", "primary"], "description": "Default: clipboard."}}, ("text",)), clipboard_set),
    Tool("desktop_file_read", CONTROL, "Read a text file of the desktop (path absolute, or relative to the user's home). At most 1 MiB is returned.", args({"path": string("The file's path.", min_length=1)}, ("path",)), file_read, read_only=True),
    Tool("desktop_file_write", CONTROL, "Write a text file on the desktop, atomically (replaces it unless overwrite is false).", args({"path": string("The file's path.", min_length=1), "content": string("The text to write (UTF-8)."), "parents": {"type": "boolean", "description": "Create missing directories. Default: false."}, "overwrite": {"type": "boolean", "description": "Replace an existing file. Default: true."}}, ("path", "content")), file_write),
    Tool("desktop_file_list", CONTROL, "List a directory of the desktop: name, type, size, modifiedAt.", args({"path": string("The directory. Default: the user's home.")}), file_list, read_only=True),
    Tool("desktop_accessibility", CONTROL, "The accessibility tree of a window: its buttons, fields and menus by role and name, with screen positions, one line a node. Use it to find controls instead of guessing from pixels.", args({"window": {"type": ["integer", "string"], "description": "A window id from desktop_windows, 'active' (default) or 'all'."}, "interactive": {"type": "boolean", "description": "Only controls that can be acted on. Default: false."}, "maxDepth": integer("Default: 30.", 1), "maxNodes": integer("Default: 2000.", 1), "format": {"type": "string", "enum": ["text", "json"], "description": "Default: text."}}), accessibility, read_only=True),
]  # fmt: skip

TOOL_NAMES = [tool.name for tool in TOOLS]


def allowed(capabilities: list[str]) -> list[Tool]:
    held = set(capabilities)
    return [tool for tool in TOOLS if tool.capability in held]


def by_name(name: str) -> Optional[Tool]:
    return next((tool for tool in TOOLS if tool.name == name), None)
