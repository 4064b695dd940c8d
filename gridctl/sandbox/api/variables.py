"""GitHub Actions configuration variables: repository, environment and organization scopes.

Layouts (LAYOUT.md): ``repo["variables"]`` and ``env["variables"]`` are
``{NAME: {name, value, created_at, updated_at}}``; an organization's record holds
``["variables"]`` with ``visibility`` and ``selected_repository_ids`` added.

GitHub's rules reproduced here:

* names match ``[A-Za-z_][A-Za-z0-9_]*``, may not start with ``GITHUB_``, are stored upper-case
  and looked up case-insensitively; values are at most 48 KB;
* create is ``POST`` -> 201 with an empty object (409 when the name is taken); update is
  ``PATCH`` -> 204 and may rename; every list pages 10 by default and at most 30 per page;
* repository and environment variables need admin rights on the repository; organization
  variables need an org owner with ``admin:org``; the ``…/repositories`` operations answer 409
  unless the variable's visibility is ``selected``.

The three levels share one set of handlers (:func:`_register`); what differs is the
:class:`Place` each level's ``locate`` function finds (the organization adds visibility and
selected repositories).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from ..errors import ApiError, not_found, validation_failed
from ..http import Ctx, Reply, empty, json_reply
from ..routing import route
from ..shapes import repository
from .environments import require_environment

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VALUE_BYTES = 48 * 1024
LIST_MAX_PER_PAGE = 30
LIST_DEFAULT_PER_PAGE = 10


# -- shared rules ------------------------------------------------------------------------------
def check_name(name: str) -> str:
    """A valid variable name, upper-cased; otherwise GitHub's 422."""
    if not _NAME.match(name):
        raise validation_failed(
            "Variable",
            "name",
            "invalid",
            "Variable names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or "
            "underscores (_), and must not start with a number.",
        )
    if name.upper().startswith("GITHUB_"):
        raise validation_failed("Variable", "name", "invalid", "Variable names cannot start with GITHUB_ prefix.")
    return name.upper()


def check_value(value: str) -> str:
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        raise validation_failed("Variable", "value", "custom", "Variable value exceeds the maximum size of 48 KB.")
    return value


def _conflict() -> ApiError:
    return ApiError(409, "Already exists - Variable already exists")


def _lookup(table: dict, name: str) -> tuple[str, dict] | None:
    key = name.upper()
    if key in table:
        return key, table[key]
    for k, v in table.items():
        if k.upper() == key:
            return k, v
    return None


def _require(table: dict, name: str) -> tuple[str, dict]:
    found = _lookup(table, name)
    if found is None:
        raise not_found()
    return found


def _plain(var: dict) -> dict[str, Any]:
    return {"name": var["name"], "value": var["value"], "created_at": var["created_at"], "updated_at": var["updated_at"]}


def _paginate(ctx: Ctx, items: list[dict]) -> Reply:
    return ctx.paginate(items, key="variables", max_per_page=LIST_MAX_PER_PAGE, default_per_page=LIST_DEFAULT_PER_PAGE)


def _sorted(table: dict) -> list[dict]:
    return [table[k] for k in sorted(table)]


def _create(ctx: Ctx, table: dict, extra: dict[str, Any] | None = None) -> dict:
    name = check_name(ctx.body["name"])
    value = check_value(ctx.body["value"])
    if _lookup(table, name) is not None:
        raise _conflict()
    now = ctx.world.now_iso()
    var = {"name": name, "value": value, "created_at": now, "updated_at": now}
    var.update(extra or {})
    table[name] = var
    return var


def _update(ctx: Ctx, table: dict, check_more: Callable[[dict], None] | None = None) -> dict:
    """Apply a PATCH (``name``/``value``; ``check_more`` validates scope-specific fields
    before anything changes). Returns the variable."""
    key, var = _require(table, ctx.params["name"])
    body = ctx.body or {}
    new_name = check_name(body["name"]) if "name" in body else key
    value = check_value(body["value"]) if "value" in body else None
    if new_name != key and _lookup(table, new_name) is not None:
        raise _conflict()
    if check_more is not None:
        check_more(var)
    if new_name != key:
        del table[key]
        var["name"] = new_name
        table[new_name] = var
    if value is not None:
        var["value"] = value
    var["updated_at"] = ctx.world.now_iso()
    return var


def _delete(ctx: Ctx, table: dict) -> None:
    key, _ = _require(table, ctx.params["name"])
    del table[key]


# -- one set of handlers for every level -------------------------------------------------------
@dataclass(frozen=True)
class Place:
    """The variables a request names: a repository's, an environment's or an organization's."""

    #: name -> variable, attached to its owner record
    table: dict
    save: Callable[[], None]
    #: one variable as the API renders it
    shape: Callable[[dict], dict[str, Any]] = _plain
    #: create: the level's own fields of a new variable, checked (before the name is)
    extra: Callable[[], dict[str, Any]] = dict
    #: update: the level's own fields checked against the variable, as the changes to make
    plan: Callable[[dict], dict[str, Any]] | None = None


Locate = Callable[[Ctx], Place]


def _register(base: str, level: str, scopes: tuple[str, ...], locate: Locate) -> None:
    """list, create, get, update and delete at one level (``level`` names the operationIds)."""

    @route("GET", base, f"actions/list-{level}-variables", scopes=scopes)
    def list_variables(ctx: Ctx) -> Reply:
        place = locate(ctx)
        return _paginate(ctx, [place.shape(v) for v in _sorted(place.table)])

    @route("POST", base, f"actions/create-{level}-variable", scopes=scopes)
    def create_variable(ctx: Ctx) -> Reply:
        place = locate(ctx)
        _create(ctx, place.table, place.extra())
        place.save()
        return json_reply({}, status=201)

    @route("GET", base + "/{name}", f"actions/get-{level}-variable", scopes=scopes)
    def get_variable(ctx: Ctx) -> Reply:
        place = locate(ctx)
        return json_reply(place.shape(_require(place.table, ctx.params["name"])[1]))

    @route("PATCH", base + "/{name}", f"actions/update-{level}-variable", scopes=scopes)
    def update_variable(ctx: Ctx) -> Reply:
        place = locate(ctx)
        changes: dict[str, Any] = {}

        def check_more(var: dict) -> None:
            if place.plan is not None:
                changes.update(place.plan(var))

        _update(ctx, place.table, check_more).update(changes)
        place.save()
        return empty()

    @route("DELETE", base + "/{name}", f"actions/delete-{level}-variable", scopes=scopes)
    def delete_variable(ctx: Ctx) -> Reply:
        place = locate(ctx)
        _delete(ctx, place.table)
        place.save()
        return empty()


# -- repository variables --------------------------------------------------------------------
def _save_repo(ctx: Ctx, repo: dict) -> None:
    ctx.world.save("repos", repo["id"], repo)


def _repo_place(ctx: Ctx) -> Place:
    ctx.require_auth()
    repo = ctx.repo("admin")
    return Place(repo.setdefault("variables", {}), lambda: _save_repo(ctx, repo))


_REPO = "/repos/{owner}/{repo}/actions"
_register(_REPO + "/variables", "repo", ("repo",), _repo_place)


def org_shared_with(ctx: Ctx, repo: dict, bucket: Callable[[dict], dict]) -> list[dict]:
    """The records of the repository's owner organization (``bucket(org)``: name -> record) that
    the repository may use, by name: visibility ``all``, ``private`` when the repository is not
    public, ``selected`` when it is selected. Organization secrets follow the same rule."""
    owner = ctx.world.find_user(repo["owner"])
    if owner is None or owner["type"] != "Organization":
        return []
    return [rec for rec in _sorted(bucket(owner)) if _visible_to(rec, repo)]


@route("GET", _REPO + "/organization-variables", "actions/list-repo-organization-variables", scopes=("repo",))
def list_repo_org_variables(ctx: Ctx) -> Reply:
    ctx.require_auth()
    shared = org_shared_with(ctx, ctx.repo("admin"), lambda org: org.get("variables") or {})
    return _paginate(ctx, [_plain(var) for var in shared])


def _visible_to(var: dict, repo: dict) -> bool:
    vis = var.get("visibility", "all")
    if vis == "all":
        return True
    if vis == "private":
        return bool(repo["private"])
    return repo["id"] in (var.get("selected_repository_ids") or [])


# -- environment variables -------------------------------------------------------------------
def _env_place(ctx: Ctx) -> Place:
    ctx.require_auth()
    repo = ctx.repo("admin")
    env = require_environment(repo, ctx.params["environment_name"])
    return Place(env.setdefault("variables", {}), lambda: _save_repo(ctx, repo))


_register("/repos/{owner}/{repo}/environments/{environment_name}/variables", "environment", ("repo",), _env_place)


# -- organization variables ------------------------------------------------------------------
_ORG = "/orgs/{org}/actions/variables"
_ORG_SCOPES = ("admin:org",)


def _save_org(ctx: Ctx, org: dict) -> None:
    ctx.world.save("users", org["login"].lower(), org)


def _org_shape(ctx: Ctx, org: dict, var: dict) -> dict[str, Any]:
    out = _plain(var)
    out["visibility"] = var.get("visibility", "all")
    if out["visibility"] == "selected":
        out["selected_repositories_url"] = ctx.url(
            f"/orgs/{org['login']}/actions/variables/{quote(var['name'], safe='')}/repositories"
        )
    return out


def _org_repo_ids(ctx: Ctx, org: dict, ids: list[int]) -> list[int]:
    """``ids`` deduplicated, each the id of one of ``org``'s repositories (else a 422)."""
    mine = {r["id"] for r in ctx.world.repos_of(org["login"])}
    out: list[int] = []
    for ident in ids:
        if ident not in mine:
            raise validation_failed(
                "Variable",
                "selected_repository_ids",
                "invalid",
                f"Repository with id {ident} was not found in the {org['login']} organization.",
            )
        if ident not in out:
            out.append(ident)
    return out


def _ids_need_selected() -> ApiError:
    return validation_failed(
        "Variable",
        "selected_repository_ids",
        "invalid",
        "You can only provide a list of repository ids when the visibility is set to selected.",
    )


def _org_place(ctx: Ctx) -> Place:
    org = ctx.org(admin=True)
    body = ctx.body or {}

    def extra() -> dict[str, Any]:
        visibility = body["visibility"]
        ids = body.get("selected_repository_ids") or []
        if ids and visibility != "selected":
            raise _ids_need_selected()
        return {"visibility": visibility, "selected_repository_ids": _org_repo_ids(ctx, org, ids)}

    def plan(var: dict) -> dict[str, Any]:
        visibility = body.get("visibility", var.get("visibility", "all"))
        ids = body.get("selected_repository_ids")
        if ids and visibility != "selected":
            raise _ids_need_selected()
        out: dict[str, Any] = {"visibility": visibility}
        if visibility != "selected":
            out["selected_repository_ids"] = []
        elif ids is not None:
            out["selected_repository_ids"] = _org_repo_ids(ctx, org, ids)
        return out

    return Place(
        org.setdefault("variables", {}),
        lambda: _save_org(ctx, org),
        shape=lambda var: _org_shape(ctx, org, var),
        extra=extra,
        plan=plan,
    )


_register(_ORG, "org", _ORG_SCOPES, _org_place)


def _selected(ctx: Ctx) -> tuple[dict, dict]:
    """The organization and its variable ``{name}``, whose visibility must be ``selected``."""
    org = ctx.org(admin=True)
    _, var = _require(org.setdefault("variables", {}), ctx.params["name"])
    if var.get("visibility") != "selected":
        raise ApiError(409, "The visibility of this variable is not set to selected.")
    return org, var


@route("GET", _ORG + "/{name}/repositories", "actions/list-selected-repos-for-org-variable", scopes=_ORG_SCOPES)
def list_selected_repos(ctx: Ctx) -> Reply:
    _, var = _selected(ctx)
    repos = [r for r in (ctx.world.repo_by_id(i) for i in var.get("selected_repository_ids") or []) if r is not None]
    repos.sort(key=lambda r: r["id"])
    return ctx.paginate([repository(ctx, r, level="minimal") for r in repos], key="repositories")


@route("PUT", _ORG + "/{name}/repositories", "actions/set-selected-repos-for-org-variable", scopes=_ORG_SCOPES)
def set_selected_repos(ctx: Ctx) -> Reply:
    org, var = _selected(ctx)
    var["selected_repository_ids"] = _org_repo_ids(ctx, org, ctx.body["selected_repository_ids"])
    _save_org(ctx, org)
    return empty()


def _select_repo(ctx: Ctx, *, add: bool) -> Reply:
    """Add the repository ``{repository_id}`` to the variable's selected repositories (it must be
    one of the organization's), or remove it (whatever it is)."""
    org, var = _selected(ctx)
    ident = ctx.params["repository_id"]
    ids = var.get("selected_repository_ids") or []
    if add:
        ident = _org_repo_ids(ctx, org, [ident])[0]
        var["selected_repository_ids"] = ids if ident in ids else [*ids, ident]
    else:
        var["selected_repository_ids"] = [i for i in ids if i != ident]
    _save_org(ctx, org)
    return empty()


_ORG_REPO = _ORG + "/{name}/repositories/{repository_id:int}"
route("PUT", _ORG_REPO, "actions/add-selected-repo-to-org-variable", scopes=_ORG_SCOPES)(partial(_select_repo, add=True))
route("DELETE", _ORG_REPO, "actions/remove-selected-repo-from-org-variable", scopes=_ORG_SCOPES)(
    partial(_select_repo, add=False)
)
