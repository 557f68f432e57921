"""Ending a helper X client that runs as a child process and stops when its stdin closes."""

from __future__ import annotations

import subprocess


def end_child(proc: subprocess.Popen[str] | subprocess.Popen[bytes] | None, timeout_s: float = 5.0) -> None:
    """Close its stdin (its cue to exit), wait for it, kill it if it does not go in time."""
    if proc is None or proc.poll() is not None:
        return
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
