"""The HTTP frame: authentication, the error shape, body limits and strict bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bureau_agent.api.middleware import is_loopback_host, make_auth_middleware
from bureau_agent.httpkit.auth import bearer_token, token_matches
from bureau_agent.httpkit.middleware import error_middleware
from bureau_agent.app import create_app
from tests.support.agent import AUTH, TOKEN, agent_settings
from tests.support.xvfb import Xvfb


def assert_error(body: dict[str, Any], code: str, needle: str = "") -> None:
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert needle in body["error"]["message"]


async def test_health_needs_no_token_and_ignores_a_wrong_one(agent: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = await agent.get("/v1/health", headers=headers)
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "agentReady": True}


async def test_every_other_route_needs_the_token(agent: TestClient) -> None:
    for method, path in [("GET", "/v1/status"), ("GET", "/v1/openapi.json"), ("POST", "/v1/click"), ("GET", "/v1/screenshot"), ("POST", "/v1/exec"), ("GET", "/v1/nope")]:
        for headers in ({}, {"Authorization": "Bearer " + TOKEN[:-1] + "x"}, {"Authorization": TOKEN}, {"Authorization": "Basic " + TOKEN}):
            resp = await agent.request(method, path, headers=headers)
            assert resp.status == 401, (method, path, headers)
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            assert_error(await resp.json(), "unauthorized")
    resp = await agent.get("/v1/status", headers={"Authorization": "bearer " + TOKEN})
    assert resp.status == 200


async def test_unknown_route_and_wrong_method(agent: TestClient) -> None:
    resp = await agent.get("/v1/nope", headers=AUTH)
    assert resp.status == 404
    assert_error(await resp.json(), "not_found", "/v1/nope")
    resp = await agent.get("/v1/click", headers=AUTH)
    assert resp.status == 405
    assert resp.headers["Allow"] == "POST"
    assert_error(await resp.json(), "method_not_allowed", "GET")


async def test_malformed_bodies_are_invalid_requests(agent: TestClient) -> None:
    cases = [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[1, 2]", "must be an object"),
        (b"[" * 100_000 + b"]" * 100_000, ""),
        (json.dumps({"x": 1, "y": 2, "bogus": True}).encode(), "bogus"),
        (json.dumps({"x": "10", "y": 2}).encode(), "x must be an integer"),
        (json.dumps({"x": True, "y": 2}).encode(), "x must be an integer"),
        (json.dumps({"x": 1, "y": 2, "clicks": 4}).encode(), "clicks must be at most 3"),
        (json.dumps({"x": 1, "y": 2, "button": "huge"}).encode(), "button must be one of"),
    ]
    for raw, needle in cases:
        resp = await agent.post("/v1/click", data=raw, headers=AUTH)
        assert resp.status == 400, raw[:40]
        assert_error(await resp.json(), "invalid_request", needle)


async def test_lone_surrogates_are_refused_for_every_route_naming_the_field(agent: TestClient) -> None:
    # JSON can spell "\ud800"; no UTF-8 (command, X keysym, log line) can carry it on.
    cases = [
        ("/v1/type", {"text": "ab\ud800"}, "text is not valid Unicode"),
        ("/v1/exec", {"argv": ["true", "\udfff"]}, "argv[1] is not valid Unicode"),
        ("/v1/exec", {"command": "true", "env": {"\udc80": "1"}}, "env is not valid Unicode"),
        ("/v1/exec", {"command": "true", "env": {"A": "\ud800"}}, "env.A is not valid Unicode"),
        ("/v1/chat", {"message": "hi \ud83d"}, "message is not valid Unicode"),
    ]
    for path, body, needle in cases:
        resp = await agent.post(path, data=json.dumps(body).encode(), headers=AUTH)
        assert resp.status == 400, (path, body)
        assert_error(await resp.json(), "invalid_request", needle)
    resp = await agent.post("/v1/exec", data=json.dumps({"argv": ["echo", "é😀"]}).encode(), headers=AUTH)
    assert resp.status == 200 and (await resp.json())["stdout"] == "é😀\n"  # a real pair is text


async def test_nested_fields_are_named_by_their_path(agent: TestClient) -> None:
    resp = await agent.post("/v1/drag", json={"from": {"x": 1, "y": 2}, "to": {"x": 3}}, headers=AUTH)
    assert_error(await resp.json(), "invalid_request", "to.y is required")
    resp = await agent.post("/v1/drag", json={"from": {"x": 1, "y": 2}, "to": {"x": 3, "y": 4}, "path": [{"x": 1, "y": "a"}]}, headers=AUTH)
    assert_error(await resp.json(), "invalid_request", "path[0].y must be an integer")


async def test_body_over_the_limit_is_413(make_agent: Callable[..., Any], xvfb: Xvfb) -> None:
    client = await make_agent(xvfb.name, max_body_bytes=4096)
    big = json.dumps({"text": "a" * 10_000}).encode()
    resp = await client.post("/v1/type", data=big, headers=AUTH)
    assert resp.status == 413
    assert_error(await resp.json(), "payload_too_large", "4096")

    async def chunks():  # no Content-Length: the limit must hold while reading too
        for _ in range(10):
            yield b"a" * 1000

    resp = await client.post("/v1/type", data=chunks(), headers=AUTH)
    assert resp.status == 413
    assert_error(await resp.json(), "payload_too_large", "4096")


async def test_unexpected_errors_are_500_without_a_stack_trace(aiohttp_client: Callable[..., Any], xvfb: Xvfb) -> None:
    app = create_app(agent_settings(xvfb.name), TOKEN)

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals at line 42")

    app.router.add_get("/v1/broken", broken)
    client = await aiohttp_client(app)
    resp = await client.get("/v1/broken", headers=AUTH)
    assert resp.status == 500
    text = await resp.text()
    assert "Traceback" not in text and "secret internals" not in text
    assert_error(json.loads(text), "internal")


async def test_dev_mode_app_needs_no_token(make_agent: Callable[..., Any], xvfb: Xvfb) -> None:
    client = await make_agent(xvfb.name, token=None, dev=True)
    resp = await client.get("/v1/status")
    assert resp.status == 200


async def test_dev_mode_refuses_what_a_browser_page_could_send(make_agent: Callable[..., Any], xvfb: Xvfb, tmp_path: Path) -> None:
    # A page can POST text/plain to loopback without a CORS preflight (the Origin header is
    # there), and DNS rebinding makes it send its own host name in Host.
    client = await make_agent(xvfb.name, token=None, dev=True)
    port = client.port
    marker = tmp_path / "ran"
    body = json.dumps({"command": f"touch {marker}"})
    refused = [
        {"Origin": "https://evil.example", "Content-Type": "text/plain"},
        {"Origin": "null", "Content-Type": "text/plain"},
        {"Origin": f"http://127.0.0.1:{port}"},
        {"Host": f"evil.example:{port}"},
        {"Host": f"127.0.0.1.evil.example:{port}"},
        {"Host": "10.0.0.1"},
        {"Host": ""},
    ]
    for headers in refused:
        resp = await client.post("/v1/exec", data=body, headers=headers)
        assert resp.status == 401, headers
        assert_error(await resp.json(), "unauthorized", "Development mode")
    resp = await client.get("/v1/status", headers={"Host": f"rebound.example:{port}"})
    assert resp.status == 401
    assert not marker.exists()
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST", "127.0.0.1"):
        resp = await client.get("/v1/status", headers={"Host": host})
        assert resp.status == 200, host
    resp = await client.get("/v1/health", headers={"Origin": "https://evil.example"})
    assert resp.status == 200  # health stays public, whatever the headers
    resp = await client.post("/v1/exec", data=body)
    assert resp.status == 200 and marker.exists()


async def test_with_a_token_an_origin_header_is_no_obstacle(agent: TestClient) -> None:
    resp = await agent.get("/v1/status", headers={**AUTH, "Origin": "https://console.example", "Host": "desk.example:7700"})
    assert resp.status == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True), ("localhost:7700", True), ("127.0.0.1:1", True), ("127.1.2.3", True),
        ("[::1]", True), ("[::1]:7700", True), ("Localhost:80", True),
        ("", False), ("::1", False), ("[::1", False), ("[::1]x", False), ("[::1]:", False), ("localhost:", False),
        ("localhost:80:80", False), ("localhost.evil.example", False), ("0.0.0.0", False), ("example.com:7700", False),
    ],
)
def test_loopback_host_headers(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


async def test_bearer_token_and_token_matches(aiohttp_client: Callable[..., Any]) -> None:
    seen: list[str | None] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(bearer_token(request))
        return web.Response()

    app = web.Application()
    app.router.add_get("/", echo)
    client = await aiohttp_client(app)
    for header in ({}, {"Authorization": "Bearer  abc "}, {"Authorization": "bearer abc"}, {"Authorization": "Basic abc"}, {"Authorization": "abc"}):
        await client.get("/", headers=header)
    assert seen == [None, "abc", "abc", None, None]
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN[:-1], TOKEN) and not token_matches(None, TOKEN) and not token_matches("", TOKEN)
    assert not token_matches("", "") and not token_matches(None, None) and not token_matches("\0", None)
    assert not token_matches("caf\udce9", "café")  # undecodable header bytes match nothing


async def test_the_public_paths_are_the_routes_documented_without_auth(aiohttp_client: Callable[..., Any]) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[error_middleware, make_auth_middleware(TOKEN, 1024, {"/open"})])
    app.router.add_get("/open", ok)
    app.router.add_get("/closed", ok)
    client = await aiohttp_client(app)
    assert (await client.get("/open")).status == 200
    assert (await client.get("/closed")).status == 401


async def test_what_the_openapi_document_says_is_public_is_exactly_what_answers_without_a_token(agent: TestClient) -> None:
    doc = await (await agent.get("/v1/openapi.json", headers=AUTH)).json()
    public = {(m.upper(), p) for p, ops in doc["paths"].items() for m, op in ops.items() if op.get("security") == []}
    assert public == {("GET", "/v1/health")}
    for path, ops in doc["paths"].items():
        for method in ops:
            resp = await agent.request(method.upper(), path)
            assert (resp.status != 401) is ((method.upper(), path) in public), (method, path)
