"""A real Xvfb for the tests and the benchmark: started on a free display number, stoppable and
restartable in place."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import time

START_TIMEOUT_S = 20.0


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

    def start(self, timeout: float = START_TIMEOUT_S) -> Xvfb:
        """Start on a free display number (Xvfb picks it and writes it to -displayfd).

        An Xvfb that reports no number within timeout seconds (stuck, or gone) is killed and
        RuntimeError raised: a test session must not hang on it nor leave it running.
        """
        read_fd, write_fd = os.pipe()
        try:
            try:
                self.proc = subprocess.Popen(
                    ["Xvfb", "-displayfd", str(write_fd), *self._args()],
                    pass_fds=(write_fd,),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            finally:
                os.close(write_fd)  # ours, so that the pipe ends when Xvfb exits
            self.number = _read_number(read_fd, timeout)
        except BaseException:
            self.kill()
            raise
        finally:
            os.close(read_fd)
        return self

    def hold_number(self) -> None:
        """After kill(): keep the display number from another Xvfb on this machine (other test
        sessions start theirs with -displayfd, which takes the first free number), so that
        nothing answers on it until restart(). The lock file names a live process: this one."""
        assert self.number is not None and (self.proc is None or self.proc.poll() is not None)
        with open(f"/tmp/.X{self.number}-lock", "w") as lock:
            lock.write(f"{os.getpid():>10}\n")

    def restart(self) -> None:
        """Start again on the same display number, after stop() or kill()."""
        assert self.number is not None and (self.proc is None or self.proc.poll() is not None)
        lock = f"/tmp/.X{self.number}-lock"
        try:
            with open(lock) as f:
                if f.read().strip() == str(os.getpid()):  # ours, from hold_number()
                    os.unlink(lock)
        except OSError:
            pass
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


def _read_number(fd: int, timeout: float) -> int:
    """The display number Xvfb writes to -displayfd ("12\n"), waiting at most timeout seconds."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"Xvfb reported no display number within {timeout:g} s")
        if not select.select([fd], [], [], remaining)[0]:
            continue
        chunk = os.read(fd, 64)
        if not chunk:  # Xvfb exited (or closed the pipe) without a full line
            break
        data += chunk
    if not data.strip().isdigit():
        raise RuntimeError(f"Xvfb did not report a display number (it wrote {data!r})")
    return int(data)


def _accepts(path: str) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError:
            return False
    return True
