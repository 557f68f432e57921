"""A load generator for the agent: mixed requests at a fixed concurrency, every outcome kept.

Each request becomes an Outcome (status, error code, latency, or the client-side exception), so
a test can assert on exactly what happened and print figures (p50/p99, counts by status).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import aiohttp


@dataclasses.dataclass(frozen=True)
class Call:
    kind: str
    method: str
    path: str
    json: Any = None
    params: dict[str, str] | None = None


@dataclasses.dataclass
class Outcome:
    call: Call
    started: float  # time.monotonic() when the request was sent
    latency: float
    status: int | None = None  # None: no HTTP answer at all
    code: str | None = None  # the error code of a JSON error body
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: Any = None  # the JSON body (or None for images)
    content_type: str = ""
    size: int = 0
    error: str | None = None  # the client-side exception, when there was no answer

    @property
    def ok(self) -> bool:
        return self.status == 200

    def describe(self) -> str:
        what = f"{self.call.method} {self.call.path}"
        if self.error is not None:
            return f"{what}: no answer ({self.error})"
        return f"{what}: {self.status} {self.code or ''} {str(self.body)[:200] if self.code else ''}".rstrip()


async def send(session: aiohttp.ClientSession, base_url: str, call: Call, headers: dict[str, str], timeout_s: float = 60.0) -> Outcome:
    started = time.monotonic()
    try:
        async with session.request(
            call.method,
            base_url + call.path,
            json=call.json,
            params=call.params,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            raw = await resp.read()
            outcome = Outcome(
                call,
                started,
                time.monotonic() - started,
                status=resp.status,
                headers=dict(resp.headers),
                content_type=resp.content_type,
                size=len(raw),
            )
            if resp.content_type == "application/json":
                try:
                    outcome.body = await resp.json()
                except ValueError:
                    outcome.body = raw[:200]
                if isinstance(outcome.body, dict) and isinstance(outcome.body.get("error"), dict):
                    outcome.code = outcome.body["error"].get("code")
            return outcome
    except asyncio.TimeoutError:
        return Outcome(call, started, time.monotonic() - started, error=f"timeout after {timeout_s} s")
    except aiohttp.ClientError as exc:
        return Outcome(call, started, time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")


async def run_load(
    session: aiohttp.ClientSession,
    base_url: str,
    calls: Iterable[Call],
    headers: dict[str, str],
    concurrency: int,
    *,
    timeout_s: float = 60.0,
    on_outcome: Callable[[Outcome], Awaitable[None] | None] | None = None,
) -> list[Outcome]:
    """Send every call, at most `concurrency` at once, and return the outcomes in send order."""
    iterator = iter(calls)
    outcomes: list[Outcome] = []

    async def worker() -> None:
        for call in iterator:  # the iterator is shared: each call is taken by one worker
            outcome = await send(session, base_url, call, headers, timeout_s)
            outcomes.append(outcome)
            if on_outcome is not None:
                result = on_outcome(outcome)
                if result is not None:
                    await result

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    outcomes.sort(key=lambda o: o.started)
    return outcomes


def endless(
    factory: Callable[[random.Random, int, int], Call], width: int, height: int, stop: asyncio.Event, seed: int = 0
) -> Iterator[Call]:
    """Calls from factory until stop is set."""
    rng = random.Random(seed)
    while not stop.is_set():
        yield factory(rng, width, height)


KEYS = ("shift", "a", "Return", "ctrl+a", "BackSpace", "Escape", "shift+Tab", "F5", "space")


def mixed_call(rng: random.Random, width: int, height: int) -> Call:
    """One of click, type, key, screenshot, exec (`true`): the daily mix of an AI agent."""
    kind = rng.choices(("click", "type", "key", "screenshot", "exec"), (25, 15, 20, 20, 20))[0]
    if kind == "click":
        body = {"x": rng.randrange(width), "y": rng.randrange(height)}
        return Call(kind, "POST", "/v1/click", body)
    if kind == "type":
        text = "".join(rng.choice("abcXYZ 019.,-éß") for _ in range(rng.randint(1, 12)))
        return Call(kind, "POST", "/v1/type", {"text": text})
    if kind == "key":
        return Call(kind, "POST", "/v1/key", {"key": rng.choice(KEYS)})
    if kind == "screenshot":
        params = rng.choice(({}, {"format": "jpeg", "quality": "60"}, {"maxWidth": "640"}))
        return Call(kind, "GET", "/v1/screenshot", params=params)
    return Call(kind, "POST", "/v1/exec", {"argv": ["true"]})


def frame_call(rng: random.Random, width: int, height: int) -> Call:
    """Calls that only the HTTP frame answers: status, health, the document, and refusals.

    Expected statuses are in FRAME_EXPECTED.
    """
    kind = rng.choice(("status", "health", "openapi", "not_found", "bad_body", "out_of_range"))
    if kind == "status":
        return Call(kind, "GET", "/v1/status")
    if kind == "health":
        return Call(kind, "GET", "/v1/health")
    if kind == "openapi":
        return Call(kind, "GET", "/v1/openapi.json")
    if kind == "not_found":
        return Call(kind, "GET", f"/v1/nothing-{rng.randrange(1000)}")
    if kind == "bad_body":
        return Call(kind, "POST", "/v1/click", {"x": "left", "y": rng.randrange(height)})
    return Call(kind, "POST", "/v1/click", {"x": 1, "y": 1, "clicks": rng.randint(4, 99)})


FRAME_EXPECTED = {"status": 200, "health": 200, "openapi": 200, "not_found": 404, "bad_body": 400, "out_of_range": 400}


def calls(factory: Callable[[random.Random, int, int], Call], n: int, width: int, height: int, seed: int = 0) -> Iterator[Call]:
    rng = random.Random(seed)
    for _ in range(n):
        yield factory(rng, width, height)


def mixed_calls(n: int, width: int, height: int, seed: int = 0) -> Iterator[Call]:
    return calls(mixed_call, n, width, height, seed)


# -- figures -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(outcomes: list[Outcome], wall_s: float | None = None, is_ok: Callable[[Outcome], bool] | None = None) -> dict[str, Any]:
    """Counts by status, errors (not is_ok; default: not 200), and latency figures in milliseconds."""
    is_ok = is_ok or (lambda o: o.ok)
    latencies = [o.latency for o in outcomes if o.status is not None]
    statuses = Counter(str(o.status) if o.status is not None else "no-answer" for o in outcomes)
    figures: dict[str, Any] = {
        "requests": len(outcomes),
        "statuses": dict(sorted(statuses.items())),
        "errors": sum(1 for o in outcomes if not is_ok(o)),
        "p50Ms": round(percentile(latencies, 50) * 1000, 1),
        "p99Ms": round(percentile(latencies, 99) * 1000, 1),
        "maxMs": round(max(latencies, default=0.0) * 1000, 1),
    }
    if wall_s is not None:
        figures["wallS"] = round(wall_s, 1)
        figures["perS"] = round(len(outcomes) / wall_s, 1) if wall_s > 0 else 0.0
    return figures


def by_kind(outcomes: list[Outcome], is_ok: Callable[[Outcome], bool] | None = None) -> dict[str, dict[str, Any]]:
    kinds: dict[str, list[Outcome]] = {}
    for o in outcomes:
        kinds.setdefault(o.call.kind, []).append(o)
    return {kind: summary(group, is_ok=is_ok) for kind, group in sorted(kinds.items())}
