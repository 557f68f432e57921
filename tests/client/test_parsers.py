"""The stream parsers the client's events(), chat_stream(), desktops_stream() and screen_stream()
use, fed the bytes the contract describes, cut at every possible place (a network delivers
them in any pieces); and the pure rules around them (retry budget, error classes, names)."""

from __future__ import annotations

import json

from bureau_agent.client import errors
from bureau_agent.client._common import MultipartParser, RetryPolicy, SSEParser, camelize, query

SSE = (
    b": keep-alive comment\r\n"
    b"id: 7\r\nevent: status\r\ndata: {\"agentReady\": true}\r\n\r\n"
    b"event: action\ndata: {\"route\": \"click\",\ndata:  \"status\": 200}\n\n"
    b"data: plain text\n\n"
)


def feed_in_pieces(parser_feed, data: bytes, cut: int) -> list:
    return parser_feed(data[:cut]) + parser_feed(data[cut:])


def test_sse_events_whatever_the_pieces() -> None:
    expected = None
    for cut in range(len(SSE) + 1):
        parser = SSEParser()
        events = feed_in_pieces(parser.feed, SSE, cut)
        got = [(e.event, e.data, e.id) for e in events]
        expected = expected or got
        assert got == expected
        assert parser.last_event_id == "7"
    assert expected == [
        ("status", {"agentReady": True}, "7"),
        ("action", {"route": "click", "status": 200}, "7"),  # the id stays until a new one comes
        ("message", "plain text", "7"),
    ]


def test_multipart_frames_with_and_without_content_length() -> None:
    jpeg1, jpeg2 = b"\xff\xd8one\r\n--frame inside\xff\xd9", b"\xff\xd8two\xff\xd9"
    stream = (
        b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg1)).encode() + b"\r\n\r\n" + jpeg1 + b"\r\n"
        b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg2 + b"\r\n"
        b"--frame\r\n"
    )
    for cut in range(len(stream) + 1):
        parser = MultipartParser('multipart/x-mixed-replace; boundary="frame"')
        frames = feed_in_pieces(parser.feed, stream, cut)
        assert [(f.data, f.content_type) for f in frames] == [(jpeg1, "image/jpeg"), (jpeg2, "image/jpeg")], cut


def test_retry_budget() -> None:
    policy = RetryPolicy(max_retries=3, max_wait_s=30)
    busy = errors.Busy("busy", status=429, retry_after_s=10)
    assert policy.delay(busy, attempt=0, waited_s=0) == 10
    assert policy.delay(busy, attempt=2, waited_s=20) == 10  # 30 s in all: still within
    assert policy.delay(busy, attempt=2, waited_s=25) is None  # 35 s would pass the bound
    assert policy.delay(errors.Busy("busy", status=429, retry_after_s=1), attempt=3, waited_s=3) is None  # 3 retries done
    assert policy.delay(errors.ChatUnavailable("no agent", status=503), attempt=0, waited_s=0) is None  # no Retry-After
    assert policy.delay(errors.InvalidRequest("bad", status=400, retry_after_s=1), attempt=0, waited_s=0) is None


def test_error_classes_by_code_and_unknown_codes() -> None:
    body = json.dumps({"error": {"code": "forbidden", "message": "no"}, "required": "desktop:control", "held": []}).encode()
    forbidden = errors.error_from_response(403, {}, body)
    assert isinstance(forbidden, errors.Forbidden) and forbidden.required == "desktop:control" and forbidden.held == []
    newer = errors.error_from_response(503, {"retry-after": "4"}, b'{"error": {"code": "brand_new", "message": "m"}}')
    assert type(newer) is errors.Unavailable and newer.code == "brand_new" and newer.retry_after_s == 4
    not_json = errors.error_from_response(502, {}, b"<html>proxy</html>")
    assert type(not_json) is errors.BadGateway and not_json.code == "http_502" and "proxy" in not_json.message
    assert type(errors.error_from_response(404, {}, b"")) is errors.NotFound  # a HEAD: no body
    assert isinstance(errors.error_from_response(404, {}, b'{"error": {"code": "file_not_found", "message": "m"}}'), errors.NotFound)


def test_names_go_camel_case() -> None:
    assert query(max_width=640, cursor=False, region=None) == {"maxWidth": "640", "cursor": "false"}
    assert camelize([{"action": "type", "text": "x", "delay_ms": 5}, {"action": "drag", "from_": (1, 2), "to": {"x": 3, "y": 4}}]) == [
        {"action": "type", "text": "x", "delayMs": 5},
        {"action": "drag", "from": {"x": 1, "y": 2}, "to": {"x": 3, "y": 4}},
    ]
