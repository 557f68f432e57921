"""A real Xvfb for tests: started on a free display number, stoppable and restartable in place."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time


class Xvfb:
    def __init__(self, width: int = 1280, height: int = 800, depth: int = 24) -> None:
        if shutil.which("Xvfb") is None:
            raise RuntimeError("Xvfb is not installed: run scripts/install-deps --test")
        self.width, self.height, self.depth = width, height, depth
        self.number: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        assert self.number is not None
        return f":{self.number}"

    def _args(self) -> list[str]:
        return ["-screen", "0", f"{self.width}x{self.height}x{self.depth}", "-nolisten", "tcp", "-ac", "-noreset"]

    def start(self) -> Xvfb:
        """Start on a free display number (Xvfb picks it and writes it to -displayfd)."""
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), *self._args()],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as reader:
            line = reader.readline().strip()
        if not line.isdigit():
            raise RuntimeError("Xvfb did not report a display number")
        self.number = int(line)
        return self

    def restart(self) -> None:
        """Start again on the same display number, after stop() or kill()."""
        assert self.number is not None and (self.proc is None or self.proc.poll() is not None)
        self.proc = subprocess.Popen(
            ["Xvfb", self.name, *self._args()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        socket_path = f"/tmp/.X11-unix/X{self.number}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Xvfb {self.name} exited with {self.proc.returncode} on restart")
            if os.path.exists(socket_path) and _accepts(socket_path):
                return
            time.sleep(0.02)
        raise RuntimeError(f"Xvfb {self.name} did not come back")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DISPLAY"] = self.name
        env.pop("XAUTHORITY", None)
        return env


def _accepts(path: str) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError:
            return False
    return True
