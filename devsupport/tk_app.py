"""A Tk test window: a title (any Unicode), an Entry that takes paste and typing, stdin commands.

    python tk_app.py TITLE [--geometry WxH+X+Y] [--ignore-close]

Prints "ready <window id>" once mapped (Tk's inner window: the WM manages its parent), then
for each stdin line "get" prints the entry's text as a JSON string. --ignore-close makes it
ignore WM_DELETE_WINDOW, as a hung or stubborn application would.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import tkinter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("title")
    parser.add_argument("--geometry", default="300x120+50+50")
    parser.add_argument("--ignore-close", action="store_true")
    args = parser.parse_args()
    root = tkinter.Tk()
    root.title(args.title)
    root.geometry(args.geometry)
    entry = tkinter.Entry(root)
    entry.pack(fill="x")
    entry.focus_set()
    if args.ignore_close:
        root.protocol("WM_DELETE_WINDOW", lambda: None)
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()

    def read() -> None:
        for line in sys.stdin:
            lines.put(line.strip())
        lines.put("quit")

    threading.Thread(target=read, daemon=True).start()

    def poll() -> None:
        while not lines.empty():
            line = lines.get()
            if line == "get":
                print(json.dumps(entry.get()), flush=True)
            elif line == "quit":
                root.destroy()
                return
        root.after(20, poll)

    def ready() -> None:
        if not root.winfo_viewable():
            root.after(20, ready)
            return
        print("ready", root.winfo_id(), flush=True)  # the inner window; its parent is Tk's wrapper

    root.after(20, poll)
    root.after(20, ready)
    root.mainloop()


if __name__ == "__main__":
    main()
