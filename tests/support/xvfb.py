"""The tests' Xvfb: devsupport's (the benchmark stages its scene on it too)."""

from devsupport.xvfb import Xvfb

__all__ = ["Xvfb"]
