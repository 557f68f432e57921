"""A typed Python client for the public bureau API (`/v1/desktops/...`).

    from bureau_agent.client import Bureau
    with Bureau() as bureau:                 # BUREAU_API_KEY, BUREAU_API_URL
        desktop = bureau.desktop("dsk_local1")
        desktop.type("hello\\n")
        desktop.screenshot().save("screen.png")

`AsyncBureau` has the same methods, to be awaited. This package speaks only the public API; it
imports nothing else of bureau_agent (tests/test_layout.py holds it to that).
"""

from bureau_agent.client._async_client import AsyncBureau
from bureau_agent.client._async_desktop import AsyncDesktop
from bureau_agent.client._async_files import AsyncClipboard, AsyncFiles
from bureau_agent.client._common import NO_RETRY, RetryPolicy, Timeout
from bureau_agent.client._sync_client import Bureau
from bureau_agent.client._sync_desktop import Desktop
from bureau_agent.client._sync_files import Clipboard, Files
from bureau_agent.client.errors import *  # noqa: F403  (the error classes are part of the API)
from bureau_agent.client.errors import ERRORS, BureauError
from bureau_agent.client.models import Event, FileInfo, Frame, Screenshot

__all__ = [
    "ERRORS",
    "NO_RETRY",
    "AsyncBureau",
    "AsyncClipboard",
    "AsyncDesktop",
    "AsyncFiles",
    "Bureau",
    "BureauError",
    "Clipboard",
    "Desktop",
    "Event",
    "FileInfo",
    "Files",
    "Frame",
    "RetryPolicy",
    "Screenshot",
    "Timeout",
    *[cls.__name__ for cls in ERRORS.values()],
    "ConnectionFailed",
    "DesktopFailed",
    "ReadyTimeout",
    "Unavailable",
]
