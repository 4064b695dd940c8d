"""A plan keeps ``settings.parallelism`` reads in flight per account — never more — and its token
checks run beside the reads without weakening what they guard: a refused token still fails
the run, with the same message, before anything is written.

Counts, not times: the sandbox notes the most requests of one identity it ever had in flight at
once (``peak_in_flight`` of ``/_sandbox/stats``), and which operations it answered.
"""

from __future__ import annotations

import pytest

from ..helpers import grid_yaml


def _fleet(parallelism: int, repos: int) -> str:
    body = [f"settings: {{parallelism: {parallelism}}}", "repos:"]
    for r in range(repos):
        body += [f"  alice/r{r:02d}:", "    visibility: private", "    variables: {A: a, B: b}",
                 "    files:", "      docs/x.md: {content: x}"]
    return grid_yaml("\n".join(body) + "\n", "alice: {login: alice, token: {env: GRID_TOKEN_ALICE}}")


@pytest.mark.parametrize("parallelism", [1, 3])
def test_reads_keep_parallelism_requests_in_flight_and_never_more(grid, parallelism):
    grid.user("alice")
    grid.write("grid.yaml", _fleet(parallelism, repos=8))
    grid.check(0, "apply", "--auto-approve")
    # every answer takes a while, so the plan's reads overlap as much as it lets them
    grid.ctl("PUT", "/latency", {"latency": "30ms"})
    grid.ctl("POST", "/stats/reset")
    grid.check(0, "plan", "--detailed-exitcode")
    grid.ctl("PUT", "/latency", {"latency": "off"})
    alice = grid.ctl("GET", "/stats")["by_identity"]["alice"]
    # the reads of 8 repositories (each: the repository, variables, collaborators, the tree, ...)
    assert alice["requests"] >= 8 * 4, alice
    # twice as many threads as slots: a thread waiting for another's read holds no slot, yet the
    # slots bound what is sent
    assert alice["peak_in_flight"] == parallelism, alice


def _two_accounts(bob_repos: bool) -> str:
    body = ["repos:", "  alice/svc:", "    visibility: private", "    variables: {A: a}"]
    if bob_repos:
        body += ["  bob/tool:", "    visibility: private"]
    return grid_yaml("\n".join(body) + "\n", "alice: {login: alice, token: {env: GRID_TOKEN_ALICE}}",
                     "bob: {login: bob, token: {env: GRID_TOKEN_BOB}}")


@pytest.mark.parametrize("bob_repos", [False, True], ids=["unused-account", "used-account"])
def test_a_refused_token_fails_plan_and_apply_before_any_write(grid, bob_repos):
    grid.user("alice")
    grid.user("bob")
    grid.user("carol")
    grid.write("grid.yaml", _two_accounts(bob_repos))
    grid.env["GRID_TOKEN_BOB"] = grid.tokens["carol"]  # someone else's token
    grid.ctl("POST", "/stats/reset")
    for command in (("plan", "--detailed-exitcode"), ("apply", "--auto-approve")):
        r = grid.check(1, *command)
        assert "account bob: the token belongs to carol, not bob" in r.err, r.all
        assert "Traceback" not in r.all
    ops = grid.ctl("GET", "/stats")["by_endpoint"]
    assert "repos/create-for-authenticated-user" not in ops, ops  # nothing was written
    assert not any(op.startswith(("actions/create", "repos/update")) for op in ops), ops
    # carol's token read nothing of bob's (it is checked before any of bob's reads)
    assert not any(op.startswith("repos/get") and "bob" in op for op in ops), ops
    assert grid.api("alice", "GET", "/repos/alice/svc").status_code == 404
