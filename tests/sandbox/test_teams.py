"""Teams, organization memberships and invitations in the strict sandbox, through PyGithub and raw
requests: who sees what, what a team's access gives, nesting, and the invitation's life (accepted
by the invitee's own token, cancelled, expired).

Seed: alice owns acme, bob is a member, carol is not in it; acme/svc is private."""

from __future__ import annotations

from typing import Any


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json() if resp.content else None


def test_pygithub_manages_teams_members_and_repositories(seed):
    org = seed.gh("alice").get_organization("acme")
    parent = org.create_team("Infra", privacy="closed")
    team = org.create_team("Platform Team", description="builders", parent_team_id=parent.id)
    assert (team.slug, team.privacy, team.parent.slug) == ("platform-team", "closed", "infra")
    assert {t.slug for t in org.get_teams()} == {"infra", "platform-team"}
    # the creator is a maintainer
    assert [(m.login, team.get_team_membership(m).role) for m in team.get_members()] == [("alice", "maintainer")]
    team.add_membership(seed.gh("alice").get_user("bob"), "member")
    team.update_team_repository(seed.gh("alice").get_repo("acme/svc"), "push")
    assert [(r.full_name, r.permissions.push, r.permissions.admin) for r in team.get_repos()] == [("acme/svc", True, False)]
    team.edit("Platform Team", description="renamed", privacy="closed")
    assert org.get_team_by_slug("platform-team").description == "renamed"
    # the parent's members include its child's, marked as inherited
    rows = ok(seed.call("alice", "GET", "/orgs/acme/teams/infra/members"))
    assert {(r["login"], r["inherited"]) for r in rows} == {("alice", False), ("bob", True)}
    # deleting the parent deletes the child
    parent.delete()
    assert list(org.get_teams()) == []


def test_team_access_counts_for_members_and_child_teams(seed):
    ok(seed.call("alice", "POST", "/orgs/acme/teams", {"name": "Infra", "privacy": "closed"}), 201)
    ok(seed.call("alice", "POST", "/orgs/acme/teams", {"name": "Child", "parent_team_slug": "infra"}), 201)
    ok(seed.call("alice", "PUT", "/orgs/acme/teams/infra/repos/acme/svc", {"permission": "maintain"}), 204)
    before = ok(seed.call("bob", "GET", "/repos/acme/svc"))["permissions"]
    assert before["maintain"] is False  # the organization's base permission: read
    ok(seed.call("alice", "PUT", "/orgs/acme/teams/child/memberships/bob", {"role": "member"}))
    assert ok(seed.call("bob", "GET", "/repos/acme/svc"))["permissions"]["maintain"] is True
    ok(seed.call("alice", "DELETE", "/orgs/acme/teams/infra/repos/acme/svc"), 204)
    assert ok(seed.call("bob", "GET", "/repos/acme/svc"))["permissions"]["maintain"] is False


def test_secret_teams_are_seen_by_owners_and_their_members_only(seed):
    ok(seed.call("alice", "POST", "/orgs/acme/teams", {"name": "Hidden"}), 201)  # secret by default
    ok(seed.call("alice", "POST", "/orgs/acme/teams", {"name": "Open", "privacy": "closed"}), 201)
    assert [t["slug"] for t in ok(seed.call("bob", "GET", "/orgs/acme/teams"))] == ["open"]
    assert seed.call("bob", "GET", "/orgs/acme/teams/hidden").status_code == 404
    assert seed.call("carol", "GET", "/orgs/acme/teams/open").status_code == 404
    ok(seed.call("alice", "PUT", "/orgs/acme/teams/hidden/memberships/bob", {}))
    assert [t["slug"] for t in ok(seed.call("bob", "GET", "/orgs/acme/teams"))] == ["hidden", "open"]
    # a member may create a team (and maintains it), not edit one it does not maintain
    ok(seed.call("bob", "POST", "/orgs/acme/teams", {"name": "Bobs"}), 201)
    ok(seed.call("bob", "PATCH", "/orgs/acme/teams/bobs", {"description": "mine"}))
    assert seed.call("bob", "PATCH", "/orgs/acme/teams/open", {"description": "x"}).status_code == 403
    # nesting rules
    r = seed.call("alice", "PATCH", "/orgs/acme/teams/open", {"parent_team_slug": "hidden"})
    assert r.status_code == 422 and "secret" in r.text
    ok(seed.call("alice", "PATCH", "/orgs/acme/teams/hidden", {"parent_team_slug": "open"}))
    assert ok(seed.call("alice", "GET", "/orgs/acme/teams/hidden"))["privacy"] == "closed"  # nesting made it visible
    r = seed.call("alice", "PATCH", "/orgs/acme/teams/open", {"parent_team_slug": "hidden"})
    assert r.status_code == 422 and "ancestor" in r.text


def test_invitation_accepted_by_the_invitee_joins_the_organization_and_its_teams(seed):
    ok(seed.call("alice", "POST", "/orgs/acme/teams", {"name": "Platform", "privacy": "closed"}), 201)
    assert ok(seed.call("alice", "PUT", "/orgs/acme/teams/platform/memberships/carol", {"role": "maintainer"}))["state"] == "pending"
    assert ok(seed.call("alice", "GET", "/orgs/acme/memberships/carol"))["state"] == "pending"
    inv = ok(seed.call("alice", "GET", "/orgs/acme/invitations"))
    assert [(i["login"], i["role"], i["team_count"]) for i in inv] == [("carol", "direct_member", 1)]
    # only the invitee can accept, with its own token
    assert seed.call("bob", "PATCH", "/user/memberships/orgs/acme", {"state": "active"}).status_code == 200  # bob: already active
    mine = ok(seed.call("carol", "PATCH", "/user/memberships/orgs/acme", {"state": "active"}))
    assert (mine["state"], mine["role"]) == ("active", "member")
    assert ok(seed.call("alice", "GET", "/orgs/acme/teams/platform/memberships/carol"))["role"] == "maintainer"
    assert ok(seed.call("alice", "GET", "/orgs/acme/invitations")) == []
    # leaving the organization leaves its teams
    ok(seed.call("alice", "DELETE", "/orgs/acme/memberships/carol"), 204)
    assert seed.call("alice", "GET", "/orgs/acme/teams/platform/memberships/carol").status_code == 404


def test_invitations_are_cancelled_and_expire(seed):
    ok(seed.call("alice", "PUT", "/orgs/acme/memberships/carol", {"role": "admin"}))
    ok(seed.call("alice", "DELETE", "/orgs/acme/memberships/carol"), 204)  # cancels the invitation
    assert seed.call("carol", "GET", "/user/memberships/orgs/acme").status_code == 404
    ok(seed.call("alice", "PUT", "/orgs/acme/memberships/carol", {"role": "admin"}))
    seed.ctl("POST", "/clock", {"advance": 8 * 24 * 3600})
    assert ok(seed.call("alice", "GET", "/orgs/acme/invitations")) == []
    assert seed.call("carol", "PATCH", "/user/memberships/orgs/acme", {"state": "active"}).status_code == 404
    # inviting again works once the old invitation expired
    assert ok(seed.call("alice", "PUT", "/orgs/acme/memberships/carol", {"role": "member"}))["state"] == "pending"
    # the last owner stays
    r = seed.call("alice", "DELETE", "/orgs/acme/memberships/alice")
    assert r.status_code == 422 and "at least one owner" in r.text
