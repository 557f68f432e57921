"""The layering the README describes: api/ never talks to X itself; the domain never serves HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "bureau_agent"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [("api", ("Xlib", "mss")), ("desktop", ("aiohttp",)), ("process", ("aiohttp",))],
)
def test_layer_does_not_import(folder: str, forbidden: tuple[str, ...]) -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in (PACKAGE / folder).glob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in forbidden
    }
    assert not offenders
