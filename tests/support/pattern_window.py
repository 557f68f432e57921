"""An X client for tests: a window at a fixed place painting a known pattern, alive while captured.

A program that paints and exits leaves nothing to capture (a black frame), so this one stays
mapped until its stdin closes. Run it through PatternWindow:

    with PatternWindow(display, x, y, w, h, seed=1) as win:   # returns once painted
        ... capture; compare with pattern(w, h, 1) ...
        win.paint(2)                                          # repaint; returns once done

Protocol on stdin/stdout: it prints "ready" once painted (the pattern, or the `image` file), then for each line "N" repaints with
seed N and prints "painted N". The window is override-redirect, so no window manager moves it.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading

from devsupport.child import end_child

ROWS_PER_REQUEST = 32  # keep each PutImage well under the core protocol's request size limit


def pattern(width: int, height: int, seed: int) -> bytes:
    """Packed RGB bytes: pseudo-random pixels, so any shift, swap or lossy step shows."""
    return random.Random(seed).randbytes(width * height * 3)


def warp_pointer(display: str, x: int, y: int) -> None:
    """Move the real pointer with an XTest motion event, as input would."""
    from Xlib import X
    from Xlib import display as xdisplay
    from Xlib.ext import xtest

    conn = xdisplay.Display(display)
    try:
        xtest.fake_input(conn, X.MotionNotify, x=x, y=y)
        conn.sync()
    finally:
        conn.close()


def _to_bgrx(rgb: bytes) -> bytes:
    out = bytearray(len(rgb) // 3 * 4)
    out[0::4], out[1::4], out[2::4] = rgb[2::3], rgb[1::3], rgb[0::3]
    return bytes(out)


def _serve(display_name: str, x: int, y: int, width: int, height: int, seed: int, image: str | None = None) -> None:
    from Xlib import X
    from Xlib import display as xdisplay

    conn = xdisplay.Display(display_name)
    screen = conn.screen()
    win = screen.root.create_window(
        x, y, width, height, 0, screen.root_depth,
        override_redirect=True, background_pixel=screen.black_pixel,
        event_mask=X.ExposureMask | X.StructureNotifyMask,
    )
    gc = win.create_gc()
    pixels = b""

    def paint(new_seed: int) -> None:
        nonlocal pixels
        pixels = _to_bgrx(pattern(width, height, new_seed))
        redraw()

    def paint_image(path: str) -> None:
        nonlocal pixels
        from PIL import Image

        pixels = _to_bgrx(Image.open(path).convert("RGB").resize((width, height)).tobytes())
        redraw()

    def redraw() -> None:
        stride = width * 4
        for top in range(0, height, ROWS_PER_REQUEST):
            rows = min(ROWS_PER_REQUEST, height - top)
            chunk = pixels[top * stride : (top + rows) * stride]
            win.put_image(gc, 0, top, width, rows, X.ZPixmap, screen.root_depth, 0, chunk)
        conn.sync()

    win.map()
    while conn.next_event().type != X.MapNotify:
        pass
    if image:
        paint_image(image)
    else:
        paint(seed)
    print("ready", flush=True)

    # Expose events arrive on the connection, commands on stdin: serve both from one thread by
    # polling the X socket between stdin lines.
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    sel.register(conn.fileno(), selectors.EVENT_READ, "x")
    while True:
        for key, _ in sel.select():
            if key.data == "x":
                while conn.pending_events():
                    if conn.next_event().type == X.Expose:
                        redraw()
            else:
                line = sys.stdin.readline()
                if not line:
                    return
                paint(int(line))
                print(f"painted {int(line)}", flush=True)


class PatternWindow:
    def __init__(
        self, display: str, x: int, y: int, width: int, height: int, seed: int = 1, image: str | None = None
    ) -> None:
        """image: a picture file to show instead of the first pattern (benchmarks use it)."""
        self.display, self.x, self.y, self.width, self.height = display, x, y, width, height
        self.seed, self.image = seed, image
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> PatternWindow:
        env = dict(os.environ, DISPLAY=self.display)
        env.pop("XAUTHORITY", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.pattern_window", self.display,
             *map(str, (self.x, self.y, self.width, self.height, self.seed)), *([self.image] if self.image else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        )
        self._expect("ready")
        return self

    def paint(self, seed: int) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.seed = seed
        self.proc.stdin.write(f"{seed}\n")
        self.proc.stdin.flush()
        self._expect(f"painted {seed}")

    def rgb(self) -> bytes:
        return pattern(self.width, self.height, self.seed)

    def _expect(self, line: str, timeout_s: float = 10.0) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(self.proc.stdout.readline().strip()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout_s)
        if got != [line]:
            self.close()
            raise RuntimeError(f"pattern window: expected {line!r}, got {got!r}")

    def close(self) -> None:
        end_child(self.proc)

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    name, *numbers = sys.argv[1:7]
    _serve(name, *map(int, numbers), *sys.argv[7:8])  # type: ignore[arg-type]
