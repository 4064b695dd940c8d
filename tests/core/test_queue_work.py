"""``gridctl queue work`` and D-GRID's task files, end to end on the strict sandbox: the worker
runs as a real process (signals, process groups, output pipes are what is tested), the queue
is read back through the API."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..helpers import wait_for
from .test_queue import REPO, blob, files, queue_manifest, setup, task, tasks

MANIFEST = queue_manifest("    orphan_after: 3s\n")
#: D-GRID's own task example, as its README gives it
DGRID_TASK = {"task_id": "task-001", "script": "echo 'Hello, D-GRID!' && python3 --version", "timeout_seconds": 30}
ISO = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")


def env(grid) -> dict[str, str]:
    return {**os.environ, **grid.env, "GRIDCTL_API_URL": grid.sb.url, "GRIDCTL_WRITE_INTERVAL": "0", "GRIDCTL_BACKOFF_BASE": "0.01",
            "GRIDCTL_SECONDARY_FLOOR": "0.01", "NO_COLOR": "1"}


def work_argv(grid, *args: str) -> list[str]:
    return [sys.executable, "-m", "gridctl", "queue", "work", "jobs", "-f", str(grid.dir / "grid.yaml"), *args]


def work(grid, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(work_argv(grid, *args), cwd=grid.dir, env=env(grid), capture_output=True, text=True, timeout=timeout)


def start(grid, *args: str) -> subprocess.Popen:
    return subprocess.Popen(work_argv(grid, *args), cwd=grid.dir, env=env(grid), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def submit(grid, **fields) -> None:
    name = f"{fields['task_id']}.json"
    grid.write(name, json.dumps(fields))
    grid.check(0, "queue", "submit", "jobs", name)


def result(grid, state: str, task_id: str) -> dict:
    return json.loads(blob(grid, f"tasks/{state}/{task_id}.result"))


def node_file(grid, node: str) -> dict:
    return json.loads(blob(grid, f"tasks/nodes/{node}.json"))


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie waiting for a parent that never reaps it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# -- D-GRID's task format ------------------------------------------------------------------------


def test_dgrid_task_is_checked_claimed_run_and_gets_a_dgrid_result(grid):
    setup(grid, MANIFEST)
    grid.write("task-001.json", json.dumps(DGRID_TASK, indent=2))
    grid.write("my-task.json", json.dumps({**DGRID_TASK, "task_id": "mine"}))
    r = grid.run("queue", "check", "task-001.json", "my-task.json")
    assert r.code == 0 and "task-001: valid\n" in r.out, r.all
    assert "mine: valid (file my-task.json: by pull request it must be named mine.json, .yaml or .yml)" in r.out
    # a shell command line as a string: D-GRID's older form of command
    grid.write("line.json", json.dumps({"task_id": "line", "command": "echo one two | wc -w", "timeout": 10}))
    # problems name the file, the line and the field
    grid.write("both.json", '{"task_id": "both", "script": "true",\n "timeout": 5, "timeout_seconds": 5}')
    grid.write("none.json", '{"task_id": "none", "script": "true"}')
    grid.write("zero.yaml", "task_id: zero\nscript: 'true'\ntimeout_seconds: 0\n")
    r = grid.run("queue", "check", "both.json", "none.json", "zero.yaml")
    assert r.code == 1
    assert "both.json:1:1: error: the task must have only one of timeout, timeout_seconds" in r.err, r.err
    assert "none.json:1:1: error: the task needs one of timeout, timeout_seconds" in r.err
    assert "zero.yaml:3:18: error: timeout_seconds must be at least 1" in r.err
    # a task that reads its environment: the manifest's token must not be in it
    submit(grid, task_id="env", script="env; printf 'red: \\033[31mRED\\033[0m\\n'", timeout_seconds=10)
    r = grid.check(0, "queue", "submit", "jobs", "task-001.json", "line.json")

    r = work(grid, "--node", "w1", "--idle-exit", "0", "--poll", "0.2", "--show-output")
    assert r.returncode == 0, r.stderr
    assert set(tasks(grid, "completed")) == {"task-001", "line", "env"}, r.stderr
    res = result(grid, "completed", "task-001")
    assert {"task_id", "node_id", "exit_code", "stdout", "stderr", "timestamp", "status"} <= set(res)
    assert res["task_id"] == "task-001" and res["node_id"] == "w1" and res["exit_code"] == 0 and res["status"] == "success"
    assert res["stdout"].startswith("Hello, D-GRID!\nPython 3.") and res["stderr"] == ""
    assert ISO.match(res["timestamp"]) and res["truncated"] is False and res["timeout_seconds"] == 30
    done = task(grid, "completed", "task-001")
    assert done["timeout_seconds"] == 30 and done["claimed_by"] == "w1"
    assert done["result"]["status"] == "success" and done["result"]["exit_code"] == 0 and done["result"]["file"] == "task-001.result"
    assert result(grid, "completed", "line")["stdout"].strip() == "2"
    # the task's environment had no token; the terminal got the escape sequence escaped
    out = result(grid, "completed", "env")["stdout"]
    assert "TASK_ID=env" in out and "GRID_TOKEN" not in out and grid.tokens["alice"] not in out
    assert "red: \x1b[31mRED" in out  # kept as the task printed it, in the JSON result
    assert "\x1b" not in r.stderr and "\\x1b[31mRED" in r.stderr
    assert grid.tokens["alice"] not in r.stdout + r.stderr
    node = node_file(grid, "w1")
    assert node["status"] == "stopped" and node["tasks_done"] == 3 and node["current_task"] is None


# -- output cap, timeouts, signals ---------------------------------------------------------------


def test_output_is_capped_and_read_as_it_comes(grid, tmp_path):
    setup(grid, MANIFEST)
    # 1 MB on stdout and on stderr: the default cap keeps 10 KB of each
    submit(grid, task_id="mega", command=[sys.executable, "-c", "import sys; sys.stdout.write('o' * 2**20); sys.stderr.write('e' * 2**20)"], timeout=60)
    r = work(grid, "--node", "w1", "--once")
    assert r.returncode == 0, r.stderr
    res = result(grid, "completed", "mega")
    assert res["stdout"] == "o" * 10240 and res["stderr"] == "e" * 10240
    assert res["stdout_bytes"] == res["stderr_bytes"] == 2**20 and res["truncated"] is True and res["output_cap"] == 10240
    assert task(grid, "completed", "mega")["result"]["truncated"] is True
    # 300 MB through the pipe: the worker's memory stays far below what the task printed
    submit(grid, task_id="flood", script="head -c 300000000 /dev/zero", timeout=120)
    probe = ("import resource, subprocess, sys\n"
             "rc = subprocess.run(sys.argv[1:]).returncode\n"
             "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    p = subprocess.run([sys.executable, "-c", probe, *work_argv(grid, "--node", "w1", "--once", "--output-cap", "100")],
                       cwd=grid.dir, env=env(grid), capture_output=True, text=True, timeout=180)
    rc, max_rss_kb = map(int, p.stdout.split())
    assert rc == 0, p.stderr
    res = result(grid, "completed", "flood")
    assert len(res["stdout"]) == 100 and res["stdout_bytes"] == 300_000_000
    print(f"\nQUEUE-WORK-OUTPUT peak RSS of the worker and its task: {max_rss_kb // 1024} MB for 300 MB of output")
    assert max_rss_kb < 150 * 1024


def test_timeout_kills_the_task_and_everything_it_started(grid, tmp_path):
    setup(grid, MANIFEST)
    pids = tmp_path / "pids"
    submit(grid, task_id="slow", script=f"sleep 300 & echo $! > {pids}; echo started; sleep 300", timeout_seconds=1)
    t0 = time.monotonic()
    r = work(grid, "--node", "w1", "--once")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 30
    res = result(grid, "failed", "slow")
    assert res["status"] == "timeout" and res["exit_code"] == 124 and res["stdout"] == "started\n"
    assert "killed after its timeout of 1s" in res["reason"]
    assert task(grid, "failed", "slow")["result"]["status"] == "timeout"
    background = int(pids.read_text())
    assert not alive(background)  # the task's background process went with it


def test_a_task_that_closes_its_output_early_ends_by_itself(grid, tmp_path):
    """Programs close their output before they exit (coreutils do, at exit): the worker waits
    for the process, not for the pipes. What the task leaves running goes once it has exited."""
    setup(grid, MANIFEST)
    pids = tmp_path / "pids"
    submit(grid, task_id="quiet", script="echo bye; exec >&- 2>&-; sleep 0.5; exit 5", timeout_seconds=30)
    submit(grid, task_id="leaves", script=f"sleep 300 > /dev/null 2>&1 & echo $! > {pids}; echo done", timeout_seconds=30)
    r = work(grid, "--node", "w1", "--idle-exit", "0", "--poll", "0.2")
    assert r.returncode == 0, r.stderr
    quiet = result(grid, "failed", "quiet")
    assert quiet["exit_code"] == 5 and quiet["status"] == "failed" and quiet["stdout"] == "bye\n" and quiet["duration_seconds"] >= 0.5
    assert result(grid, "completed", "leaves")["exit_code"] == 0
    assert not alive(int(pids.read_text()))


def test_sigterm_fails_the_running_task_and_leaves_no_process(grid, tmp_path):
    setup(grid, MANIFEST)
    pids = tmp_path / "pids"
    submit(grid, task_id="long", script=f"sleep 300 & echo $$ $! > {pids}; wait", timeout=600)
    w = start(grid, "--node", "w1", "--poll", "0.2")
    try:
        wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2, "the task to start", 60)
        shell, background = map(int, pids.read_text().split())
        assert alive(shell) and alive(background)
        w.send_signal(signal.SIGTERM)
        _, err = w.communicate(timeout=60)
    finally:
        if w.poll() is None:
            w.kill()
    assert w.returncode == 0, err
    assert not alive(shell) and not alive(background)
    res = result(grid, "failed", "long")
    assert res["status"] == "failed" and res["exit_code"] == 128 + signal.SIGTERM
    assert "the worker was stopped (SIGTERM)" in res["reason"]
    node = node_file(grid, "w1")
    assert node["status"] == "stopped" and node["current_task"] is None and node["tasks_failed"] == 1


# -- nodes, heartbeats, reaping ------------------------------------------------------------------


def test_heartbeats_show_in_ls_and_keep_a_long_task_alive(grid, tmp_path):
    setup(grid, MANIFEST)
    r = grid.run("queue", "ls", "jobs")
    assert r.code == 0 and "no nodes" in r.out
    pids = tmp_path / "pids"
    submit(grid, task_id="long", script=f"echo $$ > {pids}; sleep 300", timeout=600)
    grid.ctl("POST", "/stats/reset")
    w = start(grid, "--node", "w1", "--poll", "0.2", "--heartbeat", "0.5s")
    try:
        wait_for(lambda: pids.exists() and pids.read_text().strip(), "the task to start", 60)
        first = node_file(grid, "w1")
        assert first["current_task"] == "long" and first["status"] == "running" and first["hostname"]
        # the claim grows older than orphan_after (3s); the node keeps heartbeating, so it stays
        time.sleep(3.5)
        later = node_file(grid, "w1")
        assert later["last_heartbeat"] > first["last_heartbeat"] and later["current_task"] == "long"
        r = grid.check(0, "queue", "ls", "jobs")
        line = next(x for x in r.out.splitlines() if x.strip().startswith("w1 "))
        assert re.search(r"w1\s+[0-9]s ago\s+running\s+0\s+0\s+long$", line), r.out
        view = json.loads(grid.run("queue", "ls", "jobs", "--json", "--tasks").out)
        (n,) = view["nodes"]
        assert n["node_id"] == "w1" and n["heartbeat_age"] < 3 and not n["silent"]
        assert view["tasks"] == [{"task_id": "long", "state": "in_progress", "priority": 0, "age": view["tasks"][0]["age"],
                                  "node": "w1", "node_known": True}]
        assert view["tasks"][0]["age"] >= 3
        r = grid.run("queue", "reap", "jobs")
        assert r.code == 0 and "nothing to reap" in r.out, r.out
        # a heartbeat is one contents-API PUT on the blob the node last wrote (never refused here)
        puts = grid.ctl("GET", "/stats")["by_endpoint"]["repos/create-or-update-file-contents"]
        assert puts.get("status_200", 0) >= 3 and puts["requests"] == puts["status_200"], puts
        # the node dies without a word (its task with it): once silent for orphan_after, reaped
        w.kill()
        w.wait(timeout=30)
        os.killpg(int(pids.read_text()), signal.SIGKILL)
    finally:
        if w.poll() is None:
            w.kill()
            w.wait(timeout=30)
    time.sleep(3.2)
    r = grid.run("queue", "ls", "jobs")
    assert "(silent)" in r.out, r.out
    r = grid.run("queue", "reap", "jobs")
    assert r.code == 0 and "long: back to the queue (node w1 sent no heartbeat for orphan_after (3s))" in r.out, r.all
    assert task(grid, "queue", "long")["attempts"] == 1


def test_reap_follows_the_node_file_that_holds_a_claim(grid):
    """The rule as such: a young claim held by a node whose heartbeat is stale is reaped; a
    young claim no node file names is not."""
    setup(grid, MANIFEST)
    for tid in ("ghostly", "scripted"):
        submit(grid, task_id=tid, command=["true"], timeout=10)
    held = {}
    for node in ("ghost", "plain"):
        r = grid.check(0, "queue", "claim", "jobs", "--node", node)
        held[node] = json.loads(r.out)["task_id"]
    name = tasks(grid, "in_progress")[held["ghost"]].rsplit("/", 1)[1]
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    record = {"node_id": "ghost", "started_at": stale, "last_heartbeat": stale, "status": "running", "tasks_done": 0,
              "current_task": held["ghost"], "current_file": name}
    resp = grid.api("alice", "PUT", f"/repos/{REPO}/contents/tasks/nodes/ghost.json",
                    {"message": "a node that died an hour ago", "content": base64.b64encode(json.dumps(record).encode()).decode()})
    assert resp.status_code == 201, resp.text
    r = grid.check(0, "queue", "reap", "jobs")
    assert f"{held['ghost']}: back to the queue (node ghost sent no heartbeat" in r.out
    assert held["plain"] not in r.out
    assert set(tasks(grid, "in_progress")) == {held["plain"]}
    # a node file that is not a record vouches for nothing and is shown as such
    resp = grid.api("alice", "PUT", f"/repos/{REPO}/contents/tasks/nodes/junk.json",
                    {"message": "junk", "content": base64.b64encode(b"\x1b[2J not json").decode()})
    assert resp.status_code == 201, resp.text
    r = grid.run("queue", "ls", "jobs")
    assert r.code == 0 and "junk" in r.out and "not a node record: not JSON" in r.out, r.out


# -- isolation -----------------------------------------------------------------------------------


def test_isolation_template_passes_the_script_as_one_argument(grid):
    setup(grid, MANIFEST)
    script = "echo \"$(id)\"; rm -rf / --no-preserve-root 'x' ; `reboot`"
    submit(grid, task_id="quoted", script=script, timeout_seconds=10)
    submit(grid, task_id="argv", command=["printf", "%s\n", "a b", "c'd"], timeout=10)
    show = f"{sys.executable} -c 'import json, sys; print(json.dumps(sys.argv[1:]))' --id={{task_id}} {{script}}"
    r = work(grid, "--node", "w1", "--idle-exit", "0", "--poll", "0.2", "--isolate", show)
    assert r.returncode == 0, r.stderr
    assert json.loads(result(grid, "completed", "quoted")["stdout"]) == ["--id=quoted", script]
    assert json.loads(result(grid, "completed", "argv")["stdout"]) == ["--id=argv", "printf '%s\n' 'a b' 'c'\"'\"'d'"]
    assert result(grid, "completed", "quoted")["isolated"] is True
    # the placeholder must be one whole argument
    r = work(grid, "--node", "w1", "--once", "--isolate", "sh -c 'run {script}'")
    assert r.returncode == 1 and "{script} must be one whole argument (it is inside an argument)" in r.stderr
    r = work(grid, "--node", "bad:node", "--once")
    assert r.returncode == 1 and "node id 'bad:node' is not valid for a node file" in r.stderr
    r = work(grid, "--node", "w1", "--once", "--heartbeat", "5s")
    assert r.returncode == 1 and "--heartbeat must be above 0 and below the queue's orphan_after (3s)" in r.stderr
    assert files(grid)  # nothing else was written by the refused runs
    assert grid.tokens["alice"] not in r.stdout + r.stderr


def test_once_on_an_empty_queue_exits_3(grid):
    setup(grid, MANIFEST)
    r = work(grid, "--node", "w1", "--once")
    assert r.returncode == 3 and "no task to claim" in r.stderr, r.stderr
    assert node_file(grid, "w1")["status"] == "stopped"


def test_a_second_signal_stops_at_once_and_still_kills_the_task(grid, tmp_path):
    setup(grid, MANIFEST)
    pids = tmp_path / "pids"
    # the task ignores SIGTERM: after the first signal the worker gives it KILL_GRACE (5 s)
    submit(grid, task_id="stubborn", script=f"trap '' TERM; echo $$ > {pids}; while :; do sleep 0.1; done", timeout=600)
    w = start(grid, "--node", "w1", "--poll", "0.2")
    try:
        wait_for(lambda: pids.exists() and pids.read_text().strip(), "the task to start", 60)
        shell = int(pids.read_text())
        w.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert w.poll() is None and alive(shell)  # still in its grace period
        w.send_signal(signal.SIGTERM)
        _, err = w.communicate(timeout=30)
    finally:
        if w.poll() is None:
            w.kill()
    assert w.returncode == 130, err
    assert "stopped at once (second signal)" in err
    assert not alive(shell)
    assert "stubborn" in tasks(grid, "in_progress")  # reaped later, like any abandoned claim
