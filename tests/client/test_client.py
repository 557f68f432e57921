"""The Python client against a real control plane and real local desktops: every method whose
route exists, and the errors (401, 403 with required/held, 404, 503 while booting, 429)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from bureau_agent.client import (
    AsyncBureau,
    Bureau,
    DesktopNotRunning,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    RetryPolicy,
    Unauthorized,
    UnknownKey,
)
from bureau_agent.client import _unasync
from tests.client.conftest import IDLE, LIMITED_PER_MINUTE, MAIN
from tests.controlplane.support import Plane, wait_for


@pytest.fixture
def bureau(plane: Plane, url: str) -> Iterator[Bureau]:
    with Bureau(api_key=plane.keys["full"], base_url=url) as b:
        yield b


def counting(statuses: list[int]) -> Callable[[str, str, int], None]:
    """An on_response hook that records the status of every answer (retries included)."""
    return lambda method, path, status: statuses.append(status)


def test_sync_client_is_generated_from_the_async_one() -> None:
    for source, target in _unasync.PAIRS:
        generated = _unasync.generate(source.read_text(encoding="utf-8"), source.name)
        assert target.read_text(encoding="utf-8") == generated, f"{target.name} is stale: run python -m bureau_agent.client._unasync"
        assert "async " not in generated and "await " not in generated


def test_defaults_come_from_the_environment(plane: Plane, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUREAU_API_KEY", plane.keys["full"])
    monkeypatch.setenv("BUREAU_API_URL", url)
    with Bureau() as b:
        assert b.me()["name"] == "full"
    monkeypatch.delenv("BUREAU_API_KEY")
    with pytest.raises(ValueError, match="BUREAU_API_KEY"):
        Bureau()


def test_read_routes(bureau: Bureau) -> None:
    me = bureau.me()
    assert me["capabilities"] == ["desktop:read", "desktop:lifecycle", "desktop:control", "desktop:chat"]
    listed = {d["id"]: d for d in bureau.desktops()}
    assert set(listed) == {MAIN, IDLE}
    assert listed[MAIN]["status"] == "running" and listed[MAIN]["agentReady"] is True
    info = bureau.desktop(MAIN).info()
    assert info["id"] == MAIN and info["status"] == "running"


def test_input_routes_have_their_effect(bureau: Bureau) -> None:
    d = bureau.desktop(MAIN)
    assert d.move(200, 150) == {"x": 200, "y": 150}
    assert d.click(300, 200, button="left") == {"x": 300, "y": 200}
    assert d.click() == {"x": 300, "y": 200}  # no coordinates: where the pointer is
    # inside the xterm, away from the title bar (a press on its icon opens a menu that takes the keyboard)
    assert d.drag((200, 200), {"x": 260, "y": 240}, duration_ms=60, path=[(230, 220)]) == {"x": 260, "y": 240}
    assert d.scroll("down", 2, x=100, y=120) == {"x": 100, "y": 120}
    assert d.key("shift+Tab") == {"key": "shift+Tab"}


def test_typed_text_reaches_the_xterm(bureau: Bureau, typed_file: Path, xterm: None) -> None:
    d = bureau.desktop(MAIN)
    d.click(100, 100)  # the xterm at +0+0 has the focus
    assert d.type("client says ça va\n") == {"typed": 18}
    wait_for(lambda: "client says ça va" in d.exec(argv=["cat", str(typed_file)])["stdout"], "the typed line in the file", 15)


def test_screenshot_png_and_scaled_jpeg_and_304(bureau: Bureau) -> None:
    d = bureau.desktop(MAIN)
    shot = d.screenshot()
    assert shot.content_type == "image/png"
    assert (shot.screen_width, shot.screen_height, shot.scale) == (1024, 768, 1.0)
    assert Image.open(io.BytesIO(shot.data)).size == (1024, 768)
    small = d.screenshot(format="jpeg", quality=70, max_width=512)
    assert small.content_type == "image/jpeg" and small.scale == 0.5
    assert Image.open(io.BytesIO(small.data)).size == (512, 384)
    assert small.to_screen(100, 50) == (200, 100)
    region = d.screenshot(region=(0, 0, 64, 32))
    assert Image.open(io.BytesIO(region.data)).size == (64, 32)
    again = d.screenshot(if_none_match=shot.etag)
    # the screen may change (the xterm's cursor blinks): an unchanged one is a 304 without bytes
    assert again.not_modified == (again.data == b"")
    assert again.not_modified or Image.open(io.BytesIO(again.data)).size == (1024, 768)


def test_commands(bureau: Bureau) -> None:
    d = bureau.desktop(MAIN)
    result = d.exec("echo out; echo err >&2; exit 3")
    assert (result["stdout"], result["stderr"], result["exitCode"]) == ("out\n", "err\n", 3)
    assert d.exec(argv=["printf", "%s", "a b"])["stdout"] == "a b"
    assert d.exec("cat", stdin="fed")["stdout"] == "fed"
    assert d.exec("echo $GREETING", env={"GREETING": "hi"})["stdout"] == "hi\n"
    assert d.exec("pwd", cwd="/tmp")["stdout"] == "/tmp\n"
    slow = d.exec("sleep 5", timeout_ms=200)
    assert slow["timedOut"] is True
    assert d.bash("for i in 1 2; do echo $i; done | tac")["stdout"] == "2\n1\n"
    py = d.python("import sys; print(6 * 7); sys.exit(4)")
    assert (py["stdout"], py["exitCode"]) == ("42\n", 4)


def test_chat(bureau: Bureau) -> None:
    reply = bureau.desktop(MAIN).chat("hello there")
    assert reply["response"].strip() == "got: hello there"


def test_agent_errors_are_typed(bureau: Bureau) -> None:
    d = bureau.desktop(MAIN)
    with pytest.raises(UnknownKey) as caught:
        d.key("NoSuchKeyAnywhere")
    assert caught.value.status == 400 and caught.value.code == "unknown_key"
    assert "NoSuchKeyAnywhere" in caught.value.message
    with pytest.raises(InvalidRequest) as invalid:
        d.click(5)  # x without y
    assert invalid.value.status == 400


def test_401_unauthorized(url: str) -> None:
    with Bureau(api_key="sk_live_wrong", base_url=url) as b, pytest.raises(Unauthorized) as caught:
        b.desktops()
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")


def test_403_carries_required_and_held(plane: Plane, url: str) -> None:
    with Bureau(api_key=plane.keys["reader"], base_url=url) as b:
        assert {d["id"] for d in b.desktops()} == {MAIN, IDLE}
        with pytest.raises(Forbidden) as caught:
            b.desktop(MAIN).click(1, 1)
    error = caught.value
    assert (error.status, error.code, error.required, error.held) == (403, "forbidden", "desktop:control", ["desktop:read"])


def test_404_for_an_unknown_desktop(bureau: Bureau) -> None:
    with pytest.raises(NotFound) as caught:
        bureau.desktop("dsk_nowhere").info()
    assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_lifecycle_503_while_booting_and_wait_ready(plane: Plane, url: str) -> None:
    statuses: list[int] = []
    with Bureau(api_key=plane.keys["full"], base_url=url, retry=False) as b:
        d = b.desktop(IDLE)
        with pytest.raises(DesktopNotRunning) as stopped:
            d.click(1, 1)
        assert stopped.value.details == {"status": "stopped", "agentReady": False}
        with pytest.raises(DesktopNotRunning, match="call start"):
            d.wait_ready(timeout=5)
        assert d.start()["status"] == "booting"
        with pytest.raises(DesktopNotRunning) as booting:
            d.click(1, 1)
        assert (booting.value.status, booting.value.retry_after_s) == (503, 2.0)
        assert booting.value.details["status"] == "booting"
        info = d.wait_ready(timeout=40)
        assert info["status"] == "running" and info["agentReady"] is True
        assert d.click(5, 5) == {"x": 5, "y": 5}
        assert d.restart()["status"] == "booting"
    # with retries on, a control call made during the boot waits it out (Retry-After: 2)
    with Bureau(api_key=plane.keys["full"], base_url=url, on_response=counting(statuses)) as b:
        d = b.desktop(IDLE)
        assert d.click(6, 6) == {"x": 6, "y": 6}
        assert statuses[0] == 503 and statuses[-1] == 200, statuses
        assert d.stop()["status"] == "stopped"


def test_429_is_retried_then_surfaced_when_retries_are_off(plane: Plane, url: str) -> None:
    key = plane.keys["limited"]
    with Bureau(api_key=key, base_url=url, retry=False) as b:
        for _ in range(LIMITED_PER_MINUTE + 5):
            try:
                b.me()
            except RateLimited as exc:
                limited = exc
                break
        else:
            pytest.fail("the key's budget never ran out")
    assert (limited.status, limited.code) == (429, "rate_limited") and limited.retry_after_s >= 1
    # a budget too small for the wait is not spent sleeping: the 429 comes back at once
    statuses: list[int] = []
    with Bureau(api_key=key, base_url=url, retry=RetryPolicy(max_wait_s=0.5), on_response=counting(statuses)) as b:
        with pytest.raises(RateLimited):
            for _ in range(5):
                b.me()
    assert statuses[-1] == 429
    statuses.clear()
    with Bureau(api_key=key, base_url=url, on_response=counting(statuses)) as b:
        # spend what refilled, then one more call that must wait for Retry-After
        wait_for(lambda: _spent(b, statuses), "a rate-limited call that was retried", 20)
    assert 429 in statuses and statuses[-1] == 200


def _spent(b: Bureau, statuses: list[int]) -> bool:
    b.me()
    return 429 in statuses


async def test_async_client(plane: Plane, url: str, typed_file: Path, xterm: None) -> None:
    async with AsyncBureau(api_key=plane.keys["full"], base_url=url) as b:
        assert (await b.me())["name"] == "full"
        assert {d["id"] for d in await b.desktops()} == {MAIN, IDLE}
        d = b.desktop(MAIN)
        assert (await d.info())["status"] == "running"
        assert await d.move(50, 60) == {"x": 50, "y": 60}
        assert await d.click(100, 100) == {"x": 100, "y": 100}
        assert await d.type("async line\n") == {"typed": 11}
        shot = await d.screenshot(format="png", max_width=256)
        assert shot.scale == 0.25 and Image.open(io.BytesIO(shot.data)).size == (256, 192)
        result = await d.python("print('from python')")
        assert (result["stdout"], result["exitCode"]) == ("from python\n", 0)
        deadline = time.monotonic() + 15
        while "async line" not in (await d.exec(argv=["cat", str(typed_file)]))["stdout"]:
            assert time.monotonic() < deadline, "the typed line never reached the file"
        with pytest.raises(NotFound):
            await b.desktop("dsk_nowhere").info()
        with pytest.raises(DesktopNotRunning):
            await b.desktop(IDLE).exec("true")


def test_the_readme_example_runs(plane: Plane, url: str, tmp_path: Path, xterm: None) -> None:
    import os
    import re
    import subprocess
    import sys

    from tests.controlplane.support import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(from bureau_agent.client import Bureau\n.*?)```", readme, re.S)
    assert code is not None
    assert len(code.group(1).strip().splitlines()) <= 11  # the ten-line example, and its import
    env = {**os.environ, "BUREAU_API_KEY": plane.keys["full"], "BUREAU_API_URL": url, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code.group(1)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "saved a 1024x768 screenshot" in done.stdout
    assert Image.open(tmp_path / "screen.png").size == (1024, 768)
