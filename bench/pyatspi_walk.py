"""The baseline of the accessibility rows: pyatspi (libatspi) walking a window's tree the usual
way, one property of one node at a time. Run with the system python (python3-pyatspi):

    /usr/bin/python3 bench/pyatspi_walk.py      # then one line a walk on stdin: "PID"

For each line it walks the frames of the application with that pid (role, name, states, screen
extents, actions and children of every node, as GET /v1/accessibility answers them) and prints
{"nodes": n}. libatspi's property cache is emptied before each walk, so each walk reads the live
tree, as each agent call does.
"""

import json
import sys

import pyatspi
from gi.repository import Atspi


def walk(node, depth, out):
    if depth > 30 or out["nodes"] >= 20000:
        return
    out["nodes"] += 1
    node.getRole()
    node.name
    node.getState().getStates()
    try:
        node.queryComponent().getExtents(pyatspi.DESKTOP_COORDS)
    except NotImplementedError:
        pass
    try:
        action = node.queryAction()
        [action.getName(i) for i in range(action.nActions)]
    except NotImplementedError:
        pass
    for i in range(node.childCount):
        child = node.getChildAtIndex(i)
        if child is not None:
            walk(child, depth + 1, out)


def main():
    desktop = pyatspi.Registry.getDesktop(0)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        pid = int(line)
        out = {"nodes": 0}
        for app in desktop:
            if app is None or app.get_process_id() != pid:
                continue
            Atspi.Accessible.clear_cache(app)
            for frame in app:
                walk(frame, 0, out)
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


main()
