"""Reading one application's accessible objects over the bus, in bulk.

pyatspi asks for each property of each node and waits for each answer: one round trip per
property per node. Here a node's questions are all sent at once, without waiting (D-Bus keeps
the answers apart by serial), and its children's go out as soon as it says who they are, so
the application is never idle waiting for us. Where the application keeps a cache (`org.a11y.atspi.Cache.GetItems`,
Qt), a node found in it needs no question at all but its extents and actions.

Extents, actions and values are asked only for the nodes that will be answered, after the
limits and the interactive filter have cut the tree.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

from dbus_fast.aio import MessageBus

from bureau_agent.accessibility.roles import decode_states, role_name
from bureau_agent.accessibility.wire import Call, Stream, batch

Ref = tuple[str, str]

ROOT_PATH = "/org/a11y/atspi/accessible/root"
CACHE_PATH = "/org/a11y/atspi/cache"
ACCESSIBLE = "org.a11y.atspi.Accessible"
COMPONENT = "org.a11y.atspi.Component"
ACTION = "org.a11y.atspi.Action"
VALUE = "org.a11y.atspi.Value"
TEXT = "org.a11y.atspi.Text"
EDITABLE_TEXT = "org.a11y.atspi.EditableText"
PROPERTIES = "org.freedesktop.DBus.Properties"
NULL_PATH = "/org/a11y/atspi/null"
SCREEN_COORDS = 0  # ATSPI_COORD_TYPE_SCREEN

MAX_VALUE_CHARS = 200  # a value longer than this is cut and marked with "…"
MAX_NAME_CHARS = 500
MAX_CALLS_IN_FLIGHT = 256  # per application: see wire.Stream
SECRET_ROLES = frozenset({"password text"})  # their text is never read
OFFSCREEN = -(2**31)
# Roles that can be acted on though not focusable (menu items, links in some toolkits, …), and
# roles with a numeric value (the Value interface).
ACTION_ROLES = frozenset({
    "button", "toggle button", "check box", "radio button", "menu item", "check menu item",
    "radio menu item", "menu", "link", "combo box", "page tab", "push button menu", "list item",
    "tree item", "table cell", "spin button", "slider", "entry", "text", "password text",
})
VALUE_ROLES = frozenset({"slider", "scroll bar", "progress bar", "spin button", "dial", "level bar"})


@dataclasses.dataclass
class Raw:
    """One accessible object as read from its application."""

    ref: Ref
    depth: int
    role: str = "unknown"
    name: str = ""
    description: str = ""
    states: list[str] = dataclasses.field(default_factory=list)
    interfaces: frozenset[str] = frozenset()
    child_count: int = 0
    child_refs: list[Ref] = dataclasses.field(default_factory=list)
    children: list[Raw] = dataclasses.field(default_factory=list)
    extents: tuple[int, int, int, int] | None = None
    actions: list[str] = dataclasses.field(default_factory=list)
    value: str | None = None
    omitted: int = 0  # children left out (maxDepth, maxNodes)
    gone: bool = False  # went away (or became defunct) while being read

    @property
    def actionable(self) -> bool:
        return (
            bool(self.actions) or ACTION in self.interfaces or self.role in ACTION_ROLES
            or "focusable" in self.states or "editable" in self.states
        )


def _short(text: Any, limit: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ref(value: Any) -> Ref | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[1] and value[1] != NULL_PATH:
        return (str(value[0]), str(value[1]))
    return None


class AppReader:
    """Reads the tree of the application at bus name `name`."""

    def __init__(self, bus: MessageBus, name: str) -> None:
        self.bus = bus
        self.name = name
        self.calls = 0
        self._cache: dict[Ref, Raw] | None = None

    # -- calls ---------------------------------------------------------------------------

    def message(self, ref: Ref, interface: str, member: str, signature: str = "", body: Sequence[Any] = ()) -> Call:
        return (ref[0], ref[1], interface, member, signature, tuple(body))

    async def batch(self, calls: list[Call]) -> list[Any]:
        """Every call sent at once (a window at a time), their reply bodies in order: None for
        an error reply (a node gone, an interface it lacks). See wire.py for why not call()."""
        self.calls += len(calls)
        return await batch(self.bus, calls, MAX_CALLS_IN_FLIGHT)

    async def call(self, ref: Ref, interface: str, member: str, signature: str = "", body: Sequence[Any] = ()) -> Any:
        return (await self.batch([self.message(ref, interface, member, signature, body)]))[0]

    # -- the application -------------------------------------------------------------------

    async def root(self) -> Raw:
        """The application's root node with its children's references (its windows)."""
        node = Raw(ref=(self.name, ROOT_PATH), depth=0)
        await self.fill_level([node], extents=False)
        return node

    async def load_cache(self) -> None:
        """Cache.GetItems, if the application has one; nodes found there need no questions."""
        body = await self.call((self.name, CACHE_PATH), "org.a11y.atspi.Cache", "GetItems")
        self._cache = {}
        if not body or not body[0]:
            return
        by_parent: dict[Ref, list[tuple[int, Ref]]] = {}
        counts: dict[Ref, int] = {}
        for item in body[0]:
            ref = _ref(item[0])
            if ref is None:
                continue
            node = Raw(ref=ref, depth=0)
            if isinstance(item[3], list):  # a((so)(so)(so)a(so)assusau): children listed
                _, _, _, children, interfaces, name, role, description, states = item
                node.child_refs = [r for r in map(_ref, children) if r is not None]
                node.child_count = len(node.child_refs)
            else:  # a((so)(so)(so)iiassusau): index in parent and child count
                _, _, parent, index, count, interfaces, name, role, description, states = item
                counts[ref] = node.child_count = int(count)
                parent_ref = _ref(parent)
                if parent_ref is not None:
                    by_parent.setdefault(parent_ref, []).append((int(index), ref))
            node.interfaces = frozenset(interfaces)
            node.name, node.description = _short(name, MAX_NAME_CHARS), _short(description, MAX_NAME_CHARS)
            node.role, node.states = role_name(int(role)), decode_states(states)
            self._cache[ref] = node
        for parent, items in by_parent.items():
            cached = self._cache.get(parent)
            if cached is not None and len(items) == counts.get(parent, -1):
                cached.child_refs = [ref for _, ref in sorted(items)]
        # a node whose children could not be rebuilt from the cache is asked (child_count > len)

    # -- walking ---------------------------------------------------------------------------

    async def fill_level(self, nodes: list[Raw], *, extents: bool) -> list[Raw]:
        """Ask every node of a level its role, states, name and children (and extents) at once.

        Role and states say what else a node has (actions, a value, editable text), so
        GetInterfaces is not asked. Nodes that went away (GetRole fails) or are defunct are
        dropped from the answer."""
        cache = self._cache or {}
        asked = [n for n in nodes if n.ref not in cache]
        for node in nodes:
            cached = cache.get(node.ref)
            if cached is not None:
                node.role, node.name, node.description = cached.role, cached.name, cached.description
                node.states, node.interfaces, node.child_count = cached.states, cached.interfaces, cached.child_count
                node.child_refs = list(cached.child_refs)
        messages = []
        for node in asked:
            # Properties.Get, not GetAll: Qt 5's bridge crashes the application on GetAll.
            messages += [
                self.message(node.ref, ACCESSIBLE, "GetRole"),
                self.message(node.ref, ACCESSIBLE, "GetState"),
                self.message(node.ref, PROPERTIES, "Get", "ss", [ACCESSIBLE, "Name"]),
            ]
        missing_children = [n for n in nodes if n.ref not in cache or len(n.child_refs) < n.child_count]
        messages += [self.message(n.ref, ACCESSIBLE, "GetChildren") for n in missing_children]
        if extents:
            messages += [self.message(n.ref, COMPONENT, "GetExtents", "u", [SCREEN_COORDS]) for n in nodes]
        results = await self.batch(messages)
        gone: set[int] = set()
        for i, node in enumerate(asked):
            role, state, name = results[3 * i : 3 * i + 3]
            if role is None:
                gone.add(id(node))
                continue
            node.role = role_name(int(role[0]))
            node.states = decode_states(state[0]) if state else []
            node.name = _short(_variant(name[0]), MAX_NAME_CHARS) if name else ""
        offset = 3 * len(asked)
        for node, children in zip(missing_children, results[offset : offset + len(missing_children)]):
            if children:
                node.child_refs = [r for r in map(_ref, children[0]) if r is not None]
                node.child_count = max(node.child_count, len(node.child_refs))
        if extents:
            for node, body in zip(nodes, results[offset + len(missing_children) :]):
                node.extents = _extents(body)
        return [n for n in nodes if id(n) not in gone and "defunct" not in n.states]

    async def walk(self, roots: list[Raw], max_depth: int, max_nodes: int, *, extents: bool = True) -> tuple[int, bool]:
        """Read the subtrees under roots (already filled), breadth first, within the limits.

        A node's questions are sent as soon as its parent's GetChildren answers, not once the
        whole level has: the application always has questions waiting, and no level waits for
        its slowest node (under load each such wait cost a scheduling delay). Replies on one
        connection come back in the order asked, so nodes are still met breadth first and
        maxNodes keeps the first ones of that order. Returns (nodes read, truncated); a node
        cut by the limits keeps the number of children left out in `omitted`."""
        stream = Stream(self.bus, MAX_CALLS_IN_FLIGHT)
        cache = self._cache or {}
        state = {"count": len(roots), "truncated": False}

        def expand(node: Raw) -> None:
            """Make node's children (within the limits) and ask about each."""
            if node.depth >= max_depth:
                node.omitted = len(node.child_refs)
                state["truncated"] = state["truncated"] or node.omitted > 0
                return
            room = max(max_nodes - state["count"], 0)
            wanted = node.child_refs[:room]
            node.omitted = len(node.child_refs) - len(wanted)
            state["truncated"] = state["truncated"] or node.omitted > 0
            state["count"] += len(wanted)
            node.children = [Raw(ref=ref, depth=node.depth + 1) for ref in wanted]
            for child in node.children:
                ask(child)

        def ask(node: Raw) -> None:
            cached = cache.get(node.ref)
            if cached is not None:
                node.role, node.name, node.description = cached.role, cached.name, cached.description
                node.states, node.interfaces, node.child_count = cached.states, cached.interfaces, cached.child_count
                node.child_refs = list(cached.child_refs)
            else:
                # Properties.Get, not GetAll: Qt 5's bridge crashes the application on GetAll.
                stream.add(self.message(node.ref, ACCESSIBLE, "GetRole"), functools.partial(on_role, node))
                stream.add(self.message(node.ref, ACCESSIBLE, "GetState"), functools.partial(on_state, node))
                stream.add(self.message(node.ref, PROPERTIES, "Get", "ss", [ACCESSIBLE, "Name"]), functools.partial(on_name, node))
            if extents:
                stream.add(self.message(node.ref, COMPONENT, "GetExtents", "u", [SCREEN_COORDS]), functools.partial(on_extents, node))
            if cached is None or len(node.child_refs) < node.child_count:
                stream.add(self.message(node.ref, ACCESSIBLE, "GetChildren"), functools.partial(on_children, node))
            else:
                expand(node)

        def on_role(node: Raw, body: Any) -> None:
            if body is None:
                node.gone = True  # went away while being read
            else:
                node.role = role_name(int(body[0]))

        def on_state(node: Raw, body: Any) -> None:
            node.states = decode_states(body[0]) if body else []
            if "defunct" in node.states:
                node.gone = True

        def on_name(node: Raw, body: Any) -> None:
            node.name = _short(_variant(body[0]), MAX_NAME_CHARS) if body else ""

        def on_extents(node: Raw, body: Any) -> None:
            node.extents = _extents(body)

        def on_children(node: Raw, body: Any) -> None:
            if node.gone or not body:
                return
            node.child_refs = [r for r in map(_ref, body[0]) if r is not None]
            node.child_count = max(node.child_count, len(node.child_refs))
            expand(node)

        for root in roots:
            expand(root)
        await stream.drain()
        self.calls += stream.calls
        for node in _all(roots):  # what went away while being read is left out
            node.children = [child for child in node.children if not child.gone]
        return state["count"], state["truncated"]

    async def details(self, nodes: list[Raw], *, extents: bool) -> None:
        """Extents (when the walk did not ask them), actions, descriptions and short values of
        the nodes to be answered."""
        messages: list[Call] = []
        sinks: list[tuple[Raw, str]] = []

        def ask(node: Raw, kind: str, msg: Call) -> None:
            messages.append(msg)
            sinks.append((node, kind))

        for node in nodes:
            if extents and node.extents is None:
                ask(node, "extents", self.message(node.ref, COMPONENT, "GetExtents", "u", [SCREEN_COORDS]))
            if not node.actionable:
                continue
            ask(node, "actions", self.message(node.ref, ACTION, "GetActions"))
            ask(node, "description", self.message(node.ref, PROPERTIES, "Get", "ss", [ACCESSIBLE, "Description"]))
            if node.role in SECRET_ROLES:
                continue
            if node.role in VALUE_ROLES or VALUE in node.interfaces:
                ask(node, "value", self.message(node.ref, PROPERTIES, "Get", "ss", [VALUE, "CurrentValue"]))
            elif "editable" in node.states:
                ask(node, "text", self.message(node.ref, TEXT, "GetText", "ii", [0, MAX_VALUE_CHARS + 1]))
        for (node, kind), body in zip(sinks, await self.batch(messages)):
            if not body:
                continue
            if kind == "extents":
                node.extents = _extents(body)
            elif kind == "actions":
                # GetActions answers the localized names (GTK: "Click"); lower case is stable enough
                node.actions = [str(a[0]).lower() for a in body[0] if a and a[0]]
            elif kind == "description":
                node.description = _short(_variant(body[0]), MAX_NAME_CHARS)
            elif kind == "value":
                number = _variant(body[0])
                node.value = format(number, "g") if isinstance(number, float) else str(number)
            else:  # GetText asked for one character more than is kept: a longer text is marked cut
                text = str(body[0])
                node.value = text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _all(roots: list[Raw]) -> list[Raw]:
    out, stack = [], list(roots)
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out


def _extents(body: Any) -> tuple[int, int, int, int] | None:
    if not body:
        return None
    x, y, w, h = (int(v) for v in body[0])
    if x == OFFSCREEN or y == OFFSCREEN:  # GTK's answer for a widget that is not on screen
        return None
    return (x, y, w, h)


def _variant(value: Any) -> Any:
    return getattr(value, "value", value)
