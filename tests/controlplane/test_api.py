"""The public route table, route by route, through a real control plane to a real local desktop.

Control routes are checked against the same call made directly to the desktop's agent: the
status and content type must match, and the answer must show the real effect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from tests.controlplane.conftest import GONE, IDLE, MAIN
from tests.controlplane.support import Plane, Reply, wait_for

READ, LIFECYCLE, CONTROL, CHAT = "desktop:read", "desktop:lifecycle", "desktop:control", "desktop:chat"

# Every route of public-desktop-endpoints.txt with its capability.
ROUTE_TABLE = [
    ("GET", "/v1/desktops", READ),
    ("GET", "/v1/desktops/{id}", READ),
    ("POST", "/v1/desktops/{id}/start", LIFECYCLE),
    ("POST", "/v1/desktops/{id}/stop", LIFECYCLE),
    ("POST", "/v1/desktops/{id}/restart", LIFECYCLE),
    ("POST", "/v1/desktops/{id}/click", CONTROL),
    ("POST", "/v1/desktops/{id}/drag", CONTROL),
    ("POST", "/v1/desktops/{id}/scroll", CONTROL),
    ("POST", "/v1/desktops/{id}/type", CONTROL),
    ("POST", "/v1/desktops/{id}/key", CONTROL),
    ("POST", "/v1/desktops/{id}/bash", CONTROL),
    ("POST", "/v1/desktops/{id}/exec", CONTROL),
    ("GET", "/v1/desktops/{id}/screenshot", CONTROL),
    ("GET", "/v1/desktops/{id}/accessibility", CONTROL),
    ("POST", "/v1/desktops/{id}/chat", CHAT),
]
ROUTE_IDS = [f"{m} {p.rsplit('/', 1)[-1]}" for m, p, _ in ROUTE_TABLE]


# The main desktop's agent relays chat to a command that echoes the message back.
CHAT_ARGS = ["--set", "chat_backend=command", "--set", 'chat_command=["echo", "got:", "{message}"]']


@pytest.fixture(scope="module")
def plane(make_plane: Callable[..., Plane]) -> Plane:
    return make_plane(agent_args=CHAT_ARGS)


def _path(template: str, desktop: str = MAIN) -> str:
    return template.replace("{id}", desktop)


# authentication, capabilities, rate limit -------------------------------------------------------


@pytest.mark.parametrize("method,template,cap", ROUTE_TABLE, ids=ROUTE_IDS)
@pytest.mark.parametrize("auth", [None, "Bearer sk_live_wrong", "Bearer not-a-key", "Basic abc"])
def test_401_without_a_valid_key(plane: Plane, method: str, template: str, cap: str, auth: str | None) -> None:
    reply = plane.call(method, _path(template), key=auth)
    assert reply.status == 401
    assert reply.code == "unauthorized"
    assert reply.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("method,template,cap", ROUTE_TABLE, ids=ROUTE_IDS)
def test_403_names_required_and_held(plane: Plane, method: str, template: str, cap: str) -> None:
    reply = plane.call(method, _path(template), key="none")
    assert reply.status == 403
    assert reply.code == "forbidden"
    assert reply.json["required"] == cap
    assert reply.json["held"] == []
    holder = "reader" if cap != READ else None
    if holder:
        reply = plane.call(method, _path(template), key=holder)
        assert reply.status == 403
        assert (reply.json["required"], reply.json["held"]) == (cap, ["desktop:read"])
    # the refused lifecycle calls did nothing
    assert plane.desktop(MAIN)["status"] == "running"


def test_chat_needs_its_own_capability(plane: Plane) -> None:
    reply = plane.call("POST", f"/v1/desktops/{MAIN}/chat", key="operator", body={"message": "hi"})
    assert reply.status == 403
    assert reply.json["required"] == CHAT
    assert reply.json["held"] == ["desktop:read", "desktop:lifecycle", "desktop:control"]


def test_me_shows_the_keys_capabilities(plane: Plane) -> None:
    reply = plane.call("GET", "/v1/me", key="reader")
    assert reply.status == 200
    assert reply.json["name"] == "reader"
    assert reply.json["capabilities"] == ["desktop:read"]
    assert reply.json["id"].startswith("key_")
    assert plane.keys["reader"] not in reply.body.decode()
    assert plane.call("GET", "/v1/me", key=None).status == 401


def test_rate_limit_per_key_with_retry_after(plane: Plane) -> None:
    # the "limited" key allows 3 calls a minute; other keys are not affected by its use
    statuses = [plane.call("GET", "/v1/me", key="limited").status for _ in range(3)]
    assert statuses == [200, 200, 200]
    reply = plane.call("GET", f"/v1/desktops/{MAIN}", key="limited")
    assert reply.status == 429
    assert reply.code == "rate_limited"
    assert 1 <= int(reply.headers["Retry-After"]) <= 60
    assert reply.headers["X-RateLimit-Limit"] == "3"
    assert plane.call("GET", f"/v1/desktops/{MAIN}", key="reader").status == 200


def test_successful_calls_carry_rate_limit_headers(plane: Plane) -> None:
    reply = plane.call("GET", "/v1/desktops", key="reader")
    assert reply.headers["X-RateLimit-Limit"] == "100000"
    assert 0 <= int(reply.headers["X-RateLimit-Remaining"]) < 100000


# read ---------------------------------------------------------------------------------------


def test_list_excludes_destroyed_desktops(plane: Plane) -> None:
    reply = plane.call("GET", "/v1/desktops", key="reader")
    assert reply.status == 200
    ids = [d["id"] for d in reply.json["desktops"]]
    assert sorted(ids) == sorted([MAIN, IDLE])
    assert GONE not in ids


def test_get_desktop_fields(plane: Plane) -> None:
    desktop = plane.desktop(MAIN)
    assert {"id", "name", "status", "tier", "ipAddress", "agentReady", "createdAt"} <= set(desktop)
    assert desktop["id"] == MAIN and desktop["name"] == "Main"
    assert desktop["status"] == "running" and desktop["agentReady"] is True
    assert desktop["tier"] == "local" and desktop["ipAddress"] == "127.0.0.1"
    assert desktop["createdAt"] == "2026-01-02T03:04:05Z"
    idle = plane.desktop(IDLE)
    assert (idle["status"], idle["agentReady"], idle["ipAddress"]) == ("stopped", False, None)


@pytest.mark.parametrize("desktop", [GONE, "dsk_nope"])
def test_unknown_or_destroyed_desktop_is_404(plane: Plane, desktop: str) -> None:
    for method, template, _ in ROUTE_TABLE[1:]:
        reply = plane.call(method, _path(template, desktop), body={} if method == "POST" else None)
        assert (reply.status, reply.code) == (404, "not_found"), template


def test_wrong_method_is_405(plane: Plane) -> None:
    reply = plane.call("GET", f"/v1/desktops/{MAIN}/click")
    assert reply.status == 405
    assert "POST" in reply.headers["Allow"]


def test_start_on_a_running_desktop_changes_nothing(plane: Plane) -> None:
    before = plane.runtime(MAIN)
    reply = plane.call("POST", f"/v1/desktops/{MAIN}/start")
    assert reply.status == 200
    assert reply.json["status"] == "running"
    assert plane.runtime(MAIN) == before


# control and chat: forwarded to the real agent -----------------------------------------------------


@dataclasses.dataclass
class Case:
    action: str
    body: Any
    check: Callable[[Reply], None]  # the real effect of the call

    @property
    def method(self) -> str:
        return "GET" if self.action in ("screenshot", "accessibility") else "POST"


def _json_equals(expected: dict[str, Any]) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        assert reply.status == 200, reply.body
        assert reply.json == expected

    return check


def _ran(stdout: str) -> Callable[[Reply], None]:
    def check(reply: Reply) -> None:
        assert reply.status == 200, reply.body
        assert (reply.json["stdout"], reply.json["exitCode"], reply.json["timedOut"]) == (stdout, 0, False)

    return check


def _scrolled(reply: Reply) -> None:
    assert reply.status == 200, reply.body
    assert (reply.json["x"], reply.json["y"]) == (30, 40)


def _png(reply: Reply) -> None:
    assert reply.status == 200, reply.body[:200]
    assert reply.headers["Content-Type"] == "image/png"
    assert reply.body.startswith(b"\x89PNG\r\n\x1a\n")
    assert (reply.headers["X-Screen-Width"], reply.headers["X-Screen-Height"]) == ("1280", "800")
    assert reply.headers["ETag"]


def _tree(reply: Reply) -> None:
    # a local desktop runs a session bus, on which the accessibility bus starts on demand: a
    # tree (its active window is the xterm, which exports none), not a 503
    assert reply.status == 200, reply.body
    assert reply.json["root"]["role"] in ("window", "desktop frame") and reply.json["skipped"] == []


def _chat_relayed(reply: Reply) -> None:
    assert reply.status == 200, reply.body
    assert reply.json["response"].strip() == "got: hello é"
    assert isinstance(reply.json["conversationId"], str)


CASES = [
    Case("click", {"x": 10, "y": 20}, _json_equals({"x": 10, "y": 20})),
    Case("drag", {"from": {"x": 10, "y": 10}, "to": {"x": 60, "y": 70}}, _json_equals({"x": 60, "y": 70})),
    Case("scroll", {"direction": "down", "x": 30, "y": 40}, _scrolled),
    Case("type", {"text": "hé"}, _json_equals({"typed": 2})),
    Case("key", {"key": "shift"}, _json_equals({"key": "shift"})),
    Case("bash", {"script": "a=hello\necho $a ✓"}, _ran("hello ✓\n")),
    Case("exec", {"argv": ["cat"], "stdin": "unchanged é ✓"}, _ran("unchanged é ✓")),
    Case("screenshot", None, _png),
    Case("accessibility", None, _tree),
    Case("chat", {"message": "hello é"}, _chat_relayed),
]


@pytest.mark.parametrize("case", CASES, ids=[c.action for c in CASES])
def test_control_route_is_forwarded(plane: Plane, case: Case) -> None:
    via = plane.call(case.method, f"/v1/desktops/{MAIN}/{case.action}", body=case.body)
    direct = plane.agent_call(MAIN, case.method, f"/v1/{case.action}", body=case.body)
    assert via.status == direct.status
    assert via.headers["Content-Type"] == direct.headers["Content-Type"]
    case.check(via)


@pytest.mark.parametrize(
    "action,raw",
    [
        ("click", b'{"x": 1, "y": 2, "bogus": true}'),
        ("type", b"{not json"),
        ("exec", b'{"command": 42}'),
        ("chat", b'{"message": ""}'),
    ],
)
def test_agent_errors_pass_through_unchanged(plane: Plane, action: str, raw: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    via = plane.call("POST", f"/v1/desktops/{MAIN}/{action}", raw=raw, headers=headers)
    direct = plane.agent_call(MAIN, "POST", f"/v1/{action}", raw=raw)
    assert via.status == direct.status == 400
    assert via.body == direct.body
    assert via.code == "invalid_request"


def test_screenshot_query_is_forwarded(plane: Plane) -> None:
    via = plane.call("GET", f"/v1/desktops/{MAIN}/screenshot?format=gif")
    assert (via.status, via.code) == (400, "invalid_request")
    assert "format" in via.json["error"]["message"]
    ok = plane.call("GET", f"/v1/desktops/{MAIN}/screenshot?format=jpeg&maxWidth=320")
    direct = plane.agent_call(MAIN, "GET", "/v1/screenshot?format=jpeg&maxWidth=320")
    assert ok.status == direct.status == 200
    assert ok.headers["Content-Type"] == "image/jpeg"
    assert ok.body.startswith(b"\xff\xd8")
    assert float(ok.headers["X-Scale"]) == pytest.approx(320 / 1280, abs=0.01)


def test_screenshot_etag_gives_304(plane: Plane) -> None:
    first = plane.call("GET", f"/v1/desktops/{MAIN}/screenshot")
    assert first.status == 200
    etag = first.headers["ETag"]
    second = plane.call("GET", f"/v1/desktops/{MAIN}/screenshot", headers={"If-None-Match": etag})
    assert second.status == 304
    assert second.body == b""


@pytest.mark.parametrize("case", CASES, ids=[c.action for c in CASES])
def test_503_when_the_desktop_is_not_running(plane: Plane, case: Case) -> None:
    reply = plane.call(case.method, f"/v1/desktops/{IDLE}/{case.action}", body=case.body)
    assert reply.status == 503
    assert reply.code == "desktop_not_running"
    assert reply.json["error"]["details"] == {"status": "stopped", "agentReady": False}


def test_chat_errors_of_the_agent_pass_through(plane: Plane) -> None:
    # the idle desktop's agent has no chat backend: its own 503, not one of the control plane's
    assert plane.call("POST", f"/v1/desktops/{IDLE}/start").status == 202
    try:
        plane.wait_ready(IDLE)
        reply = plane.call("POST", f"/v1/desktops/{IDLE}/chat", body={"message": "hi"})
        direct = plane.agent_call(IDLE, "POST", "/v1/chat", body={"message": "hi"})
        assert (reply.status, reply.code) == (503, "chat_unavailable")
        assert reply.body == direct.body
    finally:
        assert plane.call("POST", f"/v1/desktops/{IDLE}/stop").status == 200


def test_oversized_body_is_413(plane: Plane) -> None:
    raw = b'{"text": "' + b"a" * (5 * 1024 * 1024) + b'"}'
    reply = plane.call("POST", f"/v1/desktops/{MAIN}/type", raw=raw, headers={"Content-Type": "application/json"})
    assert (reply.status, reply.code) == (413, "payload_too_large")


def test_agent_ready_comes_from_real_heartbeats(plane: Plane) -> None:
    boot_id = plane.agent_call(MAIN, "GET", "/v1/status").json["bootId"]
    beat = wait_for(
        lambda: (hb := plane.desktop(MAIN)["heartbeat"]) and hb["bootId"] == boot_id and hb,
        "a heartbeat from the desktop's agent",
    )
    assert beat["agentReady"] is True and beat["state"] == "ready"
    # beats keep coming at the 1 s interval the control plane asked for
    wait_for(lambda: plane.desktop(MAIN)["heartbeat"]["seq"] > beat["seq"], "a later heartbeat", timeout=10)
