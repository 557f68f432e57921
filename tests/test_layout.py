"""The layering the README describes, one rule a row: who may not import whom.

- api/ parses and answers; it never talks to X, D-Bus or the screen itself;
- the domain packages know no HTTP server;
- control/ (the outbound heartbeat) knows nothing of the inbound API or its keys;
- httpkit/ is neutral: the agent and the control plane stand on it, it stands on neither;
- the control plane, the client and the MCP server are not the daemon: the daemon never
  imports them (the CLI only inside the functions of their subcommands), and they never reach
  into the daemon's HTTP layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "bureau_agent"
NOT_DAEMON = ("bureau_agent.controlplane", "bureau_agent.client", "bureau_agent.mcpserver")


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offenders(folder: str, forbidden: tuple[str, ...]) -> set[str]:
    root = PACKAGE / folder if folder else PACKAGE
    files = root.rglob("*.py") if folder else root.glob("*.py")
    return {f"{path.relative_to(PACKAGE)}: {name}" for path in files for name in imports(path) if _matches(name, forbidden)}


RULES = [
    ("api", ("Xlib", "mss", "dbus_fast", "bureau_agent.control")),
    ("desktop", ("aiohttp", "bureau_agent.api", "bureau_agent.appkeys")),
    ("process", ("aiohttp", "bureau_agent.api", "bureau_agent.appkeys")),
    ("files", ("aiohttp", "bureau_agent.api", "bureau_agent.appkeys", "bureau_agent.httpkit")),
    ("chat", ("aiohttp.web", "bureau_agent.api", "bureau_agent.appkeys")),
    ("system", ("aiohttp", "bureau_agent.api", "bureau_agent.appkeys")),
    ("control", ("bureau_agent.api", "bureau_agent.appkeys", "bureau_agent.snapshot", "aiohttp.web")),
    ("httpkit", ("bureau_agent.api", "bureau_agent.app", "bureau_agent.appkeys", "bureau_agent.config",
                 "bureau_agent.controlplane", "bureau_agent.desktop", "bureau_agent.process", "bureau_agent.chat")),
    ("controlplane", ("bureau_agent.api", "bureau_agent.app", "bureau_agent.appkeys", "bureau_agent.desktop",
                      "bureau_agent.process", "bureau_agent.chat", "bureau_agent.control", "mss")),
]  # fmt: skip


@pytest.mark.parametrize(("folder", "forbidden"), RULES, ids=[rule[0] for rule in RULES])
def test_layer_does_not_import(folder: str, forbidden: tuple[str, ...]) -> None:
    assert not offenders(folder, forbidden)


def test_the_daemon_never_imports_what_it_does_not_run() -> None:
    daemon = [
        path
        for path in PACKAGE.rglob("*.py")
        if not _matches(".".join(("bureau_agent", *path.relative_to(PACKAGE).with_suffix("").parts)), NOT_DAEMON)
    ]
    found = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in daemon
        # the CLI may, inside the function of the subcommand that runs them
        for name in imports(path, top_level_only=path.name == "cli.py" and path.parent == PACKAGE)
        if _matches(name, NOT_DAEMON)
    }
    assert not found


def test_the_rules_see_real_imports() -> None:
    """A rule over a folder that does not exist, or a parser that finds nothing, would pass always."""
    for folder, _ in RULES:
        assert (PACKAGE / folder).is_dir(), folder
    assert "aiohttp" in imports(PACKAGE / "api" / "input.py")
    assert offenders("controlplane", ("bureau_agent.httpkit",))  # it does stand on the toolkit
