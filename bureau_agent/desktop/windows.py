"""Top-level windows: list, activate, close, move/resize and change state (EWMH, ICCCM).

Every X call runs on the display owner's thread; a listing is three or four round trips whatever
the number of windows (ewmh.Batch). Actions ask the window manager (client messages on the root,
source indication 2, as a pager would) and then wait, bounded, until the window manager reports
the result: the wait polls with short owner calls and asyncio sleeps in between, so input and
screenshots go on meanwhile. Without a window manager the windows are the mapped children of the
root, and the agent does what a window manager would have done (focus, raise, configure) itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror

from bureau_agent.desktop import ewmh
from bureau_agent.desktop.display import Display
from bureau_agent.desktop.ewmh import Atoms, Batch
from bureau_agent.errors import NoWindowManager, WindowNotFound

T = TypeVar("T")

STATES = ("normal", "minimized", "maximized", "fullscreen")
# Pauses between two reads of the window manager's answer (each read is one short owner call):
# openbox answers within about a millisecond, so the first reads come quickly, later ones less so.
POLL_S = (0.0005, 0.001, 0.001, 0.002, 0.002, 0.005)


def _pause(attempt: int) -> float:
    return POLL_S[min(attempt, len(POLL_S) - 1)]
SETTLE_S = 0.05  # a geometry that stopped changing for this long is what the WM allows
FORCE_WAIT_S = 2.0  # after XKillClient, the server destroys the windows at once: a short bound


@dataclasses.dataclass(frozen=True)
class Window:
    id: int
    title: str
    class_: str
    instance: str
    pid: int | None
    x: int
    y: int
    width: int
    height: int
    desktop: int | None
    focused: bool
    state: str

    def to_json(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        body["class"] = body.pop("class_")
        return body

    @property
    def geometry(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.width, self.height


@dataclasses.dataclass(frozen=True)
class Listing:
    windows: list[Window]
    active: int | None
    managed: bool  # a window manager is running

    def find(self, wid: int) -> Window | None:
        return next((w for w in self.windows if w.id == wid), None)

    def to_json(self) -> dict[str, Any]:
        return {"windows": [w.to_json() for w in self.windows], "activeWindow": self.active}


@dataclasses.dataclass(frozen=True)
class _Top:
    """What the root says: the candidate windows, who is active, whether a WM runs."""

    managed: bool
    ids: list[int]
    active: int | None
    supported: frozenset[int]


def _not_found(wid: int) -> WindowNotFound:
    return WindowNotFound(f"There is no window {wid} among the listed windows (GET /v1/windows).", details={"id": wid})


class WindowService:
    def __init__(self, display: Display, confirm_ms: int = 1000) -> None:
        self.display = display
        self.confirm_s = confirm_ms / 1000
        self._atoms: tuple[xdisplay.Display, Atoms] | None = None

    # -- on the owner thread ---------------------------------------------------------------

    def atoms(self, conn: xdisplay.Display) -> Atoms:
        if self._atoms is None or self._atoms[0] is not conn:  # a new connection: intern again
            self._atoms = (conn, Atoms(conn))
        return self._atoms[1]

    def _top(self, conn: xdisplay.Display) -> _Top:
        a = self.atoms(conn)
        root = conn.screen().root.id
        batch = Batch(conn)
        batch.get_property(root, a._NET_SUPPORTING_WM_CHECK, Xatom.WINDOW, 1)
        batch.get_property(root, a._NET_CLIENT_LIST_STACKING, Xatom.WINDOW, 1 << 16)
        batch.get_property(root, a._NET_CLIENT_LIST, Xatom.WINDOW, 1 << 16)
        batch.get_property(root, a._NET_ACTIVE_WINDOW, Xatom.WINDOW, 1)
        batch.get_property(root, a._NET_SUPPORTED, Xatom.ATOM, 1 << 12)
        batch.input_focus()
        batch.query_tree(root)
        check, stacking, clients, active, supported, focus, tree = batch.results()
        check_id = ewmh.first_cardinal(check)
        if check_id:
            # A window manager that died leaves its root properties behind; its check window
            # (which names itself) dies with it.
            batch.get_property(check_id, a._NET_SUPPORTING_WM_CHECK, Xatom.WINDOW, 1)
            (own,) = batch.results()
            if ewmh.first_cardinal(own) == check_id:
                ids = ewmh.cardinals(stacking) or ewmh.cardinals(clients)
                active_id = ewmh.first_cardinal(active)
                active_id = active_id if active_id in ids else None  # it may name a window that closed
                return _Top(True, ids, active_id, frozenset(ewmh.cardinals(supported)))
        # No window manager: the mapped, ordinary children of the root, bottom first (QueryTree's order).
        children = [] if isinstance(tree, BaseException) else [c.id for c in tree.children]
        for child in children:
            batch.attributes(child)
        ids = [
            child
            for child, attrs in zip(children, batch.results())
            if not isinstance(attrs, BaseException)
            and attrs.map_state == X.IsViewable
            and not attrs.override_redirect
            and attrs.win_class == X.InputOutput
        ]
        focused = None if isinstance(focus, BaseException) else focus.focus
        focus_id = focused.id if hasattr(focused, "id") else None
        return _Top(False, ids, focus_id if focus_id in ids else None, frozenset())

    def window_manager(self, conn: xdisplay.Display) -> str | None:
        """The running EWMH window manager's name ("" when it gives none), None when none runs."""
        a = self.atoms(conn)
        root = conn.screen().root.id
        batch = Batch(conn)
        batch.get_property(root, a._NET_SUPPORTING_WM_CHECK, Xatom.WINDOW, 1)
        (check,) = batch.results()
        check_id = ewmh.first_cardinal(check)
        if not check_id:
            return None
        batch.get_property(check_id, a._NET_SUPPORTING_WM_CHECK, Xatom.WINDOW, 1)
        batch.get_property(check_id, a._NET_WM_NAME, a.UTF8_STRING, 256)
        own, name = batch.results()
        if ewmh.first_cardinal(own) != check_id:
            return None  # a dead WM's leftover property
        return ewmh.text(name, utf8=True) or ""

    def _listing(self, conn: xdisplay.Display) -> Listing:
        top = self._top(conn)
        a = self.atoms(conn)
        root = conn.screen().root.id
        batch = Batch(conn)
        per_window = 8
        for wid in top.ids:
            batch.get_property(wid, a._NET_WM_NAME, a.UTF8_STRING, 4096)
            batch.get_property(wid, a.WM_CLASS, Xatom.STRING, 1024)
            batch.get_property(wid, a._NET_WM_PID, Xatom.CARDINAL, 1)
            batch.get_property(wid, a._NET_WM_DESKTOP, Xatom.CARDINAL, 1)
            batch.get_property(wid, a._NET_WM_STATE, Xatom.ATOM, 64)
            batch.get_property(wid, a.WM_STATE, a.WM_STATE, 2)
            batch.get_geometry(wid)
            batch.translate(wid, root)
        replies = batch.results()
        # WM_NAME only for the windows without _NET_WM_NAME (one more round trip, if any)
        untitled = [wid for i, wid in enumerate(top.ids) if ewmh.prop_value(replies[i * per_window]) is None]
        for wid in untitled:
            batch.get_property(wid, a.WM_NAME, X.AnyPropertyType, 4096)
        wm_names = dict(zip(untitled, batch.results()))
        windows = []
        for i, wid in enumerate(top.ids):
            name, wm_class, pid, desktop, net_state, wm_state, geometry, origin = replies[i * per_window : (i + 1) * per_window]
            if isinstance(geometry, BaseException) or isinstance(origin, BaseException):
                continue  # destroyed between the two batches
            title = ewmh.text(name, utf8=True)
            if title is None:
                title = ewmh.text(wm_names.get(wid), utf8=False, compound_text=a.COMPOUND_TEXT) or ""
            class_bytes = ewmh.data_bytes(wm_class)
            parts = class_bytes.split(b"\0") if class_bytes else []
            instance = parts[0].decode("utf-8", "replace") if parts else ""
            klass = parts[1].decode("utf-8", "replace") if len(parts) > 1 else ""
            windows.append(
                Window(
                    id=wid,
                    title=title,
                    class_=klass,
                    instance=instance,
                    pid=ewmh.first_cardinal(pid),
                    x=origin.x,
                    y=origin.y,
                    width=geometry.width,
                    height=geometry.height,
                    desktop=_desktop(ewmh.first_cardinal(desktop)),
                    focused=wid == top.active,
                    state=_state(a, ewmh.cardinals(net_state), ewmh.first_cardinal(wm_state)),
                )
            )
        return Listing(windows, top.active, top.managed)

    def _require(self, conn: xdisplay.Display, wid: int) -> _Top:
        top = self._top(conn)
        if wid not in top.ids:
            raise _not_found(wid)
        return top

    def _checked(self, conn: xdisplay.Display, wid: int, send: Callable[[Any], None]) -> None:
        """send(onerror) and a sync; a BadWindow on any of it means the window went away."""
        catcher = xerror.CatchError(*ewmh.WINDOW_ERRORS)
        send(catcher)
        conn.sync()
        if catcher.get_error() is not None:
            raise _not_found(wid)

    def _send_activate(self, conn: xdisplay.Display, wid: int) -> bool | None:
        """Ask for wid to be active. None: wait for the WM; a bool: the answer already (no WM)."""
        top = self._require(conn, wid)
        a = self.atoms(conn)
        window = conn.create_resource_object("window", wid)
        if not top.managed:
            def focus(onerror: Any) -> None:
                window.configure(stack_mode=X.Above, onerror=onerror)
                window.set_input_focus(X.RevertToParent, X.CurrentTime, onerror=onerror)
            self._checked(conn, wid, focus)
            focused = conn.get_input_focus().focus
            return getattr(focused, "id", None) == wid

        def ask(onerror: Any) -> None:
            window.map(onerror=onerror)  # ICCCM: mapping an iconic window asks for it to be restored
            ewmh.client_message(conn, wid, a._NET_ACTIVE_WINDOW, [ewmh.SOURCE_PAGER, X.CurrentTime, top.active or 0])
        self._checked(conn, wid, ask)
        return None

    def _is_active(self, conn: xdisplay.Display, wid: int) -> bool:
        a = self.atoms(conn)
        prop = conn.screen().root.get_full_property(a._NET_ACTIVE_WINDOW, Xatom.WINDOW)
        return prop is not None and len(prop.value) > 0 and int(prop.value[0]) == wid

    def _send_close(self, conn: xdisplay.Display, wid: int) -> bool:
        """Ask politely; False when there is no polite way (no WM and no WM_DELETE_WINDOW)."""
        top = self._require(conn, wid)
        a = self.atoms(conn)
        window = conn.create_resource_object("window", wid)
        # Read first: a window destroyed but still listed (the WM lags) is a BadWindow here, a 404,
        # and not a "closed" answered for a message the WM would drop.
        protocols = window.get_full_property(a.WM_PROTOCOLS, Xatom.ATOM)
        if top.managed and a._NET_CLOSE_WINDOW in top.supported:
            self._checked(conn, wid, lambda onerror: ewmh.client_message(conn, wid, a._NET_CLOSE_WINDOW, [X.CurrentTime, ewmh.SOURCE_PAGER]))
            return True
        if protocols is None or a.WM_DELETE_WINDOW not in protocols.value:
            return False
        self._checked(
            conn, wid,
            lambda onerror: ewmh.client_message(conn, wid, a.WM_PROTOCOLS, [a.WM_DELETE_WINDOW, X.CurrentTime], to_root=False),
        )
        return True

    def _is_gone(self, conn: xdisplay.Display, wid: int) -> bool:
        return wid not in self._top(conn).ids

    def _kill(self, conn: xdisplay.Display, wid: int) -> None:
        catcher = xerror.CatchError(*ewmh.WINDOW_ERRORS, xerror.BadValue)
        conn.create_resource_object("window", wid).kill_client(onerror=catcher)
        conn.sync()  # an error here means it went away on its own meanwhile: fine either way

    def _send_geometry(self, conn: xdisplay.Display, wid: int, target: dict[str, int]) -> tuple[Window, bool]:
        top = self._require(conn, wid)
        before = self._listing(conn).find(wid)
        if before is None:
            raise _not_found(wid)
        a = self.atoms(conn)
        window = conn.create_resource_object("window", wid)
        if not top.managed:
            self._checked(conn, wid, lambda onerror: window.configure(onerror=onerror, **target))
            return before, False
        fields = ("x", "y", "width", "height")
        flags = sum(1 << (8 + i) for i, f in enumerate(fields) if f in target)
        data = [ewmh.STATIC_GRAVITY | flags | (ewmh.SOURCE_PAGER << 12)] + [target.get(f, 0) for f in fields]

        def send(onerror: Any) -> None:
            if before.state in ("maximized", "fullscreen"):  # a maximized window keeps its size: restore it first
                self._change_state(conn, wid, ewmh.STATE_REMOVE, a._NET_WM_STATE_MAXIMIZED_VERT, a._NET_WM_STATE_MAXIMIZED_HORZ)
                self._change_state(conn, wid, ewmh.STATE_REMOVE, a._NET_WM_STATE_FULLSCREEN)
            ewmh.client_message(conn, wid, a._NET_MOVERESIZE_WINDOW, data)
        self._checked(conn, wid, send)
        return before, True

    def _change_state(self, conn: xdisplay.Display, wid: int, action: int, first: int, second: int = 0) -> None:
        ewmh.client_message(conn, wid, self.atoms(conn)._NET_WM_STATE, [action, first, second, ewmh.SOURCE_PAGER])

    def _send_state(self, conn: xdisplay.Display, wid: int, state: str) -> None:
        top = self._require(conn, wid)
        if not top.managed:
            if state == "normal":
                return  # a listed window without a WM is mapped, and that is all "normal" means there
            raise NoWindowManager(
                f"Making a window {state} needs a window manager, and none is running on this display.",
                details={"state": state},
            )
        a = self.atoms(conn)
        window = conn.create_resource_object("window", wid)
        v, h, full = a._NET_WM_STATE_MAXIMIZED_VERT, a._NET_WM_STATE_MAXIMIZED_HORZ, a._NET_WM_STATE_FULLSCREEN

        def send(onerror: Any) -> None:
            if state == "minimized":
                ewmh.client_message(conn, wid, a.WM_CHANGE_STATE, [ewmh.ICONIC_STATE])
                return
            window.map(onerror=onerror)  # restores a minimized window (ICCCM), a no-op otherwise
            if state == "fullscreen":
                self._change_state(conn, wid, ewmh.STATE_ADD, full)
                return
            self._change_state(conn, wid, ewmh.STATE_REMOVE, full)
            self._change_state(conn, wid, ewmh.STATE_ADD if state == "maximized" else ewmh.STATE_REMOVE, v, h)
        self._checked(conn, wid, send)

    def _window(self, conn: xdisplay.Display, wid: int) -> Window | None:
        return self._listing(conn).find(wid)

    # -- on the event loop -----------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self.display.call(fn, *args)
        except ewmh.WINDOW_ERRORS:
            # a window destroyed between two requests of one call; the caller's id is args[0]
            raise _not_found(args[0] if args else 0) from None

    async def _until(self, check: Callable[[xdisplay.Display, int], T | None], wid: int, timeout_s: float) -> T | None:
        """Poll check on the owner thread until it gives a truthy value or timeout_s passes."""
        deadline = time.monotonic() + timeout_s
        for attempt in itertools.count():
            result = await self._call(check, wid)
            if result:
                return result
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(_pause(attempt))
        raise AssertionError("unreachable")

    async def list(self) -> Listing:
        return await self.display.call(self._listing)

    async def activate(self, wid: int, timeout_ms: int | None = None) -> bool:
        answer = await self._call(self._send_activate, wid)
        if answer is not None:
            return answer
        timeout_s = self.confirm_s if timeout_ms is None else timeout_ms / 1000
        return bool(await self._until(self._is_active, wid, timeout_s))

    async def close(self, wid: int, force: bool = False, timeout_ms: int = 2000) -> bool:
        polite = await self._call(self._send_close, wid)
        if polite and await self._until(self._is_gone, wid, timeout_ms / 1000):
            return True
        if not force:
            return False
        if not polite:
            await self._call(self._require, wid)  # still listed, else it is a 404 like any other
        await self._call(self._kill, wid)
        return bool(await self._until(self._is_gone, wid, FORCE_WAIT_S))

    async def geometry(self, wid: int, target: dict[str, int]) -> Window:
        before, managed = await self._call(self._send_geometry, wid, target)
        now = await self._settle(wid, before, target)
        moved = {f: target[f] - getattr(now, f) for f in ("x", "y") if f in target and getattr(now, f) != target[f]}
        if managed and moved and now.state == "normal":
            # Gravity: with StaticGravity, the WM places the client's original border (xterm has
            # one of 1 px, the WM then removes it) at x, y. One corrected request lands the
            # content where asked, as the listing reports it.
            fix = {f: target[f] + delta for f, delta in moved.items()}
            await self._call(self._send_geometry, wid, fix)
            now = await self._settle(wid, now, fix, expect={f: target[f] for f in fix})
        return now

    async def _settle(self, wid: int, before: Window, target: dict[str, int], expect: dict[str, int] | None = None) -> Window:
        """The window once the WM applied target (or what it allows of it), bounded."""
        wanted = {**dataclasses.asdict(before), **(expect or target)}
        deadline = time.monotonic() + self.confirm_s
        last, stable_since = before, time.monotonic()
        for attempt in itertools.count():
            now = await self._call(self._window, wid)
            if now is None:
                raise _not_found(wid)
            if all(getattr(now, f) == wanted[f] for f in (expect or target)):
                return now
            if now.geometry != last.geometry:
                last, stable_since = now, time.monotonic()
            elif now.geometry != before.geometry and time.monotonic() - stable_since >= SETTLE_S:
                return now  # the WM applied what it allows (size increments, screen edges)
            if time.monotonic() >= deadline:
                return now
            await asyncio.sleep(_pause(attempt))
        raise AssertionError("unreachable")

    async def set_state(self, wid: int, state: str) -> Window:
        before = await self._call(self._window, wid)
        await self._call(self._send_state, wid, state)
        if before is None:
            raise _not_found(wid)

        def reached(conn: xdisplay.Display, wid: int) -> Window | None:
            window = self._window(conn, wid)
            if window is None:
                raise _not_found(wid)
            if window.state != state:
                return None
            # The WM sets the state properties before it (un)maps the window, and moves the focus
            # away from a minimized one after that: wait for all of it.
            if state == "minimized" and window.focused:
                return None
            viewable = conn.create_resource_object("window", wid).get_attributes().map_state == X.IsViewable
            return window if viewable == (state != "minimized") else None

        # ... and before it resizes it (into or out of maximized/fullscreen, possibly in steps:
        # fullscreen, then maximized, then normal): once the state is reached, the answer waits
        # for the geometry to stay put for SETTLE_S.
        deadline = time.monotonic() + self.confirm_s
        resizes = state != "minimized" and before.state != "minimized" and state != before.state
        last: tuple[tuple[int, int, int, int], float] | None = None
        for attempt in itertools.count():
            window = await self._call(reached, wid)
            now = time.monotonic()
            if window is not None:
                if last is None or last[0] != window.geometry:
                    last = (window.geometry, now)
                if not resizes or now - last[1] >= SETTLE_S:
                    return window
            else:
                last = None
            if now >= deadline:
                break
            await asyncio.sleep(_pause(attempt))
        # the WM refused or is slow: the answer says what the state really is
        window = await self._call(self._window, wid)
        if window is None:
            raise _not_found(wid)
        return window


def _desktop(value: int | None) -> int | None:
    return None if value is None or value == 0xFFFFFFFF else value  # 0xFFFFFFFF: on all desktops


def _state(a: Atoms, net_state: list[int], wm_state: int | None) -> str:
    if wm_state == ewmh.ICONIC_STATE or a._NET_WM_STATE_HIDDEN in net_state:
        return "minimized"
    if a._NET_WM_STATE_FULLSCREEN in net_state:
        return "fullscreen"
    if a._NET_WM_STATE_MAXIMIZED_VERT in net_state and a._NET_WM_STATE_MAXIMIZED_HORZ in net_state:
        return "maximized"
    return "normal"
