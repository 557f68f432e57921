"""One real control plane for the client and MCP tests, with real local desktops: MAIN runs an
xterm whose `cat` writes what is typed into a file (so typing is read back, not assumed), IDLE
starts stopped (for start/stop/wait_ready and the 503 while booting)."""

from __future__ import annotations

from collections.abc import Iterator
import io
from pathlib import Path

import pytest
from PIL import Image

from bureau_agent.controlplane.keys import CAPABILITIES
from tests.controlplane.support import Plane, wait_for

MAIN = "dsk_main"
IDLE = "dsk_idle"
CHAT_ARGS = ["--set", "chat_backend=command", "--set", 'chat_command=["echo", "got:", "{message}"]']

KEYS: dict[str, tuple[str, ...]] = {
    "full": CAPABILITIES,
    "reader": ("desktop:read",),
    "none": (),
    "limited": CAPABILITIES,
}
LIMITED_PER_MINUTE = 60  # a burst of 60, then one call a second: Retry-After 1


@pytest.fixture(scope="package")
def typed_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("typed") / "typed.txt"


@pytest.fixture(scope="package")
def plane(tmp_path_factory: pytest.TempPathFactory, typed_file: Path) -> Iterator[Plane]:
    desktops = [
        {
            "id": MAIN,
            "name": "Main",
            "autostart": True,
            "width": 1024,
            "height": 768,
            "apps": [["xterm", "-geometry", "80x24+0+0", "-e", "sh", "-c", f"cat > {typed_file}"]],
            "agent_args": CHAT_ARGS,
        },
        {"id": IDLE, "name": "Idle", "width": 640, "height": 480, "apps": []},
    ]
    plane = Plane(tmp_path_factory.mktemp("plane"), desktops, KEYS, limit_limited=LIMITED_PER_MINUTE)
    plane.start()
    try:
        plane.wait_ready(MAIN)
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="package")
def xterm(plane: Plane) -> None:
    """Waits until MAIN's xterm is on the screen (its white background at 100, 100): the desktop
    is ready before its apps have mapped their windows, and a click there would miss it."""

    def white() -> bool:
        reply = plane.call("GET", f"/v1/desktops/{MAIN}/screenshot?region=100,100,1,1")
        assert reply.status == 200, reply.body
        return Image.open(io.BytesIO(reply.body)).convert("RGB").getpixel((0, 0)) == (255, 255, 255)

    wait_for(white, "the xterm's window", 30)


@pytest.fixture
def url(plane: Plane) -> str:
    return f"http://127.0.0.1:{plane.port}"
