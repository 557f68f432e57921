"""POST /v1/desktops/:id/act end to end: a real control plane, a real local desktop, a real X app."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import pytest
from PIL import Image

from tests.controlplane.conftest import MAIN
from tests.controlplane.support import Plane
from tests.support.reactive_window import ReactiveWindow, color


@pytest.fixture(scope="module")
def plane(make_plane: Callable[..., Plane]) -> Plane:
    return make_plane()


def test_act_through_the_control_plane_returns_the_settled_frame(plane: Plane) -> None:
    display = plane.runtime(MAIN)["display"]
    cookie = str(plane.state_dir(MAIN) / "Xauthority")
    with ReactiveWindow(display, 100, 100, 200, 150, delay_ms=100, xauthority=cookie) as win:
        cx, cy = win.center
        body = {"actions": [{"action": "click", "x": cx, "y": cy}], "settle": {"quietMs": 300}, "screenshot": {"format": "png"}}
        reply = plane.call("POST", f"/v1/desktops/{MAIN}/act", key="operator", body=body)
        assert reply.status == 200, reply.body[:300]
        data = reply.json
        assert data["results"] == [{"x": cx, "y": cy}] and data["settled"] is True and data["changed"] is True
        pixels = Image.open(io.BytesIO(base64.b64decode(data["screenshot"]["data"]))).convert("RGB")
        assert pixels.getpixel((cx, cy)) == color(1)


def test_act_needs_desktop_control(plane: Plane) -> None:
    reply = plane.call("POST", f"/v1/desktops/{MAIN}/act", key="reader", body={"actions": []})
    assert reply.status == 403


def test_act_errors_pass_through_with_the_index(plane: Plane) -> None:
    body = {"actions": [{"action": "wait", "ms": 1}, {"action": "key", "key": "nosuchkey"}]}
    reply = plane.call("POST", f"/v1/desktops/{MAIN}/act", body=body)
    assert (reply.status, reply.code) == (400, "unknown_key")
    assert reply.json["error"]["details"]["index"] == 1
