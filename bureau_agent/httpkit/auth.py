"""Bearer tokens: the one way a token is read from a request and compared, for every server here."""

from __future__ import annotations

import hmac

from aiohttp import web


def bearer_token(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <token>` (the scheme is case-insensitive), or None."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return presented.strip() if scheme.lower() == "bearer" else None


def token_matches(presented: str | None, expected: str | None) -> bool:
    """Whether presented is expected, in constant time; no expected token matches nothing."""
    # compare_digest on bytes, run even without a token: the time says nothing of the value.
    same = hmac.compare_digest(
        (presented or "").encode("utf-8", "surrogateescape"), (expected or "\0").encode("utf-8", "surrogateescape")
    )
    return same and presented is not None and bool(expected)
