"""Secrets: Actions (repository, environment, organization), Dependabot (repository,
organization) and Codespaces user secrets.

Every scope has its own sealed-box key pair (``World.keypair``). A PUT opens the box with the
scope's private key and keeps only the SHA-256 of the plaintext (LAYOUT.md); the plaintext
never reaches the store, a response or a log. ``GET /_sandbox/secrets`` lists the fingerprints
so tests can prove the right value arrived.

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
from typing import Any

from ..http import ApiError, Ctx, Reply, empty, json_reply, not_found
from ..routing import control, route
from ..shapes import repository

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
    raw = ctx.params["secret_name"]
    if not _NAME.match(raw):
        raise ApiError(422, _NAME_MESSAGE)
    name = raw.upper()
    if name.startswith("GITHUB_"):
        raise ApiError(422, "Secret names must not start with GITHUB_.")
    return name


def _lookup(bucket: dict, ctx: Ctx) -> dict:
    rec = bucket.get(ctx.params["secret_name"].upper())
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
    return ApiError(
        422,
        "Validation Failed",
        errors=[{"resource": "Secret", "field": "selected_repository_ids", "code": "invalid",
                 "message": f"{value!r} is not a repository id."}],
    )


def _existing_repos(ctx: Ctx, ids: list[int]) -> list[dict]:
    """The repositories that still exist among ``ids``, in order."""
    return [r for r in (ctx.world.repo_by_id(i) for i in ids) if r is not None]


# -- repository secrets (Actions and Dependabot) ----------------------------------------------
def _repo_scope(repo: dict, kind: str) -> str:
    return f"repo:{repo['id']}:{kind}"


def _repo_bucket(repo: dict, kind: str) -> dict:
    return (repo.get("secrets") or {}).get(kind) or {}


def _register_repo(kind: str) -> None:
    base = f"/repos/{{owner}}/{{repo}}/{kind}/secrets"

    @route("GET", base, f"{kind}/list-repo-secrets", scopes=("repo",))
    def list_secrets(ctx: Ctx) -> Reply:
        repo = ctx.repo("admin")
        return ctx.paginate([_basic(r) for r in _sorted(_repo_bucket(repo, kind))], key="secrets")

    @route("GET", base + "/public-key", f"{kind}/get-repo-public-key")
    def public_key(ctx: Ctx) -> Reply:
        repo = ctx.repo("read")
        return json_reply(ctx.world.public_key(_repo_scope(repo, kind)))

    @route("GET", base + "/{secret_name}", f"{kind}/get-repo-secret", scopes=("repo",))
    def get_secret(ctx: Ctx) -> Reply:
        repo = ctx.repo("admin")
        return json_reply(_basic(_lookup(_repo_bucket(repo, kind), ctx)))

    @route("PUT", base + "/{secret_name}", f"{kind}/create-or-update-repo-secret", scopes=("repo",))
    def put_secret(ctx: Ctx) -> Reply:
        repo = ctx.repo("admin")
        name = secret_name(ctx)
        sha = _fingerprint(ctx, _repo_scope(repo, kind), required=True)
        bucket = repo.setdefault("secrets", {}).setdefault(kind, {})
        created = _upsert(ctx, bucket, name, sha, "repo")
        ctx.world.save("repos", repo["id"], repo)
        return _put_reply(created)

    @route("DELETE", base + "/{secret_name}", f"{kind}/delete-repo-secret", scopes=("repo",))
    def delete_secret(ctx: Ctx) -> Reply:
        repo = ctx.repo("admin")
        rec = _lookup(_repo_bucket(repo, kind), ctx)
        del repo["secrets"][kind][rec["name"]]
        ctx.world.save("repos", repo["id"], repo)
        return empty()


for _kind in KINDS:
    _register_repo(_kind)


# -- environment secrets ------------------------------------------------------------------------
def _environment(ctx: Ctx, repo: dict) -> dict:
    """The environment ``{environment_name}`` of ``repo`` (names are case-insensitive)."""
    envs = repo.get("environments") or {}
    want = ctx.params["environment_name"]
    env = envs.get(want)
    if env is None:
        env = next((e for k, e in envs.items() if k.lower() == want.lower()), None)
    if env is None:
        raise not_found()
    return env


def _env_scope(repo: dict, env: dict) -> str:
    return f"env:{repo['id']}:{env['name']}"


_ENV = "/repos/{owner}/{repo}/environments/{environment_name}/secrets"


@route("GET", _ENV, "actions/list-environment-secrets", scopes=("repo",))
def list_environment_secrets(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    env = _environment(ctx, repo)
    return ctx.paginate([_basic(r) for r in _sorted(env.get("secrets") or {})], key="secrets")


@route("GET", _ENV + "/public-key", "actions/get-environment-public-key")
def get_environment_public_key(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    env = _environment(ctx, repo)
    return json_reply(ctx.world.public_key(_env_scope(repo, env)))


@route("GET", _ENV + "/{secret_name}", "actions/get-environment-secret", scopes=("repo",))
def get_environment_secret(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    env = _environment(ctx, repo)
    return json_reply(_basic(_lookup(env.get("secrets") or {}, ctx)))


@route("PUT", _ENV + "/{secret_name}", "actions/create-or-update-environment-secret", scopes=("repo",))
def put_environment_secret(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    env = _environment(ctx, repo)
    name = secret_name(ctx)
    sha = _fingerprint(ctx, _env_scope(repo, env), required=True)
    if env.get("secrets") is None:
        env["secrets"] = {}
    created = _upsert(ctx, env["secrets"], name, sha, "environment")
    ctx.world.save("repos", repo["id"], repo)
    return _put_reply(created)


@route("DELETE", _ENV + "/{secret_name}", "actions/delete-environment-secret", scopes=("repo",))
def delete_environment_secret(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    env = _environment(ctx, repo)
    rec = _lookup(env.get("secrets") or {}, ctx)
    del env["secrets"][rec["name"]]
    ctx.world.save("repos", repo["id"], repo)
    return empty()


# -- organization secrets -------------------------------------------------------------------------
def _org_scope(org: dict, kind: str) -> str:
    return f"org:{org['login'].lower()}:{kind}"


def _org_bucket(org: dict, kind: str) -> dict:
    return (org.get("secrets") or {}).get(kind) or {}


def _save_org(ctx: Ctx, org: dict) -> None:
    ctx.world.save("users", org["login"].lower(), org)


def _org_repo_ids(ctx: Ctx, org: dict, raw: list) -> list[int]:
    """``raw`` as repository ids, each of a repository of ``org`` (422 otherwise)."""
    ids = _int_ids(raw)
    for ident in ids:
        repo = ctx.world.repo_by_id(ident)
        if repo is None or repo["owner"].lower() != org["login"].lower():
            raise ApiError(
                422,
                "Validation Failed",
                errors=[{"resource": "Secret", "field": "selected_repository_ids", "code": "invalid",
                         "message": f"Repository {ident} is not a repository of the {org['login']} organization."}],
            )
    return ids


def _org_secret_shape(ctx: Ctx, org: dict, kind: str, rec: dict) -> dict[str, Any]:
    out = _basic(rec)
    out["visibility"] = rec["visibility"]
    if rec["visibility"] == "selected":
        out["selected_repositories_url"] = ctx.url(f"/orgs/{org['login']}/{kind}/secrets/{rec['name']}/repositories")
    return out


def _need_selected(rec: dict) -> None:
    if rec["visibility"] != "selected":
        raise ApiError(
            409,
            f"The visibility of secret {rec['name']} is {rec['visibility']!r}; "
            "repositories can only be selected when the visibility is 'selected'.",
        )


def _register_org(kind: str) -> None:
    base = f"/orgs/{{org}}/{kind}/secrets"

    @route("GET", base, f"{kind}/list-org-secrets", scopes=("admin:org",))
    def list_secrets(ctx: Ctx) -> Reply:
        org = ctx.org(admin=True)
        recs = _sorted(_org_bucket(org, kind))
        return ctx.paginate([_org_secret_shape(ctx, org, kind, r) for r in recs], key="secrets")

    @route("GET", base + "/public-key", f"{kind}/get-org-public-key", scopes=("admin:org",))
    def public_key(ctx: Ctx) -> Reply:
        org = ctx.org(admin=True)
        return json_reply(ctx.world.public_key(_org_scope(org, kind)))

    @route("GET", base + "/{secret_name}", f"{kind}/get-org-secret", scopes=("admin:org",))
    def get_secret(ctx: Ctx) -> Reply:
        org = ctx.org(admin=True)
        return json_reply(_org_secret_shape(ctx, org, kind, _lookup(_org_bucket(org, kind), ctx)))

    @route("PUT", base + "/{secret_name}", f"{kind}/create-or-update-org-secret", scopes=("admin:org",))
    def put_secret(ctx: Ctx) -> Reply:
        """Create needs a value; an update without one changes visibility/repositories only.
        ``visibility: selected`` without ``selected_repository_ids`` keeps the current list."""
        org = ctx.org(admin=True)
        name = secret_name(ctx)
        body = ctx.body
        visibility = body["visibility"]
        raw_ids = body.get("selected_repository_ids")
        if raw_ids and visibility != "selected":
            raise ApiError(
                422,
                "Validation Failed",
                errors=[{"resource": "Secret", "field": "selected_repository_ids", "code": "invalid",
                         "message": "selected_repository_ids can only be given when visibility is 'selected'."}],
            )
        bucket = org.setdefault("secrets", {}).setdefault(kind, {})
        existing = bucket.get(name)
        if visibility != "selected":
            ids: list[int] = []
        elif raw_ids is not None:
            ids = _org_repo_ids(ctx, org, raw_ids)
        elif existing is not None and existing["visibility"] == "selected":
            ids = list(existing["selected_repository_ids"])
        else:
            ids = []
        sha = _fingerprint(ctx, _org_scope(org, kind), required=existing is None)
        created = _upsert(ctx, bucket, name, sha, "org", visibility=visibility, selected_repository_ids=ids)
        _save_org(ctx, org)
        return _put_reply(created)

    @route("DELETE", base + "/{secret_name}", f"{kind}/delete-org-secret", scopes=("admin:org",))
    def delete_secret(ctx: Ctx) -> Reply:
        org = ctx.org(admin=True)
        rec = _lookup(_org_bucket(org, kind), ctx)
        del org["secrets"][kind][rec["name"]]
        _save_org(ctx, org)
        return empty()

    @route(
        "GET",
        base + "/{secret_name}/repositories",
        f"{kind}/list-selected-repos-for-org-secret",
        scopes=("admin:org",),
    )
    def list_repos(ctx: Ctx) -> Reply:
        org = ctx.org(admin=True)
        rec = _lookup(_org_bucket(org, kind), ctx)
        repos = _existing_repos(ctx, rec["selected_repository_ids"])
        return ctx.paginate([repository(ctx, r, level="minimal") for r in repos], key="repositories")

    @route(
        "PUT",
        base + "/{secret_name}/repositories",
        f"{kind}/set-selected-repos-for-org-secret",
        scopes=("admin:org",),
    )
    def set_repos(ctx: Ctx) -> Reply:
        org = ctx.org(admin=True)
        rec = _lookup(_org_bucket(org, kind), ctx)
        _need_selected(rec)
        rec["selected_repository_ids"] = _org_repo_ids(ctx, org, ctx.body["selected_repository_ids"])
        rec["updated_at"] = ctx.world.now_iso()
        _save_org(ctx, org)
        return empty()

    @route(
        "PUT",
        base + "/{secret_name}/repositories/{repository_id:int}",
        f"{kind}/add-selected-repo-to-org-secret",
        scopes=("admin:org",),
    )
    def add_repo(ctx: Ctx) -> Reply:
        org = ctx.org(admin=True)
        rec = _lookup(_org_bucket(org, kind), ctx)
        _need_selected(rec)
        ident = _org_repo_ids(ctx, org, [ctx.params["repository_id"]])[0]
        if ident not in rec["selected_repository_ids"]:
            rec["selected_repository_ids"].append(ident)
            rec["updated_at"] = ctx.world.now_iso()
            _save_org(ctx, org)
        return empty()

    @route(
        "DELETE",
        base + "/{secret_name}/repositories/{repository_id:int}",
        f"{kind}/remove-selected-repo-from-org-secret",
        scopes=("admin:org",),
    )
    def remove_repo(ctx: Ctx) -> Reply:
        org = ctx.org(admin=True)
        rec = _lookup(_org_bucket(org, kind), ctx)
        _need_selected(rec)
        ident = ctx.params["repository_id"]
        if ident in rec["selected_repository_ids"]:
            rec["selected_repository_ids"].remove(ident)
            rec["updated_at"] = ctx.world.now_iso()
            _save_org(ctx, org)
        else:
            _org_repo_ids(ctx, org, [ident])  # a repository of another owner is a 422
        return empty()


for _kind in KINDS:
    _register_org(_kind)


@route(
    "GET",
    "/repos/{owner}/{repo}/actions/organization-secrets",
    "actions/list-repo-organization-secrets",
    scopes=("repo",),
)
def list_repo_organization_secrets(ctx: Ctx) -> Reply:
    """The owner organization's Actions secrets this repository can use: visibility ``all``,
    ``private`` when the repository is not public, ``selected`` when it is selected."""
    repo = ctx.repo("admin")
    owner = ctx.world.find_user(repo["owner"])
    shared: list[dict] = []
    if owner is not None and owner["type"] == "Organization":
        for rec in _sorted(_org_bucket(owner, "actions")):
            vis = rec["visibility"]
            if vis == "all" or (vis == "private" and repo["private"]) or (
                vis == "selected" and repo["id"] in rec["selected_repository_ids"]
            ):
                shared.append(_basic(rec))
    return ctx.paginate(shared, key="secrets")


# -- Codespaces user secrets ------------------------------------------------------------------------
_CS = "/user/codespaces/secrets"
_CS_SCOPES = ("codespace", "codespace:secrets")


def _me(ctx: Ctx) -> dict:
    ctx.require_auth()
    user = ctx.world.find_user(ctx.login)
    assert user is not None
    return user


def _user_scope(user: dict) -> str:
    return f"user:{user['login'].lower()}:codespaces"


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
            raise ApiError(
                422,
                "Validation Failed",
                errors=[{"resource": "Secret", "field": "selected_repository_ids", "code": "invalid",
                         "message": f"Repository {ident} was not found or you do not have access to it."}],
            )
    return ids


def _save_user(ctx: Ctx, user: dict) -> None:
    ctx.world.save("users", user["login"].lower(), user)


@route("GET", _CS, "codespaces/list-secrets-for-authenticated-user", scopes=_CS_SCOPES)
def list_codespaces_secrets(ctx: Ctx) -> Reply:
    user = _me(ctx)
    recs = _sorted(user.get("codespaces_secrets") or {})
    return ctx.paginate([_cs_shape(ctx, r) for r in recs], key="secrets")


@route("GET", _CS + "/public-key", "codespaces/get-public-key-for-authenticated-user", scopes=_CS_SCOPES)
def get_codespaces_public_key(ctx: Ctx) -> Reply:
    user = _me(ctx)
    return json_reply(ctx.world.public_key(_user_scope(user)))


@route("GET", _CS + "/{secret_name}", "codespaces/get-secret-for-authenticated-user", scopes=_CS_SCOPES)
def get_codespaces_secret(ctx: Ctx) -> Reply:
    user = _me(ctx)
    return json_reply(_cs_shape(ctx, _lookup(user.get("codespaces_secrets") or {}, ctx)))


@route("PUT", _CS + "/{secret_name}", "codespaces/create-or-update-secret-for-authenticated-user", scopes=_CS_SCOPES)
def put_codespaces_secret(ctx: Ctx) -> Reply:
    """Create needs ``encrypted_value``; an update without one replaces the repositories only
    (and keeps them when ``selected_repository_ids`` is absent too)."""
    user = _me(ctx)
    name = secret_name(ctx)
    bucket = user.get("codespaces_secrets")
    if bucket is None:
        bucket = user["codespaces_secrets"] = {}
    existing = bucket.get(name)
    raw_ids = ctx.body.get("selected_repository_ids")
    if raw_ids is not None:
        ids = _accessible_ids(ctx, raw_ids, 422)
    else:
        ids = list(existing["selected_repository_ids"]) if existing else []
    sha = _fingerprint(ctx, _user_scope(user), required=existing is None)
    created = _upsert(ctx, bucket, name, sha, "user", visibility="selected", selected_repository_ids=ids)
    _save_user(ctx, user)
    return _put_reply(created)


@route("DELETE", _CS + "/{secret_name}", "codespaces/delete-secret-for-authenticated-user", scopes=_CS_SCOPES)
def delete_codespaces_secret(ctx: Ctx) -> Reply:
    user = _me(ctx)
    rec = _lookup(user.get("codespaces_secrets") or {}, ctx)
    del user["codespaces_secrets"][rec["name"]]
    _save_user(ctx, user)
    return empty()


@route(
    "GET",
    _CS + "/{secret_name}/repositories",
    "codespaces/list-repositories-for-secret-for-authenticated-user",
    scopes=_CS_SCOPES,
)
def list_codespaces_secret_repos(ctx: Ctx) -> Reply:
    user = _me(ctx)
    rec = _lookup(user.get("codespaces_secrets") or {}, ctx)
    repos = [r for r in _existing_repos(ctx, rec["selected_repository_ids"])
             if ctx.world.role(ctx.login, r, ctx.scopes) is not None]
    # this operation's 200 is not paginated in GitHub's description: all of them, one page
    return json_reply({"total_count": len(repos), "repositories": [repository(ctx, r, level="minimal") for r in repos]})


@route(
    "PUT",
    _CS + "/{secret_name}/repositories",
    "codespaces/set-repositories-for-secret-for-authenticated-user",
    scopes=_CS_SCOPES,
)
def set_codespaces_secret_repos(ctx: Ctx) -> Reply:
    user = _me(ctx)
    rec = _lookup(user.get("codespaces_secrets") or {}, ctx)
    rec["selected_repository_ids"] = _accessible_ids(ctx, ctx.body["selected_repository_ids"], 404)
    rec["updated_at"] = ctx.world.now_iso()
    _save_user(ctx, user)
    return empty()


@route(
    "PUT",
    _CS + "/{secret_name}/repositories/{repository_id:int}",
    "codespaces/add-repository-for-secret-for-authenticated-user",
    scopes=_CS_SCOPES,
)
def add_codespaces_secret_repo(ctx: Ctx) -> Reply:
    user = _me(ctx)
    rec = _lookup(user.get("codespaces_secrets") or {}, ctx)
    ident = _accessible_ids(ctx, [ctx.params["repository_id"]], 404)[0]
    if ident not in rec["selected_repository_ids"]:
        rec["selected_repository_ids"].append(ident)
        rec["updated_at"] = ctx.world.now_iso()
        _save_user(ctx, user)
    return empty()


@route(
    "DELETE",
    _CS + "/{secret_name}/repositories/{repository_id:int}",
    "codespaces/remove-repository-for-secret-for-authenticated-user",
    scopes=_CS_SCOPES,
)
def remove_codespaces_secret_repo(ctx: Ctx) -> Reply:
    user = _me(ctx)
    rec = _lookup(user.get("codespaces_secrets") or {}, ctx)
    ident = ctx.params["repository_id"]
    if ident in rec["selected_repository_ids"]:
        rec["selected_repository_ids"].remove(ident)
        rec["updated_at"] = ctx.world.now_iso()
        _save_user(ctx, user)
    else:
        _accessible_ids(ctx, [ident], 404)  # an unknown or hidden repository is a 404
    return empty()


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
