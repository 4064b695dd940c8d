"""Accounts: the API root, the authenticated user, users, organizations, rate limit (memberships:
:mod:`.org_members`).

``GET /`` (and ``GET /api/v3/`` under an Enterprise-style base URL) answers GitHub's root document, a
map of URL templates (GitHub Docs, "GitHub API Root", https://docs.github.com/en/rest/meta/meta#get-github-api-root):
API templates are rooted at the sandbox's base URL, the one web page at its web root.
"""

from __future__ import annotations

from ..errors import not_found
from ..http import Ctx, Reply, json_reply
from ..routing import route
from ..shapes import organization, private_user, public_user, web_root

#: GitHub's root document: field -> template under the API base URL
_ROOT = {
    "current_user_url": "/user",
    "authorizations_url": "/authorizations",
    "code_search_url": "/search/code?q={query}{&page,per_page,sort,order}",
    "commit_search_url": "/search/commits?q={query}{&page,per_page,sort,order}",
    "emails_url": "/user/emails",
    "emojis_url": "/emojis",
    "events_url": "/events",
    "feeds_url": "/feeds",
    "followers_url": "/user/followers",
    "following_url": "/user/following{/target}",
    "gists_url": "/gists{/gist_id}",
    "hub_url": "/hub",
    "issue_search_url": "/search/issues?q={query}{&page,per_page,sort,order}",
    "issues_url": "/issues",
    "keys_url": "/user/keys",
    "label_search_url": "/search/labels?q={query}&repository_id={repository_id}{&page,per_page}",
    "notifications_url": "/notifications",
    "organization_url": "/orgs/{org}",
    "organization_repositories_url": "/orgs/{org}/repos{?type,page,per_page,sort}",
    "organization_teams_url": "/orgs/{org}/teams",
    "public_gists_url": "/gists/public",
    "rate_limit_url": "/rate_limit",
    "repository_url": "/repos/{owner}/{repo}",
    "repository_search_url": "/search/repositories?q={query}{&page,per_page,sort,order}",
    "current_user_repositories_url": "/user/repos{?type,page,per_page,sort}",
    "starred_url": "/user/starred{/owner}{/repo}",
    "starred_gists_url": "/gists/starred",
    "topic_search_url": "/search/topics?q={query}{&page,per_page}",
    "user_url": "/users/{user}",
    "user_organizations_url": "/user/orgs",
    "user_repositories_url": "/users/{user}/repos{?type,page,per_page,sort}",
    "user_search_url": "/search/users?q={query}{&page,per_page,sort,order}",
}


@route("GET", "/", "meta/root")
def root(ctx: Ctx) -> Reply:
    out = {k: ctx.url(v) for k, v in _ROOT.items()}
    out["current_user_authorizations_html_url"] = f"{web_root(ctx)}/settings/connections/applications{{/client_id}}"
    return json_reply(out)


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
    public, private = _repo_counts(ctx, user["login"])
    if ctx.login is not None and ctx.login.lower() == user["login"].lower() and user["type"] == "User":
        # a user reading itself gets its private profile (plan, disk usage...), as from GET /user
        return json_reply(private_user(ctx, user, public, private))
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


@route("GET", "/rate_limit", "rate-limit/get")
def rate_limit(ctx: Ctx) -> Reply:
    core = ctx.world.limiter.bucket(ctx.identity, ctx.user is None)
    rate = {"limit": core.limit, "remaining": core.remaining, "reset": int(core.reset), "used": core.used, "resource": "core"}

    def other(limit: int, name: str) -> dict:
        return {"limit": limit, "remaining": limit, "reset": int(core.reset), "used": 0, "resource": name}

    # every category github.com reports (GitHub Docs, "Rate limit",
    # https://docs.github.com/en/rest/rate-limit/rate-limit); only ``core`` is counted here
    others = {
        "search": 30, "graphql": 5000, "integration_manifest": 5000, "source_import": 100,
        "code_scanning_upload": 1000, "code_scanning_autofix": 10, "actions_runner_registration": 10000,
        "scim": 15000, "dependency_snapshots": 100, "dependency_sbom": 100, "code_search": 10,
        "audit_log": 1750, "audit_log_streaming": 15, "copilot_usage_records": 1000,
    }
    documented = ctx.op.response_schema(200)
    listed = set(((documented or {}).get("properties", {}).get("resources", {}) or {}).get("properties", {})) if isinstance(documented, dict) else set()
    resources = {"core": rate}
    resources.update({name: other(limit, name) for name, limit in others.items() if not listed or name in listed})
    return json_reply({"resources": resources, "rate": rate})
