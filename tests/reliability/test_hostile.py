"""Hostile input: what a careless or malicious caller sends must get a clear 4xx, never a 500,
never a hang, never a key or button left held, never a command run by mistake.

Commands sent to /v1/exec here are fixed and harmless (`true`, `env`, `cat`): what is hostile
is the cwd, env, NUL bytes and encodings around them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.support.agentproc import AgentProcess, secret_leaks
from tests.support.rawhttp import exchange, request_bytes
from tests.support.xstate import keyboard_mapping, wait_released
from tests.support.xvfb import Xvfb

pytestmark = pytest.mark.reliability

MiB = 2**20
BODY_ROUTES = ["/v1/click", "/v1/move", "/v1/drag", "/v1/scroll", "/v1/type", "/v1/key", "/v1/exec", "/v1/bash", "/v1/python", "/v1/chat"]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def post(session: aiohttp.ClientSession, agent: AgentProcess, path: str, body: Any = None, *, raw: bytes | None = None,
               timeout_s: float = 15) -> tuple[int, Any]:
    """(status, JSON body or text) of one POST."""
    data = raw if raw is not None else json.dumps(body).encode()
    started = time.monotonic()
    async with session.post(agent.url + path, data=data, headers={**agent.auth, "Content-Type": "application/json"},
                            timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
        text = await resp.text()
        assert time.monotonic() - started < timeout_s
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


def code_of(body: Any) -> str | None:
    return body["error"]["code"] if isinstance(body, dict) and isinstance(body.get("error"), dict) else None


def assert_refused(status: int, body: Any, code: str = "invalid_request", status_expected: int = 400, field: str = "") -> None:
    assert status == status_expected and code_of(body) == code, (status, body)
    assert field in body["error"]["message"], body


@pytest.fixture(autouse=True)
def agent_survives(module_agent: AgentProcess) -> Iterator[None]:
    yield
    assert module_agent.alive(), "the agent died:\n" + module_agent.log_text()[-3000:]


# -- sizes and encodings -----------------------------------------------------------------------


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_a_huge_announced_body_is_refused_before_it_is_read(module_agent: AgentProcess, path: str) -> None:
    # Content-Length says 3 MiB; only 64 KiB follow: the answer must not wait for the rest.
    head = request_bytes("POST", path, [("Authorization", f"Bearer {module_agent.token}"), ("Content-Type", "application/json"),
                                        ("Content-Length", str(3 * MiB))])
    answer = exchange(module_agent.port, head + b"[" * 65536, timeout_s=10)
    assert answer.status == 413 and answer.code == "payload_too_large", answer


@pytest.mark.parametrize("path", ["/v1/type", "/v1/exec", "/v1/chat"])
async def test_a_huge_chunked_body_is_refused(session: aiohttp.ClientSession, module_agent: AgentProcess, path: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit must hold while reading
        yield b'{"text": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}'

    async with session.post(module_agent.url + path, data=chunks(), headers=module_agent.auth,
                            timeout=aiohttp.ClientTimeout(total=20)) as resp:
        assert resp.status == 413 and code_of(await resp.json()) == "payload_too_large"


@pytest.mark.parametrize("path", BODY_ROUTES)
async def test_deeply_nested_json_is_invalid(session: aiohttp.ClientSession, module_agent: AgentProcess, path: str) -> None:
    for raw in (b"[" * 400_000 + b"]" * 400_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, b'{"text": ' + b"[" * 50_000):
        status, body = await post(session, module_agent, path, raw=raw)
        assert_refused(status, body)


@pytest.mark.parametrize("raw", [b'{"text": "\xff\xfe"}', b'{"text": "\xc0\xaf"}', b'{"text": "\xed\xa0\x80"}', b"\x00\x00\x00{"])
@pytest.mark.parametrize("path", ["/v1/type", "/v1/key", "/v1/exec", "/v1/chat"])
async def test_invalid_utf8_is_invalid(session: aiohttp.ClientSession, module_agent: AgentProcess, path: str, raw: bytes) -> None:
    status, body = await post(session, module_agent, path, raw=raw)
    assert_refused(status, body)


@pytest.mark.parametrize(
    "path,body",
    [
        ("/v1/type", {"text": "ab\ud800cd"}),
        ("/v1/key", {"key": "\udfff"}),
        ("/v1/click", {"x": 1, "y": 1, "modifiers": ["\ud83d"]}),
        ("/v1/exec", {"argv": ["true", "\ud800"]}),
        ("/v1/exec", {"command": "true", "env": {"X": "\ud800"}}),
        ("/v1/exec", {"command": "true", "cwd": "/tmp/\ud800"}),
        ("/v1/chat", {"message": "\ud800"}),
        ("/v1/click", {"x": 1, "y": 1, "\ud800": 1}),
        ("/v1/exec", {"argv": ["true"], "env": {"\udc80": "1"}}),
    ],
    ids=["type", "key", "modifier", "argv", "env", "cwd", "chat", "unknown-field", "env-name"],
)
async def test_lone_surrogates_are_refused(session: aiohttp.ClientSession, module_agent: AgentProcess, path: str, body: Any) -> None:
    # JSON can spell a lone surrogate (\ud800), which no UTF-8 text can carry onward: the
    # validator refuses it in every string, before any handler (or chat backend) sees it.
    status, answer = await post(session, module_agent, path, raw=json.dumps(body).encode())
    assert (status, code_of(answer)) == (400, "invalid_request"), answer
    await wait_released(module_agent.display, timeout_s=5)


def test_a_megabyte_of_text_to_type_is_refused_quickly(module_agent: AgentProcess) -> None:
    for text in ("a" * 1_000_000, "é" * 1_000_000, "a" * 100_001):
        started = time.monotonic()
        data = json.dumps({"text": text}, ensure_ascii=False).encode()
        head = request_bytes("POST", "/v1/type", [("Authorization", f"Bearer {module_agent.token}"),
                                                  ("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        answer = exchange(module_agent.port, head + data, timeout_s=20)
        assert answer.status in (400, 413) and answer.code in ("invalid_request", "payload_too_large"), answer
        assert time.monotonic() - started < 10


async def test_empty_text_types_nothing(session: aiohttp.ClientSession, module_agent: AgentProcess) -> None:
    # After another input call the keyboard state is cached and /v1/type takes its fast path.
    for body in ({"key": "shift"}, {"text": "a"}):
        status, answer = await post(session, module_agent, "/v1/key" if "key" in body else "/v1/type", body)
        assert status == 200, answer
        for _ in range(2):
            status, answer = await post(session, module_agent, "/v1/type", {"text": "", "delayMs": 0})
            assert (status, answer) == (200, {"typed": 0})
    await wait_released(module_agent.display, timeout_s=5)


# -- NUL bytes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/v1/type", {"text": "ab\x00cd"}, "text"),
        ("/v1/key", {"key": "ctrl\x00+a"}, "key"),
        ("/v1/click", {"x": 1, "y": 1, "modifiers": ["shift\x00"]}, "modifiers"),
        ("/v1/exec", {"command": "true\x00; touch /tmp/bureau-rel-nul"}, "command"),
        ("/v1/exec", {"argv": ["true", "a\x00b"]}, "argv"),
        ("/v1/exec", {"command": "true", "cwd": "/tmp\x00/etc"}, "cwd"),
        ("/v1/exec", {"command": "true", "env": {"A\x00B": "1"}}, "env"),
        ("/v1/exec", {"command": "true", "env": {"A": "1\x002"}}, "env"),
        ("/v1/bash", {"script": "true\x00"}, "script"),
        ("/v1/python", {"code": "pass\x00"}, "code"),
        ("/v1/chat", {"message": "hi\x00"}, "message"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_nul_bytes_are_refused_naming_the_field(session: aiohttp.ClientSession, module_agent: AgentProcess, path: str, body: Any, field: str) -> None:
    status, answer = await post(session, module_agent, path, body)
    assert_refused(status, answer, field=field)
    await wait_released(module_agent.display, timeout_s=5)


async def test_nul_bytes_in_stdin_reach_the_command(session: aiohttp.ClientSession, module_agent: AgentProcess) -> None:
    status, answer = await post(session, module_agent, "/v1/exec", {"argv": ["cat"], "stdin": "a\x00b"})
    assert status == 200 and answer["stdout"] == "a\x00b" and answer["exitCode"] == 0, answer


# -- coordinates -------------------------------------------------------------------------------

HUGE = [-1, -(2**31), 2**31, 2**63, -(2**63) - 1, 10**400]


def outside(xvfb: Xvfb) -> list[tuple[int, int]]:
    w, h = xvfb.width, xvfb.height
    return [(-1, 0), (0, -1), (w, 0), (0, h), (w, h), (10**6, 10**6)] + [(v, 0) for v in HUGE] + [(0, v) for v in HUGE]


def coordinate_bodies(path: str, x: Any, y: Any) -> dict[str, Any]:
    if path == "/v1/drag":
        return {"from": {"x": 5, "y": 5}, "to": {"x": x, "y": y}, "durationMs": 0}
    if path == "/v1/scroll":
        return {"direction": "down", "x": x, "y": y}
    if path == "/v1/click":
        return {"x": x, "y": y, "modifiers": ["shift"]}
    return {"x": x, "y": y}


@pytest.mark.parametrize("path", ["/v1/click", "/v1/move", "/v1/scroll", "/v1/drag"])
async def test_coordinates_off_the_screen_are_out_of_bounds(session: aiohttp.ClientSession, module_agent: AgentProcess, rel_xvfb: Xvfb, path: str) -> None:
    for x, y in outside(rel_xvfb):
        status, answer = await post(session, module_agent, path, coordinate_bodies(path, x, y))
        beyond_int64 = max(abs(x), abs(y)) >= 2**63
        # A number no machine integer holds may be called malformed rather than off-screen.
        codes = ("out_of_bounds", "invalid_request") if beyond_int64 else ("out_of_bounds",)
        assert status == 400 and code_of(answer) in codes, (x, y, status, answer)
    drag_path = {"from": {"x": 5, "y": 5}, "to": {"x": 6, "y": 6}, "path": [{"x": 7, "y": 7}, {"x": -3, "y": 7}]}
    if path == "/v1/drag":
        status, answer = await post(session, module_agent, path, drag_path)
        assert status == 400 and code_of(answer) == "out_of_bounds", answer
    # The last pixel is on the screen: the bound is exact.
    status, answer = await post(session, module_agent, path, coordinate_bodies(path, rel_xvfb.width - 1, rel_xvfb.height - 1))
    assert status == 200, answer
    await wait_released(module_agent.display, timeout_s=5)


@pytest.mark.parametrize("raw", [b'{"x": 1.5, "y": 2}', b'{"x": 1e308, "y": 2}', b'{"x": NaN, "y": 2}', b'{"x": Infinity, "y": 2}',
                                 b'{"x": -Infinity, "y": 2}', b'{"x": "1", "y": 2}', b'{"x": null, "y": 2}', b'{"x": [1], "y": 2}'])
async def test_coordinates_that_are_not_integers_are_invalid(session: aiohttp.ClientSession, module_agent: AgentProcess, raw: bytes) -> None:
    status, answer = await post(session, module_agent, "/v1/move", raw=raw)
    assert_refused(status, answer, field="x")


# -- exec: odd cwd and env ---------------------------------------------------------------------


@pytest.mark.parametrize("cwd", ["", "/nonexistent-bureau-dir", "/etc/passwd", "/" + "d" * 5000], ids=["empty", "missing", "file", "long"])
async def test_odd_cwd_is_refused(session: aiohttp.ClientSession, module_agent: AgentProcess, cwd: str) -> None:
    status, answer = await post(session, module_agent, "/v1/exec", {"argv": ["true"], "cwd": cwd})
    assert_refused(status, answer, field="cwd")


@pytest.mark.parametrize("name", ["", "A=B", "=", "A\x00"], ids=["empty", "equals", "only-equals", "nul"])
async def test_env_names_the_kernel_cannot_carry_are_refused(session: aiohttp.ClientSession, module_agent: AgentProcess, name: str) -> None:
    status, answer = await post(session, module_agent, "/v1/exec", {"argv": ["true"], "env": {name: "1"}})
    assert_refused(status, answer, field="env")


async def test_odd_but_legal_env_names_reach_the_command(session: aiohttp.ClientSession, module_agent: AgentProcess) -> None:
    env = {"1ABC": "one", "A B": "two", "lower.dot-dash": "three", "É": "four", "X": "é\n日本"}
    status, answer = await post(session, module_agent, "/v1/exec", {"argv": ["env", "-0"], "env": env})
    assert status == 200, answer
    seen = dict(item.split("=", 1) for item in answer["stdout"].split("\x00") if "=" in item)
    assert {k: seen.get(k) for k in env} == env


async def test_the_token_does_not_reach_commands(rel_xvfb: Xvfb, spawn_agent: Any, session: aiohttp.ClientSession) -> None:
    # Given in the environment (not a file) this time: the riskiest way to hand it over.
    token = "env-token-" + "q" * 30
    agent = spawn_agent(rel_xvfb.name, token=token, env={"BUREAU_AGENT_TOKEN": token})
    status, answer = await post(session, agent, "/v1/exec", {"argv": ["env"]})
    assert status == 200 and "PATH=" in answer["stdout"], answer
    assert not secret_leaks(answer["stdout"], token)
    # (The agent's own /proc/PID/environ is another matter: under systemd commands run as the
    # desktop user, who cannot read it; here they run as the same user, who can.)


# -- headers -----------------------------------------------------------------------------------


def test_header_abuse_is_refused_and_the_agent_keeps_answering(module_agent: AgentProcess) -> None:
    port, token = module_agent.port, module_agent.token
    cases: list[tuple[str, list[tuple[str, str]], tuple[int, ...]]] = [
        ("authorization of 100 kB", [("Authorization", "Bearer " + "x" * 100_000)], (400, 431)),
        ("authorization of 8 kB", [("Authorization", "Bearer " + "x" * 8000)], (401,)),
        ("token with a suffix", [("Authorization", f"Bearer {token}x")], (401,)),
        ("token prefix only", [("Authorization", f"Bearer {token[:-1]}")], (401,)),
        ("non-ASCII bytes", [("Authorization", "Bearer \udcff\udcfe" + token)], (400, 401)),
        ("wrong scheme", [("Authorization", f"Basic {token}")], (401,)),
        ("two authorizations", [("Authorization", "Bearer wrong"), ("Authorization", f"Bearer {token}")], (400, 401)),
        ("1000 headers", [("Authorization", f"Bearer {token}")] + [(f"X-Junk-{i}", "v") for i in range(1000)], (200, 400, 431)),
        ("100 kB header", [("Authorization", f"Bearer {token}"), ("X-Junk", "j" * 100_000)], (400, 431)),
        ("URL of 100 kB", [("Authorization", f"Bearer {token}")], (400, 404, 414)),
    ]
    for name, headers, expected in cases:
        path = "/v1/status" + ("?" + "q" * 100_000 if name.startswith("URL") else "")
        answer = exchange(port, request_bytes("GET", path, headers), timeout_s=10)
        assert answer.status in expected, (name, answer.status, answer.body[:200], answer.error)
        if answer.status == 401:
            assert answer.code == "unauthorized" and answer.headers.get("www-authenticate") == "Bearer", name
        health = exchange(port, request_bytes("GET", "/v1/health"), timeout_s=10)
        assert health.status == 200, name


async def test_slow_clients_do_not_hold_up_the_others(module_agent: AgentProcess, session: aiohttp.ClientSession) -> None:
    # 100 connections that send half a request and then nothing (slowloris).
    writers = []
    try:
        for _ in range(100):
            _, writer = await asyncio.open_connection("127.0.0.1", module_agent.port)
            writer.write(b"POST /v1/type HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nAuthor")
            writers.append(writer)
        await asyncio.sleep(0.2)
        started = time.monotonic()
        async with session.get(module_agent.url + "/v1/status", headers=module_agent.auth) as resp:
            assert resp.status == 200
        assert time.monotonic() - started < 2.0
    finally:
        for writer in writers:
            writer.close()


def test_tokens_in_request_headers_are_not_logged(module_agent: AgentProcess) -> None:
    token = module_agent.token
    for headers in ([("Authorization", f"Bearer {token}x")], [("Authorization", f"bearer  {token}")], [("X-Token", token)],
                    [("Cookie", f"token={token}")], [("Authorization", f"Token {token}")]):
        for path in ("/v1/status", "/v1/nothing", "/v1/click"):
            exchange(module_agent.port, request_bytes("POST" if path == "/v1/click" else "GET", path, headers, b"{bad"), timeout_s=10)
    time.sleep(0.2)
    leaks = secret_leaks(module_agent.log_text(), token)
    assert not leaks, leaks[:3]
    assert module_agent.log_lines(), "the agent logged nothing at all: the check above would prove nothing"


def test_malformed_headers_carrying_the_token_are_not_logged(rel_xvfb: Xvfb, spawn_agent: Any) -> None:
    """aiohttp logs a request it cannot parse with the offending header line: the token must not
    reach the log through it (a forwarding bug in the control plane, a NUL, a padded header)."""
    agent = spawn_agent(rel_xvfb.name)
    token = agent.token
    for headers in ([("Authorization", f"Bearer {token}\x00")], [("Authorization", f"Bearer {token}" + " " * 9000 + "x")],
                    [("Authorization", f"Bearer {token}\x7f")], [("X-Forwarded-Authorization", f"Bearer {token}\x01")]):
        answer = exchange(agent.port, request_bytes("GET", "/v1/status", headers), timeout_s=10)
        assert answer.status == 400, answer
    time.sleep(0.2)
    assert agent.log_lines(), "the agent logged nothing at all: the check below would prove nothing"
    leaks = secret_leaks(agent.log_text(), token)
    assert not leaks, f"{len(leaks)} log lines carry the token, first: {leaks[0][:600]}"


# -- nothing left held -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,body,code",
    [
        ("/v1/key", {"key": "ctrl+shift+nosuchkey"}, "unknown_key"),
        ("/v1/key", {"key": "ctrl+a nosuchkey"}, "unknown_key"),
        ("/v1/key", {"key": "shift+"}, None),
        ("/v1/click", {"x": 5, "y": 5, "modifiers": ["shift", "nosuchkey"]}, "unknown_key"),
        ("/v1/click", {"x": -5, "y": 5, "modifiers": ["ctrl", "alt"]}, "out_of_bounds"),
        ("/v1/drag", {"from": {"x": 5, "y": 5}, "to": {"x": 99999, "y": 5}, "modifiers": ["shift"]}, "out_of_bounds"),
        ("/v1/drag", {"from": {"x": 5, "y": 5}, "to": {"x": 6, "y": 6}, "modifiers": ["nosuchkey"]}, "unknown_key"),
        ("/v1/scroll", {"direction": "up", "modifiers": ["ctrl", "nosuchkey"]}, "unknown_key"),
    ],
)
async def test_a_failed_input_call_leaves_nothing_held(session: aiohttp.ClientSession, module_agent: AgentProcess, path: str, body: Any, code: str | None) -> None:
    status, answer = await post(session, module_agent, path, body)
    assert status == 400, answer
    if code is not None:
        assert code_of(answer) == code, answer
    await wait_released(module_agent.display, timeout_s=5)


async def interrupt(session: aiohttp.ClientSession, agent: AgentProcess, path: str, body: Any, after_s: float) -> None:
    """Send a long call and hang up after after_s, before it can answer."""
    with pytest.raises(asyncio.TimeoutError):
        await post(session, agent, path, body, timeout_s=after_s)


async def test_an_interrupted_type_leaves_nothing_held_and_the_keymap_as_it_was(session: aiohttp.ClientSession, module_agent: AgentProcess) -> None:
    display = module_agent.display
    original = await asyncio.to_thread(keyboard_mapping, display)
    # Capitals (Shift), characters most layouts lack (borrowed keycodes), newlines and tabs.
    text = ("Hello World €ẞ 日本語 Ωμέγα\tÀÉÎ\n" * 60)[:1500]
    await interrupt(session, module_agent, "/v1/type", {"text": text, "delayMs": 2}, after_s=0.5)
    await wait_released(display, timeout_s=30)
    status, answer = await post(session, module_agent, "/v1/key", {"key": "shift+a"}, timeout_s=30)
    assert status == 200, answer  # the X owner is free again
    deadline = time.monotonic() + 30
    while await asyncio.to_thread(keyboard_mapping, display) != original:
        assert time.monotonic() < deadline, "the keyboard map was not restored after an interrupted /v1/type"
        await asyncio.sleep(0.2)
    await wait_released(display, timeout_s=5)


async def test_an_interrupted_drag_releases_the_button(session: aiohttp.ClientSession, module_agent: AgentProcess) -> None:
    body = {"from": {"x": 10, "y": 10}, "to": {"x": 300, "y": 300}, "durationMs": 3000, "modifiers": ["shift"]}
    await interrupt(session, module_agent, "/v1/drag", body, after_s=0.5)
    await wait_released(module_agent.display, timeout_s=20)
    status, answer = await post(session, module_agent, "/v1/move", {"x": 1, "y": 1}, timeout_s=20)
    assert status == 200, answer
