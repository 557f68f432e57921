"""Dashboard sessions: an API key pasted once becomes a server-side session behind a cookie.

The browser holds only a random session id (an httpOnly, SameSite=Strict cookie); the key is
checked once at sign-in and never stored, only the ApiKey it matched (its hash and rights). A
cookie-authenticated request has exactly the key's rights, and because a browser attaches a
cookie by itself, one that changes anything must prove it comes from the dashboard's own page
(see cookie_request_refusal): a custom header that a cross-site form cannot send, and no
foreign Origin.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web

from bureau_agent.controlplane.keys import ApiKey

COOKIE = "bureau_session"
CSRF_HEADER = "X-Bureau-Dashboard"
IDLE_S = 12 * 3600  # a session unused this long is gone
LIFETIME_S = 7 * 24 * 3600  # and any session after this long
MAX_SESSIONS = 1000  # beyond: the least recently used goes
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclasses.dataclass
class Session:
    key: ApiKey
    created: float
    used: float


def _digest(session_id: str) -> str:
    # Stored by hash: a dump of the table (a debugger, a core file) holds no usable cookie.
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()


class SessionStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, key: ApiKey) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        self._sessions[_digest(session_id)] = Session(key, now, now)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session_id

    def lookup(self, session_id: str | None) -> ApiKey | None:
        if not session_id or len(session_id) > 128:
            return None
        digest = _digest(session_id)
        session = self._sessions.get(digest)
        if session is None:
            return None
        now = self._clock()
        if now - session.used > IDLE_S or now - session.created > LIFETIME_S:
            del self._sessions[digest]
            return None
        session.used = now
        self._sessions.move_to_end(digest)
        return session.key

    def delete(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(_digest(session_id), None)


def same_host(origin: str, request: web.Request) -> bool:
    """Whether an Origin names the host (and port) this request was sent to. The scheme is not
    compared: behind a TLS proxy the browser's https:// Origin reaches us over plain HTTP."""
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and parsed.netloc.lower() == request.host.lower()


def cookie_request_refusal(request: web.Request) -> str | None:
    """Why a cookie-authenticated request is refused (None: it may go on).

    - from another origin: an Origin header that is not ours, or a browser's Sec-Fetch-Site
      that says cross-site or same-site (another port of the same host is same-site, and
      SameSite=Strict does not keep the cookie from it);
    - changing anything (not GET/HEAD/OPTIONS) without the X-Bureau-Dashboard header, which a
      form cannot set and a cross-origin script cannot send without a CORS preflight we never
      grant.
    """
    origin = request.headers.get("Origin")
    if origin is not None and not same_host(origin, request):
        return f"Origin {origin} is not this control plane's."
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"A {fetch_site} request cannot use the dashboard session."
    if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
        return f"A request that changes something with the dashboard session needs the header {CSRF_HEADER}: 1."
    return None


def set_cookie(response: web.StreamResponse, request: web.Request, session_id: str) -> None:
    response.set_cookie(
        COOKIE, session_id, max_age=LIFETIME_S, path="/", httponly=True, samesite="Strict", secure=request.secure
    )


def clear_cookie(response: web.StreamResponse, request: web.Request) -> None:
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=request.secure)
