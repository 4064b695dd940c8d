"""Collaborators and invitations driven through the real PyGithub, two accounts at a time.

Seed (conftest.py): alice owns alice/pub and alice/priv and is admin of acme; bob is a member
of acme; carol belongs to no organization. Every sandbox here is strict: each response is also
checked against GitHub's OpenAPI description.
"""

from __future__ import annotations

import pytest
from github import GithubException, UnknownObjectException


def _invite_and_accept(seed, login: str, permission: str = "push", repo: str = "alice/priv") -> None:
    inv = seed.gh("alice").get_repo(repo).add_to_collaborators(login, permission)
    assert inv is not None
    seed.gh(login).get_user().accept_invitation(inv.id)


def _logins(users) -> list[str]:
    return [u.login for u in users]


def test_invite_then_accept_gives_access(seed):
    gh_alice, gh_bob = seed.gh("alice"), seed.gh("bob")
    repo = gh_alice.get_repo("alice/priv")

    inv = repo.add_to_collaborators("bob", "push")
    assert inv is not None
    assert inv.permissions == "write"  # the invitation vocabulary, not the PUT's "push"
    assert inv.invitee.login == "bob" and inv.inviter.login == "alice"
    assert inv.repository.full_name == "alice/priv"
    assert inv.expired is False

    # invited is not a collaborator: bob sees nothing yet
    with pytest.raises(UnknownObjectException):
        gh_bob.get_repo("alice/priv")
    assert repo.has_in_collaborators("bob") is False
    assert repo.get_collaborator_permission("bob") == "none"
    assert [i.id for i in repo.get_pending_invitations()] == [inv.id]

    mine = list(gh_bob.get_user().get_invitations())
    assert [i.id for i in mine] == [inv.id]
    assert mine[0].repository.full_name == "alice/priv"
    gh_bob.get_user().accept_invitation(mine[0])

    bob_view = gh_bob.get_repo("alice/priv")
    assert bob_view.permissions.push is True and bob_view.permissions.admin is False
    assert repo.has_in_collaborators("bob") is True
    assert repo.get_collaborator_permission("bob") == "write"
    assert repo.get_collaborator_role_name("bob") == "write"
    assert list(repo.get_pending_invitations()) == []
    assert list(gh_bob.get_user().get_invitations()) == []
    # accepting twice: the invitation is gone
    with pytest.raises(UnknownObjectException):
        gh_bob.get_user().accept_invitation(inv.id)


def test_collaborators_paginate_with_link_header(seed):
    for login in ("dave", "erin"):
        seed.tokens[login] = seed.sb.add_user(login)
    for login in ("bob", "carol", "dave", "erin"):
        _invite_and_accept(seed, login)

    paged = seed.gh("alice", per_page=2).get_repo("alice/priv").get_collaborators()
    assert _logins(paged) == ["alice", "bob", "carol", "dave", "erin"]
    assert paged.totalCount == 5

    # the raw pages and their Link header
    resp = seed.call("alice", "GET", "/repos/alice/priv/collaborators?per_page=2")
    assert [c["login"] for c in resp.json()] == ["alice", "bob"]
    assert 'rel="next"' in resp.headers["Link"] and "page=3" in resp.headers["Link"]
    last = seed.call("alice", "GET", "/repos/alice/priv/collaborators?per_page=2&page=3").json()
    assert [c["login"] for c in last] == ["erin"]
    owner = resp.json()[0]
    assert owner["role_name"] == "admin" and owner["permissions"]["admin"] is True


def test_change_permission_of_existing_collaborator(seed):
    _invite_and_accept(seed, "bob", "push")
    repo = seed.gh("alice").get_repo("alice/priv")

    assert repo.add_to_collaborators("bob", "maintain") is None  # 204: no new invitation
    assert repo.get_collaborator_permission("bob") == "write"  # legacy vocabulary
    assert repo.get_collaborator_role_name("bob") == "maintain"
    assert "bob" in _logins(repo.get_collaborators(permission="maintain"))
    assert list(repo.get_pending_invitations()) == []

    assert repo.add_to_collaborators("bob", "pull") is None
    assert repo.get_collaborator_permission("bob") == "read"
    assert "bob" not in _logins(repo.get_collaborators(permission="push"))
    assert seed.gh("bob").get_repo("alice/priv").permissions.push is False

    # a PUT without a permission leaves the role alone
    assert repo.add_to_collaborators("bob") is None
    assert repo.get_collaborator_role_name("bob") == "read"


def test_decline_leaves_no_access(seed):
    gh_carol = seed.gh("carol")
    repo = seed.gh("alice").get_repo("alice/priv")
    inv = repo.add_to_collaborators("carol", "admin")
    assert inv.permissions == "admin"

    # PyGithub has no decline method: the documented requester pattern
    gh_carol.requester.requestJsonAndCheck("DELETE", f"/user/repository_invitations/{inv.id}")

    assert list(repo.get_pending_invitations()) == []
    assert list(gh_carol.get_user().get_invitations()) == []
    with pytest.raises(UnknownObjectException):
        gh_carol.get_repo("alice/priv")
    with pytest.raises(UnknownObjectException):
        gh_carol.get_user().accept_invitation(inv.id)


def test_remove_collaborator(seed):
    _invite_and_accept(seed, "bob", "admin")
    gh_bob = seed.gh("bob")
    repo = seed.gh("alice").get_repo("alice/priv")
    # bob, an admin collaborator, invites carol; removing bob cancels what he sent
    sent = gh_bob.get_repo("alice/priv").add_to_collaborators("carol", "pull")
    assert sent.inviter.login == "bob"

    repo.remove_from_collaborators("bob")

    with pytest.raises(UnknownObjectException):
        gh_bob.get_repo("alice/priv")
    assert repo.has_in_collaborators("bob") is False
    assert _logins(repo.get_collaborators()) == ["alice"]
    assert list(repo.get_pending_invitations()) == []
    assert list(seed.gh("carol").get_user().get_invitations()) == []


def test_remove_does_not_cancel_an_invitation_to_the_user(seed):
    repo = seed.gh("alice").get_repo("alice/priv")
    inv = repo.add_to_collaborators("carol", "push")
    repo.remove_from_collaborators("carol")  # carol is not a collaborator yet: 204, nothing else
    assert [i.id for i in repo.get_pending_invitations()] == [inv.id]
    repo.remove_invitation(inv.id)
    assert list(repo.get_pending_invitations()) == []
    with pytest.raises(UnknownObjectException):
        seed.gh("carol").get_user().accept_invitation(inv.id)


def test_collaborator_may_remove_themselves_but_not_others(seed):
    _invite_and_accept(seed, "bob", "push")
    _invite_and_accept(seed, "carol", "push")
    bob_repo = seed.gh("bob").get_repo("alice/priv")
    with pytest.raises(GithubException) as err:
        bob_repo.remove_from_collaborators("carol")
    assert err.value.status == 403
    with pytest.raises(GithubException) as err:
        bob_repo.add_to_collaborators("carol", "admin")
    assert err.value.status == 403
    bob_repo.remove_from_collaborators("bob")
    with pytest.raises(UnknownObjectException):
        seed.gh("bob").get_repo("alice/priv")
    assert _logins(seed.gh("alice").get_repo("alice/priv").get_collaborators()) == ["alice", "carol"]


def test_update_pending_invitation_then_accept(seed):
    repo = seed.gh("alice").get_repo("alice/priv")
    inv = repo.add_to_collaborators("bob", "pull")
    assert inv.permissions == "read"
    _, data = seed.gh("alice").requester.requestJsonAndCheck(
        "PATCH", f"/repos/alice/priv/invitations/{inv.id}", input={"permissions": "maintain"}
    )
    assert data["permissions"] == "maintain"
    # inviting again returns the same open invitation (with the permission asked for now)
    again = repo.add_to_collaborators("bob", "triage")
    assert again.id == inv.id and again.permissions == "triage"
    seed.gh("bob").get_user().accept_invitation(inv.id)
    assert repo.get_collaborator_role_name("bob") == "triage"
    assert repo.get_collaborator_permission("bob") == "read"


def test_expired_invitation(seed):
    repo = seed.gh("alice").get_repo("alice/priv")
    inv = repo.add_to_collaborators("carol", "push")
    seed.ctl("POST", "/clock", {"advance": 8 * 24 * 3600})

    pending = list(repo.get_pending_invitations())
    assert [(i.id, i.expired) for i in pending] == [(inv.id, True)]
    assert list(seed.gh("carol").get_user().get_invitations()) == []
    with pytest.raises(UnknownObjectException):
        seed.gh("carol").get_user().accept_invitation(inv.id)

    fresh = repo.add_to_collaborators("carol", "push")
    assert fresh.id != inv.id and fresh.expired is False
    seed.gh("carol").get_user().accept_invitation(fresh.id)
    assert repo.get_collaborator_permission("carol") == "write"


def test_org_repository_members_and_outside_collaborators(seed):
    svc = seed.gh("alice").get_repo("acme/svc")
    # bob is an org member: added directly, no invitation
    assert svc.add_to_collaborators("bob", "push") is None
    assert svc.get_collaborator_role_name("bob") == "write"
    assert list(svc.get_pending_invitations()) == []
    # carol is an outsider: invited
    inv = svc.add_to_collaborators("carol", "triage")
    seed.gh("carol").get_user().accept_invitation(inv.id)

    assert _logins(svc.get_collaborators()) == ["alice", "bob", "carol"]
    assert _logins(svc.get_collaborators(affiliation="direct")) == ["bob", "carol"]
    assert _logins(svc.get_collaborators(affiliation="outside")) == ["carol"]
    assert _logins(svc.get_collaborators(permission="admin")) == ["alice"]
    roles = {c.login: c.role_name for c in svc.get_collaborators()}
    assert roles == {"alice": "admin", "bob": "write", "carol": "triage"}
    # org admin alice is a collaborator without being one directly
    assert svc.has_in_collaborators("alice") is True


def test_add_collaborator_refusals(seed):
    repo = seed.gh("alice").get_repo("alice/priv")
    for who in ("nobody", "alice", "acme"):
        with pytest.raises(GithubException) as err:
            repo.add_to_collaborators(who, "push")
        assert err.value.status == 422, who
    with pytest.raises(GithubException) as err:
        repo.add_to_collaborators("bob", "superuser")
    assert err.value.status == 422
    assert list(repo.get_pending_invitations()) == []
    # carol cannot see alice/priv at all: 404, not 403
    with pytest.raises(UnknownObjectException):
        seed.gh("carol").requester.requestJsonAndCheck("PUT", "/repos/alice/priv/collaborators/carol")


def test_read_only_user_cannot_list_collaborators(seed):
    pub = seed.gh("carol").get_repo("alice/pub")
    with pytest.raises(GithubException) as err:
        list(pub.get_collaborators())
    assert err.value.status == 403
    assert "push access" in err.value.data["message"]
