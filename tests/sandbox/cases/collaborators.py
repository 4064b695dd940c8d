"""Conformance cases: collaborators and repository invitations.

Seed: alice owns alice/pub (public) and alice/priv (private) and is admin of acme; bob is a
member of acme (base permission read); carol belongs to no organization.
"""

from __future__ import annotations

from ..conformance import Case

C = "/repos/alice/priv/collaborators"


def _ok(resp, *statuses: int):
    assert resp.status_code in statuses, f"setup: {resp.status_code} {resp.text[:300]}"
    return resp


def invite(who: str = "bob", repo: str = "alice/priv", permission: str = "push"):
    """Setup: alice invites ``who``; ``{inv}`` is the invitation id."""

    def setup(seed) -> dict:
        resp = _ok(seed.call("alice", "PUT", f"/repos/{repo}/collaborators/{who}", {"permission": permission}), 201)
        return {"inv": resp.json()["id"]}

    return setup


def collaborate(*who: str, repo: str = "alice/priv", permission: str = "push"):
    """Setup: each of ``who`` is invited and accepts."""

    def setup(seed) -> dict:
        out = {}
        for login in who:
            inv = _ok(seed.call("alice", "PUT", f"/repos/{repo}/collaborators/{login}", {"permission": permission}), 201).json()
            _ok(seed.call(login, "PATCH", f"/user/repository_invitations/{inv['id']}", {}), 204)
            out[login] = inv["id"]
        return out

    return setup


CASES = [
    # -- list collaborators
    Case("repos/list-collaborators", 200, "GET", C, note="owner-only"),
    Case("repos/list-collaborators", 200, "GET", "/repos/acme/svc/collaborators?affiliation=all", note="org"),
    Case("repos/list-collaborators", 200, "GET", C + "?affiliation=direct&per_page=1&page=2",
         setup=collaborate("bob", "carol"), note="paged"),
    Case("repos/list-collaborators", 200, "GET", C + "?permission=push", login="bob",
         setup=collaborate("bob"), note="as-write-collaborator"),
    Case("repos/list-collaborators", 404, "GET", C, login="carol", note="private-hidden"),
    Case("repos/list-collaborators", 403, "GET", "/repos/alice/pub/collaborators", login="carol", note="read-only"),
    Case("repos/list-collaborators", 401, "GET", "/repos/alice/pub/collaborators", login=None, note="anonymous"),
    Case("repos/list-collaborators", 422, "GET", C + "?affiliation=everyone", note="bad-affiliation"),
    # -- check collaborator
    Case("repos/check-collaborator", 204, "GET", C + "/alice", note="owner"),
    Case("repos/check-collaborator", 204, "GET", "/repos/acme/svc/collaborators/bob", note="org-member"),
    Case("repos/check-collaborator", 404, "GET", C + "/bob", setup=invite("bob"), note="only-invited"),
    Case("repos/check-collaborator", 404, "GET", C + "/alice", login="carol", note="private-hidden"),
    # -- add collaborator
    Case("repos/add-collaborator", 201, "PUT", C + "/bob", {"permission": "push"}, note="invite"),
    Case("repos/add-collaborator", 201, "PUT", C + "/carol", note="no-body"),
    Case("repos/add-collaborator", 201, "PUT", C + "/bob", {"permission": "admin"}, setup=invite("bob"), note="re-invite"),
    Case("repos/add-collaborator", 204, "PUT", C + "/bob", {"permission": "maintain"},
         setup=collaborate("bob"), note="existing-collaborator"),
    Case("repos/add-collaborator", 204, "PUT", "/repos/acme/svc/collaborators/bob", {"permission": "triage"}, note="org-member"),
    Case("repos/add-collaborator", 422, "PUT", C + "/nobody", {"permission": "push"}, note="unknown-user"),
    Case("repos/add-collaborator", 422, "PUT", C + "/alice", {"permission": "push"}, note="owner"),
    Case("repos/add-collaborator", 422, "PUT", C + "/acme", note="organization"),
    Case("repos/add-collaborator", 422, "PUT", C + "/bob", {"permission": "superuser"}, note="bad-permission"),
    Case("repos/add-collaborator", 422, "PUT", C + "/bob", {"permission": 5}, note="schema"),
    Case("repos/add-collaborator", 403, "PUT", C + "/carol", {"permission": "pull"}, login="bob",
         setup=collaborate("bob"), note="not-admin"),
    Case("repos/add-collaborator", 404, "PUT", C + "/carol", login="carol", note="private-hidden"),
    # -- remove collaborator
    Case("repos/remove-collaborator", 204, "DELETE", C + "/bob", setup=collaborate("bob"), note="by-admin"),
    Case("repos/remove-collaborator", 204, "DELETE", C + "/bob", login="bob", setup=collaborate("bob"), note="self"),
    Case("repos/remove-collaborator", 403, "DELETE", C + "/carol", login="bob",
         setup=collaborate("bob", "carol"), note="not-admin"),
    Case("repos/remove-collaborator", 422, "DELETE", C + "/alice", note="owner"),
    Case("repos/remove-collaborator", 404, "DELETE", C + "/bob", login="carol", note="private-hidden"),
    # -- permission level
    Case("repos/get-collaborator-permission-level", 200, "GET", C + "/alice/permission", note="owner"),
    Case("repos/get-collaborator-permission-level", 200, "GET", C + "/bob/permission",
         setup=collaborate("bob", permission="maintain"), note="maintain"),
    Case("repos/get-collaborator-permission-level", 200, "GET", C + "/carol/permission", note="none"),
    Case("repos/get-collaborator-permission-level", 404, "GET", C + "/nobody/permission", note="unknown-user"),
    Case("repos/get-collaborator-permission-level", 403, "GET", "/repos/alice/pub/collaborators/alice/permission",
         login="carol", note="read-only"),
    # -- invitations, the repository's side
    Case("repos/list-invitations", 200, "GET", "/repos/alice/priv/invitations", setup=invite("bob")),
    Case("repos/list-invitations", 200, "GET", "/repos/alice/priv/invitations", note="empty"),
    Case("repos/list-invitations", 403, "GET", "/repos/alice/priv/invitations", login="bob",
         setup=collaborate("bob"), note="not-admin"),
    Case("repos/list-invitations", 404, "GET", "/repos/alice/priv/invitations", login="carol", note="private-hidden"),
    Case("repos/update-invitation", 200, "PATCH", "/repos/alice/priv/invitations/{inv}", {"permissions": "maintain"},
         setup=invite("bob")),
    Case("repos/update-invitation", 404, "PATCH", "/repos/alice/priv/invitations/999999", {"permissions": "read"},
         note="unknown"),
    Case("repos/update-invitation", 404, "PATCH", "/repos/alice/priv/invitations/{inv}", {"permissions": "read"},
         setup=invite("bob", repo="alice/pub"), note="other-repo"),
    Case("repos/update-invitation", 422, "PATCH", "/repos/alice/priv/invitations/{inv}", {"permissions": "push"},
         setup=invite("bob"), note="collaborator-vocabulary"),
    Case("repos/delete-invitation", 204, "DELETE", "/repos/alice/priv/invitations/{inv}", setup=invite("bob")),
    Case("repos/delete-invitation", 404, "DELETE", "/repos/alice/priv/invitations/999999", note="unknown"),
    Case("repos/delete-invitation", 403, "DELETE", "/repos/alice/pub/invitations/{inv}", login="carol",
         setup=invite("bob", repo="alice/pub"), note="not-admin"),
    # -- invitations, the invitee's side
    Case("repos/list-invitations-for-authenticated-user", 200, "GET", "/user/repository_invitations", login="bob",
         setup=invite("bob")),
    Case("repos/list-invitations-for-authenticated-user", 401, "GET", "/user/repository_invitations", login=None),
    Case("repos/accept-invitation-for-authenticated-user", 204, "PATCH", "/user/repository_invitations/{inv}", {},
         login="bob", setup=invite("bob")),
    Case("repos/accept-invitation-for-authenticated-user", 404, "PATCH", "/user/repository_invitations/{inv}", {},
         login="carol", setup=invite("bob"), note="not-theirs"),
    Case("repos/accept-invitation-for-authenticated-user", 404, "PATCH", "/user/repository_invitations/999999", {},
         login="bob", note="unknown"),
    Case("repos/decline-invitation-for-authenticated-user", 204, "DELETE", "/user/repository_invitations/{inv}",
         login="bob", setup=invite("bob")),
    Case("repos/decline-invitation-for-authenticated-user", 404, "DELETE", "/user/repository_invitations/{inv}",
         login="alice", setup=invite("bob"), note="inviter-cannot"),
    Case("repos/decline-invitation-for-authenticated-user", 401, "DELETE", "/user/repository_invitations/1",
         login=None, note="anonymous"),
]
