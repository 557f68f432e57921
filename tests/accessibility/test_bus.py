"""Finding the accessibility bus: none (503 with the fix), one that starts after the agent, one
known only to the session bus, and one that goes away and comes back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.accessibility.conftest import tree_until
from devsupport.a11y import A11ySession, find, gtk_app
from tests.support.agent import AUTH
from tests.support.xvfb import Xvfb


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch) -> Iterator[Xvfb]:
    """An X server with no session at all, and an agent environment without a session bus."""
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    server = Xvfb().start()
    yield server
    server.stop()


def has_gtk(body: dict) -> bool:
    return bool(find(body["root"], lambda n: n["role"] == "button" and n["name"] == "OK"))


async def test_no_bus_is_503_with_the_fix_then_a_late_bus_works(make_agent, bare: Xvfb) -> None:  # type: ignore[no-untyped-def]
    agent = await make_agent(bare.name)
    for _ in range(2):  # a failed lookup is not remembered: the second asks again, the same way
        resp = await agent.get("/v1/accessibility", headers=AUTH)
        assert resp.status == 503
        error = (await resp.json())["error"]
        assert error["code"] == "accessibility_unavailable"
        assert "AT_SPI_BUS" in error["message"] and "at-spi-bus-launcher" in error["message"]
        assert "DBUS_SESSION_BUS_ADDRESS is not set" in error["message"]
    with A11ySession(bare) as session, gtk_app(session):
        body = await tree_until(agent, {"window": "all"}, has_gtk)  # the same agent, not restarted
        assert body["skipped"] == []
        # no window manager, so no _NET_ACTIVE_WINDOW: `active` (the default) is the desktop
        body = await tree_until(agent, {}, has_gtk)
        assert body["window"] is None and body["root"]["role"] == "desktop frame"
    # the session ended: its bus is gone, and the agent says so again instead of hanging
    resp = await agent.get("/v1/accessibility", headers=AUTH)
    assert resp.status == 503 and (await resp.json())["error"]["code"] == "accessibility_unavailable"
    with A11ySession(bare) as session, gtk_app(session):  # a new session: a new bus, found
        await tree_until(agent, {"window": "all"}, has_gtk)


async def test_the_session_bus_names_the_bus_when_the_root_window_does_not(make_agent, bare: Xvfb, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    with A11ySession(bare, set_root_property=False) as session:
        assert session.root_property() == ""
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session.address)  # the desktop session's
        agent = await make_agent(bare.name)
        with gtk_app(session):
            body = await tree_until(agent, {"window": "all"}, has_gtk)
            assert body["root"]["role"] == "desktop frame"


async def test_doctor_reports_the_bus(bare: Xvfb) -> None:
    from bureau_agent.doctor import _accessibility_check, Display  # the check doctor runs
    from tests.support.agent import agent_settings

    settings = agent_settings(bare.name)
    display = Display(bare.name)
    await display.start()
    try:
        check = await _accessibility_check(settings, display)
        assert not check.ok and "AT_SPI_BUS" in check.detail and "at-spi-bus-launcher" in check.fix
        with A11ySession(bare):
            check = await _accessibility_check(settings, display)
            assert check.ok and "reachable (from the root window)" in check.detail, check
    finally:
        await display.close()
