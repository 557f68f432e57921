"""The control-plane client against a real HTTP server that misbehaves in every way."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from bureau_agent.control.client import BeatFailed, ControlPlaneClient, parse_interval
from tests.support.control import FakeControlPlane

TOKEN = "cp-token-0123456789abcdef"


@pytest.mark.parametrize(
    "body, expected",
    [
        (b'{"intervalS": 30}', 30.0),
        (b'{"intervalS": 1}', 1.0),
        (b'{"intervalS": 300}', 300.0),
        (b'{"intervalS": 2.5}', 2.5),
        (b'{"intervalS": 0.5}', None),
        (b'{"intervalS": 301}', None),
        (b'{"intervalS": "30"}', None),
        (b'{"intervalS": true}', None),
        (b'{"intervalS": NaN}', None),
        (b'{}', None),
        (b'[{"intervalS": 30}]', None),
        (b'<html>ok</html>', None),
        (b'\xff\xfe', None),
        (b'', None),
        (b'[' * 100_000, None),
    ],
)
def test_parse_interval_takes_only_a_valid_interval(body: bytes, expected: float | None) -> None:
    assert parse_interval(body) == expected


async def test_a_beat_carries_the_token_and_the_body(control_plane: FakeControlPlane) -> None:
    async def reply(index: int, beat: dict) -> web.StreamResponse:
        return web.json_response({"intervalS": 42})

    control_plane.responder = reply
    client = ControlPlaneClient(control_plane.url, TOKEN, timeout_s=2)
    try:
        result = await client.post({"seq": 1})
    finally:
        await client.close()
    assert result.status == 200 and result.interval_s == 42.0
    assert control_plane.beats == [{"seq": 1}]
    assert control_plane.auth == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("status", [500, 404, 302, 401])
async def test_a_non_2xx_answer_is_a_failure(control_plane: FakeControlPlane, status: int) -> None:
    async def reply(index: int, beat: dict) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": "http://elsewhere.invalid/"})

    control_plane.responder = reply
    client = ControlPlaneClient(control_plane.url, TOKEN, timeout_s=2)
    try:
        with pytest.raises(BeatFailed, match=str(status)) as info:
            await client.post({"seq": 1})
    finally:
        await client.close()
    assert TOKEN not in str(info.value)


async def test_garbage_with_2xx_is_a_success_without_a_new_interval(control_plane: FakeControlPlane) -> None:
    async def reply(index: int, beat: dict) -> web.StreamResponse:
        return web.Response(status=204 if index else 200, body=b"\x00garbage" * 50_000)

    control_plane.responder = reply
    client = ControlPlaneClient(control_plane.url, None, timeout_s=2)
    try:
        assert (await client.post({})).interval_s is None
        assert (await client.post({})).status == 204
    finally:
        await client.close()
    assert control_plane.auth == ["", ""]


async def test_a_hanging_control_plane_fails_within_the_timeout(control_plane: FakeControlPlane) -> None:
    async def reply(index: int, beat: dict) -> web.StreamResponse:
        await asyncio.sleep(30)
        return web.json_response({})

    control_plane.responder = reply
    client = ControlPlaneClient(control_plane.url, TOKEN, timeout_s=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(BeatFailed, match="no answer within 0.3 s"):
            await client.post({})
        # An explicit, shorter bound (the last `stopping` beat) wins over the configured one.
        with pytest.raises(BeatFailed, match="within 0.1 s"):
            await client.post({}, timeout_s=0.1)
    finally:
        await client.close()
    assert loop.time() - started < 3  # generous: the point is that it does not hang


async def test_a_closed_port_and_a_bad_url_are_failures() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for url in (f"http://127.0.0.1:{port}/beat", "ftp://example.invalid/beat", "not a url"):
        client = ControlPlaneClient(url, TOKEN, timeout_s=1)
        try:
            with pytest.raises(BeatFailed) as info:
                await client.post({})
        finally:
            await client.close()
        assert TOKEN not in str(info.value)
