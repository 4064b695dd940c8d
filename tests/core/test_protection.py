"""Kinds ``branch-protection``, ``ruleset`` and ``org-ruleset`` end to end against the strict
sandbox: plan (create) -> apply -> no changes -> one field edited and planned alone -> apply ->
rollback restores it -> destroy; drift planned back field by field, bad manifests at their line,
tokens that may not read them. What the sandbox holds is read back with raw requests,
independently of gridctl."""

from __future__ import annotations

import pytest

from ..helpers import ACME, ALICE, HELPER_BOB, change_block, grid_yaml
from ..helpers import get_json as get

PROT = "/repos/alice/demo/branches/main/protection"

PROTECTION = grid_yaml("""\
repos:
  alice/demo:
    auto_init: true
    branch_protection:
      main:
        reviews: {approvals: 1, dismiss_stale: true, code_owners: true}
        status_checks: {strict: true, contexts: [ci/test, ci/lint]}
        enforce_admins: true
        linear_history: true
        signed_commits: true
""")

RULESET = grid_yaml("""\
repos:
  alice/demo:
    auto_init: true
    rulesets:
      protect-main:
        enforcement: active
        include: ["~DEFAULT_BRANCH"]
        exclude: ["refs/heads/tmp/*"]
        bypass:
          - {role: admin}
          - {role: maintain, mode: pull_request}
        rules:
          deletion: true
          non_fast_forward: true
          pull_request: {approvals: 1, dismiss_stale: true, last_push_approval: true, merge_methods: [squash]}
          status_checks: {strict: true, contexts: [ci/test]}
""")

ORG_RULESET = grid_yaml("""\
repos:
  acme/svc: {auto_init: true}
org_rulesets:
  acme:
    every-default-branch:
      enforcement: evaluate
      repos: {include: ["~ALL"], exclude: [sandbox-*]}
      include: ["~DEFAULT_BRANCH"]
      bypass: [{org_admin: true}]
      rules: {deletion: true, signed_commits: true}
""", ALICE, ACME)


def rulesets_of(grid, path: str) -> dict[str, dict]:
    out = {}
    for summary in get(grid, path + ("?includes_parents=false" if path.startswith("/repos") else "")):
        out[summary["name"]] = get(grid, f"{path}/{summary['id']}")
    return out


# -- branch protection -----------------------------------------------------------------------------
def test_branch_protection_create_converge_edit_one_field_rollback_destroy(grid):
    grid.user("alice")
    grid.write("grid.yaml", PROTECTION)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "+ branch-protection alice/demo") == [
        "enforce_admins: true",
        "linear_history: true",
        "reviews.approvals: 1",
        "reviews.code_owners: true",
        "reviews.dismiss_stale: true",
        "signed_commits: true",
        'status_checks.contexts: ["ci/lint", "ci/test"]',
        "status_checks.strict: true",
    ], r.out
    grid.check(0, "apply", "--auto-approve")
    p = get(grid, PROT)
    assert p["required_pull_request_reviews"]["required_approving_review_count"] == 1
    assert p["required_pull_request_reviews"]["dismiss_stale_reviews"] is True
    assert p["required_pull_request_reviews"]["require_last_push_approval"] is False
    assert p["required_status_checks"]["strict"] is True and sorted(p["required_status_checks"]["contexts"]) == ["ci/lint", "ci/test"]
    assert p["enforce_admins"]["enabled"] and p["required_linear_history"]["enabled"] and p["required_signatures"]["enabled"]
    assert not p["allow_force_pushes"]["enabled"] and not p["allow_deletions"]["enabled"]
    assert get(grid, "/repos/alice/demo/branches/main")["protected"] is True
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # one field edited: the plan shows exactly that field
    grid.write("grid.yaml", PROTECTION.replace("approvals: 1", "approvals: 2"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ branch-protection alice/demo") == ["reviews.approvals: 1 -> 2"], r.out
    assert "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete." in r.out
    grid.check(0, "apply", "--auto-approve")
    assert get(grid, PROT)["required_pull_request_reviews"]["required_approving_review_count"] == 2
    assert get(grid, PROT)["required_signatures"]["enabled"] is True
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # rollback restores the previous value
    r = grid.check(0, "rollback", "--auto-approve")
    assert "reviews.approvals: 2 -> 1" in r.out, r.out
    assert get(grid, PROT)["required_pull_request_reviews"]["required_approving_review_count"] == 1

    # destroy removes the protection
    r = grid.check(0, "destroy", "--auto-approve")
    assert "- branch-protection alice/demo" in r.out, r.out
    assert grid.api("alice", "GET", PROT).status_code == 404
    assert grid.api("alice", "GET", PROT).json()["message"] == "Branch not protected"


def test_branch_protection_drift_is_planned_back_and_turning_things_off(grid):
    grid.user("alice")
    grid.write("grid.yaml", PROTECTION)
    grid.check(0, "apply", "--auto-approve")
    # changed by hand: force pushes allowed, reviews dropped, signatures off
    body = {"required_status_checks": {"strict": True, "contexts": ["ci/test", "ci/lint"]}, "enforce_admins": True,
            "required_pull_request_reviews": None, "restrictions": None, "required_linear_history": True, "allow_force_pushes": True}
    assert grid.api("alice", "PUT", PROT, body).status_code == 200
    assert grid.api("alice", "DELETE", PROT + "/required_signatures").status_code == 204
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ branch-protection alice/demo") == [
        "allow_force_pushes: true -> false",
        "reviews.approvals: null -> 1",
        "reviews.code_owners: false -> true",
        "reviews.dismiss_stale: false -> true",
        "signed_commits: false -> true",
    ], r.out
    grid.check(0, "apply", "--auto-approve")
    p = get(grid, PROT)
    assert not p["allow_force_pushes"]["enabled"] and p["required_signatures"]["enabled"]
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # a field left out of the manifest is off: its removal turns it off on GitHub
    grid.write("grid.yaml", PROTECTION.replace("        signed_commits: true\n", "").replace("        enforce_admins: true\n", ""))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ branch-protection alice/demo") == ["enforce_admins: true -> false", "signed_commits: true -> false"], r.out
    grid.check(0, "apply", "--auto-approve")
    p = get(grid, PROT)
    assert not p["enforce_admins"]["enabled"] and not p["required_signatures"]["enabled"]
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_a_branch_that_does_not_exist_is_a_clear_error(grid):
    grid.user("alice")
    grid.write("grid.yaml", PROTECTION.replace("      main:", "      release:"))
    r = grid.run("apply", "--auto-approve")
    assert r.code == 1 and "cannot protect branch release of alice/demo: Branch not found" in r.err, r.all
    assert "Traceback" not in r.all


# -- repository rulesets ---------------------------------------------------------------------------
def test_ruleset_create_converge_edit_one_field_rollback_destroy(grid):
    grid.user("alice")
    grid.write("grid.yaml", RULESET)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "+ ruleset alice/demo protect-main") == [
        'bypass: ["role:admin always", "role:maintain pull_request"]',
        'enforcement: "active"',
        'exclude: ["refs/heads/tmp/*"]',
        'include: ["~DEFAULT_BRANCH"]',
        "rules.deletion: true",
        "rules.non_fast_forward: true",
        "rules.pull_request.approvals: 1",
        "rules.pull_request.dismiss_stale: true",
        "rules.pull_request.last_push_approval: true",
        'rules.pull_request.merge_methods: ["squash"]',
        'rules.status_checks.contexts: ["ci/test"]',
        "rules.status_checks.strict: true",
        'target: "branch"',
    ], r.out
    grid.check(0, "apply", "--auto-approve")
    rs = rulesets_of(grid, "/repos/alice/demo/rulesets")["protect-main"]
    assert rs["enforcement"] == "active" and rs["source_type"] == "Repository"
    assert rs["conditions"] == {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": ["refs/heads/tmp/*"]}}
    assert {(a["actor_type"], a["actor_id"], a["bypass_mode"]) for a in rs["bypass_actors"]} == {
        ("RepositoryRole", 5, "always"), ("RepositoryRole", 2, "pull_request")}
    assert sorted(r["type"] for r in rs["rules"]) == ["deletion", "non_fast_forward", "pull_request", "required_status_checks"]
    pr = next(r["parameters"] for r in rs["rules"] if r["type"] == "pull_request")
    assert pr["allowed_merge_methods"] == ["squash"] and pr["required_review_thread_resolution"] is False
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # one field edited: the plan shows exactly that field
    grid.write("grid.yaml", RULESET.replace("enforcement: active", "enforcement: evaluate"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ ruleset alice/demo protect-main") == ['enforcement: "active" -> "evaluate"'], r.out
    grid.check(0, "apply", "--auto-approve")
    assert rulesets_of(grid, "/repos/alice/demo/rulesets")["protect-main"]["enforcement"] == "evaluate"
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # rollback restores the previous value
    r = grid.check(0, "rollback", "--auto-approve")
    assert 'enforcement: "evaluate" -> "active"' in r.out, r.out
    assert rulesets_of(grid, "/repos/alice/demo/rulesets")["protect-main"]["enforcement"] == "active"

    # destroy deletes it
    r = grid.check(0, "destroy", "--auto-approve")
    assert "- ruleset alice/demo protect-main" in r.out, r.out
    assert rulesets_of(grid, "/repos/alice/demo/rulesets") == {}


def test_ruleset_rules_and_bypass_drift_field_by_field(grid):
    grid.user("alice")
    grid.write("grid.yaml", RULESET)
    grid.check(0, "apply", "--auto-approve")
    rs = rulesets_of(grid, "/repos/alice/demo/rulesets")["protect-main"]
    # changed by hand: force pushes allowed again, a rule gridctl does not manage added, the
    # maintainers' bypass dropped
    rules = [r for r in rs["rules"] if r["type"] != "non_fast_forward"]
    rules.append({"type": "commit_message_pattern", "parameters": {"operator": "starts_with", "pattern": "JIRA-"}})
    body = {"rules": rules, "bypass_actors": [{"actor_type": "RepositoryRole", "actor_id": 5, "bypass_mode": "always"}]}
    assert grid.api("alice", "PUT", f"/repos/alice/demo/rulesets/{rs['id']}", body).status_code == 200
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ ruleset alice/demo protect-main") == [
        'bypass: ["role:admin always"] -> ["role:admin always", "role:maintain pull_request"]',
        'rules.commit_message_pattern: {"operator": "starts_with", "pattern": "JIRA-"} -> null',
        "rules.non_fast_forward: false -> true",
    ], r.out
    grid.check(0, "apply", "--auto-approve")
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # a rule turned off in the manifest leaves the ruleset
    grid.write("grid.yaml", RULESET.replace("          deletion: true\n", ""))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ ruleset alice/demo protect-main") == ["rules.deletion: true -> false"], r.out
    grid.check(0, "apply", "--auto-approve")
    types = sorted(r["type"] for r in rulesets_of(grid, "/repos/alice/demo/rulesets")["protect-main"]["rules"])
    assert types == ["non_fast_forward", "pull_request", "required_status_checks"]


# -- organization rulesets -------------------------------------------------------------------------
def test_org_ruleset_create_edit_rollback_destroy(grid):
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    grid.write("grid.yaml", ORG_RULESET)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "+ org-ruleset org acme every-default-branch") == [
        'bypass: ["org_admin always"]',
        'enforcement: "evaluate"',
        'include: ["~DEFAULT_BRANCH"]',
        'repos.exclude: ["sandbox-*"]',
        'repos.include: ["~ALL"]',
        "rules.deletion: true",
        "rules.signed_commits: true",
        'target: "branch"',
    ], r.out
    grid.check(0, "apply", "--auto-approve")
    rs = rulesets_of(grid, "/orgs/acme/rulesets")["every-default-branch"]
    assert rs["conditions"]["repository_name"] == {"include": ["~ALL"], "exclude": ["sandbox-*"]}
    # the organization's ruleset applies to acme/svc: its list shows it, as GitHub's does
    listed = get(grid, "/repos/acme/svc/rulesets")
    assert [(x["name"], x["source_type"]) for x in listed] == [("every-default-branch", "Organization")]
    assert grid.run("plan", "--detailed-exitcode").code == 0

    grid.write("grid.yaml", ORG_RULESET.replace("exclude: [sandbox-*]", "exclude: [sandbox-*, scratch-*]"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ org-ruleset org acme every-default-branch") == [
        'repos.exclude: ["sandbox-*"] -> ["sandbox-*", "scratch-*"]'], r.out
    grid.check(0, "apply", "--auto-approve")
    grid.check(0, "rollback", "--auto-approve")
    assert rulesets_of(grid, "/orgs/acme/rulesets")["every-default-branch"]["conditions"]["repository_name"]["exclude"] == ["sandbox-*"]
    grid.check(0, "destroy", "--auto-approve")
    assert rulesets_of(grid, "/orgs/acme/rulesets") == {}


# -- refusals --------------------------------------------------------------------------------------
def test_bad_manifests_are_refused_at_their_line(grid):
    grid.user("alice")
    grid.write("grid.yaml", PROTECTION.replace("approvals: 1", "approvals: 7"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:9:30: error: repos.alice/demo.branch_protection.main.reviews.approvals must be at most 6" in r.err, r.err
    grid.write("grid.yaml", PROTECTION.replace("enforce_admins: true", "enforce_admins: true\n        restrictions: {users: [bob]}"))
    r = grid.run("validate")
    assert r.code == 1 and "restrictions are only available for organization repositories, and alice is a user" in r.err, r.err
    grid.write("grid.yaml", PROTECTION.replace("auto_init: true", "auto_init: true\n    allow_squash_merge: false\n    allow_rebase_merge: false"))
    r = grid.run("validate")
    assert r.code == 1 and "linear_history needs alice/demo to allow squash or rebase merging" in r.err, r.err
    grid.write("grid.yaml", RULESET.replace("- {role: admin}", "- {org_admin: true}"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:13:14: error: org_admin cannot bypass the rulesets of a personal repository" in r.err, r.err
    grid.write("grid.yaml", RULESET.replace("- {role: admin}", "- {role: admin, team: 4}"))
    r = grid.run("validate")
    assert r.code == 1 and "a bypass entry names exactly one actor" in r.err, r.err
    grid.write("grid.yaml", RULESET.replace("enforcement: active", "enforcement: sometimes"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:9:22: error:" in r.err, r.err
    grid.write("grid.yaml", ORG_RULESET.replace('      include: ["~DEFAULT_BRANCH"]\n', ""))
    r = grid.run("validate")
    assert r.code == 1 and "an organization branch ruleset needs include" in r.err, r.err
    assert "Traceback" not in r.all


def test_tokens_that_may_not_manage_them(grid):
    # without the repo scope: refused before anything is read, naming the manifest entry
    grid.user("alice", scopes=("public_repo",))
    grid.write("grid.yaml", PROTECTION)
    r = grid.run("plan")
    assert r.code == 1 and "token lacks scope repo, needed by repos.alice/demo.branch_protection" in r.err, r.all
    # a collaborator with write access, no admin: GitHub's 403, said plainly
    grid.user("alice")
    grid.user("bob")
    grid.write("grid.yaml", PROTECTION)
    grid.check(0, "apply", "--auto-approve")
    assert grid.api("alice", "PUT", "/repos/alice/demo/collaborators/bob", {"permission": "push"}).status_code in (201, 204)
    invitations = grid.api("bob", "GET", "/user/repository_invitations").json()
    for inv in invitations:
        assert grid.api("bob", "PATCH", f"/user/repository_invitations/{inv['id']}").status_code == 204
    grid.write("grid.yaml", grid_yaml("repos:\n  alice/demo:\n    account: helper\n    branch_protection: {main: {enforce_admins: true}}\n",
                                      HELPER_BOB))
    r = grid.run("plan")
    assert r.code == 1, r.all
    assert "cannot read the protection of branch main of alice/demo: the token (bob) needs admin rights on the repository" in r.err, r.err
    assert "Traceback" not in r.all and grid.tokens["bob"] not in r.all
    # rulesets: bob may list them, but GitHub hides who may bypass them from him
    grid.write("grid.yaml", RULESET)
    grid.check(0, "apply", "--auto-approve")
    grid.write("grid.yaml", grid_yaml("repos:\n  alice/demo:\n    account: helper\n    rulesets: {protect-main: {enforcement: active}}\n",
                                      HELPER_BOB))
    r = grid.run("plan")
    assert r.code == 1, r.all
    assert ("cannot see who may bypass ruleset protect-main of alice/demo: the token (bob) needs admin rights on the repository"
            in r.err), r.err
    assert "Traceback" not in r.all and grid.tokens["bob"] not in r.all


@pytest.mark.parametrize("manifest", [PROTECTION, RULESET], ids=["branch-protection", "ruleset"])
def test_already_matching_is_adopted_without_a_write(grid, manifest):
    grid.user("alice")
    grid.write("grid.yaml", manifest)
    grid.check(0, "apply", "--auto-approve")
    listed = grid.check(0, "state", "list").out.split()
    grid.check(0, "state", "rm", next(a for a in listed if a.startswith(("branch-protection:", "ruleset:"))))
    grid.sb.app.stats.reset()
    r = grid.check(0, "apply", "--auto-approve")
    assert "No changes" in r.out, r.out
    writes = [op for op in grid.sb.app.stats.as_dict()["by_endpoint"] if op.split("/")[-1].startswith(("update-", "create-", "delete-"))]
    assert writes == [], writes


def test_a_converged_plan_reads_one_list_and_one_object_each(grid):
    """Reads of a no-change plan: per repository one protected-branch list and one ruleset list,
    then one GET per protected branch and per ruleset; nothing is written."""
    grid.user("alice")
    both = PROTECTION + RULESET.split("    auto_init: true\n", 1)[1]
    both = both.replace("      main:\n", "      main:\n        allow_deletions: false\n", 1)
    grid.write("grid.yaml", both)
    grid.check(0, "apply", "--auto-approve")
    grid.sb.app.stats.reset()
    grid.check(0, "plan", "--detailed-exitcode")
    stats = grid.sb.app.stats.as_dict()
    ops = {op: c["requests"] for op, c in stats["by_endpoint"].items()}
    mine = {op: n for op, n in ops.items() if "protection" in op or "ruleset" in op or "branches" in op}
    print(f"\nconverged plan, one repository with one protected branch and one ruleset: {stats['total']['requests']} requests "
          f"({stats['total'].get('not_modified', 0)} answered 304); {mine}")
    assert mine == {"repos/list-branches": 1, "repos/get-branch-protection": 1, "repos/get-repo-rulesets": 1, "repos/get-repo-ruleset": 1}, ops
    assert not any(op.split("/")[-1].startswith(("update-", "create-", "delete-")) for op in ops), ops


def test_what_the_manifest_cannot_declare_is_shown_before_it_is_replaced(grid):
    """An organization ruleset that targets repositories by id (set by hand): the plan shows the
    id condition going and the manifest's names coming, and the apply does exactly that."""
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    assert grid.api("alice", "POST", "/orgs/acme/repos", {"name": "svc", "auto_init": True}).status_code == 201
    svc = get(grid, "/repos/acme/svc")["id"]
    body = {"name": "every-default-branch", "enforcement": "evaluate", "bypass_actors": [{"actor_type": "OrganizationAdmin", "actor_id": 1}],
            "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}, "repository_id": {"repository_ids": [svc]}},
            "rules": [{"type": "deletion"}, {"type": "required_signatures"}]}
    assert grid.api("alice", "POST", "/orgs/acme/rulesets", body).status_code == 201
    grid.write("grid.yaml", ORG_RULESET)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ org-ruleset org acme every-default-branch") == [
        'repos.exclude: null -> ["sandbox-*"]',
        'repos.include: null -> ["~ALL"]',
        f'repos.repository_id: {{"repository_ids": [{svc}]}} -> null',
    ], r.out
    grid.check(0, "apply", "--auto-approve")
    conditions = rulesets_of(grid, "/orgs/acme/rulesets")["every-default-branch"]["conditions"]
    assert "repository_id" not in conditions and conditions["repository_name"]["include"] == ["~ALL"]
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_only_managed_ones_are_removed_unless_prune_is_on(grid):
    grid.user("alice")
    grid.write("grid.yaml", RULESET)
    grid.check(0, "apply", "--auto-approve")
    # made by hand: a second branch's protection and a second ruleset
    sha = get(grid, "/repos/alice/demo/git/ref/heads/main")["object"]["sha"]
    assert grid.api("alice", "POST", "/repos/alice/demo/git/refs", {"ref": "refs/heads/release", "sha": sha}).status_code == 201
    body = {"required_status_checks": None, "enforce_admins": False, "required_pull_request_reviews": None, "restrictions": None}
    assert grid.api("alice", "PUT", "/repos/alice/demo/branches/release/protection", body).status_code == 200
    assert grid.api("alice", "POST", "/repos/alice/demo/rulesets", {"name": "by-hand", "enforcement": "disabled"}).status_code == 201
    grid.write("grid.yaml", RULESET.replace("    rulesets:\n", "    branch_protection: {main: {allow_deletions: false}}\n    rulesets:\n"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete." in r.out, r.out  # main's protection only
    grid.check(0, "apply", "--auto-approve")
    # prune: the undeclared ones go, the declared ones stay
    grid.write("grid.yaml", RULESET.replace("    rulesets:\n", "    branch_protection: {main: {}}\n    prune: {branch_protection: true, rulesets: true}\n    rulesets:\n"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- branch-protection alice/demo release" in r.out and "- ruleset alice/demo by-hand" in r.out, r.out
    assert "Plan: 0 to create, 0 to update, 0 to replace, 2 to delete." in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    assert [b["name"] for b in get(grid, "/repos/alice/demo/branches?protected=true")] == ["main"]
    assert list(rulesets_of(grid, "/repos/alice/demo/rulesets")) == ["protect-main"]
    # a managed one removed from the manifest is deleted (prune off)
    grid.write("grid.yaml", RULESET.split("    rulesets:\n", 1)[0])
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- ruleset alice/demo protect-main" in r.out and "- branch-protection alice/demo main" in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    assert get(grid, "/repos/alice/demo/branches?protected=true") == [] and rulesets_of(grid, "/repos/alice/demo/rulesets") == {}


def test_rolling_back_the_first_apply_removes_them_and_a_second_rollback_restores_them(grid):
    grid.user("alice")
    grid.write("grid.yaml", PROTECTION.split("    branch_protection:", 1)[0])
    grid.check(0, "apply", "--auto-approve")  # the repository first: rolling it back needs --force
    grid.write("grid.yaml", PROTECTION + RULESET.split("    auto_init: true\n", 1)[1])
    grid.check(0, "apply", "--auto-approve")
    r = grid.check(0, "rollback", "--auto-approve")
    assert "- branch-protection alice/demo main" in r.out and "- ruleset alice/demo protect-main" in r.out, r.out
    assert get(grid, "/repos/alice/demo/branches?protected=true") == [] and rulesets_of(grid, "/repos/alice/demo/rulesets") == {}
    # the rollback of the rollback puts every field back, the ruleset under a new id
    grid.check(0, "rollback", "--auto-approve")
    assert get(grid, PROT)["required_signatures"]["enabled"] is True
    assert grid.run("plan", "--detailed-exitcode").code == 0
