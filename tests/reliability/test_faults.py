"""Faults: the X server dies and returns under load; the control plane is down, slow or failing;
SIGTERM arrives in the middle of the load.

The agent is a real subprocess, the X server a real Xvfb (killed with SIGKILL and restarted on
the same display number), the control plane a real aiohttp server in the test.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import figures
from tests.support.agentproc import AgentProcess
from tests.support.control import Beat, FakeControlPlane
from tests.support.loadgen import Call, Outcome, endless, mixed_call, percentile, run_load, send, summary
from tests.support.xvfb import Xvfb

pytestmark = pytest.mark.reliability

DISPLAY_ROUTES = frozenset({"click", "type", "key", "screenshot"})
EXEC_TRUE = Call("exec", "POST", "/v1/exec", {"argv": ["true"]})
CLICK = Call("click", "POST", "/v1/click", {"x": 10, "y": 10})
STATUS = Call("status", "GET", "/v1/status")


def fault_call(rng: random.Random, width: int, height: int) -> Call:
    """The desktop mix plus status, which must answer whatever the display does."""
    return STATUS if rng.random() < 0.15 else mixed_call(rng, width, height)


async def poll(
    session: aiohttp.ClientSession, agent: AgentProcess, call: Call, until: Callable[[Outcome], bool], timeout_s: float
) -> Outcome:
    """Send call every 50 ms until until(outcome); fail with the last outcome after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        outcome = await send(session, agent.url, call, agent.auth, timeout_s=10)
        if until(outcome):
            return outcome
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout_s} s still: {outcome.describe()}")
        await asyncio.sleep(0.05)


def is_display_unavailable(outcome: Outcome) -> bool:
    retry_after = outcome.headers.get("Retry-After", "")
    return outcome.status == 503 and outcome.code == "display_unavailable" and retry_after.isdigit() and int(retry_after) >= 1


def is_busy(outcome: Outcome) -> bool:
    """429 busy with Retry-After: how the agent refuses new commands while it shuts down."""
    retry_after = outcome.headers.get("Retry-After", "")
    return outcome.status == 429 and outcome.code == "busy" and retry_after.isdigit()


def ready_is(value: bool) -> Callable[[Outcome], bool]:
    return lambda o: o.status == 200 and isinstance(o.body, dict) and o.body.get("agentReady") is value


async def test_xvfb_killed_and_restarted_under_load(rel_xvfb: Xvfb, spawn_agent: Callable[..., AgentProcess]) -> None:
    agent = await asyncio.to_thread(spawn_agent, rel_xvfb.name, settings={"exec_max_concurrent": 16})
    cycles = figures.scaled(1, minimum=2)
    stop = asyncio.Event()
    downtimes: list[float] = []
    recoveries: list[float] = []

    async with aiohttp.ClientSession() as session:
        load = asyncio.ensure_future(
            run_load(session, agent.url, endless(fault_call, rel_xvfb.width, rel_xvfb.height, stop), agent.auth, 6, timeout_s=30)
        )
        try:
            for _ in range(cycles):
                await asyncio.sleep(0.5)  # load on a live display
                killed = time.monotonic()
                await asyncio.to_thread(rel_xvfb.kill)
                await poll(session, agent, CLICK, is_display_unavailable, timeout_s=10)
                downtimes.append(time.monotonic() - killed)
                await poll(session, agent, STATUS, ready_is(False), timeout_s=10)
                ran = await send(session, agent.url, EXEC_TRUE, agent.auth)
                assert ran.status == 200 and ran.body["exitCode"] == 0, f"exec while the display is down: {ran.describe()}"
                await asyncio.to_thread(rel_xvfb.restart)
                restarted = time.monotonic()
                await poll(session, agent, CLICK, lambda o: o.status == 200, timeout_s=20)
                await poll(session, agent, STATUS, ready_is(True), timeout_s=20)
                recoveries.append(time.monotonic() - restarted)
                assert agent.alive()
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            outcomes = await load

    unavailable = [o for o in outcomes if o.status == 503]
    figures.record(
        "xvfb kill/restart under load",
        cycles=cycles,
        **summary(outcomes, is_ok=lambda o: o.status == 200 or is_display_unavailable(o)),
        answered503=len(unavailable),
        detectP50S=round(percentile(downtimes, 50), 2),
        recoverP50S=round(percentile(recoveries, 50), 2),
        recoverMaxS=round(max(recoveries), 2),
    )
    bad = [
        o.describe()
        for o in outcomes
        if not (o.status == 200 or (o.call.kind in DISPLAY_ROUTES and is_display_unavailable(o)))
    ]
    assert not bad, f"{len(bad)} of {len(outcomes)} answers were neither 200 nor 503 display_unavailable: {bad[:5]}"
    assert agent.alive()


# -- the control plane -------------------------------------------------------------------------

HEARTBEAT_TOKEN = "reliability-beat-0123456789"
HEARTBEAT_FIELDS = {"desktopId", "state", "agentReady", "bootId", "seq", "version", "uptimeS", "display", "chat", "metrics", "sentAt"}


def heartbeat_env(plane: FakeControlPlane, desktop_id: str) -> dict[str, str]:
    return {
        "BUREAU_AGENT_HEARTBEAT_URL": plane.url,
        "BUREAU_AGENT_HEARTBEAT_TOKEN": HEARTBEAT_TOKEN,
        "BUREAU_AGENT_DESKTOP_ID": desktop_id,
        "BUREAU_AGENT_HEARTBEAT_INTERVAL_S": "1",
        "BUREAU_AGENT_HEARTBEAT_TIMEOUT_S": "1",
    }


def check_beat(beat: Beat, agent: AgentProcess, desktop_id: str) -> None:
    assert isinstance(beat.body, dict), beat
    assert HEARTBEAT_FIELDS <= set(beat.body), f"missing {HEARTBEAT_FIELDS - set(beat.body)}"
    assert beat.body["desktopId"] == desktop_id
    assert beat.authorization == f"Bearer {HEARTBEAT_TOKEN}" != f"Bearer {agent.token}"


async def probe_while(done: Callable[[], bool], agent: AgentProcess, session: aiohttp.ClientSession) -> list[Outcome]:
    """/v1/status and /v1/health every 50 ms until done()."""
    outcomes = []
    while not done():
        for call in (STATUS, Call("health", "GET", "/v1/health")):
            outcomes.append(await send(session, agent.url, call, agent.auth, timeout_s=10))
        await asyncio.sleep(0.05)
    return outcomes


async def test_control_plane_down_slow_and_failing_never_slows_the_agent(
    rel_xvfb: Xvfb, spawn_agent: Callable[..., AgentProcess]
) -> None:
    plane = await FakeControlPlane(slow_s=3.0).start()
    desktop_id = "rel-desktop-faults"
    phase_s = 3.0
    try:
        # In a thread: it waits for the agent with time.sleep and urllib, and this loop serves
        # the control plane the agent beats to.
        agent = await asyncio.to_thread(spawn_agent, rel_xvfb.name, env=heartbeat_env(plane, desktop_id))
        first = await plane.wait_for_record(lambda b: b.state == "ready", timeout_s=15)
        check_beat(first, agent, desktop_id)
        latencies: dict[str, dict[str, Any]] = {}
        async with aiohttp.ClientSession() as session:
            for mode in ("error", "slow", "down"):
                began = time.monotonic()
                if mode == "down":
                    await plane.stop()
                else:
                    plane.mode = mode
                # At least phase_s, and (error, slow) until the agent has tried to beat in this
                # mode: its backoff has grown by then, so the next try may be seconds away.
                def done(began: float = began, mode: str = mode) -> bool:
                    now = time.monotonic()
                    tried = mode == "down" or any(b.mode == mode for b in plane.records_since(began))
                    return now - began >= phase_s and tried or now - began > 40

                outcomes = await probe_while(done, agent, session)
                latencies[mode] = summary(outcomes, time.monotonic() - began)
                bad = [o.describe() for o in outcomes if not o.ok]
                assert not bad, f"control plane {mode}: {bad[:5]}"
                slowest = max(o.latency for o in outcomes)
                assert slowest < 2.0, f"control plane {mode}: an answer took {slowest:.2f} s"
                if mode != "down":
                    assert plane.records_since(began), f"no beat was tried in 40 s while the control plane was {mode}"
                assert agent.alive()
            plane.mode = "ok"
            back = time.monotonic()
            await plane.start()
            # Backoff grows from 1 s while failing, up to 60 s (+20 % jitter).
            recovered = await plane.wait_for_record(lambda b: b.mode == "ok", timeout_s=75, since=back)
        check_beat(recovered, agent, desktop_id)
        assert recovered.body["bootId"] == first.body["bootId"]
        seqs = [b.body["seq"] for b in plane.records if isinstance(b.body, dict)]
        assert seqs == sorted(seqs), f"seq went backwards: {seqs}"
        figures.record(
            "control plane faults",
            phaseS={mode: s["wallS"] for mode, s in latencies.items()},
            beats={mode: sum(1 for b in plane.records if b.mode == mode) for mode in ("ok", "error", "slow")},
            recoveredAfterS=round(recovered.at - back, 1),
            agentLatency={mode: {k: s[k] for k in ("requests", "p50Ms", "p99Ms", "maxMs")} for mode, s in latencies.items()},
        )
        failures_logged = [
            line for line in agent.log_lines() if line.get("level") == "warning" and "heartbeat" in str(line).lower()
        ]
        assert failures_logged, "heartbeat failures were not logged"
    finally:
        await plane.stop()


# -- SIGTERM under load ------------------------------------------------------------------------

ALLOWED_AFTER_STOP = ("ClientConnectorError", "ServerDisconnectedError", "ClientOSError")
LONG_CALLS = 4
SLOW_TEXT = "in flight " * 6  # typed with 20 ms between characters: over a second


async def test_sigterm_in_the_middle_of_the_load(rel_xvfb: Xvfb, spawn_agent: Callable[..., AgentProcess], tmp_path: Path) -> None:
    """What a client can rely on when the agent is stopped under load.

    - Calls known to be running when SIGTERM arrives finish: /v1/type calls of over a second, sent
      at least 0.3 s before, answer 200 with every character typed. Long exec calls (each has
      written a marker file) get a whole answer: 200 with their full output, or (docs/process.md:
      the agent ends running commands on shutdown) 200 with `exitCode: null` and the signal.
    - Every HTTP answer is a whole, documented answer (200, 429 busy with Retry-After for a new
      command once shutdown has begun, or 503 display_unavailable): never a 500, never a cut body.
    - Requests that get no answer at all are refused connections or connections the server closed
      (an idle keep-alive one, or one still in the accept queue when the listener closed), and
      only around or after the signal: none earlier.
    - The last heartbeat is `stopping`, sent after the signal; the exit status is 0, within the
      shutdown grace.
    """
    plane = await FakeControlPlane().start()
    grace_s = 10
    try:
        agent = await asyncio.to_thread(
            spawn_agent,
            rel_xvfb.name,
            settings={"exec_max_concurrent": 16, "shutdown_grace_s": grace_s},
            env=heartbeat_env(plane, "rel-desktop-sigterm"),
        )
        await plane.wait_for_record(lambda b: b.state == "ready", timeout_s=15)
        stop = asyncio.Event()
        markers = [tmp_path / f"started.{i}" for i in range(LONG_CALLS)]
        script = 'touch "$0"; sleep 2; echo done'
        async with aiohttp.ClientSession() as long_session, aiohttp.ClientSession() as session:
            long_calls = [
                asyncio.ensure_future(
                    send(long_session, agent.url, Call("long", "POST", "/v1/exec", {"argv": ["sh", "-c", script, str(m)]}), agent.auth, 30)
                )
                for m in markers
            ]
            long_types = [
                asyncio.ensure_future(
                    send(long_session, agent.url, Call("long", "POST", "/v1/type", {"text": SLOW_TEXT, "delayMs": 20}), agent.auth, 30)
                )
                for _ in range(2)
            ]
            load = asyncio.ensure_future(
                run_load(session, agent.url, endless(mixed_call, rel_xvfb.width, rel_xvfb.height, stop), agent.auth, 8, timeout_s=30)
            )
            deadline = time.monotonic() + 15
            while not all(m.exists() for m in markers):
                assert time.monotonic() < deadline, "the long calls did not start: " + "; ".join(
                    o.result().describe() for o in long_calls if o.done()
                )
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            signalled = time.monotonic()
            agent.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(agent.wait, grace_s + 10)
            exited = time.monotonic()
            stop.set()
            outcomes = await load
            long_outcomes = await asyncio.gather(*long_calls)
            type_outcomes = await asyncio.gather(*long_types)
    finally:
        await plane.stop()

    assert code == 0, f"exit status {code}"
    assert exited - signalled < grace_s + 5
    for o in type_outcomes:
        assert o.status == 200 and o.body == {"typed": len(SLOW_TEXT)}, o.describe()
    for o in long_outcomes:
        assert o.status == 200, o.describe()
        finished = o.body["exitCode"] == 0 and o.body["stdout"] == "done\n"
        ended = o.body["exitCode"] is None and o.body["signal"] in ("SIGTERM", "SIGKILL") and not o.body["timedOut"]
        assert finished or ended, o.body
    answered = [o for o in outcomes if o.status is not None]
    unanswered = [o for o in outcomes if o.status is None]
    bad = [o.describe() for o in answered if not (o.status == 200 or is_display_unavailable(o) or is_busy(o))]
    assert not bad, f"answers during shutdown: {bad[:5]}"
    early = [o.describe() for o in unanswered if o.started < signalled - 0.5]
    assert not early, f"requests sent well before SIGTERM got no answer: {early[:5]}"
    odd = [o.describe() for o in unanswered if not o.error or not o.error.startswith(ALLOWED_AFTER_STOP)]
    assert not odd, f"unexpected failures after SIGTERM (timeouts or cut bodies): {odd[:5]}"
    last = plane.records[-1]
    assert last.state == "stopping" and last.at >= signalled, f"last beat: {last.state} at {last.at - signalled:+.2f} s"
    figures.record(
        "sigterm under load",
        answeredBeforeExit=len(answered),
        busyDuringShutdown=sum(1 for o in answered if is_busy(o)),
        noAnswer={kind: sum(1 for o in unanswered if o.error and o.error.startswith(kind)) for kind in ALLOWED_AFTER_STOP},
        inFlightTypesFinished=sum(1 for o in type_outcomes if o.status == 200),
        inFlightFinished=sum(1 for o in long_outcomes if o.body["exitCode"] == 0),
        inFlightEndedBySignal=sum(1 for o in long_outcomes if o.body["exitCode"] is None),
        exitS=round(exited - signalled, 2),
        stoppingBeatAfterS=round(last.at - signalled, 2),
    )


@pytest.mark.parametrize("mode", ["slow", "down"])
async def test_sigterm_with_the_control_plane_hanging_or_down_still_exits_promptly(
    rel_xvfb: Xvfb, spawn_agent: Callable[..., AgentProcess], mode: str
) -> None:
    """The last beat is bounded (a couple of seconds): a control plane that never answers, or is
    gone, cannot hold the agent's stop."""
    plane = await FakeControlPlane(slow_s=60).start()
    try:
        agent = await asyncio.to_thread(spawn_agent, rel_xvfb.name, env=heartbeat_env(plane, "rel-desktop-stop"))
        await plane.wait_for_record(lambda b: b.state == "ready", timeout_s=15)
        if mode == "down":
            await plane.stop()
        else:
            plane.mode = "slow"
        signalled = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(agent.wait, 20)
        took = time.monotonic() - signalled
        if mode == "slow":
            await plane.wait_for_record(lambda b: b.state == "stopping", timeout_s=1, since=signalled)
    finally:
        await plane.stop()
    assert code == 0
    assert took < 6, f"the agent took {took:.1f} s to stop with the control plane {mode}"
    figures.record("sigterm, control plane " + mode, exitS=round(took, 2))
