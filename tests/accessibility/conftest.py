"""A desktop of its own for the accessibility tests: Xvfb, openbox, a D-Bus session with the
AT-SPI bus, and a GTK window in it (module-wide: starting them costs seconds)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from aiohttp.test_utils import TestClient

from devsupport.a11y import A11ySession, App, gtk_app
from tests.support.agent import AUTH
from tests.support.xvfb import Xvfb


@pytest.fixture(scope="module")
def session(wm_xvfb: Xvfb) -> Iterator[A11ySession]:
    with A11ySession(wm_xvfb) as running:
        yield running


@pytest.fixture(scope="module")
def gtk(session: A11ySession) -> Iterator[App]:
    with gtk_app(session) as app:
        yield app


@pytest.fixture
async def a11y_agent(make_agent: Callable[..., Any], wm_xvfb: Xvfb, session: A11ySession) -> TestClient:
    return await make_agent(wm_xvfb.name)


async def tree_until(agent: TestClient, params: dict[str, Any], predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
    """GET /v1/accessibility until predicate(body) holds (an application builds its tree after
    its window shows), or AssertionError with the last answer."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = await agent.get("/v1/accessibility", params=params, headers=AUTH)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        if predicate(body):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {body}")
