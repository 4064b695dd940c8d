"""Accounts: the authenticated user, users, organizations, memberships, rate limit."""

from __future__ import annotations

from ..errors import ApiError, not_found
from ..http import Ctx, Reply, json_reply
from ..routing import route
from ..shapes import organization, private_user, public_user, simple_user


def _repo_counts(ctx: Ctx, login: str) -> tuple[int, int]:
    repos = ctx.world.repos_of(login)
    public = sum(1 for r in repos if not r["private"])
    return public, len(repos) - public


@route("GET", "/user", "users/get-authenticated")
def get_authenticated(ctx: Ctx) -> Reply:
    user = ctx.require_auth()
    public, private = _repo_counts(ctx, user["login"])
    return json_reply(private_user(ctx, user, public, private))


@route("GET", "/users/{username}", "users/get-by-username")
def get_user(ctx: Ctx) -> Reply:
    user = ctx.world.find_user(ctx.params["username"])
    if user is None:
        raise not_found()
    public, _ = _repo_counts(ctx, user["login"])
    return json_reply(public_user(ctx, user, public))


@route("GET", "/orgs/{org}", "orgs/get")
def get_org(ctx: Ctx) -> Reply:
    org = ctx.org()
    public, _ = _repo_counts(ctx, org["login"])
    owner = ctx.world.org_role(org, ctx.login) == "admin" and "admin:org" in ctx.scopes
    return json_reply(organization(ctx, org, public_repos=public, owner_view=owner))


@route("GET", "/user/orgs", "orgs/list-for-authenticated-user")
def list_my_orgs(ctx: Ctx) -> Reply:
    user = ctx.require_auth()
    orgs = sorted(ctx.world.orgs_of(user["login"]), key=lambda o: o["id"])
    return ctx.paginate([organization(ctx, o, full=False) for o in orgs])


@route("GET", "/orgs/{org}/memberships/{username}", "orgs/get-membership-for-user")
def get_membership(ctx: Ctx) -> Reply:
    ctx.require_auth()
    org = ctx.org()
    caller_role = ctx.world.org_role(org, ctx.login)
    if caller_role is None:
        raise ApiError(403, f"You must be a member of {org['login']} to see membership information for another user.")
    member = ctx.world.find_user(ctx.params["username"])
    role = ctx.world.org_role(org, ctx.params["username"])
    if member is None or role is None:
        raise not_found()
    return json_reply(
        {
            "url": ctx.url(f"/orgs/{org['login']}/memberships/{member['login']}"),
            "state": "active",
            "role": role,
            "organization_url": ctx.url(f"/orgs/{org['login']}"),
            "organization": organization(ctx, org, full=False),
            "user": simple_user(ctx, member),
        }
    )


@route("GET", "/rate_limit", "rate-limit/get")
def rate_limit(ctx: Ctx) -> Reply:
    core = ctx.world.limiter.bucket(ctx.identity, ctx.user is None)
    rate = {"limit": core.limit, "remaining": core.remaining, "reset": int(core.reset), "used": core.used, "resource": "core"}

    def other(limit: int, name: str) -> dict:
        return {"limit": limit, "remaining": limit, "reset": int(core.reset), "used": 0, "resource": name}

    return json_reply(
        {
            "resources": {
                "core": rate,
                "search": other(30, "search"),
                "graphql": other(5000, "graphql"),
                "integration_manifest": other(5000, "integration_manifest"),
                "code_search": other(10, "code_search"),
            },
            "rate": rate,
        }
    )
