"""The route table. Each API area module registers its handlers with :func:`route`.

    @route("GET", "/repos/{owner}/{repo}/keys", "repos/list-deploy-keys")
    def list_deploy_keys(ctx: Ctx) -> Reply: ...

* ``path`` is the OpenAPI path; ``{ref}``/``{path}``-style parameters that may contain ``/``
  are written ``{ref:path}``; integer ids may be written ``{runner_id:int}``.
* ``op_id`` must be an operationId of the vendored description: it names the request-body
  schema the pipeline validates against, the response schema strict mode checks, the
  ``documentation_url`` of errors, and the key of per-endpoint counters and fault rules.
* ``content`` marks content-creating requests (GitHub's secondary limit of 80 a minute).
* ``alias=True`` serves a path github.com answers but its description omits (e.g. the list
  of all refs PyGithub's ``get_git_refs`` calls, ``/repositories/{id}``), under the documented
  operation whose response shape it shares; an alias may reuse that operation's id.
* ``scopes`` lists the classic-PAT scopes of which the token needs one; they are reported in
  ``X-Accepted-OAuth-Scopes``. Repository scope rules (``repo`` for private repositories) are
  applied by :meth:`Ctx.repo` and need not be listed.

Registration order matters where two paths overlap (``secrets/public-key`` before
``secrets/{secret_name}``): the first match wins.

:func:`web` registers a page of the *web* host (``https://github.com/...`` rather than the API):
the OAuth web flow, the signed download links GitHub's redirects point at. These bypass the API
pipeline (no token, no rate limit, no JSON validation) and answer what the web host answers
(redirects, HTML, form-encoded bodies, zips).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from .errors import not_found
from .http import Ctx, Reply

Handler = Callable[[Ctx], Reply]
#: a control route: ``(sandbox_app, body, path params, query) -> value`` or ``(status, value)``
ControlHandler = Callable[[Any, dict, dict, dict], Any]


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    op_id: str
    handler: Handler
    content: bool = False
    scopes: tuple[str, ...] = ()
    alias: bool = False


ROUTES: list[RouteSpec] = []
CONTROL_ROUTES: list[tuple[str, str, ControlHandler]] = []


#: the prefix of every route of one repository, and what github.com also serves it under
REPO_PREFIX = "/repos/{owner}/{repo}"
BY_ID_PREFIX = "/repositories/{repository_id:int}"
#: table ``renames``: ``"owner/old-name"`` (lower-case) -> ``{repo_id}``, kept by the repository
#: update that renamed it and dropped when the name is taken again or the repository deleted
RENAMES = "renames"


def route(
    method: str,
    path: str,
    op_id: str,
    *,
    content: bool = False,
    scopes: tuple[str, ...] = (),
    alias: bool = False,
) -> Callable[[Handler], Handler]:
    """Register ``fn`` for ``method path``. A route under ``/repos/{owner}/{repo}`` is also
    served under ``/repositories/{id}`` (see :func:`by_id`) and answers a renamed repository's
    old name with a redirect (see :func:`follow_renames`)."""

    def register(fn: Handler) -> Handler:
        if not alias and any(r.op_id == op_id and not r.alias for r in ROUTES):
            raise ValueError(f"operation {op_id} registered twice")
        if path == REPO_PREFIX or path.startswith(REPO_PREFIX + "/"):
            ROUTES.append(RouteSpec(method.upper(), path, op_id, follow_renames(fn), content, tuple(scopes), alias))
            by_id_path = BY_ID_PREFIX + path[len(REPO_PREFIX):]
            ROUTES.append(RouteSpec(method.upper(), by_id_path, op_id, by_id(fn), content, tuple(scopes), True))
        else:
            ROUTES.append(RouteSpec(method.upper(), path, op_id, fn, content, tuple(scopes), alias))
        return fn

    return register


def by_id(fn: Handler) -> Handler:
    """``fn`` served under ``/repositories/{id}...``: undocumented, but github.com answers it
    (its rename redirects and some ``Link`` headers point there; PyGithub's ``get_repo(id)`` calls
    it). The repository is found by id, then handled as ``/repos/{owner}/{name}...``."""

    def handler(ctx: Ctx) -> Reply:
        repo = ctx.world.repo_by_id(ctx.params.pop("repository_id"))
        if repo is None:
            raise not_found()
        ctx.params["owner"], ctx.params["repo"] = repo["owner"], repo["name"]
        return fn(ctx)

    return handler


def follow_renames(fn: Handler) -> Handler:
    """``fn``, answering a renamed repository's old name the way github.com does: a redirect to
    the same request under ``/repositories/{id}``, **301** for ``GET``/``HEAD`` and **307** for
    other methods (which keeps the method and body), with ``Location`` and a ``url`` in the body.
    Only a caller who can see the repository is redirected; anyone else gets the 404 as before.
    (GitHub Docs, "Renaming a repository",
    https://docs.github.com/en/repositories/creating-and-managing-repositories/renaming-a-repository,
    and "Best practices for using the REST API: follow redirects",
    https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#follow-redirects.)"""

    def handler(ctx: Ctx) -> Reply:
        owner, name = ctx.params["owner"], ctx.params["repo"]
        world = ctx.world
        if world.find_repo(owner, name) is None:
            moved = world.store.get(RENAMES, f"{owner.lower()}/{name.lower()}")
            repo = world.repo_by_id(moved["repo_id"]) if moved else None
            if repo is not None and world.role(ctx.login, repo, ctx.scopes) is not None:
                rest = ctx.path.split("/", 4)[4] if ctx.path.count("/") >= 4 else ""
                url = ctx.url(f"/repositories/{repo['id']}" + (f"/{rest}" if rest else ""))
                if ctx.query:
                    url += "?" + urlencode(ctx.query)
                status = 301 if ctx.method in ("GET", "HEAD") else 307
                message = "Moved Permanently" if status == 301 else "Temporary Redirect"
                body = {
                    "message": message,
                    "url": url,
                    "documentation_url": "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects",
                }
                return Reply(status=status, body=body, headers={"Location": url})
        return fn(ctx)

    return handler


def control(method: str, path: str) -> Callable[[ControlHandler], ControlHandler]:
    """Register a sandbox-only control route under ``/_sandbox`` (never a GitHub path).

    Control handlers get ``(sandbox_app, body: dict, params: dict, query: dict)`` and return a
    JSON-able value (or a ``(status, value)`` tuple).
    """

    def register(fn: ControlHandler) -> ControlHandler:
        CONTROL_ROUTES.append((method.upper(), "/_sandbox" + path, fn))
        return fn

    return register


# -- pages of the web host -------------------------------------------------------------------------
@dataclass
class WebRequest:
    """What a web handler sees: the query, the form (an ``application/x-www-form-urlencoded`` or
    JSON object body, values as text) and the headers (lower-case names)."""

    method: str
    params: dict[str, str]
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    #: ``scheme://host:port`` of the sandbox, the stand-in for https://github.com
    web_root: str


@dataclass
class WebReply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


#: a web page: ``(sandbox_app, request) -> WebReply``, run under the store's lock
WebHandler = Callable[[Any, WebRequest], WebReply]
WEB_ROUTES: list[tuple[str, str, WebHandler]] = []
#: the largest form body a web page reads
MAX_FORM_BYTES = 64 * 1024


def web(method: str, path: str) -> Callable[[WebHandler], WebHandler]:
    """Register a page of the web host at ``path`` (Starlette path syntax)."""

    def register(fn: WebHandler) -> WebHandler:
        WEB_ROUTES.append((method.upper(), path, fn))
        return fn

    return register


def web_prefixes() -> tuple[str, ...]:
    """The first path segments of every web page (``/login/``...), for the app's dispatch."""
    return tuple(sorted({"/" + p.split("/")[1] + "/" for _, p, _ in WEB_ROUTES}))


def _form(raw: bytes, content_type: str) -> dict[str, str]:
    import json

    if not raw.strip():
        return {}
    if content_type.startswith("application/json"):
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int)} if isinstance(value, dict) else {}
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return {}
    return dict(parse_qsl(text, keep_blank_values=True))


def web_asgi(app: Any) -> Callable[[dict, Any, Any], Awaitable[None]]:
    """The ASGI app of every registered web page, bound to the sandbox ``app``."""
    log = logging.getLogger("gridctl.sandbox")

    def endpoint(fn: WebHandler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                raw = await request.body()
            except ClientDisconnect:
                return Response(status_code=499)
            parts = urlsplit(app.config.public_url or "http://127.0.0.1")
            req = WebRequest(
                method=request.method,
                params={k: str(v) for k, v in request.path_params.items()},
                query=dict(request.query_params),
                form=_form(raw if len(raw) <= MAX_FORM_BYTES else b"", request.headers.get("content-type", "")),
                headers={k.lower(): v for k, v in request.headers.items()},
                web_root=f"{parts.scheme}://{parts.netloc}",
            )
            try:
                with app.store.lock:
                    try:
                        reply = fn(app, req)
                    finally:
                        app.store.commit()
            except Exception:  # a bug in a page: answer 500 and keep the evidence
                log.error("web page %s crashed:\n%s", request.url.path, traceback.format_exc())
                app.violations.append(f"web {request.method} {request.url.path}: raised {traceback.format_exc(limit=3)}")
                reply = WebReply(500, b"Server Error", "text/plain; charset=utf-8")
            headers = {"Cache-Control": "no-store", "X-Frame-Options": "deny", "X-Content-Type-Options": "nosniff", **reply.headers}
            return Response(reply.body, status_code=reply.status, headers=headers, media_type=reply.content_type)

        return run

    async def not_found(request: Request, exc: Exception) -> Response:
        return Response(b"Not Found", status_code=404, media_type="text/plain; charset=utf-8")

    return Starlette(
        routes=[Route(path, endpoint(fn), methods=[m]) for m, path, fn in WEB_ROUTES],
        exception_handlers={404: not_found, 405: not_found},
    )
