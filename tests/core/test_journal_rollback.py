"""Apply is journaled: a SIGKILL part-way loses nothing, a re-run converges, rollback restores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from gridctl.core.journal import read_entries, runs

from ..helpers import grid_yaml

N_VARS = 40


def manifest(n: int = N_VARS, value: str = "v1", description: str = "first") -> str:
    lines = "\n".join(f"      VAR_{i:02d}: {value}-{i}" for i in range(n))
    return grid_yaml(f"""\
repos:
  alice/big:
    description: {description}
    visibility: private
    variables:
{lines}
""")


def _gridctl(grid, *args, env=None):
    full_env = {**os.environ, "GRIDCTL_API_URL": grid.sb.url, "NO_COLOR": "1", "GRIDCTL_WRITE_INTERVAL": "0", **grid.env, **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "gridctl", *args], cwd=grid.dir, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_apply_then_rerun_converges(grid):
    grid.user("alice")
    grid.write("grid.yaml", manifest())
    grid.ctl("PUT", "/latency", {"latency": "40ms"})
    grid.ctl("POST", "/stats/reset")
    proc = _gridctl(grid, "apply", "--auto-approve")
    journal_dir = grid.dir / ".gridctl" / "journal"
    deadline = time.monotonic() + 60
    killed_after = None
    while time.monotonic() < deadline:
        files = list(journal_dir.glob("*.jsonl")) if journal_dir.exists() else []
        if files:
            done = [e for e in read_entries(files[0]) if e["type"] == "done"]
            if len(done) >= 8:
                proc.send_signal(signal.SIGKILL)
                killed_after = len(done)
                break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert killed_after is not None, "apply finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    entries = read_entries(runs(grid.dir / ".gridctl")[0])
    assert not any(e["type"] == "end" for e in entries)  # the run never finished
    # the journal accounts for every write GitHub received: no successful write without an intent
    stats = grid.ctl("GET", "/stats")["by_endpoint"]
    writes = sum(v.get("status_201", 0) + v.get("status_204", 0) for op, v in stats.items()
                 if op in ("repos/create-for-authenticated-user", "actions/create-repo-variable", "repos/update"))
    intents = [e for e in entries if e["type"] == "intent"]
    assert writes <= len(intents) <= writes + 1, (writes, len(intents))
    done_addresses = {e["address"] for e in entries if e["type"] == "done"}
    live_names = {v.name for v in grid.gh("alice").get_repo("alice/big").get_variables()}
    assert {f"variable:alice/big:{n}" for n in live_names} >= {a for a in done_addresses if a.startswith("variable:")}
    # re-run: recovers the journal into state, finishes the job, converges
    grid.ctl("PUT", "/latency", {"latency": "off"})
    r = grid.check(0, "apply", "--auto-approve")
    assert "recovered" in r.err
    assert len(list(grid.gh("alice").get_repo("alice/big").get_variables())) == N_VARS
    r = grid.check(0, "plan", "--detailed-exitcode")
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())
    assert sum(1 for a in state["resources"] if a.startswith("variable:alice/big:")) == N_VARS


def test_rollback_restores_previous_settings(grid):
    grid.user("alice")
    grid.write("grid.yaml", manifest(3))
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("grid.yaml", manifest(3, value="v2", description="second").replace("      VAR_02: v2-2\n", ""))
    r = grid.check(0, "apply", "--auto-approve")
    repo = grid.gh("alice").get_repo("alice/big")
    assert repo.description == "second"
    assert {v.name: v.value for v in repo.get_variables()} == {"VAR_00": "v2-0", "VAR_01": "v2-1"}
    r = grid.check(0, "rollback", "--auto-approve")
    assert "~ repo alice/big" in r.out and "+ variable alice/big VAR_02" in r.out
    repo = grid.gh("alice").get_repo("alice/big")
    assert repo.description == "first"
    assert {v.name: v.value for v in repo.get_variables()} == {"VAR_00": "v1-0", "VAR_01": "v1-1", "VAR_02": "v1-2"}


def test_rollback_refuses_a_stale_target(grid):
    grid.user("alice")
    grid.write("grid.yaml", manifest(1))
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("grid.yaml", manifest(1, value="v2"))
    assert grid.run("apply", "--auto-approve").code == 0
    # someone edits the variable after our apply: rolling back would clobber their change
    assert grid.api("alice", "PATCH", "/repos/alice/big/actions/variables/VAR_00", {"value": "hand"}).status_code == 204
    r = grid.run("rollback", "--auto-approve")
    assert r.code == 1
    assert "stale" in r.err
    assert grid.gh("alice").get_repo("alice/big").get_variable("VAR_00").value == "hand"


def test_state_lock_blocks_a_second_run(grid):
    import fcntl

    grid.user("alice")
    grid.write("grid.yaml", manifest(1))
    lock = grid.dir / ".gridctl" / "state.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write("run TEST (apply) pid 1")
        fh.flush()
        r = grid.run("apply", "--auto-approve")
        plan = grid.run("plan")
    assert r.code == 1
    assert "locked" in r.err and "Traceback" not in r.all
    # a plan only reads: it runs, and says an apply is in progress
    assert plan.code == 0 and "an apply is in progress" in plan.err, plan.all


def test_mass_delete_needs_force(grid):
    grid.user("alice")
    grid.write("grid.yaml", manifest(12))
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("grid.yaml", manifest(6))
    r = grid.run("apply", "--auto-approve")
    assert r.code == 1
    assert "deletes 6 of 12 variable items" in r.err
    assert len(list(grid.gh("alice").get_repo("alice/big").get_variables())) == 12
    r = grid.check(0, "apply", "--auto-approve", "--force")
    assert len(list(grid.gh("alice").get_repo("alice/big").get_variables())) == 6


def test_making_a_repo_public_needs_force(grid):
    grid.user("alice")
    grid.write("grid.yaml", manifest(1))
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("grid.yaml", manifest(1).replace("visibility: private", "visibility: public"))
    r = grid.run("apply", "--auto-approve")
    assert r.code == 1 and "makes a private repository public" in r.err
    assert grid.run("apply", "--auto-approve", "--force").code == 0
    assert grid.gh("alice").get_repo("alice/big").private is False


def test_target_narrows_the_plan(grid):
    grid.user("alice")
    grid.write("grid.yaml", manifest(2))
    r = grid.run("plan", "--target", "variable:alice/big:VAR_01")
    assert "VAR_01" in r.out and "VAR_00" not in r.out
    assert "+ repo alice/big" in r.out  # the repository it needs comes along
