"""API keys: `sk_live_…` secrets with capabilities, kept only as hashes.

The configuration stores `sha256:<hex>` of each key, never the key itself. A presented key is
hashed and compared with every stored hash in constant time, so neither a wrong key nor a
near-miss is distinguishable by timing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

KEY_PREFIX = "sk_live_"
HASH_PREFIX = "sha256:"
CAPABILITIES = ("desktop:read", "desktop:lifecycle", "desktop:control", "desktop:chat")
MAX_KEY_LENGTH = 256
# Hex only: authenticate() encodes the stored hash as ASCII, so anything else would fail every request.
STORED_HASH = re.compile(r"sha256:[0-9a-fA-F]{64}")


class KeyConfigError(ValueError):
    """A key entry in the configuration is malformed; the message names it."""


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


@dataclasses.dataclass(frozen=True)
class ApiKey:
    name: str
    key_hash: str
    capabilities: tuple[str, ...]
    rate_limit_per_minute: int | None = None  # None: the control plane's default

    @property
    def id(self) -> str:
        """A stable public handle: a few hex digits of the hash (not enough to guess the key)."""
        return "key_" + self.key_hash[len(HASH_PREFIX):][:12]

    def to_config(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "hash": self.key_hash, "capabilities": list(self.capabilities)}
        if self.rate_limit_per_minute is not None:
            entry["rate_limit_per_minute"] = self.rate_limit_per_minute
        return entry


def parse_capabilities(values: Iterable[Any], where: str) -> tuple[str, ...]:
    caps: list[str] = []
    for value in values:
        if value not in CAPABILITIES:
            raise KeyConfigError(f"{where}: unknown capability {value!r}; known: {', '.join(CAPABILITIES)}")
        if value not in caps:
            caps.append(value)
    return tuple(caps)


def key_from_config(entry: Mapping[str, Any], index: int) -> ApiKey:
    where = f"keys[{index}]"
    if not isinstance(entry, Mapping):
        raise KeyConfigError(f"{where}: expected a table")
    unknown = set(entry) - {"name", "hash", "capabilities", "rate_limit_per_minute"}
    if unknown:
        raise KeyConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    name = entry.get("name", f"key{index}")
    digest = entry.get("hash")
    if not isinstance(name, str) or not name:
        raise KeyConfigError(f"{where}.name: expected a non-empty string")
    if not isinstance(digest, str) or not STORED_HASH.fullmatch(digest):
        raise KeyConfigError(f"{where}.hash: expected 'sha256:' followed by 64 hex digits (never the key itself)")
    caps = entry.get("capabilities", [])
    if not isinstance(caps, list):
        raise KeyConfigError(f"{where}.capabilities: expected a list")
    limit = entry.get("rate_limit_per_minute")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise KeyConfigError(f"{where}.rate_limit_per_minute: expected a positive integer")
    return ApiKey(name, digest.lower(), parse_capabilities(caps, f"{where}.capabilities"), limit)


class KeyStore:
    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self.keys = tuple(keys)

    def authenticate(self, presented: str) -> ApiKey | None:
        """The key whose hash matches, or None. Every stored hash is compared, in constant time."""
        if not presented.startswith(KEY_PREFIX) or len(presented) > MAX_KEY_LENGTH:
            return None
        digest = hash_key(presented).encode("ascii")
        found: ApiKey | None = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.key_hash.encode("ascii")):
                found = key
        return found
