"""``token: {gh: true}``: the token the GitHub CLI uses — ``GH_TOKEN``, else ``GITHUB_TOKEN``,
else ``gh auth token`` (a fake ``gh`` on PATH here) — read only for an account whose manifest
entry says so, never printed, and never a silent fallback for another source."""

from __future__ import annotations

import os
import stat

import pytest

from ..helpers import grid_yaml

GH_MANIFEST = grid_yaml("""\
repos:
  alice/demo: {description: Demo}
""", "main: {login: alice, token: {gh: true}}")

NO_TOKENS = {"GH_TOKEN": None, "GITHUB_TOKEN": None, "GRID_TOKEN_ALICE": None, "GITHUB_ACTIONS": None}


def fake_gh(folder, token: str | None, status: int = 0):
    """A ``gh`` that records its arguments and prints ``token`` (or fails with ``status``)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "gh"
    body = f'echo "$@" > "{folder}/args"\n'
    body += f"echo {token}\n" if token else f'echo "gh: not logged in; token would be here" >&2\nexit {status}\n'
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture
def alice(grid):
    token = grid.user("alice")
    grid.env.pop("GRID_TOKEN_ALICE")  # only the gh source may provide it
    grid.write("grid.yaml", GH_MANIFEST)
    return token


@pytest.mark.parametrize("var", ["GH_TOKEN", "GITHUB_TOKEN"])
def test_gh_source_reads_gh_token_then_github_token(grid, alice, var):
    r = grid.check(0, "plan", env={**NO_TOKENS, var: alice})
    assert "+ repo alice/demo" in r.out
    assert alice not in r.all
    if var == "GITHUB_TOKEN":
        # GH_TOKEN comes first: a wrong one there is used (and refused), as gh itself would
        r = grid.run("plan", env={**NO_TOKENS, "GH_TOKEN": "wrong-token-value", var: alice})
        assert r.code == 1
        assert "account main: the token was refused (401 Bad credentials)" in r.err
        assert "wrong-token-value" not in r.all and alice not in r.all


def test_gh_source_runs_gh_auth_token_when_no_variable_is_set(grid, alice, tmp_path):
    bin_dir = fake_gh(tmp_path / "bin", alice)
    r = grid.check(0, "-v", "plan", env={**NO_TOKENS, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert (bin_dir / "args").read_text().strip() == "auth token"
    assert "+ repo alice/demo" in r.out
    assert "GET /user 200" in r.err  # the debug lines are there, the token is not
    assert alice not in r.all
    assert not any(alice.encode() in v for v in grid.files_written().values())


def test_gh_source_unavailable_names_where_it_looked_and_prints_nothing_of_gh(grid, alice, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = grid.run("plan", env={**NO_TOKENS, "PATH": str(empty)})
    assert r.code == 1
    assert r.err.splitlines()[0] == (
        "grid.yaml:3:31: error: account main: token source unavailable: "
        "gh: GH_TOKEN and GITHUB_TOKEN are not set, and command gh auth token: program not found"
    )
    bin_dir = fake_gh(tmp_path / "bin", None, status=4)
    r = grid.run("plan", env={**NO_TOKENS, "PATH": str(bin_dir)})
    assert r.code == 1
    assert "gh: GH_TOKEN and GITHUB_TOKEN are not set, and command gh auth token: exited with status 4" in r.err
    assert "token would be here" not in r.all  # gh's stderr is never echoed
    # validate needs no token; --check-sources reads this one like any other
    assert grid.run("validate", env={**NO_TOKENS, "PATH": str(empty)}).code == 0
    r = grid.run("validate", "--check-sources", env={**NO_TOKENS, "PATH": str(empty)})
    assert r.code == 1
    assert "account main: token source unavailable: gh:" in r.err


def test_no_silent_fallback_to_gh_or_its_variables(grid, tmp_path):
    token = grid.user("alice")
    grid.write("grid.yaml", GH_MANIFEST.replace("{gh: true}", "{env: GRID_TOKEN_ALICE}"))
    bin_dir = fake_gh(tmp_path / "bin", token)
    env = {**NO_TOKENS, "GH_TOKEN": token, "GITHUB_TOKEN": token, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    r = grid.run("plan", env=env)
    assert r.code == 1
    assert "account main: token source unavailable: env GRID_TOKEN_ALICE is not set" in r.err
    assert not (bin_dir / "args").exists()
    assert token not in r.all


@pytest.mark.parametrize(
    "token,expected",
    [
        ("{gh: false}", "grid.yaml:3:36: error: accounts.main.token.gh must be true, not false"),
        ("{env: GH_TOKEN, gh: true}", "grid.yaml:3:24: error: accounts.main.token must have only one of env, file, command, gh (found env, gh)"),
    ],
)
def test_gh_source_grammar(grid, token, expected):
    grid.write("grid.yaml", GH_MANIFEST.replace("{gh: true}", token))
    r = grid.run("validate", env=NO_TOKENS)
    assert r.code == 1
    assert [line for line in r.err.splitlines() if ": error: " in line] == [expected]


def test_keys_cannot_use_the_gh_source(grid):
    grid.write("grid.yaml", GH_MANIFEST + "keys:\n  api: {source: {gh: true}}\n")
    r = grid.run("validate", env=NO_TOKENS)
    assert r.code == 1
    assert "unknown field 'gh' in keys.api.source" in r.err
