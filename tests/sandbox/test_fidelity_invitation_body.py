"""gridctl accepts a repository invitation with no request body: GitHub's description defines
none for ``PATCH /user/repository_invitations/{id}`` (PyGithub's ``accept_invitation`` sends
``{}``). The sandbox counts bodies sent to operations that take none; the count after a real
``gridctl apply`` that accepts invitations must be zero."""

from __future__ import annotations

import requests

from gridctl.sandbox.testing import strict_sandbox
from tests.core.conftest import Grid

MANIFEST = """
version: 1
accounts:
  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}
  node-1: {login: bob, token: {env: GRID_TOKEN_BOB}}
repos:
  alice/demo:
    visibility: private
    collaborators:
      node-1: push
"""

ACCEPT = "repos/accept-invitation-for-authenticated-user"


def _stray(sb) -> dict:
    resp = requests.get(f"{sb.config.public_url}/_sandbox/conformance", timeout=30)
    return resp.json()["stray_request_bodies"]


def test_gridctl_accepts_an_invitation_without_a_body(tmp_path):
    with strict_sandbox() as sb:
        grid = Grid(sb, tmp_path)
        grid.user("alice")
        grid.user("bob")
        # the counter sees a client that sends {} (what PyGithub's accept_invitation does)
        grid.api("alice", "POST", "/user/repos", {"name": "probe"})
        inv = grid.api("alice", "PUT", "/repos/alice/probe/collaborators/bob", {"permission": "push"}).json()
        sent = requests.patch(f"{sb.url}/user/repository_invitations/{inv['id']}", json={},
                              headers={"Authorization": f"token {grid.tokens['bob']}"}, timeout=30)
        assert sent.status_code == 204
        assert _stray(sb) == {ACCEPT: 1}

        grid.write("grid.yaml", MANIFEST)
        r = grid.run("apply", "--auto-approve")
        assert r.code == 0, r.all
        members = grid.api("alice", "GET", "/repos/alice/demo/collaborators?affiliation=direct").json()
        assert "bob" in {m["login"] for m in members}  # accepted
        assert _stray(sb) == {ACCEPT: 1}, "gridctl sent a body with its accept"
