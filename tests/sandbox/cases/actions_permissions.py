"""Conformance cases: GitHub Actions permissions of repositories and organizations (enabled and
allowed actions, the selected actions, the GITHUB_TOKEN's defaults, the organization's
repositories that may use Actions)."""

from __future__ import annotations

from typing import Any

from ..conformance import Case

REPO = "/repos/alice/pub/actions/permissions"
SVC = "/repos/acme/svc/actions/permissions"
ORG = "/orgs/acme/actions/permissions"


# -- setups ----------------------------------------------------------------------------------------
def _put(seed: Any, path: str, body: dict, login: str = "alice") -> None:
    resp = seed.call(login, "PUT", path, body)
    assert resp.status_code == 204, resp.text


def repo_selected(seed: Any) -> dict:
    _put(seed, REPO, {"enabled": True, "allowed_actions": "selected"})
    return {}


def org_disables_actions(seed: Any) -> dict:
    _put(seed, ORG, {"enabled_repositories": "none"})
    return {}


def _svc_id(seed: Any) -> int:
    resp = seed.call("alice", "GET", "/repos/acme/svc")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["id"])


def org_selected(seed: Any) -> dict:
    """acme lets only acme/svc use Actions, and only selected actions."""
    _put(seed, ORG, {"enabled_repositories": "selected", "allowed_actions": "selected"})
    svc = _svc_id(seed)
    _put(seed, ORG + "/repositories", {"selected_repository_ids": [svc]})
    return {"svc_id": svc}


def org_repos_selected(seed: Any) -> dict:
    _put(seed, ORG, {"enabled_repositories": "selected"})
    return {"svc_id": _svc_id(seed)}


def org_actions_selected(seed: Any) -> dict:
    _put(seed, ORG, {"enabled_repositories": "all", "allowed_actions": "selected"})
    return {}


def foreign_repo(seed: Any) -> dict:
    """acme's repositories selected, and the id of alice's own repository (not acme's)."""
    _put(seed, ORG, {"enabled_repositories": "selected"})
    resp = seed.call("alice", "GET", "/repos/alice/pub")
    return {"pub_id": resp.json()["id"]}


def no_admin_org_scope(seed: Any) -> dict:
    """alice (an owner of acme) with a token that lacks ``admin:org``."""
    seed.tokens["alice-noorg"] = seed.sb.add_user("alice", scopes=("repo",))
    return {}


_SELECTED = {"github_owned_allowed": True, "verified_allowed": False, "patterns_allowed": ["octo-org/*@v1"]}

REPO_CASES = [
    Case("actions/get-github-actions-permissions-repository", 200, "GET", REPO, setup=repo_selected),
    Case("actions/get-github-actions-permissions-repository", 403, "GET", REPO, login="bob", note="not-admin"),
    Case("actions/get-github-actions-permissions-repository", 404, "GET", "/repos/alice/priv/actions/permissions", login="carol", note="private-hidden"),
    Case("actions/set-github-actions-permissions-repository", 204, "PUT", REPO, {"enabled": True, "allowed_actions": "local_only"}),
    Case("actions/set-github-actions-permissions-repository", 409, "PUT", SVC, {"enabled": True}, setup=org_disables_actions,
         note="org-disables-actions"),
    Case("actions/set-github-actions-permissions-repository", 409, "PUT", SVC, {"enabled": True, "allowed_actions": "all"},
         setup=org_selected, note="more-than-the-org-allows"),
    Case("actions/set-github-actions-permissions-repository", 422, "PUT", REPO, {"allowed_actions": "all"}, note="enabled-missing"),
    Case("actions/get-allowed-actions-repository", 200, "GET", REPO + "/selected-actions", setup=repo_selected),
    Case("actions/get-allowed-actions-repository", 409, "GET", REPO + "/selected-actions", note="not-selected"),
    Case("actions/set-allowed-actions-repository", 204, "PUT", REPO + "/selected-actions", _SELECTED, setup=repo_selected),
    Case("actions/set-allowed-actions-repository", 409, "PUT", REPO + "/selected-actions", _SELECTED, note="not-selected"),
    Case("actions/set-allowed-actions-repository", 422, "PUT", REPO + "/selected-actions", {"patterns_allowed": "octo/*"},
         setup=repo_selected, note="patterns-not-a-list"),
    Case("actions/get-github-actions-default-workflow-permissions-repository", 200, "GET", REPO + "/workflow"),
    Case("actions/get-github-actions-default-workflow-permissions-repository", 404, "GET", "/repos/alice/priv/actions/permissions/workflow",
         login="carol", note="private-hidden"),
    Case("actions/set-github-actions-default-workflow-permissions-repository", 204, "PUT", REPO + "/workflow",
         {"default_workflow_permissions": "write", "can_approve_pull_request_reviews": True}),
    Case("actions/set-github-actions-default-workflow-permissions-repository", 409, "PUT", SVC + "/workflow",
         {"default_workflow_permissions": "write"}, note="org-token-is-read-only"),
    Case("actions/set-github-actions-default-workflow-permissions-repository", 403, "PUT", REPO + "/workflow",
         {"default_workflow_permissions": "read"}, login="bob", note="not-admin"),
]

ORG_CASES = [
    Case("actions/get-github-actions-permissions-organization", 200, "GET", ORG, setup=org_selected),
    Case("actions/get-github-actions-permissions-organization", 403, "GET", ORG, login="bob", note="member-not-owner"),
    Case("actions/get-github-actions-permissions-organization", 404, "GET", "/orgs/nosuch/actions/permissions", note="no-such-org"),
    Case("actions/set-github-actions-permissions-organization", 204, "PUT", ORG, {"enabled_repositories": "all", "allowed_actions": "local_only"}),
    Case("actions/set-github-actions-permissions-organization", 422, "PUT", ORG, {"enabled_repositories": "some"}, note="bad-policy"),
    Case("actions/set-github-actions-permissions-organization", 403, "PUT", ORG, {"enabled_repositories": "none"}, login="alice-noorg",
         setup=no_admin_org_scope, note="no-admin-org-scope"),
    Case("actions/list-selected-repositories-enabled-github-actions-organization", 200, "GET", ORG + "/repositories", setup=org_selected),
    Case("actions/list-selected-repositories-enabled-github-actions-organization", 409, "GET", ORG + "/repositories", note="not-selected"),
    Case("actions/set-selected-repositories-enabled-github-actions-organization", 204, "PUT", ORG + "/repositories",
         {"selected_repository_ids": ["{svc_id}"]}, setup=org_repos_selected),
    Case("actions/set-selected-repositories-enabled-github-actions-organization", 422, "PUT", ORG + "/repositories",
         {"selected_repository_ids": ["{pub_id}"]}, setup=foreign_repo, note="not-the-orgs-repository"),
    Case("actions/set-selected-repositories-enabled-github-actions-organization", 409, "PUT", ORG + "/repositories",
         {"selected_repository_ids": []}, note="not-selected"),
    Case("actions/get-allowed-actions-organization", 200, "GET", ORG + "/selected-actions", setup=org_actions_selected),
    Case("actions/get-allowed-actions-organization", 409, "GET", ORG + "/selected-actions", note="not-selected"),
    Case("actions/set-allowed-actions-organization", 204, "PUT", ORG + "/selected-actions", _SELECTED, setup=org_actions_selected),
    Case("actions/set-allowed-actions-organization", 409, "PUT", ORG + "/selected-actions", _SELECTED, note="not-selected"),
    Case("actions/get-github-actions-default-workflow-permissions-organization", 200, "GET", ORG + "/workflow"),
    Case("actions/get-github-actions-default-workflow-permissions-organization", 403, "GET", ORG + "/workflow", login="alice-noorg",
         setup=no_admin_org_scope, note="no-admin-org-scope"),
    Case("actions/set-github-actions-default-workflow-permissions-organization", 204, "PUT", ORG + "/workflow",
         {"default_workflow_permissions": "write", "can_approve_pull_request_reviews": True}),
    Case("actions/set-github-actions-default-workflow-permissions-organization", 422, "PUT", ORG + "/workflow",
         {"default_workflow_permissions": "admin"}, note="bad-permission"),
]

CASES = REPO_CASES + ORG_CASES
