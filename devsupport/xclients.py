"""Real X clients for the window and clipboard tests: openbox, a Tk window, stubborn selection peers.

Each runs as a process of its own (a real client on its own connection) and says when it is
ready on stdout, so tests wait for that line instead of sleeping.
"""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bureau_agent.controlplane.window_manager import wait_for_window_manager
from devsupport.xvfb import Xvfb

HERE = Path(__file__).parent
ROOT = HERE.parent


def _env(xvfb: Xvfb) -> dict[str, str]:
    env = xvfb.env()
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", PYTHONPATH=str(ROOT))
    return env


def read_line(proc: subprocess.Popen[str], timeout_s: float = 20.0) -> str:
    """The next stdout line of proc, failing (not hanging) after timeout_s."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.1)[0]:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{proc.args} exited ({proc.poll()}) before answering")
            return line.strip()
    raise RuntimeError(f"{proc.args} did not answer within {timeout_s} s")


def _end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


@contextlib.contextmanager
def openbox(xvfb: Xvfb) -> Iterator[subprocess.Popen[bytes]]:
    """openbox managing xvfb, from the moment it announces itself (_NET_SUPPORTING_WM_CHECK)."""
    proc = subprocess.Popen(["openbox", "--sm-disable"], env=_env(xvfb), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_for_window_manager(xvfb.name, 20):
            raise RuntimeError("openbox did not take over the screen")
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def _parent(xvfb: Xvfb, wid: int) -> int:
    from Xlib import display as xdisplay

    conn = xdisplay.Display(xvfb.name)
    try:
        return conn.create_resource_object("window", wid).query_tree().parent.id
    finally:
        conn.close()


class TkWindow:
    """devsupport/tk_app.py as a running client; .id is the window the WM manages."""

    def __init__(self, xvfb: Xvfb, title: str, geometry: str = "300x120+50+50", ignore_close: bool = False) -> None:
        args = [sys.executable, str(HERE / "tk_app.py"), title, "--geometry", geometry]
        if ignore_close:
            args.append("--ignore-close")
        self.proc = subprocess.Popen(args, env=_env(xvfb), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            word, wid = read_line(self.proc).split()
        except BaseException:
            _end(self.proc)
            raise
        assert word == "ready"
        self.id = _parent(xvfb, int(wid))  # Tk's wrapper: the top-level with WM_NAME, WM_CLASS, …
        self.pid = self.proc.pid  # Tk itself does not set _NET_WM_PID

    def text(self) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write("get\n")
        self.proc.stdin.flush()
        return json.loads(read_line(self.proc))

    def wait_text(self, expected: str, timeout_s: float = 10.0) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.text()
            if text == expected or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def close(self) -> None:
        _end(self.proc)

    def __enter__(self) -> TkWindow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Peer:
    """A python-xlib selection peer (devsupport/selection_peer.py) in a process of its own."""

    def __init__(self, xvfb: Xvfb, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devsupport.selection_peer", xvfb.name, *args],
            env=_env(xvfb), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )

    def line(self, timeout_s: float = 20.0) -> str:
        return read_line(self.proc, timeout_s)

    def kill(self) -> None:
        _end(self.proc)

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def xclip_set(xvfb: Xvfb, text: str, selection: str = "clipboard") -> subprocess.Popen[bytes]:
    """xclip owning the selection with text (it forks and serves until someone else owns it)."""
    proc = subprocess.Popen(["xclip", "-i", "-selection", selection, "-quiet"], env=_env(xvfb), stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None
    proc.stdin.write(text.encode("utf-8"))
    proc.stdin.close()
    return proc


def xclip_get(xvfb: Xvfb, selection: str = "clipboard", target: str | None = None, encoding: str = "utf-8") -> str:
    """What xclip reads (its bytes as they came: -t STRING gives Latin-1)."""
    args = ["xclip", "-o", "-selection", selection] + (["-t", target] if target else [])
    return subprocess.run(args, env=_env(xvfb), capture_output=True, timeout=30, check=True).stdout.decode(encoding)


def owner_of(xvfb: Xvfb, selection: str = "CLIPBOARD") -> int:
    from Xlib import display as xdisplay

    conn = xdisplay.Display(xvfb.name)
    try:
        owner = conn.get_selection_owner(conn.intern_atom(selection))
        return getattr(owner, "id", 0)
    finally:
        conn.close()


def xprop(xvfb: Xvfb, *args: str) -> str:
    return subprocess.run(["xprop", *args], env=_env(xvfb), capture_output=True, text=True, timeout=10).stdout


def xwininfo(xvfb: Xvfb, wid: int) -> dict[str, str]:
    out = subprocess.run(["xwininfo", "-id", str(wid)], env=_env(xvfb), capture_output=True, text=True, timeout=10).stdout
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def window_exists(xvfb: Xvfb, wid: int) -> bool:
    return subprocess.run(["xwininfo", "-id", str(wid)], env=_env(xvfb), capture_output=True, timeout=10).returncode == 0


def alive(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> bool:
    return proc.poll() is None


