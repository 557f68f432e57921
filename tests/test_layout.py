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
    ("accessibility", ("aiohttp", "bureau_agent.api", "bureau_agent.appkeys", "bureau_agent.httpkit")),
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


# The client speaks only the public API: of bureau_agent it imports itself alone (not even the
# package root). The MCP server stands on the client alone (and the package's __version__).
PUBLIC_SIDE = {
    "client": ("bureau_agent.client",),
    "mcpserver": ("bureau_agent.client", "bureau_agent.mcpserver"),
}


@pytest.mark.parametrize("folder", sorted(PUBLIC_SIDE))
def test_the_public_side_speaks_only_the_public_api(folder: str) -> None:
    found = {
        f"{path.name}: {name}"
        for path in (PACKAGE / folder).rglob("*.py")
        for name in imports(path)
        if _matches(name, ("bureau_agent",))
        and not _matches(name, PUBLIC_SIDE[folder])
        and not (folder == "mcpserver" and name == "bureau_agent")
    }
    assert not found
    assert "bureau_agent.client" in imports(PACKAGE / "mcpserver" / "server.py")


def test_serving_loads_neither_the_client_nor_the_mcp_sdk() -> None:
    """What the daemon and the control plane load at start: no httpx, no mcp (the .deb has neither)."""
    import subprocess
    import sys

    code = (
        "import sys, bureau_agent.cli, bureau_agent.app, bureau_agent.server, bureau_agent.controlplane.app\n"
        "bureau_agent.cli.build_parser()\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'httpx')"
        " or m.startswith(('bureau_agent.client', 'bureau_agent.mcpserver')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_the_benchmark_does_not_import_the_tests_nor_they_it() -> None:
    """What both need to stage a desktop (Xvfb, a free port, a window by title, a control plane)
    is in devsupport/, at the top of the checkout."""
    repo = PACKAGE.parent
    for folder, forbidden in (("bench", ("tests",)), ("tests", ("bench",)), ("devsupport", ("tests", "bench"))):
        found = {f"{path.relative_to(repo)}: {name}" for path in (repo / folder).rglob("*.py") for name in imports(path) if _matches(name, forbidden)}
        if folder == "tests":  # the bench smoke test runs the benchmark: that one may import it
            found = {f for f in found if not f.startswith("tests/test_bench_smoke.py")}
        assert not found, folder
    assert imports(repo / "bench" / "scene.py") & {"devsupport.xvfb", "devsupport.xwindows"}  # the rule sees real imports
