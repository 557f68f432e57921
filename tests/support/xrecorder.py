"""Real X clients that witness input in tests.

- `python -m tests.support.xrecorder DISPLAY` opens a window over the whole screen, takes the
  keyboard focus, and prints one JSON line per ButtonPress/Release, MotionNotify and
  KeyPress/Release (with the keysym that the key means under the event's modifier state, looked
  up in the live map like any client). `Recorder` runs it and collects its lines.
- `XtermSink` runs a stock xterm whose shell does `cat > FILE`: the bytes a user would get.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from devsupport.xwindows import find_window  # noqa: F401 - also for this module's importers

EVENT_NAMES = {2: "KeyPress", 3: "KeyRelease", 4: "ButtonPress", 5: "ButtonRelease", 6: "MotionNotify"}


def _keysym(conn: Any, keycode: int, state: int) -> int:
    # Core-map columns for group 1: level 1 and 2 (Shift), 3 and 4 (Mod5 = ISO_Level3_Shift).
    index = (1 if state & 1 else 0) + (4 if state & 0x80 else 0)
    keysym = conn.keycode_to_keysym(keycode, index)
    if keysym == 0 and index:
        keysym = conn.keycode_to_keysym(keycode, index - 1 if index in (1, 5) else 0)
    return keysym


def main(display_name: str) -> None:
    from Xlib import X, display

    conn = display.Display(display_name)
    screen = conn.screen()
    window = screen.root.create_window(
        0, 0, screen.width_in_pixels, screen.height_in_pixels, 0, screen.root_depth,
        override_redirect=True,
        background_pixel=screen.white_pixel,
        event_mask=X.KeyPressMask | X.KeyReleaseMask | X.ButtonPressMask | X.ButtonReleaseMask
        | X.PointerMotionMask | X.StructureNotifyMask,
    )
    window.map()
    while conn.next_event().type != X.MapNotify:
        pass
    window.set_input_focus(X.RevertToParent, X.CurrentTime)
    conn.sync()
    print(json.dumps({"type": "ready"}), flush=True)
    while True:
        ev = conn.next_event()
        if ev.type == X.MappingNotify:
            conn.refresh_keyboard_mapping(ev)
            continue
        name = EVENT_NAMES.get(ev.type)
        if name is None:
            continue
        line: dict[str, Any] = {"type": name, "x": ev.root_x, "y": ev.root_y, "state": ev.state}
        if ev.type in (X.KeyPress, X.KeyRelease):
            line["keycode"] = ev.detail
            line["keysym"] = _keysym(conn, ev.detail, ev.state)
        elif ev.type in (X.ButtonPress, X.ButtonRelease):
            line["button"] = ev.detail
        print(json.dumps(line), flush=True)


class Recorder:
    """The recorder client as a subprocess; `events` grows as it reports."""

    def __init__(self, display_name: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._ready = threading.Event()
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.xrecorder", display_name],
            cwd=root, stdout=subprocess.PIPE, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(10):
            self.stop()
            raise RuntimeError("the X recorder did not start")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            if event["type"] == "ready":
                self._ready.set()
            else:
                self.events.append(event)

    def clear(self) -> None:
        self.events.clear()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0) -> list[dict[str, Any]]:
        """The events, once predicate(events) holds (AssertionError with them after timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(list(self.events)):
                return list(self.events)
            time.sleep(0.01)
        raise AssertionError(f"events never satisfied the condition: {self.events[-40:]}")

    def of(self, *types: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] in types]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


class XtermSink:
    """A stock xterm (UTF-8) running `cat > FILE` with echo off and no line editing."""

    def __init__(self, display_name: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="xterm-sink-")
        self.path = os.path.join(self.dir.name, "typed")
        self.title = f"sink-{os.getpid()}-{time.monotonic_ns()}"
        open(self.path, "wb").close()
        env = dict(os.environ, DISPLAY=display_name, LANG="C.UTF-8", LC_ALL="C.UTF-8")
        env.pop("XAUTHORITY", None)
        ready = os.path.join(self.dir.name, "ready")
        script = f"stty -icanon -echo; touch {ready}; exec cat > {self.path}"
        self.proc = subprocess.Popen(
            ["xterm", "-u8", "-T", self.title, "-geometry", "100x30+0+0", "-e", "sh", "-c", script],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.window = self._focus(display_name, ready)

    def _focus(self, display_name: str, ready: str) -> int:
        from Xlib import X, display

        conn = display.Display(display_name)
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                window = find_window(conn.screen().root, self.title)
                if window is not None and os.path.exists(ready):
                    attrs = window.get_attributes()
                    if attrs.map_state == X.IsViewable:
                        window.set_input_focus(X.RevertToPointerRoot, X.CurrentTime)
                        conn.sync()
                        return window.id
                time.sleep(0.05)
        finally:
            conn.close()
        self.stop()
        raise RuntimeError("xterm did not come up")

    def read(self) -> bytes:
        with open(self.path, "rb") as fh:
            return fh.read()

    def wait_for(self, expected: bytes, timeout: float = 10.0) -> bytes:
        """The file's bytes once it is at least as long as expected (or after timeout)."""
        deadline = time.monotonic() + timeout
        data = self.read()
        while len(data) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.02)
            data = self.read()
        time.sleep(0.1)  # anything extra (a doubled character) arrives too
        return self.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.dir.cleanup()


if __name__ == "__main__":
    main(sys.argv[1])
