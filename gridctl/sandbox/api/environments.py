"""Deployment environments: list, get, create-or-update (PUT), delete.

Records live in ``repo["environments"]`` keyed by the environment's name as first created
(see LAYOUT.md). GitHub treats environment names case-insensitively, so every lookup goes
through :func:`find_environment`; other areas (environment secrets, environment variables)
should use it too rather than indexing the dict directly.

Each record carries ``secrets`` and ``variables`` sub-dicts owned by other modules; updating
an environment never replaces them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..errors import ApiError, not_found
from ..http import Ctx, Reply, empty, json_reply
from ..routing import route
from ..shapes import simple_user, web_root
from ..world import node_id

#: GitHub's documented bounds (minutes) for ``wait_timer``
MAX_WAIT_TIMER = 43200
#: "You can list up to six users or teams as reviewers."
MAX_REVIEWERS = 6
MAX_NAME_LENGTH = 255


def find_environment(repo: dict, name: str) -> dict | None:
    """The environment ``name`` of ``repo`` (case-insensitive), or None."""
    envs: dict[str, dict] = repo.get("environments") or {}
    if name in envs:
        return envs[name]
    low = name.lower()
    for key, env in envs.items():
        if key.lower() == low:
            return env
    return None


def require_environment(repo: dict, name: str) -> dict:
    """Like :func:`find_environment`, but a missing environment is GitHub's 404."""
    env = find_environment(repo, name)
    if env is None:
        raise not_found()
    return env


def environment_url(ctx: Ctx, repo: dict, env: dict) -> str:
    return ctx.url(f"/repos/{repo['owner']}/{repo['name']}/environments/{quote(env['name'], safe='')}")


def environment_shape(ctx: Ctx, repo: dict, env: dict) -> dict[str, Any]:
    """The ``environment`` object GitHub returns, with its built-in protection rules."""
    world = ctx.world
    base = env["id"] * 10
    rules: list[dict[str, Any]] = []
    reviewers = []
    for entry in env.get("reviewers") or []:
        if entry.get("type") != "User":
            continue
        user = world.user_by_id(entry["id"])
        if user is not None:
            reviewers.append({"type": "User", "reviewer": simple_user(ctx, user)})
    if reviewers:
        rules.append(
            {
                "id": base + 1,
                "node_id": node_id("ProtectionRule", base + 1),
                "prevent_self_review": bool(env.get("prevent_self_review", False)),
                "type": "required_reviewers",
                "reviewers": reviewers,
            }
        )
    if env.get("wait_timer"):
        rules.append(
            {
                "id": base + 2,
                "node_id": node_id("ProtectionRule", base + 2),
                "type": "wait_timer",
                "wait_timer": env["wait_timer"],
            }
        )
    policy = env.get("deployment_branch_policy")
    if policy:
        rules.append({"id": base + 3, "node_id": node_id("ProtectionRule", base + 3), "type": "branch_policy"})
    full_name = f"{repo['owner']}/{repo['name']}"
    return {
        "id": env["id"],
        "node_id": node_id("Environment", env["id"]),
        "name": env["name"],
        "url": environment_url(ctx, repo, env),
        "html_url": f"{web_root(ctx)}/{full_name}/deployments/activity_log?environments_filter={quote(env['name'], safe='')}",
        "created_at": env["created_at"],
        "updated_at": env["updated_at"],
        "protection_rules": rules,
        "deployment_branch_policy": dict(policy) if policy else None,
    }


def _check_name(name: str) -> None:
    if not name.strip() or len(name) > MAX_NAME_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "Environment", "code": "invalid", "field": "name", "message": "name is invalid"}],
        )


def _check_reviewers(ctx: Ctx, repo: dict, reviewers: list[dict]) -> list[dict]:
    if len(reviewers) > MAX_REVIEWERS:
        raise ApiError(422, f"A maximum of {MAX_REVIEWERS} reviewers can be specified for an environment.")
    out: list[dict] = []
    for entry in reviewers:
        kind = entry.get("type")
        ident = entry.get("id")
        if kind is None or ident is None:
            raise ApiError(422, "Each reviewer needs a `type` (User or Team) and an `id`.")
        if kind == "Team":
            # the sandbox has no teams: no team id can name one
            raise ApiError(422, f"Team with id {ident} was not found.")
        user = ctx.world.user_by_id(ident)
        if user is None or user["type"] != "User":
            raise ApiError(422, f"User with id {ident} was not found.")
        if ctx.world.role(user["login"], repo) is None:
            raise ApiError(422, f"Reviewer {user['login']} must have at least read access to the repository.")
        if not any(r["id"] == ident for r in out):
            out.append({"type": "User", "id": ident})
    return out


def _check_policy(policy: dict | None) -> dict | None:
    if policy is None:
        return None
    protected = bool(policy["protected_branches"])
    custom = bool(policy["custom_branch_policies"])
    if protected == custom:
        raise ApiError(
            422,
            "Invalid deployment_branch_policy: exactly one of protected_branches and "
            "custom_branch_policies must be true (send null to allow all branches).",
        )
    return {"protected_branches": protected, "custom_branch_policies": custom}


@route("GET", "/repos/{owner}/{repo}/environments", "repos/get-all-environments")
def list_environments(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    envs = sorted((repo.get("environments") or {}).values(), key=lambda e: (e["name"].lower(), e["id"]))
    return ctx.paginate([environment_shape(ctx, repo, e) for e in envs], key="environments")


@route("GET", "/repos/{owner}/{repo}/environments/{environment_name}", "repos/get-environment")
def get_environment(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    env = require_environment(repo, ctx.params["environment_name"])
    return json_reply(environment_shape(ctx, repo, env))


@route(
    "PUT",
    "/repos/{owner}/{repo}/environments/{environment_name}",
    "repos/create-or-update-environment",
    scopes=("repo",),
)
def put_environment(ctx: Ctx) -> Reply:
    ctx.require_auth()
    repo = ctx.repo("admin")
    body = ctx.body or {}
    name = ctx.params["environment_name"]
    env = find_environment(repo, name)
    if env is None:
        _check_name(name)
    # validate everything before changing anything
    changes: dict[str, Any] = {}
    if "wait_timer" in body:
        wait = body["wait_timer"]
        if not 0 <= wait <= MAX_WAIT_TIMER:
            raise ApiError(422, f"wait_timer must be an integer between 0 and {MAX_WAIT_TIMER} (minutes).")
        changes["wait_timer"] = wait
    if "prevent_self_review" in body:
        changes["prevent_self_review"] = bool(body["prevent_self_review"])
    if "reviewers" in body:
        changes["reviewers"] = _check_reviewers(ctx, repo, body["reviewers"] or [])
    if "deployment_branch_policy" in body:
        changes["deployment_branch_policy"] = _check_policy(body["deployment_branch_policy"])
    now = ctx.world.now_iso()
    if env is None:
        env = {
            "id": ctx.world.next_id("environments", 160000),
            "name": name,
            "created_at": now,
            "updated_at": now,
            "wait_timer": 0,
            "prevent_self_review": False,
            "reviewers": [],
            "deployment_branch_policy": None,
            "secrets": {},
            "variables": {},
        }
        repo.setdefault("environments", {})[name] = env
    env.update(changes)
    env.setdefault("secrets", {})
    env.setdefault("variables", {})
    env["updated_at"] = now
    ctx.world.save("repos", repo["id"], repo)
    return json_reply(environment_shape(ctx, repo, env))


@route(
    "DELETE",
    "/repos/{owner}/{repo}/environments/{environment_name}",
    "repos/delete-an-environment",
    scopes=("repo",),
)
def delete_environment(ctx: Ctx) -> Reply:
    ctx.require_auth()
    repo = ctx.repo("admin")
    env = require_environment(repo, ctx.params["environment_name"])
    envs = repo["environments"]
    for key in [k for k, v in envs.items() if v is env]:
        del envs[key]
    ctx.world.save("repos", repo["id"], repo)
    return empty()
