"""Selection peers that misbehave, for the clipboard tests (run as a process of its own).

    python -m devsupport.selection_peer DISPLAY silent-owner [clipboard|primary]
        takes ownership, prints "ready", and never answers a SelectionRequest
    python -m devsupport.selection_peer DISPLAY incr-reader [clipboard|primary]
        asks for UTF8_STRING, accepts an INCR transfer, takes the first chunk, prints
        "started <bytes>" and then stops reading (the test kills it mid-transfer)
"""

from __future__ import annotations

import sys

from Xlib import X, Xatom
from Xlib import display as xdisplay


def _selection(conn: xdisplay.Display, name: str) -> int:
    return Xatom.PRIMARY if name == "primary" else conn.intern_atom("CLIPBOARD")


def _next(conn: xdisplay.Display, kind: int, **fields: int) -> object:
    while True:
        ev = conn.next_event()
        if ev.type == kind and all(getattr(ev, k) == v for k, v in fields.items()):
            return ev


def main() -> None:
    display_name, mode = sys.argv[1], sys.argv[2]
    conn = xdisplay.Display(display_name)
    selection = _selection(conn, sys.argv[3] if len(sys.argv) > 3 else "clipboard")
    window = conn.screen().root.create_window(0, 0, 1, 1, 0, X.CopyFromParent, event_mask=X.PropertyChangeMask)
    if mode == "silent-owner":
        window.set_selection_owner(selection, X.CurrentTime)
        conn.sync()
        print("ready", flush=True)
        sys.stdin.read()  # requests pile up unanswered until the test ends us
        return
    if mode == "incr-reader":
        prop = conn.intern_atom("PEER_DATA")
        incr = conn.intern_atom("INCR")
        window.convert_selection(selection, conn.intern_atom("UTF8_STRING"), prop, X.CurrentTime)
        conn.flush()
        ev = _next(conn, X.SelectionNotify)
        if ev.property == X.NONE:  # type: ignore[attr-defined]
            print("refused", flush=True)
            return
        reply = window.get_property(prop, X.AnyPropertyType, 0, 1 << 20, delete=True)
        if reply is None or reply.property_type != incr:
            print("not-incr", flush=True)
            return
        _next(conn, X.PropertyNotify, atom=prop, state=X.PropertyNewValue)
        chunk = window.get_property(prop, X.AnyPropertyType, 0, 1 << 20, delete=False)
        print("started", len(chunk.value), flush=True)
        sys.stdin.read()  # never deletes the chunk: the owner waits in vain
        return
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
