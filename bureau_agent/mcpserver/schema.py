"""JSON Schema pieces for the tools' arguments, with descriptions written for a model."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

DESKTOP_ID: Schema = {
    "type": "string",
    "description": "The desktop's id (dsk_…), from desktops_list. May be left out when the API key sees exactly one desktop.",
}
COORD = "in screen pixels of the full-size screen, origin top-left (a screenshot taken with maxWidth is scaled: divide its pixel coordinates by its scale)"
MODIFIERS: Schema = {
    "type": "array",
    "items": {"type": "string", "maxLength": 32},
    "maxItems": 8,
    "description": 'Keys held during the action, e.g. ["ctrl"] or ["shift", "alt"]. Default: none.',
}
BUTTON: Schema = {
    "type": "string",
    "enum": ["left", "middle", "right", "back", "forward"],
    "description": "Mouse button. Default: left.",
}
POINT: Schema = {
    "type": "object",
    "properties": {"x": {"type": "integer", "minimum": 0}, "y": {"type": "integer", "minimum": 0}},
    "required": ["x", "y"],
    "additionalProperties": False,
}
COMMAND_OPTIONS: dict[str, Schema] = {
    "timeoutMs": {
        "type": "integer",
        "minimum": 1,
        "description": "Milliseconds before the whole process tree is ended (the output so far is returned with timedOut: true). Default: 60000.",
    },
    "cwd": {"type": "string", "description": "Working directory. Default: the desktop user's home."},
    "env": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "Environment variables added to the desktop session's (which has DISPLAY set).",
    },
    "stdin": {"type": "string", "description": "Text given on standard input. Default: none."},
}


def _bounded(schema: Schema, **bounds: int | None) -> Schema:
    """schema with each bound that is given (None: no such keyword)."""
    schema.update({name: value for name, value in bounds.items() if value is not None})
    return schema


def integer(description: str, minimum: int | None = 0, maximum: int | None = None) -> Schema:
    return _bounded({"type": "integer", "description": description}, minimum=minimum, maximum=maximum)


def string(description: str, max_length: int | None = None, min_length: int | None = None) -> Schema:
    return _bounded({"type": "string", "description": description}, maxLength=max_length, minLength=min_length)


def args(properties: dict[str, Schema], required: tuple[str, ...] = (), desktop: bool = True) -> Schema:
    """An object schema; every desktop tool takes desktopId first."""
    props = {"desktopId": DESKTOP_ID, **properties} if desktop else dict(properties)
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}
