"""N ordinary top-level windows from one python-xlib client, for the window rows of the benchmark.

    python -m bench.xwindows DISPLAY N

Each window has a UTF-8 title, WM_CLASS, _NET_WM_PID and WM_DELETE_WINDOW, as a toolkit sets
them. Prints "ready" once all are mapped (viewable), then serves events until stdin closes.
"""

from __future__ import annotations

import os
import select
import sys

from Xlib import X, Xatom
from Xlib import display as xdisplay


def main() -> None:
    conn = xdisplay.Display(sys.argv[1])
    count = int(sys.argv[2])
    root = conn.screen().root
    utf8, net_name, net_pid = (conn.intern_atom(n) for n in ("UTF8_STRING", "_NET_WM_NAME", "_NET_WM_PID"))
    protocols, delete = conn.intern_atom("WM_PROTOCOLS"), conn.intern_atom("WM_DELETE_WINDOW")
    windows = []
    for i in range(count):
        window = root.create_window(
            40 + 30 * (i % 20), 40 + 20 * (i % 20), 320, 200, 0, X.CopyFromParent,
            background_pixel=conn.screen().white_pixel, event_mask=X.StructureNotifyMask,
        )
        title = f"bench window {i} — ✓"
        window.set_wm_name(title.encode("ascii", "replace").decode())
        window.change_property(net_name, utf8, 8, title.encode())
        window.set_wm_class(f"bench{i}", "BenchWindow")
        window.change_property(net_pid, Xatom.CARDINAL, 32, [os.getpid()])
        window.change_property(protocols, Xatom.ATOM, 32, [delete])
        window.map()
        windows.append(window)
    mapped: set[int] = set()
    while len(mapped) < count:
        ev = conn.next_event()
        if ev.type == X.MapNotify:
            mapped.add(ev.window.id)
    print("ready", flush=True)
    while True:
        ready = select.select([sys.stdin, conn.fileno()], [], [])[0]
        if sys.stdin in ready and not sys.stdin.readline():
            return
        while conn.pending_events():
            conn.next_event()


if __name__ == "__main__":
    main()
