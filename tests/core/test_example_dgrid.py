"""examples/dgrid: the queue plans, applies, re-plans clean and destroys on the sandbox, and
two workers (`gridctl queue work`, two of them at once) drain the example tasks end to end —
D-GRID's own task example among them."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .. import helpers

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dgrid"
REPO = "dgrid-coord/dgrid-tasks"
WORKFLOW = ".github/workflows/gridctl-queue-jobs.yml"


def copy_example(grid) -> list[str]:
    helpers.copy_example(EXAMPLE, grid.dir)
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
    assert r.code == 0 and r.out.count(": valid") == 5 and "task-001: valid" in r.out, r.all
    r = grid.check(2, "plan", "--detailed-exitcode")
    for line in ("+ repo dgrid-coord/dgrid-tasks", "+ queue dgrid-coord/dgrid-tasks queue jobs layout",
                 "+ queue dgrid-coord/dgrid-tasks queue jobs workflow"):
        assert line in r.out
    r = grid.check(0, "apply", "--auto-approve")
    have = files(grid)
    assert WORKFLOW in have and all(f"tasks/{s}/.gitkeep" in have for s in ("queue", "in_progress", "completed", "failed"))
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 0 and "No changes" in r.out, r.all
    assert grid.run("queue", "submit", "jobs", *task_files).code == 0
    r = grid.check(0, "destroy", "--auto-approve")
    repo = grid.gh("dgrid-coord").get_repo(REPO)
    assert repo.archived
    have = files(grid)
    assert WORKFLOW not in have and len(in_state(grid, "queue")) == 5  # the tasks stay
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())
    assert state["resources"] == {}


def _worker_env(grid) -> dict[str, str]:
    return {
        **os.environ,
        **grid.env,
        "GRIDCTL_API_URL": grid.sb.url,
        "GRIDCTL_WRITE_INTERVAL": "0",
        "GRIDCTL_BACKOFF_BASE": "0.01",
        "GRIDCTL_SECONDARY_FLOOR": "0.01",
    }


def _worker(argv: list[str], node: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gridctl", "queue", "work", "jobs", "--node", node, "--idle-exit", "0", "--poll", "0.2", *argv],
                            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_dgrid_workers_drain_the_queue(grid):
    grid.user("dgrid-coord")
    task_files = copy_example(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    r = grid.check(0, "queue", "submit", "jobs", *task_files)
    workers = [_worker(["-f", str(grid.dir / "grid.yaml")], node, grid.dir, _worker_env(grid)) for node in ("w1", "w2")]
    logs = []
    for w in workers:
        out, err = w.communicate(timeout=180)
        logs.append(err)
        assert w.returncode == 0, err
    log = "\n".join(logs)
    assert set(in_state(grid, "completed")) == {"hello", "answer", "task-001"}, log
    assert set(in_state(grid, "failed")) == {"broken", "too-slow"}, log
    assert not in_state(grid, "queue") and not in_state(grid, "in_progress")
    # each task ran once, on one of the two workers, with its result beside it
    nodes = set()
    for state, tid in (("completed", "hello"), ("completed", "answer"), ("completed", "task-001"), ("failed", "broken"), ("failed", "too-slow")):
        t = json.loads(read(grid, in_state(grid, state)[tid]))
        assert t["result"]["outcome"] == state and t["result"]["finished_by"] == t["claimed_by"]
        res = json.loads(read(grid, f"tasks/{state}/{tid}.result"))
        assert res["task_id"] == tid and res["node_id"] == t["claimed_by"] and res["status"] == t["result"]["status"]
        nodes.add(t["claimed_by"])
        assert log.count(f"running {tid} ") == 1
    assert nodes <= {"w1", "w2"}

    def result(state: str, tid: str) -> dict:
        return json.loads(read(grid, f"tasks/{state}/{tid}.result"))

    assert result("completed", "answer")["stdout"] == "42\n"
    assert result("completed", "hello")["stdout"] == "hello from task hello\n"
    dgrid = result("completed", "task-001")  # D-GRID's own example, run with /bin/sh
    assert dgrid["stdout"].startswith("Hello, D-GRID!\nPython 3.") and dgrid["exit_code"] == 0 and dgrid["status"] == "success"
    broken = result("failed", "broken")
    assert broken["stderr"] == "about to fail\n" and broken["exit_code"] == 3 and broken["status"] == "failed"
    slow = result("failed", "too-slow")
    assert slow["status"] == "timeout" and slow["exit_code"] == 124 and "killed after its timeout of 1s" in slow["reason"]
    # both nodes registered, and stopped once the queue was empty
    for node in ("w1", "w2"):
        rec = json.loads(read(grid, f"tasks/nodes/{node}.json"))
        assert rec["status"] == "stopped" and rec["current_task"] is None
    done = sum(json.loads(read(grid, f"tasks/nodes/{n}.json"))["tasks_done"] for n in ("w1", "w2"))
    assert done == 5
    assert grid.tokens["dgrid-coord"] not in log
    # node files live beside the state folders: the queue's layout still plans clean
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 0 and "No changes" in r.out, r.all


@pytest.mark.slow
def test_dgrid_worker_on_the_embedded_sandbox(tmp_path):
    """The README's way to try it: --sandbox everywhere, no token; two workers share the
    embedded sandbox (its folder is served by one process at a time: commands take turns)."""
    helpers.copy_example(EXAMPLE, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRID_TOKEN")}
    env.update({"GRIDCTL_WRITE_INTERVAL": "0", "NO_COLOR": "1"})
    gridctl = [sys.executable, "-m", "gridctl"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*gridctl, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    r = run("apply", "--sandbox", "--auto-approve")
    assert r.returncode == 0, r.stderr
    r = run("queue", "submit", "jobs", "tasks/answer.json", "tasks/task-001.json", "--sandbox")
    assert r.returncode == 0, r.stderr
    workers = [_worker(["--sandbox"], node, tmp_path, env) for node in ("s1", "s2")]
    logs = ""
    for w in workers:
        _, err = w.communicate(timeout=180)
        assert w.returncode == 0, err
        logs += err
    assert logs.count("answer: success") == 1 and logs.count("task-001: success") == 1, logs
    r = run("queue", "ls", "jobs", "--json", "--sandbox")
    view = json.loads(r.stdout)
    states = view["states"]
    assert states["completed"]["count"] == 2 and states["queue"]["count"] == 0 and states["in_progress"]["count"] == 0
    assert {n["node_id"]: n["status"] for n in view["nodes"]} == {"s1": "stopped", "s2": "stopped"}
