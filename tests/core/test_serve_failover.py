"""The controller killed outright (SIGKILL) at random moments, and two controllers on one
PostgreSQL: nothing is lost, nothing is dispatched twice, no runner is left behind."""

from __future__ import annotations

import random
import signal
import sqlite3
import time

import requests

from tests.core.serve_harness import VIEWER, Fleet, launcher_pids
from tests.pgserver import free_port


def settle(fleet: Fleet, entries: int, runs: int, base: str | None = None) -> list[dict]:
    """Wait until every entry is over and every run completed; returns the history."""

    def over():
        h = fleet.call("GET", "/api/v1/history?limit=1000", token=VIEWER, base=base).json()
        rs = fleet.runs()
        return h if len(h) == entries and len(rs) >= runs and all(r["status"] == "completed" for r in rs) else None

    return list(fleet.until(over, f"{entries} entries and {runs} runs to be over", timeout=300, every=0.5))


def check_once_each(fleet: Fleet, history: list[dict], direct: int) -> None:
    assert {e["state"] for e in history} == {"completed"}, history
    assert {e["conclusion"] for e in history} == {"success"}
    run_ids = [e["run_id"] for e in history]
    assert len(set(run_ids)) == len(run_ids), "two entries claim one run"
    runs = fleet.runs()
    # one run per entry plus the runs dispatched directly: nothing fired twice
    assert len(runs) == len(history) + direct, (len(runs), len(history), direct)
    assert set(run_ids) <= {r["id"] for r in runs}
    assert {r["conclusion"] for r in runs} == {"success"}


def no_orphans(fleet: Fleet, grid, expect_idle: int) -> None:
    """GitHub lists exactly the runners the controller holds, all idle, each with one launcher."""

    def matched():
        gh = fleet.runners()
        mine = [r for r in fleet.call("GET", "/api/v1/runners", token=VIEWER).json() if r["status"] != "removed"]
        return (len(gh) == expect_idle and all(r["status"] == "online" and not r["busy"] for r in gh)
                and sorted(r["name"] for r in gh) == sorted(r["name"] for r in mine)
                and len(launcher_pids(grid.dir)) == expect_idle)

    fleet.until(matched, f"exactly {expect_idle} idle runner(s) with their launcher, nothing else", timeout=90, every=0.5)


def test_sigkill_at_random_moments_loses_nothing_fires_nothing_twice_leaves_no_runner(fleets, grid):
    fleet = fleets(
        pool={"min": 1, "max": 4, "idle_timeout": "2s", "online_timeout": "8s", "offline_timeout": "3s"},
        group={"max_concurrent": 2, "pool": "batch"}, job_seconds=0.5,
    )
    rng = random.Random(20261206)
    # runs dispatched by someone else first (the pool serves them too); entries come later, so
    # a dispatch the controller reconciles after a kill can only be matched with its own run
    direct = 8
    for _ in range(direct):
        fleet.dispatch()
    time.sleep(3)
    proc = fleet.start()
    # answers lost after GitHub acted: a dispatch that started its run, registrations that happened
    grid.ctl("PUT", "/faults", {"specs": [
        f"nth={n},op=actions/create-workflow-dispatch,status=502,after=1" for n in (2, 7)
    ] + [f"nth={n},op=actions/generate-runner-jitconfig-for-repo,status=502,after=1" for n in (3, 11)]})
    added = [fleet.add("small" if i % 2 else "large", rng.randint(0, 5))["id"] for i in range(10)]
    kills = 0
    for round_no in range(22):
        time.sleep(rng.uniform(0.2, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        proc = fleet.start()
        if round_no < 8:
            added.append(fleet.add("small", rng.randint(0, 5))["id"])
    assert kills >= 20
    history = settle(fleet, len(added), len(added) + direct)
    assert sorted(e["id"] for e in history) == sorted(added)
    check_once_each(fleet, history, direct)
    no_orphans(fleet, grid, expect_idle=1)
    assert fleet.stop(proc) == 0
    assert fleet.runners() == []
    fleet.until(lambda: not launcher_pids(grid.dir), "no launcher left", timeout=30)
    assert "Traceback" not in fleet.output()
    # the recoveries were exercised: a dispatch whose answer was lost found its run, and
    # registrations whose answer was lost were cleaned up once they never came online
    db = sqlite3.connect(grid.dir / ".gridctl" / "controller.db")
    try:
        kinds = dict(db.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
        never = db.execute("SELECT count(*) FROM runners WHERE removed_why LIKE '%never online%'").fetchone()[0]
    finally:
        db.close()
    assert kinds.get("dispatch-reconciled", 0) >= 2, kinds
    assert never >= 2


def test_two_controllers_on_one_postgresql_one_leads_the_other_takes_over(fleets, grid, postgres_url):
    poll = 2.0
    fleet = fleets(
        pool={"min": 1, "max": 3, "idle_timeout": "2s", "online_timeout": "10s", "offline_timeout": "3s"},
        group={"max_concurrent": 2, "pool": "batch"}, job_seconds=0.5,
        serve={"poll_interval": f"{poll:g}s", "database": {"env": "GRID_DB"}},
    )
    env = {"GRID_DB": postgres_url}
    a = fleet.start(extra_env=env)
    other_port = free_port()
    b = fleet.start(port=other_port, extra_env=env)
    base_b = f"http://127.0.0.1:{other_port}"
    health_a = requests.get(fleet.base + "/health", timeout=5).json()
    health_b = requests.get(base_b + "/health", timeout=5).json()
    assert [health_a["leader"], health_b["leader"]] == [True, False]
    # the follower serves the API from the same database
    added = [fleet.add("small", p)["id"] for p in (1, 4, 2, 0, 3, 5)]
    queue_b = fleet.call("GET", "/api/v1/groups/batch/queue", token=VIEWER, base=base_b).json()
    assert {e["id"] for e in queue_b} | {e["id"] for e in fleet.call("GET", "/api/v1/history", token=VIEWER, base=base_b).json()} >= set(added)
    assert fleet.call("POST", "/api/v1/runners/scale-up", {"pool": "batch"}, base=base_b).status_code == 409  # not the leader
    fleet.until(lambda: fleet.call("GET", "/api/v1/history", token=VIEWER, base=base_b).json(), "a first entry to finish", timeout=120)
    a.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    a.wait(timeout=30)
    fleet.until(lambda: requests.get(base_b + "/health", timeout=5).json()["leader"], "the follower to lead", timeout=30, every=0.05)
    took = time.monotonic() - killed
    assert took <= 2 * poll, f"the follower took {took:.2f}s to lead (poll interval {poll}s)"
    history = settle(fleet, len(added), len(added), base=base_b)
    check_once_each(fleet, history, direct=0)
    assert fleet.stop(b) == 0
    fleet.until(lambda: not launcher_pids(grid.dir), "no launcher left", timeout=30)
