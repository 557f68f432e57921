"""A misspelt field is named before a missing one, with the nearest known name: on every route
(taken from the route table itself, so a new route is covered the day it is added), in nested
objects, in arrays of objects, and in query strings."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bureau_agent import appkeys
from bureau_agent.errors import InvalidRequest
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import array, integer, obj, parse_query, string, validate
from tests.support.agent import AUTH


def misspelt(name: str, known: list[str]) -> str:
    """A typo of name that is nearer to name than to any other known field (a trailing `s`, the
    commonest slip, or a doubled first letter when that collides)."""
    for typo in (name + "s", name[0] + name, name + name[-1]):
        if typo not in known:
            return typo
    raise AssertionError(name)


def path_of(route: Route) -> str:
    return re.sub(r"\{[^}]+\}", "1", route.path)


def body_routes(agent: TestClient) -> list[Route]:
    return [r for r in agent.app[appkeys.ROUTES] if r.body is not None and r.body.get("properties")]


async def test_every_route_with_a_body_names_a_misspelt_field_before_the_missing_one(agent: TestClient) -> None:
    routes = body_routes(agent)
    assert len(routes) >= 9  # click, move, drag, scroll, type, key, exec, bash, python, chat, ...
    checked = []
    for route in routes:
        props = list(route.body["properties"])  # type: ignore[index]
        # A required field when there is one: its absence is what the caller would be told about.
        name = (route.body.get("required") or props)[0]  # type: ignore[union-attr]
        typo = misspelt(name, props)
        resp = await agent.request(route.method, path_of(route), json={typo: 1}, headers=AUTH)
        body = await resp.json()
        assert resp.status == 400, (route.path, body)
        error = body["error"]
        assert error["code"] == "invalid_request", (route.path, error)
        assert error["message"] == f"unknown field '{typo}' (did you mean '{name}'?).", (route.path, error)
        assert error["details"] == {"field": typo, "suggestion": name}, (route.path, error)
        checked.append(route.path)
    assert {"/v1/key", "/v1/click", "/v1/drag", "/v1/exec", "/v1/chat"} <= set(checked)


async def test_the_issue_example_key_with_keys(agent: TestClient) -> None:
    resp = await agent.post("/v1/key", json={"keys": "a"}, headers=AUTH)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["message"] == "unknown field 'keys' (did you mean 'key'?)."
    assert error["details"] == {"field": "keys", "suggestion": "key"}


async def test_a_field_nothing_resembles_lists_the_known_ones(agent: TestClient) -> None:
    resp = await agent.post("/v1/key", json={"zzzzzz": "a"}, headers=AUTH)
    error = (await resp.json())["error"]
    assert resp.status == 400
    assert error["message"] == "unknown field 'zzzzzz'; known fields: key, repeat."
    assert error["details"] == {"field": "zzzzzz"}


async def test_nested_objects_name_the_whole_path(agent: TestClient) -> None:
    # drag's from.y is missing too: the typo explains it, so the typo is what is reported
    resp = await agent.post("/v1/drag", json={"from": {"x": 1, "yy": 2}, "to": {"x": 3, "y": 4}}, headers=AUTH)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["message"] == "unknown field 'from.yy' (did you mean 'y'?)."
    assert error["details"] == {"field": "from.yy", "suggestion": "y"}


def test_arrays_of_objects_name_the_item_and_the_field() -> None:
    # The shape act's actions take: an array of objects, each with its own required fields.
    action = obj({"type": string(), "key": string(), "x": integer(), "y": integer()}, ("type",))
    schema = obj({"actions": array(action, 50)}, ("actions",))
    body: dict[str, Any] = {"actions": [{"type": "click", "x": 1, "y": 2}, {"type": "key", "key": "a"}, {"keys": "b"}]}
    with pytest.raises(InvalidRequest) as caught:
        validate(body, schema)
    assert caught.value.message == "unknown field 'actions[2].keys' (did you mean 'key'?)."
    assert caught.value.details == {"field": "actions[2].keys", "suggestion": "key"}
    body["actions"][2] = {"key": "b"}
    with pytest.raises(InvalidRequest) as caught:
        validate(body, schema)
    assert caught.value.message == "actions[2].type is required."


def test_case_slips_are_suggested_even_when_difflib_finds_nothing() -> None:
    schema = obj({"delayMs": integer(), "text": string()}, ("text",))
    with pytest.raises(InvalidRequest) as caught:
        validate({"DELAYMS": 1}, schema)
    assert caught.value.details == {"field": "DELAYMS", "suggestion": "delayMs"}


async def test_every_route_with_a_query_names_a_misspelt_parameter(agent: TestClient) -> None:
    routes = [r for r in agent.app[appkeys.ROUTES] if r.query]
    assert routes  # /v1/screenshot at least
    checked = []
    for route in routes:
        params = list(route.query)
        name = params[0]
        typo = misspelt(name, params)
        resp = await agent.request(route.method, path_of(route), params={typo: "1"}, headers=AUTH)
        assert resp.status == 400, route.path
        if route.method == "HEAD":  # no body by definition; its GET twin carries the message
            continue
        error = (await resp.json())["error"]
        assert error["message"] == f"unknown query parameter '{typo}' (did you mean '{name}'?).", (route.path, error)
        assert error["details"] == {"field": typo, "suggestion": name}
        checked.append(route.path)
    assert "/v1/screenshot" in checked


def test_query_unknown_parameters_come_before_bad_values() -> None:
    params = {"format": string(), "quality": integer(1, 100)}
    with pytest.raises(InvalidRequest) as caught:
        parse_query({"quality": "abc", "fromat": "png"}, params)
    assert caught.value.message == "unknown query parameter 'fromat' (did you mean 'format'?)."
    with pytest.raises(InvalidRequest) as caught:
        parse_query({"zzz": "1"}, params)
    assert caught.value.message == "unknown query parameter 'zzz'; known query parameters: format, quality."
    assert parse_query({"quality": "5"}, params) == {"quality": 5}
