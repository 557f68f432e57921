"""The accessibility service on an event loop of its own thread.

Reading a 1000-node tree is about 6000 D-Bus calls: some 75 ms of Python spread over many
callbacks, in slices of up to ~20 ms (a level of nodes parsed, a socket's worth of replies
unmarshalled). On the agent's loop a click sent meanwhile would wait behind those slices. On a
loop of its own, the interpreter switches threads at least every 5 ms (sys.getswitchinterval),
so the agent's loop keeps answering. X reads still go through the display owner, called on the
agent's loop (Display is not thread-safe).

The thread, and the service with dbus-fast, start at the first request: an agent that is never
asked for a tree does not carry them (about 3 MiB at start, measured).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bureau_agent.accessibility.query import Query

if TYPE_CHECKING:
    from bureau_agent.accessibility.bus import SessionEnv
    from bureau_agent.accessibility.service import Accessibility, Result

T = TypeVar("T")


class _DisplayOnMainLoop:
    """What Accessibility needs of the Display, from the other thread: calls hop to the agent's
    loop (where the Display lives); the screen size is a plain read."""

    def __init__(self, display: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._display = display
        self._loop = loop

    @property
    def state(self) -> Any:
        return self._display.state

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        future = asyncio.run_coroutine_threadsafe(self._display.call(fn, *args), self._loop)
        return await asyncio.wrap_future(future)


class ThreadedAccessibility:
    def __init__(self, display: Any, session_env: SessionEnv, timeout_s: float) -> None:
        self._display = display
        self._session_env = session_env
        self._timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="accessibility", daemon=True)
        self._service: Accessibility | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Nothing yet: see _started()."""

    async def _started(self) -> Accessibility:
        async with self._starting:
            if self._service is None:
                from bureau_agent.accessibility.service import Accessibility

                main = asyncio.get_running_loop()
                self._thread.start()

                async def create() -> Accessibility:  # its locks and connections belong to its loop
                    return Accessibility(_DisplayOnMainLoop(self._display, main), self._session_env, self._timeout_s)

                self._service = await self._run(create)
            return self._service

    async def _run(self, make: Callable[[], Awaitable[T]]) -> T:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(make(), self._loop)  # type: ignore[arg-type]
        return await asyncio.wrap_future(future)  # a cancelled request cancels the read there too

    async def tree(self, query: Query) -> Result:
        service = await self._started()
        return await self._run(lambda: service.tree(query))

    async def check(self) -> tuple[bool, str]:
        service = await self._started()
        return await self._run(service.check)

    async def close(self) -> None:
        if self._service is not None:
            service, self._service = self._service, None
            await self._run(service.close)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._loop.close()
