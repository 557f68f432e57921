"""What runs on a local desktop's display besides its apps: the session kind's programs.

`session = "openbox"` (the default) is the light one for tests: openbox alone. `session = "xfce"`
looks like the product's Ubuntu 22.04 XFCE desktops: a D-Bus session bus of the desktop's own,
the AT-SPI bus launcher on it (so that GTK apps export their accessibility tree), xfsettingsd
(theme and fonts), the xfwm4 window manager, xfdesktop and xfce4-panel. A desktop's
`window_manager`, when given, replaces the session's window manager.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from bureau_agent.controlplane.config import SESSIONS, DesktopConfig

__all__ = ["SESSIONS", "SessionPrograms", "session_programs"]

OPENBOX = ["openbox", "--sm-disable"]
PANEL_DEFAULTS = Path("/etc/xdg/xfce4/panel/default.xml")
# Debian and Ubuntu install it here; elsewhere it may be in /usr/lib/at-spi2-core.
AT_SPI_LAUNCHERS = ("/usr/libexec/at-spi-bus-launcher", "/usr/lib/at-spi2-core/at-spi-bus-launcher")


@dataclasses.dataclass(frozen=True)
class SessionPrograms:
    bus: bool  # start a D-Bus session bus first; every later program gets its address
    before_wm: tuple[tuple[str, list[str]], ...]
    window_manager: list[str]
    after_wm: tuple[tuple[str, list[str]], ...]


def at_spi_launcher() -> str:
    return next((p for p in AT_SPI_LAUNCHERS if os.path.exists(p)), AT_SPI_LAUNCHERS[0])


def session_programs(config: DesktopConfig) -> SessionPrograms:
    if config.session == "xfce":
        return SessionPrograms(
            bus=True,
            before_wm=(("at-spi", [at_spi_launcher(), "--launch-immediately"]), ("xfsettingsd", ["xfsettingsd"])),
            # No compositing on a virtual framebuffer: it only costs CPU and delays frames.
            window_manager=config.window_manager if config.window_manager is not None else ["xfwm4", "--compositor=off"],
            after_wm=(("xfdesktop", ["xfdesktop"]), ("panel", ["xfce4-panel"])),
        )
    return SessionPrograms(
        bus=False,
        before_wm=(),
        window_manager=config.window_manager if config.window_manager is not None else list(OPENBOX),
        after_wm=(),
    )


def session_env(config: DesktopConfig, state_dir: Path) -> dict[str, str]:
    """Variables the session's programs need, after preparing what they read.

    XFCE keeps its settings under XDG_CONFIG_HOME: each desktop gets its own (in its state
    directory), so desktops do not share a panel layout nor write into the operator's home. The
    panel's channel is seeded with the distribution's default layout; without it xfce4-panel
    starts with a "first start" dialog over the screen instead of the panel.
    """
    if config.session != "xfce":
        return {}
    config_home = state_dir / "xdg-config"
    channel = config_home / "xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml"
    if not channel.exists() and PANEL_DEFAULTS.exists():
        channel.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PANEL_DEFAULTS, channel)
    return {"XDG_CONFIG_HOME": str(config_home), "XDG_CACHE_HOME": str(state_dir / "xdg-cache"), "XDG_CURRENT_DESKTOP": "XFCE"}
