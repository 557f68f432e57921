"""The heartbeat receiver, driven by beats this test sends with the desktop's heartbeat credential.

The desktop's own agent is told to beat elsewhere (a closed port), so only these beats count.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.controlplane.conftest import IDLE, MAIN
from tests.controlplane.support import Plane, Reply, request

NOWHERE = "http://127.0.0.1:9/nowhere"


@pytest.fixture(scope="module")
def plane(make_plane: Callable[..., Plane]) -> Plane:
    return make_plane(agent_args=["--set", f"heartbeat_url={NOWHERE}"])


BEAT: dict[str, Any] = {
    "desktopId": MAIN,
    "state": "ready",
    "agentReady": True,
    "bootId": "b",
    "seq": 1,
    "version": "test",
    "uptimeS": 1.0,
    "display": {"name": ":9", "connected": True, "width": 1, "height": 1},
    "chat": {"configured": False, "reachable": False},
    "metrics": {},
    "sentAt": "2026-01-01T00:00:00Z",
}


def _beat(plane: Plane, desktop: str = MAIN, token: str | None = None, auth: bool = True, **fields: Any) -> Reply:
    body = {**BEAT, "desktopId": desktop, **fields}
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = f"Bearer {token or plane.heartbeat_token(desktop)}"
    return request(plane.port, "POST", f"/agent/v1/desktops/{desktop}/heartbeat", headers=headers, body=json.dumps(body).encode())


def _boot() -> str:
    return uuid.uuid4().hex


def test_a_beat_without_the_heartbeat_credential_is_401(plane: Plane) -> None:
    assert _beat(plane, token="x" * 43).status == 401
    assert _beat(plane, auth=False).status == 401
    assert _beat(plane, token=plane.keys["full"]).status == 401  # an API key is not a beat credential
    # nor is the agent token: the two are separate secrets, and the beat carries only its own
    assert plane.agent_token(MAIN) != plane.heartbeat_token(MAIN)
    assert _beat(plane, token=plane.agent_token(MAIN)).status == 401
    # a stopped desktop has no credential at all, and one desktop's does not beat for another
    reply = _beat(plane, desktop=IDLE, token=plane.heartbeat_token(MAIN))
    assert (reply.status, reply.code) == (401, "unauthorized")


def test_the_desktops_beat_credential_is_a_0600_file_apart_from_the_agent_token(plane: Plane) -> None:
    for name in ("agent.token", "heartbeat.token", "Xauthority"):
        info = (plane.state_dir(MAIN) / name).stat()
        assert info.st_mode & 0o777 == 0o600, name
    assert (plane.state_dir(MAIN).stat().st_mode & 0o777) == 0o700


def test_malformed_beats_are_400(plane: Plane) -> None:
    reply = _beat(plane, bootId=_boot(), desktopId=IDLE)
    assert (reply.status, reply.code) == (400, "invalid_request")
    assert "desktopId" in reply.json["error"]["message"]
    reply = _beat(plane, bootId=_boot(), state="sleepy")
    assert reply.status == 400 and "state" in reply.json["error"]["message"]
    reply = _beat(plane, bootId=_boot(), seq="1")
    assert reply.status == 400 and "seq" in reply.json["error"]["message"]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_beat_over_64_kib_is_413_even_chunked(plane: Plane, chunked: bool) -> None:
    # A chunked body announces no Content-Length: the cap must hold while the body is read.
    def send(padding: int) -> Reply:
        body = json.dumps({**BEAT, "bootId": _boot(), "padding": "x" * padding}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {plane.heartbeat_token(MAIN)}"}
        data: Any = (body[i : i + 8192] for i in range(0, len(body), 8192)) if chunked else body
        conn = http.client.HTTPConnection("127.0.0.1", plane.port, timeout=30)
        try:
            conn.request("POST", f"/agent/v1/desktops/{MAIN}/heartbeat", body=data, headers=headers)
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    reply = send(100 * 1024)
    assert (reply.status, reply.code) == (413, "payload_too_large"), reply.body
    assert "65536" in reply.json["error"]["message"]
    assert send(16 * 1024).status == 200  # a beat under the cap, sent the same way, is fine


def test_an_unauthenticated_caller_cannot_tell_which_desktops_exist(plane: Plane) -> None:
    # the credential is checked before the desktop is looked up: 401 for a known id and an unknown one
    for desktop in (MAIN, IDLE, "dsk_nope"):
        reply = request(plane.port, "POST", f"/agent/v1/desktops/{desktop}/heartbeat", body=b"{}")
        assert (reply.status, reply.code) == (401, "unauthorized"), desktop
    # only a caller holding a current credential learns that an id does not exist
    headers = {"Authorization": f"Bearer {plane.heartbeat_token(MAIN)}", "Content-Type": "application/json"}
    reply = request(plane.port, "POST", "/agent/v1/desktops/dsk_nope/heartbeat", headers=headers, body=b"{}")
    assert (reply.status, reply.code) == (404, "not_found")


def test_agent_ready_follows_the_beats(plane: Plane) -> None:
    boot = _boot()
    reply = _beat(plane, bootId=boot, seq=1, agentReady=False, state="degraded")
    assert reply.status == 200
    assert reply.json == {"intervalS": 1}
    desktop = plane.desktop(MAIN)
    assert desktop["agentReady"] is False
    assert desktop["heartbeat"]["state"] == "degraded" and desktop["heartbeat"]["bootId"] == boot
    reply = plane.call("POST", f"/v1/desktops/{MAIN}/click", body={"x": 1, "y": 1})
    assert (reply.status, reply.code) == (503, "agent_not_ready")

    assert _beat(plane, bootId=boot, seq=2, agentReady=True).status == 200
    assert plane.desktop(MAIN)["agentReady"] is True
    assert plane.call("POST", f"/v1/desktops/{MAIN}/click", body={"x": 1, "y": 1}).status != 503


def test_an_older_beat_does_not_undo_a_newer_one(plane: Plane) -> None:
    boot = _boot()
    assert _beat(plane, bootId=boot, seq=5, agentReady=True).status == 200
    assert _beat(plane, bootId=boot, seq=4, agentReady=False, state="degraded").status == 200
    assert _beat(plane, bootId=boot, seq=5, agentReady=False, state="degraded").status == 200
    desktop = plane.desktop(MAIN)
    assert desktop["agentReady"] is True and desktop["heartbeat"]["seq"] == 5
    # a new boot of the agent starts its seq again
    assert _beat(plane, bootId=_boot(), seq=1, agentReady=False, state="starting").status == 200
    assert plane.desktop(MAIN)["agentReady"] is False
    assert _beat(plane, bootId=_boot(), seq=1).status == 200
    assert plane.desktop(MAIN)["agentReady"] is True


def test_a_stopping_beat_means_not_ready(plane: Plane) -> None:
    boot = _boot()
    assert _beat(plane, bootId=boot, seq=1).status == 200
    assert _beat(plane, bootId=boot, seq=2, state="stopping", agentReady=True).status == 200
    assert plane.desktop(MAIN)["agentReady"] is False
    assert _beat(plane, bootId=_boot(), seq=1).status == 200


def test_a_previous_boots_credential_is_refused(plane: Plane) -> None:
    old = plane.heartbeat_token(MAIN)
    assert plane.call("POST", f"/v1/desktops/{MAIN}/restart").status == 202
    plane.wait_ready(MAIN, by_beat=False)  # via the health-poll bridge: no beat arrives here
    assert plane.desktop(MAIN)["heartbeat"] is None
    assert _beat(plane, token=old, bootId=_boot()).status == 401
    assert _beat(plane, bootId=_boot()).status == 200
