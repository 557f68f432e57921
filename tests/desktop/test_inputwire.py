"""The input connection (inputwire.py) on a real Xvfb: a batch and its one reply, X errors named
for the batch that caused them, replies of callers that gave up and events nobody asked for
skipped, a closed connection failing its waiting call, each with and without the reply poll; the
poll's bounds; and the injector's rule that the connection written without a round trip is
synced before the other one is used."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator

import pytest
from Xlib import display as xdisplay
from Xlib import error as xerror

from bureau_agent.desktop.display import Display
from bureau_agent.desktop.inputwire import InputRefused, InputWire, PointerState
from bureau_agent.desktop.xtest import MOTION, Event, Injector, fake_input_bytes
from tests.support.inputx import REPLY_SPIN_S
from tests.support.xvfb import Xvfb


async def open_wire(name: str, spin_s: float) -> InputWire:
    opened = await asyncio.get_running_loop().run_in_executor(None, InputWire.open, name, spin_s)
    assert opened is not None
    return opened


@pytest.fixture(params=[0.0, REPLY_SPIN_S], ids=["no-poll", "poll"])
async def wire(input_xvfb: Xvfb, request: pytest.FixtureRequest) -> AsyncIterator[InputWire]:
    opened = await open_wire(input_xvfb.name, request.param)
    yield opened
    opened.close()


def motion(wire: InputWire, x: int, y: int) -> bytes:
    return fake_input_bytes(wire.xtest_opcode, Event(MOTION, x=x, y=y))


def where(conn: xdisplay.Display) -> tuple[int, int]:
    reply = conn.screen().root.query_pointer()
    return reply.root_x, reply.root_y


async def test_a_batch_and_its_reply(wire: InputWire, x_conn: xdisplay.Display) -> None:
    for x, y in ((11, 22), (301, 199), (5, 6)):
        pointer = await wire.send([motion(wire, x - 1, y - 1), motion(wire, x, y)], sync=True)
        assert pointer is not None and (pointer.x, pointer.y) == (x, y)
        assert where(x_conn) == (x, y)  # another client sees what the reply said
    assert await wire.send([motion(wire, 40, 41)], sync=False) is None
    pointer = await wire.send([], sync=True)  # a bare round trip: the unsynced batch is done
    assert pointer is not None and (pointer.x, pointer.y) == (40, 41)


async def test_an_x_error_is_the_batchs_and_the_connection_goes_on(wire: InputWire) -> None:
    bad = fake_input_bytes(wire.xtest_opcode, Event(99))  # no such event type
    before = wire._serial
    with pytest.raises(InputRefused) as refused:
        await wire.send([motion(wire, 69, 79), bad, motion(wire, 70, 80)], sync=True)
    assert refused.value.sequence_number == (before + 1) & 0xFFFF  # the second request's
    assert refused.value.code != 0
    pointer = await wire.send([motion(wire, 71, 81)], sync=True)
    assert pointer == PointerState(71, 81, pointer.mask)


async def test_the_reply_of_a_caller_that_gave_up_is_skipped(input_xvfb: Xvfb, wire: InputWire) -> None:
    assert input_xvfb.proc is not None
    os.kill(input_xvfb.proc.pid, signal.SIGSTOP)  # the reply cannot come before the cancel
    try:
        gave_up = asyncio.ensure_future(wire.send([motion(wire, 1, 2)], sync=True))
        await asyncio.sleep(0)  # it has written its batch and awaits the reply
        gave_up.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gave_up
    finally:
        os.kill(input_xvfb.proc.pid, signal.SIGCONT)
    pointer = await wire.send([motion(wire, 123, 45)], sync=True)  # the (1, 2) reply comes first
    assert pointer is not None and (pointer.x, pointer.y) == (123, 45)


async def test_events_sent_to_every_client_are_skipped(wire: InputWire, x_conn: xdisplay.Display) -> None:
    # A keyboard mapping change sends MappingNotify to every client, this connection included.
    first = x_conn.display.info.max_keycode
    row = x_conn.get_keyboard_mapping(first, 1)[0]
    for _ in range(5):
        x_conn.change_keyboard_mapping(first, [list(row)])
    x_conn.sync()
    pointer = await wire.send([motion(wire, 9, 99)], sync=True)
    assert pointer is not None and (pointer.x, pointer.y) == (9, 99)
    assert len(wire._buffer) == 0  # the notifies were read past, not left to confuse a later reply


async def test_close_fails_the_call_waiting_for_its_reply(input_xvfb: Xvfb, wire: InputWire) -> None:
    assert input_xvfb.proc is not None
    os.kill(input_xvfb.proc.pid, signal.SIGSTOP)
    try:
        waiting = asyncio.ensure_future(wire.send([], sync=True))
        await asyncio.sleep(0)
        wire.close()
        with pytest.raises(xerror.ConnectionClosedError):
            await asyncio.wait_for(waiting, 5)
    finally:
        os.kill(input_xvfb.proc.pid, signal.SIGCONT)
    with pytest.raises(xerror.ConnectionClosedError):
        await wire.send([], sync=True)


async def test_a_prompt_reply_is_polled_for_without_the_loop(
    input_xvfb: Xvfb, x_conn: xdisplay.Display, monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = await open_wire(input_xvfb.name, 1.0)  # far longer than a live server takes
    try:
        assert wire.spin_s == 1.0  # this machine has more than one CPU (a test below has one)

        async def no_reader(*args: object) -> bytes:
            raise AssertionError("the reply was awaited on the loop")

        monkeypatch.setattr(asyncio.get_running_loop(), "sock_recv", no_reader)
        pointer = await wire.send([motion(wire, 17, 71)], sync=True)
        assert pointer is not None and (pointer.x, pointer.y) == (17, 71)
        assert where(x_conn) == (17, 71)
    finally:
        wire.close()


async def test_a_reply_later_than_the_poll_is_awaited_on_the_loop(input_xvfb: Xvfb) -> None:
    assert input_xvfb.proc is not None
    wire = await open_wire(input_xvfb.name, 0.002)
    pid = input_xvfb.proc.pid
    os.kill(pid, signal.SIGSTOP)  # no reply until SIGCONT
    # Should the poll not give up, the server resumes after a second and the call completes
    # before the loop runs anything else: the assertion below then fails instead of hanging.
    resume = threading.Timer(1.0, os.kill, (pid, signal.SIGCONT))
    resume.start()
    try:
        sending = asyncio.ensure_future(wire.send([motion(wire, 31, 13)], sync=True))
        for _ in range(5):  # the loop goes on running other work while the reply is held
            await asyncio.sleep(0)
        assert not sending.done(), "the call held the loop until the server answered"
    finally:
        resume.cancel()
        os.kill(pid, signal.SIGCONT)
    try:
        pointer = await asyncio.wait_for(sending, 5)
        assert pointer is not None and (pointer.x, pointer.y) == (31, 13)
    finally:
        wire.close()


ONE_CPU = """
import os, sys
from bureau_agent.desktop.inputwire import InputWire
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
wire = InputWire.open(sys.argv[1], 0.001)
print(wire.spin_s)
wire.close()
"""


def test_no_poll_where_the_agent_has_one_cpu(input_xvfb: Xvfb) -> None:
    # Polling on the only CPU would keep the server that is to answer off it.
    out = subprocess.run(
        [sys.executable, "-c", ONE_CPU, input_xvfb.name], env=input_xvfb.env(), capture_output=True, text=True, check=True
    )
    assert float(out.stdout) == 0.0


async def test_the_unsynced_connection_is_synced_before_the_other_is_used(xvfb: Xvfb, monkeypatch: pytest.MonkeyPatch) -> None:
    display = Display(xvfb.name)
    await display.start()
    try:
        injector = Injector(display)
        owner_calls: list[str] = []
        call = display.call

        async def recording(fn, *args):  # type: ignore[no-untyped-def]
            owner_calls.append(fn.__name__)
            return await call(fn, *args)

        monkeypatch.setattr(display, "call", recording)
        # A guarded batch goes through the owner; unsynced, it must be synced before the wire
        # carries the next one, or the server may process the two out of order.
        await injector.send([Event(MOTION, x=200, y=100)], sync=False, guard=lambda conn: True)
        state = await injector.send([Event(MOTION, x=201, y=101)])
        assert owner_calls == ["_send", "_sync"]
        assert state is not None and (state.x, state.y) == (201, 101)
        # And the other way round: the wire unsynced, then a guarded batch.
        await injector.send([Event(MOTION, x=202, y=102)], sync=False)
        owner_calls.clear()
        state = await injector.send([Event(MOTION, x=203, y=103)], guard=lambda conn: True)
        assert owner_calls == ["_send"]  # the wire's round trip came first, not through the owner
        assert state is not None and (state.x, state.y) == (203, 103)
        # Synced batches need no extra round trip.
        owner_calls.clear()
        await injector.send([Event(MOTION, x=204, y=104)])
        assert owner_calls == []
    finally:
        await display.close()
