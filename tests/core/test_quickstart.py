"""examples/quickstart: it validates, and on the embedded sandbox one apply converges it —
plan (changes, exit 2) -> apply -> plan (no changes, exit 0) — with the collaborator invited and
accepted, the secret's value delivered, the variable and the workflow in place."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
import requests

from gridctl.resources import load_manifest
from gridctl.sandbox.embedded import EmbeddedSandbox
from gridctl.sandbox.testing import pygithub

from ..helpers import cli_in, copy_example

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "grid.schema.json"


def run(cwd: Path, *args: str, env: dict[str, str | None] | None = None):
    """The real CLI, in-process, from ``cwd``; no API URL or token leaks in from the outer env."""
    base: dict[str, str | None] = {"GRIDCTL_API_URL": None, "GRID_TOKEN_ALICE": None, "GRID_TOKEN_BOB": None, "NO_COLOR": "1", "GITHUB_ACTIONS": None}
    return cli_in(cwd, *args, env={**base, **(env or {})})


@pytest.fixture
def quickstart(tmp_path) -> Path:
    return copy_example(EXAMPLE, tmp_path / "quickstart")


def test_the_example_starts_with_the_schema_comment():
    first = (EXAMPLE / "grid.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/grid.schema.json"
    assert (EXAMPLE / "../../schemas/grid.schema.json").resolve() == SCHEMA


def test_the_example_validates(quickstart):
    r = run(quickstart, "validate", "--sandbox")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout == "grid.yaml: valid (2 account(s), 1 repository(ies))\n"
    # validation needs no token; --check-sources (and plan) need both, and say which one is missing
    r = run(quickstart, "validate", "--check-sources", env={"GRID_TOKEN_ALICE": "fake-token-alice"})
    assert r.exit_code == 1
    assert "grid.yaml:21:12: error: account friend: token source unavailable: env GRID_TOKEN_BOB is not set" in r.stderr
    r = run(quickstart, "validate", env={"GRID_TOKEN_ALICE": "fake-token-alice", "GRID_TOKEN_BOB": "fake-token-bob"})
    assert r.exit_code == 0, r.stderr


def test_plan_apply_converges_on_the_embedded_sandbox(quickstart):
    # as the README runs it: from the folder above, with -f
    top, manifest = quickstart.parent, "quickstart/grid.yaml"
    r = run(top, "plan", "--sandbox", "-f", manifest, "--detailed-exitcode")
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "Plan: 7 to create, 0 to update, 0 to replace, 0 to delete." in r.stdout
    r = run(top, "apply", "--sandbox", "-f", manifest, "--auto-approve")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "applied 7 change(s)" in r.stderr
    r = run(top, "plan", "--sandbox", "-f", manifest, "--detailed-exitcode")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "No changes" in r.stdout
    key = (quickstart / "keys" / "greeting-api.key").read_text().strip()
    assert key not in r.stdout + r.stderr
    written = [p for p in (quickstart / ".gridctl").rglob("*") if p.is_file() and "sandbox" not in p.parts]
    assert written and not any(key.encode() in p.read_bytes() for p in written)

    # look at what the sandbox now holds, as alice
    sandbox = EmbeddedSandbox(quickstart / ".gridctl")
    _, tokens = sandbox.start(load_manifest(quickstart / "grid.yaml", tokens=False))
    try:
        assert sandbox.sandbox is not None
        gh = pygithub(sandbox.sandbox, tokens["main"].reveal())
        repo = gh.get_repo("alice/hello-grid")
        assert repo.private and repo.description == "Hello from gridctl" and repo.has_wiki is False
        assert sorted(repo.get_topics()) == ["gridctl", "quickstart"]
        # bob accepted: a collaborator, no pending invitation
        assert "bob" in [c.login for c in repo.get_collaborators(affiliation="direct")]
        assert repo.get_collaborator_permission("bob") == "write"
        assert list(repo.get_pending_invitations()) == []
        assert repo.get_variable("GREETING").value == "Hello"
        content = repo.get_contents(".github/workflows/hello.yml")
        assert base64.b64decode(content.content) == (quickstart / "workflows" / "hello.yml").read_bytes()
        # the sandbox decrypts each sealed secret and keeps only the SHA-256 of the value
        url = f"{sandbox.sandbox.config.public_url}/_sandbox/secrets"
        rows = requests.get(url, params={"repo": "alice/hello-grid"}, timeout=30).json()
        assert [(s["name"], s["sha256"]) for s in rows] == [("GREETING_API_KEY", hashlib.sha256(key.encode()).hexdigest())]
    finally:
        sandbox.stop()
