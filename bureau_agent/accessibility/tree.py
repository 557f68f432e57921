"""Shaping a read tree for the answer: the interactive filter, the node limit, JSON and text.

Pure functions over walk.Raw nodes, tested without a bus.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from bureau_agent.accessibility.roles import text_states
from bureau_agent.accessibility.walk import Raw


def interactive_only(root: Raw) -> Raw:
    """Keep the nodes that can be acted on (actions, focusable or editable, and showing) and,
    above them, the named ancestors that say where they are; unnamed containers between are
    left out and their kept descendants move up. The root is always kept."""

    def keep(node: Raw) -> bool:
        return node.actionable and "showing" in node.states

    def kept_children(node: Raw) -> list[Raw]:
        out: list[Raw] = []
        for child in node.children:
            below = kept_children(child)
            if keep(child) or (below and child.name):
                child.children, child.omitted = below, 0
                out.append(child)
            else:
                out.extend(below)
        return out

    root.children, root.omitted = kept_children(root), 0
    _renumber(root, 0)
    return root


def _renumber(node: Raw, depth: int) -> None:
    node.depth = depth
    for child in node.children:
        _renumber(child, depth + 1)


def limit(root: Raw, max_nodes: int) -> bool:
    """Cut the tree to max_nodes nodes in breadth-first order; True if anything was cut."""
    count, cut, level = 1, False, [root]
    while level:
        next_level: list[Raw] = []
        for node in level:
            room = max_nodes - count - len(next_level)
            if room < len(node.children):
                kept = node.children[: max(room, 0)]
                node.omitted += len(node.children) - len(kept)
                node.children, cut = kept, True
            next_level.extend(node.children)
        count += len(next_level)
        level = next_level
    return cut


def nodes(root: Raw) -> Iterator[Raw]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def to_json(node: Raw) -> dict[str, Any]:
    x, y, w, h = node.extents or (0, 0, 0, 0)
    out: dict[str, Any] = {"role": node.role, "name": node.name}
    if node.description:
        out["description"] = node.description
    if node.value is not None:
        out["value"] = node.value
    out.update(states=node.states, x=x, y=y, width=w, height=h, actions=node.actions)
    out["children"] = [to_json(child) for child in node.children]
    if node.omitted:
        out["omitted"] = node.omitted
    return out


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def line(node: Raw) -> str:
    """`- button "OK" [focusable, enabled] @(120,340 80x30)`, without the indentation."""
    parts = [f"- {node.role}"]
    if node.name:
        parts.append(_quote(node.name))
    if node.value is not None and node.value != node.name:
        parts.append(f"= {_quote(node.value)}")
    states = text_states(node.states)
    if states:
        parts.append(f"[{', '.join(states)}]")
    if node.extents is not None and (node.extents[2] > 0 or node.extents[3] > 0):
        x, y, w, h = node.extents
        parts.append(f"@({x},{y} {w}x{h})")
    return " ".join(parts)


def to_text(root: Raw) -> str:
    lines: list[str] = []
    stack: list[tuple[Raw | int, int]] = [(root, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, int):
            lines.append(f"{'  ' * depth}… {item} more")
            continue
        lines.append("  " * depth + line(item))
        if item.omitted:
            stack.append((item.omitted, depth + 1))
        stack.extend((child, depth + 1) for child in reversed(item.children))
    return "\n".join(lines) + "\n"
