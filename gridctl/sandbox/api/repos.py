"""Repositories: create (user, org), get, update, delete, lists, topics.

A rename (``PATCH /repos/{o}/{r}`` with ``name``) keeps the old name as a redirect to the
repository (table ``renames``; :func:`gridctl.sandbox.routing.follow_renames` answers it) until a
new repository takes that name or the repository is deleted, as github.com does (GitHub Docs,
"Renaming a repository",
https://docs.github.com/en/repositories/creating-and-managing-repositories/renaming-a-repository).
Every ``/repos/{o}/{r}...`` route is also served as ``/repositories/{id}...``."""

from __future__ import annotations

import re
from typing import Any

from ..errors import ApiError, not_found, validation_failed
from ..gitobjects import auto_init
from ..http import Ctx, Reply, empty, json_reply
from ..routing import RENAMES, route
from ..shapes import repository
from ..world import REPO_DEFAULTS

_NAME_OK = re.compile(r"[^A-Za-z0-9._-]")
_TOPIC = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
_NOT_IN_URL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def clean_repo_name(name: str) -> str:
    """A repository name as GitHub makes it (GitHub Docs, "Repository limits",
    https://docs.github.com/en/repositories/creating-and-managing-repositories/repository-limits):
    characters other than ASCII letters, digits, ``.``, ``-`` and ``_`` become ``-``, a ``.git``
    suffix is dropped, a ``.wiki`` suffix is refused (the wiki has it) and so is a name longer
    than 100 characters ("Name cannot be more than 100 characters."), or one left empty."""
    cleaned = _NAME_OK.sub("-", name.strip())
    if len(cleaned) > 100:
        raise validation_failed("Repository", "name", "custom", "Name cannot be more than 100 characters.")
    if cleaned.lower().endswith(".git"):
        cleaned = cleaned[:-4]
    if cleaned in ("", ".", "..") or cleaned.lower().endswith(".wiki"):
        raise validation_failed("Repository", "name", "custom", "name is invalid")
    return cleaned


def check_homepage(body: dict[str, Any]) -> None:
    """A homepage is shown as a link: one with whitespace or control characters is refused."""
    value = body.get("homepage")
    if isinstance(value, str) and _NOT_IN_URL.search(value):
        raise validation_failed("Repository", "homepage", "invalid", "homepage is not a valid URL")


def _create(ctx: Ctx, owner: dict, body: dict[str, Any], *, org: bool) -> Reply:
    name = clean_repo_name(body["name"])
    check_homepage(body)
    visibility = body.get("visibility")
    if visibility == "internal" and not org:
        raise validation_failed("Repository", "visibility", "invalid", "internal repositories need an enterprise organization")
    private = body.get("private", visibility in ("private", "internal") if visibility else False)
    if visibility is None:
        visibility = "private" if private else "public"
    if visibility != "public" and "repo" not in ctx.scopes:
        raise ApiError(403, "Creating a private repository needs the 'repo' scope.", headers={"X-Accepted-OAuth-Scopes": "repo"})
    if not ctx.scopes & {"repo", "public_repo"}:
        raise ApiError(403, "Creating a repository needs the 'repo' or 'public_repo' scope.", headers={"X-Accepted-OAuth-Scopes": "public_repo, repo"})
    settings = {k: v for k, v in body.items() if k in REPO_DEFAULTS}
    settings["visibility"] = visibility
    repo = ctx.world.create_repo(owner, name, settings)
    # a new repository takes the name back: the old name's redirect ends
    ctx.world.store.delete(RENAMES, f"{owner['login'].lower()}/{name.lower()}")
    if body.get("auto_init"):
        auto_init(ctx.world, repo, ctx.user)
    ctx.world.save("repos", repo["id"], repo)
    return json_reply(
        repository(ctx, repo),
        status=201,
        headers={"Location": ctx.url(f"/repos/{repo['owner']}/{repo['name']}")},
    )


@route("POST", "/user/repos", "repos/create-for-authenticated-user", content=True)
def create_for_user(ctx: Ctx) -> Reply:
    user = ctx.require_auth()
    return _create(ctx, user, ctx.body, org=False)


@route("POST", "/orgs/{org}/repos", "repos/create-in-org", content=True)
def create_in_org(ctx: Ctx) -> Reply:
    ctx.require_auth()
    org = ctx.org()
    role = ctx.world.org_role(org, ctx.login)
    if role is None:
        raise not_found()
    return _create(ctx, org, ctx.body, org=True)


@route("GET", "/repos/{owner}/{repo}", "repos/get")
def get_repo(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    return json_reply(repository(ctx, repo), headers={"Last-Modified": _http_date(repo["updated_at"])})


@route("PATCH", "/repos/{owner}/{repo}", "repos/update")
def update_repo(ctx: Ctx) -> Reply:
    world = ctx.world
    body = ctx.body
    repo = world.find_repo(ctx.params["owner"], ctx.params["repo"])
    if repo is None or world.role(ctx.login, repo, ctx.scopes) is None:
        raise not_found()
    if world.role(ctx.login, repo, ctx.scopes) != "admin":
        raise ApiError(403, "Must have admin rights to Repository.")
    if repo.get("archived") and body.get("archived") is not False:
        raise ApiError(403, "Repository was archived so is read-only.")
    check_homepage(body)
    if "name" in body and body["name"] != repo["name"]:
        new = clean_repo_name(body["name"])
        other = world.find_repo(repo["owner"], new)
        if other is not None and other["id"] != repo["id"]:
            raise validation_failed("Repository", "name", "custom", "name already exists on this account")
        old = repo["name"]
        world.rename_repo(repo, new)
        owner_key = repo["owner"].lower()
        world.store.delete(RENAMES, f"{owner_key}/{new.lower()}")
        if old.lower() != new.lower():  # the old name now redirects (see routing.follow_renames)
            world.save(RENAMES, f"{owner_key}/{old.lower()}", {"repo_id": repo["id"]})
    if "visibility" in body or "private" in body:
        vis = body.get("visibility") or ("private" if body["private"] else "public")
        if vis == "internal":
            owner = world.find_user(repo["owner"])
            if not owner or owner["type"] != "Organization":
                raise validation_failed("Repository", "visibility", "invalid")
        repo["visibility"] = vis
        repo["private"] = vis != "public"
    if "default_branch" in body and body["default_branch"] != repo["default_branch"]:
        refs = repo.get("refs", {})
        if not refs:
            raise ApiError(422, "Cannot update default branch for an empty repository. Please init the repository and push first.")
        if f"refs/heads/{body['default_branch']}" not in refs:
            raise validation_failed("Repository", "default_branch", "invalid", f"The branch {body['default_branch']} was not found. Please push that ref first or create it via the Git Data API.")
        repo["default_branch"] = body["default_branch"]
    for key, value in body.items():
        if key in REPO_DEFAULTS and key not in ("disabled",):
            repo[key] = value
    world.touch(repo)
    return json_reply(repository(ctx, repo))


@route("DELETE", "/repos/{owner}/{repo}", "repos/delete")
def delete_repo(ctx: Ctx) -> Reply:
    world = ctx.world
    repo = world.find_repo(ctx.params["owner"], ctx.params["repo"])
    if repo is None or world.role(ctx.login, repo, ctx.scopes) is None:
        raise not_found()
    if world.role(ctx.login, repo, ctx.scopes) != "admin" or "delete_repo" not in ctx.scopes:
        raise ApiError(403, "Must have admin rights to Repository.", headers={"X-Accepted-OAuth-Scopes": "delete_repo"})
    world.delete_repo(repo)
    for key, moved in list(world.store.tables.get(RENAMES, {}).items()):
        if moved.get("repo_id") == repo["id"]:
            world.store.delete(RENAMES, key)
    return empty()


def _sorted(ctx: Ctx, repos: list[dict], default_sort: str = "full_name") -> list[dict]:
    sort = ctx.query.get("sort", default_sort)
    direction = ctx.query.get("direction", "asc" if sort == "full_name" else "desc")
    field = {"created": "created_at", "updated": "updated_at", "pushed": "pushed_at"}.get(sort)
    if field is None:
        repos = sorted(repos, key=lambda r: f"{r['owner']}/{r['name']}".lower())
    else:
        repos = sorted(repos, key=lambda r: (r[field], r["id"]))
    if direction == "desc":
        repos.reverse()
    return repos


@route("GET", "/user/repos", "repos/list-for-authenticated-user")
def list_for_me(ctx: Ctx) -> Reply:
    user = ctx.require_auth()
    world = ctx.world
    q = ctx.query
    if "type" in q and ("visibility" in q or "affiliation" in q):
        raise validation_failed("Repository", "type", "invalid", "If you specify visibility or affiliation, you cannot specify type.")
    visibility = q.get("visibility", "all")
    affiliation = set(q.get("affiliation", "owner,collaborator,organization_member").split(","))
    typ = q.get("type")
    if typ == "owner":
        affiliation = {"owner"}
    elif typ == "member":
        affiliation = {"collaborator", "organization_member"}
    elif typ in ("public", "private"):
        visibility = typ
    me = user["login"].lower()
    my_orgs = {o["login"].lower() for o in world.orgs_of(user["login"])}
    out = []
    for repo in world.store.values("repos"):
        if world.role(user["login"], repo, ctx.scopes) is None:
            continue
        rel = set()
        if repo["owner"].lower() == me:
            rel.add("owner")
        if me in repo.get("collaborators", {}):
            rel.add("collaborator")
        if repo["owner"].lower() in my_orgs:
            rel.add("organization_member")
        if not rel & affiliation:
            continue
        if visibility == "public" and repo["private"]:
            continue
        if visibility == "private" and not repo["private"]:
            continue
        out.append(repo)
    return ctx.paginate([repository(ctx, r, level="repository") for r in _sorted(ctx, out)])


@route("GET", "/orgs/{org}/repos", "repos/list-for-org")
def list_for_org(ctx: Ctx) -> Reply:
    org = ctx.org()
    typ = ctx.query.get("type", "all")
    out = []
    for repo in ctx.world.repos_of(org["login"]):
        if ctx.world.role(ctx.login, repo, ctx.scopes) is None:
            continue
        if typ == "public" and repo["private"]:
            continue
        if typ == "private" and not repo["private"]:
            continue
        out.append(repo)
    return ctx.paginate([repository(ctx, r, level="minimal") for r in _sorted(ctx, out, "created")])


@route("GET", "/users/{username}/repos", "repos/list-for-user")
def list_for_user(ctx: Ctx) -> Reply:
    user = ctx.world.find_user(ctx.params["username"])
    if user is None:
        raise not_found()
    out = [r for r in ctx.world.repos_of(user["login"]) if not r["private"]]
    return ctx.paginate([repository(ctx, r, level="minimal") for r in _sorted(ctx, out)])


@route("GET", "/repos/{owner}/{repo}/topics", "repos/get-all-topics")
def get_topics(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    return json_reply({"names": list(repo.get("topics", []))})


@route("PUT", "/repos/{owner}/{repo}/topics", "repos/replace-all-topics")
def replace_topics(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    names = [n.strip().lower() for n in ctx.body["names"]]
    bad = [n for n in names if not _TOPIC.match(n)]
    if bad:
        # this endpoint answers with "Validation Error Simple": errors are plain strings
        raise ApiError(
            422,
            "Validation Failed",
            errors=[
                f"{b!r} is not a valid topic. Topics must start with a lowercase letter or number, "
                "consist of 50 characters or less, and can include hyphens."
                for b in bad
            ],
        )
    if len(set(names)) > 20:
        raise ApiError(422, "Validation Failed", errors=["A repository cannot have more than 20 topics."])
    repo["topics"] = sorted(set(names), key=names.index)
    ctx.world.touch(repo)
    return json_reply({"names": list(repo["topics"])})


def _http_date(iso_value: str) -> str:
    import calendar
    import time
    from email.utils import formatdate

    return formatdate(calendar.timegm(time.strptime(iso_value, "%Y-%m-%dT%H:%M:%SZ")), usegmt=True)
