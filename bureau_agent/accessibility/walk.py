"""Reading one application's accessible objects over the bus, in bulk.

pyatspi asks for each property of each node and waits for each answer: one round trip per
property per node. Here every question of a level of the tree is sent at once and the answers
are awaited together (D-Bus keeps them apart by serial), so a tree costs one round trip per
level, not per property. Where the application keeps a cache (`org.a11y.atspi.Cache.GetItems`,
Qt), a node found in it needs no question at all but its extents and actions.

Extents, actions and values are asked only for the nodes that will be answered, after the
limits and the interactive filter have cut the tree.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from bureau_agent.accessibility.roles import decode_states, role_name

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
MAX_CALLS_IN_FLIGHT = 2048  # per application: bounds our memory and the bus's pending replies
SECRET_ROLES = frozenset({"password text"})  # their text is never read


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

    @property
    def actionable(self) -> bool:
        return bool(self.actions) or ACTION in self.interfaces or "focusable" in self.states or "editable" in self.states


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
        self._slots = asyncio.Semaphore(MAX_CALLS_IN_FLIGHT)
        self._cache: dict[Ref, Raw] | None = None

    # -- calls ---------------------------------------------------------------------------

    async def _call(self, dest: str, path: str, interface: str, member: str, signature: str = "", body: Sequence[Any] = ()) -> Any:
        """The reply's body, or None for an error reply (a node that went away, a missing interface)."""
        async with self._slots:
            self.calls += 1
            reply = await self.bus.call(
                Message(destination=dest, path=path, interface=interface, member=member, signature=signature, body=list(body))
            )
        if reply.message_type != MessageType.METHOD_RETURN:
            return None
        return reply.body

    def call(self, ref: Ref, interface: str, member: str, signature: str = "", body: Sequence[Any] = ()) -> Coroutine[Any, Any, Any]:
        return self._call(ref[0], ref[1], interface, member, signature, body)

    async def gather(self, calls: Iterable[Coroutine[Any, Any, Any]]) -> list[Any]:
        return list(await asyncio.gather(*calls))

    # -- the application -------------------------------------------------------------------

    async def root(self) -> Raw:
        """The application's root node with its children's references (its windows)."""
        node = Raw(ref=(self.name, ROOT_PATH), depth=0)
        await self._fill_level([node], with_children=True)
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

    async def _fill_level(self, nodes: list[Raw], *, with_children: bool) -> list[Raw]:
        """Ask every node of a level its role, states, name, interfaces and children at once.

        Nodes that went away (their GetRole fails) are dropped from the answer."""
        cache = self._cache or {}
        asked = [n for n in nodes if n.ref not in cache]
        for node in nodes:
            cached = cache.get(node.ref)
            if cached is not None:
                node.role, node.name, node.description = cached.role, cached.name, cached.description
                node.states, node.interfaces, node.child_count = cached.states, cached.interfaces, cached.child_count
                node.child_refs = list(cached.child_refs)
        calls = []
        for node in asked:
            # Properties.Get one at a time: Qt 5's bridge crashes the application on GetAll.
            calls += [
                self.call(node.ref, ACCESSIBLE, "GetRole"),
                self.call(node.ref, ACCESSIBLE, "GetState"),
                self.call(node.ref, PROPERTIES, "Get", "ss", [ACCESSIBLE, "Name"]),
                self.call(node.ref, PROPERTIES, "Get", "ss", [ACCESSIBLE, "Description"]),
                self.call(node.ref, ACCESSIBLE, "GetInterfaces"),
            ]
        missing_children = [n for n in nodes if with_children and (n.ref not in cache or len(n.child_refs) < n.child_count)]
        calls += [self.call(n.ref, ACCESSIBLE, "GetChildren") for n in missing_children]
        results = await self.gather(calls)
        gone: set[int] = set()
        for i, node in enumerate(asked):
            role, state, name, description, interfaces = results[5 * i : 5 * i + 5]
            if role is None:
                gone.add(id(node))
                continue
            node.role = role_name(int(role[0]))
            node.states = decode_states(state[0]) if state else []
            node.name = _short(_variant(name[0]), MAX_NAME_CHARS) if name else ""
            node.description = _short(_variant(description[0]), MAX_NAME_CHARS) if description else ""
            node.interfaces = frozenset(interfaces[0]) if interfaces else frozenset()
        for node, children in zip(missing_children, results[5 * len(asked) :]):
            if children:
                node.child_refs = [r for r in map(_ref, children[0]) if r is not None]
                node.child_count = max(node.child_count, len(node.child_refs))
        return [n for n in nodes if id(n) not in gone and "defunct" not in n.states]

    async def walk(self, roots: list[Raw], max_depth: int, max_nodes: int) -> tuple[int, bool]:
        """Read the subtrees under roots (already filled), breadth first, within the limits.

        Returns (nodes read, truncated). A node cut by the limits keeps the number of its
        children left out in `omitted`."""
        count, truncated = len(roots), False
        level = roots
        while level:
            next_level: list[Raw] = []
            for node in level:
                if not node.child_refs:
                    node.omitted = 0 if node.depth < max_depth else node.child_count
                    truncated = truncated or node.omitted > 0
                    continue
                if node.depth >= max_depth:
                    node.omitted, truncated = node.child_count, True
                    continue
                room = max_nodes - count - len(next_level)
                wanted = node.child_refs[: max(room, 0)]
                node.omitted = len(node.child_refs) - len(wanted)
                truncated = truncated or node.omitted > 0
                node.children = [Raw(ref=ref, depth=node.depth + 1) for ref in wanted]
                next_level.extend(node.children)
            if not next_level:
                break
            alive = {id(n) for n in await self._fill_level(next_level, with_children=True)}
            for node in level:
                node.children = [c for c in node.children if id(c) in alive]
            level = [n for n in next_level if id(n) in alive]
            count += len(level)
        return count, truncated

    async def details(self, nodes: list[Raw]) -> None:
        """Extents (screen coordinates), actions and short values of the nodes to be answered."""
        calls, sinks = [], []
        for node in nodes:
            if COMPONENT in node.interfaces:
                calls.append(self.call(node.ref, COMPONENT, "GetExtents", "u", [SCREEN_COORDS]))
                sinks.append((node, "extents"))
            if ACTION in node.interfaces:
                calls.append(self.call(node.ref, ACTION, "GetActions"))
                sinks.append((node, "actions"))
            if node.role in SECRET_ROLES:
                continue
            if VALUE in node.interfaces:
                calls.append(self.call(node.ref, PROPERTIES, "Get", "ss", [VALUE, "CurrentValue"]))
                sinks.append((node, "value"))
            elif EDITABLE_TEXT in node.interfaces and TEXT in node.interfaces:
                calls.append(self.call(node.ref, TEXT, "GetText", "ii", [0, MAX_VALUE_CHARS + 1]))
                sinks.append((node, "text"))
        for (node, kind), body in zip(sinks, await self.gather(calls)):
            if not body:
                continue
            if kind == "extents":
                x, y, w, h = (int(v) for v in body[0])
                node.extents = (x, y, w, h)
            elif kind == "actions":
                node.actions = [str(a[0]) for a in body[0] if a and a[0]]
            elif kind == "value":
                number = _variant(body[0])
                node.value = format(number, "g") if isinstance(number, float) else str(number)
            else:  # GetText asked for one character more than is kept: a longer text is marked cut
                text = str(body[0])
                node.value = text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _variant(value: Any) -> Any:
    return getattr(value, "value", value)
