"""A real OpenAI-compatible chat-completions server for tests, on a loopback port.

Its answer to a message shows what it received: `echo: <last user message> | seen: <earlier
user messages joined by " / ">`, so a test can tell that history reached it. `mode` picks how it
answers: "ok", "slow" (no answer until released; records the caller's disconnect), "slow_stream"
(one chunk, then stalls), "fail" (HTTP 500), "leak" (an error quoting the key), "malformed" (a 200 that is not JSON), "drop" (the connection lost mid-reply), "bad_stream"
(a stream event that is not JSON), "cut_stream" (a stream that ends before it is complete).
A request with "stream": true gets server-sent events, one per word.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web


class FakeOpenAI:
    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []  # bodies of chat-completion requests
        self.probes = 0
        self.started = asyncio.Event()  # a chat request arrived
        self.disconnected = asyncio.Event()  # a slow request's caller went away
        self.release = asyncio.Event()  # lets slow requests answer
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorized(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _models(self, request: web.Request) -> web.Response:
        self.probes += 1
        if not self._authorized(request):
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"error": {"message": "Incorrect API key provided"}}, status=401)
        body = await request.json()
        self.requests.append(body)
        self.started.set()
        mode = self.mode
        if mode == "slow":
            return await self._slow(request, body)
        if mode == "leak":  # an error that quotes the caller's credentials back
            return web.json_response({"error": {"message": f"key {request.headers['Authorization']} is over quota"}}, status=429)
        if mode == "fail":
            return web.json_response({"error": {"message": "the model crashed", "type": "server_error"}}, status=500)
        if mode == "drop":  # the connection is lost in the middle of the reply
            resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "100"})
            await resp.prepare(request)
            await resp.write(b'{"choices": [')
            assert request.transport is not None
            request.transport.close()
            return resp
        if mode == "malformed":
            return web.Response(text='{"choices": [', content_type="application/json")
        text = answer(body["messages"])
        if body.get("stream"):
            return await self._stream(request, text, mode)
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            }
        )

    async def _slow(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        # aiohttp does not cancel a handler when its client goes away, so watch the transport.
        while not self.release.is_set():
            if request.transport is None or request.transport.is_closing():
                self.disconnected.set()
                return web.Response(status=499)
            await asyncio.sleep(0.02)
        return web.json_response({"choices": [{"index": 0, "message": {"role": "assistant", "content": "late"}}]})

    async def _stream(self, request: web.Request, text: str, mode: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        words = text.split(" ")
        await resp.write(_event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
        try:
            for i, word in enumerate(words):
                piece = word if i == 0 else " " + word
                if i == 1:
                    await resp.write(b": keep-alive comment\n\n")
                await resp.write(_event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}))
                if mode == "slow_stream":
                    while not self.release.is_set():
                        await asyncio.sleep(0.02)
                        await resp.write(b": waiting\n\n")  # fails once the caller is gone
                if mode == "bad_stream":
                    await resp.write(b"data: {not json\n\n")
                if mode == "cut_stream" and i == len(words) // 2:
                    await resp.write_eof()
                    return resp
            await resp.write(_event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            self.disconnected.set()
        return resp


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def answer(messages: list[dict[str, Any]]) -> str:
    users = [m["content"] for m in messages if m.get("role") == "user"]
    assistants = [m for m in messages if m.get("role") == "assistant"]
    return f"echo: {users[-1]} | seen: {' / '.join(users[:-1]) or '-'} | replies: {len(assistants)}"
