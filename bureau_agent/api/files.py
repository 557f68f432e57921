"""/v1/files: download (Range, ETag), listing, streamed upload, delete, mkdir and move.

Every path is opened by the files service's helper as the desktop user (bureau_agent/files);
this module only speaks HTTP. A download goes out with sendfile from the descriptor the helper
opened; an upload of 1 MiB or more with a Content-Length is spliced from the socket into the
file (httpkit/takeover.py, files/splice.py), any other read from request.content as it arrives
(the app-wide body limit does not apply to it: files_max_upload_bytes does, by Content-Length
before a byte is read, or while streaming a chunked body). Choices where the contract is
silent: docs/files.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import mimetypes
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web

from bureau_agent import appkeys
from bureau_agent.api.feature import Feature
from bureau_agent.config import parse_umask
from bureau_agent.errors import AgentError, InvalidRequest, RangeNotSatisfiable
from bureau_agent.files.service import MAX_PATH, FileService, Listing, OpenFile
from bureau_agent.files.splice import SocketBody
from bureau_agent.httpkit.http import json_response, read_json, read_query
from bureau_agent.httpkit.middleware import STARTED_STREAM, error_response
from bureau_agent.httpkit import takeover
from bureau_agent.httpkit.routes import Route
from bureau_agent.httpkit.schema import integer, obj, string
from bureau_agent.process.environment import Session

FALLBACK_TYPE = "application/octet-stream"
READ_CHUNK = 1 << 20  # the read/write fallback when the transport cannot sendfile

PATH = string(
    MAX_PATH,
    min_length=1,
    description="absolute, or relative to the desktop user's home; `..` and symlinks are followed as that user would",
)
BOOL = {"type": "boolean"}
GET_QUERY = {"path": PATH}
PUT_QUERY = {
    "path": PATH,
    "parents": {**BOOL, "default": False, "description": "create missing parent directories"},
    "overwrite": {**BOOL, "default": True, "description": "replace an existing file (false: 409 exists)"},
}
DELETE_QUERY = {
    "path": PATH,
    "recursive": {**BOOL, "default": False, "description": "delete a non-empty directory and all it holds"},
}
MKDIR = obj({"path": PATH, "parents": {**BOOL, "default": False, "description": "like mkdir -p: parents too, and an existing directory is no error"}}, ("path",))
MOVE = obj(
    {
        "from": PATH,
        "to": PATH,
        "overwrite": {**BOOL, "default": False, "description": "replace an existing target (a file, or an empty directory)"},
    },
    ("from", "to"),
)
NULLABLE_INT = {"type": "integer", "nullable": True}
NULLABLE_STR = {"type": "string", "nullable": True}
ENTRY = obj(
    {
        "name": string(),
        "type": {"type": "string", "enum": ["file", "dir", "symlink", "other"], "description": "of the entry itself (a symlink is not followed)"},
        "size": NULLABLE_INT,
        "modifiedAt": {**NULLABLE_STR, "description": "ISO 8601, UTC"},
        "mode": {**NULLABLE_STR, "description": "permission bits in octal, e.g. 0644"},
        "target": {"type": "string", "description": "symlinks: what the link points to"},
    },
    ("name", "type", "size", "modifiedAt", "mode"),
)
LISTING = obj(
    {"path": string(), "entries": {"type": "array", "items": ENTRY}, "truncated": {"type": "boolean"}},
    ("path", "entries", "truncated"),
    description="a directory: its entries sorted by name (byte order), at most files_max_entries",
)
UPLOADED = obj({"path": string(), "size": integer(0), "sha256": string(64, min_length=64)}, ("path", "size", "sha256"))
DELETED = obj({"deleted": {"type": "boolean"}}, ("deleted",))
MADE = obj({"path": string(), "created": {"type": "boolean", "description": "false: it already existed (parents=true)"}}, ("path", "created"))
MOVED = obj({"from": string(), "to": string()}, ("from", "to"))
BINARY = {"type": "string", "format": "binary"}
FILE_HEADERS = {
    "ETag": string(),
    "Last-Modified": string(),
    "Content-Length": integer(0),
    "Accept-Ranges": string(),
}


def _service(request: web.Request) -> FileService:
    return request.app[appkeys.FILES]


def _http_date(ns: int) -> str:
    return email.utils.formatdate(ns / 1e9, usegmt=True)


def _byte_range(request: web.Request, opened: OpenFile) -> tuple[int, int] | None:
    """(offset, count) of a satisfiable Range, None for the whole file; a Range that does not parse
    (or several ranges) is ignored, as RFC 9110 allows; one past the end is 416."""
    if "Range" not in request.headers:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None:
        if if_range.startswith(('"', "W/")):
            if if_range != opened.etag:
                return None
        else:
            since = request.if_range
            if since is None or opened.mtime_ns // 1_000_000_000 > since.timestamp():
                return None
    try:
        rng = request.http_range
    except ValueError:
        return None
    size, start, stop = opened.size, rng.start, rng.stop
    if start is None:
        return None
    if start < 0 and stop is None:  # bytes=-N: the last N
        start = max(0, size + start)
        stop = size
    stop = size if stop is None else min(stop, size)
    if start >= size or stop <= start:
        raise RangeNotSatisfiable(
            f"The range does not overlap the file's {size} bytes.", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, stop - start


async def _send_file(request: web.Request, opened: OpenFile) -> web.StreamResponse:
    headers = {
        "ETag": opened.etag,
        "Last-Modified": _http_date(opened.mtime_ns),
        "Accept-Ranges": "bytes",
        "Cache-Control": "no-cache",
    }
    match = request.headers.get("If-None-Match")
    if match is not None and (match.strip() == "*" or opened.etag in [m.strip() for m in match.split(",")]):
        return web.Response(status=304, headers=headers)
    chosen = _byte_range(request, opened)
    offset, count = chosen if chosen is not None else (0, opened.size)
    response = web.StreamResponse(status=206 if chosen is not None else 200, headers=headers)
    response.content_type = mimetypes.guess_type(opened.path)[0] or FALLBACK_TYPE
    response.content_length = count
    if chosen is not None:
        response.headers["Content-Range"] = f"bytes {offset}-{offset + count - 1}/{opened.size}"
    await response.prepare(request)
    request[STARTED_STREAM] = True
    if count and request.method != "HEAD":
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("the caller went away")
        try:
            sent = await asyncio.get_running_loop().sendfile(transport, opened.file, offset, count)
        except NotImplementedError:  # a transport without sendfile (TLS): read and write
            sent = await _copy(request, response, opened, offset, count)
        if sent < count:  # the file shrank while it was sent: the caller sees a short body and EOF
            response.force_close()
    await response.write_eof()
    return response


async def _copy(request: web.Request, response: web.StreamResponse, opened: OpenFile, offset: int, count: int) -> int:
    service, sent = _service(request), 0
    while sent < count:
        data = await service.read(opened, offset + sent, min(READ_CHUNK, count - sent))
        if not data:
            break
        await response.write(data)
        sent += len(data)
    return sent


async def get_file(request: web.Request) -> web.StreamResponse:
    query = read_query(request, GET_QUERY)
    service = _service(request)
    async with service.slot():
        opened = await service.open(query.get("path", ""))
        if isinstance(opened, Listing):
            headers = {"Last-Modified": _http_date(opened.mtime_ns)} if opened.mtime_ns is not None else {}
            return await asyncio.to_thread(json_response, opened.to_json(), 200, headers)
        try:
            return await _send_file(request, opened)
        finally:
            opened.close()


async def _chunks(request: web.Request, head: bytes = b"") -> AsyncIterator[bytes]:
    if head:
        yield head
    # iter_chunks hands over each piece as the socket delivered it; iter_any would join what is
    # buffered into one new bytes first (a copy of the whole upload, ~7 % of its CPU here).
    async for chunk, _ in request.content.iter_chunks():
        yield chunk


@contextlib.contextmanager
def _body(request: web.Request) -> Iterator[AsyncIterator[bytes] | SocketBody]:
    """The upload's body: spliced straight from the socket into the file (files/splice.py) when
    httpkit.takeover can have it; else read through aiohttp, chunk by chunk."""
    with takeover.socket_body(request) as body:
        if body is None or isinstance(body, bytes):
            yield _chunks(request, body or b"")
        else:
            yield body


async def put_file(request: web.Request) -> web.StreamResponse:
    query = read_query(request, PUT_QUERY)
    service = _service(request)
    try:
        service.check_length(request.content_length)
        async with service.slot():
            with _body(request) as body:
                result = await service.upload(
                    query.get("path", ""),
                    body,
                    parents=query.get("parents", False),
                    overwrite=query.get("overwrite", True),
                )
    except AgentError as exc:
        if request.content.is_eof() and not request.get(takeover.TAKEN_OVER):
            raise
        # The caller is still sending: answer now and close, instead of reading the rest of a body
        # (up to files_max_upload_bytes and more) only to throw it away. A spliced body: the parser
        # is out of step with the socket, so the connection closes whatever happened.
        response = error_response(exc)
        response.force_close()
        return response
    return takeover.answer_closing(request, json_response(result.to_json(), status=201 if result.created else 200))


async def delete_file(request: web.Request) -> web.Response:
    query = read_query(request, DELETE_QUERY)
    service = _service(request)
    async with service.slot():
        await service.delete(query.get("path", ""), recursive=query.get("recursive", False))
    return json_response({"deleted": True})


async def make_dir(request: web.Request) -> web.Response:
    body = await read_json(request, MKDIR)
    service = _service(request)
    async with service.slot():
        path, created = await service.mkdir(body["path"], parents=body.get("parents", False))
    return json_response({"path": path, "created": created}, status=201 if created else 200)


async def move(request: web.Request) -> web.Response:
    body = await read_json(request, MOVE)
    if body["from"] == body["to"]:
        raise InvalidRequest("from and to are the same path.", details={"field": "to"})
    service = _service(request)
    async with service.slot():
        source, target = await service.move(body["from"], body["to"], overwrite=body.get("overwrite", False))
    return json_response({"from": source, "to": target})


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    service = FileService(
        Session.from_settings(settings),
        max_upload_bytes=settings.files_max_upload_bytes,
        max_entries=settings.files_max_entries,
        max_concurrent=settings.files_max_concurrent,
        umask=parse_umask(settings.files_umask),
        python=settings.python,
    )
    app[appkeys.FILES] = service
    try:
        yield
    finally:
        service.close()


PATH_ERRORS = (400, 403, 404, 429)


def _summary(verb: str, *fields: str):  # type: ignore[no-untyped-def]
    """The action event's summary (GET /v1/events): the verb and the path(s), never the content."""
    return lambda args: f"{verb} " + " to ".join(str(args.get(f, "?"))[:80] for f in fields)

READ_MEDIA: dict[str, Any] = {"application/octet-stream": BINARY, "application/json": LISTING}
ROUTES = [
    Route(
        "GET", "/v1/files", get_file,
        "Download a file (Range → 206, ETag, Last-Modified; Content-Type from the name) or list a directory",
        query=GET_QUERY, response_media=READ_MEDIA, response_headers=FILE_HEADERS, errors=(*PATH_ERRORS, 416),
        event_summary=_summary("read", "path"),
        extra_responses={"206": {"description": "the requested byte range", "content": {"application/octet-stream": {"schema": BINARY}}},
                         "304": {"description": "If-None-Match matched the ETag"}},
    ),
    Route(
        "HEAD", "/v1/files", get_file, "The headers of GET /v1/files alone",
        query=GET_QUERY, response_headers=FILE_HEADERS, errors=PATH_ERRORS,
    ),
    Route(
        "PUT", "/v1/files", put_file,
        "Upload a file, streamed (the raw bytes are the body) into a temporary file then renamed into place: 201 new, 200 replaced",
        query=PUT_QUERY, request_media={"application/octet-stream": BINARY}, response=UPLOADED,
        errors=(*PATH_ERRORS, 409, 413, 507), event_summary=_summary("upload", "path"),
        extra_responses={"201": {"description": "created", "content": {"application/json": {"schema": UPLOADED}}}},
    ),
    Route(
        "DELETE", "/v1/files", delete_file, "Delete a file, a symlink (not its target) or a directory (recursive for a non-empty one)",
        query=DELETE_QUERY, response=DELETED, errors=(*PATH_ERRORS, 409), event_summary=_summary("delete", "path"),
    ),
    Route(
        "POST", "/v1/files/mkdir", make_dir, "Create a directory: 201 created, 200 it already existed (parents=true)",
        body=MKDIR, response=MADE, errors=(*PATH_ERRORS, 409), event_summary=_summary("mkdir", "path"),
        extra_responses={"201": {"description": "created", "content": {"application/json": {"schema": MADE}}}},
    ),
    Route(
        "POST", "/v1/files/move", move, "Move or rename a file or directory (across filesystems: copied, then removed)",
        body=MOVE, response=MOVED, errors=(*PATH_ERRORS, 409, 507), event_summary=_summary("move", "from", "to"),
    ),
]  # fmt: skip

FEATURE = Feature("files", ROUTES, lifespan=lifespan)
