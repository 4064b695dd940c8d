"""Benchmark: apply throughput with k owner tokens, and a 1,000-secret apply under GitHub's limits
(run by ``nox -s bench``; ``python tests/bench/bench_apply.py --quick`` for a short run).

The sandbox runs as its own process (``gridctl sandbox serve``) with GitHub's documented limits
(5,000 requests an hour per user; 900 points a minute per endpoint, 80 content-creating requests
a minute, 100 in flight: GitHub Docs, "Rate limits for the REST API",
https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api). gridctl runs
in this process (plan, then the apply timed alone). Printed, with the machine's core count:

1. **throughput**: one new Actions secret in each of W repositories per token, k = 1 and k = 4
   owner tokens, default pacing (``write_interval`` 1 s), 120 ms median latency. Goal: at least
   0.95 x k writes a second (one paced writer per token).
2. **under GitHub's limits**: 1,000 secrets over 4 tokens (250 each, 25 in each of 10
   repositories), ``write_interval`` 0 so the budget alone paces them, latency 0, and every
   token's primary window nearly spent (150 requests left, reset in 30 s). Goals: no
   secondary-limit answer, no request after ``x-ratelimit-remaining: 0``, and wall time within
   10 % of the per-endpoint floor — 250 PUTs of 5 points are 1,250 points on one endpoint, so
   the last 70 cannot go out before the first minute's points expire (floor = 60 s per started
   extra 900 points).

``--quick``: W = 8 and 200 secrets on one token (one extra window: the floor is still 60 s).
The last line, ``RESULT {json}``, is read by tests/bench/issue16.py (the goals table ``nox -s
bench`` prints at the end).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import procs

QUICK = "--quick" in sys.argv
USERS = ("alice", "bob", "carol", "dave")


class Sandbox(procs.Sandbox):
    """The sandbox as its own process (tests/bench/procs.py), its data in ``root/sbx``, with a
    token for each of USERS."""

    def __init__(self, root: Path):
        super().__init__(root / "sandbox.log", "--data", str(root / "sbx"))
        self.ready()
        self.tokens = {u: self.ctl("POST", "/users", {"login": u})["token"] for u in USERS}


def manifest(users: tuple[str, ...], repos: int, secrets: int) -> str:
    lines = ["version: 1", "accounts:"]
    lines += [f"  {u}: {{login: {u}, token: {{env: BENCH_TOKEN_{u.upper()}}}}}" for u in users]
    lines.append("repos:")
    for u in users:
        for r in range(repos):
            lines += [f"  {u}/bench-{r:03d}:", "    visibility: private"]
            if secrets:
                lines += ["    secrets:", "      actions:"]
                lines += [f"        S_{i:03d}: {{env: BENCH_SECRET}}" for i in range(secrets)]
    return "\n".join(lines) + "\n"


def apply(sbx: Sandbox, work: Path, text: str, write_interval: float, before_apply=None) -> tuple[float, int, dict]:
    """Plan and apply ``text``; returns (apply seconds, changes, gridctl's stats)."""
    from gridctl.core.session import Options, Session

    (work / "grid.yaml").write_text(text)
    options = Options(api_url=sbx.url, workdir=work / ".gridctl", write_interval=write_interval)
    with Session.open(work / "grid.yaml", options, operation="apply") as s:
        plan = s.plan()
        if before_apply is not None:
            before_apply()
        t = time.perf_counter()
        s.apply(plan)
        return time.perf_counter() - t, len(plan.changes), s.stats()


def throughput(sbx: Sandbox, root: Path, k: int, per_token: int) -> dict:
    users = USERS[:k]
    work = root / f"tp{k}"
    work.mkdir()
    sbx.ctl("PUT", "/latency", {"latency": "off"})
    apply(sbx, work, manifest(users, per_token, 0), 0.0)  # the repositories, unmeasured
    sbx.ctl("PUT", "/latency", {"latency": "lognormal:median=120ms,sigma=0.3"})
    secs, n, _ = apply(sbx, work, manifest(users, per_token, 1), 1.0)
    sbx.ctl("PUT", "/latency", {"latency": "off"})
    rate = n / secs
    goal = 0.95 * k
    print(f"  k={k}: {n} secrets in {secs:6.2f} s = {rate:5.2f} writes/s (goal >= {goal:.2f}: {'met' if rate >= goal else 'MISSED'})")
    return {"k": k, "secrets": n, "seconds": round(secs, 2), "rate": round(rate, 3)}


def under_limits(sbx: Sandbox, root: Path, users: tuple[str, ...], repos: int, secrets: int) -> dict:
    work = root / "limits"
    work.mkdir()
    apply(sbx, work, manifest(users, repos, 0), 0.0)
    per_token = repos * secrets
    sbx.ctl("PUT", "/limits", {"reset": True})

    def spend_windows() -> None:
        for u in users:
            sbx.ctl("PUT", f"/ratelimit/{u}", {"remaining": 150, "reset_in": 30})
        sbx.ctl("POST", "/stats/reset")

    secs, n, stats = apply(sbx, work, manifest(users, repos, secrets), 0.0, before_apply=spend_windows)
    total = sbx.ctl("GET", "/stats")["total"]
    points = per_token * 5
    floor = 60.0 * (math.ceil(points / 900) - 1)
    secondary = total.get("secondary_limited", 0)
    after_zero = total.get("primary_limited", 0)
    waits = sum(int(v["budget"]["primary_waits"] > 0) for v in stats.values())
    print(f"  {n} secrets over {len(users)} token(s) ({per_token} each = {points} points on one endpoint): "
          f"wall {secs:6.2f} s, per-endpoint floor {floor:.0f} s, wall/floor {secs / floor:4.2f} "
          f"(goal <= 1.10: {'met' if secs <= 1.1 * floor else 'MISSED'})")
    print(f"  secondary-limit answers {secondary} (goal 0), requests after remaining 0: {after_zero} (goal 0); "
          f"{total.get('requests', 0)} requests; {waits} token(s) paused for a primary reset")
    return {"secrets": n, "tokens": len(users), "per_token": per_token, "points": points, "wall": round(secs, 2),
            "floor": floor, "secondary_limited": secondary, "primary_limited": after_zero,
            "requests": total.get("requests", 0), "paused_tokens": waits}


def main() -> int:
    os.environ["BENCH_SECRET"] = "bench-secret-value"
    os.environ.pop("GRIDCTL_WRITE_INTERVAL", None)
    os.environ.pop("GRIDCTL_CLIENT_LIMITS", None)
    root = Path(tempfile.mkdtemp(prefix="gridctl-bench-apply-"))
    t0 = time.perf_counter()
    sbx = Sandbox(root)
    for u, tok in sbx.tokens.items():
        os.environ[f"BENCH_TOKEN_{u.upper()}"] = tok
    try:
        print(f"gridctl apply benchmark ({'quick' if QUICK else 'full'}), {os.cpu_count()} CPU core(s), sandbox with GitHub's limits")
        per_token = 8 if QUICK else 30
        print(f"throughput: one new secret in each of {per_token} repositories per token, write_interval 1 s, 120 ms latency")
        rates = [throughput(sbx, root, 1, per_token), throughput(sbx, root, 4, per_token)]
        print("under GitHub's limits: write_interval 0, latency 0, 150 requests left in each token's primary window")
        if QUICK:
            limited = under_limits(sbx, root, USERS[:1], 8, 25)
        else:
            limited = under_limits(sbx, root, USERS, 10, 25)
    finally:
        sbx.stop()
    print(f"(bench took {time.perf_counter() - t0:.0f} s)")
    # read by tests/bench/issue16.py (the table `nox -s bench` prints at the end)
    print("RESULT " + json.dumps({"bench": "apply", "cores": os.cpu_count(), "quick": QUICK, "throughput": rates,
                                  "under_limits": limited}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
