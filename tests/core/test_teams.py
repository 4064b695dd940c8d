"""Kinds ``team``, ``team-member``, ``team-repo``, ``org-member`` and ``org-invitation`` end to end
against the strict sandbox: plan (create) -> apply -> no changes -> one field edited and planned
alone -> apply -> rollback -> destroy; invitations accepted with the invitee's own token;
members nobody declared left alone; bad manifests at their line. What the sandbox holds is read
back with raw requests, independently of gridctl."""

from __future__ import annotations

from typing import Any

import pytest

from ..helpers import ACME, ALICE, change_block, grid_yaml
from ..helpers import get_json as get

CAROL = "node-2: {login: carol, token: {env: GRID_TOKEN_CAROL}}"

MANIFEST = grid_yaml("""\
repos:
  acme/svc: {}
org_members:
  acme:
    alice: admin
    bob: member
    node-2: member
    dave: member
teams:
  acme:
    Infra:
      description: Infrastructure
      privacy: closed
    Platform Team:
      description: Platform engineers
      parent: Infra
      notifications: disabled
      members: {bob: maintainer, node-2: member}
      repos: {acme/svc: push}
""", ALICE, ACME, CAROL)


def members(grid: Any, team: str) -> dict[str, str]:
    return {m["login"]: m["role"] for m in get(grid, f"/orgs/acme/teams/{team}/members") if not m["inherited"]}


def org_roles(grid: Any) -> dict[str, str]:
    admins = {m["login"] for m in get(grid, "/orgs/acme/members?role=admin")}
    return {m["login"]: ("admin" if m["login"] in admins else "member") for m in get(grid, "/orgs/acme/members")}


@pytest.fixture
def acme(grid):
    for login in ("alice", "bob", "carol", "dave"):
        grid.user(login)
    grid.org("acme", admins=("alice",), members=("bob",))
    return grid


def test_teams_and_members_create_converge_edit_rollback_destroy(acme):
    grid = acme
    grid.write("grid.yaml", MANIFEST)
    r = grid.check(2, "plan", "--detailed-exitcode")
    for head in ("+ team acme/infra", "+ team acme/platform-team", "+ team-member acme/platform-team bob",
                 "+ team-repo acme/platform-team acme/svc", "+ org-member acme carol", "+ org-member acme dave",
                 "+ org-invitation acme carol"):
        assert head in r.out, r.out
    # already there with the declared role: nothing to do
    assert "org-member acme alice" not in r.out and "org-member acme bob" not in r.out
    grid.check(0, "apply", "--auto-approve")

    infra, platform = get(grid, "/orgs/acme/teams/infra"), get(grid, "/orgs/acme/teams/platform-team")
    assert (infra["privacy"], infra["description"]) == ("closed", "Infrastructure")
    assert platform["parent"]["slug"] == "infra" and platform["notification_setting"] == "notifications_disabled"
    # carol accepted with her own token; gridctl's own account (alice) left the teams it created
    assert org_roles(grid) == {"alice": "admin", "bob": "member", "carol": "member"}
    # dave is no account here: invited, pending until dave accepts
    assert get(grid, "/orgs/acme/memberships/dave")["state"] == "pending"
    assert members(grid, "platform-team") == {"bob": "maintainer", "carol": "member"}
    assert members(grid, "infra") == {}
    repos = get(grid, "/orgs/acme/teams/platform-team/repos")
    assert [(x["full_name"], x["role_name"]) for x in repos] == [("acme/svc", "write")]
    # the team's access is real: carol can push to acme/svc through the team
    assert get(grid, "/repos/acme/svc", "carol")["permissions"]["push"] is True
    grid.ctl("POST", "/stats/reset")
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "No changes" in r.out and "waiting for dave to accept" in r.out, r.out
    calls = {k: v["requests"] for k, v in grid.ctl("GET", "/stats")["by_endpoint"].items()}
    # a converged plan: members by role (2), pending invitations (dave is missing: 1), the teams
    # (1), each team's members and repositories (2 per team that declares them), never per member
    assert calls["orgs/list-members"] == 2 and calls["orgs/list-pending-invitations"] == 1, calls
    assert calls["teams/list"] == 1 and calls["teams/list-members-in-org"] == 1 and calls["teams/list-repos-in-org"] == 1, calls
    assert "teams/get-membership-for-user-in-org" not in calls, calls

    # one field edited: the plan shows exactly that field
    grid.write("grid.yaml", MANIFEST.replace("{bob: maintainer, node-2: member}", "{bob: member, node-2: member}"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ team-member acme/platform-team bob") == ['role: "maintainer" -> "member"'], r.out
    assert "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete." in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    assert members(grid, "platform-team")["bob"] == "member"
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # rollback restores the previous value
    r = grid.check(0, "rollback", "--auto-approve")
    assert members(grid, "platform-team")["bob"] == "maintainer"

    # a team's own field
    grid.write("grid.yaml", MANIFEST.replace("description: Platform engineers", "description: Builders"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ team acme/platform-team") == ['description: "Platform engineers" -> "Builders"'], r.out
    grid.check(0, "apply", "--auto-approve")
    assert get(grid, "/orgs/acme/teams/platform-team")["description"] == "Builders"
    grid.check(0, "rollback", "--auto-approve")
    assert get(grid, "/orgs/acme/teams/platform-team")["description"] == "Platform engineers"

    # destroy: teams deleted, the members gridctl manages removed (bob was adopted), dave's
    # invitation cancelled, alice (gridctl's own account) kept
    r = grid.check(0, "destroy", "--auto-approve")
    assert get(grid, "/orgs/acme/teams") == []
    assert org_roles(grid) == {"alice": "admin"}
    assert get(grid, "/orgs/acme/invitations") == []


@pytest.fixture
def applied(acme):
    acme.write("grid.yaml", MANIFEST)
    acme.check(0, "apply", "--auto-approve")
    return acme


def test_org_role_and_team_permission_edited_one_field_each_then_rolled_back(applied):
    grid = applied
    edited = MANIFEST.replace("    bob: member\n", "    bob: admin\n").replace("{acme/svc: push}", "{acme/svc: maintain}")
    grid.write("grid.yaml", edited)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ org-member acme bob") == ['role: "member" -> "admin"'], r.out
    assert change_block(r.out, "~ team-repo acme/platform-team acme/svc") == ['permission: "push" -> "maintain"'], r.out
    assert "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete." in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    assert org_roles(grid)["bob"] == "admin"
    assert get(grid, "/orgs/acme/teams/platform-team/repos")[0]["role_name"] == "maintain"
    assert grid.run("plan", "--detailed-exitcode").code == 0

    grid.check(0, "rollback", "--auto-approve")
    assert org_roles(grid)["bob"] == "member"
    assert get(grid, "/orgs/acme/teams/platform-team/repos")[0]["role_name"] == "write"


def test_only_what_gridctl_manages_is_removed(applied):
    grid = applied
    # added by hand, not declared: left alone
    assert grid.api("alice", "PUT", "/orgs/acme/teams/infra/memberships/bob", {"role": "member"}).status_code == 200
    assert grid.api("alice", "POST", "/orgs/acme/teams", {"name": "Hand Made"}).status_code == 201
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # dropped from the manifest: gridctl added them, so it removes them (and cancels dave's invitation)
    smaller = MANIFEST.replace("    node-2: member\n    dave: member\n", "").replace(", node-2: member}", "}")
    grid.write("grid.yaml", smaller)
    r = grid.check(2, "plan", "--detailed-exitcode")
    for head in ("- org-member acme carol", "- org-member acme dave", "- team-member acme/platform-team carol"):
        assert head in r.out, r.out
    assert "hand-made" not in r.out and "infra bob" not in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    assert org_roles(grid) == {"alice": "admin", "bob": "member"}
    assert get(grid, "/orgs/acme/invitations") == []
    assert members(grid, "infra") == {"bob": "member"}
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_gridctl_keeps_its_own_account_and_a_parent_delete_is_guarded(applied):
    grid = applied
    # demoting the owner gridctl works with needs --force
    grid.write("grid.yaml", MANIFEST.replace("    alice: admin\n", "    alice: member\n"))
    r = grid.run("apply", "--auto-approve")
    assert r.code == 1 and "takes the owner role from gridctl's own account (alice)" in r.all, r.all
    assert org_roles(grid)["alice"] == "admin"
    # no longer declared: forgotten, never removed
    grid.write("grid.yaml", MANIFEST.replace("    alice: admin\n", ""))
    r = grid.check(0, "apply", "--auto-approve")
    assert "org-member acme alice" not in r.out and org_roles(grid)["alice"] == "admin"
    # a parent gridctl stops declaring while its child stays declared: GitHub would delete both
    moved = MANIFEST.replace("""    Infra:
      description: Infrastructure
      privacy: closed
""", "")
    grid.write("grid.yaml", moved)
    r = grid.run("apply", "--auto-approve")
    assert r.code == 1 and "GitHub deletes its child teams with it" in r.all and "platform-team" in r.all, r.all
    assert get(grid, "/orgs/acme/teams/infra")["slug"] == "infra"
    # un-nesting is one field
    grid.write("grid.yaml", MANIFEST.replace("      parent: Infra\n", ""))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert change_block(r.out, "~ team acme/platform-team") == ['parent: "infra" -> null'], r.out
    grid.check(0, "apply", "--auto-approve")
    assert get(grid, "/orgs/acme/teams/platform-team")["parent"] is None


def test_import_writes_teams_and_members_back(applied):
    grid = applied
    grid.env["GRID_TOKEN_ACME"] = grid.tokens["alice"]
    grid.check(0, "import", "--account", "acme", "-o", "org/grid.yaml")
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load((grid.dir / "org" / "grid.yaml").read_text())
    assert data["org_members"] == {"acme": {"alice": "admin", "bob": "member", "carol": "member"}}
    assert data["teams"] == {"acme": {
        "Infra": {"description": "Infrastructure", "privacy": "closed"},
        "Platform Team": {"description": "Platform engineers", "privacy": "closed", "parent": "Infra", "notifications": "disabled",
                          "members": {"bob": "maintainer", "carol": "member"}, "repos": {"acme/svc": "push"}},
    }}
    r = grid.check(0, "plan", "-f", "org/grid.yaml", "--detailed-exitcode")
    assert "No changes" in r.out, r.out


BAD = [
    ("""\
teams:
  acme:
    Infra: {privacy: secret}
    Platform: {parent: Infra}
""", 7, "has a child team (Platform) and cannot be secret"),
    ("""\
teams:
  acme:
    A: {parent: B}
    B: {parent: A}
""", 7, "its parents form a cycle"),
    ("""\
teams:
  acme:
    Platform: {repos: {alice/pub: push}}
""", 7, "'alice/pub' is not a repository of acme"),
    ("""\
teams:
  acme:
    Platform: {repos: {acme/..: push}}
""", 7, "'acme/..' is not a repository of acme"),
    ("""\
org_members:
  main: {bob: member}
""", 6, "org_members needs an organization account, and main is a user"),
    ("""\
org_members:
  acme: {"bad login!": member}
""", 6, "neither an account id of this manifest nor a valid GitHub login"),
]


@pytest.mark.parametrize(("body", "line", "message"), BAD, ids=["secret-parent", "cycle", "foreign-repo", "dot-dot-repo", "user-account", "bad-login"])
def test_bad_manifests_are_refused_at_their_line(acme, body, line, message):
    grid = acme
    grid.write("grid.yaml", grid_yaml(body, ALICE, ACME))
    r = grid.run("validate")
    assert r.code == 1 and message in r.all and f"grid.yaml:{line}:" in r.all, r.all
    assert "Traceback" not in r.all


def test_tokens_lacking_a_scope_are_refused_at_plan_time(grid):
    grid.user("alice", scopes=("repo",))
    grid.user("bob")
    grid.user("carol", scopes=("repo",))
    grid.org("acme", admins=("alice",), members=("bob",))
    grid.write("grid.yaml", MANIFEST)
    r = grid.run("plan")
    assert r.code == 1 and "account acme: token lacks scope admin:org, needed by teams.acme.Infra" in r.err, r.all
    # the invitee accepts with its own token, which needs write:org (admin:org includes it)
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    r = grid.run("plan")
    assert r.code == 1 and "token lacks scope write:org, needed by org_members.acme.node-2 (accepting the invitation)" in r.err, r.all


def test_rollback_of_the_first_apply_removes_what_it_created(acme):
    grid = acme
    assert grid.api("alice", "POST", "/orgs/acme/repos", {"name": "svc"}).status_code == 201  # adopted, not created
    grid.write("grid.yaml", MANIFEST)
    grid.check(0, "apply", "--auto-approve")
    r = grid.run("rollback", "--auto-approve")
    assert r.code == 0, r.all
    assert "org-invitation" in r.all  # the accept is listed as one that cannot be rolled back
    assert get(grid, "/orgs/acme/teams") == []
    assert org_roles(grid) == {"alice": "admin", "bob": "member"}
    assert get(grid, "/orgs/acme/invitations") == []


def test_saved_plan_applies_and_an_expired_invitation_is_sent_again(acme):
    grid = acme
    grid.write("grid.yaml", MANIFEST)
    grid.check(2, "plan", "--detailed-exitcode", "--out", "plan.json")
    grid.check(0, "apply", "plan.json")
    assert members(grid, "platform-team") == {"bob": "maintainer", "carol": "member"}
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # dave never accepted: after 7 days the invitation is gone, and the plan invites again
    grid.ctl("POST", "/clock", {"advance": 8 * 24 * 3600})
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ org-member acme dave" in r.out and "Plan: 1 to create" in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    assert get(grid, "/orgs/acme/memberships/dave")["state"] == "pending"
