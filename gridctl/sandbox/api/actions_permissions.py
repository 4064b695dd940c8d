"""GitHub Actions permissions of repositories and organizations (group ``actions-permissions``).

Operations (REST reference "GitHub Actions permissions",
https://docs.github.com/en/rest/actions/permissions): for a repository ``GET``/``PUT``
``/repos/{owner}/{repo}/actions/permissions`` (``enabled``, ``allowed_actions``),
``.../permissions/selected-actions`` and ``.../permissions/workflow`` (the ``GITHUB_TOKEN``'s
default permissions and whether Actions may approve pull requests); for an organization the same
three under ``/orgs/{org}/actions/permissions`` (``enabled_repositories`` instead of ``enabled``)
plus ``.../permissions/repositories``, the repositories that may use Actions when
``enabled_repositories`` is ``selected``.

Layouts: ``repo["actions_permissions"]`` and the organization record's ``["actions_permissions"]``
hold ``{enabled | enabled_repositories, allowed_actions, sha_pinning_required, selected_actions:
{github_owned_allowed, verified_allowed, patterns_allowed}, workflow: {default_workflow_permissions,
can_approve_pull_request_reviews}}``, the organization's also ``selected_repository_ids``. Nothing
is stored until something is written; a repository without its own ``workflow`` reads its
owner's (see the defaults below).

GitHub's rules reproduced here:

* defaults: Actions is enabled for every repository and organization and any action may run
  ("Managing GitHub Actions settings for a repository", https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/enabling-features-for-your-repository/managing-github-actions-settings-for-a-repository);
  the ``GITHUB_TOKEN`` is read-only for new organizations and for new repositories of a personal
  account, and a new organization repository takes its organization's setting (GitHub changelog,
  2023-02-02, https://github.blog/changelog/2023-02-02-github-actions-updating-the-default-github_token-permissions-to-read-only/);
  workflows may not approve pull requests unless allowed (same repository settings page,
  "Preventing GitHub Actions from creating or approving pull requests");
* who: repository settings need admin rights on the repository (403 "Must have admin rights to
  Repository." for a collaborator below admin, 404 for one who cannot see it) and a token with
  ``repo``; organization settings need an organization owner with ``admin:org`` (each operation's
  description in the OpenAPI document states the scope);
* an organization's policy binds its repositories: "You might not be able to manage these
  settings if your organization has an overriding policy" (the repository settings page above).
  A repository the organization does not let use Actions (``enabled_repositories`` ``none``, or
  ``selected`` without it) cannot enable them, nor allow more actions than the organization does
  (``local_only`` < ``selected`` < ``all``), nor give the token ``write`` or let workflows approve
  pull requests when the organization does not. GitHub documents the answer for the workflow
  setting — 409, "Conflict response when changing a setting is prevented by the owning
  organization" (https://docs.github.com/en/rest/actions/permissions#set-default-workflow-permissions-for-a-repository);
  its description lists no error for the permissions ``PUT``, and the sandbox answers the same
  409 there. A repository's ``GET`` reports what applies: the more restrictive of its own setting
  and its organization's;
* ``.../selected-actions`` works only while ``allowed_actions`` is ``selected`` and
  ``.../repositories`` only while ``enabled_repositories`` is ``selected`` ("To use this
  endpoint, the ... policy ... must be configured to ``selected``"); otherwise the sandbox answers
  409, as it does for an organization variable's repositories outside ``selected`` visibility;
* ``selected_repository_ids`` must name the organization's own repositories (422 otherwise).
"""

from __future__ import annotations

from typing import Any

from ..errors import ApiError, validation_failed
from ..http import Ctx, Reply, empty, json_reply
from ..routing import route
from ..shapes import repository

_REPO = "/repos/{owner}/{repo}/actions/permissions"
_ORG = "/orgs/{org}/actions/permissions"
_REPO_SCOPES = ("repo",)
_ORG_SCOPES = ("admin:org",)

#: allowed_actions from the most restrictive to the least
_ACTIONS_RANK = {"local_only": 0, "selected": 1, "all": 2}
_SELECTED_DEFAULTS: dict[str, Any] = {"github_owned_allowed": True, "verified_allowed": False, "patterns_allowed": []}
_WORKFLOW_DEFAULTS: dict[str, Any] = {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": False}
_PREVENTED = "Changing this setting is prevented by the owning organization's GitHub Actions policy."


# -- records ---------------------------------------------------------------------------------------
def _repo_record(repo: dict) -> dict[str, Any]:
    """A copy of the repository's own settings, GitHub's defaults where none was written (reads
    never change the record; writers store the copy back with :func:`_store_repo`)."""
    return {"enabled": True, "allowed_actions": "all", "sha_pinning_required": False, **(repo.get("actions_permissions") or {})}


def _org_record(org: dict) -> dict[str, Any]:
    """A copy of the organization's settings, GitHub's defaults where none was written."""
    defaults = {"enabled_repositories": "all", "allowed_actions": "all", "sha_pinning_required": False, "selected_repository_ids": []}
    return {**defaults, **(org.get("actions_permissions") or {})}


def _selected(rec: dict[str, Any]) -> dict[str, Any]:
    return {**_SELECTED_DEFAULTS, **(rec.get("selected_actions") or {})}


def _store_repo(ctx: Ctx, repo: dict, rec: dict[str, Any]) -> None:
    repo["actions_permissions"] = rec
    ctx.world.save("repos", repo["id"], repo)


def _store_org(ctx: Ctx, org: dict, rec: dict[str, Any]) -> None:
    org["actions_permissions"] = rec
    ctx.world.save("users", org["login"].lower(), org)


def _owner_org(ctx: Ctx, repo: dict) -> dict | None:
    owner = ctx.world.find_user(repo["owner"])
    return owner if owner is not None and owner["type"] == "Organization" else None


def _org_allows(org: dict | None, repo: dict) -> bool:
    """Whether the organization's policy lets ``repo`` use Actions."""
    if org is None:
        return True
    rec = _org_record(org)
    if rec["enabled_repositories"] == "all":
        return True
    return rec["enabled_repositories"] == "selected" and repo["id"] in rec["selected_repository_ids"]


def _stricter(a: str, b: str) -> str:
    return a if _ACTIONS_RANK[a] <= _ACTIONS_RANK[b] else b


def _org_workflow(org: dict) -> dict[str, Any]:
    return {**_WORKFLOW_DEFAULTS, **(_org_record(org).get("workflow") or {})}


def _repo_effective(ctx: Ctx, repo: dict) -> dict[str, Any]:
    """What applies to ``repo``: its own settings bounded by its organization's."""
    own = _repo_record(repo)
    org = _owner_org(ctx, repo)
    out = {"enabled": bool(own["enabled"]) and _org_allows(org, repo), "allowed_actions": own["allowed_actions"]}
    if org is not None:
        out["allowed_actions"] = _stricter(own["allowed_actions"], _org_record(org)["allowed_actions"])
    return out


def _repo_workflow(ctx: Ctx, repo: dict) -> dict[str, Any]:
    org = _owner_org(ctx, repo)
    inherited = _org_workflow(org) if org is not None else dict(_WORKFLOW_DEFAULTS)
    out = {**inherited, **(_repo_record(repo).get("workflow") or {})}
    if org is not None:
        bound = _org_workflow(org)
        if bound["default_workflow_permissions"] == "read":
            out["default_workflow_permissions"] = "read"
        if not bound["can_approve_pull_request_reviews"]:
            out["can_approve_pull_request_reviews"] = False
    return out


def _prevented() -> ApiError:
    return ApiError(409, _PREVENTED)


def _not_selected(what: str) -> ApiError:
    return ApiError(409, f"The {what} policy is not set to selected.")


def _selected_body(ctx: Ctx, current: dict[str, Any]) -> dict[str, Any]:
    body = ctx.body or {}
    out = dict(current)
    for key in ("github_owned_allowed", "verified_allowed"):
        if key in body:
            out[key] = bool(body[key])
    if "patterns_allowed" in body:
        patterns: list[str] = []
        for p in body["patterns_allowed"]:
            if not p.strip():
                raise validation_failed("SelectedActions", "patterns_allowed", "invalid", "Patterns may not be empty.")
            if p not in patterns:
                patterns.append(p)
        out["patterns_allowed"] = patterns
    return out


def _workflow_body(ctx: Ctx, current: dict[str, Any]) -> dict[str, Any]:
    body = ctx.body or {}
    return {**current, **{k: body[k] for k in ("default_workflow_permissions", "can_approve_pull_request_reviews") if k in body}}


# -- repository ------------------------------------------------------------------------------------
@route("GET", _REPO, "actions/get-github-actions-permissions-repository", scopes=_REPO_SCOPES)
def get_repo_permissions(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    eff = _repo_effective(ctx, repo)
    out: dict[str, Any] = {
        "enabled": eff["enabled"],
        "allowed_actions": eff["allowed_actions"],
        "sha_pinning_required": bool(_repo_record(repo)["sha_pinning_required"]),
    }
    if eff["allowed_actions"] == "selected":
        out["selected_actions_url"] = ctx.url(f"/repositories/{repo['id']}/actions/permissions/selected-actions")
    return json_reply(out)


@route("PUT", _REPO, "actions/set-github-actions-permissions-repository", scopes=_REPO_SCOPES)
def set_repo_permissions(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    body = ctx.body or {}
    own = _repo_record(repo)
    org = _owner_org(ctx, repo)
    if org is not None:
        if body["enabled"] and not _org_allows(org, repo):
            raise _prevented()
        wanted = body.get("allowed_actions", own["allowed_actions"])
        if _ACTIONS_RANK[wanted] > _ACTIONS_RANK[_org_record(org)["allowed_actions"]]:
            raise _prevented()
    own["enabled"] = bool(body["enabled"])
    for key in ("allowed_actions", "sha_pinning_required"):
        if key in body:
            own[key] = body[key]
    _store_repo(ctx, repo, own)
    return empty()


def _repo_selected(ctx: Ctx) -> dict:
    repo = ctx.repo("admin")
    if _repo_effective(ctx, repo)["allowed_actions"] != "selected":
        raise _not_selected("repository's allowed actions")
    return repo


@route("GET", _REPO + "/selected-actions", "actions/get-allowed-actions-repository", scopes=_REPO_SCOPES)
def get_repo_selected_actions(ctx: Ctx) -> Reply:
    repo = _repo_selected(ctx)
    return json_reply(_selected(_repo_record(repo)))


@route("PUT", _REPO + "/selected-actions", "actions/set-allowed-actions-repository", scopes=_REPO_SCOPES)
def set_repo_selected_actions(ctx: Ctx) -> Reply:
    repo = _repo_selected(ctx)
    rec = _repo_record(repo)
    rec["selected_actions"] = _selected_body(ctx, _selected(rec))
    _store_repo(ctx, repo, rec)
    return empty()


@route("GET", _REPO + "/workflow", "actions/get-github-actions-default-workflow-permissions-repository", scopes=_REPO_SCOPES)
def get_repo_workflow(ctx: Ctx) -> Reply:
    return json_reply(_repo_workflow(ctx, ctx.repo("admin")))


@route("PUT", _REPO + "/workflow", "actions/set-github-actions-default-workflow-permissions-repository", scopes=_REPO_SCOPES)
def set_repo_workflow(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    wanted = _workflow_body(ctx, _repo_workflow(ctx, repo))
    org = _owner_org(ctx, repo)
    if org is not None:
        bound = _org_workflow(org)
        if wanted["default_workflow_permissions"] == "write" and bound["default_workflow_permissions"] == "read":
            raise _prevented()
        if wanted["can_approve_pull_request_reviews"] and not bound["can_approve_pull_request_reviews"]:
            raise _prevented()
    rec = _repo_record(repo)
    rec["workflow"] = wanted
    _store_repo(ctx, repo, rec)
    return empty()


# -- organization ----------------------------------------------------------------------------------
@route("GET", _ORG, "actions/get-github-actions-permissions-organization", scopes=_ORG_SCOPES)
def get_org_permissions(ctx: Ctx) -> Reply:
    org = ctx.org(admin=True)
    rec = _org_record(org)
    base = ctx.url(f"/orgs/{org['login']}/actions/permissions")
    out: dict[str, Any] = {
        "enabled_repositories": rec["enabled_repositories"],
        "allowed_actions": rec["allowed_actions"],
        "sha_pinning_required": bool(rec["sha_pinning_required"]),
    }
    if rec["enabled_repositories"] == "selected":
        out["selected_repositories_url"] = base + "/repositories"
    if rec["allowed_actions"] == "selected":
        out["selected_actions_url"] = base + "/selected-actions"
    return json_reply(out)


@route("PUT", _ORG, "actions/set-github-actions-permissions-organization", scopes=_ORG_SCOPES)
def set_org_permissions(ctx: Ctx) -> Reply:
    org = ctx.org(admin=True)
    body = ctx.body or {}
    rec = _org_record(org)
    for key in ("enabled_repositories", "allowed_actions", "sha_pinning_required"):
        if key in body:
            rec[key] = body[key]
    _store_org(ctx, org, rec)
    return empty()


def _org_selected_repos(ctx: Ctx) -> tuple[dict, dict[str, Any]]:
    org = ctx.org(admin=True)
    rec = _org_record(org)
    if rec["enabled_repositories"] != "selected":
        raise _not_selected("organization's enabled repositories")
    return org, rec


@route("GET", _ORG + "/repositories", "actions/list-selected-repositories-enabled-github-actions-organization", scopes=_ORG_SCOPES)
def list_org_repositories(ctx: Ctx) -> Reply:
    _, rec = _org_selected_repos(ctx)
    repos = [r for r in (ctx.world.repo_by_id(i) for i in rec["selected_repository_ids"]) if r is not None]
    repos.sort(key=lambda r: r["id"])
    return ctx.paginate([repository(ctx, r, level="repository") for r in repos], key="repositories")


@route("PUT", _ORG + "/repositories", "actions/set-selected-repositories-enabled-github-actions-organization", scopes=_ORG_SCOPES)
def set_org_repositories(ctx: Ctx) -> Reply:
    org, rec = _org_selected_repos(ctx)
    mine = {r["id"] for r in ctx.world.repos_of(org["login"])}
    ids: list[int] = []
    for ident in ctx.body["selected_repository_ids"]:
        if ident not in mine:
            raise validation_failed(
                "Repository", "selected_repository_ids", "invalid",
                f"Repository with id {ident} was not found in the {org['login']} organization.",
            )
        if ident not in ids:
            ids.append(ident)
    rec["selected_repository_ids"] = ids
    _store_org(ctx, org, rec)
    return empty()


def _org_selected_actions(ctx: Ctx) -> tuple[dict, dict[str, Any]]:
    org = ctx.org(admin=True)
    rec = _org_record(org)
    if rec["allowed_actions"] != "selected":
        raise _not_selected("organization's allowed actions")
    return org, rec


@route("GET", _ORG + "/selected-actions", "actions/get-allowed-actions-organization", scopes=_ORG_SCOPES)
def get_org_selected_actions(ctx: Ctx) -> Reply:
    _, rec = _org_selected_actions(ctx)
    return json_reply(_selected(rec))


@route("PUT", _ORG + "/selected-actions", "actions/set-allowed-actions-organization", scopes=_ORG_SCOPES)
def set_org_selected_actions(ctx: Ctx) -> Reply:
    org, rec = _org_selected_actions(ctx)
    rec["selected_actions"] = _selected_body(ctx, _selected(rec))
    _store_org(ctx, org, rec)
    return empty()


@route("GET", _ORG + "/workflow", "actions/get-github-actions-default-workflow-permissions-organization", scopes=_ORG_SCOPES)
def get_org_workflow(ctx: Ctx) -> Reply:
    return json_reply(_org_workflow(ctx.org(admin=True)))


@route("PUT", _ORG + "/workflow", "actions/set-github-actions-default-workflow-permissions-organization", scopes=_ORG_SCOPES)
def set_org_workflow(ctx: Ctx) -> Reply:
    org = ctx.org(admin=True)
    rec = _org_record(org)
    rec["workflow"] = _workflow_body(ctx, _org_workflow(org))
    _store_org(ctx, org, rec)
    return empty()
