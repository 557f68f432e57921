"""The desktop session a command runs in: its user and its environment.

The agent's own environment (under systemd: INVOCATION_ID, NOTIFY_SOCKET, CREDENTIALS_DIRECTORY,
BUREAU_AGENT_TOKEN, …) is not the desktop's. Children get an allow-listed subset of it, the
display settings, the identity of the user they run as, a UTF-8 locale, and then the request's
own `env`. No BUREAU_AGENT_* variable of the agent ever reaches a child.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pwd
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bureau_agent.errors import Internal, InvalidRequest

if TYPE_CHECKING:
    from bureau_agent.config import Settings

log = logging.getLogger("bureau_agent.process")

MAX_ARG_BYTES = 131_071  # Linux MAX_ARG_STRLEN (32 pages) less the NUL: the largest single argv string
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"
FALLBACK_LOCALE = "C.UTF-8"

# Names passed through from the agent's environment (exact, or by prefix).
PASS_NAMES = frozenset(
    {
        "PATH", "LANG", "LANGUAGE", "TZ", "TERM", "COLORTERM", "DESKTOP_SESSION",
        "DBUS_SESSION_BUS_ADDRESS", "HOME", "USER", "LOGNAME", "SHELL",
        "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    }
)
PASS_PREFIXES = ("LC_", "XDG_")
SECRET_PREFIX = "BUREAU_AGENT_"
# Set by the runner on every child so that tree.py can find descendants that left the group.
RUN_ID_VAR = "BUREAU_AGENT_RUN_ID"


@dataclasses.dataclass(frozen=True)
class RunAs:
    """The account a command runs as, from the password database."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str
    shell: str

    @classmethod
    def lookup(cls, name: str) -> RunAs:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            raise Internal(f"exec_user {name!r} does not exist on this desktop.") from None
        groups = tuple(g for g in os.getgrouplist(name, pw.pw_gid) if g != pw.pw_gid)
        return cls(name, pw.pw_uid, pw.pw_gid, groups, pw.pw_dir, pw.pw_shell or "/bin/sh")

    @classmethod
    def current(cls) -> RunAs:
        uid = os.getuid()
        try:
            pw = pwd.getpwuid(uid)
        except KeyError:  # a uid without an account (containers): keep what we know
            return cls(str(uid), uid, os.getgid(), (), os.environ.get("HOME", "/"), "/bin/sh")
        return cls(pw.pw_name, uid, pw.pw_gid, (), pw.pw_dir, pw.pw_shell or "/bin/sh")

    def popen_kwargs(self) -> dict[str, Any]:
        """Arguments that make subprocess switch to this account (no preexec_fn: unsafe with threads)."""
        if os.geteuid() != 0 or self.uid == os.geteuid():
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


class Session:
    """Builds the user and the environment of each command."""

    def __init__(
        self,
        *,
        display: str | None,
        xauthority: str | None,
        user: str | None,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.display = display
        self.xauthority = xauthority
        self.user_name = user
        self.base_env = dict(os.environ if base_env is None else base_env)
        self._run_as: RunAs | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Session:
        """The desktop session the settings describe (display, xauthority, exec_user)."""
        return cls(display=settings.display, xauthority=settings.xauthority, user=settings.exec_user)

    def run_as(self) -> RunAs:
        """exec_user when the agent is root, else the agent's own user. Looked up once it resolves."""
        if self._run_as is None:
            if self.user_name and os.geteuid() == 0:
                self._run_as = RunAs.lookup(self.user_name)
            else:
                if self.user_name and self.user_name != RunAs.current().name:
                    log.warning("exec_user ignored: the agent is not root", extra={"exec_user": self.user_name})
                self._run_as = RunAs.current()
        return self._run_as

    def environment(self, extra: Mapping[str, str], run_id: str) -> dict[str, str]:
        return build_environment(
            self.base_env,
            display=self.display,
            xauthority=self.xauthority,
            user=self.run_as(),
            switching=bool(self.run_as().popen_kwargs()),
            extra=extra,
            run_id=run_id,
        )


def _passes(name: str) -> bool:
    if name.startswith(SECRET_PREFIX):
        return False
    return name in PASS_NAMES or name.startswith(PASS_PREFIXES)


def _is_utf8_locale(value: str) -> bool:
    return "utf8" in value.replace("-", "").lower()


def build_environment(
    base: Mapping[str, str],
    *,
    display: str | None,
    xauthority: str | None,
    user: RunAs,
    switching: bool,
    extra: Mapping[str, str],
    run_id: str,
) -> dict[str, str]:
    """The environment of one command (pure but for existence checks of per-user paths)."""
    env = {k: v for k, v in base.items() if _passes(k)}
    if switching:
        # The agent's own session paths belong to another user (root): use the desktop user's.
        for name in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"):
            env.pop(name, None)
        runtime = f"/run/user/{user.uid}"
        if os.path.isdir(runtime):
            env["XDG_RUNTIME_DIR"] = runtime
            if os.path.exists(f"{runtime}/bus"):
                env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={runtime}/bus"
    env.update(HOME=user.home, USER=user.name, LOGNAME=user.name, SHELL=user.shell)
    env.setdefault("PATH", DEFAULT_PATH)
    if display:
        env["DISPLAY"] = display
    if xauthority:
        env["XAUTHORITY"] = xauthority
    elif os.path.exists(os.path.join(user.home, ".Xauthority")):
        env["XAUTHORITY"] = os.path.join(user.home, ".Xauthority")
    effective = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or ""
    if not _is_utf8_locale(effective):
        for name in ("LC_ALL", "LC_CTYPE"):
            env.pop(name, None)
        env["LANG"] = FALLBACK_LOCALE
    env.update(extra)
    env[RUN_ID_VAR] = run_id  # last: a request cannot hide a command from the tree reaper
    return env


def check_env(env: Mapping[str, str]) -> None:
    """Reject names the kernel cannot carry (execve splits on the first '=')."""
    for name, value in env.items():
        if not name or "=" in name or "\x00" in name:
            raise InvalidRequest(
                f"env name {name!r} is not valid: it must be non-empty without '=' or NUL.",
                details={"field": "env"},
            )
        if "\x00" in value:
            raise InvalidRequest(f"env.{name} must not contain NUL characters.", details={"field": f"env.{name}"})
