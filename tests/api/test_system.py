"""GET /v1/status and /v1/openapi.json."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from bureau_agent import appkeys
from tests.support.agent import AUTH
from tests.support.xvfb import Xvfb


async def test_status_reports_display_identity_and_metrics(agent: TestClient, xvfb: Xvfb) -> None:
    resp = await agent.get("/v1/status", headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    assert body["agentReady"] is True
    assert body["display"] == {"name": xvfb.name, "connected": True, "width": xvfb.width, "height": xvfb.height}
    assert body["version"] and len(body["bootId"]) == 36 and body["startedAt"].endswith("Z")
    assert body["uptimeS"] >= 0
    assert set(body["chat"]) == {"configured", "reachable"}
    for key in ("cpuPercent", "memoryTotalBytes", "memoryUsedBytes", "diskTotalBytes", "load1"):
        assert isinstance(body["metrics"][key], (int, float)), key
    assert body["metrics"]["memoryTotalBytes"] > body["metrics"]["memoryUsedBytes"] > 0


async def test_boot_id_differs_per_process_start(agent: TestClient, make_agent, xvfb: Xvfb) -> None:
    other = await make_agent(xvfb.name)
    first = (await (await agent.get("/v1/status", headers=AUTH)).json())["bootId"]
    second = (await (await other.get("/v1/status", headers=AUTH)).json())["bootId"]
    assert first != second


async def test_openapi_is_valid_and_lists_exactly_the_registered_routes(agent: TestClient) -> None:
    resp = await agent.get("/v1/openapi.json", headers=AUTH)
    assert resp.status == 200
    doc = await resp.json()
    validate(doc)
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    registered = {(route.method, route.resource.canonical) for route in agent.app.router.routes()}
    assert documented == registered  # HEAD too: a HEAD route is declared (files), never implied
    assert doc["paths"]["/v1/health"]["get"]["security"] == []
    assert "401" in doc["paths"]["/v1/click"]["post"]["responses"]


SPEC_ROUTES = {
    ("GET", "/v1/health"), ("GET", "/v1/status"), ("GET", "/v1/openapi.json"),
    ("POST", "/v1/click"), ("POST", "/v1/move"), ("POST", "/v1/drag"), ("POST", "/v1/scroll"),
    ("POST", "/v1/type"), ("POST", "/v1/key"), ("POST", "/v1/exec"), ("POST", "/v1/bash"),
    ("POST", "/v1/python"), ("GET", "/v1/screenshot"), ("POST", "/v1/chat"),
}


async def test_every_route_of_the_spec_is_registered(agent: TestClient) -> None:
    registered = {(r.method, r.resource.canonical) for r in agent.app.router.routes() if r.method != "HEAD"}
    assert SPEC_ROUTES <= registered


async def test_openapi_documents_the_screenshot_headers(agent: TestClient) -> None:
    doc = await (await agent.get("/v1/openapi.json", headers=AUTH)).json()
    headers = doc["paths"]["/v1/screenshot"]["get"]["responses"]["200"]["headers"]
    assert set(headers) == {"X-Screen-Width", "X-Screen-Height", "X-Scale", "ETag"}


async def test_the_openapi_document_is_built_once_when_the_app_starts(agent: TestClient) -> None:
    built = agent.app[appkeys.OPENAPI]
    first = await (await agent.get("/v1/openapi.json", headers=AUTH)).json()
    second = await (await agent.get("/v1/openapi.json", headers=AUTH)).json()
    assert first == second == built and agent.app[appkeys.OPENAPI] is built
