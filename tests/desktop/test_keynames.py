"""Key names, aliases, combinations and characters to keysyms: pure, no X."""

from __future__ import annotations

import pytest
from bureau_agent.desktop.keysymdef import KEYSYM_NAMES as K

from bureau_agent.desktop.keynames import (
    char_keysyms,
    check_typeable,
    keysym_for_name,
    parse_keys,
)
from bureau_agent.errors import InvalidRequest, UnknownKey


@pytest.mark.parametrize(
    ("name", "keysym"),
    [
        ("Return", K["Return"]),
        ("Page_Up", K["Prior"]),
        ("F5", K["F5"]),
        ("f24", K["F24"]),
        ("eacute", K["eacute"]),
        ("Eacute", K["Eacute"]),
        ("EACUTE", K["eacute"]),
        ("a", ord("a")),
        ("A", ord("A")),
        ("ctrl", K["Control_L"]),
        ("CTRL", K["Control_L"]),
        ("control", K["Control_L"]),
        ("alt", K["Alt_L"]),
        ("shift", K["Shift_L"]),
        ("super", K["Super_L"]),
        ("win", K["Super_L"]),
        ("meta", K["Super_L"]),
        ("cmd", K["Super_L"]),
        ("enter", K["Return"]),
        ("esc", K["Escape"]),
        ("del", K["Delete"]),
        ("backspace", K["BackSpace"]),
        ("pageup", K["Prior"]),
        ("pagedown", K["Next"]),
        ("return", K["Return"]),
        ("space", K["space"]),
        ("XF86AudioMute", 0x1008FF12),
        ("€", 0x10020AC),
        ("/", ord("/")),
        ("U+20AC", 0x10020AC),
        ("0xff0d", 0xFF0D),
    ],
)
def test_names_resolve(name: str, keysym: int) -> None:
    assert keysym_for_name(name) == keysym


def test_unknown_name_is_named_in_the_error() -> None:
    with pytest.raises(UnknownKey) as info:
        keysym_for_name("NoSuchKey")
    assert "NoSuchKey" in info.value.message
    assert info.value.status == 400 and info.value.code == "unknown_key"


def test_combinations_and_sequences() -> None:
    combos = parse_keys("ctrl+shift+t  alt+F4 BackSpace")
    assert [[k.keysym for k in c] for c in combos] == [
        [K["Control_L"], K["Shift_L"], ord("t")],
        [K["Alt_L"], K["F4"]],
        [K["BackSpace"]],
    ]
    assert [k.keysym for k in parse_keys("ctrl++")[0]] == [K["Control_L"], K["plus"]]
    assert [k.keysym for k in parse_keys("+")[0]] == [K["plus"]]


@pytest.mark.parametrize("spec", ["ctrl+", "ctrl++a+", "ctrl+bogus", "a+b+nokey"])
def test_bad_combinations_are_unknown_keys(spec: str) -> None:
    with pytest.raises(UnknownKey):
        parse_keys(spec)


def test_blank_spec_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        parse_keys("   ")


def test_characters() -> None:
    assert char_keysyms("\n") == [K["Return"]]
    assert char_keysyms("\r") == [K["Return"]]
    assert char_keysyms("\t") == [K["Tab"]]
    assert char_keysyms("é") == [K["eacute"]]
    assert char_keysyms("€") == [0x10020AC, K["EuroSign"]]  # Unicode keysym first, legacy after
    assert char_keysyms("😀") == [0x101F600]
    assert char_keysyms("日")[0] == 0x10065E5


@pytest.mark.parametrize(("text", "index"), [("a\x01b", 1), ("\x7f", 0), ("xy\ud800", 2)])
def test_untypeable_text_names_the_index(text: str, index: int) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_typeable(text)
    assert info.value.details == {"field": "text", "index": index}
    assert f"index {index}" in info.value.message


def test_typeable_text_passes() -> None:
    check_typeable("plain\ttext\nwith é € 日本 😀\r\n")


def test_the_named_constants_are_keysymdefs() -> None:
    from bureau_agent.desktop import keynames

    for constant, name in (("RETURN", "Return"), ("TAB", "Tab"), ("PLUS", "plus"), ("SHIFT_L", "Shift_L"),
                           ("SHIFT_R", "Shift_R"), ("ISO_LEVEL3_SHIFT", "ISO_Level3_Shift"), ("CAPS_LOCK", "Caps_Lock")):  # fmt: skip
        assert getattr(keynames, constant) == K[name], constant

