"""The tests' control plane: devsupport's (the benchmark drives one too)."""

from devsupport.plane import BOOT_TIMEOUT_S, REPO, Plane, Reply, make_key, request, wait_for

__all__ = ["BOOT_TIMEOUT_S", "REPO", "Plane", "Reply", "make_key", "request", "wait_for"]
