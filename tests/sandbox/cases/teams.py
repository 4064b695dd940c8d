"""Conformance cases: teams (the teams, their members and repositories), organization
memberships and organization invitations, the invitee's side included.

Seed: alice owns acme, bob is a member, carol is not in it."""

from __future__ import annotations

from typing import Any

from ..conformance import Case

T = "/orgs/acme/teams"


# -- setups ----------------------------------------------------------------------------------------
def _ok(resp: Any) -> Any:
    assert resp.status_code < 300, resp.text
    return resp.json() if resp.content else None


def team(seed: Any, name: str = "Platform", **body: Any) -> dict:
    return _ok(seed.call("alice", "POST", T, {"name": name, **body}))


def platform(seed: Any) -> dict:
    return {"team_id": team(seed)["id"]}


def secret_team(seed: Any) -> dict:
    """A secret team bob is not in."""
    team(seed, "Hidden", privacy="secret")
    return {}


def nested(seed: Any) -> dict:
    parent = team(seed, "Infra", privacy="closed")
    team(seed, "Platform", parent_team_id=parent["id"])
    return {"parent_id": parent["id"]}


def with_bob(seed: Any) -> dict:
    out = platform(seed)
    _ok(seed.call("alice", "PUT", T + "/platform/memberships/bob", {"role": "member"}))
    return out


def with_svc(seed: Any) -> dict:
    out = platform(seed)
    seed.call("alice", "PUT", T + "/platform/repos/acme/svc", {"permission": "push"})
    return out


def carol_invited(seed: Any) -> dict:
    _ok(seed.call("alice", "PUT", "/orgs/acme/memberships/carol", {"role": "member"}))
    inv = _ok(seed.call("alice", "GET", "/orgs/acme/invitations"))
    return {"invitation_id": inv[0]["id"]}


def carol_id(seed: Any) -> dict:
    return {"carol_id": _ok(seed.call("carol", "GET", "/user"))["id"], "bob_id": _ok(seed.call("bob", "GET", "/user"))["id"]}


def bob_only_owner(seed: Any) -> dict:
    """bob made an owner; then alice's own demotion keeps one owner."""
    _ok(seed.call("alice", "PUT", "/orgs/acme/memberships/bob", {"role": "admin"}))
    return {}


CASES = [
    # teams
    Case("teams/list", 200, "GET", T, setup=platform),
    Case("teams/list", 403, "GET", T, login="carol", note="not-a-member"),
    Case("teams/create", 201, "POST", T, {"name": "Platform Team", "description": "d", "privacy": "closed",
                                          "notification_setting": "notifications_disabled", "maintainers": ["bob"],
                                          "repo_names": ["acme/svc"]}),
    Case("teams/create", 201, "POST", T, {"name": "Child", "parent_team_id": "{parent_id}"}, setup=nested, note="nested"),
    Case("teams/create", 422, "POST", T, {"name": "platform"}, setup=platform, note="name-taken"),
    Case("teams/create", 422, "POST", T, {"name": "Child", "privacy": "secret", "parent_team_id": "{parent_id}"}, setup=nested,
         note="secret-nested"),
    Case("teams/create", 403, "POST", T, {"name": "Platform"}, login="carol", note="not-a-member"),
    Case("teams/get-by-name", 200, "GET", T + "/platform", setup=nested),
    Case("teams/get-by-name", 404, "GET", T + "/hidden", login="bob", setup=secret_team, note="secret-hidden"),
    Case("teams/update-in-org", 200, "PATCH", T + "/platform", {"name": "Platform Crew", "description": "new",
                                                                "privacy": "closed", "parent_team_id": None}, setup=nested),
    Case("teams/update-in-org", 403, "PATCH", T + "/platform", {"description": "x"}, login="bob", setup=nested, note="member"),
    Case("teams/update-in-org", 422, "PATCH", T + "/infra", {"privacy": "secret"}, setup=nested, note="parent-secret"),
    Case("teams/delete-in-org", 204, "DELETE", T + "/infra", setup=nested),
    Case("teams/delete-in-org", 404, "DELETE", T + "/nope"),
    # members
    Case("teams/list-members-in-org", 200, "GET", T + "/infra/members?role=all", setup=nested),
    Case("teams/list-members-in-org", 404, "GET", T + "/hidden/members", login="bob", setup=secret_team, note="secret-hidden"),
    Case("teams/get-membership-for-user-in-org", 200, "GET", T + "/platform/memberships/bob", setup=with_bob),
    Case("teams/get-membership-for-user-in-org", 404, "GET", T + "/platform/memberships/carol", setup=platform),
    Case("teams/add-or-update-membership-for-user-in-org", 200, "PUT", T + "/platform/memberships/bob", {"role": "maintainer"},
         setup=platform),
    Case("teams/add-or-update-membership-for-user-in-org", 200, "PUT", T + "/platform/memberships/carol", {"role": "member"},
         setup=platform, note="invites-to-the-org"),
    Case("teams/add-or-update-membership-for-user-in-org", 403, "PUT", T + "/platform/memberships/bob", {"role": "member"},
         login="bob", setup=nested, note="not-a-maintainer"),
    Case("teams/remove-membership-for-user-in-org", 204, "DELETE", T + "/platform/memberships/bob", setup=with_bob),
    Case("teams/remove-membership-for-user-in-org", 403, "DELETE", T + "/platform/memberships/alice", login="bob",
         setup=with_bob, note="not-a-maintainer"),
    # repositories
    Case("teams/list-repos-in-org", 200, "GET", T + "/platform/repos", setup=with_svc),
    Case("teams/list-repos-in-org", 404, "GET", T + "/nope/repos"),
    Case("teams/add-or-update-repo-permissions-in-org", 204, "PUT", T + "/platform/repos/acme/svc", {"permission": "maintain"},
         setup=platform),
    Case("teams/add-or-update-repo-permissions-in-org", 422, "PUT", T + "/platform/repos/alice/pub", {"permission": "push"},
         setup=platform, note="not-the-org's"),
    Case("teams/remove-repo-in-org", 204, "DELETE", T + "/platform/repos/acme/svc", setup=with_svc),
    Case("teams/remove-repo-in-org", 404, "DELETE", T + "/platform/repos/acme/svc", setup=platform, note="not-the-team's"),
    # organization members
    Case("orgs/list-members", 200, "GET", "/orgs/acme/members?role=admin"),
    Case("orgs/list-members", 422, "GET", "/orgs/acme/members?role=owner", note="bad-role"),
    Case("orgs/get-membership-for-user", 200, "GET", "/orgs/acme/memberships/carol", setup=carol_invited, note="pending"),
    Case("orgs/set-membership-for-user", 200, "PUT", "/orgs/acme/memberships/bob", {"role": "admin"}),
    Case("orgs/set-membership-for-user", 200, "PUT", "/orgs/acme/memberships/carol", {"role": "member"}, note="invites"),
    Case("orgs/set-membership-for-user", 403, "PUT", "/orgs/acme/memberships/carol", {"role": "member"}, login="bob",
         note="not-an-owner"),
    Case("orgs/set-membership-for-user", 422, "PUT", "/orgs/acme/memberships/alice", {"role": "member"}, note="last-owner"),
    Case("orgs/remove-membership-for-user", 204, "DELETE", "/orgs/acme/memberships/bob"),
    Case("orgs/remove-membership-for-user", 204, "DELETE", "/orgs/acme/memberships/carol", setup=carol_invited,
         note="cancels-the-invitation"),
    Case("orgs/remove-membership-for-user", 403, "DELETE", "/orgs/acme/memberships/alice", login="bob", note="not-an-owner"),
    Case("orgs/remove-membership-for-user", 404, "DELETE", "/orgs/acme/memberships/carol", note="not-a-member"),
    # invitations
    Case("orgs/list-pending-invitations", 200, "GET", "/orgs/acme/invitations", setup=carol_invited),
    Case("orgs/list-pending-invitations", 404, "GET", "/orgs/acme/invitations", login="carol", note="outsider"),
    Case("orgs/create-invitation", 201, "POST", "/orgs/acme/invitations", {"invitee_id": "{carol_id}", "role": "admin"},
         setup=carol_id),
    Case("orgs/create-invitation", 201, "POST", "/orgs/acme/invitations", {"email": "dave@example.com"}, note="email"),
    Case("orgs/create-invitation", 422, "POST", "/orgs/acme/invitations", {"invitee_id": "{bob_id}"}, setup=carol_id,
         note="already-a-member"),
    Case("orgs/cancel-invitation", 204, "DELETE", "/orgs/acme/invitations/{invitation_id}", setup=carol_invited),
    Case("orgs/cancel-invitation", 404, "DELETE", "/orgs/acme/invitations/999999"),
    # the invitee's side
    Case("orgs/list-memberships-for-authenticated-user", 200, "GET", "/user/memberships/orgs?state=pending", login="carol",
         setup=carol_invited),
    Case("orgs/list-memberships-for-authenticated-user", 401, "GET", "/user/memberships/orgs", login=None, note="anonymous"),
    Case("orgs/get-membership-for-authenticated-user", 200, "GET", "/user/memberships/orgs/acme", login="carol",
         setup=carol_invited),
    Case("orgs/get-membership-for-authenticated-user", 404, "GET", "/user/memberships/orgs/acme", login="carol", note="no-invitation"),
    Case("orgs/update-membership-for-authenticated-user", 200, "PATCH", "/user/memberships/orgs/acme", {"state": "active"},
         login="carol", setup=carol_invited),
    Case("orgs/update-membership-for-authenticated-user", 404, "PATCH", "/user/memberships/orgs/acme", {"state": "active"},
         login="carol", note="no-invitation"),
    Case("orgs/update-membership-for-authenticated-user", 422, "PATCH", "/user/memberships/orgs/acme", {"state": "pending"},
         login="carol", setup=carol_invited, note="bad-state"),
]
