"""The clipboard (ICCCM selections CLIPBOARD and PRIMARY): read any owner's text, own it ourselves.

Selections are a conversation: a reader asks the owner (ConvertSelection) and waits for the owner's
answer, an owner answers SelectionRequests whenever they come, large values go in INCR chunks, one
per PropertyNotify. None of that may block input, so it runs on a second X connection owned by a
thread of its own (selection.py's SelectionThread), with an unmapped window of its own. This
module is the asyncio face of it: every call is a command posted to that thread and a future.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
from typing import Any

from bureau_agent.desktop.selection import Content, SelectionThread
from bureau_agent.errors import ClipboardTimeout, DisplayUnavailable, InvalidRequest

log = logging.getLogger("bureau_agent.clipboard")

SELECTIONS = ("clipboard", "primary")


@dataclasses.dataclass(frozen=True)
class ClipboardSettings:
    max_bytes: int = 8 * 1024 * 1024
    timeout_ms: int = 2000

    @classmethod
    def from_settings(cls, settings: Any) -> ClipboardSettings:
        return cls(max_bytes=settings.clipboard_max_bytes, timeout_ms=settings.clipboard_timeout_ms)


class Clipboard:
    def __init__(self, display_name: str | None, settings: ClipboardSettings = ClipboardSettings()) -> None:
        self.display_name = display_name
        self.settings = settings
        self._thread = SelectionThread(display_name, max_bytes=settings.max_bytes, timeout_s=settings.timeout_ms / 1000)

    async def start(self) -> None:
        self._thread.start()

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._thread.stop)

    async def _run(self, future: concurrent.futures.Future[Any]) -> Any:
        # The thread bounds every step itself; this outer bound only guards against a thread bug.
        return await asyncio.wait_for(asyncio.wrap_future(future), self.settings.timeout_ms / 1000 * 20 + 5)

    async def get(self, selection: str = "clipboard") -> Content:
        return await self._run(self._thread.submit_read(selection))

    async def set(self, text: str, selection: str = "clipboard") -> int:
        """Own the selection with text; the length answered is in characters."""
        if not text:
            raise InvalidRequest("text must not be empty (the clipboard cannot be cleared, only replaced).", details={"field": "text"})
        data = text.encode("utf-8", "surrogatepass")
        if len(data) > self.settings.max_bytes:
            raise InvalidRequest(
                f"text is {len(data)} bytes of UTF-8, more than clipboard_max_bytes ({self.settings.max_bytes}).",
                details={"bytes": len(data), "maxBytes": self.settings.max_bytes},
            )
        await self._run(self._thread.submit_own(selection, text, data))
        return len(text)


__all__ = ["SELECTIONS", "Clipboard", "ClipboardSettings", "ClipboardTimeout", "Content", "DisplayUnavailable"]
