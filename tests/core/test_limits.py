"""GitHub's limits are checked by validate, with file:line:col, before any write — an apply must
never stop at the 101st secret with half the estate written."""

from __future__ import annotations

import pytest

HEAD = "version: 1\naccounts:\n  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\n"


def errors(r) -> list[str]:
    return [ln for ln in r.err.splitlines() if ": error: " in ln]


CASES = {
    "101-secrets": (
        "repos:\n  alice/r1:\n    secrets:\n      actions:\n" + "".join(f"        S{i}: {{env: V}}\n" for i in range(101)),
        "grid.yaml:7:7: error: 101 actions secrets declared here; GitHub allows at most 100",
    ),
    "501-variables": (
        "repos:\n  alice/r1:\n    variables:\n" + "".join(f"      V{i}: x\n" for i in range(501)),
        "grid.yaml:6:5: error: 501 variables declared here; GitHub allows at most 500",
    ),
    "big-variable": (
        "repos:\n  alice/r1:\n    variables:\n      BIG: " + "x" * (48 * 1024 + 1) + "\n",
        "grid.yaml:7:12: error: variable BIG is 49,153 bytes; GitHub allows at most 48 KB",
    ),
    "big-secret": (
        "repos:\n  alice/r1:\n    secrets:\n      actions:\n        BIG: {file: big.txt}\n",
        "grid.yaml:8:14: error: this secret's value is 49,153 bytes; GitHub allows at most 48 KB",
    ),
    "long-environment": (
        "repos:\n  alice/r1:\n    environments:\n      " + "e" * 256 + ": {}\n",
        "grid.yaml:7:7: error: environment name is 256 characters; GitHub allows at most 255",
    ),
    "dot-git-path": (
        "repos:\n  alice/r1:\n    files:\n      a/.GIT/hooks/x: {content: x}\n",
        "grid.yaml:7:7: error: file path 'a/.GIT/hooks/x' points into .git, which GitHub refuses",
    ),
    "absolute-queue-path": (
        "repos:\n  alice/r1: {}\nqueues:\n  q: {repo: alice/r1, path: /tasks}\n",
        "grid.yaml:7:29: error: queue path '/tasks' must be relative to the repository root (no leading /)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_limit_is_caught_by_validate_and_plan(grid, case):
    body, expected = CASES[case]
    grid.write("grid.yaml", HEAD + body)
    grid.write("big.txt", "y" * (48 * 1024 + 1))
    grid.ctl("POST", "/stats/reset")
    for command in ("validate", "plan"):
        r = grid.run(command, env={"GRID_TOKEN_ALICE": "fake-token", "V": "v"})
        assert r.code == 1, f"{command}: {r.all}"
        assert errors(r) == [expected], f"{command}:\n{r.err}"
    assert grid.ctl("GET", "/stats")["total"].get("requests", 0) == 0


def test_live_objects_count_towards_the_limit_before_the_first_write(grid):
    """98 secrets already on GitHub (not managed) and 3 declared: the plan fails before writing."""
    grid.user("alice")
    gh = grid.gh("alice")
    repo = gh.get_user().create_repo("r1", private=True)
    for i in range(98):
        repo.create_secret(f"OLD_{i}", "x")
    grid.write("grid.yaml", HEAD + "repos:\n  alice/r1:\n    visibility: private\n    secrets:\n      actions:\n"
               + "".join(f"        NEW_{i}: {{env: V}}\n" for i in range(3)))
    grid.ctl("POST", "/stats/reset")
    r = grid.check(1, "apply", "--auto-approve", env={"V": "v"})
    assert "alice/r1: 101 actions secret objects after this plan (98 there now); GitHub allows at most 100" in r.err, r.err
    ops = grid.ctl("GET", "/stats")["by_endpoint"]
    assert ops, "the plan read GitHub"
    writes = [op for op in ops if any(w in op for w in ("create", "update", "delete", "set-"))]
    assert not writes, writes
    assert len(list(repo.get_secrets())) == 98
