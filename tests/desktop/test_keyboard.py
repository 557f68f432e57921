"""Typing and key combinations on a real Xvfb, seen by a stock xterm and by the recorder client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from Xlib import display as xdisplay

from bureau_agent.desktop.input_service import InputService
from bureau_agent.desktop.keysymdef import KEYSYM_NAMES as K
from bureau_agent.desktop.display import Display
from bureau_agent.desktop.input_service import InputSettings
from tests.support.inputx import full_map, keys_down, set_layout, wait_restored
from tests.support.wait import wait_until
from tests.support.xrecorder import Recorder, XtermSink
from tests.support.xvfb import Xvfb

TEXT = (
    "Plain ASCII, with punctuation: !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ 0123456789\n"
    "\tafter a tab; accents: é è à ç ù ô ï ñ ß Æ Œ; € £ ¥; 日本語の文字; emoji 😀🎉\n"
)


@pytest.fixture(params=["us", "fr", "de"])
def layout(request: pytest.FixtureRequest, input_xvfb: Xvfb) -> Iterator[str]:
    set_layout(input_xvfb, request.param)
    yield request.param
    set_layout(input_xvfb, "us")


async def test_text_reaches_xterm_byte_for_byte_and_the_map_is_unchanged(
    layout: str, service: InputService, sink: XtermSink, x_conn: xdisplay.Display
) -> None:
    before = full_map(x_conn)
    assert await service.type(TEXT, 0) == len(TEXT)
    assert sink.wait_for(TEXT.encode()) == TEXT.encode()
    await wait_restored(x_conn, before)
    assert keys_down(x_conn) == []


async def test_caps_lock_does_not_change_text_and_stays_on(
    service: InputService, sink: XtermSink, x_conn: xdisplay.Display
) -> None:
    await service.key("Caps_Lock", 1)
    try:
        await service.type("aB1\n", 0)
        assert sink.wait_for(b"aB1\n") == b"aB1\n"
        assert x_conn.screen().root.query_pointer().mask & 2  # Lock still on, as the user left it
    finally:
        await service.key("Caps_Lock", 1)


async def test_concurrent_type_calls_do_not_interleave(service: InputService, sink: XtermSink) -> None:
    first, second = "first-" * 10 + "\n", "SECOND€" * 6 + "\n"
    await asyncio.gather(service.type(first, 0), service.type(second, 0))
    got = sink.wait_for((first + second).encode())
    assert got in ((first + second).encode(), (second + first).encode())


async def test_cancelled_typing_leaves_no_key_down_and_the_map_restored(
    service: InputService, sink: XtermSink, x_conn: xdisplay.Display
) -> None:
    before = full_map(x_conn)
    task = asyncio.ensure_future(service.type("日本語" * 20, 20))
    # cancel mid-way: once the first characters have arrived, not after a guessed delay
    await wait_until(lambda: len(sink.read()) > 0, timeout_s=10, what="the first typed characters")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with service.lock:  # the shielded cleanup has finished once the lock is free again
        pass
    # a key left down stays down: waiting (bounded) for none is no weaker than one look
    await wait_until(lambda: keys_down(x_conn) == [], timeout_s=2, what="every key up")
    await wait_restored(x_conn, before)
    typed = sink.read().decode()
    assert 0 < len(typed) < 60 and set(typed) <= set("日本語")


async def test_a_layout_change_is_picked_up(
    input_xvfb: Xvfb, service: InputService, sink: XtermSink, x_conn: xdisplay.Display
) -> None:
    await service.type("qa日\n", 0)  # the map is now cached, and a keycode borrowed for 日
    # xterm turns keycodes into text when it reads them, with the map it has then: the line must
    # be in before the layout changes, or its keys are read as French ones (seen on CI: "qq").
    assert sink.wait_for("qa日\n".encode()) == "qa日\n".encode()
    set_layout(input_xvfb, "fr")
    try:
        french = full_map(x_conn)
        await service.type("qa日\n", 0)
        expected = "qa日\nqa日\n".encode()
        assert sink.wait_for(expected) == expected
        await wait_restored(x_conn, french)
    finally:
        set_layout(input_xvfb, "us")


async def test_bindings_are_reused_by_the_next_call(service: InputService, sink: XtermSink, x_conn: xdisplay.Display) -> None:
    before = full_map(x_conn)
    await service.type("日本", 0)
    x_conn.sync()
    for _ in range(x_conn.pending_events()):
        x_conn.next_event()
    await service.type("本日\n", 0)  # within the restore delay: no mapping change at all
    x_conn.sync()
    assert x_conn.pending_events() == 0
    assert sink.wait_for("日本本日\n".encode()) == "日本本日\n".encode()
    await wait_restored(x_conn, before)


async def test_restore_at_the_end_of_each_call_when_configured(
    input_xvfb: Xvfb, sink: XtermSink, x_conn: xdisplay.Display
) -> None:
    disp = Display(input_xvfb.name)
    await disp.start()
    svc = InputService(disp, InputSettings(mapping_settle_ms=200, mapping_restore_ms=0))
    try:
        before = full_map(x_conn)
        await svc.type("€日😀\n", 0)
        assert full_map(x_conn) == before  # already restored when the call returns
        assert sink.wait_for("€日😀\n".encode()) == "€日😀\n".encode()
    finally:
        await svc.close()
        await disp.close()


async def test_combination_presses_in_order_and_releases_in_reverse(
    service: InputService, recorder: Recorder, x_conn: xdisplay.Display
) -> None:
    assert await service.key("ctrl+shift+t", 1) == "ctrl+shift+t"
    events = recorder.wait_for(lambda ev: len(ev) >= 6)
    keys = [(e["type"], e["keysym"]) for e in events if e["type"].startswith("Key")]
    ctrl, shift = K["Control_L"], K["Shift_L"]
    assert keys == [
        ("KeyPress", ctrl), ("KeyPress", shift), ("KeyPress", ord("T")),
        ("KeyRelease", ord("T")), ("KeyRelease", shift), ("KeyRelease", ctrl),
    ]
    t_press = events[2]
    assert t_press["state"] & 0x5 == 0x5  # Shift and Control held when t went down
    assert keys_down(x_conn) == []


async def test_sequences_repeat_and_missing_keysyms(service: InputService, recorder: Recorder) -> None:
    # eacute is not on the US layout: it is borrowed for the call.
    await service.key("ctrl+a BackSpace eacute", 2)
    events = recorder.wait_for(lambda ev: len(ev) >= 16)
    presses = [e["keysym"] for e in events if e["type"] == "KeyPress"]
    assert presses == [K["Control_L"], ord("a"), K["BackSpace"], K["eacute"]] * 2


async def test_french_layout_levels_are_used(
    input_xvfb: Xvfb, service: InputService, recorder: Recorder
) -> None:
    set_layout(input_xvfb, "fr")
    try:
        await service.key("EuroSign 1", 1)
        events = recorder.wait_for(lambda ev: len([e for e in ev if e["type"] == "KeyRelease"]) >= 4)
    finally:
        set_layout(input_xvfb, "us")
    presses = [(e["keysym"], e["state"] & 0x81) for e in events if e["type"] == "KeyPress"]
    # € is AltGr+e (Mod5), 1 is Shift+& on AZERTY: both from the live map, not a US table.
    assert (K["EuroSign"], 0x80) in presses
    assert (ord("1"), 0x1) in presses


async def test_typing_with_a_delay(service: InputService, sink: XtermSink, x_conn: xdisplay.Display) -> None:
    before = full_map(x_conn)
    assert await service.type("a€b\n", 5) == 4
    assert sink.wait_for("a€b\n".encode()) == "a€b\n".encode()
    await wait_restored(x_conn, before)


# 30 distinct characters the `us` layout lacks: more than Xvfb's 19 spare keycodes, fewer than
# the 38 keysyms they carry on two levels.
MANY_MISSING = "é€中😀ßñçøåæœÄÖÜüö£¥«»–—…αβγДЖЯ日"


async def test_a_starved_client_still_reads_every_borrowed_character_right(
    service: InputService, sink: XtermSink, x_conn: xdisplay.Display
) -> None:
    # xterm (libX11) reads the map lazily, at the first key it handles after a MappingNotify.
    # Starved of CPU (SCHED_IDLE on a CPU that a busy loop holds), it handles every key of the
    # call only after the call: any keycode rebound during the call would then read its newer
    # binding (this typed «»–— for éñçø before borrowed keycodes carried two keysyms).
    assert len(set(MANY_MISSING)) == 30
    text = (MANY_MISSING + " a") * 3 + "\n"
    before = full_map(x_conn)
    os.sched_setaffinity(sink.proc.pid, {0})
    os.sched_setscheduler(sink.proc.pid, os.SCHED_IDLE, os.sched_param(0))
    hog = subprocess.Popen([sys.executable, "-c", "import os\nos.sched_setaffinity(0, {0})\nwhile True: pass"])
    try:
        assert await service.type(text, 0) == len(text)
        x_conn.sync()
        # Still within the restore delay, so the bindings of the call are all in place.
        assert full_map(x_conn) != before
    finally:
        hog.kill()
        hog.wait()
    assert sink.wait_for(text.encode()).decode() == text
    await wait_restored(x_conn, before)


async def test_a_notify_that_changed_nothing_keeps_the_bindings(
    service: InputService, sink: XtermSink, x_conn: xdisplay.Display
) -> None:
    # Another client rewrites a row as it was: a MappingNotify that is not ours, the same map.
    # The bindings stay (no keycode given back and bound again under keys a client may not
    # have read yet), and the next call needs no mapping change at all.
    before = full_map(x_conn)
    await service.type("日本", 0)
    keycode = x_conn.keysym_to_keycode(ord("a"))
    x_conn.change_keyboard_mapping(keycode, [list(x_conn.get_keyboard_mapping(keycode, 1)[0])])
    x_conn.sync()
    for _ in range(x_conn.pending_events()):
        x_conn.next_event()
    await service.type("本日\n", 0)
    x_conn.sync()
    evs = [x_conn.next_event() for _ in range(x_conn.pending_events())]
    assert evs == []  # not one MappingNotify: nothing given back or rebound
    assert sink.wait_for("日本本日\n".encode()) == "日本本日\n".encode()
    await wait_restored(x_conn, before)
