"""Fixtures of the reliability suite: agents as real subprocesses on Xvfbs of their own.

Every agent's output (stdout and stderr) goes to a file under one session directory; each
agent's teardown and the end of the session check that the token appears in no line of it.
The figures the tests record are printed at the end of the run.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import figures
from tests.support.agentproc import AgentProcess, secret_leaks
from tests.support.xvfb import Xvfb

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def agent_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("agent-logs")
    yield path
    # Each agent's teardown asserts on its own log; this is the summary over the whole suite.
    lines = leaks = 0
    for log in sorted(path.glob("*.log")):
        text = log.read_text(encoding="utf-8", errors="replace")
        lines += len(text.splitlines())
        leaks += len(secret_leaks(text, _token_of(log)))
    figures.record("logs", agents=len(list(path.glob("*.log"))), linesScanned=lines, linesWithTheToken=leaks)


def _token_of(log: Path) -> str:
    return log.with_suffix(".token").read_text()


def _start(display: str, log_dir: Path, name: str, **kwargs: Any) -> AgentProcess:
    log_path = log_dir / f"{next(_counter):02d}-{name}.log"
    return AgentProcess(display, log_path, **kwargs).start()


def _finish(agent: AgentProcess) -> None:
    agent.stop()
    leaks = secret_leaks(agent.log_text(), agent.token)
    assert not leaks, f"the token appears in the log of {agent.log_path.name}: {leaks[:3]}"


@pytest.fixture(scope="module")
def rel_xvfb() -> Iterator[Xvfb]:
    """An Xvfb for this module only: tests type into it, hold keys on it, kill it."""
    server = Xvfb().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_agent(rel_xvfb: Xvfb, agent_log_dir: Path, request: pytest.FixtureRequest) -> Iterator[AgentProcess]:
    """One agent subprocess shared by the tests of a module."""
    agent = _start(rel_xvfb.name, agent_log_dir, request.module.__name__.rsplit(".", 1)[-1])
    yield agent
    _finish(agent)


@pytest.fixture
def spawn_agent(agent_log_dir: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., AgentProcess]]:
    """spawn_agent(display, settings=…, env=…) -> a started agent subprocess, stopped at teardown."""
    agents: list[AgentProcess] = []

    def make(display: str, **kwargs: Any) -> AgentProcess:
        agent = _start(display, agent_log_dir, request.node.name[:60].replace("/", "_"), **kwargs)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        _finish(agent)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not figures.FIGURES:
        return
    terminalreporter.section("reliability figures")
    for line in figures.render():
        terminalreporter.write_line(line)
    target = os.environ.get("BUREAU_RELIABILITY_FIGURES")
    if target:
        figures.save(target)
        terminalreporter.write_line(f"saved to {target}")
