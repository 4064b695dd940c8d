"""A declared repository that reads 404 is planned as a create; when the token cannot be shown
to see it (a classic token without ``repo``, where private repositories answer 404; a token
reporting no scopes), the plan says so at the repository's line, and an apply that then hits
the existing repository says why it failed."""

from __future__ import annotations

import json

from gridctl.resources.repository import unseen_reason

from ..helpers import grid_yaml

MANIFEST = grid_yaml("""\
repos:
  alice/hidden: {description: Exists but private}
""")

WARNING = (
    "grid.yaml:5:3: warning: GitHub answered 404 for alice/hidden: it does not exist, or this token cannot see it "
    "(the token has no `repo` scope, and its own user's private repositories answer 404 without it)"
)


def _private_repo(grid, owner_path: str, name: str) -> None:
    resp = grid.api("alice", "POST", owner_path, {"name": name, "private": True})
    assert resp.status_code == 201, resp.text


def test_a_404_the_token_may_not_see_is_a_create_with_a_warning(grid, tmp_path):
    grid.user("alice")  # every scope: creates the private repository
    _private_repo(grid, "/user/repos", "hidden")
    limited = grid.user("alice", scopes=("public_repo", "workflow"))
    grid.write("grid.yaml", MANIFEST)
    assert grid.api("alice", "GET", "/repos/alice/hidden").status_code == 404  # the limited token's view

    r = grid.check(0, "plan", "--out", "plan.json")
    assert "+ repo alice/hidden" in r.out
    assert WARNING in r.err.splitlines()
    saved = json.loads((grid.dir / "plan.json").read_text())
    assert [d["summary"] for d in saved["diagnostics"] if d["severity"] == "warning"] == [WARNING.split(": warning: ", 1)[1]]
    r = grid.run("plan", "--format", "markdown")
    assert "GitHub answered 404 for alice/hidden" in r.out

    r = grid.run("apply", "--auto-approve")
    assert r.code == 1
    assert (
        "create repository alice/hidden: it already exists, but this token read it as missing (404): the token cannot see it "
        "(the token has no `repo` scope, and its own user's private repositories answer 404 without it)"
    ) in r.err
    assert limited not in r.all


def test_an_organization_repository_hidden_from_a_token_without_repo(grid):
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    _private_repo(grid, "/orgs/acme/repos", "vault")
    grid.user("alice", scopes=("public_repo", "read:org"))
    grid.write("grid.yaml", MANIFEST.replace("main: {login: alice,", "acme: {org: acme,").replace("alice/hidden", "acme/vault"))
    r = grid.check(0, "plan")
    assert (
        "grid.yaml:5:3: warning: GitHub answered 404 for acme/vault: it does not exist, or this token cannot see it "
        "(the token has no `repo` scope, and acme's private repositories answer 404 without it)"
    ) in r.err.splitlines()


def test_no_warning_when_the_token_sees_every_repository(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    r = grid.check(0, "plan")
    assert "+ repo alice/hidden" in r.out
    assert r.err == ""
    # nor on the embedded sandbox, whose tokens are not checked
    r = grid.check(0, "plan", "--sandbox")
    assert "warning" not in r.err


def test_tokens_that_report_no_scopes_cannot_be_shown_to_see_anything():
    # fine-grained tokens and app tokens send no X-OAuth-Scopes header: whoami gives None
    assert unseen_reason("alice", "alice", None) == (
        "the token reports no scopes — a fine-grained token or an app's — so whether it was given its own user's "
        "private repositories cannot be read"
    )
    assert "acme's private repositories" in (unseen_reason("acme", "alice", None) or "")
    assert unseen_reason("alice", "alice", {"repo"}) is None
    assert unseen_reason("alice", "alice", {"public_repo"}) is not None
    assert unseen_reason("alice", None, None) is None  # not checked (the embedded sandbox)
