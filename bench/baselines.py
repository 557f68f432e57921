"""The same actions done the way other desktop-agent servers do them today: one `xdotool`
process per action (default options: `type` waits 12 ms a character, `click --repeat` 100 ms
between clicks), `scrot` or ImageMagick `import` writing a file, Pillow's default PNG save of an
mss grab, a plain subprocess for commands. Each function does one action, synchronously."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import mss
from PIL import Image


class Baselines:
    def __init__(self, display: str, env: dict[str, str], workdir: Path) -> None:
        self.display = display
        self.env = env
        self.workdir = workdir
        self._sct: mss.base.MSSBase | None = None

    def _run(self, *argv: str) -> None:
        subprocess.run(argv, env=self.env, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # --- input: an xdotool process per action -------------------------------------------------
    def click(self, x: int, y: int) -> None:
        self._run("xdotool", "mousemove", str(x), str(y), "click", "1")

    def move(self, x: int, y: int) -> None:
        self._run("xdotool", "mousemove", str(x), str(y))

    def key(self, combo: str) -> None:
        self._run("xdotool", "key", combo)

    def type(self, text: str) -> None:
        self._run("xdotool", "type", "--", text)

    def drag(self, start: tuple[int, int], end: tuple[int, int]) -> None:
        self._run("xdotool", "mousemove", str(start[0]), str(start[1]), "mousedown", "1",
                  "mousemove", str(end[0]), str(end[1]), "mouseup", "1")  # fmt: skip

    def scroll(self, x: int, y: int, clicks: int) -> None:
        self._run("xdotool", "mousemove", str(x), str(y), "click", "--repeat", str(clicks), "5")

    # --- screenshots ----------------------------------------------------------------------------
    def scrot_png(self) -> None:
        self._run("scrot", "--overwrite", str(self.workdir / "scrot.png"))

    def scrot_jpeg(self, quality: int) -> None:
        self._run("scrot", "--overwrite", "--quality", str(quality), str(self.workdir / "scrot.jpg"))

    def import_png(self) -> None:
        self._run("import", "-window", "root", str(self.workdir / "import.png"))

    def pillow_png(self) -> bytes:
        """mss grab (shared memory) then Pillow's default PNG save, as a Python server would."""
        if self._sct is None:
            self._sct = mss.MSS(display=self.display)
        shot = self._sct.grab(self._sct.monitors[1])
        out = io.BytesIO()
        Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX").save(out, "PNG")
        return out.getvalue()

    # --- commands ---------------------------------------------------------------------------------
    def exec_true(self) -> None:
        self._run("true")

    def bash(self, script: str) -> None:
        self._run("bash", "-c", script)

    def close(self) -> None:
        if self._sct is not None:
            self._sct.close()
            self._sct = None
