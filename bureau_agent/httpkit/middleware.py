"""The error middleware: every failure a handler raises becomes `{"error": {code, message, details?}}`."""

from __future__ import annotations

import logging

from aiohttp import web

from bureau_agent.errors import AgentError, Internal, InvalidRequest, MethodNotAllowed, NotFound, PayloadTooLarge
from bureau_agent.httpkit.http import json_response

log = logging.getLogger("bureau_agent.http")


def payload_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")


def error_response(error: AgentError) -> web.Response:
    return json_response(error.to_json(), status=error.status, headers=error.headers)


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> AgentError:
    if isinstance(exc, web.HTTPNotFound):
        return NotFound(f"There is no route {request.path}.")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}; use {', '.join(sorted(exc.allowed_methods))}.",
            sorted(exc.allowed_methods),
        )
    if isinstance(exc, web.HTTPRequestEntityTooLarge):  # read past the limit: a body sent without Content-Length
        return payload_too_large(request.client_max_size)
    if exc.status < 500:
        return InvalidRequest(exc.reason or "The request is malformed.")
    return Internal("The server failed to answer this request.")


@web.middleware
async def error_middleware(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AgentError as exc:
        if exc.status >= 500:
            log.warning("request failed", extra={"path": request.path, "code": exc.code, "error": exc.message})
        if request.get(STARTED_STREAM):  # headers already sent: nothing can be answered any more
            raise
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and 304s are answers, not errors
            raise
        return error_response(_from_http_exception(exc, request))
    except OSError as exc:  # ConnectionResetError included
        if request.transport is None or request.transport.is_closing():
            raise  # the caller went away; nobody to answer
        log.exception("unexpected OS error", extra={"path": request.path})
        return error_response(Internal(f"The server hit an OS error: {exc.strerror or type(exc).__name__}."))
    except Exception:
        log.exception("unexpected error", extra={"path": request.path})
        return error_response(Internal("The server hit an unexpected error; it has been logged."))


# A handler that has sent a streamed answer's headers sets request[STARTED_STREAM] = True: an
# error after that cannot become an error answer (the status line is gone), only a closed stream.
STARTED_STREAM = web.RequestKey("httpkit_started_stream", bool)
