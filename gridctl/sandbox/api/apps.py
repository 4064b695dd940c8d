"""GitHub Apps: registration (a control route), JWT authentication, installations on users and
organizations, and installation access tokens confined to the installation's repositories and
permissions.

What GitHub documents and the sandbox enforces:

* An app authenticates as itself with a JWT signed RS256 by its private key: ``iss`` the app's
  id (or client id), ``iat`` and ``exp`` at most ten minutes apart; GitHub recommends ``iat``
  60 seconds in the past for clock drift (GitHub Docs, "Generating a JSON Web Token (JWT) for a
  GitHub App", https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app).
  An expired, future-dated (beyond that minute), too long-lived or badly signed JWT is a 401.
  A JWT opens only the ``/app`` endpoints and the ``.../installation`` look-ups; an installation
  token or a personal token on those is a 401 ("A JSON web token could not be decoded").
* ``POST /app/installations/{id}/access_tokens`` mints an installation token that expires after
  one hour, optionally narrowed to some of the installation's repositories and permissions
  (GitHub Docs, "Generating an installation access token for a GitHub App",
  https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-an-installation-access-token-for-a-github-app).
  The control route ``PUT /_sandbox/apps/token-lifetime`` shortens that for tests.
* An installation token acts as the app's bot on the installation's account: owner rights on
  the selected repositories, nothing on the others beyond what is public, and only what its
  permissions allow — else a 403 "Resource not accessible by integration" (GitHub Docs,
  "Permissions required for GitHub Apps",
  https://docs.github.com/en/rest/authentication/permissions-required-for-github-apps).
  Endpoints for the authenticated user (``/user...``) answer that 403 too.
* Its rate limit is the installation's: 5,000 requests an hour, plus 50 per repository and 50
  per organization member beyond 20 of each, at most 12,500 (GitHub Docs, "Rate limits for the
  REST API", https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).

Records (see LAYOUT.md): table ``apps`` key id, table ``installations`` key id, installation
tokens in ``tokens`` (hash only) with ``installation_id``, ``permissions``, ``repository_ids``
and ``expires``; table ``app_settings`` key ``token_lifetime``.
"""

from __future__ import annotations

import re
import secrets as _secrets
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import ApiError, not_found
from ..http import Ctx, Reply, json_reply
from ..inputs import number_field, str_field, str_list_field
from ..routing import control, route
from ..shapes import repository, simple_user, web_root
from ..world import DEFAULT_SCOPES, iso, node_id, token_hash

APPS = "apps"
INSTALLATIONS = "installations"
SETTINGS = "app_settings"

#: an installation token's lifetime (GitHub: one hour)
TOKEN_LIFETIME = 3600.0
#: the longest a JWT may live (``exp`` at most ten minutes after now)
MAX_JWT_LIFETIME = 600
#: how far in the future ``iat`` may be: the drift GitHub allows for by recommending ``iat`` a
#: minute in the past
CLOCK_DRIFT = 60
#: permission levels, weakest first
LEVELS = ("read", "write", "admin")

UNDECODABLE = "A JSON web token could not be decoded"
EXPIRED = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
TOO_LONG = "'Expiration time' claim ('exp') is too far in the future"
FUTURE_IAT = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
NOT_ACCESSIBLE = "Resource not accessible by integration"
DOC_AUTH = "https://docs.github.com/rest"

#: the operations a JWT opens
JWT_OPS = {
    "apps/get-authenticated",
    "apps/list-installations",
    "apps/get-installation",
    "apps/create-installation-access-token",
    "apps/get-org-installation",
    "apps/get-repo-installation",
    "apps/get-user-installation",
}

_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and bool(_JWT_SHAPE.match(token))


# -- authentication --------------------------------------------------------------------------------
def verify_jwt(world: Any, token: str) -> tuple[dict | None, str | None]:
    """``(app, None)`` for a valid JWT, ``(None, message)`` with GitHub's 401 message otherwise.
    Times are checked against the sandbox clock."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None, UNDECODABLE
    app = _app_by_issuer(world, claims.get("iss"))
    if app is None:
        return None, UNDECODABLE
    try:
        jwt.decode(token, app["public_key"], algorithms=["RS256"],
                   options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_iss": False})
    except jwt.PyJWTError:
        return None, UNDECODABLE
    iat, exp = claims.get("iat"), claims.get("exp")
    now = world.now()
    if not isinstance(iat, int | float) or isinstance(iat, bool) or iat > now + CLOCK_DRIFT:
        return None, FUTURE_IAT
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now:
        return None, EXPIRED
    if exp > now + MAX_JWT_LIFETIME or exp - iat > MAX_JWT_LIFETIME + CLOCK_DRIFT:
        return None, TOO_LONG
    return app, None


def _app_by_issuer(world: Any, iss: Any) -> dict | None:
    if isinstance(iss, int | str) and not isinstance(iss, bool):
        text = str(iss)
        if text.isdigit():
            app: dict | None = world.store.get(APPS, text)
            return app
        for app in world.store.values(APPS):
            if app["client_id"] == text:
                return app
    return None


def token_installation(world: Any, info: dict) -> dict | None:
    """What an installation token may reach: the installation narrowed by the token (its
    permissions and repositories, the bot's login); None when the token expired or the
    installation is gone or suspended."""
    if info.get("expires", 0) <= world.now():
        return None
    inst = world.store.get(INSTALLATIONS, str(info["installation_id"]))
    if inst is None or inst.get("suspended_at"):
        return None
    view = dict(inst, repository_ids=list(inst.get("repository_ids", [])))
    view["permissions"] = dict(info.get("permissions") or inst["permissions"])
    if info.get("repository_ids") is not None:
        view["repository_selection"] = "selected"
        view["repository_ids"] = list(info["repository_ids"])
    return view


def rate_limit(world: Any, inst: dict) -> int:
    """The installation's hourly limit: 5,000, plus 50 per repository and per organization
    member beyond 20 of each, at most 12,500."""
    repos = len(_installation_repos(world, inst))
    account = world.find_user(inst["account"]) or {}
    members = len(account.get("members", {}))
    return min(5000 + 50 * max(repos - 20, 0) + 50 * max(members - 20, 0), 12500)


# -- what an installation may do -------------------------------------------------------------------
#: repository endpoints: (path below /repos/{owner}/{repo}, permission to write, to read); a read
#: permission of None needs only metadata, which every installation has
_REPO_RULES: tuple[tuple[str, str, str | None], ...] = (
    ("/actions/secrets", "secrets", "secrets"),
    ("/dependabot/secrets", "dependabot_secrets", "dependabot_secrets"),
    ("/actions/variables", "actions_variables", "actions_variables"),
    ("/environments/{environment_name}/secrets", "environments", "environments"),
    ("/environments/{environment_name}/variables", "environments", "environments"),
    ("/environments", "administration", "actions"),
    ("/actions/permissions", "administration", "administration"),
    ("/actions/runners", "administration", "administration"),
    ("/actions", "actions", "actions"),
    ("/contents", "contents", "contents"),
    ("/git", "contents", "contents"),
    ("/commits", "contents", "contents"),
    ("/branches", "contents", "contents"),
    ("/releases", "contents", "contents"),
    ("/collaborators", "administration", None),
    ("/invitations", "administration", "administration"),
    ("/keys", "administration", "administration"),
    ("/labels", "issues", None),
    ("/issues", "issues", "issues"),
    ("/pulls", "pull_requests", "pull_requests"),
    ("/hooks", "repository_hooks", "repository_hooks"),
    ("/pages", "pages", "pages"),
    ("/topics", "administration", None),
    ("", "administration", None),
)
#: organization endpoints, the same way
_ORG_RULES: tuple[tuple[str, str, str | None], ...] = (
    ("/actions/secrets", "organization_secrets", "organization_secrets"),
    ("/dependabot/secrets", "organization_dependabot_secrets", "organization_dependabot_secrets"),
    ("/actions/variables", "organization_actions_variables", "organization_actions_variables"),
    ("/actions/runner-groups", "organization_self_hosted_runners", "organization_self_hosted_runners"),
    ("/actions/runners", "organization_self_hosted_runners", "organization_self_hosted_runners"),
    ("/actions/permissions", "organization_administration", "organization_administration"),
    ("/hooks", "organization_hooks", "organization_hooks"),
    ("/members", "members", "members"),
    ("/memberships", "members", "members"),
    ("/invitations", "members", "members"),
    ("/repos", "administration", None),
    ("", "organization_administration", None),
)


def needed_permission(method: str, path: str) -> tuple[str | None, str] | None:
    """``(permission, level)`` an installation token needs for ``method path`` (the route's
    template); ``(None, "read")`` when nothing beyond metadata; None when no installation token
    may call it at all (endpoints of the authenticated user)."""
    write = method not in ("GET", "HEAD")
    level = "write" if write else "read"
    for prefix, rules in (("/repos/{owner}/{repo}", _REPO_RULES), ("/repositories/{repository_id:int}", _REPO_RULES),
                          ("/orgs/{org}", _ORG_RULES)):
        if path == prefix or path.startswith(prefix + "/"):
            rest = path[len(prefix):]
            for start, write_perm, read_perm in rules:
                if rest == start or rest.startswith(start + "/") or start == "":
                    return (write_perm, level) if write else (read_perm, level)
    if path == "/user" or path.startswith("/user/"):
        return None
    return (None, "read") if not write else ("administration", level)


def granted(perms: dict[str, str], permission: str, level: str) -> bool:
    have = perms.get(permission)
    return have in LEVELS and LEVELS.index(have) >= LEVELS.index(level)


def gate(method: str, path: str, op_id: str, app: dict | None, inst: dict | None) -> None:
    """Refuse what an app's JWT or an installation token may not call, as GitHub does."""
    if app is not None:
        if op_id not in JWT_OPS:
            raise ApiError(403, NOT_ACCESSIBLE, doc_url=DOC_AUTH)
        return
    if op_id in JWT_OPS:
        raise ApiError(401, UNDECODABLE, doc_url=DOC_AUTH)
    if inst is None:
        return
    need = needed_permission(method, path)
    if need is None:
        raise ApiError(403, NOT_ACCESSIBLE, doc_url=DOC_AUTH)
    permission, level = need
    if permission is not None and not granted(inst["permissions"], permission, level):
        raise ApiError(403, NOT_ACCESSIBLE, doc_url=DOC_AUTH)


def installation_role(inst: dict, repo: dict) -> str | None:
    """The bot's role on ``repo`` through the installation ``inst`` (its narrowed view)."""
    if repo["owner"].lower() == inst["account"].lower() and (
        inst["repository_selection"] == "all" or repo["id"] in inst.get("repository_ids", [])
    ):
        return "admin"
    return None if repo["private"] else "read"


def _installation_repos(world: Any, inst: dict) -> list[dict]:
    repos: list[dict] = world.repos_of(inst["account"])
    if inst["repository_selection"] == "all":
        return repos
    ids = set(inst.get("repository_ids", []))
    return [r for r in repos if r["id"] in ids]


# -- shapes ----------------------------------------------------------------------------------------
def _app_shape(ctx: Ctx, app: dict) -> dict[str, Any]:
    owner = ctx.world.find_user(app["owner"]) or {"login": app["owner"], "id": 0, "type": "User"}
    count = sum(1 for i in ctx.world.store.values(INSTALLATIONS) if i["app_id"] == app["id"])
    return {
        "id": app["id"],
        "slug": app["slug"],
        "node_id": node_id("Integration", app["id"]),
        "client_id": app["client_id"],
        "owner": simple_user(ctx, owner),
        "name": app["name"],
        "description": None,
        "external_url": f"{web_root(ctx)}/apps/{app['slug']}",
        "html_url": f"{web_root(ctx)}/apps/{app['slug']}",
        "created_at": app["created_at"],
        "updated_at": app["updated_at"],
        "permissions": dict(app["permissions"]),
        "events": list(app["events"]),
        "installations_count": count,
    }


def _installation_shape(ctx: Ctx, inst: dict) -> dict[str, Any]:
    account = ctx.world.find_user(inst["account"]) or {"login": inst["account"], "id": 0, "type": "User"}
    org = account.get("type") == "Organization"
    settings = f"/organizations/{account['login']}/settings" if org else "/settings"
    app = ctx.world.store.get(APPS, str(inst["app_id"])) or {}
    return {
        "id": inst["id"],
        "client_id": app.get("client_id"),
        # the description's account is a simple user *and* an enterprise (allOf): both sets of fields
        "account": {**simple_user(ctx, account), "name": account.get("name") or account["login"], "slug": account["login"].lower(),
                    "created_at": account.get("created_at"), "updated_at": account.get("updated_at"),
                    "description": None, "website_url": None},
        "repository_selection": inst["repository_selection"],
        "access_tokens_url": ctx.url(f"/app/installations/{inst['id']}/access_tokens"),
        "repositories_url": ctx.url("/installation/repositories"),
        "html_url": f"{web_root(ctx)}{settings}/installations/{inst['id']}",
        "app_id": inst["app_id"],
        "app_slug": app.get("slug", ""),
        "target_id": account["id"],
        "target_type": "Organization" if org else "User",
        "permissions": dict(inst["permissions"]),
        "events": list(inst.get("events", [])),
        "created_at": inst["created_at"],
        "updated_at": inst["updated_at"],
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": inst.get("suspended_at"),
        "contact_email": None,
    }


# -- routes ----------------------------------------------------------------------------------------
def _require_app(ctx: Ctx) -> dict:
    if ctx.app is None:
        raise ApiError(401, UNDECODABLE, doc_url=DOC_AUTH)
    return ctx.app


def _own_installations(ctx: Ctx) -> list[dict]:
    app = _require_app(ctx)
    return sorted((i for i in ctx.world.store.values(INSTALLATIONS) if i["app_id"] == app["id"]), key=lambda i: i["id"])


def _installation_of(ctx: Ctx, account: str) -> dict:
    for inst in _own_installations(ctx):
        if inst["account"].lower() == account.lower():
            return inst
    raise not_found()


@route("GET", "/app", "apps/get-authenticated")
def get_authenticated(ctx: Ctx) -> Reply:
    return json_reply(_app_shape(ctx, _require_app(ctx)))


@route("GET", "/app/installations", "apps/list-installations")
def list_installations(ctx: Ctx) -> Reply:
    return ctx.paginate([_installation_shape(ctx, i) for i in _own_installations(ctx)])


@route("GET", "/app/installations/{installation_id:int}", "apps/get-installation")
def get_installation(ctx: Ctx) -> Reply:
    ident = ctx.params["installation_id"]
    for inst in _own_installations(ctx):
        if inst["id"] == ident:
            return json_reply(_installation_shape(ctx, inst))
    raise not_found()


@route("GET", "/orgs/{org}/installation", "apps/get-org-installation")
def get_org_installation(ctx: Ctx) -> Reply:
    return json_reply(_installation_shape(ctx, _installation_of(ctx, ctx.params["org"])))


@route("GET", "/users/{username}/installation", "apps/get-user-installation")
def get_user_installation(ctx: Ctx) -> Reply:
    return json_reply(_installation_shape(ctx, _installation_of(ctx, ctx.params["username"])))


@route("GET", "/repos/{owner}/{repo}/installation", "apps/get-repo-installation")
def get_repo_installation(ctx: Ctx) -> Reply:
    repo = ctx.world.find_repo(ctx.params["owner"], ctx.params["repo"])
    if repo is None:
        raise not_found()
    inst = _installation_of(ctx, repo["owner"])
    if installation_role(inst, repo) != "admin":
        raise not_found()
    return json_reply(_installation_shape(ctx, inst))


@route("POST", "/app/installations/{installation_id:int}/access_tokens", "apps/create-installation-access-token")
def create_token(ctx: Ctx) -> Reply:
    app = _require_app(ctx)
    inst = ctx.world.store.get(INSTALLATIONS, str(ctx.params["installation_id"]))
    if inst is None or inst["app_id"] != app["id"]:
        raise not_found()
    if inst.get("suspended_at"):
        raise ApiError(403, "This installation has been suspended")
    body = ctx.body if isinstance(ctx.body, dict) else {}
    perms = body.get("permissions")
    if perms is not None:
        for name, level in perms.items():
            if not granted(inst["permissions"], name, level):
                raise ApiError(422, "The permissions requested are not granted to this installation.")
        permissions = dict(perms)
    else:
        permissions = dict(inst["permissions"])
    repo_ids: list[int] | None = None
    chosen: list[dict] = []
    if body.get("repositories") is not None or body.get("repository_ids") is not None:
        reachable = {r["id"]: r for r in _installation_repos(ctx.world, inst)}
        by_name = {r["name"].lower(): r for r in reachable.values()}
        for name in body.get("repositories") or []:
            if name.lower() not in by_name:
                raise ApiError(422, "There is at least one repository that does not exist or is not accessible to the parent installation.")
            chosen.append(by_name[name.lower()])
        for ident in body.get("repository_ids") or []:
            if ident not in reachable:
                raise ApiError(422, "There is at least one repository that does not exist or is not accessible to the parent installation.")
            chosen.append(reachable[ident])
        chosen = list({r["id"]: r for r in chosen}.values())
        repo_ids = [r["id"] for r in chosen]
    token = "gridsbx_" + _secrets.token_hex(20)
    lifetime = float((ctx.world.store.get(SETTINGS, "token_lifetime") or {}).get("seconds", TOKEN_LIFETIME))
    expires = ctx.world.now() + lifetime
    app_bot = bot_login(app)
    ctx.world.save("tokens", token_hash(token), {
        "login": app_bot, "scopes": sorted({*DEFAULT_SCOPES, "read:org"}), "created_at": ctx.world.now_iso(),
        "installation_id": inst["id"], "permissions": permissions, "repository_ids": repo_ids, "expires": expires,
    })
    out: dict[str, Any] = {
        "token": token,
        "expires_at": iso(expires),
        "permissions": permissions,
        "repository_selection": "selected" if repo_ids is not None else inst["repository_selection"],
    }
    if repo_ids is not None:
        out["repositories"] = [repository(ctx, r) for r in chosen]
    return json_reply(out, 201)


@route("GET", "/installation/repositories", "apps/list-repos-accessible-to-installation")
def list_installation_repos(ctx: Ctx) -> Reply:
    inst = ctx.installation
    if inst is None:
        raise ApiError(403, "You must authenticate with an installation access token in order to list repositories for an installation.")
    repos = [repository(ctx, r, level="repository") for r in _installation_repos(ctx.world, inst)]
    reply = ctx.paginate(repos, key="repositories")
    reply.body["repository_selection"] = inst["repository_selection"]
    return reply


def bot_login(app: dict) -> str:
    return f"{app['slug']}[bot]"


# -- control routes --------------------------------------------------------------------------------
def _permissions(body: dict, key: str, default: dict) -> dict[str, str]:
    value = body.get(key, default)
    if not isinstance(value, dict) or not all(isinstance(k, str) and v in LEVELS for k, v in value.items()):
        raise ApiError(422, f"{key} must map permission names to read, write or admin")
    return {**value, "metadata": value.get("metadata", "read")}


@control("POST", "/apps")
def register_app(sandbox: Any, body: dict, params: dict, query: dict) -> Any:
    """``{name, owner?, permissions?, events?, public_key?}`` -> the app with its private key
    (PEM, shown once; the sandbox keeps only the public key) unless ``public_key`` was given."""
    world = sandbox.world
    name = str_field(body, "name", max_length=34)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug or any(a["slug"] == slug for a in world.store.values(APPS)):
        raise ApiError(422, f"an app named {name!r} exists already (or the name has no letters)")
    owner = str_field(body, "owner", None, max_length=39)
    if owner is not None and world.find_user(owner) is None:
        raise ApiError(422, f"{owner} is not a sandbox user or organization")
    private_pem = None
    public_pem = str_field(body, "public_key", None, max_length=10000)
    if public_pem is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
        public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    ident = world.next_id("apps", 1)
    now = world.now_iso()
    app = {
        "id": ident, "slug": slug, "name": name, "client_id": f"Iv1.{_secrets.token_hex(8)}", "owner": owner or slug,
        "public_key": public_pem, "permissions": _permissions(body, "permissions", {}),
        "events": str_list_field(body, "events", [], max_length=100), "created_at": now, "updated_at": now,
    }
    world.save(APPS, ident, app)
    if world.find_user(bot_login(app)) is None:
        bot = world.create_user(bot_login(app))
        bot["type"] = "Bot"
        world.save("users", bot["login"].lower(), bot)
    out = {k: app[k] for k in ("id", "slug", "name", "client_id", "permissions")}
    out["bot_login"] = bot_login(app)
    if private_pem is not None:
        out["private_key"] = private_pem
    return 201, out


@control("POST", "/apps/{app_id}/installations")
def install_app(sandbox: Any, body: dict, params: dict, query: dict) -> Any:
    """``{account, repositories?: [names], permissions?}``: install the app on a user or an
    organization, on all its repositories or the ones named, with the app's permissions or fewer."""
    world = sandbox.world
    app = world.store.get(APPS, str(params["app_id"]))
    if app is None:
        raise ApiError(404, "no such app")
    account = world.find_user(str_field(body, "account", max_length=39))
    if account is None or account["type"] not in ("User", "Organization"):
        raise ApiError(422, "account must be a sandbox user or organization")
    if any(i["app_id"] == app["id"] and i["account"].lower() == account["login"].lower() for i in world.store.values(INSTALLATIONS)):
        raise ApiError(422, f"{app['slug']} is installed on {account['login']} already")
    perms = _permissions(body, "permissions", app["permissions"])
    for name, level in perms.items():
        if not granted(app["permissions"], name, level):
            raise ApiError(422, f"the app does not ask for {name}: {level}")
    now = world.now_iso()
    inst: dict[str, Any] = {"id": world.next_id("installations", 1000), "app_id": app["id"], "account": account["login"],
                            "permissions": perms, "events": list(app["events"]), "created_at": now, "updated_at": now,
                            "repository_selection": "all", "repository_ids": [], "suspended_at": None}
    _select(world, inst, body)
    world.save(INSTALLATIONS, inst["id"], inst)
    return 201, dict(inst)


def _select(world: Any, inst: dict, body: dict) -> None:
    names = str_list_field(body, "repositories", None, max_items=1000, max_length=100)
    if names is None:
        return
    ids = []
    for name in names:
        repo = world.find_repo(inst["account"], name)
        if repo is None:
            raise ApiError(422, f"{inst['account']}/{name} does not exist")
        ids.append(repo["id"])
    inst["repository_selection"], inst["repository_ids"] = "selected", ids


@control("PATCH", "/installations/{installation_id}")
def edit_installation(sandbox: Any, body: dict, params: dict, query: dict) -> Any:
    """``{permissions?, repositories?, suspended?}``: what an owner changes in the installation's
    settings (tokens already minted keep their own narrowing, the installation's limits apply)."""
    world = sandbox.world
    inst = world.store.get(INSTALLATIONS, str(params["installation_id"]))
    if inst is None:
        raise ApiError(404, "no such installation")
    if "permissions" in body:
        inst["permissions"] = _permissions(body, "permissions", {})
    _select(world, inst, body)
    if "suspended" in body:
        inst["suspended_at"] = world.now_iso() if body["suspended"] else None
    inst["updated_at"] = world.now_iso()
    world.save(INSTALLATIONS, inst["id"], inst)
    return dict(inst)


@control("PUT", "/apps/token-lifetime")
def set_token_lifetime(sandbox: Any, body: dict, params: dict, query: dict) -> Any:
    """``{seconds}``: how long installation tokens minted from now on live (default 3600)."""
    seconds = number_field(body, "seconds", low=1, high=TOKEN_LIFETIME)
    sandbox.world.save(SETTINGS, "token_lifetime", {"seconds": seconds})
    return {"seconds": seconds}


@control("POST", "/apps/expire-tokens")
def expire_tokens(sandbox: Any, body: dict, params: dict, query: dict) -> Any:
    """Every installation token expires now (a 401 on its next use)."""
    world = sandbox.world
    count = 0
    for key, rec in list(world.store.table("tokens").items()):
        if rec.get("installation_id") is not None and rec.get("expires", 0) > world.now():
            rec["expires"] = world.now()
            world.save("tokens", key, rec)
            count += 1
    return {"expired": count}


@control("GET", "/apps/tokens")
def token_stats(sandbox: Any, body: dict, params: dict, query: dict) -> Any:
    """How many installation tokens were minted per installation (never the tokens)."""
    counts: dict[str, int] = {}
    for rec in sandbox.world.store.values("tokens"):
        if rec.get("installation_id") is not None:
            counts[str(rec["installation_id"])] = counts.get(str(rec["installation_id"]), 0) + 1
    return {"minted": counts}
