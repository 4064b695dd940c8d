"""Kinds ``team``, ``team-member``, ``team-repo``, ``org-member`` and ``org-invitation`` end to end
against the strict sandbox: plan (create) -> apply -> no changes -> one field edited and planned
alone -> apply -> rollback -> destroy; invitations accepted with the invitee's own token;
members nobody declared left alone; bad manifests at their line. What the sandbox holds is read
back with raw requests, independently of gridctl."""

from __future__ import annotations

from typing import Any

import pytest

from ..helpers import ACME, ALICE, grid_yaml

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


def get(grid: Any, path: str, login: str = "alice") -> Any:
    resp = grid.api(login, "GET", path)
    assert resp.status_code == 200, resp.text
    return resp.json()


def members(grid: Any, team: str) -> dict[str, str]:
    return {m["login"]: m["role"] for m in get(grid, f"/orgs/acme/teams/{team}/members") if not m["inherited"]}


def org_roles(grid: Any) -> dict[str, str]:
    admins = {m["login"] for m in get(grid, "/orgs/acme/members?role=admin")}
    return {m["login"]: ("admin" if m["login"] in admins else "member") for m in get(grid, "/orgs/acme/members")}


def change_block(out: str, head: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(head))
    block = []
    for line in lines[start + 1:]:
        if not line.startswith("      "):
            break
        block.append(line.strip())
    return block


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
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "No changes" in r.out and "waiting for dave to accept" in r.out, r.out

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

    # destroy: teams deleted, the members gridctl manages removed (bob was adopted), dave's
    # invitation cancelled, alice (gridctl's own account) kept
    r = grid.check(0, "destroy", "--auto-approve")
    assert get(grid, "/orgs/acme/teams") == []
    assert org_roles(grid) == {"alice": "admin"}
    assert get(grid, "/orgs/acme/invitations") == []
