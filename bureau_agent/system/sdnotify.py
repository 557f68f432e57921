"""sd_notify, written in-process: one AF_UNIX datagram per message to $NOTIFY_SOCKET.

Sent from the main process itself, because the unit uses NotifyAccess=main and a forked
`systemd-notify` would be refused. A NOTIFY_SOCKET starting with '@' names a socket in the
abstract namespace. Without NOTIFY_SOCKET (not under systemd) every call is a no-op. A failed
send is logged at debug level and never raised: notification is best effort.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, MutableMapping

log = logging.getLogger("bureau_agent.sdnotify")

# The variables that describe this process's supervision; children must not inherit them.
SUPERVISION_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def socket_address(value: str) -> str | None:
    """The sendto() address for a NOTIFY_SOCKET value, None when it is not usable."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # systemd also allows vsock:..., which a desktop VM agent never gets


def watchdog_interval_s(environ: Mapping[str, str]) -> float | None:
    """Half of the watchdog timeout systemd asked for, or None when there is no watchdog.

    WATCHDOG_PID, when set, must be this process (the variable may have leaked from a parent).
    """
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2


class Notifier:
    def __init__(self, notify_socket: str | None) -> None:
        self.address = socket_address(notify_socket) if notify_socket else None
        self._sock: socket.socket | None = None

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = True) -> Notifier:
        """Read NOTIFY_SOCKET; with unset, also remove the supervision variables so that the
        commands the agent runs do not think systemd is waiting for them."""
        env = os.environ if environ is None else environ
        notifier = cls(env.get("NOTIFY_SOCKET"))
        if unset:
            for name in SUPERVISION_VARIABLES:
                env.pop(name, None)
        return notifier

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send KEY=VALUE fields as one datagram; True when it was handed to the socket."""
        if self.address is None:
            return False
        message = "\n".join(f.replace("\n", " ") for f in fields).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)  # a full queue must not stall the event loop
            self._sock.sendto(message, self.address)
        except OSError as exc:
            log.debug("sd_notify failed", extra={"error": exc.strerror or type(exc).__name__})
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
