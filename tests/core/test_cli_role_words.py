"""Plans show a collaborator's role in the manifest's own word, with GitHub's name in
parentheses where they differ (``"push" (GitHub: "write")``); the plan JSON keeps GitHub's name
in ``after`` (machine-stable) and the word in ``meta.as_written``; a rollback shows no word the
manifest never wrote. Against the strict sandbox."""

from __future__ import annotations

import json

MANIFEST = """
version: 1
accounts:
  main: {{login: alice, token: {{env: GRID_TOKEN_ALICE}}}}
repos:
  alice/demo:
    collaborators: {{bob: {bob}, carol: pull, dave: admin, erin: write}}
"""


def setup(grid, bob: str = "push") -> None:
    for login in ("alice", "bob", "carol", "dave", "erin"):
        grid.user(login)
    grid.write("grid.yaml", MANIFEST.format(bob=bob))


def test_create_shows_the_manifest_word_and_json_keeps_githubs(grid):
    setup(grid)
    r = grid.check(0, "plan")
    lines = [line.strip() for line in r.out.splitlines()]
    roles = [line for line in lines if line.startswith("role:")]
    assert roles == ['role: "push" (GitHub: "write")', 'role: "pull" (GitHub: "read")', 'role: "admin"', 'role: "write"']
    md = grid.run("plan", "--format", "markdown").out
    assert md.count('role: "push" (GitHub: "write")') == 1 and md.count('role: "pull" (GitHub: "read")') == 1
    assert 'role: "admin"\n' in md and 'role: "write"\n' in md
    data = json.loads(grid.run("plan", "--format", "json").out)
    by_login = {c["after"]["login"]: c for c in data["changes"] if c["kind"] == "collaborator"}
    assert {k: c["after"]["role"] for k, c in by_login.items()} == {"bob": "write", "carol": "read", "dave": "admin", "erin": "write"}
    assert by_login["bob"]["meta"]["as_written"] == {"role": "push"}
    assert "as_written" not in by_login["erin"]["meta"] and "as_written" not in by_login["dave"]["meta"]


def test_update_and_its_rollback(grid):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("grid.yaml", MANIFEST.format(bob="pull"))
    r = grid.check(0, "plan", "--out", "plan.json")
    assert 'role: "write" -> "pull" (GitHub: "read")' in r.out
    assert 'role: "write" -> "pull" (GitHub: "read")' in grid.run("show", "plan.json").out
    assert 'role: "write" -> "pull" (GitHub: "read")' in grid.run("show", "plan.json", "--format", "markdown").out
    r = grid.check(0, "apply", "plan.json")
    invitations = grid.api("alice", "GET", "/repos/alice/demo/invitations").json()
    assert {i["invitee"]["login"]: i["permissions"] for i in invitations}["bob"] == "read"
    # the undo restores GitHub's "write"; the manifest never said "pull" for it
    r = grid.run("rollback")
    assert 'role: "read" -> "write"\n' in r.out and "(GitHub:" not in r.out, r.out
