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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def route(
    method: str,
    path: str,
    op_id: str,
    *,
    content: bool = False,
    scopes: tuple[str, ...] = (),
    alias: bool = False,
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if not alias and any(r.op_id == op_id and not r.alias for r in ROUTES):
            raise ValueError(f"operation {op_id} registered twice")
        ROUTES.append(RouteSpec(method.upper(), path, op_id, fn, content, tuple(scopes), alias))
        return fn

    return register


def control(method: str, path: str) -> Callable[[ControlHandler], ControlHandler]:
    """Register a sandbox-only control route under ``/_sandbox`` (never a GitHub path).

    Control handlers get ``(sandbox_app, body: dict, params: dict, query: dict)`` and return a
    JSON-able value (or a ``(status, value)`` tuple).
    """

    def register(fn: ControlHandler) -> ControlHandler:
        CONTROL_ROUTES.append((method.upper(), "/_sandbox" + path, fn))
        return fn

    return register
