"""Processes and ports, for every test package: one gone/alive, one wait_gone, one free_port."""

from __future__ import annotations

import asyncio
import socket
import time

import psutil


def gone(pid: int) -> bool:
    """True once pid has exited (a zombie, exited but not reaped, counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def alive(pid: int) -> bool:
    return not gone(pid)


async def wait_gone(pids: list[int], within_s: float = 5.0) -> bool:
    """True once every pid is gone, False if one is still there after within_s."""
    deadline = time.monotonic() + within_s
    while not all(gone(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on host (a test binding it later may, rarely, lose a race)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
