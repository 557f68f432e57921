"""The dashboard: GET / (one page, its CSS and script) and its sign-in, a cookie session.

The page is plain HTML, CSS and JavaScript from controlplane/static/, served as files (no build
step). It holds no key: the key is pasted once into the sign-in form, POSTed to
/dashboard/session and exchanged for an httpOnly, SameSite=Strict cookie; from then on the
page's own fetches to /v1/… carry that cookie, with the key's rights (app.py's key middleware).
The pages are sent with a Content-Security-Policy that allows only this origin's script and
no framing, so neither an injected script nor a clickjacking frame can use the session.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from bureau_agent.controlplane import appkeys
from bureau_agent.controlplane.errors import SessionRefused
from bureau_agent.controlplane.schemas import SIGN_IN
from bureau_agent.controlplane.sessions import COOKIE, clear_cookie, cookie_request_refusal, set_cookie
from bureau_agent.errors import InvalidRequest, NotFound, Unauthorized
from bureau_agent.httpkit.http import json_response, read_json
from bureau_agent.httpkit.routes import Route

STATIC = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _file(name: str) -> bytes:
    return resources.files("bureau_agent.controlplane").joinpath("static", name).read_bytes()


async def page(request: web.Request) -> web.Response:
    return web.Response(body=_file("index.html"), content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS)


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:  # a fixed list: nothing else of the package is ever served
        raise NotFound(f"There is no dashboard file {name}.")
    return web.Response(body=_file(name), content_type=STATIC[name], charset="utf-8", headers=SECURITY_HEADERS)


async def sign_in(request: web.Request) -> web.Response:
    """Exchange a pasted API key for a session cookie; the key itself is not kept."""
    refusal = cookie_request_refusal(request)  # a cross-site form must not sign a browser in
    if refusal:
        raise SessionRefused(refusal)
    if request.content_type != "application/json":
        raise InvalidRequest("Send the key as JSON: {\"key\": \"sk_live_…\"}.")
    body = await read_json(request, SIGN_IN)
    key = request.app[appkeys.KEYS].authenticate(body["key"].strip())
    if key is None:
        raise Unauthorized("That is not a valid API key.")
    request.app[appkeys.SESSIONS].delete(request.cookies.get(COOKIE))  # a new session replaces the old
    response = json_response({"id": key.id, "name": key.name, "capabilities": list(key.capabilities)})
    set_cookie(response, request, request.app[appkeys.SESSIONS].create(key))
    return response


async def sign_out(request: web.Request) -> web.Response:
    refusal = cookie_request_refusal(request)
    if refusal:
        raise SessionRefused(refusal)
    request.app[appkeys.SESSIONS].delete(request.cookies.get(COOKIE))
    response = web.Response(status=204)
    clear_cookie(response, request)
    return response


def _html(description: str) -> dict[str, object]:
    return {"text/html": {"type": "string", "description": description}}


ROUTES = [
    Route("GET", "/", page, "The dashboard page (HTML; signs in with an API key)", response_media=_html("the page"),
          errors=(), auth=False),
    Route("GET", "/dashboard/static/{name}", static, "A file of the dashboard page (its CSS and script)", errors=(404,),
          auth=False, response_media={"text/css": {"type": "string"}, "text/javascript": {"type": "string"}},
          path_params={"name": {"type": "string", "enum": sorted(STATIC)}}),
    Route("POST", "/dashboard/session", sign_in,
          "Sign the dashboard in: an API key in, an httpOnly SameSite=Strict session cookie out "
          "(needs the header X-Bureau-Dashboard: 1)",
          body=SIGN_IN, response={"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                                              "capabilities": {"type": "array", "items": {"type": "string"}}}},
          errors=(400, 401, 403), auth=False),
    Route("DELETE", "/dashboard/session", sign_out, "Sign the dashboard out (needs the header X-Bureau-Dashboard: 1)",
          errors=(403,), auth=False, extra_responses={"204": {"description": "signed out; the cookie is cleared"}}),
]  # fmt: skip
