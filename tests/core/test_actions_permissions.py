"""Kinds ``actions-permissions`` and ``org-actions-permissions`` end to end against the strict
sandbox: plan (create) -> apply -> no changes -> one field edited and planned alone -> apply ->
rollback -> destroy (GitHub's defaults put back), drift planned back, the organization's
repositories and policy, bad manifests at their line, tokens that may not read the settings.
What the sandbox holds is read back with raw requests, independently of gridctl."""

from __future__ import annotations

import pytest

from ..helpers import ACME, ALICE, HELPER_BOB, change_block, grid_yaml
from ..helpers import get_json as get

REPO = "/repos/alice/demo/actions/permissions"
ORG = "/orgs/acme/actions/permissions"

MANIFEST = grid_yaml("""\
repos:
  alice/demo:
    actions:
      allowed_actions: selected
      selected: {github_owned: true, patterns: ["octo-org/*@v2", "octo-org/deploy@v1"]}
      workflow_permissions: write
      can_approve_pull_requests: false
""")

ORG_MANIFEST = grid_yaml("""\
repos:
  acme/svc:
    actions: {enabled: true, allowed_actions: local_only}
  acme/web: {}
org_actions:
  acme:
    enabled_repositories: selected
    repos: [acme/svc]
    allowed_actions: local_only
    workflow_permissions: read
""", ALICE, ACME)


@pytest.fixture
def demo(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    grid.check(0, "apply", "--auto-approve")
    return grid


def test_create_converge_edit_one_field_rollback_destroy(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "+ actions-permissions alice/demo") == [
        'allowed_actions: "selected"',
        "can_approve_pull_requests: false",
        "selected.github_owned: true",
        'selected.patterns: ["octo-org/*@v2", "octo-org/deploy@v1"]',
        'workflow_permissions: "write"',
    ], r.out
    grid.check(0, "apply", "--auto-approve")
    assert get(grid, REPO)["allowed_actions"] == "selected"
    assert get(grid, REPO + "/selected-actions") == {
        "github_owned_allowed": True, "verified_allowed": False, "patterns_allowed": ["octo-org/*@v2", "octo-org/deploy@v1"],
    }
    assert get(grid, REPO + "/workflow") == {"default_workflow_permissions": "write", "can_approve_pull_request_reviews": False}
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "No changes" in r.out

    # one field edited: the plan shows exactly that field
    grid.write("grid.yaml", MANIFEST.replace("workflow_permissions: write", "workflow_permissions: read"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "~ actions-permissions alice/demo" in r.out
    assert change_block(r.out, "~ actions-permissions alice/demo") == ['workflow_permissions: "write" -> "read"'], r.out
    assert "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete." in r.out
    grid.check(0, "apply", "--auto-approve")
    assert get(grid, REPO + "/workflow")["default_workflow_permissions"] == "read"
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # rollback restores the previous value
    r = grid.check(0, "rollback", "--auto-approve")
    assert 'workflow_permissions: "read" -> "write"' in r.out, r.out
    assert get(grid, REPO + "/workflow")["default_workflow_permissions"] == "write"

    # destroy: GitHub has no delete, so GitHub's defaults are put back (and the plan says so)
    r = grid.check(0, "destroy", "--auto-approve")
    assert "- actions-permissions alice/demo" in r.out and "GitHub has no delete for these settings" in r.out, r.out
    assert get(grid, REPO) == {"enabled": True, "allowed_actions": "all", "sha_pinning_required": False}
    assert get(grid, REPO + "/workflow") == {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": False}


def test_only_declared_fields_are_managed_and_drift_is_planned_back(demo):
    grid = demo
    # a field the manifest leaves out is never compared
    assert grid.api("alice", "PUT", REPO, {"enabled": True, "allowed_actions": "selected", "sha_pinning_required": True}).status_code == 204
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # changed by hand: planned back, field by field
    body = {"github_owned_allowed": False, "patterns_allowed": ["octo-org/*@v2"]}
    assert grid.api("alice", "PUT", REPO + "/selected-actions", body).status_code == 204
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ actions-permissions alice/demo") == [
        "selected.github_owned: false -> true",
        'selected.patterns: ["octo-org/*@v2"] -> ["octo-org/*@v2", "octo-org/deploy@v1"]',
    ], r.out
    grid.check(0, "apply", "--auto-approve")
    assert get(grid, REPO + "/selected-actions")["github_owned_allowed"] is True
    # the policy switched away from "selected": the list is written again after the policy
    assert grid.api("alice", "PUT", REPO, {"enabled": False, "allowed_actions": "all"}).status_code == 204
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert 'allowed_actions: "all" -> "selected"' in r.out and "selected.patterns: null ->" in r.out, r.out
    assert "enabled" not in "".join(change_block(r.out, "~ actions-permissions alice/demo"))
    grid.check(0, "apply", "--auto-approve")
    assert get(grid, REPO)["enabled"] is False  # not declared: left as it was
    assert get(grid, REPO + "/selected-actions")["patterns_allowed"] == ["octo-org/*@v2", "octo-org/deploy@v1"]
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_organization_policy_and_repositories(grid):
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    grid.write("grid.yaml", ORG_MANIFEST)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ org-actions-permissions org acme") == [
        'allowed_actions: "all" -> "local_only"',
        'enabled_repositories: "all" -> "selected"',
        'repos: null -> ["acme/svc"]',
    ], r.out
    grid.check(0, "apply", "--auto-approve")
    assert get(grid, ORG)["enabled_repositories"] == "selected"
    assert [x["full_name"] for x in get(grid, ORG + "/repositories")["repositories"]] == ["acme/svc"]
    assert get(grid, "/repos/acme/svc/actions/permissions")["allowed_actions"] == "local_only"
    # the organization's policy binds acme/web, which it keeps from Actions
    assert get(grid, "/repos/acme/web/actions/permissions")["enabled"] is False
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # one field: the selected repositories
    grid.write("grid.yaml", ORG_MANIFEST.replace("repos: [acme/svc]", "repos: [acme/svc, acme/web]"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ org-actions-permissions org acme") == ['repos: ["acme/svc"] -> ["acme/svc", "acme/web"]'], r.out
    grid.check(0, "apply", "--auto-approve")
    assert get(grid, "/repos/acme/web/actions/permissions")["enabled"] is True
    grid.check(0, "rollback", "--auto-approve")
    assert [x["full_name"] for x in get(grid, ORG + "/repositories")["repositories"]] == ["acme/svc"]

    # destroy puts the organization's defaults back
    r = grid.check(0, "destroy", "--auto-approve")
    assert "- org-actions-permissions org acme" in r.out
    assert get(grid, ORG) == {"enabled_repositories": "all", "allowed_actions": "all", "sha_pinning_required": False}
    assert get(grid, "/repos/acme/svc/actions/permissions")["allowed_actions"] == "all"


def test_a_repository_the_organization_keeps_from_actions_fails_with_githubs_answer(grid):
    """Not declared in the manifest, the organization's policy is GitHub's to enforce: 409."""
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    grid.write("grid.yaml", grid_yaml("repos:\n  acme/svc:\n    actions: {workflow_permissions: read}\n", ALICE, ACME))
    grid.check(0, "apply", "--auto-approve")
    assert grid.api("alice", "PUT", ORG + "/workflow", {"default_workflow_permissions": "read"}).status_code == 204
    grid.write("grid.yaml", grid_yaml("repos:\n  acme/svc:\n    actions: {workflow_permissions: write}\n", ALICE, ACME))
    r = grid.run("apply", "--auto-approve")
    assert r.code == 1 and "409" in r.err and "prevented by the owning organization" in r.err, r.all
    assert "Traceback" not in r.all


def test_turning_actions_off_for_an_organization_needs_force(grid):
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    grid.write("grid.yaml", grid_yaml("org_actions:\n  acme: {enabled_repositories: none}\n", ALICE, ACME))
    r = grid.run("apply", "--auto-approve")
    assert r.code == 1 and "turns GitHub Actions off for every repository of the organization" in r.all, r.all
    grid.check(0, "apply", "--auto-approve", "--force")
    assert get(grid, ORG)["enabled_repositories"] == "none"


def test_bad_manifests_are_refused_at_their_line(grid):
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    grid.write("grid.yaml", MANIFEST.replace("allowed_actions: selected", "allowed_actions: local_only"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:8:7: error: selected needs allowed_actions: selected" in r.err, r.err
    grid.write("grid.yaml", MANIFEST.replace("workflow_permissions: write", "workflow_permissions: admin"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:9:29: error:" in r.err, r.err
    # a repository asking what its organization's declared policy forbids
    grid.write("grid.yaml", ORG_MANIFEST.replace("acme/web: {}", "acme/web:\n    actions: {enabled: true, allowed_actions: all, workflow_permissions: write}"))
    r = grid.run("validate")
    assert r.code == 1, r.all
    assert "grid.yaml:9:15: error: acme/web cannot enable GitHub Actions: organization acme's policy (org_actions) does not let it use them" in r.err, r.err
    assert "grid.yaml:9:30: error: allowed_actions: all allows more than organization acme's policy (org_actions) (local_only)" in r.err, r.err
    assert "grid.yaml:9:52: error: workflow_permissions: write is prevented by organization acme's policy (org_actions) (read)" in r.err, r.err
    grid.write("grid.yaml", ORG_MANIFEST.replace("repos: [acme/svc]", "repos: [alice/demo]"))
    r = grid.run("validate")
    assert r.code == 1 and "'alice/demo' is not a repository of acme" in r.err, r.err
    grid.write("grid.yaml", grid_yaml("org_actions:\n  main: {enabled_repositories: all}\n"))
    r = grid.run("validate")
    assert r.code == 1 and "org_actions needs an organization account, and main is a user (alice)" in r.err, r.err
    assert "Traceback" not in r.all


def test_a_token_that_may_not_read_the_settings_is_refused_at_plan_time(grid):
    # without the repo scope: refused before anything is read, naming the manifest entry
    grid.user("alice", scopes=("public_repo", "admin:org"))
    grid.write("grid.yaml", MANIFEST)
    r = grid.run("plan")
    assert r.code == 1 and "token lacks scope repo, needed by repos.alice/demo.actions" in r.err, r.all
    # a collaborator with write access, no admin: GitHub's 403, said plainly
    grid.user("bob")
    grid.org("acme", admins=("alice",), members=("bob",))
    assert grid.api("alice", "POST", "/orgs/acme/repos", {"name": "svc"}).status_code == 201
    assert grid.api("alice", "PUT", "/repos/acme/svc/collaborators/bob", {"permission": "push"}).status_code in (201, 204)
    grid.write("grid.yaml", grid_yaml("repos:\n  acme/svc:\n    account: helper\n    actions: {enabled: true}\n", HELPER_BOB))
    r = grid.run("plan")
    assert r.code == 1, r.all
    assert ("cannot read the GitHub Actions permissions of repository acme/svc: the token (bob) needs admin rights "
            "on the repository") in r.err, r.err
    assert "Traceback" not in r.all and grid.tokens["bob"] not in r.all


def test_settings_that_already_match_are_adopted_without_a_write(grid):
    grid.user("alice")
    assert grid.api("alice", "POST", "/user/repos", {"name": "demo"}).status_code == 201
    grid.write("grid.yaml", grid_yaml("repos:\n  alice/demo:\n    actions: {enabled: true, workflow_permissions: read}\n"))
    grid.sb.app.stats.reset()
    r = grid.check(0, "apply", "--auto-approve")
    assert "No changes" in r.out, r.out
    # managed from now on: removing the section plans the reset, which has nothing to write
    grid.write("grid.yaml", grid_yaml("repos:\n  alice/demo: {}\n"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- actions-permissions alice/demo" in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    writes = [op for op in grid.sb.app.stats.as_dict()["by_endpoint"] if op.startswith("actions/set-")]
    assert writes == [], writes
    assert get(grid, REPO) == {"enabled": True, "allowed_actions": "all", "sha_pinning_required": False}
    assert grid.run("plan", "--detailed-exitcode").code == 0
