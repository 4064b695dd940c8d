"""examples/dgrid: the queue plans, applies, re-plans clean and destroys on the sandbox, and the
example's worker loop (worker.sh, two of them at once) drains the example tasks end to end."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dgrid"
REPO = "dgrid-coord/dgrid-tasks"
WORKFLOW = ".github/workflows/gridctl-queue-jobs.yml"


def copy_example(grid) -> list[str]:
    shutil.copytree(EXAMPLE, grid.dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".gridctl"))
    return sorted(str(p.relative_to(grid.dir)) for p in (grid.dir / "tasks").iterdir())


def files(grid) -> dict[str, str]:
    resp = grid.api("dgrid-coord", "GET", f"/repos/{REPO}/git/trees/main?recursive=1")
    assert resp.status_code == 200, resp.text
    return {e["path"]: e["sha"] for e in resp.json()["tree"] if e["type"] == "blob"}


def read(grid, path: str) -> bytes:
    sha = files(grid)[path]
    return base64.b64decode(grid.api("dgrid-coord", "GET", f"/repos/{REPO}/git/blobs/{sha}").json()["content"])


def in_state(grid, state: str) -> dict[str, str]:
    return {p.rsplit("/", 1)[1].split("@")[0]: p for p in files(grid) if p.startswith(f"tasks/{state}/") and "@" in p}


def test_dgrid_plans_applies_replans_clean_and_destroys(grid):
    grid.user("dgrid-coord")
    task_files = copy_example(grid)
    assert grid.run("validate").code == 0
    r = grid.run("queue", "check", *task_files)
    assert r.code == 0 and r.out.count(": valid") == 4, r.all
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2, r.all
    for line in ("+ repo dgrid-coord/dgrid-tasks", "+ queue dgrid-coord/dgrid-tasks queue jobs layout",
                 "+ queue dgrid-coord/dgrid-tasks queue jobs workflow"):
        assert line in r.out
    r = grid.run("apply", "--auto-approve")
    assert r.code == 0, r.all
    have = files(grid)
    assert WORKFLOW in have and all(f"tasks/{s}/.gitkeep" in have for s in ("queue", "in_progress", "completed", "failed"))
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 0 and "No changes" in r.out, r.all
    assert grid.run("queue", "submit", "jobs", *task_files).code == 0
    r = grid.run("destroy", "--auto-approve")
    assert r.code == 0, r.all
    repo = grid.gh("dgrid-coord").get_repo(REPO)
    assert repo.archived
    have = files(grid)
    assert WORKFLOW not in have and len(in_state(grid, "queue")) == 4  # the tasks stay
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())
    assert state["resources"] == {}


def _worker_env(grid, node: str) -> dict[str, str]:
    return {
        **os.environ,
        **grid.env,
        "GRIDCTL": f"{sys.executable} -m gridctl",
        "GRIDCTL_FILE": str(grid.dir / "grid.yaml"),
        "GRIDCTL_API_URL": grid.sb.url,
        "GRIDCTL_WRITE_INTERVAL": "0",
        "GRIDCTL_BACKOFF_BASE": "0.01",
        "GRIDCTL_SECONDARY_FLOOR": "0.01",
        "NODE": node,
        "IDLE_SLEEP": "1",
    }


@pytest.mark.slow
def test_dgrid_workers_drain_the_queue(grid):
    grid.user("dgrid-coord")
    task_files = copy_example(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    r = grid.run("queue", "submit", "jobs", *task_files)
    assert r.code == 0, r.all
    workers = [
        subprocess.Popen(["bash", str(grid.dir / "worker.sh"), "--drain"], env=_worker_env(grid, node), cwd=grid.dir,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for node in ("w1", "w2")
    ]
    logs = []
    for w in workers:
        out, err = w.communicate(timeout=180)
        logs.append(err)
        assert w.returncode == 0, err
    log = "\n".join(logs)
    assert set(in_state(grid, "completed")) == {"hello", "answer"}, log
    assert set(in_state(grid, "failed")) == {"broken", "too-slow"}, log
    assert not in_state(grid, "queue") and not in_state(grid, "in_progress")
    # each task ran once, on one of the two workers, with its output kept beside it
    nodes = set()
    for state, tid in (("completed", "hello"), ("completed", "answer"), ("failed", "broken"), ("failed", "too-slow")):
        t = json.loads(read(grid, in_state(grid, state)[tid]))
        assert t["result"]["outcome"] == state and t["result"]["finished_by"] == t["claimed_by"]
        nodes.add(t["claimed_by"])
        assert log.count(f"running {tid} ") == 1
    assert nodes <= {"w1", "w2"}
    assert read(grid, "tasks/completed/answer.result").startswith(b"42\n")
    assert b"hello from task hello" in read(grid, "tasks/completed/hello.result")
    broken = read(grid, "tasks/failed/broken.result")
    assert b"about to fail" in broken and b"exit status 3" in broken
    assert b"killed after its timeout of 1s" in read(grid, "tasks/failed/too-slow.result")
    assert grid.tokens["dgrid-coord"] not in log


@pytest.mark.slow
def test_dgrid_worker_on_the_embedded_sandbox(tmp_path):
    """The README's way to try it: --sandbox everywhere, no token; two workers share the
    embedded sandbox (its folder is served by one process at a time: commands take turns)."""
    shutil.copytree(EXAMPLE, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".gridctl"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRID_TOKEN")}
    env.update({"GRIDCTL_WRITE_INTERVAL": "0", "NO_COLOR": "1"})
    gridctl = [sys.executable, "-m", "gridctl"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*gridctl, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    r = run("apply", "--sandbox", "--auto-approve")
    assert r.returncode == 0, r.stderr
    r = run("queue", "submit", "jobs", "tasks/answer.json", "--sandbox")
    assert r.returncode == 0, r.stderr
    wenv = {**env, "GRIDCTL": " ".join(gridctl), "GRIDCTL_ARGS": "--sandbox", "IDLE_SLEEP": "1"}
    workers = [
        subprocess.Popen(["bash", "worker.sh", "--drain"], cwd=tmp_path, env={**wenv, "NODE": node},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for node in ("s1", "s2")
    ]
    logs = ""
    for w in workers:
        _, err = w.communicate(timeout=180)
        assert w.returncode == 0, err
        logs += err
    assert logs.count("answer: completed") == 1, logs
    r = run("queue", "ls", "jobs", "--json", "--sandbox")
    states = json.loads(r.stdout)["states"]
    assert states["completed"]["count"] == 1 and states["queue"]["count"] == 0 and states["in_progress"]["count"] == 0
