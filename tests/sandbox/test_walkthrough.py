"""The sandbox as a user meets it: ``gridctl sandbox serve --port P --data D`` in its own process,
tokens from ``gridctl sandbox user add``, and the real PyGithub pointed at
``base_url=http://127.0.0.1:P`` — create a repository, set a secret (decrypted by the sandbox
to the right value), list collaborators across pages, get a 304 on a repeated GET, invite a
second user who accepts with their own token and then has access; then a restart on the same
``--data`` keeps all of it."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from github import Auth, Github, GithubException


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gridctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gridctl", *args], capture_output=True, text=True, timeout=120)


class Server:
    def __init__(self, port: int, data: str):
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridctl", "sandbox", "serve", "--port", str(port), "--data", data],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/_sandbox/health", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("gridctl sandbox serve did not come up")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _gh(url: str, token: str, **kw) -> Github:
    return Github(auth=Auth.Token(token), base_url=url, retry=None, seconds_between_requests=None, seconds_between_writes=None, **kw)


@pytest.mark.slow
def test_serve_walkthrough_with_pygithub(tmp_path):
    port = _free_port()
    data = str(tmp_path / "sbx")
    srv = Server(port, data)
    try:
        tokens = {}
        for login in ("alice", "bob", "carol", "dave", "erin"):
            r = _gridctl("sandbox", "user", "add", login, "--url", srv.url)
            assert r.returncode == 0, r.stderr
            tokens[login] = r.stdout.strip()
        alice = _gh(srv.url, tokens["alice"])
        repo = alice.get_user().create_repo("walk", private=True, auto_init=True)
        assert repo.full_name == "alice/walk" and repo.private

        # a secret, sealed by PyGithub; the sandbox decrypts it and keeps its SHA-256 only
        repo.create_secret("API_KEY", "s3cret-walkthrough")
        secrets = requests.get(f"{srv.url}/_sandbox/secrets", params={"repo": "alice/walk"}, timeout=10).json()
        entry = next(s for s in secrets if s["name"] == "API_KEY")
        assert entry["sha256"] == hashlib.sha256(b"s3cret-walkthrough").hexdigest()
        assert "s3cret-walkthrough" not in str(secrets)

        # collaborators across pages (per_page=2, Link headers followed by PyGithub)
        for login in ("carol", "dave", "erin"):
            inv = repo.add_to_collaborators(login, "push")
            _gh(srv.url, tokens[login]).get_user().accept_invitation(inv.id)
        paged = _gh(srv.url, tokens["alice"], per_page=2).get_repo("alice/walk")
        collaborators = paged.get_collaborators(affiliation="direct")
        logins = sorted(c.login for c in collaborators)
        assert logins == ["alice", "carol", "dave", "erin"] and collaborators.totalCount == 4
        first = requests.get(f"{srv.url}/repos/alice/walk/collaborators", params={"per_page": 2},
                             headers={"Authorization": f"token {tokens['alice']}"}, timeout=10)
        assert 'rel="next"' in first.headers["Link"] and 'rel="last"' in first.headers["Link"]

        # a repeated GET with the ETag is a 304 and costs no rate-limit point
        again = alice.get_repo("alice/walk")
        remaining = alice.get_rate_limit().rate.remaining
        assert again.update() is False
        assert alice.get_rate_limit().rate.remaining == remaining

        # bob is invited, cannot see the repository until he accepts with his own token
        bob = _gh(srv.url, tokens["bob"])
        invitation = repo.add_to_collaborators("bob", "push")
        with pytest.raises(GithubException) as seen:
            bob.get_repo("alice/walk")
        assert seen.value.status == 404
        mine = list(bob.get_user().get_invitations())
        assert [i.id for i in mine] == [invitation.id]
        bob.get_user().accept_invitation(invitation.id)
        assert bob.get_repo("alice/walk").permissions.push is True
    finally:
        srv.stop()
    assert srv.proc.returncode == 0

    # restart on the same data folder: everything is still there
    srv = Server(_free_port(), data)
    try:
        alice = _gh(srv.url, tokens["alice"])
        repo = alice.get_repo("alice/walk")
        assert repo.private and [s.name for s in repo.get_secrets()] == ["API_KEY"]
        assert sorted(c.login for c in repo.get_collaborators(affiliation="direct")) == ["alice", "bob", "carol", "dave", "erin"]
        secrets = requests.get(f"{srv.url}/_sandbox/secrets", params={"repo": "alice/walk"}, timeout=10).json()
        assert secrets[0]["sha256"] == hashlib.sha256(b"s3cret-walkthrough").hexdigest()
    finally:
        srv.stop()


def test_undocumented_paths_github_serves(sb):
    """Paths github.com answers that its description omits, which PyGithub and octokit's
    recorded interactions use: the list of all refs and /repositories/{id}."""
    from gridctl.sandbox.testing import pygithub

    gh = pygithub(sb, sb.add_user("alice"))
    repo = gh.get_user().create_repo("x", auto_init=True)
    repo.create_git_ref("refs/heads/feature", repo.get_branch("main").commit.sha)
    assert sorted(r.ref for r in repo.get_git_refs()) == ["refs/heads/feature", "refs/heads/main"]
    assert gh.get_repo(repo.id).full_name == "alice/x"
    with pytest.raises(GithubException) as missing:
        gh.get_repo(repo.id + 999)
    assert missing.value.status == 404
