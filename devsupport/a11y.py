"""A real AT-SPI session for tests: a D-Bus session bus, at-spi2-core's bus launcher and registry,
and real accessible applications (GTK 3, Qt 5, Chromium) on an Xvfb.

    with xclients.openbox(xvfb):                  # openbox, once it manages the screen
        with A11ySession(xvfb) as session:        # dbus-run-session; the launcher by activation
            with gtk_app(session) as app:         # returns once its window is mapped
                ...                               # app.window: its X window id, app.pid
            with ChromiumApp(session, url) as c:  # a real window (headless exports no tree)

The GTK and Qt apps run under /usr/bin/python3 (python3-gi and python3-pyqt5 are Debian
packages: the test venv cannot import them). Each app prints one line of JSON when its window
is shown, and one line for each event the test asks to see (a click changes its title too).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from devsupport.xvfb import Xvfb

SYSTEM_PYTHON = "/usr/bin/python3"
LAUNCHER_DIRS = ("/usr/libexec", "/usr/lib/at-spi2-core", "/usr/libexec/at-spi2-core")
APPS = Path(__file__).parent / "a11y_apps"


def find_launcher() -> str | None:
    for folder in LAUNCHER_DIRS:
        path = os.path.join(folder, "at-spi-bus-launcher")
        if os.access(path, os.X_OK):
            return path
    return None


def read_line(proc: subprocess.Popen[str], timeout: float, what: str) -> str:
    """One line of the process's stdout within timeout seconds, or RuntimeError naming what."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"{what}: nothing within {timeout:g} s")
        if select.select([proc.stdout], [], [], remaining)[0]:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{what}: the process exited ({proc.poll()})")
            return line.strip()


def _end(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGCONT)  # a test may have stopped it
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


class A11ySession:
    """dbus-run-session: the desktop's session bus, on which D-Bus activation starts
    at-spi-bus-launcher (and with it the a11y bus and its registry) at the first GetAddress.

    The launcher sets AT_SPI_BUS on the X root window (as in a desktop session) unless
    set_root_property is False, in which case only org.a11y.Bus.GetAddress finds it.
    """

    def __init__(self, xvfb: Xvfb, *, set_root_property: bool = True) -> None:
        launcher = find_launcher()
        if launcher is None or shutil.which("dbus-run-session") is None:
            raise RuntimeError("at-spi2-core or dbus is not installed: run scripts/install-deps --test")
        self.launcher = launcher
        self.xvfb = xvfb
        self.set_root_property = set_root_property
        self.proc: subprocess.Popen[str] | None = None
        self.address = ""
        # The launcher puts the bus socket under XDG_RUNTIME_DIR: one of its own per session,
        # so that sessions of parallel test runs never meet.
        self.runtime_dir = tempfile.mkdtemp(prefix="a11y-run-")
        self._log = open(os.path.join(self.runtime_dir, "session.log"), "w")  # noqa: SIM115 - closed in stop()

    def start(self) -> A11ySession:
        env = self.xvfb.env()
        env["XDG_RUNTIME_DIR"] = self.runtime_dir
        if not self.set_root_property:
            env.pop("DISPLAY", None)  # the launcher writes the root property only with a display
        # The session bus starts at-spi-bus-launcher by D-Bus activation (its .service file),
        # as in a desktop session, on the first GetAddress (wait_bus); starting one ourselves
        # as well raced with the activated one for the name.
        self.proc = subprocess.Popen(
            ["dbus-run-session", "--", "sh", "-c", 'echo "$DBUS_SESSION_BUS_ADDRESS"; exec sleep infinity'],
            env=env, stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True,
        )
        self.address = read_line(self.proc, 10, "dbus-run-session")
        self.wait_bus(30)
        return self

    def wait_bus(self, timeout: float) -> str:
        """The a11y bus address, once the launcher answers GetAddress (and set the root property)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = subprocess.run(
                ["dbus-send", "--session", "--print-reply=literal", "--dest=org.a11y.Bus", "/org/a11y/bus", "org.a11y.Bus.GetAddress"],
                env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": self.address}, capture_output=True, text=True, timeout=5,
            )
            if result.returncode == 0 and result.stdout.strip():
                if not self.set_root_property or self.root_property():
                    return result.stdout.strip()
            time.sleep(0.05)
        with open(self._log.name) as f:
            raise RuntimeError(f"the accessibility bus did not come up: {f.read()[-2000:]}")

    def root_property(self) -> str:
        result = subprocess.run(["xprop", "-root", "AT_SPI_BUS"], env=self.xvfb.env(), capture_output=True, text=True, timeout=5)
        return result.stdout if "=" in result.stdout else ""

    def env(self) -> dict[str, str]:
        """The desktop session's environment: what an application started in it gets."""
        env = self.xvfb.env()
        env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        env["XDG_RUNTIME_DIR"] = self.runtime_dir
        env.pop("NO_AT_BRIDGE", None)
        return env

    def stop(self) -> None:
        _end(self.proc)
        self._log.close()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)
        if self.set_root_property:  # as a logout would: the property names a bus that is gone
            subprocess.run(["xprop", "-root", "-remove", "AT_SPI_BUS"], env=self.xvfb.env(), capture_output=True, timeout=5)

    def __enter__(self) -> A11ySession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class App:
    """An accessible application in the session; `ready` is its first JSON line."""

    def __init__(self, session: A11ySession, argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 30) -> None:
        self.session = session
        self.argv = argv
        self.extra_env = env or {}
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None
        self.ready: dict[str, Any] = {}

    def start(self) -> App:
        self.proc = subprocess.Popen(
            self.argv, env={**self.session.env(), **self.extra_env}, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        try:
            self.ready = json.loads(read_line(self.proc, self.timeout, self.argv[-1]))
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def window(self) -> int:
        return int(self.ready["window"])

    def event(self, timeout: float = 10) -> dict[str, Any]:
        assert self.proc is not None
        return json.loads(read_line(self.proc, timeout, f"{self.argv[-1]} event"))

    def stop(self) -> None:
        _end(self.proc)

    def __enter__(self) -> App:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def gtk_app(session: A11ySession, **kwargs: Any) -> App:
    return App(session, [SYSTEM_PYTHON, str(APPS / "gtk_window.py")], **kwargs)


def qt_app(session: A11ySession, **kwargs: Any) -> App:
    return App(session, [SYSTEM_PYTHON, str(APPS / "qt_window.py")], env={"QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1", "QT_QPA_PLATFORM": "xcb"}, **kwargs)


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class ChromiumApp(App):
    """Chromium in a real window on the Xvfb (headless exports no tree) showing a local page.

    The helper script waits for the page's accessible document to appear on the bus; the
    window id comes from _NET_WM_PID of the browser process.
    """

    def __init__(self, session: A11ySession, page: str, *, x: int = 0, y: int = 0, width: int = 1000, height: int = 700, timeout: float = 60) -> None:
        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("chromium is not installed: run scripts/install-deps --test")
        self.profile = tempfile.mkdtemp(prefix="a11y-chromium-")
        self.page = page
        argv = [
            binary, "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
            "--force-renderer-accessibility", "--password-store=basic", "--use-mock-keychain",
            f"--user-data-dir={self.profile}", f"--window-position={x},{y}", f"--window-size={width},{height}",
            "--app=" + page,
        ]
        super().__init__(session, argv, timeout=timeout)

    def start(self) -> ChromiumApp:
        # Chromium loads its ATK bridge only when told accessibility is on (as a screen
        # reader's org.a11y.Status would say); --force-renderer-accessibility fills the tree.
        self.proc = subprocess.Popen(
            self.argv, env={**self.session.env(), "ACCESSIBILITY_ENABLED": "1"}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        try:
            self.ready = {"window": wait_window_of_pid(self.session.xvfb, self.proc.pid, self.timeout)}
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.profile, ignore_errors=True)


def wait_window_of_pid(xvfb: Xvfb, pid: int, timeout: float) -> int:
    """The id of a mapped top-level window whose _NET_WM_PID is pid, once there is one."""
    from Xlib import X
    from Xlib import display as xdisplay
    from Xlib import error as xerror

    conn = xdisplay.Display(xvfb.name)
    try:
        atom = conn.intern_atom("_NET_WM_PID")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            root = conn.screen().root
            managed = root.get_full_property(conn.intern_atom("_NET_CLIENT_LIST"), X.AnyPropertyType)
            # under a window manager the top-level windows are its frames' children: its list
            clients = [conn.create_resource_object("window", wid) for wid in (managed.value if managed else [])]
            for child in clients + list(root.query_tree().children):
                try:
                    prop = child.get_full_property(atom, X.AnyPropertyType)
                    if prop is not None and prop.value and int(prop.value[0]) == pid:
                        if child.get_attributes().map_state == X.IsViewable:
                            return int(child.id)
                except xerror.XError:
                    continue
            time.sleep(0.05)
        raise RuntimeError(f"no window of pid {pid} within {timeout:g} s")
    finally:
        conn.close()


def find(node: dict[str, Any], predicate: Any) -> list[dict[str, Any]]:
    """Every node of a JSON tree (GET /v1/accessibility's root) for which predicate(node) holds."""
    found = [node] if predicate(node) else []
    for child in node.get("children", []):
        found += find(child, predicate)
    return found


def named(root: dict[str, Any], role: str, name: str) -> dict[str, Any]:
    """The one node with this role and name, or AssertionError showing what there is."""
    matches = find(root, lambda n: n["role"] == role and n["name"] == name)
    assert len(matches) == 1, (role, name, [(n["role"], n["name"]) for n in find(root, lambda n: True)])
    return matches[0]


def centre(node: dict[str, Any]) -> tuple[int, int]:
    return node["x"] + node["width"] // 2, node["y"] + node["height"] // 2


def geometry(xvfb: Xvfb, window: int, *, frame: bool = False) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a window on the screen, as xwininfo reports it (frame: with
    the window manager's decorations, _NET_FRAME_EXTENTS as xprop reports them)."""
    out = subprocess.run(["xwininfo", "-id", str(window)], env=xvfb.env(), capture_output=True, text=True, timeout=10, check=True).stdout
    fields = dict(line.strip().split(":", 1) for line in out.splitlines() if ":" in line)
    x, y = int(fields["Absolute upper-left X"]), int(fields["Absolute upper-left Y"])
    w, h = int(fields["Width"]), int(fields["Height"])
    if not frame:
        return x, y, w, h
    out = subprocess.run(["xprop", "-id", str(window), "_NET_FRAME_EXTENTS"], env=xvfb.env(), capture_output=True, text=True, timeout=10).stdout
    left, right, top, bottom = (int(v) for v in out.split("=", 1)[1].split(","))
    return x - left, y - top, w + left + right, h + top + bottom


def window_title(xvfb: Xvfb, window: int) -> str:
    out = subprocess.run(["xprop", "-id", str(window), "_NET_WM_NAME"], env=xvfb.env(), capture_output=True, text=True, timeout=10).stdout
    return out.split("=", 1)[1].strip().strip('"') if "=" in out else ""
