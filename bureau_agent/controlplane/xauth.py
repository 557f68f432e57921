"""An X authority file per local desktop: one random MIT-MAGIC-COOKIE-1, so that only the
programs given the file (the desktop's agent, its apps and window manager) can connect, not
every local user as with Xvfb -ac.

The file holds the cookie twice: a FamilyWild entry without display number, which the X server
reads at start (it ignores addresses) and libXau clients (xterm, xdotool, mss) match for any
display; and, once the display number is known, a FamilyLocal entry for this host and that
number, the only kind python-xlib matches. Written to a temporary file and renamed, mode 0600.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import struct
from pathlib import Path

COOKIE_NAME = b"MIT-MAGIC-COOKIE-1"
FAMILY_LOCAL = 256
FAMILY_WILD = 65535


def new_cookie() -> bytes:
    return secrets.token_bytes(16)


def _field(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def _entry(family: int, address: bytes, number: bytes, cookie: bytes) -> bytes:
    return struct.pack(">H", family) + _field(address) + _field(number) + _field(COOKIE_NAME) + _field(cookie)


def write_authority(path: Path, cookie: bytes, display_number: int | None = None) -> None:
    """Write (or replace) path with the cookie's entries."""
    data = _entry(FAMILY_WILD, b"", b"", cookie)
    if display_number is not None:
        data += _entry(FAMILY_LOCAL, socket.gethostname().encode(), str(display_number).encode(), cookie)
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
