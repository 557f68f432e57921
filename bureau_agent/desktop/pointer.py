"""The pointer: motion, buttons 1-3 and 8/9 (back/forward), the wheel (4-7), drags in steps.

Pauses (between the clicks of a double click, between drag steps) are asyncio sleeps between
owner-thread calls, so the owner thread stays free for the display monitor and the loop for
everything else. Every press is released on every path (try/finally, and Injector.release_all).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

from bureau_agent.desktop.xtest import BUTTON_PRESS, BUTTON_RELEASE, MOTION, Event, Injector, PointerState

BUTTONS = {"left": 1, "middle": 2, "right": 3, "back": 8, "forward": 9}
WHEEL = {"up": 4, "down": 5, "left": 6, "right": 7}

Point = tuple[int, int]

DRAG_STEP_PX = 8  # about one motion event every 8 pixels, like a quick hand
DRAG_MIN_STEPS = 8  # enough for any toolkit's drag threshold to be crossed by real motion
DRAG_MAX_STEPS = 120


def drag_points(points: Sequence[Point]) -> list[Point]:
    """The motion steps from points[0] through each waypoint to points[-1] (start excluded).

    Steps are spread over the whole path in proportion to length, at least one per segment,
    and every waypoint is visited exactly.
    """
    segments = list(zip(points, points[1:]))
    lengths = [math.dist(a, b) for a, b in segments]
    total = sum(lengths)
    steps = min(DRAG_MAX_STEPS, max(DRAG_MIN_STEPS, math.ceil(total / DRAG_STEP_PX)))
    out: list[Point] = []
    for (a, b), length in zip(segments, lengths):
        n = max(1, round(steps * length / total)) if total else 1
        for i in range(1, n + 1):
            out.append((round(a[0] + (b[0] - a[0]) * i / n), round(a[1] + (b[1] - a[1]) * i / n)))
    return out


def _clicks(button: int, count: int) -> list[Event]:
    return [Event(BUTTON_PRESS, button), Event(BUTTON_RELEASE, button)] * count


class Pointer:
    def __init__(self, injector: Injector, *, click_interval_s: float) -> None:
        self.injector = injector
        self.click_interval_s = click_interval_s

    async def move(self, x: int, y: int) -> PointerState:
        state = await self.injector.send([Event(MOTION, x=x, y=y)])
        assert state is not None
        return state

    async def click(self, at: Point | None, button: str, clicks: int) -> PointerState:
        detail = BUTTONS[button]
        first = [Event(MOTION, x=at[0], y=at[1])] if at is not None else []
        try:
            if clicks > 1 and self.click_interval_s > 0:
                for i in range(clicks - 1):
                    await self.injector.send((first if i == 0 else []) + _clicks(detail, 1), sync=False)
                    await asyncio.sleep(self.click_interval_s)
                state = await self.injector.send(_clicks(detail, 1))  # the last click's round trip
            else:
                state = await self.injector.send(first + _clicks(detail, clicks))
            assert state is not None
            return state
        finally:
            if self.injector.holds(keys=False):  # a failed or cancelled call left a button down
                await asyncio.shield(self.injector.release_all(keys=False))

    async def scroll(self, at: Point | None, direction: str, amount: int) -> PointerState:
        first = [Event(MOTION, x=at[0], y=at[1])] if at is not None else []
        try:
            state = await self.injector.send(first + _clicks(WHEEL[direction], amount))
        finally:
            if self.injector.holds(keys=False):  # a failed or cancelled call left a button down
                await asyncio.shield(self.injector.release_all(keys=False))
        assert state is not None
        return state

    async def drag(self, points: Sequence[Point], button: str, duration_s: float) -> PointerState:
        detail = BUTTONS[button]
        steps = drag_points(points)
        pause = duration_s / len(steps)
        try:
            # Press where the drag starts, then real motion, step by step, to the end.
            press = [Event(MOTION, x=points[0][0], y=points[0][1]), Event(BUTTON_PRESS, detail)]
            motion = [Event(MOTION, x=x, y=y) for x, y in steps]
            release = [Event(BUTTON_RELEASE, detail)]
            if pause <= 0:  # no pacing asked: every step still goes out, in one owner-thread call
                state = await self.injector.send(press + motion + release)
            else:
                await self.injector.send(press, sync=True)
                for event in motion:
                    await asyncio.sleep(pause)
                    await self.injector.send([event], sync=False)
                state = await self.injector.send(release)
            assert state is not None
            return state
        finally:
            if self.injector.holds(keys=False):  # a failed or cancelled call left a button down
                await asyncio.shield(self.injector.release_all(keys=False))
