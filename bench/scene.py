"""One Xvfb at 1920×1080 showing a realistic busy desktop, for the benchmark.

The screen: a full-screen background window (a photo-like region, UI-like panels, rendered text)
painted from a server-side pixmap, so the X server repaints it without the client's help; an
xterm showing a static listing; an xterm running `cat >> FILE` that typed text lands in. The
screen is static once set up (no clock, no blinking cursor) so the 304 path can be measured.

python-xlib is used from the benchmark's main thread only; this connection stays open for the
whole run (the background window lives as long as it does).
"""

from __future__ import annotations

import random
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter
from Xlib import X, display as xdisplay
from Xlib.error import XError

from devsupport.xwindows import find_window
from devsupport.xvfb import Xvfb

WIDTH, HEIGHT = 1920, 1080
PHOTO_BOX = (0, 0, 1280, 720)  # where clicks, drags and scrolls land: nothing there reacts
PERTURB_X = 1240  # perturb() draws in x 1240..1281: right of the `cat` xterm, left of the listing
TYPE_TITLE = "bench-type"
TEXT_TITLE = "bench-text"
MAX_REQUEST_BYTES = 200_000  # below the 256 KiB core request limit (no BIG-REQUESTS in python-xlib)


def scene_image(width: int = WIDTH, height: int = HEIGHT, seed: int = 1) -> Image.Image:
    """A deterministic busy frame: smooth colour fields with grain (compresses like a photo),
    panels with rendered text and lines (like application windows)."""
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), (236, 236, 236))
    pw, ph = PHOTO_BOX[2], PHOTO_BOX[3]
    blobs = Image.frombytes("RGB", (32, 18), rng.randbytes(32 * 18 * 3)).resize((pw, ph), Image.BICUBIC)
    blobs = blobs.filter(ImageFilter.GaussianBlur(6))
    grain = Image.frombytes("RGB", (pw, ph), rng.randbytes(pw * ph * 3))
    img.paste(Image.blend(blobs, grain, 0.18), PHOTO_BOX[:2])
    draw = ImageDraw.Draw(img)
    # A document-like panel under the photo and a sidebar of "icons".
    draw.rectangle((0, 720, 1280, height), fill=(255, 255, 255))
    words = "the quick brown fox jumps over lazy dog agent desktop click type screen frame".split()
    for row, y in enumerate(range(830, height - 12, 14)):
        line = " ".join(rng.choice(words) for _ in range(28))
        draw.text((12, y), f"{row:03d}  {line}", fill=(20, 20, 20))
    for i in range(40):
        x0, y0 = 1290 + (i % 4) * 155, 740 + (i // 4) * 33
        draw.rectangle((x0, y0, x0 + 145, y0 + 26), fill=tuple(rng.randrange(256) for _ in range(3)))
        draw.text((x0 + 6, y0 + 8), f"item {i}", fill=(0, 0, 0))
    return img


class Scene:
    """Start with Scene.start(); stop() ends Xvfb and every client started here."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.xvfb: Xvfb | None = None
        self.procs: list[subprocess.Popen[bytes]] = []
        self.conn: xdisplay.Display | None = None
        self.background = None
        self.type_file = workdir / "typed.txt"
        self.type_window = None
        self.text_window = None
        self.keymap: list[list[int]] = []
        self._gc = None
        self._tick = 0

    @property
    def name(self) -> str:
        assert self.xvfb is not None
        return self.xvfb.name

    def env(self) -> dict[str, str]:
        """Xvfb's client environment, without the agent's settings, in a UTF-8 locale."""
        assert self.xvfb is not None
        env = {k: v for k, v in self.xvfb.env().items() if not k.startswith("BUREAU_AGENT_")}
        env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8")
        return env

    @classmethod
    def start(cls, workdir: Path) -> Scene:
        scene = cls(workdir)
        try:
            scene._start_xvfb()
            scene.keymap = scene.read_keymap()
            scene._show_background()
            scene._start_xterms()
        except BaseException:
            scene.stop()
            raise
        return scene

    def _start_xvfb(self) -> None:
        self.xvfb = Xvfb(WIDTH, HEIGHT).start()  # the tests' helper: a free display via -displayfd
        assert self.xvfb.proc is not None
        self.procs.append(self.xvfb.proc)  # stopped with the scene's other processes
        self.conn = xdisplay.Display(self.name)

    def _show_background(self) -> None:
        assert self.conn is not None
        screen = self.conn.screen()
        depth = screen.root_depth
        pixmap = screen.root.create_pixmap(WIDTH, HEIGHT, depth)
        gc = pixmap.create_gc()
        data = scene_image().tobytes("raw", "BGRX")
        stride = WIDTH * 4
        rows = max(1, MAX_REQUEST_BYTES // stride)
        for y in range(0, HEIGHT, rows):
            h = min(rows, HEIGHT - y)
            pixmap.put_image(gc, 0, y, WIDTH, h, X.ZPixmap, depth, 0, data[y * stride : (y + h) * stride])
        self.background = screen.root.create_window(
            0, 0, WIDTH, HEIGHT, 0, depth, X.InputOutput, X.CopyFromParent, background_pixmap=pixmap, override_redirect=True
        )
        self.background.set_wm_name("bench-background")
        self.background.map()
        self.conn.sync()

    def _start_xterms(self) -> None:
        self.type_file.write_bytes(b"")
        common = ["xterm", "+sb", "-bg", "white", "-fg", "black", "-bc", "-xrm", "*cursorBlink: false", "-u8"]
        listing = "ls -l /usr/bin | head -n 70; exec sleep infinity"
        self._spawn([*common, "-title", TEXT_TITLE, "-geometry", "100x52+1290+0", "-e", "sh", "-c", listing])
        # -icanon: bytes reach cat at once, so a line left unfinished cannot leak into the next row
        catter = f"stty -icanon -echoctl; exec cat >> {shlex.quote(str(self.type_file))}"
        self._spawn([*common, "-title", TYPE_TITLE, "-geometry", "200x7+0+722", "-e", "sh", "-c", catter])
        self.text_window = self._wait_window(TEXT_TITLE)
        self.type_window = self._wait_window(TYPE_TITLE)
        time.sleep(0.5)  # let the listing finish painting; the screen must be static afterwards

    def _spawn(self, argv: list[str]) -> None:
        self.procs.append(subprocess.Popen(argv, env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def _wait_window(self, title: str, timeout: float = 10.0):  # noqa: ANN202 - Xlib window
        assert self.conn is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = find_window(self.conn.screen().root, title)
            if found is not None and found.get_attributes().map_state == X.IsViewable:
                return found
            time.sleep(0.05)
        raise RuntimeError(f"window {title!r} did not appear on {self.name}")

    def server_version(self) -> str:
        """Like "X.Org X Server 1.21.1.7" (Xvfb has no -version flag; the server says it)."""
        assert self.conn is not None
        release = self.conn.display.info.release_number  # X.Org encodes 1.21.1.7 as 12101007
        major, minor, patch, sub = release // 10_000_000, release // 100_000 % 100, release // 1000 % 100, release % 1000
        return f"{self.conn.display.info.vendor} X Server {major}.{minor}.{patch}.{sub}"

    def perturb(self) -> None:
        """Change a full-height column of pixels, so the next capture is a new frame whose every
        row band differs (nothing cached can answer it). The column sits between the photo and
        the listing, clear of both xterms; sync: the server has drawn it before we return."""
        assert self.conn is not None and self.background is not None
        self._tick += 1
        if self._gc is None:
            self._gc = self.background.create_gc()
        self._gc.change(foreground=(self._tick * 2654435761) & 0xFFFFFF)
        self.background.fill_rectangle(self._gc, PERTURB_X + self._tick % 40, 0, 2, HEIGHT)
        self.conn.sync()

    def read_keymap(self) -> list[list[int]]:
        assert self.conn is not None
        first, last = self.conn.display.info.min_keycode, self.conn.display.info.max_keycode
        return [list(row) for row in self.conn.get_keyboard_mapping(first, last - first + 1)]

    def restore_keymap(self, grace_s: float = 3.0) -> bool:
        """Put back the map Xvfb started with; True when it was still changed after grace_s
        (a typist may restore its borrowed keycodes a little after answering). Trailing
        NoSymbols do not count: a wider ChangeKeyboardMapping pads every row with them."""
        assert self.conn is not None
        deadline = time.monotonic() + grace_s
        while _trimmed(self.read_keymap()) != _trimmed(self.keymap):
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        else:
            return False
        self.conn.change_keyboard_mapping(self.conn.display.info.min_keycode, self.keymap)
        self.conn.sync()
        time.sleep(0.1)  # clients apply MappingNotify
        return True

    def focus_typing(self) -> None:
        """Keyboard focus to the `cat` xterm (no window manager: focus is set explicitly)."""
        self._focus(self.type_window)

    def focus_sink(self) -> None:
        """Keyboard focus to the background window, which ignores keys (for key combinations)."""
        self._focus(self.background)

    def _focus(self, window) -> None:  # noqa: ANN001 - Xlib window
        assert self.conn is not None and window is not None
        window.set_input_focus(X.RevertToPointerRoot, X.CurrentTime)
        self.conn.sync()

    def stop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except (XError, OSError):
                pass
            self.conn = None
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def _trimmed(keymap: list[list[int]]) -> list[list[int]]:
    out = []
    for row in keymap:
        end = len(row)
        while end and row[end - 1] == 0:
            end -= 1
        out.append(row[:end])
    return out


def missing_tools() -> list[str]:
    return [t for t in ("Xvfb", "xterm", "xdotool", "scrot", "import") if shutil.which(t) is None]


def make_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="bureau-bench-"))
