"""``gridctl queue publish``: a queue's status page committed to a Pages branch (or a folder) in one
compare-and-swap commit, end to end on the strict sandbox — real workers (``gridctl queue work``
processes) and real clients, and the page opened from the sandbox's Pages stand-in
(``/_pages/...``) in a real browser (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import base64
import calendar
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from gridctl.fleet.publish import MAX_RESULTS, Target, page_meta, publish
from gridctl.fleet.taskqueue import TaskQueue, blob_sha, format_age, iso
from tests.core.test_serve_dashboard import browser  # noqa: F401  (the fixture)

from ..helpers import grid_yaml, wait_for
from .test_queue import REPO, client, files, head, queue_manifest, queue_spec, setup, tasks, write_task
from .test_queue_work import node_file, start

STATES = ("queue", "in_progress", "completed", "failed")


def utc(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


def pages_url(grid, path: str = "", ref: str | None = None) -> str:
    return f"{grid.sb.config.public_url}/_pages/{REPO}/{path}" + (f"?ref={ref}" if ref else "")


def page_text(grid, branch: str = "gh-pages", path: str = "index.html") -> str:
    resp = grid.api("alice", "GET", f"/repos/{REPO}/contents/{path}?ref={branch}")
    assert resp.status_code == 200, resp.text
    return base64.b64decode(resp.json()["content"]).decode()


def put_file(grid, path: str, content: bytes, branch: str = "main", message: str = "another writer") -> str:
    """One commit by another writer (the contents API); returns the new commit's SHA."""
    old = grid.api("alice", "GET", f"/repos/{REPO}/contents/{path}?ref={branch}")
    body = {"message": message, "content": base64.b64encode(content).decode(), "branch": branch}
    if old.status_code == 200:
        body["sha"] = old.json()["sha"]
    resp = grid.api("alice", "PUT", f"/repos/{REPO}/contents/{path}", body)
    assert resp.status_code in (200, 201), resp.text
    return str(resp.json()["commit"]["sha"])


def calls(grid) -> dict[str, dict[str, int]]:
    return grid.ctl("GET", "/stats")["by_endpoint"]


def writes(stats: dict[str, dict[str, int]]) -> list[str]:
    return sorted(op for op in stats if op.startswith(("git/create", "git/update", "repos/create-or-update")))


# -- must-show 4: the page shows what `gridctl queue ls --json` reports ------------------------------


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate(timeout=10)


def holds(grid, node: str) -> str | None:
    """The task a node's file says it holds (None before it registered)."""
    return node_file(grid, node).get("current_task") if f"tasks/nodes/{node}.json" in files(grid) else None


@pytest.mark.slow
def test_the_published_page_shows_what_queue_ls_reports(grid, browser):  # noqa: F811
    setup(grid, queue_manifest("    orphan_after: 1h\n"))
    names = [
        write_task(grid, "ok.json", task_id="ok", command=["true"], priority=9),
        write_task(grid, "bad.json", task_id="bad", script="exit 3", priority=8),
        write_task(grid, "long1.json", task_id="long1", command=["sleep", "120"], timeout=300, priority=7),
        write_task(grid, "long2.json", task_id="long2", command=["sleep", "120"], timeout=300, priority=6),
        write_task(grid, "w1.json", task_id="w1"),
        write_task(grid, "w2.json", task_id="w2"),
    ]
    grid.check(0, "queue", "submit", "jobs", *names)
    procs: list[subprocess.Popen] = []
    try:
        # node n1 finishes ok (exit 0) and bad (exit 3), then holds long1; node n2 then holds long2
        procs.append(start(grid, "--node", "n1", "--max-tasks", "3", "--poll", "0.2"))
        wait_for(lambda: holds(grid, "n1") == "long1", "n1 to hold long1", timeout=90, interval=0.3)
        procs.append(start(grid, "--node", "n2", "--max-tasks", "1", "--poll", "0.2"))
        wait_for(lambda: holds(grid, "n2") == "long2", "n2 to hold long2", timeout=90, interval=0.3)

        listed = json.loads(grid.check(0, "queue", "ls", "jobs", "--json").out)
        r = grid.check(0, "queue", "publish", "jobs")
        assert r.out == f"queue jobs: published {REPO}@gh-pages:index.html (new branch)\n"
        assert {s: v["count"] for s, v in listed["states"].items()} == {"queue": 2, "in_progress": 2, "completed": 1, "failed": 1}

        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        resp = page.goto(pages_url(grid))
        assert resp is not None and resp.status == 200 and resp.headers["content-type"] == "text/html; charset=utf-8"
        assert page.title() == "Queue jobs · gridctl"
        generated = page.locator("#generated").get_attribute("datetime")
        assert generated is not None
        t_gen = utc(generated)
        for state in STATES:
            row = page.locator(f"#states tr[data-state={state}]")
            assert row.locator("td.count").inner_text() == str(listed["states"][state]["count"])
        assert len(listed["nodes"]) == 2
        for n in listed["nodes"]:
            row = page.locator(f"#nodes tr[data-node={n['node_id']}]")
            assert row.locator("td.heartbeat time").get_attribute("datetime") == n["last_heartbeat"]
            beat = utc(n["last_heartbeat"])
            assert row.locator("td.age").inner_text() == format_age(t_gen - beat)
            assert abs((t_gen - beat) - n["heartbeat_age"]) <= 5  # ls and publish ran within seconds
            assert row.locator("td.state").inner_text() == n["status"] == "running"
            assert row.locator("td.done").inner_text() == str(n["tasks_done"])
            assert row.locator("td.failed").inner_text() == str(n["tasks_failed"])
            assert row.locator("td.task").inner_text() == n["current_task"]
        assert (listed["nodes"][0]["tasks_done"], listed["nodes"][0]["tasks_failed"]) == (2, 1)
        # the latest results with their exit codes, newest first
        assert page.locator("#results tr[data-task=bad] td.exit").inner_text() == "3"
        assert page.locator("#results tr[data-task=ok] td.exit").inner_text() == "0"
        assert page.locator("#results tr[data-task=bad] td.outcome").inner_text() == "failed"
        assert page.locator("#oldest code.task").inner_text() == "w1"
        # self-contained: no script, no stylesheet or image from anywhere, nothing but the page loaded
        loaded: list[str] = []
        page.on("request", lambda req: loaded.append(req.url))
        page.reload()
        assert loaded == [pages_url(grid)]
        assert page.locator("script, link, img, iframe").count() == 0 and not dialogs
        page.close()
    finally:
        stop(procs)
    # SIGTERM failed both long tasks and stopped both nodes: the next publish shows it
    assert set(tasks(grid, "failed")) == {"bad", "long1", "long2"}
    r = grid.check(0, "queue", "publish", "jobs")
    assert r.out == f"queue jobs: published {REPO}@gh-pages:index.html\n"
    text = page_text(grid)
    assert '<tr data-node="n1"><td class="node">n1</td>\n  <td class="state">stopped</td>' in text
    # nothing changed: no commit, and the queue is not even read
    before = head(grid, branch="gh-pages")
    grid.ctl("POST", "/stats/reset")
    r = grid.check(0, "queue", "publish", "jobs")
    assert "is up to date, nothing committed (the queue has not changed since the page was published)" in r.out
    stats = calls(grid)
    assert head(grid, branch="gh-pages") == before and not writes(stats)
    assert {op: v["requests"] for op, v in stats.items()} == {"repos/get": 1, "git/get-ref": 2, "repos/get-content": 1}


# -- untrusted values ----------------------------------------------------------------------------


HOSTILE = "<script>window.pwned=1</script><img src=x onerror=window.pwned=2>"


def test_hostile_values_are_escaped(grid, browser):  # noqa: F811
    setup(grid, queue_manifest("    orphan_after: 1h\n"))
    grid.check(0, "queue", "submit", "jobs", write_task(grid, "a.json", task_id="a"))
    # a node file and finished tasks written by someone with write access, as hostile as they get
    put_file(grid, "tasks/nodes/evil.json", json.dumps({
        "node_id": "evil", "status": HOSTILE, "last_heartbeat": "</td></tr></table><script>window.pwned=3</script>",
        "tasks_done": "<b>1</b>", "current_task": "\x1b[31mred\x1b[0m \u202eevil\u202c\r\n::error::x",
    }).encode())
    put_file(grid, "tasks/nodes/garbage.json", b"<script>not json")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    done = {"task_id": "done", "command": ["true"], "timeout": 5, "submitted_at": iso(time.time()), "attempts": 0,
            "result": {"outcome": "completed", "finished_at": iso(time.time()), "finished_by": HOSTILE, "exit_code": 0,
                       "status": "success", "reason": "\x1b]0;title\x07<u>ok</u>", "duration_seconds": 1.5}}
    put_file(grid, f"tasks/completed/done@{stamp}@p0.json", json.dumps(done).encode())
    # task files that break the task schema: the page names them, with the reason, escaped
    odd = {**done, "task_id": "odd", "result": {**done["result"], "exit_code": "<i>0</i>"}}
    put_file(grid, f"tasks/failed/odd@{stamp}@p0.json", json.dumps(odd).encode())
    wrong = {**done, "task_id": "<script>window.pwned=4</script>"}
    put_file(grid, f"tasks/failed/wrong@{stamp}@p0.json", json.dumps(wrong).encode())

    r = grid.check(0, "queue", "publish", "jobs")
    assert "\x1b" not in r.all and "<script" not in r.all
    text = page_text(grid)
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    assert "<script" not in text and "<img" not in text and "<i>" not in text and "<u>" not in text
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in text
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(pages_url(grid))
    assert page.evaluate("typeof window.pwned") == "undefined" and not dialogs
    assert page.locator("script, img, iframe, b, i, u").count() == 0
    evil = page.locator("#nodes tr[data-node=evil]")
    assert evil.locator("td.state").inner_text() == HOSTILE + " silent"  # its heartbeat is no time: silent
    assert evil.locator("td.heartbeat").inner_text() == "-" and evil.locator("td.done").inner_text() == "-"
    assert evil.locator("td.task").inner_text() == "\\x1b[31mred\\x1b[0m \\u202eevil\\u202c\\x0d\\x0a::error::x"
    assert "not a node record: not JSON" in page.locator("#nodes tr[data-node=garbage]").inner_text()
    row = page.locator("#results tr[data-task=done]")
    assert row.locator("td.exit").inner_text() == "0"
    assert HOSTILE in row.inner_text() and "\\x1b]0;title\\x07<u>ok</u>" in row.inner_text()
    assert "not a valid task file: result/exit_code: '<i>0</i>' is not of type" in page.locator("#results tr[data-task=odd]").inner_text()
    bad = page.locator("#results tr[data-task=wrong]").inner_text()
    assert "not a valid task file: task_id: '<script>window.pwned=4</script>' does not match" in bad
    page.close()


# -- no commit when nothing changed; conditional reads ---------------------------------------------


def test_no_commit_without_change_and_reads_are_conditional(grid):
    setup(grid, queue_manifest("    orphan_after: 2s\n"))
    grid.check(0, "queue", "submit", "jobs", write_task(grid, "a.json", task_id="a"), write_task(grid, "b.json", task_id="b"))
    tq = TaskQueue(client(grid), queue_spec(grid))
    tq.write_node({"node_id": "n1", "status": "idle", "last_heartbeat": iso(time.time()), "tasks_done": 0, "tasks_failed": 0})
    first = publish(tq, Target())
    assert first.committed and first.created_branch and first.page is not None
    meta = page_meta(page_text(grid))
    assert meta["queue-head"] == head(grid) and meta["fresh-until"]  # n1 turns silent 2 s after its heartbeat
    assert 'data-node="n1"' in first.page and "badge bad" not in first.page

    # the same client again: nothing committed; and once more: three conditional reads, all
    # "304 Not Modified" (no rate limit spent), nothing else
    assert not publish(tq, Target()).committed
    grid.ctl("POST", "/stats/reset")
    again = publish(tq, Target())
    assert not again.committed and again.page is None
    stats = calls(grid)
    assert {op: (v["requests"], v.get("status_304", 0)) for op, v in stats.items()} == {"git/get-ref": (2, 2), "repos/get-content": (1, 1)}

    # a commit that changes nothing the page shows: the queue is read again, nothing is committed
    put_file(grid, "README.md", b"unrelated\n")
    pages_head = head(grid, branch="gh-pages")
    grid.ctl("POST", "/stats/reset")
    same = publish(tq, Target())
    assert not same.committed and same.why == "the page already shows the queue as it is"
    assert not writes(calls(grid)) and head(grid, branch="gh-pages") == pages_head

    # the queue did not change, but n1 went silent: the page changes by itself
    wait_for(lambda: time.time() > utc(meta["fresh-until"]) + 1,
             "n1's heartbeat to be 2 s old", timeout=10, interval=0.1)
    silent = publish(tq, Target())
    assert silent.committed and silent.page is not None and "badge bad\">silent" in silent.page
    assert publish(tq, Target()).committed is False

    # a submit changes the counts: a new commit on top of the last one
    grid.check(0, "queue", "submit", "jobs", write_task(grid, "c.json", task_id="c"))
    before = head(grid, branch="gh-pages")
    assert publish(tq, Target(), results=MAX_RESULTS).committed
    c = grid.api("alice", "GET", f"/repos/{REPO}/git/commits/{head(grid, branch='gh-pages')}").json()
    assert [p["sha"] for p in c["parents"]] == [before] and c["message"] == "gridctl queue jobs: publish the status page"
    assert set(files(grid, branch="gh-pages")) == {"index.html"}


# -- compare-and-swap on the Pages branch --------------------------------------------------------


def test_a_commit_between_read_and_write_is_survived(grid):
    setup(grid, queue_manifest("    orphan_after: 1h\n"))
    grid.check(0, "queue", "submit", "jobs", write_task(grid, "a.json", task_id="a"))
    grid.check(0, "queue", "publish", "jobs")
    grid.check(0, "queue", "submit", "jobs", write_task(grid, "b.json", task_id="b"))
    other: list[str] = []
    ticks: list[float] = []

    def clock() -> float:
        """Read first to check whether the published page is current, then while the page is
        built — after the Pages branch was read: right then, another writer (a separate
        client, a real request) commits to the Pages branch, once."""
        ticks.append(time.time())
        if len(ticks) == 2:
            other.append(put_file(grid, "CNAME", b"status.example.org\n", branch="gh-pages", message="the other writer"))
        return ticks[-1]

    tq = TaskQueue(client(grid), queue_spec(grid), clock=clock)
    out = publish(tq, Target())
    assert out.committed and out.lost_races == 1 and other
    assert set(files(grid, branch="gh-pages")) == {"index.html", "CNAME"}  # neither write is lost
    c = grid.api("alice", "GET", f"/repos/{REPO}/git/commits/{head(grid, branch='gh-pages')}").json()
    assert [p["sha"] for p in c["parents"]] == other  # re-rendered and committed on top of the other writer
    text = page_text(grid)
    assert '<tr data-state="queue"><td>queue</td><td class="n count">2</td>' in text


def test_two_publishers_at_once_create_one_branch(grid):
    setup(grid, queue_manifest("    orphan_after: 1h\n"))
    grid.check(0, "queue", "submit", "jobs", write_task(grid, "a.json", task_id="a"))
    spec = queue_spec(grid)
    barrier = threading.Barrier(3)
    outcomes, errors, notes = [], [], []

    def run() -> None:
        tq = TaskQueue(client(grid), spec)
        try:
            barrier.wait(timeout=30)
            outcomes.append(publish(tq, Target("status")))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def writer() -> None:  # a third writer moves the branch while they publish
        try:
            barrier.wait(timeout=30)
            for i in range(20):
                if grid.api("alice", "GET", f"/repos/{REPO}/git/ref/heads/status").status_code == 200:
                    put_file(grid, f"notes/{i}.txt", b"x", branch="status")
                    notes.append(f"notes/{i}.txt")
                time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run), threading.Thread(target=run), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(o.created_branch for o in outcomes) == 1  # one created the branch, the other published on top or found it current
    assert set(files(grid, branch="status")) == {"index.html", *notes} and notes  # no write lost
    assert page_meta(page_text(grid, branch="status"))["queue-head"] == head(grid)


# -- a folder of the queue's branch, bad targets, the Pages stand-in --------------------------------


def test_folder_on_the_queue_branch_output_and_bad_targets(grid):
    setup(grid, queue_manifest("    orphan_after: 1h\n"))
    grid.check(0, "queue", "submit", "jobs", write_task(grid, "a.json", task_id="a"))
    before = head(grid)
    r = grid.check(0, "queue", "publish", "jobs", "--folder", "docs")
    assert r.out == f"queue jobs: published {REPO}@main:docs/index.html\n"
    c = grid.api("alice", "GET", f"/repos/{REPO}/git/commits/{head(grid)}").json()
    assert [p["sha"] for p in c["parents"]] == [before]
    # the publish commit moved the queue's branch; the page is still current (its own commit is on top)
    grid.ctl("POST", "/stats/reset")
    r = grid.check(0, "queue", "publish", "jobs", "--folder", "/docs/")
    assert "main:docs/index.html is up to date" in r.out and not writes(calls(grid))
    # the queue works on as before
    claimed = json.loads(grid.check(0, "queue", "claim", "jobs", "--node", "n1").out)
    assert claimed["task_id"] == "a"
    grid.check(0, "queue", "publish", "jobs", "--folder", "docs")
    resp = requests.get(pages_url(grid, "docs/", ref="main"), timeout=30)
    assert resp.status_code == 200 and '<tr data-state="in_progress"><td>in_progress</td><td class="n count">1</td>' in resp.text

    # --output: the page, nothing committed
    h = head(grid)
    r = grid.check(0, "queue", "publish", "jobs", "--output", "-")
    assert r.out.startswith("<!doctype html>") and head(grid) == h
    r = grid.check(0, "queue", "publish", "jobs", "--output", "page.html")
    assert (grid.dir / "page.html").read_text().startswith("<!doctype html>") and head(grid) == h

    for args, message in [
        (("--folder", "tasks/queue"), "--folder tasks/queue: the queue jobs keeps its tasks there"),
        (("--folder", "tasks/nodes/x"), "--folder tasks/nodes/x: the queue jobs keeps its tasks there"),
        (("--folder", "../up"), "is not a folder of the repository"),
        (("--to", "bad..name"), "is not a branch name"),
        (("--to", "-x"), "is not a branch name"),
        (("--to", "x\x1b[31m"), "is not a branch name"),
        (("--results", "0"), "Invalid value for '--results'"),
    ]:
        r = grid.run("queue", "publish", "jobs", *args)
        assert r.code in (1, 2) and message in r.all and "\x1b" not in r.err and "Traceback" not in r.all, r.all
    assert head(grid) == h

    # the sandbox's Pages stand-in: index.html of a folder, media types, 404s
    assert requests.get(pages_url(grid, ref="main"), timeout=30).status_code == 404  # no index.html at main's root
    put_file(grid, "site/data.json", b'{"a": 1}')
    resp = requests.get(pages_url(grid, "site/data.json", ref="main"), timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json; charset=utf-8" and resp.json() == {"a": 1}
    assert resp.headers["x-content-type-options"] == "nosniff"
    for url in (pages_url(grid), pages_url(grid, "docs/../x", ref="main"), f"{grid.sb.config.public_url}/_pages/alice/nope/"):
        assert requests.get(url, timeout=30).status_code == 404


# -- the kind deploys a scheduled workflow that publishes ----------------------------------------------


PUBLISH_MANIFEST = queue_manifest("""\
    orphan_after: 1h
    publish:
      schedule: "*/10 * * * *"
      to: status
      results: 5
""")
PUBLISH_WORKFLOW = ".github/workflows/gridctl-queue-publish-jobs.yml"


def test_the_kind_deploys_a_scheduled_publish_workflow(grid, tmp_path):
    from ruamel.yaml import YAML

    from gridctl.resources.queue import publish_workflow_text

    setup(grid, queue_manifest("    orphan_after: 1h\n"))
    grid.write("grid.yaml", PUBLISH_MANIFEST)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ queue alice/work queue jobs publish" in r.out and "layout" not in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    text = publish_workflow_text(queue_spec(grid), queue_spec(grid).publish, "alice")
    assert files(grid)[PUBLISH_WORKFLOW] == blob_sha(text.encode())
    assert "No changes" in grid.check(0, "plan", "--detailed-exitcode").out
    wf = YAML(typ="safe").load(text)
    assert wf[True if True in wf else "on"] == {"schedule": [{"cron": "*/10 * * * *"}], "workflow_dispatch": None}
    assert wf["permissions"] == {"contents": "write"}
    step = next(s for s in wf["jobs"]["publish"]["steps"] if s.get("name") == "Publish the status page")
    assert step["env"]["GRID_TOKEN_QUEUE"] == "${{ secrets.GITHUB_TOKEN }}"
    assert step["run"].rstrip().endswith('gridctl queue publish jobs -f "$RUNNER_TEMP/grid.yaml" --to status --results 5')

    # its step, run here as the runner would run it (gridctl already installed): the page is published
    grid.check(0, "queue", "submit", "jobs", write_task(grid, "a.json", task_id="a"))
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    runner_env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "RUNNER_TEMP": str(temp), "HOME": str(temp),
                  "GRID_TOKEN_QUEUE": grid.tokens["alice"], "GRIDCTL_API_URL": grid.sb.url, "GRIDCTL_WRITE_INTERVAL": "0"}
    for expected in ("published alice/work@status:index.html (new branch)", "alice/work@status:index.html is up to date"):
        done = subprocess.run(["bash", "-e", "-c", step["run"]], env=runner_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and expected in done.stdout, done.stdout + done.stderr
    assert '<td class="n count">1</td>' in page_text(grid, branch="status")

    # drift is planned back; removing publish: removes the workflow only
    put_file(grid, PUBLISH_WORKFLOW, b"name: edited by hand\n")
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "~ queue alice/work queue jobs publish" in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    assert files(grid)[PUBLISH_WORKFLOW] == blob_sha(text.encode())
    grid.write("grid.yaml", queue_manifest("    orphan_after: 1h\n"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- queue alice/work queue jobs publish" in r.out and "layout" not in r.out, r.out
    grid.check(0, "apply", "--auto-approve")
    have = files(grid)
    assert PUBLISH_WORKFLOW not in have and "tasks/queue/.gitkeep" in have
    assert "No changes" in grid.check(0, "plan", "--detailed-exitcode").out


def test_bad_publish_settings_are_reported_at_their_line(grid):
    grid.user("alice")
    grid.write("grid.yaml", queue_manifest("""\
    publish:
      schedule: every ten minutes
"""))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:13:17: error: queues.jobs.publish.schedule has an invalid value \"every ten minutes\"" in r.err, r.all
    grid.write("grid.yaml", queue_manifest("""\
    publish:
      schedule: "*/10 * * * *"
      folder: ../up
"""))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:14:15: error: folder '../up' is not a folder of the repository" in r.err, r.all
    # a value that would reach the workflow is a plain name, or nothing is deployed
    grid.write("grid.yaml", grid_yaml("""\
queues:
  jobs:
    repo: "alice/x${{ github.token }}"
    account: main
    publish: {schedule: "0 * * * *"}
"""))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:6:11: error: the repo 'alice/x${{ github.token }}' cannot be written into the publish workflow" in r.err, r.all
