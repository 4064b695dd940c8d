"""GitHub's limits are kept, not tripped: a plan and an apply under the sandbox's limits get no
secondary-limit answer and send nothing once the primary limit is spent; an apply writes with
one lane per token, and a SIGKILL in the middle of four lanes loses nothing.

The limit test counts, it does not time: the client's budget and the retry policy sleep by
moving the sandbox's clock, so a minute's window passes at once. The limits are GitHub's,
scaled down (fewer points a minute) so that a small fleet meets every one of them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from gridctl.core.journal import read_entries, runs
from gridctl.core.session import Options, Session
from gridctl.github.retry import RetryPolicy

from ..helpers import grid_yaml, wait_for

USERS = ("alice", "bob", "carol", "dave")


def accounts(users: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{u}: {{login: {u}, token: {{env: GRID_TOKEN_{u.upper()}}}}}" for u in users)


def fleet(users: tuple[str, ...], repos: int, variables: int, *, files: int = 0, secrets: int = 0) -> str:
    body = ["settings: {parallelism: 8}", "repos:"]
    for u in users:
        for r in range(repos):
            body += [f"  {u}/r{r:02d}:", "    visibility: private"]
            if variables:
                body.append("    variables:")
                body += [f"      VAR_{i:02d}: v-{i}" for i in range(variables)]
            if secrets:
                body += ["    secrets:", "      actions:"]
                body += [f"        S_{i:02d}: {{env: SECRET_VALUE}}" for i in range(secrets)]
            if files:
                body.append("    files:")
                body += [f"      docs/f{i}.md: {{content: 'file {i}'}}" for i in range(files)]
    return grid_yaml("\n".join(body) + "\n", *accounts(users))


def test_plan_and_apply_under_github_limits_get_no_limit_answer(grid, monkeypatch):
    users = ("alice", "bob")
    for u in users:
        grid.user(u)
    grid.write("grid.yaml", fleet(users, repos=12, variables=2, files=1, secrets=3))
    for k, v in {**grid.env, "SECRET_VALUE": "canary-7d1f", "GRIDCTL_WRITE_INTERVAL": "0"}.items():
        monkeypatch.setenv(k, v)
    # GitHub's secondary limits, scaled down 30 times so 12 repositories meet them (the
    # client's budget is told the same numbers); the primary window nearly spent
    monkeypatch.setenv("GRIDCTL_CLIENT_LIMITS", "endpoint_points=30,content_per_minute=4,content_per_hour=40")
    grid.ctl("PUT", "/limits", {"endpoint_points_per_minute": 30, "content_per_minute": 4, "content_per_hour": 40,
                                "secondary_block_seconds": 60, "reset": True})
    grid.ctl("PUT", "/ratelimit/alice", {"remaining": 40, "reset_in": 600})
    grid.ctl("POST", "/stats/reset")

    def sleep(seconds: float) -> None:
        grid.ctl("POST", "/clock", {"advance": seconds})

    policy = RetryPolicy(sleep=sleep, secondary_floor=60)
    options = Options(api_url=grid.sb.url, workdir=grid.dir / ".gridctl", policy=policy)
    with Session.open(grid.dir / "grid.yaml", options, operation="apply") as s:
        plan = s.plan()
        assert plan.counts()["create"] == 2 * 12 * (1 + 2 + 1 + 3)
        s.apply(plan)
        budgets = {a: v["budget"] for a, v in s.stats().items()}
    total = grid.ctl("GET", "/stats")["total"]
    assert total.get("secondary_limited", 0) == 0, total  # no secondary-limit answer
    assert total.get("primary_limited", 0) == 0, total  # nothing sent after remaining hit 0
    assert not policy.waits, policy.waits  # so nothing to retry
    # the limits were met, not avoided: the budget paused for the endpoint, content and primary
    assert budgets["alice"]["primary_waits"] >= 1, budgets
    assert all(b["waits"] >= 1 for b in budgets.values()), budgets
    assert budgets["alice"]["waited"] >= 60, budgets
    # and the fleet is as declared
    with Session.open(grid.dir / "grid.yaml", options, operation="plan") as s:
        assert not s.plan().has_changes
    assert grid.ctl("GET", "/stats")["total"].get("secondary_limited", 0) == 0


def _gridctl(grid, *args):
    env = {**os.environ, "GRIDCTL_API_URL": grid.sb.url, "NO_COLOR": "1", "GRIDCTL_WRITE_INTERVAL": "0",
           "GRIDCTL_SECONDARY_FLOOR": "0.01", "GRIDCTL_BACKOFF_BASE": "0.01", **grid.env}
    return subprocess.Popen([sys.executable, "-m", "gridctl", *args], cwd=grid.dir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


WRITES = ("repos/create-for-authenticated-user", "actions/create-repo-variable")


def test_sigkill_while_four_accounts_write_then_rerun_converges(grid):
    for u in USERS:
        grid.user(u)
    grid.write("grid.yaml", fleet(USERS, repos=1, variables=15))
    grid.ctl("PUT", "/latency", {"latency": "40ms"})
    grid.ctl("POST", "/stats/reset")
    proc = _gridctl(grid, "apply", "--auto-approve")
    journal_dir = grid.dir / ".gridctl" / "journal"

    def writing_everywhere() -> list[dict] | None:
        files = list(journal_dir.glob("*.jsonl")) if journal_dir.exists() else []
        if not files:
            return None
        done = [e for e in read_entries(files[0]) if e["type"] == "done"]
        owners = {e["address"].split(":")[1].split("/")[0] for e in done}
        return done if owners == set(USERS) and len(done) >= 12 else None

    try:
        done = wait_for(writing_everywhere, "all four accounts writing", timeout=60, interval=0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    assert len(done) < 4 * 16, "the apply finished before it could be killed"
    entries = read_entries(runs(grid.dir / ".gridctl")[0])
    assert not any(e["type"] == "end" for e in entries)
    # intent before every write: GitHub received no write the journal does not announce, and at
    # most one write per lane was in flight when the kill came
    stats = grid.ctl("GET", "/stats")["by_endpoint"]
    writes = sum(v.get("status_201", 0) + v.get("status_204", 0) for op, v in stats.items() if op in WRITES)
    intents = [e for e in entries if e["type"] == "intent"]
    assert writes <= len(intents) <= writes + len(USERS), (writes, len(intents))
    # each account's writes kept the plan's order: its repository before its variables
    for u in USERS:
        mine = [e["address"] for e in intents if e["address"].split(":")[1].startswith(f"{u}/")]
        assert mine == sorted(mine, key=lambda a: (not a.startswith("repo:"), a)), mine
    # the re-run recovers the journal, finishes, converges
    grid.ctl("PUT", "/latency", {"latency": "off"})
    r = grid.check(0, "apply", "--auto-approve")
    assert "recovered" in r.err
    for u in USERS:
        assert len(list(grid.gh(u).get_repo(f"{u}/r00").get_variables())) == 15
    grid.check(0, "plan", "--detailed-exitcode")
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())
    assert sum(1 for a in state["resources"] if a.startswith("variable:")) == 4 * 15


def test_an_invitation_is_accepted_after_it_is_sent_across_lanes(grid):
    for u in ("alice", "bob"):
        grid.user(u)
    body = "repos:\n" + "".join(
        f"  alice/r{i}:\n    visibility: private\n    collaborators: {{bob: push}}\n" for i in range(6)
    ) + "".join(f"  bob/b{i}:\n    visibility: private\n" for i in range(6))
    grid.write("grid.yaml", grid_yaml(body, *accounts(("alice", "bob"))))
    grid.ctl("PUT", "/latency", {"latency": "20ms"})
    grid.check(0, "apply", "--auto-approve")
    grid.ctl("PUT", "/latency", {"latency": "off"})
    journal = read_entries(runs(grid.dir / ".gridctl")[-1])
    seq = {(e["type"], e["address"]): e["seq"] for e in journal if "address" in e}
    for i in range(6):
        assert seq[("done", f"collaborator:alice/r{i}:bob")] < seq[("intent", f"invitation:alice/r{i}:bob")]
    assert {c.login for c in grid.gh("alice").get_repo("alice/r0").get_collaborators()} >= {"bob"}
    grid.check(0, "plan", "--detailed-exitcode")
