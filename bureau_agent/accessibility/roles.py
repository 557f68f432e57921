"""AT-SPI's role and state enumerations (at-spi2-core's atspi-constants.h), as names.

GetRole answers a number and GetState a bitfield of two 32-bit words; asking the application
for GetRoleName/GetLocalizedRoleName would cost one more round trip a node. The names are the
ones AT-SPI itself uses ("push button" excepted: the contract and models say "button").
"""

from __future__ import annotations

from collections.abc import Sequence

ROLES: tuple[str, ...] = (
    "invalid", "accelerator label", "alert", "animation", "arrow", "calendar", "canvas",
    "check box", "check menu item", "color chooser", "column header", "combo box", "date editor",
    "desktop icon", "desktop frame", "dial", "dialog", "directory pane", "drawing area",
    "file chooser", "filler", "focus traversable", "font chooser", "frame", "glass pane",
    "html container", "icon", "image", "internal frame", "label", "layered pane", "list",
    "list item", "menu", "menu bar", "menu item", "option pane", "page tab", "page tab list",
    "panel", "password text", "popup menu", "progress bar", "push button", "radio button",
    "radio menu item", "root pane", "row header", "scroll bar", "scroll pane", "separator",
    "slider", "spin button", "split pane", "status bar", "table", "table cell",
    "table column header", "table row header", "tearoff menu item", "terminal", "text",
    "toggle button", "tool bar", "tool tip", "tree", "tree table", "unknown", "viewport", "window",
    "extended", "header", "footer", "paragraph", "ruler", "application", "autocomplete", "editbar",
    "embedded", "entry", "chart", "caption", "document frame", "heading", "page", "section",
    "redundant object", "form", "link", "input method window", "table row", "tree item",
    "document spreadsheet", "document presentation", "document text", "document web",
    "document email", "comment", "list box", "grouping", "image map", "notification", "info bar",
    "level bar", "title bar", "block quote", "audio", "video", "definition", "article", "landmark",
    "log", "marquee", "math", "rating", "timer", "static", "math fraction", "math root",
    "subscript", "superscript", "description list", "description term", "description value",
    "footnote", "content deletion", "content insertion", "mark", "suggestion", "push button menu",
)

STATES: tuple[str, ...] = (
    "invalid", "active", "armed", "busy", "checked", "collapsed", "defunct", "editable", "enabled",
    "expandable", "expanded", "focusable", "focused", "has tooltip", "horizontal", "iconified",
    "modal", "multi line", "multiselectable", "opaque", "pressed", "resizable", "selectable",
    "selected", "sensitive", "showing", "single line", "stale", "transient", "vertical", "visible",
    "manages descendants", "indeterminate", "required", "truncated", "animated", "invalid entry",
    "supports autocompletion", "selectable text", "is default", "visited", "checkable", "has popup",
    "read only",
)

RENAMED = {"push button": "button"}

# The states worth a model's attention in the text form (the JSON form has them all).
TEXT_STATES = (
    "focusable", "focused", "checked", "indeterminate", "selected", "expanded", "collapsed", "pressed",
    "editable", "read only", "required", "invalid entry", "enabled", "modal", "has popup",
)
_TEXT_ORDER = {name: index for index, name in enumerate(TEXT_STATES)}


def role_name(number: int) -> str:
    name = ROLES[number] if 0 <= number < len(ROLES) else "unknown"
    return RENAMED.get(name, name)


def decode_states(words: Sequence[int]) -> list[str]:
    """The names of the bits set in GetState's au (bit n of word n // 32), in enumeration order."""
    names = []
    for index, word in enumerate(words[:2]):
        bit = 0
        while word:
            if word & 1:
                number = index * 32 + bit
                if 0 < number < len(STATES):
                    names.append(STATES[number])
            word >>= 1
            bit += 1
    return names


def text_states(states: Sequence[str]) -> list[str]:
    return sorted((s for s in states if s in _TEXT_ORDER), key=_TEXT_ORDER.__getitem__)
