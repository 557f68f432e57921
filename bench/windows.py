"""Window and clipboard rows, on a display of their own: Xvfb, openbox and 20 open windows.

    python -m bench.windows [--smoke]     # only these rows (the machine is shared: run what you need)

- listing 20 windows through the API, against python-xlib asking one property at a time (what
  the usual EWMH helper libraries do: a round trip per property per window);
- activate and confirm through the API, against `xdotool windowactivate --sync`, and the window
  manager's own latency apart (the client message, then openbox's PropertyNotify on the root);
- a clipboard set and read back through the API, against `xclip -i` then `xclip -o`, and a read of
  another client's text against `xclip -o`.
"""

from __future__ import annotations

import argparse
import asyncio
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib.protocol import event as xevent

from bench.agent import Client, running_agent
from bench.measure import Budget, Row, Side, Stat, Unavailable
from devsupport.xclients import openbox, read_line
from devsupport.xvfb import Xvfb

SECTION = "latency"
WINDOWS = 20
TEXT = "clipboard ✓ round trip — ünïcödé " * 4


def naive_listing(conn: xdisplay.Display) -> list[dict[str, Any]]:
    """A listing the way EWMH helper libraries build it: one blocking request per property."""
    root = conn.screen().root
    atom = conn.intern_atom
    ids = root.get_full_property(atom("_NET_CLIENT_LIST_STACKING"), Xatom.WINDOW).value
    out = []
    for wid in ids:
        w = conn.create_resource_object("window", int(wid))
        name = w.get_full_property(atom("_NET_WM_NAME"), atom("UTF8_STRING"))
        pid = w.get_full_property(atom("_NET_WM_PID"), Xatom.CARDINAL)
        desktop = w.get_full_property(atom("_NET_WM_DESKTOP"), Xatom.CARDINAL)
        state = w.get_full_property(atom("_NET_WM_STATE"), Xatom.ATOM)
        geometry = w.get_geometry()
        origin = w.translate_coords(root, 0, 0)
        out.append({"id": int(wid), "title": name.value if name else w.get_wm_name(), "class": w.get_wm_class(),
                    "pid": pid.value[0] if pid else None, "desktop": desktop.value[0] if desktop else None,
                    "state": list(state.value) if state else [], "x": -origin.x, "y": -origin.y,
                    "width": geometry.width, "height": geometry.height})  # fmt: skip
    return out


def wm_activation_ms(conn: xdisplay.Display, ids: list[int], timeout_s: float = 5.0) -> float:
    """The window manager's own latency: _NET_ACTIVE_WINDOW sent (for whichever of two windows is
    not active now) → its PropertyNotify on the root saying so, waited for by event, not polled."""
    root = conn.screen().root
    active = conn.intern_atom("_NET_ACTIVE_WINDOW")
    root.change_attributes(event_mask=X.PropertyChangeMask)
    now = root.get_full_property(active, Xatom.WINDOW)
    wid = ids[1] if now is not None and int(now.value[0]) == ids[0] else ids[0]
    message = xevent.ClientMessage(window=wid, client_type=active, data=(32, [2, X.CurrentTime, 0, 0, 0]))
    t0 = time.perf_counter()
    root.send_event(message, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
    conn.flush()
    deadline = t0 + timeout_s
    while time.perf_counter() < deadline:
        if not conn.pending_events() and not select.select([conn.fileno()], [], [], deadline - time.perf_counter())[0]:
            break
        while conn.pending_events():
            ev = conn.next_event()
            if ev.type == X.PropertyNotify and ev.atom == active:
                value = root.get_full_property(active, Xatom.WINDOW)
                if value is not None and int(value.value[0]) == wid:
                    return (time.perf_counter() - t0) * 1000
    raise Unavailable("n/a (the WM never reported it active)")


def _run(args: list[str], env: dict[str, str], stdin: bytes | None = None) -> bytes:
    return subprocess.run(args, env=env, input=stdin, capture_output=True, check=True, timeout=30).stdout


async def window_rows(fast: Budget, medium: Budget, slow: Budget, workdir: Path) -> list[Row]:
    from bench.suite import agent_side, baseline_side, log

    rows: list[Row] = []
    xvfb = Xvfb().start()
    env = xvfb.env()
    try:
        with openbox(xvfb):
            apps = subprocess.Popen([sys.executable, "-m", "bench.xwindows", xvfb.name, str(WINDOWS)], env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
            try:
                if read_line(apps) != "ready":
                    raise RuntimeError("bench.xwindows did not start")
                async with running_agent(xvfb.name, env, workdir / "agent-windows.log") as agent:
                    client = Client(agent.base_url)
                    try:
                        rows += await _rows(client, xvfb, env, fast, medium, slow, agent_side, baseline_side, log)
                    finally:
                        await client.close()
            finally:
                apps.kill()
                apps.wait(10)
    finally:
        xvfb.stop()
    return rows


async def _rows(client: Client, xvfb: Xvfb, env: dict[str, str], fast: Budget, medium: Budget, slow: Budget,
                agent_side: Any, baseline_side: Any, log: Any) -> list[Row]:  # fmt: skip
    deadline = time.monotonic() + 20
    while len((listing := await client.get("/v1/windows"))["windows"]) < WINDOWS:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(listing['windows'])} windows listed")
        await asyncio.sleep(0.1)
    ids = [w["id"] for w in listing["windows"]]
    rows: list[Row] = []
    log(f"windows: list {WINDOWS}, activate, clipboard")
    conn = xdisplay.Display(xvfb.name)
    try:
        rows.append(Row(SECTION, f"list windows ({WINDOWS} open, openbox)", "ms",
                        await agent_side("GET /v1/windows", lambda: client.get("/v1/windows"), fast),
                        baseline_side("python-xlib, one request per property (as EWMH helper libraries)",
                                      lambda: naive_listing(conn), fast), target="≤ 5 ms"))  # fmt: skip
        turn = iter(range(10**9))

        async def activate() -> None:
            wid = ids[next(turn) % 2]
            if not (await client.post(f"/v1/windows/{wid}/activate", {}))["activated"]:
                raise Unavailable("n/a (not activated)")

        def xdotool_activate() -> None:
            _run(["xdotool", "windowactivate", "--sync", str(ids[next(turn) % 2])], env)

        rows.append(Row(SECTION, "activate a window + confirm it is active", "ms",
                        await agent_side("POST /v1/windows/{id}/activate", activate, medium),
                        baseline_side("xdotool windowactivate --sync", xdotool_activate, slow)))  # fmt: skip
        watcher = xdisplay.Display(xvfb.name)
        try:
            samples = [wm_activation_ms(watcher, ids[:2]) for _ in range(max(3, medium.count))]
        finally:
            watcher.close()
        wm = Side("openbox alone: _NET_ACTIVE_WINDOW message → its PropertyNotify (python-xlib, event-driven)")
        wm.stat = Stat(samples)
        rows.append(Row(SECTION, "activate: the window manager's own part of it", "ms", wm))
    finally:
        conn.close()

    async def set_and_read() -> None:
        await client.post("/v1/clipboard", {"text": TEXT})
        if (await client.get("/v1/clipboard"))["text"] != TEXT:
            raise Unavailable("n/a (read back differs)")

    def xclip_set_and_read() -> None:
        subprocess.run(["xclip", "-i", "-selection", "clipboard"], env=env, input=TEXT.encode(), check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        if _run(["xclip", "-o", "-selection", "clipboard"], env).decode() != TEXT:
            raise subprocess.CalledProcessError(1, "xclip -o")

    rows.append(Row(SECTION, f"clipboard set + read back ({len(TEXT)} chars)", "ms",
                    await agent_side("POST then GET /v1/clipboard", set_and_read, fast),
                    baseline_side("xclip -i, then xclip -o", xclip_set_and_read, slow), target="≥ 5× faster"))  # fmt: skip
    xclip_set_and_read()  # xclip owns it now: the API reads another client's text over X

    async def read_other() -> None:
        if (await client.get("/v1/clipboard"))["text"] != TEXT:
            raise Unavailable("n/a (read differs)")

    rows.append(Row(SECTION, "clipboard read of another client's text (xclip owns it)", "ms",
                    await agent_side("GET /v1/clipboard", read_other, fast),
                    baseline_side("xclip -o", lambda: _run(["xclip", "-o", "-selection", "clipboard"], env), slow)))  # fmt: skip
    return rows


def main() -> int:
    from bench.report import markdown_tables
    from bench.scene import make_workdir
    from bench.suite import FULL, SMOKE

    parser = argparse.ArgumentParser(prog="python -m bench.windows", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    plan = SMOKE if args.smoke else FULL
    workdir = make_workdir()
    try:
        rows = asyncio.run(window_rows(plan.fast, plan.medium, plan.slow, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(markdown_tables(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
