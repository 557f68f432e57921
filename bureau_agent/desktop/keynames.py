"""Key names and characters to X keysyms (pure: no X connection).

A key name is an X keysym name (`Return`, `Page_Up`, `F5`, `eacute`, `XF86AudioMute`), a common
alias (`ctrl`, `win`, `enter`, `pageup`, …), a single character (`é`, `/`), a Unicode name
(`U+20AC`, `U20AC`) or a hex keysym (`0xff0d`); all case-insensitive, an exact keysym name winning
(`a` and `A` stay different keys). A key specification follows xdotool: combinations separated
by spaces, names in a combination joined by `+` (`ctrl+shift+t`, `ctrl+a BackSpace`, `ctrl++`).
"""

from __future__ import annotations

import dataclasses
import functools
import re

from bureau_agent.errors import InvalidRequest, UnknownKey

UNICODE_KEYSYM_BASE = 0x01000000
# The few keysyms the agent's own code names, as keysymdef.h has them (a test compares): the
# full tables (some 2 500 names) are read at the first key name or character that needs them,
# which keeps 1.4 MiB and 20 ms out of the agent's start.
RETURN, TAB, PLUS = 0xFF0D, 0xFF09, 0x2B
SHIFT_L, SHIFT_R, ISO_LEVEL3_SHIFT, CAPS_LOCK = 0xFFE1, 0xFFE2, 0xFE03, 0xFFE5

ALIASES: dict[str, str] = {
    "ctrl": "Control_L", "control": "Control_L", "lctrl": "Control_L", "rctrl": "Control_R",
    "alt": "Alt_L", "option": "Alt_L", "lalt": "Alt_L", "ralt": "Alt_R",
    "altgr": "ISO_Level3_Shift",
    "shift": "Shift_L", "lshift": "Shift_L", "rshift": "Shift_R",
    "super": "Super_L", "win": "Super_L", "windows": "Super_L", "meta": "Super_L",
    "cmd": "Super_L", "command": "Super_L", "lsuper": "Super_L", "rsuper": "Super_R",
    "enter": "Return", "return": "Return", "esc": "Escape", "escape": "Escape",
    "del": "Delete", "delete": "Delete", "backspace": "BackSpace", "bksp": "BackSpace",
    "tab": "Tab", "space": "space", "spacebar": "space",
    "pageup": "Prior", "pgup": "Prior", "page_up": "Prior",
    "pagedown": "Next", "pgdn": "Next", "page_down": "Next",
    "up": "Up", "down": "Down", "left": "Left", "right": "Right",
    "arrowup": "Up", "arrowdown": "Down", "arrowleft": "Left", "arrowright": "Right",
    "home": "Home", "end": "End", "insert": "Insert", "ins": "Insert",
    "capslock": "Caps_Lock", "numlock": "Num_Lock", "scrolllock": "Scroll_Lock",
    "print": "Print", "printscreen": "Print", "prtsc": "Print", "prtscr": "Print",
    "menu": "Menu", "apps": "Menu", "pause": "Pause", "break": "Break",
    "plus": "plus", "minus": "minus",
    "volumeup": "XF86AudioRaiseVolume", "volumedown": "XF86AudioLowerVolume",
    "volumemute": "XF86AudioMute", "mute": "XF86AudioMute",
    "playpause": "XF86AudioPlay", "play": "XF86AudioPlay", "nexttrack": "XF86AudioNext",
    "prevtrack": "XF86AudioPrev", "stop": "XF86AudioStop",
}


@dataclasses.dataclass(frozen=True)
class _Tables:
    exact: dict[str, int]  # every keysym name of the X headers
    lower: dict[str, int]  # lower-cased, an all-lower-case name winning a clash (`EACUTE` is `eacute`)
    legacy: dict[int, list[int]]  # legacy keysyms for each code point, lowest keysym first


@functools.cache
def _tables() -> _Tables:
    from bureau_agent.desktop.keysymdef import KEYSYM_NAMES, KEYSYM_TO_CODEPOINT

    exact = dict(KEYSYM_NAMES)
    lower: dict[str, int] = {}
    for name, value in sorted(exact.items(), key=lambda item: (item[0] != item[0].lower(), item[0])):
        lower.setdefault(name.lower(), value)
    legacy: dict[int, list[int]] = {}
    for keysym, cp in sorted(KEYSYM_TO_CODEPOINT.items()):
        legacy.setdefault(cp, []).append(keysym)
    return _Tables(exact, lower, legacy)


_UNICODE_NAME = re.compile(r"[uU]\+?([0-9a-fA-F]{4,6})")
_HEX_KEYSYM = re.compile(r"0[xX]([0-9a-fA-F]{1,8})")


@dataclasses.dataclass(frozen=True)
class Key:
    name: str  # as the caller wrote it
    keysym: int


def keysym_for_name(name: str) -> int:
    """The keysym a key name means; UnknownKey naming it otherwise."""
    tables = _tables()
    if name in tables.exact:
        return tables.exact[name]
    lower = name.lower()
    if lower in ALIASES:
        return tables.exact[ALIASES[lower]]
    if lower in tables.lower:
        return tables.lower[lower]
    match = _UNICODE_NAME.fullmatch(name)
    if match:
        return char_keysym(chr(_valid_codepoint(int(match.group(1), 16), name)))
    match = _HEX_KEYSYM.fullmatch(name)
    if match:
        return int(match.group(1), 16)
    if len(name) == 1 and name.isprintable():
        return char_keysym(name)
    raise UnknownKey(f"Unknown key name {name!r}: not an X keysym name nor an alias.", details={"key": name})


def _printable(cp: int) -> bool:
    """Not a control character (C0, DEL, C1), not a surrogate, within Unicode."""
    return not (cp < 0x20 or 0x7F <= cp < 0xA0 or 0xD800 <= cp < 0xE000 or cp > 0x10FFFF)


def _valid_codepoint(cp: int, name: str) -> int:
    if not _printable(cp):
        raise UnknownKey(f"Unknown key name {name!r}: not a printable Unicode character.", details={"key": name})
    return cp


def parse_combination(combo: str) -> list[Key]:
    """`ctrl+shift+t` → its keys in press order. `+` itself is a key at the end (`ctrl++`)."""
    if combo == "+":
        return [Key("+", PLUS)]
    names = combo[:-2].split("+") + ["+"] if combo.endswith("++") else combo.split("+")
    if any(not n for n in names):
        raise UnknownKey(f"Unknown key name '' in {combo!r}: an empty name between '+' signs.", details={"key": combo})
    return [Key(n, keysym_for_name(n)) for n in names]


def parse_keys(spec: str) -> list[list[Key]]:
    """An xdotool key specification → its combinations, each a list of keys in press order."""
    combos = [parse_combination(c) for c in spec.split()]
    if not combos:
        raise InvalidRequest("key must name at least one key.", details={"field": "key"})
    return combos


def char_keysym(ch: str) -> int:
    """The canonical keysym of a printable character: Latin-1 keysyms are the code point, others
    the Unicode keysym (0x01000000 + code point), which every client understands."""
    cp = ord(ch)
    if 0x20 <= cp <= 0x7E or 0xA0 <= cp <= 0xFF:
        return cp
    return UNICODE_KEYSYM_BASE + cp


def char_keysyms(ch: str) -> list[int]:
    """Every keysym that produces ch, for a lookup in the live map: the canonical one first,
    then legacy ones (`EuroSign` for €). Newline and carriage return are Return, tab is Tab."""
    if ch in "\n\r":
        return [RETURN]
    if ch == "\t":
        return [TAB]
    return [char_keysym(ch), *_tables().legacy.get(ord(ch), ())]


def check_typeable(text: str) -> None:
    """InvalidRequest naming the first character that cannot be typed (controls, lone surrogates)."""
    for index, ch in enumerate(text):
        if ch not in "\n\r\t" and not _printable(ord(ch)):
            raise InvalidRequest(
                f"text has the control or invalid character U+{ord(ch):04X} at index {index}, which cannot be typed.",
                details={"field": "text", "index": index},
            )
