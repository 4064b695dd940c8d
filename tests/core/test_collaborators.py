"""End to end: collaborators, invitations and their acceptance by invitees of the manifest."""

from __future__ import annotations

import json

from ..helpers import ACME, ALICE, NODE_BOB, NODE_CAROL, grid_yaml

MANIFEST = grid_yaml("""\
repos:
  alice/demo:
    visibility: private
    collaborators:
      node-1: push
      node-2: push
""", ALICE, NODE_BOB, NODE_CAROL)


def _users(grid, *logins):
    for login in logins:
        grid.user(login)


def _roles(grid, full="alice/demo"):
    """{login: role_name} of the direct collaborators, as the owner sees them."""
    r = grid.api("alice", "GET", f"/repos/{full}/collaborators?affiliation=direct")
    assert r.status_code == 200, r.text
    return {c["login"]: c["role_name"] for c in r.json() if c["login"] != "alice"}


def _invitations(grid, full="alice/demo"):
    """{invitee: permissions} of the pending invitations, as the owner sees them."""
    return {i.invitee.login: i.permissions for i in grid.gh("alice").get_repo(full).get_pending_invitations()}


def _invite_by_hand(grid, login, permission="push", full="alice/demo", accept=False):
    r = grid.api("alice", "PUT", f"/repos/{full}/collaborators/{login}", {"permission": permission})
    assert r.status_code == 201, r.text
    if accept:
        me = grid.gh(login).get_user()
        for inv in me.get_invitations():
            if inv.repository.full_name == full:
                me.accept_invitation(inv.id)


def _converged(grid):
    grid.write("grid.yaml", MANIFEST)
    r = grid.check(0, "apply", "--auto-approve")
    return r


def test_one_apply_sends_and_accepts_invitations(grid):
    _users(grid, "alice", "bob", "carol")
    grid.write("grid.yaml", MANIFEST)
    r = grid.check(2, "plan", "--detailed-exitcode")
    for login in ("bob", "carol"):
        assert f"+ collaborator alice/demo {login}" in r.out
        assert f"+ invitation alice/demo {login}" in r.out
    assert "Plan: 5 to create" in r.out, r.out  # repo + 2 invitations + 2 accepts
    r = grid.check(0, "apply", "--auto-approve")
    # the invitees have write access, seen with their own tokens
    for login in ("bob", "carol"):
        repo = grid.gh(login).get_repo("alice/demo")
        assert repo.permissions.push is True and repo.permissions.admin is False
        assert list(grid.gh(login).get_user().get_invitations()) == []
    assert _roles(grid) == {"bob": "write", "carol": "write"}
    assert _invitations(grid) == {}
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "No changes" in r.out and "note:" not in r.out
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())["resources"]
    assert state["collaborator:alice/demo:bob"]["login"] == "bob"
    assert state["invitation:alice/demo:carol"]["invitee_account"] == "node-2"
    # the invitees' tokens were used, and never written or shown
    r = grid.run("plan", "--format", "json")
    assert json.loads(r.out)["changes"] == []
    for login in ("alice", "bob", "carol"):
        token = grid.tokens[login]
        assert token not in r.all
        for name, data in grid.files_written().items():
            assert token.encode() not in data, name


def test_plan_shows_where_collaborators_are_declared(grid):
    _users(grid, "alice", "bob", "carol")
    grid.write("grid.yaml", MANIFEST + "      dave: triage\n")
    r = grid.check(0, "plan", "--format", "json")
    changes = {c["address"]: c for c in json.loads(r.out)["changes"]}
    assert changes["collaborator:alice/demo:bob"]["source"] == "grid.yaml:10"
    assert changes["collaborator:alice/demo:dave"]["source"] == "grid.yaml:12"
    assert changes["collaborator:alice/demo:dave"]["after"] == {"login": "dave", "role": "triage"}
    assert changes["invitation:alice/demo:carol"]["meta"]["invitee_account"] == "node-2"
    assert "invitation:alice/demo:dave" not in changes  # dave is no account of the manifest


def test_accept_of_an_invitation_sent_earlier(grid):
    """The invitation exists already (sent by hand): only the accept is planned."""
    _users(grid, "alice", "bob", "carol")
    grid.write("grid.yaml", MANIFEST.replace("      node-2: push\n", ""))
    assert grid.run("apply", "--auto-approve", "--target", "repo").code == 0
    _invite_by_hand(grid, "bob", "push")
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "collaborator alice/demo bob" not in r.out  # in progress, not a diff
    assert "+ invitation alice/demo bob" in r.out and "Plan: 1 to create" in r.out
    assert "waiting for bob" not in r.out  # bob is an account of the manifest: the accept is planned
    assert grid.run("apply", "--auto-approve").code == 0
    assert grid.gh("bob").get_repo("alice/demo").permissions.push is True
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_saved_plan_invites_and_accepts(grid):
    """A saved plan applies the same way (stale checks re-read each target first)."""
    _users(grid, "alice", "bob", "carol")
    grid.write("grid.yaml", MANIFEST)
    assert grid.run("apply", "--auto-approve", "--target", "repo").code == 0
    assert grid.run("plan", "--out", "plan.json").code == 0
    plan = json.loads((grid.dir / "plan.json").read_text())
    assert plan["summary"]["create"] == 4
    grid.check(0, "apply", "plan.json", "--auto-approve")
    assert _roles(grid) == {"bob": "write", "carol": "write"}
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_no_change_plan_api_calls(grid):
    """A repository with 3 accepted collaborators: one list call, no invitation read, no write."""
    _users(grid, "alice", "bob", "carol", "dave")
    manifest = MANIFEST + "      dave: maintain\n"
    grid.write("grid.yaml", manifest)
    assert grid.run("apply", "--auto-approve").code == 0
    _invite_accepted = [i for i in grid.gh("dave").get_user().get_invitations()]
    assert len(_invite_accepted) == 1
    grid.gh("dave").get_user().accept_invitation(_invite_accepted[0].id)
    assert _roles(grid) == {"bob": "write", "carol": "write", "dave": "maintain"}
    assert grid.run("plan", "--detailed-exitcode").code == 0  # warm the ETag caches
    before = grid.ctl("GET", "/stats")["by_endpoint"]
    r = grid.run("plan", "--detailed-exitcode")
    after = grid.ctl("GET", "/stats")["by_endpoint"]
    assert r.code == 0, r.all

    def delta(op: str, what: str) -> int:
        return after.get(op, {}).get(what, 0) - before.get(op, {}).get(what, 0)

    calls = {op: delta(op, "requests") for op in after if delta(op, "requests")}
    print("no-change plan, API calls per endpoint:", calls)
    # collaborators and invitations cost one list call (the invitation kind shares it)...
    assert {op: n for op, n in calls.items() if "collaborator" in op or "invitation" in op} == {
        "repos/list-collaborators": 1
    }
    assert calls.get("repos/get") == 1  # ...besides the repository itself, shared by every kind
    assert calls.get("users/get-authenticated") == 3  # the token check, once per account
    # and nothing is written: every answer is a 200 or a 304 to a GET
    for op in calls:
        statuses = {k: delta(op, k) for k in after[op] if k.startswith("status_") and delta(op, k)}
        assert set(statuses) <= {"status_200", "status_304"}, (op, statuses)
    assert delta("repos/list-collaborators", "not_modified") == 1  # conditional: no rate-limit point


def test_external_collaborator_stays_pending_with_a_note(grid):
    _users(grid, "alice", "bob", "carol", "dave")
    manifest = MANIFEST + "      dave: triage\n"
    grid.write("grid.yaml", manifest)
    r = grid.check(0, "apply", "--auto-approve")
    assert "+ collaborator alice/demo dave" in r.out and "invitation alice/demo dave" not in r.out
    assert _invitations(grid) == {"dave": "triage"}
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "No changes" in r.out
    assert "note: collaborator:alice/demo:dave: invitation sent; waiting for dave to accept" in r.out
    # once dave accepts, the note goes away and nothing is planned
    _inv = list(grid.gh("dave").get_user().get_invitations())[0]
    grid.gh("dave").get_user().accept_invitation(_inv.id)
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 0 and "note:" not in r.out, r.all


def test_role_change_of_an_accepted_collaborator(grid):
    _users(grid, "alice", "bob", "carol")
    _converged(grid)
    grid.write("grid.yaml", MANIFEST.replace("node-1: push", "node-1: maintain"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "~ collaborator alice/demo bob" in r.out and 'role: "write" -> "maintain"' in r.out
    assert "Plan: 0 to create, 1 to update" in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    assert _roles(grid) == {"bob": "maintain", "carol": "write"}
    assert grid.gh("bob").get_repo("alice/demo").permissions.maintain is True
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # rollback restores the old role
    r = grid.check(0, "rollback", "--auto-approve")
    assert _roles(grid) == {"bob": "write", "carol": "write"}


def test_role_change_of_a_pending_invitation(grid):
    _users(grid, "alice", "bob", "carol", "dave")
    grid.write("grid.yaml", MANIFEST + "      dave: push\n")
    assert grid.run("apply", "--auto-approve").code == 0
    assert _invitations(grid) == {"dave": "write"}
    inv_id = grid.gh("alice").get_repo("alice/demo").get_pending_invitations()[0].id
    # "pull" in the manifest; the invitation endpoint only takes read|write|maintain|triage|admin
    grid.write("grid.yaml", MANIFEST + "      dave: pull\n")
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "~ collaborator alice/demo dave" in r.out and 'role: "write" -> "pull" (GitHub: "read")' in r.out
    assert "still pending" in r.out
    r = grid.check(0, "apply", "--auto-approve")
    invs = list(grid.gh("alice").get_repo("alice/demo").get_pending_invitations())
    assert [(i.id, i.permissions) for i in invs] == [(inv_id, "read")]  # the same invitation, updated
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 0 and "waiting for dave" in r.out, r.all
    # the invitee accepts and gets the role the manifest declares
    grid.gh("dave").get_user().accept_invitation(inv_id)
    assert _roles(grid)["dave"] == "read"


def test_removal_of_managed_collaborators(grid):
    _users(grid, "alice", "bob", "carol", "dave")
    grid.write("grid.yaml", MANIFEST + "      dave: push\n")
    assert grid.run("apply", "--auto-approve").code == 0
    assert _roles(grid) == {"bob": "write", "carol": "write"} and _invitations(grid) == {"dave": "write"}
    grid.write("grid.yaml", MANIFEST.replace("      node-2: push\n", ""))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- collaborator alice/demo carol" in r.out and "- collaborator alice/demo dave" in r.out
    assert "invitation alice/demo" not in r.out  # the accept is never undone by a plan
    assert "Plan: 0 to create, 0 to update, 0 to replace, 2 to delete" in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    assert _roles(grid) == {"bob": "write"}
    assert _invitations(grid) == {}  # dave's pending invitation was cancelled
    assert list(grid.gh("dave").get_user().get_invitations()) == []
    r = grid.check(0, "plan", "--detailed-exitcode")
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())["resources"]
    assert not any(":carol" in a or ":dave" in a for a in state)


def test_unmanaged_collaborator_left_alone_unless_pruned(grid):
    _users(grid, "alice", "bob", "carol", "erin", "frank")
    _converged(grid)
    _invite_by_hand(grid, "erin", "pull", accept=True)
    _invite_by_hand(grid, "frank", "triage")  # pending
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "erin" not in r.out and "frank" not in r.out
    grid.write("grid.yaml", MANIFEST + "    prune: {collaborators: true}\n")
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- collaborator alice/demo erin  (not declared, and prune is on)" in r.out
    assert "- collaborator alice/demo frank" in r.out
    assert "bob" not in r.out and "carol" not in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    assert _roles(grid) == {"bob": "write", "carol": "write"}
    assert _invitations(grid) == {}
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_removing_own_access_needs_force(grid):
    """bob manages alice/shared as an admin collaborator; pruning bob would lock gridctl out."""
    _users(grid, "alice", "bob", "carol")
    assert grid.api("alice", "POST", "/user/repos", {"name": "shared", "private": True}).status_code == 201
    _invite_by_hand(grid, "bob", "admin", full="alice/shared", accept=True)
    _invite_by_hand(grid, "carol", "push", full="alice/shared", accept=True)
    grid.write(
        "grid.yaml",
        grid_yaml("""\
        repos:
          alice/shared:
            account: node-1
            collaborators: {carol: push}
            prune: {collaborators: true}
        """, NODE_BOB, indent="        "),
    )
    r = grid.check(0, "plan", "--format", "json")
    plan = json.loads(r.out)
    assert [c["address"] for c in plan["changes"]] == ["collaborator:alice/shared:bob"]
    assert plan["changes"][0]["before"]["login"] == "bob"
    assert any("removes gridctl's own access (bob)" in u for u in plan["unsafe"])
    r = grid.run("apply", "--auto-approve")
    assert r.code != 0
    assert "own access" in r.all
    assert _roles(grid, "alice/shared") == {"bob": "admin", "carol": "write"}
    r = grid.check(0, "apply", "--auto-approve", "--force")
    assert _roles(grid, "alice/shared") == {"carol": "write"}


def test_rollback_of_invite_and_accept(grid):
    """Rolling back the run that invited and accepted leaves no access and no invitation."""
    _users(grid, "alice", "bob", "carol")
    grid.write("grid.yaml", MANIFEST)
    assert grid.run("apply", "--auto-approve", "--target", "repo").code == 0
    _converged(grid)
    assert _roles(grid) == {"bob": "write", "carol": "write"}
    r = grid.check(0, "rollback", "--auto-approve")
    assert "- collaborator alice/demo bob" in r.out and "- collaborator alice/demo carol" in r.out
    assert "invitation alice/demo" not in r.out  # an accept has no inverse...
    assert "cannot roll back invitation:alice/demo:bob" in r.err
    assert _roles(grid) == {} and _invitations(grid) == {}  # ...removing the collaborator undoes it
    # planning again sends and accepts again
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2 and "Plan: 4 to create" in r.out, r.all


def test_expired_invitation_is_sent_again(grid):
    _users(grid, "alice", "bob", "carol", "dave")
    grid.write("grid.yaml", MANIFEST + "      dave: push\n")
    assert grid.run("apply", "--auto-approve").code == 0
    old = grid.gh("alice").get_repo("alice/demo").get_pending_invitations()[0].id
    grid.ctl("POST", "/clock", {"advance": 8 * 24 * 3600})
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ collaborator alice/demo dave" in r.out and "Plan: 1 to create" in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    invs = list(grid.gh("alice").get_repo("alice/demo").get_pending_invitations())
    assert len(invs) == 1 and invs[0].id != old and not invs[0].expired
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_organization_repository(grid):
    """An organization member is added directly (no invitation to accept); an outsider accepts."""
    _users(grid, "alice", "bob", "carol")
    grid.org("acme", admins=("alice",), members=("bob",))
    grid.write(
        "grid.yaml",
        grid_yaml("""\
        repos:
          acme/tools:
            visibility: private
            collaborators: {node-1: maintain, node-2: push}
        """, ACME, NODE_BOB, NODE_CAROL, indent="        "),
    )
    grid.check(0, "apply", "--auto-approve")
    assert _roles(grid, "acme/tools") == {"bob": "maintain", "carol": "write"}
    assert grid.gh("carol").get_repo("acme/tools").permissions.push is True
    assert _invitations(grid, "acme/tools") == {}
    grid.check(0, "plan", "--detailed-exitcode")
