"""Benchmark: loading the manifest — ``gridctl validate`` and the load every plan pays (``nox -s bench -- manifest``).

    python tests/bench/bench_manifest.py [--large] [--quick] [--sizes 100,300] [--repeat 3]

The manifest has issue 16's reference shape: N repositories, each with 10 Actions secrets (key
references), 10 variables, 10 collaborators (accounts of the manifest), 2 deploy keys, 2 runners
and 5 files in 3 folders. For each N it prints, for

* ``gridctl validate`` as its own process (interpreter start and imports included): CPU seconds
  (user + system of that process) and its peak RSS,
* the manifest load alone inside one process (``gridctl.resources.load_manifest``, sources read
  as ``validate`` reads them): CPU seconds of the first load (nothing cached in the process) and
  the peak RSS of that process,

the best of ``--repeat`` runs (the machine is shared and noisy). No network, no sandbox.
Goal (issue 16): ``gridctl validate`` of N=1,000 in at most 1 s of CPU.

N = 100 and 300 by default; ``--large`` adds 1,000 (as bench_plan's does); ``--quick`` runs each
size once (``--repeat 1``). The last line, ``RESULT {json}``, is read by tests/bench/issue16.py.
Flags meant for other benches (``nox -s bench`` passes its flags to each) are ignored.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SECRETS, VARIABLES, COLLABORATORS, DEPLOY_KEYS, RUNNERS = 10, 10, 10, 2, 2
FILES = {  # 5 files in 3 folders
    ".github/workflows/ci.yml": "workflows/ci.yml",
    ".github/workflows/run.yml": "workflows/run.yml",
    "docs/README.md": "files/readme.md",
    "docs/CONTRIBUTING.md": "files/contributing.md",
    "config/settings.json": "files/settings.json",
}


def fake_ssh_key(i: int) -> str:
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + i.to_bytes(4, "big") * 8
    return "ssh-ed25519 " + base64.b64encode(blob).decode() + f" bench-{i}"


def write_workspace(root: Path, n: int) -> Path:
    """The reference-shape manifest of ``n`` repositories and the files it refers to."""
    for d in ("keys", "workflows", "files"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for s in range(SECRETS):
        (root / "keys" / f"s{s}.txt").write_text(f"bench-secret-{s}-" + "x" * 20 + "\n")
    (root / "workflows" / "ci.yml").write_text("name: ci\non: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ci\n")
    (root / "workflows" / "run.yml").write_text(
        "name: run\non:\n  workflow_dispatch:\n    inputs:\n      n: {required: false, default: '1'}\n"
        "jobs:\n  t:\n    runs-on: [self-hosted]\n    steps:\n      - run: echo run\n"
    )
    (root / "files" / "readme.md").write_text("# bench\n")
    (root / "files" / "contributing.md").write_text("Be kind.\n")
    (root / "files" / "settings.json").write_text('{"bench": true}\n')
    lines = ["# issue 16's reference shape", "version: 1", "", "accounts:", "  main: {login: alice, token: {env: BENCH_TOKEN_MAIN}}"]
    lines += [f"  c{c}: {{login: collab-{c}, token: {{env: BENCH_TOKEN_C{c}}}}}" for c in range(COLLABORATORS)]
    lines += ["", "keys:"]
    lines += [f"  s{s}: {{source: {{file: keys/s{s}.txt}}}}" for s in range(SECRETS)]
    lines += ["", "defaults:", "  repo: {visibility: private, has_wiki: false}", "", "repos:"]
    runners = ["", "runners:"]
    for i in range(n):
        repo = f"alice/bench-{i:04d}"
        for k in range(DEPLOY_KEYS):
            (root / "keys" / f"deploy{i}-{k}.pub").write_text(fake_ssh_key(i * DEPLOY_KEYS + k) + "\n")
        lines += [
            f"  {repo}:",
            f"    description: bench repository {i}   # a comment, as real manifests have",
            "    topics: [bench, grid]",
            "    collaborators:",
        ]
        lines += [f"      c{c}: {'push' if c % 3 else 'pull'}" for c in range(COLLABORATORS)]
        lines += ["    secrets:", "      actions:"]
        lines += [f"        SECRET_{s}: {{key: s{s}}}" for s in range(SECRETS)]
        lines.append("    variables:")
        lines += [f"      VAR_{v}: value-{v}" for v in range(VARIABLES)]
        lines.append("    deploy_keys:")
        lines += [f"      deploy-{k}: {{file: keys/deploy{i}-{k}.pub, read_only: true}}" for k in range(DEPLOY_KEYS)]
        lines.append("    files:")
        lines += [f"      {path}: {{source: {src}}}" for path, src in FILES.items()]
        runners += [f"  - scope: {repo}", f"    names: [{', '.join(f'bench-{i:04d}-r{r}' for r in range(RUNNERS))}]", "    labels: [linux, bench]"]
    manifest = root / "grid.yaml"
    manifest.write_text("\n".join(lines + runners) + "\n")
    return manifest


_LOAD = """
import json, resource, sys, time
from gridctl.resources import load_manifest
t0 = time.process_time()
m = load_manifest(sys.argv[1], secrets=False, tokens=False)
cpu = time.process_time() - t0
print(json.dumps({"cpu": cpu, "repos": len(m.repos)}))
"""


def _child(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``argv``; its CPU seconds (user + system), peak RSS in MB, and stdout."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{text[-2000:]}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text


def measure(n: int, repeat: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="gridctl-bench-manifest-"))
    try:
        manifest = write_workspace(root, n)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_", "GRID_TOKEN"))}
        # gridctl as installed: its bytecode cached (pip compiles it at install; the first run
        # here writes it), not compiled again by every run as where PYTHONDONTWRITEBYTECODE is set
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        repo_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = repo_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        gridctl = [sys.executable, "-c", "from gridctl.cli import main; main()"]
        best: dict[str, Any] = {}
        _child([*gridctl, "validate", "-f", str(manifest)], root, env)  # writes the bytecode; not measured
        for _ in range(repeat):
            # a state folder of its own each time: nothing cached from an earlier run
            shutil.rmtree(root / ".gridctl", ignore_errors=True)
            cpu, rss, _ = _child([*gridctl, "validate", "-f", str(manifest)], root, env)
            if cpu < best.get("validate_cpu", float("inf")):
                best.update(validate_cpu=cpu, validate_rss=rss)
            shutil.rmtree(root / ".gridctl", ignore_errors=True)
            _, rss, text = _child([sys.executable, "-c", _LOAD, str(manifest)], root, env)
            got = json.loads(text.strip().splitlines()[-1])
            assert got["repos"] == n, got
            if got["cpu"] < best.get("load_cpu", float("inf")):
                best.update(load_cpu=got["cpu"], load_rss=rss)
        best["bytes"] = manifest.stat().st_size
        return best
    finally:
        shutil.rmtree(root, ignore_errors=True)


def reference_cpu(repeat: int) -> float:
    """CPU seconds of a fixed pure-Python workload (parse and dump a JSON document, walk it), best
    of ``repeat``: the same machine gives about the same figure, a slower or busier one a larger
    figure, so the benches' CPU figures of two machines (or two days) can be compared through it."""
    doc = json.dumps([{"name": f"r{i}", "tags": [str(j) for j in range(8)], "n": i * 0.5} for i in range(2000)])
    best = float("inf")
    for _ in range(max(1, repeat)):
        t = time.process_time()
        for _ in range(60):
            data = json.loads(doc)
            total = sum(len(d["tags"]) + int(d["n"]) for d in data)
            json.dumps(data, sort_keys=True)
        best = min(best, time.process_time() - t)
        assert total > 0
    return round(best, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,300", help="comma-separated sizes (default 100,300)")
    ap.add_argument("--large", action="store_true", help="also N=1,000")
    ap.add_argument("--quick", action="store_true", help="one run per size (--repeat 1)")
    ap.add_argument("--repeat", type=int, default=3)
    args, _ = ap.parse_known_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        ap.error(f"--sizes: comma-separated whole numbers, not {args.sizes!r}")
    if args.large and 1000 not in sizes:
        sizes.append(1000)
    if args.quick:
        args.repeat = 1
    if args.repeat < 1 or any(n < 1 for n in sizes):
        ap.error("--sizes and --repeat: at least 1")
    print(f"manifest load, issue 16's reference shape ({os.cpu_count()} CPUs, best of {args.repeat})")
    print(f"{'N':>6} {'manifest':>10} {'validate CPU':>13} {'validate RSS':>13} {'load CPU':>9} {'load RSS':>9}")
    runs = []
    for n in sizes:
        r = measure(n, args.repeat)
        print(f"{n:>6} {r['bytes'] / 1e6:>8.2f}MB {r['validate_cpu']:>12.2f}s {r['validate_rss']:>11.0f}MB"
              f" {r['load_cpu']:>8.2f}s {r['load_rss']:>7.0f}MB", flush=True)
        runs.append({"repos": n, **{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}})
    print("goal: validate CPU <= 1 s at N=1,000")
    ref = reference_cpu(args.repeat)
    print(f"machine reference: a fixed pure-Python workload took {ref:.2f} s of CPU (compare CPU figures across machines by it)")
    print("RESULT " + json.dumps({"bench": "manifest", "cores": os.cpu_count(), "repeat": args.repeat, "runs": runs,
                                  "reference_cpu": ref}), flush=True)


if __name__ == "__main__":
    main()
