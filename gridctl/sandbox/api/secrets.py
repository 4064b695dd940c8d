"""Secrets: Actions (repository, environment, organization), Dependabot (repository,
organization) and Codespaces user secrets.

Every scope has its own sealed-box key pair (``World.keypair``). A PUT opens the box with the
scope's private key and keeps only the SHA-256 of the plaintext (LAYOUT.md); the plaintext
never reaches the store, a response or a log. ``GET /_sandbox/secrets`` lists the fingerprints
so tests can prove the right value arrived.

Every level (repository, environment, organization, Codespaces user) is one :class:`Place`
found by a ``locate`` function; the operations all levels share are one set of handlers
(:func:`_register`), and so are the selected-repository operations of organization and
Codespaces secrets (:func:`_register_selected_repos`).

Behaviour chosen where GitHub's description is silent (see also the route docstrings):

* ``encrypted_value`` is needed to *create* a secret in every scope, and ``key_id`` whenever
  ``encrypted_value`` is sent, although the description lists neither as required for
  repository Dependabot secrets (github.com answers ``"key_id" wasn't supplied.`` the same way
  for Actions secrets). An organization or Codespaces secret that already exists may be
  updated without a value: only its visibility / repositories change.
* ``selected_repository_ids`` may hold integers or numeric strings in every scope (the vendored
  description allows both); giving a non-empty list with a visibility other than ``selected``
  is a 422.
* Organization secrets only mention ``selected_repositories_url`` when their visibility is
  ``selected``; Codespaces user secrets always have visibility ``selected``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ApiError, not_found
from ..http import Ctx, Reply, empty, json_reply
from ..routing import REPO_PREFIX, control, route
from ..shapes import repository
from .environments import require_environment
from .variables import org_shared_with

KINDS = ("actions", "dependabot")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME_MESSAGE = (
    "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_). "
    "Spaces are not allowed. Must start with a letter ([a-z], [A-Z]) or underscores (_)."
)
#: GitHub's documented limits: 48 KB a value; 100 repository / environment secrets, 1,000 per
#: organization (we apply 100 to a user's Codespaces secrets as well)
MAX_VALUE_BYTES = 48 * 1024
MAX_SECRETS = {"repo": 100, "environment": 100, "org": 1000, "user": 100}


# -- shared helpers ---------------------------------------------------------------------------
def secret_name(ctx: Ctx) -> str:
    """The ``{secret_name}`` of a PUT, checked like GitHub and upper-cased (names are
    case-insensitive)."""
    raw: str = ctx.params["secret_name"]
    if not _NAME.match(raw):
        raise ApiError(422, _NAME_MESSAGE)
    name = raw.upper()
    if name.startswith("GITHUB_"):
        raise ApiError(422, "Secret names must not start with GITHUB_.")
    return name


def _lookup(bucket: dict, ctx: Ctx) -> dict:
    rec: dict | None = bucket.get(ctx.params["secret_name"].upper())
    if rec is None:
        raise not_found()
    return rec


def _fingerprint(ctx: Ctx, scope: str, *, required: bool) -> str | None:
    """SHA-256 of the value in the request's sealed box, or None when no value was sent and
    none is ``required``."""
    body = ctx.body or {}
    value = body.get("encrypted_value")
    if value is None:
        if required:
            raise ApiError(422, "Invalid request.\n\n\"encrypted_value\" wasn't supplied.")
        return None
    key_id = body.get("key_id")
    if key_id is None:
        raise ApiError(422, "Invalid request.\n\n\"key_id\" wasn't supplied.")
    plain = ctx.world.decrypt(scope, str(key_id), value)
    if len(plain) > MAX_VALUE_BYTES:
        raise ApiError(422, "Secret value is too large: secrets are limited to 48 KB.")
    return hashlib.sha256(plain).hexdigest()


def _upsert(ctx: Ctx, bucket: dict, name: str, sha: str | None, level: str, **extra: Any) -> bool:
    """Create or update ``bucket[name]``; True when it was created."""
    now = ctx.world.now_iso()
    rec = bucket.get(name)
    if rec is None:
        if len(bucket) >= MAX_SECRETS[level]:
            limit = MAX_SECRETS[level]
            raise ApiError(422, f"Failed to add secret. You can store up to {limit} secrets at this level.")
        assert sha is not None
        bucket[name] = {"name": name, "created_at": now, "updated_at": now, "sha256": sha, **extra}
        return True
    if sha is not None:
        rec["sha256"] = sha
    rec.update(extra)
    rec["updated_at"] = now
    return False


def _put_reply(created: bool) -> Reply:
    return json_reply({}, status=201) if created else empty()


def _basic(rec: dict) -> dict[str, Any]:
    return {"name": rec["name"], "created_at": rec["created_at"], "updated_at": rec["updated_at"]}


def _sorted(bucket: dict) -> list[dict]:
    return [bucket[k] for k in sorted(bucket)]


def _int_ids(raw: list) -> list[int]:
    out: list[int] = []
    for value in raw:
        if isinstance(value, bool):
            raise _bad_ids(value)
        try:
            ident = int(value)
        except (TypeError, ValueError):
            raise _bad_ids(value) from None
        if ident not in out:
            out.append(ident)
    return out


def _bad_ids(value: Any) -> ApiError:
    return _invalid_ids(f"{value!r} is not a repository id.")


def _invalid_ids(message: str) -> ApiError:
    """GitHub's 422 for a ``selected_repository_ids`` it refuses."""
    return ApiError(
        422,
        "Validation Failed",
        errors=[{"resource": "Secret", "field": "selected_repository_ids", "code": "invalid", "message": message}],
    )


def _existing_repos(ctx: Ctx, ids: list[int]) -> list[dict]:
    """The repositories that still exist among ``ids``, in order."""
    return [r for r in (ctx.world.repo_by_id(i) for i in ids) if r is not None]


# -- where secrets live ------------------------------------------------------------------------------
def _sub(record: dict, key: str) -> dict:
    """``record[key]``, created empty when missing."""
    if record.get(key) is None:
        record[key] = {}
    sub: dict = record[key]
    return sub


@dataclass(frozen=True)
class Place:
    """One set of secrets, found for one request: a repository's or an organization's secrets of
    one kind, an environment's, or a user's Codespaces secrets."""

    #: the secrets, name -> record (a detached ``{}`` while there are none)
    bucket: dict
    #: the sealed-box key pair (``World.keypair``)
    key_scope: str
    #: the ``MAX_SECRETS`` level
    level: str
    #: the bucket, created in its owner record when missing
    attach: Callable[[], dict]
    save: Callable[[], object]
    #: one secret as the API renders it
    shape: Callable[[dict], dict[str, Any]]
    #: ``selected_repository_ids`` checked for this place (selected-repository operations)
    repo_ids: Callable[[list], list[int]] = _int_ids


#: ``locate(ctx, needed)``: the place a request names; ``needed`` is the role a repository place
#: asks of the caller (``read`` for the public key, ``admin`` otherwise)
Locate = Callable[[Ctx, str], Place]


@dataclass(frozen=True)
class Level:
    """How one level's routes are named: its base path, operationId pattern and token scopes."""

    base: str
    #: operationIds by verb: list, public-key, get, put, delete
    ops: dict[str, str]
    scopes: tuple[str, ...]
    #: token scopes of the public-key operation
    key_scopes: tuple[str, ...]


def _ops(prefix: str, level: str) -> dict[str, str]:
    return {
        "list": f"{prefix}/list-{level}-secrets",
        "public-key": f"{prefix}/get-{level}-public-key",
        "get": f"{prefix}/get-{level}-secret",
        "put": f"{prefix}/create-or-update-{level}-secret",
        "delete": f"{prefix}/delete-{level}-secret",
    }


def _put_plain(ctx: Ctx, locate: Locate) -> Reply:
    """Repository and environment secrets: a value is always needed."""
    place = locate(ctx, "admin")
    name = secret_name(ctx)
    sha = _fingerprint(ctx, place.key_scope, required=True)
    created = _upsert(ctx, place.attach(), name, sha, place.level)
    place.save()
    return _put_reply(created)


def _register(level: Level, locate: Locate, put: Callable[[Ctx, Locate], Reply] = _put_plain) -> None:
    """The five operations every level has (list, public key, get, create-or-update, delete);
    ``put`` handles create-or-update where the level adds visibility and repositories."""
    ops, scopes = level.ops, level.scopes

    @route("GET", level.base, ops["list"], scopes=scopes)
    def list_secrets(ctx: Ctx) -> Reply:
        place = locate(ctx, "admin")
        return ctx.paginate([place.shape(r) for r in _sorted(place.bucket)], key="secrets")

    @route("GET", level.base + "/public-key", ops["public-key"], scopes=level.key_scopes)
    def public_key(ctx: Ctx) -> Reply:
        return json_reply(ctx.world.public_key(locate(ctx, "read").key_scope))

    @route("GET", level.base + "/{secret_name}", ops["get"], scopes=scopes)
    def get_secret(ctx: Ctx) -> Reply:
        place = locate(ctx, "admin")
        return json_reply(place.shape(_lookup(place.bucket, ctx)))

    @route("PUT", level.base + "/{secret_name}", ops["put"], scopes=scopes)
    def put_secret(ctx: Ctx) -> Reply:
        return put(ctx, locate)

    @route("DELETE", level.base + "/{secret_name}", ops["delete"], scopes=scopes)
    def delete_secret(ctx: Ctx) -> Reply:
        place = locate(ctx, "admin")
        rec = _lookup(place.bucket, ctx)
        del place.attach()[rec["name"]]
        place.save()
        return empty()


def _register_selected_repos(base: str, op_ids: tuple[str, str, str], scopes: tuple[str, ...], locate: Locate) -> None:
    """Set, add and remove the repositories of a secret whose visibility is ``selected``
    (organization and Codespaces secrets; each lists them its own way)."""
    set_op, add_op, remove_op = op_ids

    def selected(ctx: Ctx) -> tuple[Place, dict]:
        place = locate(ctx, "admin")
        rec = _lookup(place.bucket, ctx)
        _need_selected(rec)
        return place, rec

    def changed(ctx: Ctx, place: Place, rec: dict) -> None:
        rec["updated_at"] = ctx.world.now_iso()
        place.save()

    @route("PUT", base + "/{secret_name}/repositories", set_op, scopes=scopes)
    def set_repos(ctx: Ctx) -> Reply:
        place, rec = selected(ctx)
        rec["selected_repository_ids"] = place.repo_ids(ctx.body["selected_repository_ids"])
        changed(ctx, place, rec)
        return empty()

    @route("PUT", base + "/{secret_name}/repositories/{repository_id:int}", add_op, scopes=scopes)
    def add_repo(ctx: Ctx) -> Reply:
        place, rec = selected(ctx)
        ident = place.repo_ids([ctx.params["repository_id"]])[0]
        if ident not in rec["selected_repository_ids"]:
            rec["selected_repository_ids"].append(ident)
            changed(ctx, place, rec)
        return empty()

    @route("DELETE", base + "/{secret_name}/repositories/{repository_id:int}", remove_op, scopes=scopes)
    def remove_repo(ctx: Ctx) -> Reply:
        place, rec = selected(ctx)
        ident = ctx.params["repository_id"]
        if ident in rec["selected_repository_ids"]:
            rec["selected_repository_ids"].remove(ident)
            changed(ctx, place, rec)
        else:
            place.repo_ids([ident])  # a repository the place may not name is its error
        return empty()


def _need_selected(rec: dict) -> None:
    if rec.get("visibility", "selected") != "selected":
        raise ApiError(
            409,
            f"The visibility of secret {rec['name']} is {rec['visibility']!r}; "
            "repositories can only be selected when the visibility is 'selected'.",
        )


# -- repository secrets (Actions and Dependabot) ----------------------------------------------
def _repo_bucket(repo: dict, kind: str) -> dict:
    bucket: dict = (repo.get("secrets") or {}).get(kind) or {}
    return bucket


def _repo_place(kind: str) -> Locate:
    def locate(ctx: Ctx, needed: str) -> Place:
        repo = ctx.repo(needed)
        return Place(
            bucket=_repo_bucket(repo, kind),
            key_scope=f"repo:{repo['id']}:{kind}",
            level="repo",
            attach=lambda: _sub(_sub(repo, "secrets"), kind),
            save=lambda: ctx.world.save("repos", repo["id"], repo),
            shape=_basic,
        )

    return locate


for _kind in KINDS:
    _register(Level(f"/repos/{{owner}}/{{repo}}/{_kind}/secrets", _ops(_kind, "repo"), ("repo",), ()), _repo_place(_kind))


# -- environment secrets ------------------------------------------------------------------------
def _env_place(ctx: Ctx, needed: str) -> Place:
    repo = ctx.repo(needed)
    env = require_environment(repo, ctx.params["environment_name"])
    return Place(
        bucket=env.get("secrets") or {},
        key_scope=f"env:{repo['id']}:{env['name']}",
        level="environment",
        attach=lambda: _sub(env, "secrets"),
        save=lambda: ctx.world.save("repos", repo["id"], repo),
        shape=_basic,
    )


_register(
    Level("/repos/{owner}/{repo}/environments/{environment_name}/secrets", _ops("actions", "environment"), ("repo",), ()),
    _env_place,
)


# -- organization secrets -------------------------------------------------------------------------
def _org_bucket(org: dict, kind: str) -> dict:
    bucket: dict = (org.get("secrets") or {}).get(kind) or {}
    return bucket


def _save_org(ctx: Ctx, org: dict) -> None:
    ctx.world.save("users", org["login"].lower(), org)


def _org_repo_ids(ctx: Ctx, org: dict, raw: list) -> list[int]:
    """``raw`` as repository ids, each of a repository of ``org`` (422 otherwise)."""
    ids = _int_ids(raw)
    for ident in ids:
        repo = ctx.world.repo_by_id(ident)
        if repo is None or repo["owner"].lower() != org["login"].lower():
            raise _invalid_ids(f"Repository {ident} is not a repository of the {org['login']} organization.")
    return ids


def _org_secret_shape(ctx: Ctx, org: dict, kind: str, rec: dict) -> dict[str, Any]:
    out = _basic(rec)
    out["visibility"] = rec["visibility"]
    if rec["visibility"] == "selected":
        out["selected_repositories_url"] = ctx.url(f"/orgs/{org['login']}/{kind}/secrets/{rec['name']}/repositories")
    return out


def _org_place(kind: str) -> Locate:
    def locate(ctx: Ctx, needed: str) -> Place:
        org = ctx.org(admin=True)
        return Place(
            bucket=_org_bucket(org, kind),
            key_scope=f"org:{org['login'].lower()}:{kind}",
            level="org",
            attach=lambda: _sub(_sub(org, "secrets"), kind),
            save=lambda: _save_org(ctx, org),
            shape=lambda rec: _org_secret_shape(ctx, org, kind, rec),
            repo_ids=lambda raw: _org_repo_ids(ctx, org, raw),
        )

    return locate


def _put_org(ctx: Ctx, locate: Locate) -> Reply:
    """Create needs a value; an update without one changes visibility/repositories only.
    ``visibility: selected`` without ``selected_repository_ids`` keeps the current list."""
    place = locate(ctx, "admin")
    name = secret_name(ctx)
    body = ctx.body
    visibility = body["visibility"]
    raw_ids = body.get("selected_repository_ids")
    if raw_ids and visibility != "selected":
        raise _invalid_ids("selected_repository_ids can only be given when visibility is 'selected'.")
    bucket = place.attach()
    existing = bucket.get(name)
    if visibility != "selected":
        ids: list[int] = []
    elif raw_ids is not None:
        ids = place.repo_ids(raw_ids)
    elif existing is not None and existing["visibility"] == "selected":
        ids = list(existing["selected_repository_ids"])
    else:
        ids = []
    sha = _fingerprint(ctx, place.key_scope, required=existing is None)
    created = _upsert(ctx, bucket, name, sha, place.level, visibility=visibility, selected_repository_ids=ids)
    place.save()
    return _put_reply(created)


def _register_org(kind: str) -> None:
    base = f"/orgs/{{org}}/{kind}/secrets"
    scopes = ("admin:org",)
    locate = _org_place(kind)
    _register(Level(base, _ops(kind, "org"), scopes, scopes), locate, _put_org)

    @route("GET", base + "/{secret_name}/repositories", f"{kind}/list-selected-repos-for-org-secret", scopes=scopes)
    def list_repos(ctx: Ctx) -> Reply:
        place = locate(ctx, "admin")
        rec = _lookup(place.bucket, ctx)
        repos = _existing_repos(ctx, rec["selected_repository_ids"])
        return ctx.paginate([repository(ctx, r, level="minimal") for r in repos], key="repositories")

    _register_selected_repos(
        base,
        (
            f"{kind}/set-selected-repos-for-org-secret",
            f"{kind}/add-selected-repo-to-org-secret",
            f"{kind}/remove-selected-repo-from-org-secret",
        ),
        scopes,
        locate,
    )


for _kind in KINDS:
    _register_org(_kind)


@route("GET", REPO_PREFIX + "/actions/organization-secrets", "actions/list-repo-organization-secrets", scopes=("repo",))
def list_repo_organization_secrets(ctx: Ctx) -> Reply:
    """The owner organization's Actions secrets this repository can use (the rule of
    :func:`.variables.org_shared_with`)."""
    shared = org_shared_with(ctx, ctx.repo("admin"), lambda org: _org_bucket(org, "actions"))
    return ctx.paginate([_basic(rec) for rec in shared], key="secrets")


# -- Codespaces user secrets ------------------------------------------------------------------------
_CS = "/user/codespaces/secrets"
_CS_SCOPES = ("codespace", "codespace:secrets")


def _cs_shape(ctx: Ctx, rec: dict) -> dict[str, Any]:
    out = _basic(rec)
    out["visibility"] = rec.get("visibility", "selected")
    out["selected_repositories_url"] = ctx.url(f"{_CS}/{rec['name']}/repositories")
    return out


def _accessible_ids(ctx: Ctx, raw: list, status: int) -> list[int]:
    """``raw`` as ids of repositories the caller can see; ``status`` (404 or 422) otherwise."""
    ids = _int_ids(raw)
    for ident in ids:
        repo = ctx.world.repo_by_id(ident)
        if repo is None or ctx.world.role(ctx.login, repo, ctx.scopes) is None:
            if status == 404:
                raise not_found()
            raise _invalid_ids(f"Repository {ident} was not found or you do not have access to it.")
    return ids


def _user_place(ctx: Ctx, needed: str) -> Place:
    ctx.require_auth()
    user = ctx.world.find_user(ctx.login)
    assert user is not None
    return Place(
        bucket=user.get("codespaces_secrets") or {},
        key_scope=f"user:{user['login'].lower()}:codespaces",
        level="user",
        attach=lambda: _sub(user, "codespaces_secrets"),
        save=lambda: ctx.world.save("users", user["login"].lower(), user),
        shape=lambda rec: _cs_shape(ctx, rec),
        # an unknown or hidden repository in a path or a list is a 404 (the PUT's is a 422)
        repo_ids=lambda raw: _accessible_ids(ctx, raw, 404),
    )


def _put_codespaces(ctx: Ctx, locate: Locate) -> Reply:
    """Create needs ``encrypted_value``; an update without one replaces the repositories only
    (and keeps them when ``selected_repository_ids`` is absent too)."""
    place = locate(ctx, "admin")
    name = secret_name(ctx)
    bucket = place.attach()
    existing = bucket.get(name)
    raw_ids = ctx.body.get("selected_repository_ids")
    if raw_ids is not None:
        ids = _accessible_ids(ctx, raw_ids, 422)
    else:
        ids = list(existing["selected_repository_ids"]) if existing else []
    sha = _fingerprint(ctx, place.key_scope, required=existing is None)
    created = _upsert(ctx, bucket, name, sha, place.level, visibility="selected", selected_repository_ids=ids)
    place.save()
    return _put_reply(created)


_register(
    Level(
        _CS,
        {
            "list": "codespaces/list-secrets-for-authenticated-user",
            "public-key": "codespaces/get-public-key-for-authenticated-user",
            "get": "codespaces/get-secret-for-authenticated-user",
            "put": "codespaces/create-or-update-secret-for-authenticated-user",
            "delete": "codespaces/delete-secret-for-authenticated-user",
        },
        _CS_SCOPES,
        _CS_SCOPES,
    ),
    _user_place,
    _put_codespaces,
)


@route(
    "GET",
    _CS + "/{secret_name}/repositories",
    "codespaces/list-repositories-for-secret-for-authenticated-user",
    scopes=_CS_SCOPES,
)
def list_codespaces_secret_repos(ctx: Ctx) -> Reply:
    place = _user_place(ctx, "admin")
    rec = _lookup(place.bucket, ctx)
    repos = [r for r in _existing_repos(ctx, rec["selected_repository_ids"])
             if ctx.world.role(ctx.login, r, ctx.scopes) is not None]
    # this operation's 200 is not paginated in GitHub's description: all of them, one page
    return json_reply({"total_count": len(repos), "repositories": [repository(ctx, r, level="minimal") for r in repos]})


_register_selected_repos(
    _CS,
    (
        "codespaces/set-repositories-for-secret-for-authenticated-user",
        "codespaces/add-repository-for-secret-for-authenticated-user",
        "codespaces/remove-repository-for-secret-for-authenticated-user",
    ),
    _CS_SCOPES,
    _user_place,
)


# -- control route ----------------------------------------------------------------------------------
@control("GET", "/secrets")
def list_all_secrets(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Every secret the sandbox holds, as fingerprints (never plaintext).

    Query filters (all optional, case-insensitive): ``type`` (actions|dependabot|codespaces),
    ``repo`` (owner/name), ``owner`` (a login), ``scope`` (repo|environment|org|user),
    ``environment`` (a name).
    """
    world = app.world

    def full_name(repo: dict) -> str:
        return f"{repo['owner']}/{repo['name']}"

    def names(ids: list[int]) -> list[str]:
        return [full_name(r) for r in (world.repo_by_id(i) for i in ids) if r is not None]

    def row(scope: str, kind: str, owner: str, repo: dict | None, env: str | None, rec: dict) -> dict:
        return {
            "scope": scope,
            "type": kind,
            "owner": owner,
            "repo": full_name(repo) if repo else None,
            "environment": env,
            "name": rec["name"],
            "sha256": rec["sha256"],
            "updated_at": rec["updated_at"],
            "visibility": rec.get("visibility"),
            "selected_repositories": names(rec.get("selected_repository_ids", [])),
        }

    out: list[dict] = []
    for repo in sorted(world.store.values("repos"), key=lambda r: r["id"]):
        for kind in KINDS:
            for rec in _sorted(_repo_bucket(repo, kind)):
                out.append(row("repo", kind, repo["owner"], repo, None, rec))
        for key in sorted(repo.get("environments") or {}):
            env = repo["environments"][key]
            for rec in _sorted(env.get("secrets") or {}):
                out.append(row("environment", "actions", repo["owner"], repo, env.get("name", key), rec))
    for user in sorted(world.store.values("users"), key=lambda u: u["id"]):
        if user["type"] == "Organization":
            for kind in KINDS:
                for rec in _sorted(_org_bucket(user, kind)):
                    out.append(row("org", kind, user["login"], None, None, rec))
        for rec in _sorted(user.get("codespaces_secrets") or {}):
            out.append(row("user", "codespaces", user["login"], None, None, rec))

    def keep(item: dict) -> bool:
        for field in ("type", "repo", "owner", "scope", "environment"):
            want = query.get(field)
            if want is not None and (item[field] or "").lower() != want.lower():
                return False
        return True

    return [item for item in out if keep(item)]
