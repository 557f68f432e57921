"""The public routes that the control plane forwards to a desktop's agent: one row each.

`path` is below /v1/desktops/{id}/; `agent_path` is below the agent's /v1/ and may use the
path's own {placeholders}. The request goes to the agent unchanged (with the agent's token), and
its answer comes back unchanged and streamed (controlplane/proxy.py).
"""

from __future__ import annotations

import dataclasses

CONTROL, CHAT, READ = "desktop:control", "desktop:chat", "desktop:read"


@dataclasses.dataclass(frozen=True)
class Forward:
    method: str
    path: str
    capability: str
    agent_path: str
    summary: str


FORWARDS: tuple[Forward, ...] = (
    Forward("POST", "click", CONTROL, "click", "Mouse click at the given coordinates"),
    Forward("POST", "move", CONTROL, "move", "Move the pointer"),
    Forward("POST", "drag", CONTROL, "drag", "Mouse drag from a start to an end point"),
    Forward("POST", "scroll", CONTROL, "scroll", "Scroll the wheel"),
    Forward("POST", "type", CONTROL, "type", "Type a string of text"),
    Forward("POST", "key", CONTROL, "key", "Send a key or key combination"),
    Forward("POST", "bash", CONTROL, "bash", "Run a multi-line bash script"),
    Forward("POST", "exec", CONTROL, "exec", "Run a single shell command"),
    Forward("POST", "python", CONTROL, "python", "Run Python code on the desktop"),
    Forward("GET", "screenshot", CONTROL, "screenshot", "A PNG, JPEG or WebP of the current display"),
    Forward("GET", "accessibility", CONTROL, "accessibility", "The accessibility tree (roles, names, states, screen positions) of a window or the desktop"),
    Forward("POST", "chat", CHAT, "chat", "Send a message to the on-desktop AI agent (with stream: server-sent events)"),
    Forward("GET", "files", CONTROL, "files", "Download a file (Range, ETag) or list a directory, as the desktop user"),
    Forward("HEAD", "files", CONTROL, "files", "The headers of a file download or listing"),
    Forward("PUT", "files", CONTROL, "files", "Upload a file, streamed, atomically replacing the target"),
    Forward("DELETE", "files", CONTROL, "files", "Delete a file or (recursive) a directory"),
    Forward("POST", "files/mkdir", CONTROL, "files/mkdir", "Create a directory"),
    Forward("POST", "files/move", CONTROL, "files/move", "Move or rename a file or directory"),
    Forward("GET", "screen/stream", CONTROL, "screen/stream", "The live screen: multipart/x-mixed-replace frames on change"),
    Forward("GET", "events", READ, "events", "The agent's status and action events (server-sent events)"),
    Forward("GET", "windows", CONTROL, "windows", "List the desktop's top-level windows"),
    Forward("POST", "windows/{wid}/activate", CONTROL, "windows/{wid}/activate", "Raise and focus a window, confirmed"),
    Forward("POST", "windows/{wid}/close", CONTROL, "windows/{wid}/close", "Close a window (force: kill its client)"),
    Forward("POST", "windows/{wid}/geometry", CONTROL, "windows/{wid}/geometry", "Move and/or resize a window"),
    Forward("POST", "windows/{wid}/state", CONTROL, "windows/{wid}/state", "Minimize, maximize, fullscreen or restore a window"),
    Forward("GET", "clipboard", CONTROL, "clipboard", "Read the clipboard as text"),
    Forward("POST", "clipboard", CONTROL, "clipboard", "Set the clipboard to text"),
    Forward("POST", "act", CONTROL, "act", "Run input actions, wait until the screen settles, take a screenshot"),
)
