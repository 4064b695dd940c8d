"""The dashboard in a real browser: Playwright driving Debian's Chromium against ``gridctl serve``
as a real process on a strict sandbox, with stand-in runners as real processes."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.core.serve_harness import (
    ADMIN,
    ADMIN_PASSWORD,
    OWNER,
    REPO,
    SECRET,
    VIEWER,
    VIEWER_PASSWORD,
    Fleet,
    launcher_pids,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser():
    """Debian's Chromium under Playwright (its own browser download cannot be reached here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed by the browser tests (nox -s tests installs it with apt-get where it can: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True)
        try:
            yield b
        finally:
            b.close()




def login(page, base: str, user: str, password: str) -> None:
    page.goto(base + "/")
    assert page.url.startswith(base + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def start_runner(grid, labels: list[str]) -> subprocess.Popen[bytes]:
    """A JIT runner registered by hand and its stand-in process (not one of the controller's)."""
    r = grid.api(OWNER, "POST", f"/repos/{REPO}/actions/runners/generate-jitconfig",
                 {"name": f"by-hand-{os.getpid()}", "runner_group_id": 1, "labels": labels})
    assert r.status_code == 201, r.text
    env = {**os.environ, "ACTIONS_RUNNER_INPUT_JITCONFIG": r.json()["encoded_jit_config"], "GRIDCTL_SANDBOX_JOB_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "-m", "gridctl", "sandbox", "runner"], env=env, cwd=grid.dir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_log_in_watch_a_runner_go_busy_live_bad_input_error_and_log_out(fleets, grid, browser):
    fleet = fleets(pool={"min": 1, "max": 2, "idle_timeout": "1m"}, group={"max_concurrent": 1, "pool": "batch"}, job_seconds=4)
    proc = fleet.start()
    page = browser.new_page()
    # a wrong password first: refused, no session
    page.goto(fleet.base + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert "unknown user or wrong password" in page.inner_text("main")
    login(page, fleet.base, "admin", ADMIN_PASSWORD)
    assert page.locator("tr[data-pool=batch]").count() == 1
    cookie = next(c for c in page.context.cookies() if c["name"] == "gridctl_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # the runners page, live: a job starts and its runner turns busy without a reload
    page.goto(fleet.base + "/runners")
    page.wait_for_selector("td.state.idle", timeout=60_000)
    page.evaluate("window.__notReloaded = true")
    fleet.dispatch()
    page.wait_for_selector("td.state.busy", timeout=60_000)
    assert page.evaluate("window.__notReloaded") is True
    # what the busy runner is doing: its job, in its group
    page.wait_for_selector("tr:has(td.state.busy) td.job a", timeout=30_000)
    assert page.inner_text("tr:has(td.state.busy) td.job a") == "work"
    # a queue entry with a bad input: the error is shown in the form, nothing is queued
    page.goto(fleet.base + "/groups/batch")
    page.select_option("select[name=template]", "small")
    page.fill("textarea[name=inputs]", "sizee=huge")
    page.click("form.add button[type=submit]")
    error = page.inner_text("ul.error")
    assert "input 'sizee' is not defined" in error and "did you mean 'size'" in error
    assert fleet.call("GET", "/api/v1/groups/batch/queue", token=VIEWER).json() == []
    # a good one goes in, queued by the logged-in user
    page.fill("textarea[name=inputs]", "size=small")
    page.click("form.add button[type=submit]")
    page.wait_for_url(fleet.base + "/groups/batch")
    queued = fleet.call("GET", "/api/v1/groups/batch/queue", token=VIEWER).json() + fleet.call("GET", "/api/v1/history", token=VIEWER).json()
    assert [(e["created_by"], e["inputs"]) for e in queued] == [("admin", {"size": "small"})]
    # a POST without the CSRF token is refused, even from a logged-in admin
    r = page.request.post(fleet.base + "/groups/batch/queue", form={"template": "small", "inputs": "size=small"})
    assert r.status == 403
    # log out: the session is gone
    page.click("form.who button[type=submit]")
    page.wait_for_url(re.compile(r".*/login.*"))
    page.goto(fleet.base + "/runners")
    assert "/login" in page.url
    page.close()
    assert fleet.stop(proc) == 0


def test_drag_an_entry_to_the_top_and_it_is_dispatched_first(fleets, grid, browser):
    # no pool: entries wait for an idle runner with the group's labels, started by hand below
    fleet = fleets(group={"max_concurrent": 1}, job_seconds=1)
    proc = fleet.start()
    # mixed priorities: the dropped entry takes a priority between its new neighbours'
    ids = [fleet.add("small", p)["id"] for p in (5, 3, 1)]
    page = browser.new_page()
    login(page, fleet.base, "admin", ADMIN_PASSWORD)
    page.goto(fleet.base + "/groups/batch")
    rows = page.locator("table.queue tbody tr[data-id]")
    assert [rows.nth(i).get_attribute("data-id") for i in range(3)] == [str(i) for i in ids]
    page.drag_and_drop(f"table.queue tr[data-id='{ids[2]}'] .grip", f"table.queue tr[data-id='{ids[0]}'] .grip",
                       target_position={"x": 2, "y": 1})
    fleet.until(lambda: [e["id"] for e in fleet.call("GET", "/api/v1/groups/batch/queue", token=VIEWER).json()][:1] == [ids[2]],
                "the dragged entry to lead the queue", timeout=20)
    runner = start_runner(grid, ["self-hosted", "batch"])
    try:
        first = fleet.until(lambda: fleet.call("GET", "/api/v1/history", token=VIEWER).json(), "the first entry to finish", timeout=60)
        assert [e["id"] for e in first] == [ids[2]] and first[0]["conclusion"] == "success"
        assert first[0]["priority"] == 5
        runner.wait(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    page.close()
    assert fleet.stop(proc) == 0


def test_a_readonly_user_sees_no_write_control_and_a_forged_post_gets_403(fleets, grid, browser):
    fleet = fleets(pool={"min": 0, "max": 1}, group={"max_concurrent": 1})
    proc = fleet.start()
    entry = fleet.add("small")["id"]
    page = browser.new_page()
    login(page, fleet.base, "viewer", VIEWER_PASSWORD)
    for path in ("/", "/groups/batch", "/runners"):
        page.goto(fleet.base + path)
        forms = [f for f in page.locator("form[method=post]").all() if f.get_attribute("action") != "/logout"]
        assert forms == [], path
        assert page.locator("tr[draggable=true]").count() == 0
    csrf = page.get_attribute("body", "data-csrf")
    for path, form in (("/groups/batch/queue", {"template": "small", "inputs": "size=small"}),
                       ("/groups/batch/reorder", {"ids": "1"}), ("/entries/1/cancel", {})):
        r = page.request.post(fleet.base + path, form={**form, "csrf": csrf})
        assert r.status == 403, (path, r.status)
    # nothing was added or cancelled (the entry itself may have run meanwhile: the pool can launch)
    queued = fleet.call("GET", "/api/v1/groups/batch/queue", token=VIEWER).json()
    done = fleet.call("GET", "/api/v1/history", token=VIEWER).json()
    assert {e["id"] for e in queued} | {e["id"] for e in done} == {entry}
    assert all(e["state"] != "cancelled" for e in done), done
    page.close()
    assert fleet.stop(proc) == 0


def test_no_page_shows_a_token_a_jit_configuration_or_a_secret(fleets, grid, browser):
    fleet = fleets(pool={"min": 1, "max": 2, "idle_timeout": "1m"}, group={"max_concurrent": 1, "pool": "batch"}, job_seconds=1)
    proc = fleet.start()
    fleet.add("small")
    fleet.until(lambda: fleet.call("GET", "/api/v1/history", token=VIEWER).json(), "an entry to finish", timeout=60)
    fleet.until(lambda: [r for r in fleet.runners() if r["status"] == "online"], "an online runner")
    jit_values = []
    for pid in launcher_pids(grid.dir):
        for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            if item.startswith(b"ACTIONS_RUNNER_INPUT_JITCONFIG="):
                jit_values.append(item.split(b"=", 1)[1].decode())
    assert jit_values
    canaries = [ADMIN, VIEWER, SECRET, ADMIN_PASSWORD, VIEWER_PASSWORD, grid.tokens[OWNER], *jit_values]
    page = browser.new_page()
    login(page, fleet.base, "admin", ADMIN_PASSWORD)
    # a token made for a script is shown once, to its owner, right after it is made
    page.goto(fleet.base + "/tokens")
    page.fill("input[name=label]", "nightly")
    page.click("form.add button[type=submit]")
    made = page.inner_text("code.token")
    assert made.startswith("gridctl_")
    assert requests.get(fleet.base + "/api/v1/status", headers={"Authorization": f"Bearer {made}"}, timeout=10).status_code == 200
    seen: dict[str, str] = {}
    for path in ("/", "/?fragment=1", "/groups/batch", "/groups/batch?fragment=1&outcome=success", "/runners", "/runners?fragment=1",
                 "/queues", "/drift", "/tokens", "/login", "/static/app.js", "/metrics", "/health"):
        page.goto(fleet.base + path)
        seen[path] = page.content()
    for r in fleet.call("GET", "/api/v1/runners", token=VIEWER).json():
        seen[f"logs {r['name']}"] = fleet.call("GET", f"/api/v1/runners/{r['id']}/logs", token=VIEWER).text
    assert made not in seen["/tokens"]  # not shown again
    for where, text in seen.items():
        for canary in canaries:
            assert canary not in text, (where, hashlib.sha256(canary.encode()).hexdigest()[:12])
    # revoked: the token no longer works
    page.goto(fleet.base + "/tokens")
    page.click("form.inline button[type=submit]")
    assert requests.get(fleet.base + "/api/v1/status", headers={"Authorization": f"Bearer {made}"}, timeout=10).status_code == 401
    page.close()
    assert fleet.stop(proc) == 0


def test_github_login_maps_users_and_org_members_to_roles_and_refuses_others(grid, browser):
    grid.user("carol")
    grid.user("mallory")
    grid.org("lab", admins=(OWNER,), members=("carol",))
    app = grid.ctl("POST", "/oauth/apps", {"name": "gridctl dashboard", "callback_url": "http://127.0.0.1/login/github/callback"})
    oauth = {"client_id": app["client_id"], "client_secret": {"env": "GRID_OAUTH_SECRET"},
             "admin": {"users": [OWNER.upper()]}, "readonly": {"orgs": ["lab"]}}
    fleet = Fleet(grid, pool={"min": 0, "max": 1}, group={"max_concurrent": 1}, serve={"oauth": oauth})
    try:
        proc = fleet.start(extra_env={"GRID_OAUTH_SECRET": app["client_secret"]})
        for login_as, role in ((OWNER, "admin"), ("carol", "readonly"), ("mallory", None)):
            context = browser.new_context()
            page = context.new_page()
            page.goto(fleet.base + "/groups/batch")
            page.click("text=Log in with GitHub")
            # the sandbox's sign-in page lists its users; choosing one approves the app
            page.click(f"a:has-text('{login_as}')")
            if role is None:
                assert "may not use this dashboard" in page.inner_text("main")
                assert not [c for c in context.cookies() if c["name"] == "gridctl_session"]
            else:
                page.wait_for_url(fleet.base + "/groups/batch")
                assert f"{login_as} ({role})" in page.inner_text("header")
                assert (page.locator("form.add").count() == 1) is (role == "admin")
            context.close()
        # a callback that did not start here (no state cookie) is refused
        r = requests.get(fleet.base + "/login/github/callback?code=abc&state=forged", timeout=10, allow_redirects=False)
        assert r.status_code == 403
        assert fleet.stop(proc) == 0
        out = fleet.output()
        assert app["client_secret"] not in out
    finally:
        fleet.close()


def test_the_task_queues_page_shows_what_queue_ls_reports(fleets, grid, browser):
    import json as _json

    queues = {"jobs": {"repo": REPO, "path": "tasks", "orphan_after": "1h"}}
    fleet = fleets(pool={"min": 0, "max": 1}, group={"max_concurrent": 1}, extra={"queues": queues})
    for i in range(4):
        grid.write(f"t{i}.json", _json.dumps({"task_id": f"task-{i}", "command": ["true"], "timeout": 60}))
    grid.check(0, "queue", "submit", "jobs", *[f"t{i}.json" for i in range(4)])
    grid.check(0, "queue", "claim", "jobs", "--node", "node-a")
    grid.check(0, "queue", "claim", "jobs", "--node", "node-b")
    proc = fleet.start()
    page = browser.new_page()
    login(page, fleet.base, "viewer", VIEWER_PASSWORD)
    page.goto(fleet.base + "/queues")
    listed = _json.loads(grid.check(0, "queue", "ls", "jobs", "--json").out)
    section = page.locator("section[data-queue=jobs]")
    for state, st in listed["states"].items():
        assert section.locator(f"tr[data-state={state}] td.count").inner_text() == str(st["count"])
    assert sorted(page.locator("tr[data-node]").evaluate_all("rows => rows.map(r => r.dataset.node)")) == sorted(n["node_id"] for n in listed["nodes"])
    assert [st["count"] for st in listed["states"].values()] == [2, 2, 0, 0]
    page.close()
    assert fleet.stop(proc) == 0


def test_the_drift_page_shows_what_a_plan_would_change_and_the_last_applies(fleets, grid, browser):
    fleet = fleets(pool={"min": 0, "max": 1}, group={"max_concurrent": 1}, serve={"drift_interval": "10s"})
    # drift made on GitHub behind the manifest's back: the private repository made public by hand
    r = grid.api(OWNER, "PATCH", f"/repos/{REPO}", {"private": False})
    assert r.status_code == 200, r.text
    proc = fleet.start()
    page = browser.new_page()
    login(page, fleet.base, "admin", ADMIN_PASSWORD)
    page.goto(fleet.base + "/drift")
    fleet.until(lambda: (page.reload() or True) and page.locator("tr[data-kind=repo]").count() == 1, "the drift check", timeout=60, every=1)
    assert page.locator("tr[data-kind=repo] td").nth(3).inner_text() == "1"  # one update
    plan_md = page.request.get(fleet.base + "/drift/plan.md")
    assert plan_md.status == 200 and "visibility" in plan_md.text()
    # the plan's own words match gridctl plan's
    assert grid.run("plan", "--detailed-exitcode").code == 2
    journal = page.locator("h2:has-text('Last applies') + table tbody tr")
    assert journal.count() >= 1 and "apply" in journal.first.inner_text() and "ok" in journal.first.inner_text()
    # readonly: no "check now"; the controller never applied anything itself
    page.close()
    assert grid.api(OWNER, "GET", f"/repos/{REPO}").json()["private"] is False
    assert fleet.stop(proc) == 0
