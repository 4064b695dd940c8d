"""Classic branch protection (group ``protection``).

Operations (REST reference "Protected branches",
https://docs.github.com/en/rest/branches/branch-protection): ``GET``/``PUT``/``DELETE``
``/repos/{owner}/{repo}/branches/{branch}/protection`` and ``GET``/``POST``/``DELETE``
``.../protection/required_signatures`` (signed commits are not part of the ``PUT`` body).

Layout: ``repo["branch_protection"]`` is ``{branch name: record}`` with ``required_status_checks:
{strict, contexts, checks: [{context, app_id}]} | None``, ``required_pull_request_reviews:
{dismiss_stale_reviews, require_code_owner_reviews, required_approving_review_count,
require_last_push_approval} | None``, ``restrictions: {users: [login], teams: [], apps: []} |
None``, the booleans ``enforce_admins``, ``required_linear_history``, ``allow_force_pushes``,
``allow_deletions``, ``block_creations``, ``required_conversation_resolution``, ``lock_branch``,
``allow_fork_syncing`` and ``required_signatures``. ``repos/list-branches`` (``protected=true``)
and ``repos/get-branch`` read it.

GitHub's rules reproduced here (the operations' descriptions in the OpenAPI document and the
reference page above):

* "Protecting a branch requires admin or owner permissions to the repository": below admin the
  answer is 403 "Must have admin rights to Repository." (404 for someone who cannot see the
  repository), reads included;
* a branch that does not exist is 404 "Branch not found"; a branch without protection is 404
  "Branch not protected" for the reads, the delete and the signed-commits operations ("You must
  enable branch protection to require signed commits");
* the ``PUT`` replaces the whole protection (its four required members may be ``null``: off);
  ``required_approving_review_count`` is 0 to 6; user and team restrictions "are only available
  for organization-owned repositories", and name existing users; a linear history needs a
  repository that allows squash or rebase merging ("Your repository must allow squash merging or
  rebase merging before you can enable a linear commit history") — each a 422.

Not reproduced: protection is not enforced on pushes or merges, and the plan limits (protection
on private repositories needs GitHub Pro, Team or Enterprise) are not modelled. Review dismissal
restrictions and pull request bypass allowances are not kept: the answer leaves them out, as
github.com does for a branch that sets none (likewise ``restrictions`` when ``null``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..errors import ApiError
from ..gitobjects import Git
from ..http import Ctx, Reply, empty, json_reply
from ..routing import route
from ..shapes import simple_user

_PATH = "/repos/{owner}/{repo}/branches/{branch:path}/protection"
_SCOPES = ("repo",)
#: the booleans of the ``PUT`` body, each rendered as ``{"enabled": value}``
FLAGS = (
    "required_linear_history", "allow_force_pushes", "allow_deletions", "block_creations",
    "required_conversation_resolution", "lock_branch", "allow_fork_syncing",
)


def protections(repo: dict) -> dict[str, dict[str, Any]]:
    """The repository's protected branches (``{name: record}``), for the branch listings."""
    out: dict[str, dict[str, Any]] = repo.get("branch_protection") or {}
    return out


def _invalid(message: str) -> ApiError:
    # update-branch-protection documents its 422 as "Validation Error Simple" (errors: strings)
    return ApiError(422, "Validation Failed", errors=[message])


def _branch(ctx: Ctx) -> tuple[dict, str]:
    """The repository (admin rights required) and the branch, which must exist."""
    repo = ctx.repo("admin")
    name = ctx.params["branch"]
    if f"refs/heads/{name}" not in Git(ctx.world, repo).refs:
        raise ApiError(404, "Branch not found")
    return repo, name


def _protected(ctx: Ctx) -> tuple[dict, str, dict[str, Any]]:
    repo, name = _branch(ctx)
    rec = protections(repo).get(name)
    if rec is None:
        raise ApiError(404, "Branch not protected")
    return repo, name, rec


def _store(ctx: Ctx, repo: dict, name: str, rec: dict[str, Any] | None) -> None:
    prot = dict(protections(repo))
    if rec is None:
        prot.pop(name, None)
    else:
        prot[name] = rec
    repo["branch_protection"] = prot
    ctx.world.save("repos", repo["id"], repo)


def render(ctx: Ctx, repo: dict, name: str, rec: dict[str, Any]) -> dict[str, Any]:
    """A protection as the ``GET`` and the ``PUT`` answer it."""
    url = ctx.url(f"/repos/{repo['owner']}/{repo['name']}/branches/{quote(name, safe='')}/protection")
    out: dict[str, Any] = {"url": url}
    checks = rec.get("required_status_checks")
    if checks is not None:
        out["required_status_checks"] = {
            "url": url + "/required_status_checks",
            "strict": bool(checks["strict"]),
            "contexts": list(checks["contexts"]),
            "checks": [{"context": c["context"], "app_id": c.get("app_id")} for c in checks["checks"]],
            "contexts_url": url + "/required_status_checks/contexts",
        }
    reviews = rec.get("required_pull_request_reviews")
    if reviews is not None:
        out["required_pull_request_reviews"] = {"url": url + "/required_pull_request_reviews", **reviews}
    out["required_signatures"] = {"url": url + "/required_signatures", "enabled": bool(rec.get("required_signatures"))}
    out["enforce_admins"] = {"url": url + "/enforce_admins", "enabled": bool(rec.get("enforce_admins"))}
    for flag in FLAGS:
        out[flag] = {"enabled": bool(rec.get(flag))}
    restrictions = rec.get("restrictions")
    if restrictions is not None:
        users = [u for u in (ctx.world.find_user(login) for login in restrictions["users"]) if u is not None]
        out["restrictions"] = {
            "url": url + "/restrictions",
            "users_url": url + "/restrictions/users",
            "teams_url": url + "/restrictions/teams",
            "apps_url": url + "/restrictions/apps",
            "users": [simple_user(ctx, u) for u in users],
            "teams": [],
            "apps": [],
        }
    return out


def _status_checks(body: Any) -> dict[str, Any] | None:
    if body is None:
        return None
    contexts = list(dict.fromkeys(body.get("contexts") or []))
    checks = [{"context": c["context"], "app_id": c.get("app_id")} for c in body.get("checks") or []]
    # GitHub keeps the two lists together: a context is a check from any app
    for c in checks:
        if c["context"] not in contexts:
            contexts.append(c["context"])
    if not checks:
        checks = [{"context": c, "app_id": None} for c in contexts]
    return {"strict": bool(body.get("strict")), "contexts": contexts, "checks": checks}


def _reviews(body: Any) -> dict[str, Any] | None:
    if body is None:
        return None
    count = body.get("required_approving_review_count", 1)
    if not 0 <= count <= 6:
        raise _invalid(f"required_approving_review_count must be between 0 and 6, not {count}")
    return {
        "dismiss_stale_reviews": bool(body.get("dismiss_stale_reviews", False)),
        "require_code_owner_reviews": bool(body.get("require_code_owner_reviews", False)),
        "required_approving_review_count": count,
        "require_last_push_approval": bool(body.get("require_last_push_approval", False)),
    }


def _restrictions(ctx: Ctx, repo: dict, body: Any) -> dict[str, Any] | None:
    if body is None:
        return None
    owner = ctx.world.find_user(repo["owner"])
    named = list(body.get("users") or []) + list(body.get("teams") or []) + list(body.get("apps") or [])
    if named and (owner is None or owner["type"] != "Organization"):
        raise _invalid("Only organization repositories can have users and team restrictions")
    users: list[str] = []
    for login in body.get("users") or []:
        user = ctx.world.find_user(login)
        if user is None or user["type"] != "User":
            raise _invalid(f"Could not resolve to a User with the login of '{login}'.")
        users.append(user["login"])
    for slug in list(body.get("teams") or []) + list(body.get("apps") or []):
        # the sandbox has no teams and no GitHub Apps
        raise _invalid(f"Could not resolve '{slug}' to a team or an app of {repo['owner']}.")
    return {"users": sorted(set(users), key=str.lower), "teams": [], "apps": []}


@route("GET", _PATH, "repos/get-branch-protection", scopes=_SCOPES)
def get_protection(ctx: Ctx) -> Reply:
    repo, name, rec = _protected(ctx)
    return json_reply(render(ctx, repo, name, rec))


@route("PUT", _PATH, "repos/update-branch-protection", scopes=_SCOPES)
def update_protection(ctx: Ctx) -> Reply:
    repo, name = _branch(ctx)
    body = ctx.body or {}
    old = protections(repo).get(name) or {}
    rec: dict[str, Any] = {
        "required_status_checks": _status_checks(body["required_status_checks"]),
        "required_pull_request_reviews": _reviews(body["required_pull_request_reviews"]),
        "restrictions": _restrictions(ctx, repo, body["restrictions"]),
        "enforce_admins": bool(body["enforce_admins"]),
        # signed commits have their own endpoints: the PUT leaves them as they are
        "required_signatures": bool(old.get("required_signatures")),
    }
    for flag in FLAGS:
        rec[flag] = bool(body.get(flag))
    if rec["required_linear_history"] and not (repo.get("allow_squash_merge", True) or repo.get("allow_rebase_merge", True)):
        raise _invalid("Required linear history needs squash merging or rebase merging to be allowed in the repository")
    _store(ctx, repo, name, rec)
    return json_reply(render(ctx, repo, name, rec))


@route("DELETE", _PATH, "repos/delete-branch-protection", scopes=_SCOPES)
def delete_protection(ctx: Ctx) -> Reply:
    repo, name, _ = _protected(ctx)
    _store(ctx, repo, name, None)
    return empty()


def _signatures(ctx: Ctx, enabled: bool) -> tuple[dict, str]:
    repo, name, rec = _protected(ctx)
    _store(ctx, repo, name, {**rec, "required_signatures": enabled})
    return repo, name


def _signatures_url(ctx: Ctx, repo: dict, name: str) -> str:
    return ctx.url(f"/repos/{repo['owner']}/{repo['name']}/branches/{quote(name, safe='')}/protection/required_signatures")


@route("GET", _PATH + "/required_signatures", "repos/get-commit-signature-protection", scopes=_SCOPES)
def get_signatures(ctx: Ctx) -> Reply:
    repo, name, rec = _protected(ctx)
    return json_reply({"url": _signatures_url(ctx, repo, name), "enabled": bool(rec.get("required_signatures"))})


@route("POST", _PATH + "/required_signatures", "repos/create-commit-signature-protection", scopes=_SCOPES)
def create_signatures(ctx: Ctx) -> Reply:
    repo, name = _signatures(ctx, True)
    return json_reply({"url": _signatures_url(ctx, repo, name), "enabled": True})


@route("DELETE", _PATH + "/required_signatures", "repos/delete-commit-signature-protection", scopes=_SCOPES)
def delete_signatures(ctx: Ctx) -> Reply:
    _signatures(ctx, False)
    return empty()
