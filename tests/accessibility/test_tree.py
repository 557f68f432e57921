"""The pure parts: role and state names, the node limit, the interactive filter, the text form."""

from __future__ import annotations

from bureau_agent.accessibility.roles import ROLES, STATES, decode_states, role_name, text_states
from bureau_agent.accessibility.tree import interactive_only, limit, line, nodes, to_json, to_text
from bureau_agent.accessibility.walk import Raw


def node(role: str, name: str = "", *children: Raw, states: tuple[str, ...] = ("showing", "enabled"), extents=(0, 0, 10, 10)) -> Raw:  # type: ignore[no-untyped-def]
    raw = Raw(ref=(":1.1", f"/{role}/{name}"), depth=0, role=role, name=name, states=list(states), extents=extents)
    raw.children = list(children)
    return raw


def test_role_and_state_tables_follow_atspi() -> None:
    assert ROLES[43] == "push button" and role_name(43) == "button"  # ATSPI_ROLE_PUSH_BUTTON
    assert role_name(79) == "entry" and role_name(95) == "document web" and role_name(10_000) == "unknown"
    assert STATES[8] == "enabled" and STATES[12] == "focused" and STATES[4] == "checked"
    # bit n of word n // 32: focusable (11), enabled (8), checked (4); read only is 43 = word 1 bit 11
    assert decode_states([1 << 11 | 1 << 8 | 1 << 4, 1 << 11]) == ["checked", "enabled", "focusable", "read only"]
    assert decode_states([]) == [] and decode_states([1]) == []  # bit 0 is "invalid": never a state
    assert text_states(["showing", "enabled", "focused", "focusable", "visible"]) == ["focusable", "focused", "enabled"]


def test_the_text_line() -> None:
    ok = node("button", "OK", states=("focusable", "enabled", "showing", "visible"), extents=(120, 340, 80, 30))
    assert line(ok) == '- button "OK" [focusable, enabled] @(120,340 80x30)'
    entry = node("entry", "Name", states=("editable",), extents=None)
    entry.value = 'say "hi"\nthere'
    assert line(entry) == '- entry "Name" = "say \\"hi\\"\\nthere" [editable]'  # quoted as JSON strings
    assert line(node("panel", states=(), extents=(0, 0, 0, 0))) == "- panel"


def test_limit_cuts_breadth_first_and_counts_what_is_left_out() -> None:
    root = node("frame", "w", node("panel", "a", node("button", "a1"), node("button", "a2")), node("panel", "b", node("button", "b1")))
    assert limit(root, 4)
    kept = [n.name for n in nodes(root)]
    assert kept == ["w", "a", "a1", "b"]  # breadth first: both panels before any button
    assert root.children[0].omitted == 1 and root.children[1].omitted == 1
    text = to_text(root)
    assert text.splitlines() == ['- frame "w" [enabled] @(0,0 10x10)', '  - panel "a" [enabled] @(0,0 10x10)',
                                 '    - button "a1" [enabled] @(0,0 10x10)', "    … 1 more",
                                 '  - panel "b" [enabled] @(0,0 10x10)', "    … 1 more"]  # fmt: skip
    assert not limit(root, 100)
    assert to_json(root)["children"][0]["omitted"] == 1


def test_interactive_keeps_actionable_nodes_and_named_containers() -> None:
    root = node(
        "frame", "w",
        node("filler", "", node("button", "OK"), node("label", "Just text")),
        node("panel", "Settings", node("filler", "", node("check box", "Dark"))),
        node("panel", "Decor", node("label", "nothing to do")),
        node("menu item", "Hidden", states=("enabled",)),  # not showing
    )  # fmt: skip
    interactive_only(root)
    assert [(n.role, n.name, n.depth) for n in nodes(root)] == [
        ("frame", "w", 0), ("button", "OK", 1), ("panel", "Settings", 1), ("check box", "Dark", 2),
    ]  # fmt: skip


def test_calls_are_written_as_dbus_fast_would_write_them() -> None:
    from dbus_fast import Message

    from bureau_agent.accessibility.wire import encode_call

    cases = [
        (":1.5", "/org/a11y/atspi/accessible/12", "org.a11y.atspi.Accessible", "GetRole", "", ()),
        (":1.5", "/org/a11y/atspi/accessible/1234567", "org.freedesktop.DBus.Properties", "Get", "ss", ("org.a11y.atspi.Accessible", "Name")),
        (":1.52", "/a", "org.a11y.atspi.Component", "GetExtents", "u", (0,)),
        (":1.5", "/org/a11y/atspi/accessible/root", "org.a11y.atspi.Text", "GetText", "ii", (0, 201)),
    ]
    for serial, call in enumerate(cases, 1):
        dest, path, interface, member, signature, body = call
        message = Message(destination=dest, path=path, interface=interface, member=member, signature=signature, body=list(body), serial=serial)
        assert encode_call(serial, *call) == bytes(message._marshall(False)), call
