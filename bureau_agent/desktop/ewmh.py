"""Batched X requests and the EWMH/ICCCM vocabulary the window service speaks.

python-xlib's convenience calls (window.get_full_property, get_geometry, …) each send one request
and wait for its reply: listing 20 windows that way is ~200 round trips. A `Batch` sends every
request first (python-xlib's `defer=True`) and collects the replies after one flush, so a listing
costs a handful of round trips whatever the number of windows. Everything here runs on the thread
that owns the connection.
"""

from __future__ import annotations

import re
import struct
import types
from collections.abc import Callable, Iterable
from typing import Any

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.protocol import event as xevent
from Xlib.protocol import request as xrequest
from Xlib.protocol import rq
from Xlib.support import lock

ATOM_NAMES = (
    "_NET_SUPPORTED",
    "_NET_SUPPORTING_WM_CHECK",
    "_NET_CLIENT_LIST",
    "_NET_CLIENT_LIST_STACKING",
    "_NET_ACTIVE_WINDOW",
    "_NET_CLOSE_WINDOW",
    "_NET_MOVERESIZE_WINDOW",
    "_NET_WM_NAME",
    "_NET_WM_PID",
    "_NET_WM_DESKTOP",
    "_NET_WM_STATE",
    "_NET_WM_STATE_HIDDEN",
    "_NET_WM_STATE_MAXIMIZED_VERT",
    "_NET_WM_STATE_MAXIMIZED_HORZ",
    "_NET_WM_STATE_FULLSCREEN",
    "UTF8_STRING",
    "COMPOUND_TEXT",
    "WM_STATE",
    "WM_CHANGE_STATE",
    "WM_PROTOCOLS",
    "WM_DELETE_WINDOW",
)

# ICCCM WM_STATE values
WITHDRAWN_STATE, NORMAL_STATE, ICONIC_STATE = 0, 1, 3
# EWMH _NET_WM_STATE actions and the source indication of a pager/tool acting for the user
STATE_REMOVE, STATE_ADD = 0, 1
SOURCE_PAGER = 2
STATIC_GRAVITY = 10

# Errors that mean "this window is gone (or never was)": the caller sees window_not_found.
WINDOW_ERRORS: tuple[type[BaseException], ...] = (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch)


class Atoms:
    """The atoms of one connection, interned in one batch (atoms live as long as the server)."""

    def __init__(self, conn: xdisplay.Display, names: Iterable[str] = ATOM_NAMES) -> None:
        names = tuple(names)
        requests = [xrequest.InternAtom(display=conn.display, defer=True, name=n, only_if_exists=False) for n in names]
        requests[-1].reply()  # one flush; the replies of the others arrive on the way
        self._by_name: dict[str, int] = {}
        for name, req in zip(names, requests):
            req.reply()
            self._by_name[name] = req.atom
        self._by_name["WM_NAME"] = Xatom.WM_NAME
        self._by_name["WM_CLASS"] = Xatom.WM_CLASS

    def __getattr__(self, name: str) -> int:
        try:
            return self._by_name[name]
        except KeyError:
            raise AttributeError(name) from None


class _Raw(rq.ReplyRequest):
    """A reply request packed and parsed by hand.

    python-xlib builds and parses every request through its generic field machinery, about 0.1 ms
    a request here: 180 of them (20 windows) made a listing cost 15-30 ms. The three requests a
    listing is made of are packed with struct (native byte order, as python-xlib's connection
    setup announces) and their replies unpacked the same way; python-xlib still numbers them,
    sends them, routes their replies and errors.
    """

    _reply = None  # python-xlib routes replies to the sent requests that have this attribute

    def __init__(self, display: Any, binary: bytes, parse: Callable[[bytes], Any]) -> None:
        self._display = display
        self._binary = binary
        self._serial = None
        self._data = None
        self._error = None
        self._parse = parse
        self._response_lock = lock.allocate_lock()
        display.send_request(self, True)

    def _parse_response(self, data: Any) -> None:
        self._response_lock.acquire()
        raw = bytes(data)
        self.sequence_number = struct.unpack_from("=H", raw, 2)[0]  # python-xlib checks it
        self._data = self._parse(raw)
        self._response_lock.release()


def _property_reply(data: bytes) -> Any:
    _, fmt, _, _, type_, bytes_after, count = struct.unpack_from("=BBHIIII", data, 0)
    if fmt == 8:
        payload: Any = data[32 : 32 + count]
    elif fmt == 16:
        payload = struct.unpack_from(f"={count}H", data, 32)
    elif fmt == 32:
        payload = struct.unpack_from(f"={count}I", data, 32)
    else:
        payload = b""
    return types.SimpleNamespace(property_type=type_, format=fmt, bytes_after=bytes_after, value=(fmt, payload))


def _geometry_reply(data: bytes) -> Any:
    root, x, y, width, height, border = struct.unpack_from("=IhhHHH", data, 8)
    return types.SimpleNamespace(root=root, x=x, y=y, width=width, height=height, border_width=border)


def _translate_reply(data: bytes) -> Any:
    child, x, y = struct.unpack_from("=Ihh", data, 8)
    return types.SimpleNamespace(same_screen=data[1], child=child, x=x, y=y)


class Batch:
    """Requests sent at once; `results()` waits for all replies with a single flush.

    A request that fails (a window destroyed meanwhile) gives its error object instead of a reply,
    so one vanished window does not spoil the others.
    """

    def __init__(self, conn: xdisplay.Display) -> None:
        self.conn = conn
        self._requests: list[Any] = []

    def _add(self, req: Any) -> int:
        self._requests.append(req)
        return len(self._requests) - 1

    def _raw(self, binary: bytes, parse: Callable[[bytes], Any]) -> int:
        return self._add(_Raw(self.conn.display, binary, parse))

    def get_property(self, window: int, prop: int, type_: int = X.AnyPropertyType, length: int = 1024) -> int:
        # GetProperty: opcode 20, delete 0, 6 units: window, property, type, long-offset, long-length
        return self._raw(struct.pack("=BBHIIIII", 20, 0, 6, window, prop, type_, 0, length), _property_reply)

    def get_geometry(self, window: int) -> int:
        return self._raw(struct.pack("=BxHI", 14, 2, window), _geometry_reply)  # GetGeometry

    def translate(self, window: int, root: int) -> int:
        return self._raw(struct.pack("=BxHIIhh", 40, 4, window, root, 0, 0), _translate_reply)  # TranslateCoordinates

    def attributes(self, window: int) -> int:
        return self._add(xrequest.GetWindowAttributes(display=self.conn.display, defer=True, window=window))

    def input_focus(self) -> int:
        return self._add(xrequest.GetInputFocus(display=self.conn.display, defer=True))

    def query_tree(self, window: int) -> int:
        return self._add(xrequest.QueryTree(display=self.conn.display, defer=True, window=window))

    def results(self) -> list[Any]:
        """Replies (or X errors) in the order the requests were added."""
        out: list[Any] = []
        if self._requests:
            try:
                self._requests[-1].reply()  # one flush and read up to the last serial
            except xerror.XError:
                pass
        for req in self._requests:
            try:
                req.reply()
                out.append(req._data if isinstance(req, _Raw) else req)
            except xerror.XError as exc:
                out.append(exc)
        self._requests = []
        return out


def prop_value(reply: Any) -> tuple[int, Any] | None:
    """(format, data) of a GetProperty reply, or None when it failed or the property is unset."""
    if reply is None or isinstance(reply, BaseException) or reply.property_type == X.NONE:
        return None
    return reply.value  # python-xlib's PropertyData: (format, data)


def cardinals(reply: Any) -> list[int]:
    value = prop_value(reply)
    if value is None or value[0] != 32:
        return []
    return [int(v) for v in value[1]]


def first_cardinal(reply: Any) -> int | None:
    values = cardinals(reply)
    return values[0] if values else None


def data_bytes(reply: Any) -> bytes | None:
    value = prop_value(reply)
    if value is None or value[0] != 8:
        return None
    data = value[1]
    return data if isinstance(data, bytes) else str(data).encode("latin-1", "replace")


def text(reply: Any, utf8: bool, compound_text: int = 0) -> str | None:
    data = data_bytes(reply)
    if data is None:
        return None
    if utf8 or reply.property_type != compound_text:
        return data.decode("utf-8" if utf8 else "latin-1", "replace")
    return decode_compound_text(data)


_CT_SEGMENT = re.compile(rb"\x1b%G(.*?)(?:\x1b%@|$)", re.S)
_CT_ESCAPE = re.compile(rb"\x1b[-()$][A-Z@]|\x1b%[G@]")


def decode_compound_text(data: bytes) -> str:
    """COMPOUND_TEXT as Xlib writes WM_NAME for a non-Latin-1 title (xterm -T …): Latin-1 with
    UTF-8 segments between ESC % G and ESC % @. Other designations (ISO 2022 charsets) are rare
    in titles; their escape sequences are dropped and the bytes read as Latin-1."""
    parts: list[str] = []
    pos = 0
    for match in _CT_SEGMENT.finditer(data):
        parts.append(_CT_ESCAPE.sub(b"", data[pos : match.start()]).decode("latin-1"))
        parts.append(match.group(1).decode("utf-8", "replace"))
        pos = match.end()
    parts.append(_CT_ESCAPE.sub(b"", data[pos:]).decode("latin-1"))
    return "".join(parts)


def client_message(conn: xdisplay.Display, window: int, type_: int, data: list[int], *, to_root: bool = True) -> None:
    """Send a 32-bit ClientMessage about window: to the root (for the window manager, EWMH style)
    or to the window itself (WM_PROTOCOLS)."""
    root = conn.screen().root
    data = (data + [0] * 5)[:5]
    message = xevent.ClientMessage(window=window, client_type=type_, data=(32, data))
    if to_root:
        root.send_event(message, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
    else:
        conn.create_resource_object("window", window).send_event(message, event_mask=X.NoEventMask)
