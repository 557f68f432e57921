"""The heartbeat loop against a real fake control plane, with injected random sources.

The status document is built by hand here (the app-level tests use the real one): what is tested is
when beats go out and what they carry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bureau_agent.control.backoff import Backoff
from bureau_agent.control.client import ControlPlaneClient
from bureau_agent.control.heartbeat import Heartbeat
from bureau_agent.status import StatusDocument
from tests.support.wait import wait_until
from tests.support.control import FakeControlPlane

TOKEN = "hb-token-0123456789abcdef"
SPEC_KEYS = {
    "desktopId", "state", "agentReady", "bootId", "seq", "version", "uptimeS", "display", "chat", "metrics", "sentAt",
}
TOP = 1.0 - 1e-12


class Agent:
    """What the heartbeat reads: a flag for agentReady and a snapshot around it."""

    def __init__(self, ready: bool = True) -> None:
        self.ready = ready

    def snapshot(self) -> StatusDocument:
        return StatusDocument(
            agent_ready=self.ready,
            version="9.9.9",
            boot_id="boot-1",
            started_at="2026-01-01T00:00:00Z",
            uptime_s=1.5,
            display={"name": ":9", "connected": self.ready, "width": 10, "height": 10},
            chat={"configured": False, "reachable": False},
            metrics={"cpuPercent": 1.0},
        )


@pytest.fixture
async def make_heartbeat(control_plane: FakeControlPlane) -> AsyncIterator[Any]:
    made: list[Heartbeat] = []

    def make(agent: Agent, interval_s: float = 300, timeout_s: float = 2, random: Any = lambda: 0.5, **kwargs: Any) -> Heartbeat:
        hb = Heartbeat(
            ControlPlaneClient(control_plane.url, TOKEN, timeout_s),
            "desk-1",
            agent.snapshot,
            lambda: agent.ready,
            interval_s=interval_s,
            random=random,
            **kwargs,
        )
        made.append(hb)
        return hb

    yield make
    for hb in made:
        hb.begin_stopping()
        await hb.client.close()


async def test_beats_carry_exactly_the_spec_fields_and_the_token(control_plane: FakeControlPlane, make_heartbeat: Any) -> None:
    hb = make_heartbeat(Agent(), interval_s=1, random=lambda: 0.0)  # 0.8 s between beats
    hb.start()
    await control_plane.wait_count(2)
    first, second = control_plane.beats[:2]
    assert set(first) == SPEC_KEYS
    assert first["desktopId"] == "desk-1" and first["state"] == "ready" and first["agentReady"] is True
    assert first["bootId"] == "boot-1" and first["version"] == "9.9.9" and first["uptimeS"] == 1.5
    assert first["sentAt"].endswith("Z")
    assert [first["seq"], second["seq"]] == [1, 2]
    assert control_plane.auth[:2] == [f"Bearer {TOKEN}"] * 2
    assert hb.delays[0] == ("interval", pytest.approx(0.8))


async def test_a_change_of_agent_ready_is_sent_at_once(control_plane: FakeControlPlane, make_heartbeat: Any) -> None:
    agent = Agent()
    hb = make_heartbeat(agent, interval_s=300)
    hb.start()
    await control_plane.wait_count(1)
    agent.ready = False
    hb.changed()
    beat = await control_plane.wait_for(lambda b: not b["agentReady"], timeout=3)
    assert beat["state"] == "degraded" and beat["seq"] == 2
    agent.ready = True
    hb.changed()
    beat = await control_plane.wait_for(lambda b: b["agentReady"], start=2, timeout=3)
    assert beat["state"] == "ready" and beat["seq"] == 3


async def test_starting_until_ready_then_degraded_after_the_grace(control_plane: FakeControlPlane, make_heartbeat: Any) -> None:
    hb = make_heartbeat(Agent(ready=False), interval_s=300, startup_grace_s=0.3)
    hb.start()
    first = await control_plane.wait_for(lambda b: True)
    assert first["state"] == "starting" and first["agentReady"] is False
    # The end of the grace is a change of state: it is sent without waiting for the interval.
    second = await control_plane.wait_for(lambda b: b["state"] == "degraded", timeout=3)
    assert second["seq"] == 2


async def test_500s_back_off_then_the_normal_interval_returns(control_plane: FakeControlPlane, make_heartbeat: Any) -> None:
    async def reply(index: int, beat: dict) -> web.StreamResponse:
        return web.Response(status=500) if index < 3 else web.json_response({})

    control_plane.responder = reply
    backoff = Backoff(lambda: TOP, base_s=0.05, cap_s=0.2)
    hb = make_heartbeat(Agent(), interval_s=0.3, random=lambda: TOP, backoff=backoff)
    hb.start()
    await control_plane.wait_count(5)
    assert [b["seq"] for b in control_plane.beats[:5]] == [1, 2, 3, 4, 5]
    reasons = [reason for reason, _ in list(hb.delays)[:5]]
    delays = [delay for _, delay in list(hb.delays)[:5]]
    assert reasons == ["backoff", "backoff", "backoff", "interval", "interval"]
    assert delays == pytest.approx([0.05, 0.1, 0.2, 0.36, 0.36])
    assert hb.failed == 3 and hb.last_error is None and not backoff.failing


async def test_during_backoff_a_change_waits_for_the_next_attempt(control_plane: FakeControlPlane, make_heartbeat: Any) -> None:
    async def reply(index: int, beat: dict) -> web.StreamResponse:
        return web.Response(status=503)

    control_plane.responder = reply
    agent = Agent()
    backoff = Backoff(lambda: TOP, base_s=1.5, cap_s=1.5)
    hb = make_heartbeat(agent, interval_s=300, backoff=backoff)
    hb.start()
    await control_plane.wait_count(1)
    # the event that proves the state: the loop has chosen the backoff delay and sleeps it out
    await wait_until(lambda: [reason for reason, _ in hb.delays] == ["backoff"], timeout_s=5, what="the backoff delay")
    agent.ready = False
    hb.changed()
    assert not hb._wake.is_set()  # a change does not cut a backoff short: no hammering a failing plane
    beat = await control_plane.wait_for(lambda b: not b["agentReady"], timeout=5)
    assert beat["seq"] == 2 and control_plane.beats.index(beat) == 1  # no beat in between


async def test_the_control_plane_sets_the_interval(control_plane: FakeControlPlane, make_heartbeat: Any) -> None:
    async def reply(index: int, beat: dict) -> web.StreamResponse:
        return web.json_response({"intervalS": 1} if index == 0 else {"intervalS": 1000})

    control_plane.responder = reply
    hb = make_heartbeat(Agent(), interval_s=300, random=lambda: 0.0)
    hb.start()
    await control_plane.wait_count(3, timeout=4)  # at 300 s this would never come
    assert hb.interval_s == 1.0  # 1000 is out of range: ignored
    assert [d for _, d in list(hb.delays)[:2]] == pytest.approx([0.8, 0.8])


@pytest.mark.parametrize("body", [b"<html>fine</html>", b"[1, 2]", b'{"intervalS": "soon"}', b'{"intervalS'])
async def test_garbage_replies_are_tolerated(control_plane: FakeControlPlane, make_heartbeat: Any, body: bytes) -> None:
    async def reply(index: int, beat: dict) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    control_plane.responder = reply
    hb = make_heartbeat(Agent(), interval_s=1, random=lambda: 0.0)
    hb.start()
    await control_plane.wait_count(2)
    assert hb.interval_s == 1 and hb.failed == 0 and list(hb.delays)[0][0] == "interval"  # a success


async def test_stop_sends_a_last_stopping_beat(control_plane: FakeControlPlane, make_heartbeat: Any) -> None:
    hb = make_heartbeat(Agent(), interval_s=300)
    hb.start()
    await control_plane.wait_count(1)
    await hb.stop()
    assert [b["state"] for b in control_plane.beats] == ["ready", "stopping"]
    assert control_plane.beats[-1]["seq"] == 2 and control_plane.beats[-1]["agentReady"] is True


async def test_the_last_beat_is_bounded_when_the_control_plane_hangs(control_plane: FakeControlPlane, make_heartbeat: Any) -> None:
    async def reply(index: int, beat: dict) -> web.StreamResponse:
        await asyncio.sleep(0 if index == 0 else 30)
        return web.json_response({})

    control_plane.responder = reply
    hb = make_heartbeat(Agent(), interval_s=300, timeout_s=30)
    hb.start()
    await control_plane.wait_count(1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await hb.stop()
    assert loop.time() - started < 3.5  # bounded to 2 s (+ scheduling slack)
    assert control_plane.beats[-1]["state"] == "stopping" and hb.failed == 1


async def test_a_control_plane_that_is_down_never_stops_the_loop(make_heartbeat: Any, control_plane: FakeControlPlane) -> None:
    await control_plane.close()  # nothing listens on its port any more
    backoff = Backoff(lambda: TOP, base_s=0.05, cap_s=0.05)
    hb = make_heartbeat(Agent(), interval_s=300, backoff=backoff)
    hb.start()
    for _ in range(100):
        if hb.failed >= 3:
            break
        await asyncio.sleep(0.05)
    assert hb.failed >= 3 and hb._task is not None and not hb._task.done()
    assert (hb.last_error or "").startswith("ClientConnectorError: Cannot connect to host 127.0.0.1:"), hb.last_error


async def test_a_broken_snapshot_is_logged_and_retried(control_plane: FakeControlPlane, make_heartbeat: Any) -> None:
    agent = Agent()
    calls = {"n": 0}
    real = agent.snapshot

    def flaky() -> StatusDocument:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("psutil hiccup")
        return real()

    agent.snapshot = flaky  # type: ignore[method-assign]
    hb = make_heartbeat(agent, interval_s=300, backoff=Backoff(lambda: TOP, base_s=0.05, cap_s=0.05))
    hb.start()
    beat = await control_plane.wait_for(lambda b: True, timeout=3)
    assert beat["state"] == "ready" and hb._task is not None and not hb._task.done()
