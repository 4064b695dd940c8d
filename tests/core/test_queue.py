"""End to end: git-backed task queues (kind ``queue`` and ``gridctl queue ...``) on the strict
sandbox, through the real CLI and real PyGithub; concurrency through real clients in threads."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gridctl.fleet.taskqueue import TaskQueue
from gridctl.github.client import AccountClient, EtagCache
from gridctl.github.retry import RetryPolicy
from gridctl.manifest.sources import Sensitive
from gridctl.resources import load_manifest

from ..helpers import grid_yaml

REPO = "alice/work"


def queue_manifest(settings: str) -> str:
    """alice/work (private, initialised) holding the queue ``jobs`` under tasks/, with more of its
    settings (YAML lines indented under it)."""
    return grid_yaml(f"""\
repos:
  alice/work:
    visibility: private
    auto_init: true
queues:
  jobs:
    repo: alice/work
    path: tasks
{settings}""")


MANIFEST = queue_manifest("    validate_pull_requests: true\n    orphan_after: 2s\n")
STATES = ("queue", "in_progress", "completed", "failed")
WORKFLOW = ".github/workflows/gridctl-queue-jobs.yml"


# -- helpers ----------------------------------------------------------------------------------------


def setup(grid, manifest: str = MANIFEST) -> None:
    grid.user("alice")
    grid.write("grid.yaml", manifest)
    grid.check(0, "apply", "--auto-approve")


def files(grid, repo: str = REPO, branch: str = "main") -> dict[str, str]:
    """Every file of the branch -> blob sha."""
    resp = grid.api("alice", "GET", f"/repos/{repo}/git/trees/{branch}?recursive=1")
    assert resp.status_code == 200, resp.text
    return {e["path"]: e["sha"] for e in resp.json()["tree"] if e["type"] == "blob"}


def tasks(grid, state: str, branch: str = "main") -> dict[str, str]:
    """task_id -> path, for the task files of one state folder."""
    out = {}
    for path in files(grid, branch=branch):
        name = path.rsplit("/", 1)[-1]
        if path.startswith(f"tasks/{state}/") and name.endswith((".json", ".yaml", ".yml")):
            out[name.split("@")[0] if "@" in name else name.rsplit(".", 1)[0]] = path
    return out


def blob(grid, path: str, repo: str = REPO) -> bytes:
    sha = files(grid, repo)[path]
    resp = grid.api("alice", "GET", f"/repos/{repo}/git/blobs/{sha}")
    return base64.b64decode(resp.json()["content"])


def task(grid, state: str, task_id: str) -> dict:
    return json.loads(blob(grid, tasks(grid, state)[task_id]))


def head(grid, repo: str = REPO, branch: str = "main") -> str:
    return grid.api("alice", "GET", f"/repos/{repo}/git/ref/heads/{branch}").json()["object"]["sha"]


def commit(grid, sha: str, repo: str = REPO) -> dict:
    return grid.api("alice", "GET", f"/repos/{repo}/git/commits/{sha}").json()


def changed(grid, sha: str, repo: str = REPO) -> set[str]:
    """Paths a commit added, changed or removed relative to its (single) parent."""
    c = commit(grid, sha, repo)

    def flat(tree_sha: str) -> dict[str, str]:
        resp = grid.api("alice", "GET", f"/repos/{repo}/git/trees/{tree_sha}?recursive=1").json()
        return {e["path"]: e["sha"] for e in resp["tree"] if e["type"] == "blob"}

    after = flat(c["tree"]["sha"])
    before = flat(commit(grid, c["parents"][0]["sha"], repo)["tree"]["sha"]) if c["parents"] else {}
    return {p for p in set(before) | set(after) if before.get(p) != after.get(p)}


def write_task(grid, name: str, **fields) -> str:
    fields.setdefault("timeout", 60)
    if "script" not in fields and "command" not in fields:
        fields["command"] = ["true"]
    grid.write(name, json.dumps(fields))
    return name


def endpoint_calls(grid) -> dict[str, int]:
    stats = grid.ctl("GET", "/stats")["by_endpoint"]
    return {op: v["requests"] for op, v in stats.items()}


def client(grid) -> AccountClient:
    return AccountClient("main", Sensitive(grid.tokens["alice"]), grid.sb.url, policy=RetryPolicy(base=0.01, secondary_floor=0.01), cache=EtagCache())


def queue_spec(grid):
    return load_manifest(grid.dir / "grid.yaml", resolve=False).queues["jobs"]


# -- the kind: layout, workflow, re-plan, destroy ------------------------------------------------------


def test_apply_creates_layout_in_one_commit_and_replans_clean(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ queue alice/work queue jobs layout" in r.out
    assert 'folders: ["completed", "failed", "in_progress", "queue"]' in r.out and 'path: "tasks"' in r.out
    assert "+ queue alice/work queue jobs workflow" in r.out and WORKFLOW in r.out
    # the reviewed plan, saved, applies as is (apply works from the plan alone)
    assert grid.run("plan", "--out", "plan.json").code == 0
    r = grid.check(0, "apply", "plan.json", "--auto-approve")
    have = files(grid)
    for s in STATES:
        assert f"tasks/{s}/.gitkeep" in have
    assert WORKFLOW in have
    # the workflow is the last commit; the layout is the one before it, with the 4 folders only
    last = head(grid)
    assert changed(grid, last) == {WORKFLOW}
    layout_commit = commit(grid, last)["parents"][0]["sha"]
    assert changed(grid, layout_commit) == {f"tasks/{s}/.gitkeep" for s in STATES}
    assert "layout" in commit(grid, layout_commit)["message"]
    # re-plan: no changes; the queue costs two listings (tasks/, .github/workflows), and once
    # the ETag cache knows them, two 304s that spend no rate limit
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "No changes" in r.out
    grid.ctl("POST", "/stats/reset")
    assert grid.run("plan", "--detailed-exitcode").code == 0
    stats = grid.ctl("GET", "/stats")["by_endpoint"]
    listing = stats["repos/get-content"]
    assert listing["requests"] == 2 and listing.get("not_modified") == 2
    assert not any(op.startswith(("git/create", "git/update", "repos/create-or-update")) for op in stats)


def test_workflow_drift_is_planned_back_and_destroy_keeps_tasks(grid):
    setup(grid)
    # someone edits the generated workflow by hand
    sha = files(grid)[WORKFLOW]
    resp = grid.api("alice", "PUT", f"/repos/{REPO}/contents/{WORKFLOW}", {
        "message": "hand edit", "content": base64.b64encode(b"name: changed\n").decode(), "sha": sha})
    assert resp.status_code == 200, resp.text
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2 and "~ queue alice/work queue jobs workflow" in r.out, r.all
    assert grid.run("apply", "--auto-approve").code == 0
    assert files(grid)[WORKFLOW] == sha
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # a task is in the queue when the queue is destroyed
    assert grid.run("queue", "submit", "jobs", write_task(grid, "t.json", task_id="keep-me")).code == 0
    r = grid.run("plan", "--destroy")
    assert "- queue alice/work queue jobs workflow" in r.out
    assert "left alone: tasks/ keeps every task" in r.out
    assert "layout" not in r.out  # the layout is never deleted
    r = grid.check(0, "destroy", "--auto-approve", "--target", "queue")
    have = files(grid)
    assert WORKFLOW not in have
    assert "keep-me" in tasks(grid, "queue") and "tasks/queue/.gitkeep" in have
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())
    assert not [a for a in state["resources"] if a.startswith("queue:")]


def test_rollback_removes_what_apply_added_but_never_tasks(grid):
    setup(grid, MANIFEST.split("queues:")[0])  # the repository first, the queue in a run of its own
    grid.write("grid.yaml", MANIFEST)
    assert grid.run("apply", "--auto-approve").code == 0
    assert grid.run("queue", "submit", "jobs", write_task(grid, "t.json", task_id="stays")).code == 0
    r = grid.check(0, "rollback", "--auto-approve")
    assert "- queue alice/work queue jobs workflow" in r.out and "- queue alice/work queue jobs layout" in r.out
    have = files(grid)
    assert WORKFLOW not in have and not [p for p in have if p.endswith(".gitkeep")]
    assert "stays" in tasks(grid, "queue")  # a folder with a task in it stays


def test_queue_removed_from_manifest_removes_only_its_workflow(grid):
    setup(grid)
    grid.write("grid.yaml", MANIFEST.split("queues:")[0])
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- queue alice/work queue jobs workflow  (no longer declared)" in r.out
    assert "Plan: 0 to create, 0 to update, 0 to replace, 1 to delete." in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    have = files(grid)
    assert WORKFLOW not in have and all(f"tasks/{s}/.gitkeep" in have for s in STATES)
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_empty_repository_and_missing_branch(grid):
    manifest = MANIFEST.replace("    auto_init: true\n", "").replace("    validate_pull_requests: true\n", "")
    manifest = manifest.replace("    path: tasks\n", "    path: tasks\n    branch: queue-data\n")
    setup(grid, manifest)
    # the Git Data API refuses empty repositories: the first file came through the contents API
    # on the default branch, then the branch was created and the layout committed on it
    on_branch = files(grid, branch="queue-data")
    assert {f"tasks/{s}/.gitkeep" for s in STATES} <= set(on_branch)
    assert grid.run("plan", "--detailed-exitcode").code == 0
    assert grid.run("queue", "submit", "jobs", write_task(grid, "t.json", task_id="b1")).code == 0
    assert "b1" in tasks(grid, "queue", branch="queue-data")
    assert "b1" not in tasks(grid, "queue")  # the default branch is not the queue's


# -- submit, ls, claim, complete, fail --------------------------------------------------------------


def test_submit_validates_with_lines_and_refuses_existing_ids(grid):
    setup(grid)
    before = head(grid)
    grid.write("bad.yaml", "task_id: bad one\nscript: echo hi\ntimeout: 1h\ntimout: 5\nattempts: 2\n")
    grid.write("bad.json", '{\n  "task_id": "b2",\n  "command": ["echo"],\n  "script": "x",\n  "timeout": 90000\n}\n')
    grid.write("broken.json", '{"task_id": "b3",\n "timeout": 5,}\n')
    r = grid.run("queue", "submit", "jobs", "bad.yaml", "bad.json", "broken.json")
    assert r.code == 1
    for where, *words in (
        ("bad.yaml:1:10: error:", "task_id", "invalid value"),
        ("bad.yaml:3:10: error:", "timeout", "integer"),
        ("bad.yaml:4:1: error:", "unknown field 'timout'", "did you mean 'timeout'"),
        ("bad.yaml:5:1: error:", "'attempts' is set by gridctl"),
        ("bad.json:1:1: error:", "only one of script, command"),
        ("bad.json:5:14: error:", "timeout", "at most 86400"),
        ("broken.json:2:15: error:", "JSON syntax error"),
    ):
        assert any(line.startswith(where) and all(w in line for w in words) for line in r.err.splitlines()), (where, r.err)
    assert head(grid) == before  # nothing was written
    # valid files go in ONE commit
    r = grid.check(0, "queue", "submit", "jobs", write_task(grid, "a.json", task_id="a"), write_task(grid, "b.json", task_id="b"))
    assert changed(grid, head(grid)) == set(tasks(grid, "queue").values())
    # an id that exists — in the queue, or in any other state — is refused
    r = grid.run("queue", "submit", "jobs", write_task(grid, "a2.json", task_id="a", priority=3))
    assert r.code == 1 and "task a already exists in queue/" in r.err
    assert grid.run("queue", "claim", "jobs", "--node", "n1").code == 0
    assert grid.run("queue", "complete", "jobs", "a", "--node", "n1").code == 0
    r = grid.run("queue", "submit", "jobs", "a2.json")
    assert r.code == 1 and "task a already exists in completed/" in r.err
    r = grid.run("queue", "submit", "jobs", "a.json", "a2.json")
    assert r.code == 1 and "task_id a is given twice" in r.err


def test_claim_order_output_and_empty_exit_code(grid):
    setup(grid)
    assert grid.run("queue", "submit", "jobs", write_task(grid, "low.json", task_id="low", priority=-5)).code == 0
    time.sleep(1.1)  # a later second: "old" is older than "new"
    names = [write_task(grid, f"{n}.json", task_id=n, priority=p) for n, p in (("new", 0), ("urgent", 9))]
    assert grid.run("queue", "submit", "jobs", *names).code == 0
    time.sleep(1.1)
    assert grid.run("queue", "submit", "jobs", write_task(grid, "newer.json", task_id="newer", priority=0)).code == 0
    r = grid.run("queue", "ls", "jobs")
    assert r.code == 0 and "queue             4" in r.out, r.all
    order = []
    for i in range(4):
        r = grid.check(0, "queue", "claim", "jobs", "--node", f"node-{i}")
        t = json.loads(r.out)
        assert t["claimed_by"] == f"node-{i}" and t["claimed_at"].endswith("Z") and t["attempts"] == 0
        order.append(t["task_id"])
    assert order == ["urgent", "new", "newer", "low"]
    r = grid.run("queue", "claim", "jobs", "--node", "node-9")
    assert r.code == 3 and r.out == "" and "no task to claim" in r.err
    r = grid.run("queue", "ls", "jobs", "--json")
    states = json.loads(r.out)["states"]
    assert states["queue"]["count"] == 0 and states["in_progress"]["count"] == 4
    assert 0 <= states["in_progress"]["oldest_age"] < 30
    r = grid.run("queue", "claim", "jobs", "--node", "bad node")
    assert r.code == 1 and "node id 'bad node' is not valid" in r.err


def test_claim_is_one_commit_and_a_handful_of_calls(grid):
    setup(grid)
    assert grid.run("queue", "submit", "jobs", write_task(grid, "t.json", task_id="t1")).code == 0
    grid.ctl("POST", "/stats/reset")
    grid.check(0, "queue", "claim", "jobs", "--node", "n1")
    calls = endpoint_calls(grid)
    assert calls == {
        "repos/get": 1,  # the default branch (the queue names none)
        "git/get-ref": 1,
        "git/get-tree": 1,
        "git/get-blob": 1,
        "git/create-tree": 1,
        "git/create-commit": 1,
        "git/update-ref": 1,
    }, calls
    c = changed(grid, head(grid))
    assert len(c) == 2 and any(p.startswith("tasks/in_progress/t1@") for p in c) and any(p.startswith("tasks/queue/t1@") for p in c)


def test_complete_and_fail_move_with_results(grid):
    setup(grid)
    names = [write_task(grid, f"{n}.json", task_id=n) for n in ("ok", "bad", "other")]
    assert grid.run("queue", "submit", "jobs", *names).code == 0
    for n in ("n1", "n2", "n3"):
        assert grid.run("queue", "claim", "jobs", "--node", n).code == 0
    holder = {tid: task(grid, "in_progress", tid)["claimed_by"] for tid in ("ok", "bad", "other")}
    canary = "RESULT-CANARY-7c1e"
    grid.write("out.txt", f"line one\n{canary}\n")
    # only the node holding a task may finish it (exit 4), and nothing is written then
    wrong = next(n for n in ("n1", "n2", "n3") if n != holder["ok"])
    before = head(grid)
    r = grid.run("queue", "complete", "jobs", "ok", "--node", wrong, "--result", "out.txt")
    assert r.code == 4 and f"held by {holder['ok']}" in r.err and head(grid) == before
    r = grid.check(0, "queue", "complete", "jobs", "ok", "--node", holder["ok"], "--result", "out.txt")
    assert canary not in r.all  # results stay out of the output
    done = task(grid, "completed", "ok")
    res = done["result"]
    assert res["outcome"] == "completed" and res["finished_by"] == holder["ok"] and res["file"] == "ok.result"
    assert res["size"] == len(f"line one\n{canary}\n") and len(res["sha256"]) == 64
    assert blob(grid, "tasks/completed/ok.result") == f"line one\n{canary}\n".encode()
    assert "ok" not in tasks(grid, "in_progress")
    # a binary result goes into its own blob
    grid.write("core.bin", bytes(range(256)) * 4)
    r = grid.check(0, "queue", "fail", "jobs", "bad", "--node", holder["bad"], "--result", "core.bin")
    assert task(grid, "failed", "bad")["result"]["outcome"] == "failed"
    assert blob(grid, "tasks/failed/bad.result") == bytes(range(256)) * 4
    # without --node anyone may finish it; finished_by stays empty
    assert grid.run("queue", "fail", "jobs", "other").code == 0
    assert task(grid, "failed", "other")["result"]["finished_by"] is None
    # finishing twice, or an unknown task
    r = grid.run("queue", "complete", "jobs", "ok", "--node", holder["ok"])
    assert r.code == 4 and "is in completed/, not in_progress/" in r.err
    r = grid.run("queue", "complete", "jobs", "nope")
    assert r.code == 1 and "has no task nope" in r.err
    assert grid.tokens["alice"] not in r.all


def test_reap_returns_orphans_and_honours_max_attempts(grid):
    setup(grid)
    names = [write_task(grid, "a.json", task_id="a", priority=2), write_task(grid, "b.json", task_id="b", priority=1),
             write_task(grid, "c.json", task_id="c", max_attempts=1)]
    assert grid.run("queue", "submit", "jobs", *names).code == 0
    submitted_a = task(grid, "queue", "a")["submitted_at"]
    assert json.loads(grid.run("queue", "claim", "jobs", "--node", "n1").out)["task_id"] == "a"
    assert json.loads(grid.run("queue", "claim", "jobs", "--node", "n1").out)["task_id"] == "b"
    r = grid.run("queue", "reap", "jobs")
    assert r.code == 0 and "nothing to reap" in r.out  # younger than orphan_after (2s)
    time.sleep(2.2)
    assert json.loads(grid.run("queue", "claim", "jobs", "--node", "n2").out)["task_id"] == "c"  # fresh
    held = tasks(grid, "in_progress")
    r = grid.check(0, "queue", "reap", "jobs")
    assert "a: back to the queue" in r.out and "b: back to the queue" in r.out and "c:" not in r.out
    # one commit: both orphans out of in_progress/, back into queue/
    back = tasks(grid, "queue")
    assert changed(grid, head(grid)) == {held["a"], held["b"], back["a"], back["b"]}
    a = task(grid, "queue", "a")
    assert a["attempts"] == 1 and a["claimed_by"] is None and a["submitted_at"] == submitted_a
    assert set(tasks(grid, "in_progress")) == {"c"}
    # the node that lost "a" cannot record a result for it any more
    r = grid.run("queue", "complete", "jobs", "a", "--node", "n1")
    assert r.code == 4 and "not in_progress/" in r.err
    # the reaped task keeps its place: it is claimed again before anything submitted later
    assert grid.run("queue", "submit", "jobs", write_task(grid, "d.json", task_id="d", priority=2)).code == 0
    assert json.loads(grid.run("queue", "claim", "jobs", "--node", "n3").out)["task_id"] == "a"
    # "c" may be abandoned once (max_attempts: 1): then it fails instead of coming back
    time.sleep(2.2)
    r = grid.run("queue", "reap", "jobs")
    assert "c: moved to failed/" in r.out and "a: back to the queue" in r.out
    c = task(grid, "failed", "c")
    assert c["attempts"] == 1 and c["result"]["outcome"] == "failed" and "max_attempts is 1" in c["result"]["reason"]


def test_pull_request_files_are_claimed_and_invalid_ones_fail(grid):
    setup(grid)
    assert grid.run("queue", "submit", "jobs", write_task(grid, "s.json", task_id="stamped", priority=5)).code == 0
    # files merged from pull requests: bare names, YAML allowed; one invalid, one a duplicate id
    for path, text in (
        ("tasks/queue/from-pr.yaml", "task_id: from-pr\nscript: echo pr\ntimeout: 10\npriority: 5\n"),
        ("tasks/queue/broken.json", '{"task_id": "broken", "timeout": "soon"}'),
        ("tasks/queue/stamped.json", '{"task_id": "stamped", "command": ["true"], "timeout": 5}'),
    ):
        resp = grid.api("alice", "PUT", f"/repos/{REPO}/contents/{path}", {"message": "merge PR", "content": base64.b64encode(text.encode()).decode()})
        assert resp.status_code == 201, resp.text
    r = grid.run("queue", "ls", "jobs")
    assert "(+3 of unknown age)" in r.out, r.out
    r = grid.check(0, "queue", "claim", "jobs", "--node", "n1")
    got = json.loads(r.out)
    assert got["task_id"] == "from-pr" and got["script"] == "echo pr"  # same priority: bare files first
    assert any(p.startswith("tasks/in_progress/from-pr@") for p in files(grid))  # stamped now
    failed = files(grid)
    assert "tasks/failed/broken.json" in failed and "tasks/failed/stamped.json" in failed
    assert b"invalid task file tasks/queue/broken.json" in blob(grid, "tasks/failed/broken.result")
    assert b"already exists in queue/" in blob(grid, "tasks/failed/stamped.result")
    assert json.loads(grid.run("queue", "claim", "jobs", "--node", "n1").out)["task_id"] == "stamped"
    assert grid.run("queue", "claim", "jobs", "--node", "n1").code == 3


def test_queue_commands_take_no_state_lock(grid):
    from gridctl.state.local import LocalBackend

    setup(grid)
    assert grid.run("queue", "submit", "jobs", write_task(grid, "t.json", task_id="t")).code == 0
    with LocalBackend(grid.dir / ".gridctl").lock("another-run", "apply"):
        assert grid.run("apply", "--auto-approve").code == 1  # an apply is locked out...
        r = grid.run("queue", "claim", "jobs", "--node", "n1")  # ...workers are not
        assert r.code == 0, r.all
        assert grid.run("queue", "ls", "jobs").code == 0


def test_unknown_queue_and_missing_token(grid):
    setup(grid)
    r = grid.run("queue", "ls", "nope")
    assert r.code == 1 and "no queue named 'nope' (queues: jobs)" in r.err
    r = grid.run("queue", "ls", "jobs", env={"GRID_TOKEN_ALICE": ""})
    assert r.code == 1 and "env GRID_TOKEN_ALICE is empty" in r.err
    wrong = "gridsbx_" + "0" * 40
    r = grid.run("queue", "ls", "jobs", env={"GRID_TOKEN_ALICE": wrong})
    assert r.code == 1 and "401 Bad credentials" in r.err and wrong not in r.all


# -- concurrency --------------------------------------------------------------------------------


@pytest.mark.slow
def test_eight_concurrent_claimers_take_fifty_tasks_exactly_once(grid):
    setup(grid)
    # GitHub allows 80 content-creating requests a minute per account; this test measures the
    # compare-and-swap, not that limit (a lost race costs a tree and a commit)
    grid.ctl("PUT", "/limits", {"content_per_minute": 100000, "content_per_hour": 100000, "endpoint_points_per_minute": 100000, "reset": True})
    names = [write_task(grid, f"t{i:02d}.json", task_id=f"t{i:02d}", priority=i % 3) for i in range(50)]
    grid.check(0, "queue", "submit", "jobs", *names)
    spec = queue_spec(grid)
    claimed: dict[str, list[str]] = {}
    queues: list[TaskQueue] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def claimer(node: str) -> None:
        q = TaskQueue(client(grid), spec)
        queues.append(q)
        mine = claimed.setdefault(node, [])
        try:
            start.wait()
            while True:
                t = q.claim(node)
                if t is None:
                    return
                mine.append(t["task_id"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    grid.ctl("POST", "/stats/reset")
    t0 = time.monotonic()
    threads = [threading.Thread(target=claimer, args=(f"node-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    elapsed = time.monotonic() - t0
    stats = grid.ctl("GET", "/stats")["by_endpoint"]  # the claims' requests only
    assert not errors, errors
    everything = [tid for mine in claimed.values() for tid in mine]
    assert sorted(everything) == sorted(f"t{i:02d}" for i in range(50))  # every task once: none lost, none twice
    for a in claimed:
        for b in claimed:
            assert a == b or not set(claimed[a]) & set(claimed[b])
    assert len(tasks(grid, "queue")) == 0
    in_progress = tasks(grid, "in_progress")
    assert len(in_progress) == 50
    owner = {tid: node for node, mine in claimed.items() for tid in mine}
    for tid in list(in_progress)[:10]:
        assert task(grid, "in_progress", tid)["claimed_by"] == owner[tid]
    assert json.loads(grid.run("queue", "ls", "jobs", "--json").out)["states"]["in_progress"]["count"] == 50
    requests = sum(v["requests"] for v in stats.values()) - stats.get("(no route)", {}).get("requests", 0)
    lost = sum(q.lost_races for q in queues)
    report = {
        "claims": 50,
        "claimers": 8,
        "seconds": round(elapsed, 2),
        "claims_per_second": round(50 / elapsed, 1),
        "requests": requests,
        "requests_per_claim": round(requests / 50, 1),
        "lost_races": lost,
        "per_endpoint": {k: v["requests"] for k, v in stats.items()},
        "per_node": {k: len(v) for k, v in sorted(claimed.items())},
    }
    print("\nQUEUE-CLAIM-BENCH " + json.dumps(report))
    out = os.environ.get("GRIDCTL_QUEUE_BENCH_OUT")
    if out:
        Path(out).write_text(json.dumps(report, indent=2))
    assert stats["git/update-ref"]["requests"] == 50 + lost  # one CAS per attempt
    assert stats["git/update-ref"].get("status_200") == 50  # ...and exactly one win per task


# -- the pull-request workflow's checker, run locally ---------------------------------------------------


def _checker(grid) -> tuple[str, dict[str, str]]:
    from ruamel.yaml import YAML

    from gridctl.resources.queue import workflow_text

    wf = YAML(typ="safe").load(workflow_text(queue_spec(grid)))
    step = next(s for s in wf["jobs"]["validate"]["steps"] if s.get("name") == "Validate task files")
    script = step["run"].split("<<'GRIDCTL_EOF'\n", 1)[1].split("\nGRIDCTL_EOF", 1)[0]
    return script, {k: str(v) for k, v in step["env"].items() if k != "BASE_SHA"}


def test_pull_request_workflow_checks_task_files(grid, tmp_path):
    grid.write("grid.yaml", MANIFEST)
    script, env = _checker(grid)
    assert env["QUEUE_PATH"] == "tasks" and json.loads(env["TASK_SCHEMA"])["properties"]["task_id"]
    repo = tmp_path / "clone"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for s in STATES:
        (repo / "tasks" / s).mkdir(parents=True)
        (repo / "tasks" / s / ".gitkeep").write_text("")
    (repo / "tasks/completed/done@20260101T000000Z@p0.json").write_text('{"task_id": "done"}')
    (repo / "tasks/in_progress/busy@20260101T000000Z@p0.json").write_text('{"task_id": "busy"}')
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    base = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    (repo / "checker.py").write_text(script)

    def pr(files_: dict[str, str], remove: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        subprocess.run([*git, "reset", "-q", "--hard", base], check=True)
        for p, text in files_.items():
            (repo / p).write_text(text)
        for p in remove:
            (repo / p).unlink()
        subprocess.run([*git, "add", "-A", "tasks"], check=True)
        subprocess.run([*git, "commit", "-qm", "pr", "--allow-empty"], check=True)
        return subprocess.run([sys.executable, str(repo / "checker.py")], cwd=repo, env={**os.environ, **env, "BASE_SHA": base},
                              capture_output=True, text=True)

    good = pr({"tasks/queue/render-1.yaml": "task_id: render-1\nscript: echo hi\ntimeout: 60\n",
               "tasks/queue/sum.json": '{"task_id": "sum", "command": ["expr", "1", "+", "1"], "timeout": 5}',
               # D-GRID's task files, as its users write them
               "tasks/queue/task-001.json": '{"task_id": "task-001", "script": "echo hi && python3 --version", "timeout_seconds": 30}'})
    assert good.returncode == 0, good.stdout + good.stderr
    assert "checked 3 task file(s): 0 problem(s)" in good.stdout
    bad = pr({
        "tasks/queue/x.yaml": "task_id: y\nscript: echo\ntimeout: 1h\nattempts: 1\n",
        "tasks/queue/done.json": '{"task_id": "done", "command": ["true"], "timeout": 5}',
        "tasks/queue/bad name.json": "{}",
        "tasks/completed/sneaky@20260101T000000Z@p0.json": "{}",
    }, remove=("tasks/in_progress/busy@20260101T000000Z@p0.json",))
    assert bad.returncode == 1
    out = bad.stdout
    assert "::error file=tasks/queue/x.yaml,line=3,col=10::timeout: '1h' is not of type 'integer'" in out
    assert "::error file=tasks/queue/x.yaml,line=4,col=1::'attempts' is set by gridctl" in out
    assert "::error file=tasks/queue/x.yaml,line=1,col=10::task_id 'y' does not match the file name x.yaml" in out
    assert "task done already exists: tasks/completed/done@20260101T000000Z@p0.json" in out
    assert "::error file=tasks/queue/bad name.json::name a task file" in out
    assert "::error file=tasks/completed/sneaky@20260101T000000Z@p0.json::only gridctl moves tasks" in out
    assert "::error file=tasks/in_progress/busy@20260101T000000Z@p0.json::only gridctl moves tasks" in out
    withdraw = pr({}, remove=())
    assert withdraw.returncode == 0


def test_a_claim_whose_answer_was_lost_is_not_taken_twice(grid):
    """The PATCH moving the branch succeeds but its answer is lost (502 after the write); before
    the client's retry another writer moves the branch, so the retry is "not a fast forward".
    The claim must see that its commit landed, instead of claiming a second task."""
    setup(grid)
    names = [write_task(grid, "a.json", task_id="a", priority=1), write_task(grid, "b.json", task_id="b")]
    assert grid.run("queue", "submit", "jobs", *names).code == 0
    grid.ctl("PUT", "/faults", {"specs": ["nth=1,op=git/update-ref,status=502,after=1"]})
    waits = []

    def meanwhile(seconds: float) -> None:  # the retry policy's pause: someone else commits
        waits.append(seconds)
        resp = grid.api("alice", "PUT", f"/repos/{REPO}/contents/notes.txt", {"message": "other writer", "content": base64.b64encode(b"x").decode()})
        assert resp.status_code == 201, resp.text

    c = AccountClient("main", Sensitive(grid.tokens["alice"]), grid.sb.url, policy=RetryPolicy(base=0.01, sleep=meanwhile), cache=EtagCache())
    q = TaskQueue(c, queue_spec(grid))
    got = q.claim("n1")
    assert waits and q.lost_races == 1  # the retried PATCH was refused
    assert got is not None and got["task_id"] == "a"
    assert set(tasks(grid, "in_progress")) == {"a"} and set(tasks(grid, "queue")) == {"b"}
