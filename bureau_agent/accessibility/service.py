"""The accessibility tree of the desktop, a window or the active window, bounded in time.

Applications are read in parallel. Each one's reading is bounded by what is left of the
request's time (`accessibility_timeout_ms`): most of it for the walk, the rest for the extents
and actions of the nodes that are answered. An application that does not answer in time (hung,
stopped, busy) is left out and named in `skipped`; the request itself never waits longer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from bureau_agent.accessibility import tree
from bureau_agent.accessibility.query import Query
from bureau_agent.accessibility.bus import CONNECT_TIMEOUT_S, BusFinder, SessionEnv, connect, read_root_property
from bureau_agent.accessibility.walk import ROOT_PATH, AppReader, Raw, Ref
from bureau_agent.accessibility.xwindow import WindowInfo, active_window, window_info
from bureau_agent.errors import AccessibilityUnavailable, NotFound

log = logging.getLogger("bureau_agent.accessibility")

REGISTRY: Ref = ("org.a11y.atspi.Registry", ROOT_PATH)
WALK_SHARE = 0.75  # of the time bound, for reading the trees; the rest for extents and actions
SCAN_FACTOR = 10  # interactive=true reads up to this many times maxNodes before filtering
MAX_SCAN_NODES = 20_000


@dataclasses.dataclass
class Result:
    root: Raw
    node_count: int
    truncated: bool
    duration_ms: float
    skipped: list[dict[str, Any]]
    window: int | None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "root": tree.to_json(self.root), "nodeCount": self.node_count, "truncated": self.truncated,
            "durationMs": round(self.duration_ms, 2), "skipped": self.skipped, "window": self.window,
        }
        if self.note:
            out["note"] = self.note
        return out

    def to_text(self) -> str:
        text = tree.to_text(self.root)
        if self.truncated:
            text += "# truncated: limits reached (maxNodes/maxDepth); '… N more' marks what was left out\n"
        for app in self.skipped:
            text += f"# skipped: {app['name']} (pid {app['pid']}): {app['reason']}\n"
        if self.note:
            text += f"# {self.note}\n"
        return text


@dataclasses.dataclass
class App:
    """One application on the bus, and what reading it gave."""

    bus_name: str
    pid: int | None
    reader: AppReader
    root: Raw | None = None
    error: str | None = None

    def describe(self) -> dict[str, Any]:
        name = self.root.name if self.root is not None and self.root.name else _comm(self.pid)
        return {"name": name, "pid": self.pid, "bus": self.bus_name, "reason": self.error or "no answer"}


def _comm(pid: int | None) -> str:
    if pid is None:
        return "unknown"
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


class Accessibility:
    """The desktop's accessibility trees. display: the agent's Display (or anything with
    `call(fn)` and `state.width/height`); session_env: the desktop session's environment."""

    def __init__(self, display: Any, session_env: SessionEnv, timeout_s: float = 3.0) -> None:
        self.display = display
        self.timeout_s = timeout_s
        self.finder = BusFinder(self._root_property, session_env)
        self._peers: dict[str, MessageBus | None] = {}  # bus name -> its own socket (None: has none)
        self._bus: MessageBus | None = None  # the accessibility bus the peers belong to

    async def _root_property(self) -> str | None:
        return await self.display.call(read_root_property)

    def _close_peers(self) -> None:
        for peer in self._peers.values():
            if peer is not None:
                peer.disconnect()
        self._peers.clear()

    async def close(self) -> None:
        self._close_peers()
        await self.finder.close()

    async def check(self) -> tuple[bool, str]:
        """Is the bus reachable, and how many applications are on it (for doctor)."""
        try:
            bus = await self.finder.bus()
            apps = await self._apps(bus, time.monotonic() + self.timeout_s)
        except AccessibilityUnavailable as exc:
            return False, exc.message
        return True, f"reachable (from the {self.finder.source}), {len(apps)} application(s) on it"

    # -- the request -----------------------------------------------------------------------

    async def tree(self, query: Query) -> Result:
        start = time.monotonic()
        deadline = start + self.timeout_s
        walk_deadline = start + self.timeout_s * WALK_SHARE
        bus = await self.finder.bus()
        if bus is not self._bus:  # a new accessibility bus: its names mean other applications
            self._close_peers()
            self._bus = bus
        try:
            apps = await self._apps(bus, deadline)
        except AccessibilityUnavailable:
            self.finder.forget(bus)  # a dead connection: the next request connects again
            raise
        window, info = await self._window(query.window)
        budget = query.max_nodes if not query.interactive else min(MAX_SCAN_NODES, query.max_nodes * SCAN_FACTOR)
        note = None
        if info is None:
            root = Raw(ref=("", "/desktop"), depth=0, role="desktop frame", name="main", states=["showing", "visible"])
            root.extents = (0, 0, int(self.display.state.width or 0), int(self.display.state.height or 0))
            await _bounded(apps, walk_deadline, lambda app: self._read_app(app, query.max_depth, budget, query.interactive))
            root.children = [app.root for app in apps if app.error is None and app.root is not None]
            for app in apps:
                if app.root is not None:
                    app.root.depth = 1
        else:
            root, note = await self._window_tree(apps, info, query, budget, walk_deadline)
        truncated = any(n.omitted for n in tree.nodes(root))
        if query.interactive:
            tree.interactive_only(root)
        truncated = tree.limit(root, query.max_nodes) or truncated
        kept = list(tree.nodes(root))
        by_app: dict[str, list[Raw]] = {}
        for node in kept:
            by_app.setdefault(node.ref[0], []).append(node)
        live = [app for app in apps if app.error is None and app.bus_name in by_app]
        await _bounded(live, deadline, lambda app: app.reader.details(by_app[app.bus_name], extents=query.interactive))
        failed = {app.bus_name for app in live if app.error is not None}
        if failed:  # an application that stopped answering mid-way: its nodes are left out
            _prune(root, failed)
            kept = list(tree.nodes(root))
        skipped = [app.describe() for app in apps if app.error is not None]
        duration = (time.monotonic() - start) * 1000
        calls = sum(app.reader.calls for app in apps)
        log.debug("accessibility tree", extra={"nodes": len(kept), "calls": calls, "durationMs": round(duration, 1)})
        return Result(root, len(kept), truncated, duration, skipped, window, note)

    async def _apps(self, bus: MessageBus, deadline: float) -> list[App]:
        """The registry's applications with their pids (both answered by daemons, not the apps)."""
        reader = AppReader(bus, REGISTRY[0])

        async def ask() -> tuple[list[str], list[int | None]]:
            body = await reader.call(REGISTRY, "org.a11y.atspi.Accessible", "GetChildren")
            if body is None:
                raise AccessibilityUnavailable(
                    "The accessibility registry (at-spi2-registryd) is not running on the accessibility bus. "
                    "Fix: restart the session's accessibility bus."
                )
            names = [str(ref[0]) for ref in body[0] if ref and ref[0]]
            return names, list(await asyncio.gather(*(self._pid(bus, name) for name in names)))

        try:
            names, pids = await asyncio.wait_for(ask(), max(0.05, deadline - time.monotonic()))
        except (asyncio.TimeoutError, EOFError, OSError) as exc:
            raise AccessibilityUnavailable(
                f"The accessibility bus or its registry (at-spi2-registryd) did not answer ({exc!r}). "
                "Fix: restart the session's accessibility bus."
            ) from None
        for gone in set(self._peers) - set(names):  # applications that left: their sockets too
            peer = self._peers.pop(gone)
            if peer is not None:
                peer.disconnect()
        return [App(name, pid, AppReader(bus, name)) for name, pid in zip(names, pids)]

    async def _use_peer(self, app: App) -> None:
        """Talk to the application over its own socket when it offers one.

        atk-bridge (GTK, Chromium, Firefox, …) answers Application.GetApplicationBusAddress
        with a socket of its own; questions sent there skip the bus daemon, which otherwise
        relays every call and reply and was half the time of a large tree. An application
        without one (Qt) is asked through the bus. Kept per application while it lives."""
        if app.bus_name in self._peers:
            peer = self._peers[app.bus_name]
            if peer is None or peer.connected:
                if peer is not None:
                    app.reader.bus = peer
                return
            del self._peers[app.bus_name]
        body = await app.reader.call((app.bus_name, ROOT_PATH), "org.a11y.atspi.Application", "GetApplicationBusAddress")
        address = str(body[0]) if body and body[0] else ""
        peer = None
        if address:
            try:
                peer = await connect(address, CONNECT_TIMEOUT_S)
            except Exception as exc:  # refused, or not a D-Bus peer we can speak to: use the bus
                log.debug("accessibility: no direct connection", extra={"bus": app.bus_name, "error": repr(exc)})
        known = self._peers.get(app.bus_name)
        if known is not None and known.connected:  # a request alongside this one connected first
            if peer is not None:
                peer.disconnect()
            peer = known
        self._peers[app.bus_name] = peer
        if peer is not None:
            app.reader.bus = peer

    @staticmethod
    async def _pid(bus: MessageBus, name: str) -> int | None:
        reply = await bus.call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus", interface="org.freedesktop.DBus",
            member="GetConnectionUnixProcessID", signature="s", body=[name],
        ))
        return int(reply.body[0]) if reply.message_type == MessageType.METHOD_RETURN else None

    async def _window(self, wanted: int | str) -> tuple[int | None, WindowInfo | None]:
        if wanted == "all":
            return None, None
        wid = await self.display.call(active_window) if wanted == "active" else int(wanted)
        if wid is None:  # no window manager says which is active: the whole desktop
            return None, None
        info = await self.display.call(window_info, wid)
        if info is None:
            if wanted == "active":
                return None, None
            raise NotFound(f"There is no window {wid} on the display (ids come from GET /v1/windows).", details={"window": wid})
        return wid, info

    async def _read_app(self, app: App, max_depth: int, budget: int, interactive: bool) -> None:
        await self._use_peer(app)
        await app.reader.load_cache()
        app.root = await app.reader.root()
        app.root.depth = 1
        await app.reader.walk([app.root], max_depth, budget, extents=not interactive)

    async def _window_tree(self, apps: list[App], info: WindowInfo, query: Query, budget: int, deadline: float) -> tuple[Raw, str | None]:
        """The frame of the window's application that covers the window, read to the limits."""
        candidates = [app for app in apps if info.pid is not None and app.pid == info.pid] or apps
        frames: dict[str, list[Raw]] = {}

        async def frames_of(app: App) -> None:
            await self._use_peer(app)
            app.root = await app.reader.root()
            children = [Raw(ref=ref, depth=0) for ref in app.root.child_refs]
            children = await app.reader.fill_level(children, extents=True)
            frames[app.bus_name] = children

        await _bounded(candidates, deadline, frames_of)
        best: tuple[int, App, Raw] | None = None
        for app in candidates:
            for frame in frames.get(app.bus_name, []):
                if frame.extents is None:
                    continue
                x, y, w, h = frame.extents
                distance = min(abs(x - rx) + abs(y - ry) + abs(w - rw) + abs(h - rh) for rx, ry, rw, rh in info.rectangles())
                if best is None or distance < best[0]:
                    best = (distance, app, frame)
        pid_matched = info.pid is not None and any(app.pid == info.pid for app in apps)
        tolerance = 1 << 30 if pid_matched else 16  # the pid matched: its closest frame
        if best is None or best[0] > tolerance:
            hung = [app.describe()["name"] for app in candidates if app.error]
            root = Raw(ref=("", "/window"), depth=0, role="window", name=info.title, states=["showing"])
            root.extents = (info.x, info.y, info.width, info.height)
            why = "its application did not answer in time" if hung else "its application does not export an accessibility tree (or has not enabled it)"
            return root, f"window {info.id}: {why}"
        _, app, frame = best
        for other in candidates:
            if other is not app:
                other.error = None
        remaining = deadline - time.monotonic()
        try:
            await asyncio.wait_for(app.reader.walk([frame], query.max_depth, budget, extents=not query.interactive), max(remaining, 0.01))
        except asyncio.TimeoutError:
            app.error = f"no answer within {self.timeout_s * 1000:.0f} ms"
            frame.children = []
        return frame, None


async def _bounded(apps: list[App], deadline: float, job: Any) -> None:
    """Run job(app) for every app at once; those not done by the deadline are marked skipped."""
    if not apps:
        return
    timeout = max(deadline - time.monotonic(), 0.01)
    tasks = {asyncio.ensure_future(job(app)): app for app in apps}
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
        tasks[task].error = f"no answer within {timeout * 1000:.0f} ms"
    for task in done:
        exc = task.exception()
        if exc is not None:
            log.debug("accessibility: application failed", extra={"bus": tasks[task].bus_name, "error": repr(exc)})
            tasks[task].error = f"failed: {exc!r}"[:200]
    if pending:
        await asyncio.wait(pending)  # let the cancellations finish: nothing is left running


def _prune(root: Raw, failed: set[str]) -> None:
    root.children = [child for child in root.children if child.ref[0] not in failed]
    for child in root.children:
        _prune(child, failed)
