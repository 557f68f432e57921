"""agentReady on a real Xvfb: every check, loss and return, an X server without XTEST."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Callable

import pytest

from bureau_agent.desktop.capture import Capturer
from bureau_agent.desktop.display import Display
from bureau_agent.desktop.readiness import FIX_XTEST, Readiness
from tests.support.xvfb import Xvfb
from tests.support.wait import wait_until


class XvfbWithoutXtest(Xvfb):
    def _args(self) -> list[str]:
        return [*super()._args(), "-extension", "XTEST"]


@pytest.fixture
async def make_readiness() -> AsyncIterator[Callable[..., Any]]:
    opened: list[tuple[Readiness, Capturer, Display]] = []

    async def make(name: str, interval_s: float = 1.0, check_interval_s: float = 0.5) -> Readiness:
        display = Display(name, check_interval_s=check_interval_s)
        capturer = Capturer(name)
        readiness = Readiness(display, capturer, interval_s=interval_s)
        await display.start()
        await readiness.start()
        opened.append((readiness, capturer, display))
        return readiness

    yield make
    for readiness, capturer, display in opened:
        await readiness.close()
        await capturer.close()
        await display.close()


@pytest.fixture
def xvfb_without_xtest() -> Iterator[Xvfb]:
    server = XvfbWithoutXtest().start()
    yield server
    server.stop()


async def test_every_check_passes_on_a_working_display(make_readiness: Callable[..., Any], xvfb: Xvfb) -> None:
    readiness = await make_readiness(xvfb.name)
    assert readiness.ready is True and readiness.problems == []
    assert [(c.name, c.ok) for c in readiness.checks] == [("display", True), ("xtest", True), ("capture", True)]


async def test_false_within_two_seconds_of_the_server_dying_and_true_when_it_returns(
    make_readiness: Callable[..., Any], own_xvfb: Xvfb
) -> None:
    # A long readiness interval: the flips must come from the display's events, not the tick.
    readiness = await make_readiness(own_xvfb.name, interval_s=60)
    flips: list[bool] = []
    readiness.add_listener(flips.append)
    own_xvfb.kill()
    await wait_until(lambda: not readiness.ready, timeout_s=2.0)
    assert readiness.checks[0].name == "display" and readiness.checks[0].fix
    own_xvfb.restart()
    await wait_until(lambda: readiness.ready, timeout_s=5.0)
    assert flips == [False, True]


async def test_an_x_server_without_xtest_is_not_ready_and_says_how_to_fix_it(
    make_readiness: Callable[..., Any], xvfb_without_xtest: Xvfb
) -> None:
    readiness = await make_readiness(xvfb_without_xtest.name)
    assert readiness.ready is False
    failed = [c for c in readiness.checks if not c.ok]
    assert [c.name for c in failed] == ["xtest"] and failed[0].fix == FIX_XTEST
    assert "XTEST" in readiness.problems[0]


async def test_not_ready_without_any_server(make_readiness: Callable[..., Any], own_xvfb: Xvfb) -> None:
    own_xvfb.kill()
    readiness = await make_readiness(own_xvfb.name)
    assert readiness.ready is False
    assert [c.name for c in readiness.checks] == ["display"]
