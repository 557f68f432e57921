"""A GTK 3 window for the accessibility tests (run with /usr/bin/python3: python3-gi).

A menu bar (File > Quit), a button "OK", an entry holding "hello world", a checked check box
"Remember me". Prints {"window": xid, "pid": pid} once the window is mapped and has drawn,
then {"clicked": "OK"} when the button is activated (and sets the title to "clicked").
Options: --rows N adds N labelled buttons in a scrolled list (a bigger tree for the bench).
"""

import json
import os
import sys

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("GdkX11", "3.0")
from gi.repository import GdkX11, GLib, Gtk  # noqa: E402,F401


def say(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    rows = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 0
    win = Gtk.Window(title="A11y test window")
    win.set_default_size(400, 300)
    win.move(100, 80)
    box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6)
    win.add(box)

    menubar = Gtk.MenuBar()
    file_item = Gtk.MenuItem(label="File")
    menu = Gtk.Menu()
    quit_item = Gtk.MenuItem(label="Quit")
    menu.append(quit_item)
    file_item.set_submenu(menu)
    menubar.append(file_item)
    box.pack_start(menubar, False, False, 0)

    button = Gtk.Button(label="OK")

    def clicked(_button: Gtk.Button) -> None:
        win.set_title("clicked")
        say({"clicked": "OK"})

    button.connect("clicked", clicked)
    box.pack_start(button, False, False, 0)

    entry = Gtk.Entry()
    entry.set_text("hello world")
    box.pack_start(entry, False, False, 0)

    check = Gtk.CheckButton(label="Remember me")
    check.set_active(True)
    box.pack_start(check, False, False, 0)

    if rows:
        scrolled = Gtk.ScrolledWindow()
        scrolled.set_min_content_height(150)
        inner = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
        for i in range(rows):
            inner.pack_start(Gtk.Button(label=f"Row {i}"), False, False, 0)
        scrolled.add(inner)
        box.pack_start(scrolled, True, True, 0)

    win.connect("destroy", Gtk.main_quit)
    win.show_all()
    button.grab_focus()

    def announce() -> bool:
        gdk_window = win.get_window()
        say({"window": gdk_window.get_xid(), "pid": os.getpid()})
        return False

    # After the first frame is drawn: the window is mapped and its accessible objects exist.
    win.connect("map-event", lambda *_: GLib.idle_add(announce) and False)
    GLib.io_add_watch(sys.stdin, GLib.IO_HUP | GLib.IO_IN, lambda *_: Gtk.main_quit() or False)
    Gtk.main()


main()
