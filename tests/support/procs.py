"""Processes and ports, for every test package: one gone/alive, one wait_gone, one free_port."""

from __future__ import annotations

import asyncio
import time

import psutil

from devsupport.net import free_port

__all__ = ["alive", "free_port", "gone", "wait_gone"]


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
