"""Benchmark: a no-change plan over N repositories, cold and warm (run by ``nox -s bench``).

Each repository has 5 secrets, 5 variables, 3 collaborators (accounts of the manifest, so one
apply invites and accepts), 1 deploy key and 2 workflow files. The sandbox runs as a separate
process (``gridctl sandbox serve``); gridctl runs as a separate process too. Printed figures:
REST calls per repository, rate-limit points used, 304s, and wall time, for

* the setup apply (everything created),
* a cold no-change plan (gridctl's ETag cache removed),
* a warm no-change plan (cache kept: GitHub answers 304, which costs no rate-limit point).

Target: at most 8 REST calls per repository cold; the warm plan mostly 304s. Each line also shows
gridctl's own CPU time (user + system of the gridctl process alone, not the sandbox's).
``BENCH_REPOS`` (default 200) sets N.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

N = int(os.environ.get("BENCH_REPOS", "200"))
ACCOUNTS = {"main": "alice", "n1": "bob", "n2": "carol", "n3": "dave"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_ssh_key(i: int) -> str:
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + i.to_bytes(4, "big") * 8
    return "ssh-ed25519 " + base64.b64encode(blob).decode() + f" bench-{i}"


def write_workspace(root: Path) -> None:
    (root / "keys").mkdir(parents=True)
    (root / "workflows").mkdir()
    for s in range(5):
        (root / "keys" / f"s{s}.txt").write_text(f"bench-secret-{s}-" + "x" * 20 + "\n")
    (root / "workflows" / "ci.yml").write_text("name: ci\non: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ci\n")
    (root / "workflows" / "run.yml").write_text(
        "name: run\non:\n  workflow_dispatch:\n    inputs:\n      n: {required: false, default: '1'}\njobs:\n  t:\n    runs-on: [self-hosted]\n    steps:\n      - run: echo run\n"
    )
    lines = ["version: 1", "accounts:"]
    for acc, login in ACCOUNTS.items():
        lines.append(f"  {acc}: {{login: {login}, token: {{env: TOK_{login.upper()}}}}}")
    lines.append("keys:")
    for s in range(5):
        lines.append(f"  s{s}: {{source: {{file: keys/s{s}.txt}}}}")
    lines.append("repos:")
    for i in range(N):
        (root / "keys" / f"deploy{i}.pub").write_text(fake_ssh_key(i) + "\n")
        lines += [
            f"  alice/bench-{i:04d}:",
            "    visibility: private",
            "    description: bench",
            "    collaborators: {n1: push, n2: push, n3: pull}",
            "    secrets:",
            "      actions:",
        ]
        lines += [f"        SECRET_{s}: {{key: s{s}}}" for s in range(5)]
        lines.append("    variables: {" + ", ".join(f"VAR_{v}: value-{v}" for v in range(5)) + "}")
        lines.append(f"    deploy_keys: {{deploy: {{file: keys/deploy{i}.pub, read_only: true}}}}")
        lines.append("    files:")
        lines.append("      .github/workflows/ci.yml: {source: workflows/ci.yml}")
        lines.append("      .github/workflows/run.yml: {source: workflows/run.yml}")
    (root / "grid.yaml").write_text("\n".join(lines) + "\n")


def stats(url: str) -> dict:
    return requests.get(f"{url}/_sandbox/stats", timeout=30).json()


def reset(url: str) -> None:
    requests.post(f"{url}/_sandbox/stats/reset", timeout=30)


#: CPU seconds (user + system) of the last gridctl process :func:`gridctl` ran
LAST_CPU = [0.0]


def _children_cpu() -> float:
    # counts only children that were waited for: gridctl's runs, not the sandbox (still running)
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def gridctl(root: Path, env: dict, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    t, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run([sys.executable, "-m", "gridctl", *args], cwd=root, env=env, capture_output=True, text=True)
    LAST_CPU[0] = _children_cpu() - cpu
    return time.perf_counter() - t, proc


def summarize(label: str, seconds: float, st: dict) -> None:
    total = st["total"]
    calls = total.get("requests", 0)
    print(
        f"{label:<22} wall {seconds:7.2f} s | CPU {LAST_CPU[0]:7.2f} s | REST calls {calls:6d} ({calls / N:5.2f}/repo) | "
        f"rate-limit points {total.get('points', 0):6d} | 304s {total.get('not_modified', 0):6d}"
    )


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="gridctl-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = root / "sbx"
    server = subprocess.Popen(
        [sys.executable, "-m", "gridctl", "sandbox", "serve", "--port", str(port), "--data", str(data), "--rate-limit", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(200):
            try:
                requests.get(f"{url}/_sandbox/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.05)
        # The setup writes thousands of objects: lift GitHub's content-creation limit (80/min) so
        # the setup is not dominated by secondary-limit waits; the plans measured read only.
        requests.put(f"{url}/_sandbox/limits", json={"content_per_minute": 10**6, "content_per_hour": 10**7, "endpoint_points_per_minute": 10**6}, timeout=30)
        env = {**os.environ, "GRIDCTL_API_URL": url, "GRIDCTL_WRITE_INTERVAL": "0", "NO_COLOR": "1"}
        for login in ACCOUNTS.values():
            r = requests.post(f"{url}/_sandbox/users", json={"login": login}, timeout=30)
            env[f"TOK_{login.upper()}"] = r.json()["token"]
        work = root / "ws"
        write_workspace(work)
        print(f"gridctl plan benchmark: {N} repositories x (5 secrets, 5 variables, 3 collaborators, 1 deploy key, 2 files)")
        reset(url)
        secs, proc = gridctl(work, env, "apply", "--auto-approve")
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            return 1
        summarize("setup apply", secs, stats(url))
        secs, proc = gridctl(work, env, "plan", "--detailed-exitcode")
        if proc.returncode != 0:
            print("the plan after apply is not clean:\n" + proc.stdout[-3000:] + proc.stderr[-2000:])
            return 1
        shutil.rmtree(work / ".gridctl" / "cache", ignore_errors=True)
        reset(url)
        secs, proc = gridctl(work, env, "plan", "--detailed-exitcode")
        cold, cold_cpu = stats(url), LAST_CPU[0]
        summarize("cold no-change plan", secs, cold)
        reset(url)
        secs, proc = gridctl(work, env, "plan", "--detailed-exitcode")
        warm = stats(url)
        summarize("warm no-change plan", secs, warm)
        print("cold plan calls by endpoint (per repository):")
        for op, c in sorted(cold["by_endpoint"].items(), key=lambda kv: -kv[1].get("requests", 0)):
            print(f"  {op:<55} {c.get('requests', 0):6d}  ({c.get('requests', 0) / N:.2f}/repo)")
        share_304 = warm["total"].get("not_modified", 0) / max(1, warm["total"].get("requests", 1))
        print(f"warm plan: {share_304:.0%} of requests answered 304")
        result = {
            "repos": N,
            "cold_calls_per_repo": cold["total"].get("requests", 0) / N,
            "cold_cpu_seconds": round(cold_cpu, 2),
            "cold_points": cold["total"].get("points", 0),
            "warm_points": warm["total"].get("points", 0),
            "warm_304_share": share_304,
        }
        print("RESULT " + json.dumps(result))
        return 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
