"""The tests' reactive window: devsupport's (the benchmark's step rows use it too)."""

from devsupport.reactive_window import COLORS, ReactiveWindow, color

__all__ = ["COLORS", "ReactiveWindow", "color"]
