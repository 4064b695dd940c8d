"""Every transient fault is retried, on updates and deletes as on creates.

Twenty randomized applies, each changing and removing secrets (Actions and Dependabot),
variables and files of a repository, run while the sandbox answers about one request in ten
with a 502, a 503, a 429 or a dropped connection. Each must succeed in ONE apply, and a plan
without faults afterwards must find nothing left to do. The retry policy's sleep advances the
sandbox's clock, so the backoff it decides is real but costs no wall time.
"""

from __future__ import annotations

import random

import pytest

from gridctl.core.session import Options, Session
from gridctl.github.retry import RetryPolicy

NAMES = ["ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO"]


def manifest(rng: random.Random, round_no: int) -> str:
    def pick() -> list[str]:
        return sorted(rng.sample(NAMES, rng.randint(0, len(NAMES))))

    lines = [
        "version: 1",
        "accounts:",
        "  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}",
        "repos:",
        "  alice/r1:",
        "    visibility: private",
        "    secrets:",
        "      actions:",
        *[f"        S_{n}: {{env: VALUE_{n}}}" for n in pick()],
        "      dependabot:",
        *[f"        D_{n}: {{env: VALUE_{n}}}" for n in pick()],
        "    variables:",
        *[f"      V_{n}: \"{n.lower()}-{rng.randint(0, 2)}\"" for n in pick()],
        "    files:",
        *[f"      docs/{n.lower()}.md: {{content: \"{n} round {rng.randint(0, 1)}\"}}" for n in pick()],
    ]
    return "\n".join(lines) + "\n"


def clean(text: str) -> str:
    """Empty maps written as a key with nothing under it would be null: give them {}."""
    out = text.splitlines()
    fixed = []
    for i, ln in enumerate(out):
        nxt = out[i + 1] if i + 1 < len(out) else ""
        indent = len(ln) - len(ln.lstrip())
        if ln.rstrip().endswith(":") and (len(nxt) - len(nxt.lstrip())) <= indent:
            ln = ln + " {}"
        fixed.append(ln)
    return "\n".join(fixed) + "\n"


@pytest.fixture
def world(grid, monkeypatch):
    grid.user("alice")
    for k, v in grid.env.items():
        monkeypatch.setenv(k, v)
    for n in NAMES:
        monkeypatch.setenv(f"VALUE_{n}", f"value-of-{n.lower()}")
    monkeypatch.setenv("GRIDCTL_WRITE_INTERVAL", "0")
    return grid


def session_run(grid, policy: RetryPolicy) -> tuple[dict[str, int], int]:
    """Plan and apply once; returns (the plan's counts per action, changes applied)."""
    options = Options(api_url=grid.sb.url, workdir=grid.dir / ".gridctl", policy=policy)
    with Session.open(grid.dir / "grid.yaml", options, operation="apply") as s:
        plan = s.plan()
        if not plan.has_changes:
            return plan.counts(), 0
        report = s.apply(plan)
        return plan.counts(), len(report.applied)


def test_twenty_faulty_update_delete_applies_each_succeed_at_once(world):
    rng = random.Random(20261206)
    world.sb.app.rng.seed(20261206)

    def sleep(seconds: float) -> None:
        world.ctl("POST", "/clock", {"advance": seconds})

    world.write("grid.yaml", clean(manifest(random.Random(1), 0)))
    policy = RetryPolicy(sleep=sleep, base=0.01)
    session_run(world, policy)  # a first estate, without faults
    totals = {"create": 0, "update": 0, "delete": 0}
    faults_hit = 0
    for round_no in range(20):
        world.write("grid.yaml", clean(manifest(rng, round_no)))
        world.ctl("PUT", "/faults", {"specs": ["rate=0.1,statuses=502|503|429|reset"]})
        before = len(policy.waits)
        try:
            counts, applied = session_run(world, policy)
        finally:
            world.ctl("PUT", "/faults", {"specs": []})
        faults_hit += len(policy.waits) - before
        planned = sum(counts.values())
        assert planned == applied, f"round {round_no}: {applied} of {planned} changes applied"
        for k in totals:
            totals[k] += counts.get(k, 0)
        r = world.run("plan", "--detailed-exitcode")
        assert r.code == 0, f"round {round_no} did not converge in one apply:\n{r.all}"
    # the rounds did exercise updates and deletes under faults, and faults were hit
    assert totals["update"] >= 20 and totals["delete"] >= 20, totals
    assert faults_hit >= 10, f"only {faults_hit} faults were hit: the test proves little"
    print(f"20 applies: {totals}, {faults_hit} transient faults retried")
