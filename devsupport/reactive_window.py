"""An X client that reacts to clicks late, or never stops animating: what act's settle is for
(the tests' and the benchmark's).

    with ReactiveWindow(display, x, y, w, h, delay_ms=300) as win:   # returns once painted
        ... click inside it; delay_ms later it fills itself with color(win.clicks) ...
    with ReactiveWindow(display, x, y, w, h, animate_ms=16):          # repaints forever

The window starts as color(0); each ButtonPress number k (1, 2, …) schedules a fill with
color(k) delay_ms later. With animate_ms, it also refills itself every animate_ms with the next
color, clicked or not. It prints "ready" once mapped and painted, "clicked k" on each press and
"painted k" after each click's fill; it exits when its stdin closes. Override-redirect, so no
window manager moves it.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import threading
import time

from devsupport.child import end_child

COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40), (40, 220, 220), (220, 40, 220)]


def color(k: int) -> tuple[int, int, int]:
    return COLORS[k % len(COLORS)]


def _serve(display_name: str, x: int, y: int, width: int, height: int, delay_ms: int, animate_ms: int) -> None:
    from Xlib import X
    from Xlib import display as xdisplay

    conn = xdisplay.Display(display_name)
    screen = conn.screen()
    win = screen.root.create_window(
        x, y, width, height, 0, screen.root_depth,
        override_redirect=True, background_pixel=screen.black_pixel,
        event_mask=X.ExposureMask | X.StructureNotifyMask | X.ButtonPressMask,
    )  # fmt: skip
    gc = win.create_gc()
    shown = 0

    def fill(k: int) -> None:
        nonlocal shown
        shown = k
        r, g, b = color(k)
        gc.change(foreground=(r << 16) | (g << 8) | b)
        win.fill_rectangle(gc, 0, 0, width, height)
        conn.sync()

    win.map()
    while conn.next_event().type != X.Expose:  # mapped and exposed: the fill below is the last
        pass
    fill(0)
    while conn.pending_events():  # the rest of the map's events: nothing to redraw after "ready"
        conn.next_event()
    print("ready", flush=True)

    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    sel.register(conn.fileno(), selectors.EVENT_READ, "x")
    clicks = 0
    pending: list[tuple[float, int]] = []  # (when, k) fills to do
    next_frame = time.monotonic() + animate_ms / 1000 if animate_ms else None
    frame = 0
    while True:
        due = [t for t, _ in pending] + ([next_frame] if next_frame is not None else [])
        timeout = max(0.0, min(due) - time.monotonic()) if due else None
        # Events python-xlib has already read leave the socket quiet: select only when none.
        ready = sel.select(timeout) if not conn.pending_events() else []
        for key, _ in ready:
            if key.data == "stdin":
                if not sys.stdin.readline():
                    return
        while conn.pending_events():
            event = conn.next_event()
            if event.type == X.ButtonPress:
                clicks += 1
                print(f"clicked {clicks}", flush=True)
                pending.append((time.monotonic() + delay_ms / 1000, clicks))
            elif event.type == X.Expose:
                fill(shown)
        now = time.monotonic()
        for item in [p for p in pending if p[0] <= now]:
            pending.remove(item)
            fill(item[1])
            print(f"painted {item[1]}", flush=True)
        if next_frame is not None and now >= next_frame:
            frame += 1
            fill(frame)
            next_frame = now + animate_ms / 1000


class ReactiveWindow:
    def __init__(
        self, display: str, x: int, y: int, width: int, height: int, *, delay_ms: int = 0, animate_ms: int = 0,
        xauthority: str | None = None,
    ) -> None:
        """xauthority: the display's cookie file, for a server that wants one (local desktops)."""
        self.display, self.x, self.y, self.width, self.height = display, x, y, width, height
        self.xauthority = xauthority
        self.delay_ms, self.animate_ms = delay_ms, animate_ms
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> ReactiveWindow:
        env = dict(os.environ, DISPLAY=self.display)
        env.pop("XAUTHORITY", None)
        if self.xauthority:
            env["XAUTHORITY"] = self.xauthority
        args = (self.x, self.y, self.width, self.height, self.delay_ms, self.animate_ms)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devsupport.reactive_window", self.display, *map(str, args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.wait_for("ready")
        except BaseException:
            self.close()
            raise
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.strip())
                self._changed.notify_all()

    def wait_for(self, line: str, timeout_s: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: line in self.lines, timeout_s):
                raise AssertionError(f"reactive window: no {line!r} within {timeout_s} s; saw {self.lines[-10:]}")

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    def close(self) -> None:
        end_child(self.proc)

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    name, *numbers = sys.argv[1:8]
    _serve(name, *map(int, numbers))  # type: ignore[arg-type]
