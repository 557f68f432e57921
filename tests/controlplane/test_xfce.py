"""A local desktop with `session = "xfce"`, as the product's desktops look: it boots (D-Bus
session, AT-SPI bus, xfsettingsd, xfwm4, xfdesktop, xfce4-panel), the panel is on the screen
(found in the window tree, and its pixels in a screenshot differ from the desktop's), and text
typed through the public API reaches a terminal under xfwm4, non-Latin characters included."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bureau_agent.controlplane.keys import CAPABILITIES
from tests.controlplane.support import Plane, wait_for

pytestmark = pytest.mark.skipif(
    not all(shutil.which(p) for p in ("xfwm4", "xfdesktop", "xfce4-panel", "dbus-daemon", "xterm")),
    reason="XFCE is not installed: run scripts/install-deps",
)

DESKTOP = "dsk_xfce"
TYPED = "日本 ✓ é"


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sink") / "typed"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, sink: Path) -> Iterator[Plane]:
    sink.write_bytes(b"")
    script = f"stty -icanon -echo; exec cat > {sink}"
    xterm = ["xterm", "-u8", "-T", "sink", "-geometry", "60x10+200+200", "-e", "sh", "-c", script]
    desktop = {"id": DESKTOP, "autostart": True, "session": "xfce", "width": 1280, "height": 800, "apps": [xterm]}
    plane = Plane(tmp_path_factory.mktemp("xfce"), [desktop], {"full": CAPABILITIES}).start(env={"LANG": "C.UTF-8"})
    try:
        plane.wait_ready(DESKTOP)
        yield plane
    finally:
        plane.stop()


def _windows(plane: Plane) -> list[dict[str, Any]]:
    """Every viewable window with a WM_CLASS: its class and root-relative geometry."""
    from Xlib import X
    from Xlib import display as xdisplay

    with pytest.MonkeyPatch.context() as mp:  # python-xlib reads $XAUTHORITY when it connects
        mp.setenv("XAUTHORITY", str(plane.state_dir(DESKTOP) / "Xauthority"))
        conn = xdisplay.Display(plane.desktop(DESKTOP)["display"])
    try:
        root = conn.screen().root
        found, pending = [], [root]
        while pending:
            window = pending.pop()
            pending.extend(window.query_tree().children)
            wm_class = window.get_wm_class()
            if wm_class and window.get_attributes().map_state == X.IsViewable:
                geometry = window.get_geometry()
                origin = root.translate_coords(window, 0, 0)
                found.append({"class": wm_class[1], "x": origin.x, "y": origin.y, "w": geometry.width, "h": geometry.height})
        return found
    finally:
        conn.close()


def test_the_session_runs_its_programs(plane: Plane) -> None:
    pids = plane.runtime(DESKTOP)["pids"]
    assert {"xvfb", "dbus", "at-spi", "xfsettingsd", "wm", "xfdesktop", "panel", "app0", "agent"} <= set(pids)
    channel = plane.state_dir(DESKTOP) / "xdg-config/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml"
    assert channel.exists()  # seeded: no first-start dialog instead of the panel


def test_the_panel_is_on_the_screen(plane: Plane) -> None:
    def panel() -> dict[str, Any] | None:
        return next((w for w in _windows(plane) if w["class"] == "Xfce4-panel" and w["w"] >= 640), None)

    bar = wait_for(panel, "a viewable xfce4-panel", timeout=20)
    wait_for(lambda: any(w["class"] == "Xfdesktop" for w in _windows(plane)), "xfdesktop", timeout=20)

    def panel_band() -> tuple[Image.Image, Image.Image] | None:
        """The panel's band of a screenshot and a band of plain desktop of the same size, once
        the panel has painted (a mapped panel is black until it draws: seen under load)."""
        reply = plane.call("GET", f"/v1/desktops/{DESKTOP}/screenshot")
        assert reply.status == 200
        image = Image.open(io.BytesIO(reply.body)).convert("RGB")
        assert image.size == (1280, 800)
        strip = image.crop((bar["x"], bar["y"], bar["x"] + bar["w"], bar["y"] + bar["h"]))
        colours = strip.getcolors(maxcolors=1 << 20)
        if colours is None or len(colours) < 2:  # not drawn yet (or a flat fill)
            return None
        return strip, image.crop((0, 400, bar["w"], 400 + bar["h"]))

    strip, middle = wait_for(panel_band, "the panel to draw (buttons, clock: more than one colour)", timeout=30)
    assert strip.tobytes() != middle.tobytes()  # and what it draws is not the desktop behind it


def test_typing_reaches_a_terminal_under_xfwm4(plane: Plane, sink: Path) -> None:
    term = wait_for(lambda: next((w for w in _windows(plane) if w["class"] == "XTerm"), None), "the xterm", timeout=20)
    click = {"x": term["x"] + term["w"] // 2, "y": term["y"] + term["h"] // 2}
    assert plane.call("POST", f"/v1/desktops/{DESKTOP}/click", body=click).status == 200  # focus it, as a user would
    reply = plane.call("POST", f"/v1/desktops/{DESKTOP}/type", body={"text": TYPED + "\n"})
    assert reply.status == 200, reply.body
    wait_for(lambda: sink.read_bytes() == (TYPED + "\n").encode(), f"{TYPED!r} in the terminal", timeout=20)


def test_the_accessibility_bus_is_up(plane: Plane) -> None:
    # AT-SPI's own bus, which GTK apps export their tree to, is known to the session bus
    address = plane.call("POST", f"/v1/desktops/{DESKTOP}/exec", body={
        "command": "dbus-send --session --print-reply --dest=org.a11y.Bus /org/a11y/bus org.a11y.Bus.GetAddress"})
    assert address.status == 200 and address.json["exitCode"] == 0, address.json
    assert "unix:" in address.json["stdout"]
