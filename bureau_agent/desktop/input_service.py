"""Input for one display: the checks of the API contract and one lock around every call.

The lock is held for a whole call, pauses included, so two concurrent calls never interleave
their events (two `type` calls type one text after the other). Names and coordinates are all
checked before the first event is sent, so a refused call has pressed nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from bureau_agent.config import Settings, default_settings
from bureau_agent.desktop.display import Display
from bureau_agent.desktop.keyboard import Keyboard
from bureau_agent.desktop.keynames import Key, check_typeable, keysym_for_name, parse_keys
from bureau_agent.desktop.pointer import Point, Pointer
from bureau_agent.desktop.xtest import Injector, PointerState
from bureau_agent.errors import InvalidRequest, OutOfBounds


_DEFAULTS = default_settings()


@dataclasses.dataclass(frozen=True)
class InputSettings:
    """The input_* settings, read through Settings' typed attributes (a misspelt name fails
    type-checking); the defaults are the registry's."""

    click_interval_ms: int = _DEFAULTS.input_click_interval_ms
    mapping_pause_ms: int = _DEFAULTS.input_mapping_pause_ms
    mapping_settle_ms: int = _DEFAULTS.input_mapping_settle_ms
    mapping_restore_ms: int = _DEFAULTS.input_mapping_restore_ms
    drag_duration_ms: int = _DEFAULTS.input_drag_duration_ms

    @classmethod
    def from_settings(cls, settings: Settings) -> InputSettings:
        return cls(
            click_interval_ms=settings.input_click_interval_ms,
            mapping_pause_ms=settings.input_mapping_pause_ms,
            mapping_settle_ms=settings.input_mapping_settle_ms,
            mapping_restore_ms=settings.input_mapping_restore_ms,
            drag_duration_ms=settings.input_drag_duration_ms,
        )


class InputService:
    def __init__(self, display: Display, settings: InputSettings | None = None) -> None:
        settings = settings or InputSettings()
        self.display = display
        self.settings = settings
        self.injector = Injector(display)
        self.lock = asyncio.Lock()
        self.keyboard = Keyboard(
            display,
            self.injector,
            self.lock,
            pause_s=settings.mapping_pause_ms / 1000,
            settle_s=settings.mapping_settle_ms / 1000,
            restore_delay_s=settings.mapping_restore_ms / 1000,
        )
        self.pointer = Pointer(self.injector, click_interval_s=settings.click_interval_ms / 1000)

    # -- checks ------------------------------------------------------------------------------

    def check_point(self, x: int, y: int, field: str) -> Point:
        state = self.display.state
        if state.connected and not (0 <= x < state.width and 0 <= y < state.height):
            raise OutOfBounds(
                f"{field} ({x}, {y}) is outside the screen of {state.width}x{state.height} pixels.",
                details={"field": field, "x": x, "y": y, "width": state.width, "height": state.height},
            )
        return (x, y)

    def optional_point(self, x: int | None, y: int | None, field: str = "x, y") -> Point | None:
        if x is None and y is None:
            return None
        if x is None or y is None:
            raise InvalidRequest("x and y must be given together, or neither.", details={"field": "y" if y is None else "x"})
        return self.check_point(x, y, field)

    @staticmethod
    def modifier_keysyms(names: Sequence[str]) -> list[int]:
        return [keysym_for_name(name) for name in names]

    # -- calls -------------------------------------------------------------------------------

    async def move(self, x: int, y: int) -> PointerState:
        point = self.check_point(x, y, "x, y")
        async with self.lock:
            return await self.pointer.move(*point)

    async def click(self, x: int | None, y: int | None, button: str, clicks: int, modifiers: Sequence[str]) -> PointerState:
        at = self.optional_point(x, y)
        mods = self.modifier_keysyms(modifiers)
        async with self.lock:
            async with self.keyboard.hold(mods):
                return await self.pointer.click(at, button, clicks)

    async def scroll(self, direction: str, amount: int, x: int | None, y: int | None, modifiers: Sequence[str]) -> PointerState:
        at = self.optional_point(x, y)
        mods = self.modifier_keysyms(modifiers)
        async with self.lock:
            async with self.keyboard.hold(mods):
                return await self.pointer.scroll(at, direction, amount)

    async def drag(
        self, start: Point, end: Point, path: Sequence[Point], button: str, modifiers: Sequence[str], duration_ms: int | None
    ) -> PointerState:
        points = [self.check_point(*start, "from")]
        points += [self.check_point(*p, f"path[{i}]") for i, p in enumerate(path)]
        points.append(self.check_point(*end, "to"))
        mods = self.modifier_keysyms(modifiers)
        duration_s = (self.settings.drag_duration_ms if duration_ms is None else duration_ms) / 1000
        async with self.lock:
            async with self.keyboard.hold(mods):
                return await self.pointer.drag(points, button, duration_s)

    async def type(self, text: str, delay_ms: int) -> int:
        check_typeable(text)
        async with self.lock:
            return await self.keyboard.type_text(text, delay_ms / 1000)

    async def key(self, spec: str, repeat: int) -> str:
        combos: list[list[Key]] = parse_keys(spec)
        async with self.lock:
            await self.keyboard.press([[k.keysym for k in combo] for combo in combos], repeat)
        return spec

    async def close(self) -> None:
        """Release everything held and restore the keyboard map (on shutdown)."""
        try:
            await asyncio.wait_for(self.lock.acquire(), 5)
        except asyncio.TimeoutError:
            # A call still stuck: clean up anyway, the map and keys matter more.
            await self.keyboard.cleanup(defer=False)
            return
        try:  # holding the lock, so a deferred restore cannot run halfway alongside
            await self.keyboard.cleanup(defer=False)
        finally:
            self.lock.release()
