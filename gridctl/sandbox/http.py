"""What a sandbox route handler sees and returns: :class:`Ctx`, :class:`Reply`, :class:`ApiError`.

The error vocabulary (:class:`ApiError`, :func:`not_found`...) is defined in :mod:`.errors`,
which imports nothing of the sandbox, and re-exported here.

The route contract (see :mod:`gridctl.sandbox.routing`): a handler is a plain function
``handler(ctx) -> Reply`` that reads ``ctx.params`` / ``ctx.query`` / ``ctx.body``, looks things
up in ``ctx.world``, calls ``ctx.world.save(...)`` for whatever it changes, and returns a
:class:`Reply` or raises :class:`ApiError`. Handlers never touch HTTP headers for auth, rate
limits, ETags or pagination links: the pipeline and :meth:`Ctx.paginate` do that, identically
for every route.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .errors import DOCS, ROLE_ORDER, ApiError, not_found, role_at_least, validation_failed

if TYPE_CHECKING:
    from .spec import Operation
    from .world import World

#: the error vocabulary lives in :mod:`.errors`; these names stay importable from here
__all__ = [
    "DOCS",
    "ROLE_ORDER",
    "ApiError",
    "Ctx",
    "Reply",
    "empty",
    "json_reply",
    "not_found",
    "role_at_least",
    "validation_failed",
]


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: when set, the reply is paginated and this is the total number of items
    total: int | None = None
    #: a body sent as these bytes instead of JSON (a raw file; set ``Content-Type`` in ``headers``)
    raw: bytes | None = None
    #: the documented media type the body follows, when not ``application/json`` (strict mode
    #: validates against that media type's schema; a body that is not JSON is not validated)
    media_type: str | None = None


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, body=body, headers=dict(headers or {}))


def empty(status: int = 204) -> Reply:
    return Reply(status=status, body=None)


@dataclass
class Ctx:
    world: World
    op: Operation
    method: str
    params: dict[str, Any]
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    user: dict | None
    scopes: frozenset[str]
    #: public base URL including any /api/v3 prefix, without a trailing slash
    base_url: str
    #: the request path without the /api/v3 prefix
    path: str
    request_id: str
    #: whose rate limit this request counts against (a login, or ``ip:ADDR``)
    identity: str = ""
    #: the GitHub App a JWT authenticated (``/app`` endpoints), see api/apps.py
    app: dict | None = None
    #: the installation an installation token acts through, narrowed by the token
    installation: dict | None = None

    @property
    def login(self) -> str | None:
        return self.user["login"] if self.user else None

    # -- helpers -------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    def require_auth(self) -> dict:
        if self.user is None:
            raise ApiError(401, "Requires authentication")
        return self.user

    def require_scope(self, *accepted: str) -> None:
        """Refuse unless the token has one of ``accepted`` (classic-PAT semantics)."""
        if not accepted or self.scopes & set(accepted):
            return
        raise ApiError(
            403,
            f"This API operation needs the {accepted[0]!r} scope. "
            f"Your token has: {', '.join(sorted(self.scopes)) or 'no scopes'}.",
            headers={"X-Accepted-OAuth-Scopes": ", ".join(accepted)},
        )

    def repo(self, needed: str = "read") -> dict:
        """The repository named by ``{owner}/{repo}``, visible to the caller with ``needed``.

        Not visible at all (or absent) is a 404, like github.com; visible but below the
        needed role is a 403 for admin operations and a 404 for writes.
        """
        repo = self.world.find_repo(self.params["owner"], self.params["repo"])
        if repo is None:
            raise not_found()
        role = self.world.role(self.login, repo, self.scopes)
        if role is None:
            raise not_found()
        if not role_at_least(role, needed):
            if needed == "admin" and role_at_least(role, "read"):
                raise ApiError(403, "Must have admin rights to Repository.")
            raise not_found()
        if needed != "read" and repo.get("archived") and self.method != "GET":
            raise ApiError(403, "Repository was archived so is read-only.")
        return repo

    def org(self, *, admin: bool = False) -> dict:
        """The organization ``{org}``; ``admin=True`` requires an org owner with ``admin:org``."""
        org = self.world.find_user(self.params["org"])
        if org is None or org["type"] != "Organization":
            raise not_found()
        if admin:
            self.require_auth()
            if self.world.org_role(org, self.login) != "admin":
                raise ApiError(403, "You must be an org admin or have the `admin:org` scope to do this.")
            self.require_scope("admin:org")
        return org

    def int_query(self, name: str, default: int) -> int:
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            return default

    def paginate(
        self,
        items: list[Any],
        *,
        key: str | None = None,
        max_per_page: int = 100,
        default_per_page: int = 30,
    ) -> Reply:
        """One page of ``items`` and GitHub's ``Link`` header.

        ``key`` wraps the page as ``{"total_count": N, key: [...]}`` (secrets, variables,
        runners...); without it the page is a bare JSON array.
        """
        per_page = self.int_query("per_page", default_per_page)
        if per_page <= 0:
            per_page = default_per_page
        per_page = min(per_page, max_per_page)
        page = max(self.int_query("page", 1), 1)
        total = len(items)
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-total // per_page))
        headers = {}
        link = self._link(page, last)
        if link:
            headers["Link"] = link
        body = {"total_count": total, key: chunk} if key else chunk
        return Reply(status=200, body=body, headers=headers, total=total)

    def _link(self, page: int, last: int) -> str:
        if last <= 1 and page <= 1:
            return ""

        def href(n: int) -> str:
            q = {k: v for k, v in self.query.items() if k != "page"}
            q["page"] = str(n)
            return f"<{self.base_url}{self.path}?{urlencode(q)}>"

        parts = []
        if page > 1:
            parts.append(f'{href(min(page - 1, last))}; rel="prev"')
        if page < last:
            parts.append(f'{href(page + 1)}; rel="next"')
            parts.append(f'{href(last)}; rel="last"')
        if page > 1:
            parts.append(f'{href(1)}; rel="first"')
        return ", ".join(parts)
