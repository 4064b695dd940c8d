"""Benchmark: create a fleet, then no-change plans over it, cold and warm (run by ``nox -s bench``).

The reference shape of issue 16: each repository has 10 Actions secrets, 10 variables, 10
collaborators (accounts of the manifest, so one apply invites and accepts), 2 deploy keys,
2 runners and 5 files in 3 folders. The sandbox runs as its own process (``gridctl sandbox
serve``) and so does every gridctl run. For N = 100 and 300 (and 1,000 with ``--large``) it prints:

* the creating apply: REST calls per repository (goal ≤ 55, flat in N), invitation listings;
* a cold no-change plan (gridctl's ETag cache removed) at latency 0: REST calls per repository
  (goal ≤ 7.1), gridctl's CPU and peak RSS (goal ≤ 150 MB at N=1,000);
* a warm no-change plan at latency 0: rate-limit points (goal 0), 304s, CPU, peak RSS;
* cold and warm plans with 120 ms lognormal latency (median 120 ms, sigma 0.6) at P=32:
  wall / floor (goal ≤ 1.2 at N=100), floor = calls × mean latency / P, the mean of that
  distribution being 120 ms × e^(0.6²/2) ≈ 143.7 ms.

The creating apply runs with the content-creation limits lifted, the sandbox's and gridctl's own
budget's (``GRIDCTL_CLIENT_LIMITS``; thousands of writes would otherwise be paced by GitHub's 80 a
minute; pacing writes is measured by bench_apply); the plans
run under GitHub's documented secondary limits (900 points a minute per endpoint, 100 concurrent
requests). The primary limit is raised to 100,000 an hour for every run: the bench makes more
calls in a few minutes than one token may make in an hour.

Usage: ``python tests/bench/bench_plan.py [--large] [--n 100,300] [--quick]`` (``--quick``: N=100
only, no 120 ms phase); ``BENCH_REPOS`` sets one N as well. The last line, ``RESULT {json}``, is
read by tests/bench/issue16.py (the goals table ``nox -s bench`` prints at the end).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import procs

MAIN = "alice"
COLLABORATORS = [f"c{i:02d}" for i in range(1, 11)]
SECRETS, VARIABLES, DEPLOY_KEYS, RUNNERS = 10, 10, 2, 2
FILES = {  # 5 files in 3 folders
    ".github/workflows/ci.yml": "ci.yml",
    ".github/workflows/run.yml": "run.yml",
    "docs/a.md": "a.md",
    "docs/b.md": "b.md",
    "config/app.json": "app.json",
}
LATENCY = "lognormal:median=120ms,sigma=0.6"
MEAN_LATENCY = 0.120 * math.exp(0.6**2 / 2)
SETUP_LIMITS = {"content_per_minute": 10**6, "content_per_hour": 10**7, "endpoint_points_per_minute": 10**6}
GITHUB_LIMITS = {"content_per_minute": 80, "content_per_hour": 500, "endpoint_points_per_minute": 900, "max_concurrent": 100}


def fake_ssh_key(i: int) -> str:
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + i.to_bytes(4, "big") * 8
    return "ssh-ed25519 " + base64.b64encode(blob).decode() + f" bench-{i}"


def write_workspace(root: Path, n: int, parallelism: int) -> None:
    (root / "keys").mkdir(parents=True, exist_ok=True)
    (root / "files").mkdir(exist_ok=True)
    for s in range(SECRETS):
        (root / "keys" / f"s{s}.txt").write_text(f"bench-secret-{s}-" + "x" * 20 + "\n")
    for name in FILES.values():
        (root / "files" / name).write_text(f"# {name}\n" + ("name: ci\non: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n" if name.endswith(".yml") else "bench\n"))
    lines = ["version: 1", f"settings: {{parallelism: {parallelism}, runner_dir: runners}}", "accounts:"]
    lines.append(f"  main: {{login: {MAIN}, token: {{env: TOK_{MAIN.upper()}}}}}")
    for login in COLLABORATORS:
        lines.append(f"  {login}: {{login: {login}, token: {{env: TOK_{login.upper()}}}}}")
    lines.append("keys:")
    lines += [f"  s{s}: {{source: {{file: keys/s{s}.txt}}}}" for s in range(SECRETS)]
    lines.append("repos:")
    runners = ["runners:"]
    for i in range(n):
        full = f"{MAIN}/bench-{i:04d}"
        lines += [f"  {full}:", "    visibility: private", "    description: bench"]
        lines.append("    collaborators: {" + ", ".join(f"{c}: push" for c in COLLABORATORS) + "}")
        lines += ["    secrets:", "      actions:"]
        lines += [f"        SECRET_{s}: {{key: s{s}}}" for s in range(SECRETS)]
        lines.append("    variables: {" + ", ".join(f"VAR_{v}: value-{v}" for v in range(VARIABLES)) + "}")
        lines.append("    deploy_keys:")
        for k in range(DEPLOY_KEYS):
            (root / "keys" / f"deploy{i}-{k}.pub").write_text(fake_ssh_key(i * DEPLOY_KEYS + k) + "\n")
            lines.append(f"      deploy{k}: {{file: keys/deploy{i}-{k}.pub, read_only: true}}")
        lines.append("    files:")
        lines += [f"      {path}: {{source: files/{name}}}" for path, name in FILES.items()]
        runners.append(f"  - {{scope: {full}, names: [{', '.join(f'r{r}' for r in range(RUNNERS))}], labels: [bench]}}")
    (root / "grid.yaml").write_text("\n".join(lines + runners) + "\n")


class Sandbox(procs.Sandbox):
    """The sandbox as its own process (tests/bench/procs.py), its data in ``root/sbx``, a primary
    limit of 100,000 an hour."""

    def __init__(self, root: Path):
        super().__init__(root / "sandbox.log", "--data", str(root / "sbx"), "--rate-limit", "100000")
        self.ready()

    def put(self, what: str, body: dict) -> None:
        self.ctl("PUT", f"/{what}", body)

    def stats(self) -> dict:
        data: dict = self.ctl("GET", "/stats")
        return data

    def reset(self) -> None:
        """Zero the counters, and move the sandbox clock past the current minute so each measured
        run starts with fresh per-minute secondary-limit windows (runs follow each other within
        seconds; GitHub's windows would not know that the bench is one client)."""
        self.ctl("POST", "/stats/reset")
        self.ctl("POST", "/clock", {"advance": 61})


class Run:
    """One gridctl process: wall seconds, CPU seconds and peak RSS (its own, from wait4)."""

    def __init__(self, root: Path, env: dict, *args: str):
        out = root / ".bench-out"
        t = time.perf_counter()
        with open(out, "w") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "gridctl", *args], cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.wall = time.perf_counter() - t
        self.cpu = usage.ru_utime + usage.ru_stime
        self.rss_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
        self.code = proc.returncode
        self.output = out.read_text(errors="replace")


def row(label: str, n: int, run: Run, st: dict, extra: str = "") -> dict:
    total = st["total"]
    calls = total.get("requests", 0)
    print(
        f"  {label:<34} wall {run.wall:7.2f} s | CPU {run.cpu:6.2f} s | peak RSS {run.rss_mb:6.1f} MB | REST calls {calls:6d} "
        f"({calls / n:5.2f}/repo) | rate points {total.get('points', 0):6d} | 304s {total.get('not_modified', 0):6d} | "
        f"403/429s {total.get('status_403', 0) + total.get('status_429', 0):3d}{extra}",
        flush=True,
    )
    return {"wall": round(run.wall, 2), "cpu": round(run.cpu, 2), "rss_mb": round(run.rss_mb, 1), "calls": calls,
            "calls_per_repo": round(calls / n, 2), "points": total.get("points", 0), "not_modified": total.get("not_modified", 0),
            # answers refused by GitHub's secondary limits, and requests sent after x-ratelimit-remaining: 0
            "secondary_limited": total.get("secondary_limited", 0), "primary_limited": total.get("primary_limited", 0)}


def endpoint(st: dict, op: str) -> int:
    count: int = st.get("by_endpoint", {}).get(op, {}).get("requests", 0)
    return count


def bench(n: int, with_latency: bool) -> dict:
    root = Path(tempfile.mkdtemp(prefix="gridctl-bench-"))
    sbx = Sandbox(root)
    out: dict = {"repos": n}
    try:
        env = {**os.environ, "GRIDCTL_API_URL": sbx.url, "GRIDCTL_WRITE_INTERVAL": "0", "NO_COLOR": "1"}
        # gridctl as installed: its bytecode cached (pip compiles it at install), not compiled
        # again by every run as where PYTHONDONTWRITEBYTECODE is set (the creating apply caches it)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for login in [MAIN, *COLLABORATORS]:
            env[f"TOK_{login.upper()}"] = sbx.ctl("POST", "/users", {"login": login})["token"]
        work = root / "ws"
        write_workspace(work, n, 4)
        print(f"N={n}: {n} repositories x ({SECRETS} secrets, {VARIABLES} variables, {len(COLLABORATORS)} collaborators, "
              f"{DEPLOY_KEYS} deploy keys, {RUNNERS} runners, {len(FILES)} files in 3 folders); {os.cpu_count()} cores", flush=True)
        sbx.put("limits", SETUP_LIMITS)
        sbx.reset()
        # gridctl's own budget keeps GitHub's limits unless told the sandbox's are lifted
        lifted = "content_per_minute=1000000,content_per_hour=10000000,endpoint_points=1000000"
        run = Run(work, {**env, "GRIDCTL_CLIENT_LIMITS": lifted}, "apply", "--auto-approve")
        if run.code != 0:
            raise SystemExit("the creating apply failed:\n" + run.output[-4000:])
        st = sbx.stats()
        listings = endpoint(st, "repos/list-invitations-for-authenticated-user")
        out["create"] = row("creating apply (latency 0)", n, run, st, f" | invitation listings {listings}")
        out["create"]["invitation_listings"] = listings
        run = Run(work, env, "plan", "--detailed-exitcode")
        if run.code != 0:
            raise SystemExit("the plan after apply is not clean:\n" + run.output[-4000:])
        sbx.put("limits", GITHUB_LIMITS)
        for parallelism, latency in ((4, None), (32, LATENCY)) if with_latency else ((4, None),):
            if latency:
                write_workspace(work, n, parallelism)
                sbx.put("latency", {"latency": latency})
            tag = f"P={parallelism}, " + ("120 ms" if latency else "latency 0")
            shutil.rmtree(work / ".gridctl" / "cache", ignore_errors=True)
            sbx.reset()
            run = Run(work, env, "plan", "--detailed-exitcode")
            cold_st = sbx.stats()
            floor = cold_st["total"].get("requests", 0) * MEAN_LATENCY / parallelism
            ratio = f" | wall/floor {run.wall / floor:4.2f}" if latency else ""
            cold = row(f"cold no-change plan ({tag})", n, run, cold_st, ratio)
            if run.code != 0:
                raise SystemExit("the cold plan is not clean:\n" + run.output[-4000:])
            sbx.reset()
            run = Run(work, env, "plan", "--detailed-exitcode")
            st = sbx.stats()
            floor = max(1, st["total"].get("requests", 0)) * MEAN_LATENCY / parallelism
            ratio = f" | wall/floor {run.wall / floor:4.2f}" if latency else ""
            warm = row(f"warm no-change plan ({tag})", n, run, st, ratio)
            if latency:
                cold["wall_over_floor"] = round(cold["wall"] / (cold["calls"] * MEAN_LATENCY / parallelism), 2)
                out["cold_120ms"], out["warm_120ms"] = cold, warm
                continue
            out["cold"], out["warm"] = cold, warm
            ops = sorted(cold_st.get("by_endpoint", {}).items(), key=lambda kv: -kv[1].get("requests", 0))
            print("    cold plan calls per repository: " + ", ".join(f"{op} {c.get('requests', 0) / n:.2f}" for op, c in ops), flush=True)
        return out
    finally:
        sbx.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", action="store_true", help="also N=1,000")
    ap.add_argument("--quick", action="store_true", help="N=100 only, latency 0 only")
    ap.add_argument("--n", help="comma-separated sizes (default 100,300)")
    args, _ = ap.parse_known_args(argv)
    sizes = [int(x) for x in args.n.split(",")] if args.n else [int(os.environ["BENCH_REPOS"])] if os.environ.get("BENCH_REPOS") else [100, 300]
    if args.quick:
        sizes = [100]
    if args.large and 1000 not in sizes:
        sizes.append(1000)
    print(f"gridctl plan benchmark (issue 16's reference shape) on {os.cpu_count()} cores", flush=True)
    results = []
    for n in sizes:
        results.append(bench(n, with_latency=not args.quick))
    # read by tests/bench/issue16.py (the table `nox -s bench` prints at the end)
    print("RESULT " + json.dumps({"bench": "plan", "cores": os.cpu_count(), "quick": args.quick, "runs": results}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
