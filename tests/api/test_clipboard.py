"""The clipboard routes over HTTP against real selection peers: xclip, a Tk entry, and python-xlib
clients that never answer or stop reading mid-transfer."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import pytest
from aiohttp.test_utils import TestClient

from tests.support.agent import AUTH
from devsupport.xclients import Peer, TkWindow, owner_of, xclip_get, xclip_set
from tests.support.xvfb import Xvfb

BIG = ("ünïcödé ✓ текст 日本語 " * 300_000)[: 5 * 1024 * 1024 * 2 // 3]  # over 5 MiB of UTF-8


@pytest.fixture
async def client(make_agent: Callable[..., Any], wm_xvfb: Xvfb) -> TestClient:
    return await make_agent(wm_xvfb.name, clipboard_timeout_ms=500)


async def get(client: TestClient, selection: str | None = None, status: int = 200) -> dict[str, Any]:
    resp = await client.get("/v1/clipboard", params={"selection": selection} if selection else None, headers=AUTH)
    data = await resp.json()
    assert resp.status == status, data
    return data


async def put(client: TestClient, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    resp = await client.post("/v1/clipboard", json=body, headers=AUTH)
    data = await resp.json()
    assert resp.status == status, data
    return data


async def wait_owner_is_not(xvfb: Xvfb, old: int, selection: str = "CLIPBOARD", timeout_s: float = 10.0) -> int:
    deadline = time.monotonic() + timeout_s
    while (owner := owner_of(xvfb, selection)) in (old, 0):
        assert time.monotonic() < deadline, "the selection's owner did not change"
        await asyncio.sleep(0.02)
    return owner


async def test_text_set_through_the_api_is_what_xclip_reads_in_every_format(client: TestClient, wm_xvfb: Xvfb) -> None:
    text = "héllo ✓ wörld — 日本語\nsecond line"
    assert await put(client, {"text": text}) == {"length": len(text)}
    assert xclip_get(wm_xvfb) == text
    assert xclip_get(wm_xvfb, target="text/plain;charset=utf-8") == text
    targets = xclip_get(wm_xvfb, target="TARGETS").split()
    assert {"TARGETS", "MULTIPLE", "TIMESTAMP", "UTF8_STRING", "STRING", "TEXT", "text/plain;charset=utf-8"} <= set(targets)
    latin = "café déjà vu"
    await put(client, {"text": latin})
    assert xclip_get(wm_xvfb, target="STRING", encoding="latin-1") == latin
    content = await get(client)
    assert content["text"] == latin and content["owner"] == owner_of(wm_xvfb) and "UTF8_STRING" in content["targets"]


async def test_primary_is_a_selection_of_its_own(client: TestClient, wm_xvfb: Xvfb) -> None:
    await put(client, {"text": "in the clipboard"})
    await put(client, {"text": "in primary ✓", "selection": "primary"})
    assert xclip_get(wm_xvfb, "primary") == "in primary ✓"
    assert xclip_get(wm_xvfb, "clipboard") == "in the clipboard"
    assert (await get(client, "primary"))["text"] == "in primary ✓"


async def test_text_set_through_the_api_pastes_into_a_tk_entry(client: TestClient, wm_xvfb: Xvfb) -> None:
    with TkWindow(wm_xvfb, "paste target") as tk:
        text = "pasted ✓ text"
        await put(client, {"text": text})
        deadline = time.monotonic() + 10
        while True:  # wait for openbox to manage it, then make it the active window
            resp = await client.post(f"/v1/windows/{tk.id}/activate", json={}, headers=AUTH)
            if resp.status == 200 and (await resp.json())["activated"]:
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        resp = await client.post("/v1/key", json={"key": "ctrl+v"}, headers=AUTH)  # Tk's <<Paste>>
        assert resp.status == 200
        assert tk.wait_text(text) == text


async def test_text_set_by_xclip_is_read_through_the_api_and_ownership_is_let_go(client: TestClient, wm_xvfb: Xvfb) -> None:
    await put(client, {"text": "ours first"})
    ours = owner_of(wm_xvfb)
    proc = xclip_set(wm_xvfb, "from xclip ✓ ünï")
    try:
        theirs = await wait_owner_is_not(wm_xvfb, ours)
        content = await get(client)
        assert content == {"text": "from xclip ✓ ünï", "targets": content["targets"], "owner": theirs}
        assert "UTF8_STRING" in content["targets"]
    finally:
        proc.kill()
        proc.wait(10)


async def test_five_mib_of_non_ascii_text_both_ways_with_incr(client: TestClient, wm_xvfb: Xvfb) -> None:
    assert len(BIG.encode()) > 5 * 1024 * 1024
    assert await put(client, {"text": BIG}) == {"length": len(BIG)}
    assert xclip_get(wm_xvfb) == BIG
    ours = owner_of(wm_xvfb)
    proc = xclip_set(wm_xvfb, BIG[::-1])
    try:
        await wait_owner_is_not(wm_xvfb, ours)
        assert (await get(client))["text"] == BIG[::-1]
    finally:
        proc.kill()
        proc.wait(10)


async def test_an_owner_that_never_answers_is_a_504(client: TestClient, wm_xvfb: Xvfb) -> None:
    with Peer(wm_xvfb, "silent-owner") as peer:
        assert peer.line() == "ready"
        error = await get(client, status=504)
        assert error["error"]["code"] == "clipboard_timeout"
        assert error["error"]["details"]["owner"] == owner_of(wm_xvfb)
    await put(client, {"text": "after the silent owner"})  # the thread goes on serving
    assert xclip_get(wm_xvfb) == "after the silent owner"


async def test_ownership_survives_a_reader_that_dies_mid_transfer(client: TestClient, wm_xvfb: Xvfb) -> None:
    text = "x✓" * 700_000  # 2.8 MB: several INCR chunks
    await put(client, {"text": text})
    ours = owner_of(wm_xvfb)
    with Peer(wm_xvfb, "incr-reader") as peer:
        word, size = peer.line().split()
        assert word == "started" and int(size) > 0
        peer.kill()  # its window is destroyed with the connection, mid-INCR
    assert owner_of(wm_xvfb) == ours
    assert xclip_get(wm_xvfb) == text
    assert (await get(client))["text"] == text


async def test_bad_input_is_a_clear_400_and_changes_nothing(make_agent: Callable[..., Any], wm_xvfb: Xvfb) -> None:
    small = await make_agent(wm_xvfb.name, clipboard_max_bytes=1000)
    await put(small, {"text": "kept"})
    for body in ({"text": ""}, {"text": "é" * 501}, {"text": "x", "selection": "secondary"}, {"txt": "x"}, {}):
        error = await put(small, body, status=400)
        assert error["error"]["code"] == "invalid_request", body
    assert (await get(small, "nope", status=400))["error"]["code"] == "invalid_request"
    assert xclip_get(wm_xvfb) == "kept"
    ours = owner_of(wm_xvfb)
    proc = xclip_set(wm_xvfb, "y" * 2000)
    try:
        await wait_owner_is_not(wm_xvfb, ours)
        assert (await get(small, status=413))["error"]["code"] == "payload_too_large"
    finally:
        proc.kill()
        proc.wait(10)


async def test_no_display_is_a_503(make_agent: Callable[..., Any]) -> None:
    agent = await make_agent(":4093")
    assert (await get(agent, status=503))["error"]["code"] == "display_unavailable"
    assert (await put(agent, {"text": "x"}, status=503))["error"]["code"] == "display_unavailable"
