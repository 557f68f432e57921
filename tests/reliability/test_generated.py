"""Generated requests: schemathesis reads the live /v1/openapi.json and sends what it allows.

Every operation is exercised with valid bodies and queries (positive mode) and with invalid ones
(negative mode); each answer must not be a 5xx, must have a documented status code, a documented
Content-Type, and a body matching the documented schema.

Routes that run commands (/v1/exec, /v1/bash, /v1/python) or touch files (/v1/files…) are never
generated: random commands must not run on the machine, nor random deletes and writes. Their validation is tested with chosen hostile inputs in
test_hostile.py. For the input routes, generation is narrowed where a valid request would only
be slow (a 100 000-character text typed with a 1 s delay per character): the narrowed limits are
in SLOW_LIMITS, and a request that is valid and slow is never sent (see `too_slow`).
"""

from __future__ import annotations

import copy
import json
import urllib.request
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from bureau_agent.httpkit.schema import validate
from bureau_agent.app import FEATURES
from bureau_agent.errors import InvalidRequest
from tests.support import figures
from tests.support.agentproc import AgentProcess
from tests.support.xvfb import Xvfb

pytestmark = pytest.mark.reliability

# Files too: a generated DELETE ?path=/&recursive=true or PUT over a system file, as the root
# that this suite runs as, would damage the machine. tests/files/ covers their bad input.
# Streams too: an answer that never ends cannot be checked whole; tests/api/test_stream.py and
# test_events.py cover their bad input.
NEVER_GENERATED = frozenset(
    {"/v1/exec", "/v1/bash", "/v1/python", "/v1/files", "/v1/files/mkdir", "/v1/files/move", "/v1/screen/stream", "/v1/events"}
)
ROUTES = [route for feature in FEATURES for route in feature.routes]
OPERATIONS = [(r.method, r.path) for r in ROUTES if r.path not in NEVER_GENERATED]
# Invalid requests only where there is something to get wrong (a body or a query).
CASES = [
    (r.method, r.path, mode)
    for r in ROUTES
    if r.path not in NEVER_GENERATED
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or r.body is not None or r.query
]
BODY_SCHEMAS = {r.path: r.body for r in ROUTES if r.body is not None}


@schemathesis.check
def no_internal_error(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Schemathesis' not_a_server_error, less the 503/504 answers the API documents.

    A 503 chat_unavailable or display_unavailable is an answer, not a crash; whether a 5xx
    status is documented for the route is status_code_conformance's job.
    """
    if response.status_code == 500 or response.status_code > 504:
        raise AssertionError(f"{case.method} {case.path} answered {response.status_code}: {response.text[:300]}")


CHECKS = [no_internal_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Positive generation only: (path, JSON pointer to a body property) -> narrowed schema keywords.
SLOW_LIMITS: dict[tuple[str, str], dict[str, int]] = {
    ("/v1/type", "text"): {"maxLength": 64},
    ("/v1/type", "delayMs"): {"maximum": 2},
    ("/v1/drag", "durationMs"): {"maximum": 100},
    ("/v1/drag", "path"): {"maxItems": 8},
    ("/v1/key", "repeat"): {"maximum": 3},
    ("/v1/key", "key"): {"maxLength": 100},
    ("/v1/scroll", "amount"): {"maximum": 10},
    ("/v1/chat", "timeoutMs"): {"maximum": 2000},
}

SENT: dict[str, int] = {}


def examples_per_mode() -> int:
    # 10 at scale 1; at scale 10, 100 per operation and mode: well over 1000 requests in all.
    return figures.scaled(10, minimum=2)


def too_slow(path: str, body: Any) -> bool:
    """A body the agent would accept and that would take long to carry out."""
    if not isinstance(body, dict) or path not in BODY_SCHEMAS:
        return False
    try:
        validate(body, BODY_SCHEMAS[path])
    except InvalidRequest:
        return False  # refused at once, whatever its size
    if path == "/v1/type":
        return len(body["text"]) * (1 + body.get("delayMs", 0)) > 400
    if path == "/v1/drag":
        return body.get("durationMs", 0) > 200 or len(body.get("path", [])) > 16
    if path == "/v1/key":
        return body.get("repeat", 1) * len(body["key"]) > 300
    if path == "/v1/scroll":
        return body.get("amount", 3) > 20
    return False


def on_screen(schema: dict[str, Any], width: int, height: int) -> None:
    """Bound every integer property x and y (at any depth) to the screen."""
    for name, prop in schema.get("properties", {}).items():
        if name in ("x", "y") and prop.get("type") == "integer":
            prop.update({"minimum": 0, "maximum": (width if name == "x" else height) - 1})
        on_screen(prop, width, height)
    if isinstance(schema.get("items"), dict):
        on_screen(schema["items"], width, height)


def narrowed(document: dict[str, Any], width: int, height: int) -> dict[str, Any]:
    """The document as valid requests are generated from: quick, and mostly on the screen.

    Off-screen points are refused (400 out_of_bounds) before anything happens; unbounded, they
    would be nearly all that is generated, and the 200 paths would hardly be exercised.
    """
    doc = copy.deepcopy(document)
    for (path, prop), limits in SLOW_LIMITS.items():
        schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        schema["properties"][prop].update(limits)
    for path in ("/v1/click", "/v1/move", "/v1/drag", "/v1/scroll"):
        on_screen(doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"], width, height)
    return doc


@pytest.fixture(scope="module")
def live_document(module_agent: AgentProcess) -> dict[str, Any]:
    request = urllib.request.Request(module_agent.url + "/v1/openapi.json", headers=module_agent.auth)
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


def test_every_documented_operation_is_generated_or_excluded_on_purpose(live_document: dict[str, Any]) -> None:
    live = {(method.upper(), path) for path, ops in live_document["paths"].items() for method in ops}
    assert live == set(OPERATIONS) | {(r.method, r.path) for r in ROUTES if r.path in NEVER_GENERATED}
    for (path, prop) in SLOW_LIMITS:
        body = live_document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert prop in body["properties"], f"{path} no longer has {prop}: update SLOW_LIMITS"


@pytest.mark.parametrize("method,path,mode", CASES, ids=[f"{m} {p} {mode.value}" for m, p, mode in CASES])
def test_generated_requests_get_documented_answers(
    module_agent: AgentProcess, rel_xvfb: Xvfb, live_document: dict[str, Any], method: str, path: str, mode: GenerationMode
) -> None:
    # Invalid requests are generated from the true document, so that "invalid" means invalid
    # for the agent too; valid ones from the narrowed one.
    document = narrowed(live_document, rel_xvfb.width, rel_xvfb.height) if mode is GenerationMode.POSITIVE else live_document
    operation = schemathesis.openapi.from_dict(document)[path][method]
    statuses: dict[int, int] = {}
    key = f"{method} {path} {mode.value}"

    @settings(
        max_examples=examples_per_mode(),
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        assume(not too_slow(path, case.body))
        response = case.call_and_validate(base_url=module_agent.url, headers=module_agent.auth, checks=CHECKS, timeout=30)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        SENT[key] = SENT.get(key, 0) + 1

    run()
    assert module_agent.alive()
    figures.record("generated", **{key: dict(sorted(statuses.items()))})


def test_generated_request_count(module_agent: AgentProcess) -> None:
    """At least 100 × scale generated requests in all (1000+ at the full scale of 10)."""
    if len(SENT) < len(CASES):
        pytest.skip("only part of the generated tests ran")
    total = sum(SENT.values())
    figures.record("generated", total=total)
    assert total >= 100 * figures.scale()
    assert module_agent.alive()
