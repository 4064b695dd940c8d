"""``gridctl serve`` as a real process on a strict sandbox, with stand-in runners as real
processes: the autoscaled pool, the dispatch queue, webhooks, the API's refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import sqlite3
import time
import uuid
from datetime import datetime
from pathlib import Path

from tests.core.serve_harness import ADMIN, REPO, SECRET, VIEWER, Fleet, launcher_pids


def t(iso: str | None) -> float:
    return datetime.fromisoformat(iso).timestamp() if iso else time.time()


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda p: (p[0], p[1]))
    best = cur = 0
    for _, step in points:
        cur += step
        best = max(best, cur)
    return best


def jit_digests(grid) -> set[str]:
    """The SHA-256 of every JIT configuration the sandbox issued (it keeps only that)."""
    store = grid.sb.app.store
    with store.lock:
        return {r["jit_sha256"] for r in grid.sb.app.world.store.table("runners").values() if r.get("jit_sha256")}


def blobs(text: str) -> set[str]:
    return {hashlib.sha256(b.encode()).hexdigest() for b in re.findall(r"[A-Za-z0-9+/=]{40,}", text)}


def test_a_burst_of_30_jobs_runs_on_at_most_5_runners_and_shrinks_back_to_min(fleets, grid):
    fleet = fleets(pool={"min": 1, "max": 5, "idle_timeout": "3s", "online_timeout": "30s", "offline_timeout": "5s"},
                          job_seconds=0.5)
    proc = fleet.start()
    # min 1: one idle runner comes up by itself
    fleet.until(lambda: [r for r in fleet.runners() if r["status"] == "online" and not r["busy"]], "the warm runner")
    environ_seen: dict[int, str] = {}

    def sample() -> None:
        online = fleet.runners()
        peak[0] = max(peak[0], len(online))
        for pid in launcher_pids(grid.dir):
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            for item in env:
                if item.startswith(b"ACTIONS_RUNNER_INPUT_JITCONFIG="):
                    value = item.split(b"=", 1)[1].decode()
                    environ_seen[pid] = value
                    assert value not in cmd  # never on a command line

    peak = [0]
    for _ in range(30):
        fleet.dispatch()
    fleet.until(lambda: (runs := fleet.runs()) and len(runs) == 30 and all(r["status"] == "completed" for r in runs),
                "all 30 runs to complete", timeout=240, on_tick=sample)
    runs = fleet.runs()
    assert [r["conclusion"] for r in runs] == ["success"] * 30
    # every job ran on a runner of the pool
    store = grid.sb.app.store
    with store.lock:
        jobs = list(grid.sb.app.world.store.table("jobs").values())
    assert len(jobs) == 30 and all(j["runner_name"] and j["runner_name"].startswith("batch-") for j in jobs)
    # never more than 5 runners at once: GitHub's list when sampled, and the controller's own
    # record of every runner (registered before it registers, closed after GitHub drops it)
    assert peak[0] <= 5
    records = fleet.call("GET", "/api/v1/runners?all=true", token=VIEWER).json()
    assert len(records) >= 6  # ephemeral: one runner per job at least, plus the warm one
    assert max_overlap([(t(r["launched_at"]), t(r["removed_at"])) for r in records]) <= 5
    # back to min: one idle runner after the idle timeout
    fleet.until(lambda: len(rs := fleet.runners()) == 1 and rs[0]["status"] == "online" and not rs[0]["busy"],
                "the pool to shrink back to one idle runner", timeout=60)
    # the JIT configurations were in the launchers' environments and nowhere else
    assert environ_seen, "no launcher environment was sampled"
    sampled = {hashlib.sha256(v.encode()).hexdigest() for v in environ_seen.values()}
    issued = jit_digests(grid) | sampled
    assert len(sampled) >= 3
    code = fleet.stop(proc)
    assert code == 0, fleet.output()
    seen_text = fleet.output() + json.dumps(records) + fleet_metrics_text(fleet)
    db = (grid.dir / ".gridctl" / "controller.db").read_bytes().decode("latin-1")
    logs = "".join(p.read_text() for p in (grid.dir / ".gridctl" / "runners").glob("*/launcher.log"))
    for text in (seen_text, db, logs):
        assert not (blobs(text) & issued)
    assert not list((grid.dir / ".gridctl" / "runners").glob("*/.jitconfig"))
    # stopped: the idle runner was unregistered, no launcher is left
    assert fleet.runners() == []
    fleet.until(lambda: not launcher_pids(grid.dir), "the launchers to exit", timeout=30)


def fleet_metrics_text(fleet: Fleet) -> str:
    try:
        import requests

        return requests.get(fleet.base + "/metrics", timeout=5).text
    except Exception:  # noqa: BLE001 - the controller may have stopped
        return ""


def test_twenty_entries_dispatch_in_priority_order_never_more_than_two_in_flight(fleets, grid):
    fleet = fleets(pool={"min": 0, "max": 4, "idle_timeout": "2s", "online_timeout": "30s"},
                          group={"max_concurrent": 2, "pool": "batch"}, job_seconds=0.5)
    # the queue is filled before the controller starts, so the order is the queue's alone
    proc = fleet.start()
    priorities = [0, 5, 1, 5, 3, 0, 2, 9, 1, 0, 3, 5, 7, 0, 2, 1, 4, 9, 6, 0]
    added = [fleet.add("small" if i % 2 else "large", p) for i, p in enumerate(priorities)]
    fleet.until(lambda: len(fleet.call("GET", "/api/v1/history?limit=100", token=VIEWER).json()) == 20,
                "every entry to finish", timeout=240)
    history = fleet.call("GET", "/api/v1/history?limit=100", token=VIEWER).json()
    assert {e["state"] for e in history} == {"completed"} and {e["conclusion"] for e in history} == {"success"}
    assert all(e["run_id"] and e["run_url"] for e in history)
    by_id = {e["id"]: e for e in history}
    order = sorted(by_id.values(), key=lambda e: (t(e["dispatch_started_at"]), e["id"]))
    # highest priority first, then first in: the order a Dispatchoor user expects
    expected = sorted(added, key=lambda e: (-e["priority"], e["position"], e["id"]))
    assert [e["id"] for e in order] == [e["id"] for e in expected]
    # never more than two in flight (from the dispatch until the controller saw the run complete)
    assert max_overlap([(t(e["dispatch_started_at"]), t(e["completed_at"])) for e in history]) <= 2
    # each entry has its own run, and no run lacks an entry
    runs = fleet.runs()
    assert sorted(r["id"] for r in runs) == sorted(e["run_id"] for e in history)
    assert fleet.stop(proc) == 0


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_forged_unsigned_and_replayed_webhooks_are_refused_bad_input_is_4xx_readonly_cannot_write(fleets, grid):
    fleet = fleets(pool={"min": 0, "max": 1}, group={"max_concurrent": 1})
    proc = fleet.start(hook=False)
    body = json.dumps({"action": "queued", "repository": {"full_name": REPO}, "workflow_job": {"id": 1, "labels": ["batch"]}}).encode()
    guid = str(uuid.uuid4())
    import requests

    def post(headers: dict[str, str], data: bytes = body) -> requests.Response:
        return requests.post(fleet.base + "/webhooks", data=data, headers={"Content-Type": "application/json", **headers}, timeout=10)

    base = {"X-GitHub-Event": "workflow_job", "X-GitHub-Delivery": guid}
    assert post(base).status_code == 401  # unsigned
    assert post({**base, "X-Hub-Signature-256": sign(body, "not-the-secret")}).status_code == 401  # forged
    assert post({**base, "X-Hub-Signature-256": sign(body + b" ")}).status_code == 401  # another body
    r = post({**base, "X-Hub-Signature-256": sign(body)})
    assert r.status_code == 202, r.text
    r = post({**base, "X-Hub-Signature-256": sign(body)})  # the same delivery again
    assert r.status_code == 409 and "before" in r.json()["message"]
    bad = b"\xff{not json"
    assert post({**base, "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": sign(bad)}, bad).status_code == 400
    metrics = requests.get(fleet.base + "/metrics", timeout=10).text
    for result, n in (("unsigned", 1), ("bad_signature", 2), ("accepted", 1), ("replayed", 1), ("malformed", 1)):
        assert f'gridctl_webhook_deliveries_total{{event="workflow_job",result="{result}"}} {n}.0' in metrics, metrics
    # malformed API input: 4xx with a JSON message, never a 500
    for method, path, payload in [
        ("POST", "/api/v1/groups/batch/queue", {"template": "small", "priority": "high"}),
        ("POST", "/api/v1/groups/batch/queue", {"template": "nope"}),
        ("POST", "/api/v1/groups/batch/queue", ["not", "an", "object"]),
        ("POST", "/api/v1/groups/none/queue", {"template": "small"}),
        ("PUT", "/api/v1/groups/batch/queue/reorder", {"ids": [99999]}),
        ("DELETE", "/api/v1/jobs/abc", None),
        ("POST", "/api/v1/runners/scale-up", {"pool": "batch", "count": -3}),
        ("POST", "/api/v1/runners/scale-up", {"pool": "nope"}),
        ("DELETE", "/api/v1/runners/999", None),
        ("GET", "/api/v1/runners/999/logs", None),
        ("GET", "/api/v1/history?limit=0", None),
    ]:
        r = fleet.call(method, path, payload)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        assert isinstance(r.json().get("message"), str), r.text
    r = requests.post(fleet.base + "/api/v1/groups/batch/queue", data=b"{", headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 422
    # a readonly user reads but cannot write
    assert fleet.call("GET", "/api/v1/runners", token=VIEWER).status_code == 200
    for method, path, payload in [
        ("POST", "/api/v1/groups/batch/queue", {"template": "small"}),
        ("POST", "/api/v1/runners/scale-up", {"pool": "batch"}),
        ("POST", "/api/v1/runners/scale-down", {"pool": "batch"}),
        ("PUT", "/api/v1/groups/batch/queue/reorder", {"ids": []}),
        ("DELETE", "/api/v1/jobs/1", None),
    ]:
        r = fleet.call(method, path, payload, token=VIEWER)
        assert r.status_code == 403, (path, r.text)
    assert fleet.call("GET", "/api/v1/status", token="wrong").status_code == 401
    # scale up by hand, within max: one runner comes online; its log is served, secrets masked
    r = fleet.call("POST", "/api/v1/runners/scale-up", {"pool": "batch", "count": 3})
    assert r.status_code == 202, r.text
    fleet.until(lambda: [x for x in fleet.runners() if x["status"] == "online"], "the runner scaled up by hand")
    time.sleep(1.5)
    assert len(fleet.runners()) == 1  # max 1
    rec = fleet.call("GET", "/api/v1/runners", token=VIEWER).json()[0]
    log = fleet.call("GET", f"/api/v1/runners/{rec['id']}/logs", token=VIEWER)
    assert log.status_code == 200 and "online" in log.text
    assert fleet.stop(proc) == 0
    out = fleet.output()
    assert "Traceback" not in out and ADMIN not in out and VIEWER not in out and SECRET not in out
    conn = sqlite3.connect(grid.dir / ".gridctl" / "controller.db")
    assert conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1
    conn.close()


def test_sigterm_leaves_a_busy_runner_to_finish_its_job(fleets, grid):
    fleet = fleets(pool={"min": 1, "max": 2, "idle_timeout": "1m"}, job_seconds=6)
    proc = fleet.start()
    fleet.until(lambda: [r for r in fleet.runners() if r["status"] == "online" and not r["busy"]], "the warm runner")
    fleet.dispatch()
    fleet.until(lambda: [r for r in fleet.runners() if r["busy"]], "a busy runner")
    assert fleet.stop(proc, signal.SIGTERM) == 0
    left = fleet.runners()
    assert [r["busy"] for r in left] == [True], left  # the idle one was unregistered, the busy one left
    fleet.until(lambda: (runs := fleet.runs()) and runs[0]["status"] == "completed", "the job to finish", timeout=60)
    assert fleet.runs()[0]["conclusion"] == "success"
    fleet.until(lambda: not launcher_pids(grid.dir), "the ephemeral runner to exit after its job", timeout=30)


def test_sighup_reloads_the_pools_a_bad_manifest_keeps_the_running_ones_logs_are_json_lines(fleets, grid):
    from tests.core.serve_harness import manifest

    fleet = fleets(pool={"min": 0, "max": 2}, group={"max_concurrent": 1})
    proc = fleet.start(global_args=("--log-format", "json"))
    pools = fleet.call("GET", "/api/v1/pools", token=VIEWER).json()
    assert [(p["name"], p["min"], p["max"]) for p in pools] == [("batch", 0, 2)]
    assert fleet.runners() == []
    grid.write("grid.yaml", manifest({"min": 1, "max": 3, "launcher": {"command": "gridctl sandbox runner"}}, {"max_concurrent": 1}))
    proc.send_signal(signal.SIGHUP)
    fleet.until(lambda: fleet.call("GET", "/api/v1/pools", token=VIEWER).json()[0]["max"] == 3, "the reloaded pool")
    fleet.until(lambda: [r for r in fleet.runners() if r["status"] == "online"], "the runner min 1 asks for")
    # a manifest with an error: reported, and the running configuration kept
    grid.write("grid.yaml", manifest({"min": 5, "max": 3}, {"max_concurrent": 1}))
    proc.send_signal(signal.SIGHUP)
    fleet.until(lambda: "was not reloaded" in fleet.output(), "the refused reload")
    assert fleet.call("GET", "/api/v1/pools", token=VIEWER).json()[0]["max"] == 3
    assert proc.poll() is None
    assert fleet.stop(proc) == 0
    lines = [json.loads(line) for line in fleet.output().splitlines() if line.strip()]
    launched = [x for x in lines if x["message"].startswith("runner ") and "launched" in x["message"]]
    assert launched and launched[0]["pool"] == "batch" and launched[0]["runner"].startswith("batch-")
    assert any("was not reloaded" in x["message"] and x["level"] == "warning" for x in lines)


def test_without_a_launcher_the_runner_installed_by_runners_install_is_started(fleets, grid):
    """`gridctl runners install --dir .gridctl/runners` (the sandbox serves actions/runner's release,
    its package the stand-in runner), then a pool without a launcher: each runner gets its own
    folder of hard links to the one unpack, and ./run.sh takes the job."""
    fleet = fleets(pool={"min": 0, "max": 2, "launcher": None}, job_seconds=0.5)
    grid.check(0, "runners", "install", "--dir", ".gridctl/runners")
    proc = fleet.start()
    for _ in range(2):
        fleet.dispatch()
    fleet.until(lambda: (runs := fleet.runs()) and len(runs) == 2 and all(r["status"] == "completed" for r in runs),
                "both runs to complete", timeout=120)
    assert {r["conclusion"] for r in fleet.runs()} == {"success"}
    folders = [p for p in (grid.dir / ".gridctl" / "runners").iterdir() if p.name.startswith("batch-")]
    assert len(folders) >= 2
    shared = next((grid.dir / ".gridctl" / "runners" / ".runner").glob("*/run.sh"))
    assert all((f / "run.sh").stat().st_ino == shared.stat().st_ino for f in folders)  # hard links, not copies
    assert fleet.stop(proc) == 0
