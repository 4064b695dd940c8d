"""Workflow jobs and the scheduler, driven over HTTP: the REST API through the real PyGithub,
runners through the sandbox broker's control routes (what a stand-in runner process sends).
Processes (the real `gridctl sandbox runner`) are in tests/core/test_standin_runner.py."""

from __future__ import annotations

import time

import pytest
import requests

from ..helpers import wait_for

BUILD_TEST = """\
name: CI
on:
  workflow_dispatch:
    inputs:
      pool: {default: linux}
jobs:
  build:
    runs-on: [self-hosted, "${{ inputs.pool }}"]
    steps:
      - name: Compile
        run: make
  test:
    needs: build
    runs-on: [self-hosted, linux]
    steps:
      - run: make test
"""


def put_workflow(seed, name: str, text: str, repo: str = "alice/pub") -> None:
    gh_repo = seed.gh("alice").get_repo(repo)
    gh_repo.create_file(f".github/workflows/{name}", f"add {name}", text)


def dispatch(seed, name: str, repo: str = "alice/pub", inputs: dict | None = None) -> int:
    body: dict = {"ref": "main", "return_run_details": True}
    if inputs:
        body["inputs"] = inputs
    resp = seed.call("alice", "POST", f"/repos/{repo}/actions/workflows/{name}/dispatches", body)
    assert resp.status_code == 200, resp.text
    return resp.json()["workflow_run_id"]


def jit(seed, name: str, labels, *, repo: str | None = "alice/pub", org: str | None = None, group: int = 1) -> dict:
    url = f"/orgs/{org}/actions/runners/generate-jitconfig" if org else f"/repos/{repo}/actions/runners/generate-jitconfig"
    resp = seed.call("alice", "POST", url, {"name": name, "runner_group_id": group, "labels": list(labels)})
    assert resp.status_code == 201, resp.text
    return resp.json()


class Listener:
    """One listening runner, as the stand-in runner process drives the broker."""

    def __init__(self, seed, config: dict):
        self.seed = seed
        self.base = f"{seed.sb.config.public_url}/_sandbox/broker/sessions"
        self.runner_id = config["runner"]["id"]
        resp = requests.post(self.base, json={"encoded_jit_config": config["encoded_jit_config"]}, timeout=30)
        assert resp.status_code == 201, resp.text
        self.session = resp.json()["session_id"]

    def poll(self) -> requests.Response:
        return requests.post(f"{self.base}/{self.session}/poll", timeout=30)

    def job(self) -> dict | None:
        resp = self.poll()
        assert resp.status_code == 200, resp.text
        return resp.json()["job"]

    def start(self, job_id: int) -> requests.Response:
        return requests.post(f"{self.base}/{self.session}/jobs/{job_id}/start", timeout=30)

    def complete(self, job_id: int, conclusion: str = "success") -> requests.Response:
        return requests.post(f"{self.base}/{self.session}/jobs/{job_id}/complete", json={"conclusion": conclusion}, timeout=30)

    def run_one(self, conclusion: str = "success") -> dict:
        job = self.job()
        assert job is not None
        assert self.start(job["id"]).status_code == 200
        resp = self.complete(job["id"], conclusion)
        assert resp.status_code == 200, resp.text
        return job


def records(seed, run: int) -> list[dict]:
    return seed.ctl("GET", f"/jobs?run={run}")["jobs"]


def run_state(seed, run: int, repo: str = "alice/pub") -> tuple[str, str | None]:
    body = seed.call("alice", "GET", f"/repos/{repo}/actions/runs/{run}").json()
    return body["status"], body["conclusion"]


def test_needs_orders_jobs_and_the_run_follows_them(seed):
    put_workflow(seed, "ci.yml", BUILD_TEST)
    run = dispatch(seed, "ci.yml")
    gh_run = seed.gh("alice").get_repo("alice/pub").get_workflow_run(run)
    jobs = {j.name: j for j in gh_run.jobs()}
    assert (jobs["build"].status, jobs["test"].status) == ("queued", "pending")
    assert jobs["build"].raw_data["labels"] == ["self-hosted", "linux"]  # ${{ inputs.pool }} substituted
    assert jobs["build"].runner_name is None and jobs["build"].steps == []
    assert run_state(seed, run) == ("queued", None)

    first = Listener(seed, jit(seed, "r1", ["linux"]))
    second = Listener(seed, jit(seed, "r2", ["linux"]))
    given = first.job()
    assert given["name"] == "build" and given["steps"] == ["Compile"]
    assert second.job() is None  # test waits for build
    assert first.start(given["id"]).status_code == 200
    build = seed.gh("alice").get_repo("alice/pub").get_workflow_run(run).jobs()[0]
    assert (build.status, build.runner_name, build.runner_group_name) == ("in_progress", "r1", "Default")
    assert [(s.name, s.status) for s in build.steps] == [
        ("Set up job", "completed"), ("Compile", "in_progress"), ("Complete job", "queued")
    ]
    assert run_state(seed, run) == ("in_progress", None)
    assert first.complete(given["id"]).json() == {"removed": True}  # a JIT runner ends with its job
    assert first.poll().status_code in (404, 410)

    second.run_one()
    assert run_state(seed, run) == ("completed", "success")
    done = {j["name"]: j for j in records(seed, run)}
    assert [done[n]["runner_name"] for n in ("build", "test")] == ["r1", "r2"]
    assert seed.ctl("GET", "/runners")["runners"] == []  # both ephemeral runners are gone
    full = seed.gh("alice").get_repo("alice/pub").get_workflow_run(run).jobs()[1]
    assert full.conclusion == "success" and full.completed_at is not None
    assert [s.conclusion for s in full.steps] == ["success", "success", "success"]


def test_a_failed_need_skips_its_dependants(seed):
    put_workflow(seed, "ci.yml", BUILD_TEST)
    run = dispatch(seed, "ci.yml")
    Listener(seed, jit(seed, "r1", ["linux"])).run_one("failure")
    assert {j["name"]: j["conclusion"] for j in records(seed, run)} == {"build": "failure", "test": "skipped"}
    assert run_state(seed, run) == ("completed", "failure")


def test_labels_must_all_be_present_compared_case_insensitively(seed):
    put_workflow(seed, "gpu.yml", "on: workflow_dispatch\njobs:\n  train:\n    runs-on: [SELF-HOSTED, Linux, GPU]\n")
    run = dispatch(seed, "gpu.yml")
    cpu = Listener(seed, jit(seed, "cpu", ["cpu"]))
    assert cpu.job() is None
    gpu = Listener(seed, jit(seed, "gpu", ["gpu"]))  # self-hosted, Linux, X64 and gpu
    job = gpu.job()
    assert job is not None and job["labels"] == ["SELF-HOSTED", "Linux", "GPU"]
    busy = {r["name"]: r["busy"] for r in seed.ctl("GET", "/runners")["runners"]}
    assert busy == {"cpu": False, "gpu": True}  # assigned: busy before it starts
    assert run_state(seed, run) == ("queued", None)


def test_org_runners_only_serve_repositories_their_group_allows(seed):
    gh = seed.gh("alice")
    org = gh.get_organization("acme")
    other = org.create_repo("other", private=True)
    put_workflow(seed, "ci.yml", "on: workflow_dispatch\njobs:\n  a:\n    runs-on: [self-hosted, big]\n", repo="acme/svc")
    resp = seed.call("alice", "POST", "/orgs/acme/actions/runner-groups",
                     {"name": "other-only", "visibility": "selected", "selected_repository_ids": [other.id]})
    group = resp.json()["id"]
    locked = Listener(seed, jit(seed, "locked", ["big"], org="acme", group=group))
    run = dispatch(seed, "ci.yml", repo="acme/svc")
    for _ in range(3):
        assert locked.job() is None
    time.sleep(0.3)  # a scheduler tick or more
    assert locked.job() is None and records(seed, run)[0]["status"] == "queued"
    # the group lets acme/svc in: the job goes to the runner
    svc = gh.get_repo("acme/svc")
    resp = seed.call("alice", "PUT", f"/orgs/acme/actions/runner-groups/{group}/repositories/{svc.id}")
    assert resp.status_code == 204, resp.text
    job = locked.job()
    assert job is not None and job["repository"] == "acme/svc"


def test_runs_on_group_and_labels(seed):
    seed.call("alice", "POST", "/orgs/acme/actions/runner-groups", {"name": "GPUs", "visibility": "all"})
    groups = seed.call("alice", "GET", "/orgs/acme/actions/runner-groups").json()["runner_groups"]
    gid = next(g["id"] for g in groups if g["name"] == "GPUs")
    put_workflow(seed, "g.yml", "on: workflow_dispatch\njobs:\n  a:\n    runs-on: {group: gpus, labels: linux}\n", repo="acme/svc")
    dispatch(seed, "g.yml", repo="acme/svc")
    outside = Listener(seed, jit(seed, "plain", ["linux"], org="acme"))
    assert outside.job() is None  # right labels, wrong group
    inside = Listener(seed, jit(seed, "in-group", ["linux"], org="acme", group=gid))
    job = inside.job()
    assert job is not None
    assert inside.start(job["id"]).status_code == 200
    got = seed.call("alice", "GET", f"/repos/acme/svc/actions/jobs/{job['id']}").json()
    assert (got["runner_group_id"], got["runner_group_name"]) == (gid, "GPUs")


def test_matrix_expands_and_include_is_not_expanded(seed):
    put_workflow(seed, "m.yml", (
        "on: workflow_dispatch\njobs:\n  build:\n    strategy:\n      matrix:\n        arch: [x64, arm64]\n"
        "        py: ['3.11', '3.12']\n        exclude: [{arch: arm64, py: '3.11'}]\n"
        "    runs-on: [self-hosted, '${{ matrix.arch }}']\n"
    ))
    run = dispatch(seed, "m.yml")
    jobs = records(seed, run)
    assert [(j["name"], j["labels"]) for j in jobs] == [
        ("build (x64, 3.11)", ["self-hosted", "x64"]),
        ("build (x64, 3.12)", ["self-hosted", "x64"]),
        ("build (arm64, 3.12)", ["self-hosted", "arm64"]),
    ]
    put_workflow(seed, "inc.yml", (
        "on: workflow_dispatch\njobs:\n  b:\n    strategy: {matrix: {include: [{a: 1}]}}\n    runs-on: x\n"
    ))
    once = dispatch(seed, "inc.yml")
    (job,) = records(seed, once)
    assert job["name"] == "b" and job["note"] == "a matrix with include is not expanded by the sandbox: one job"
    assert run_state(seed, once) == ("queued", None)


def test_an_expression_the_sandbox_does_not_evaluate_is_a_label_nobody_has(seed):
    put_workflow(seed, "e.yml", "on: workflow_dispatch\njobs:\n  a:\n    runs-on: ${{ vars.POOL }}\n")
    run = dispatch(seed, "e.yml")
    runner = Listener(seed, jit(seed, "r", ["linux"]))
    assert runner.job() is None
    assert records(seed, run)[0]["labels"] == ["${{ vars.POOL }}"]


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ("  a:\n    steps: []\n", "job a has no runs-on"),
        ("  a:\n    runs-on: x\n    needs: nope\n", "job a: needs unknown job 'nope'"),
        ("  a:\n    runs-on: x\n    needs: b\n  b:\n    runs-on: x\n    needs: a\n", "need each other in a cycle"),
        ("  a:\n    uses: o/r/.github/workflows/x.yml@v1\n", "calls a reusable workflow"),
        ("  a:\n    runs-on: x\n    env: {GRIDCTL_SANDBOX_JOB_SECONDS: soon}\n", "is not a number of seconds"),
    ],
)
def test_workflows_the_sandbox_cannot_run_fail_with_a_message(seed, jobs, message):
    put_workflow(seed, "bad.yml", "on: workflow_dispatch\njobs:\n" + jobs)
    run = dispatch(seed, "bad.yml")
    assert run_state(seed, run) == ("completed", "failure")
    assert message in seed.ctl("GET", "/runs?repo=alice/pub")["runs"][0]["message"]


def test_a_job_nobody_takes_fails_after_24_hours_of_sandbox_clock(seed):
    put_workflow(seed, "gpu.yml", "on: workflow_dispatch\njobs:\n  train:\n    runs-on: [self-hosted, gpu]\n")
    run = dispatch(seed, "gpu.yml")
    seed.ctl("POST", "/clock", {"advance": 23 * 3600})
    time.sleep(0.5)  # several scheduler ticks: still queued
    assert records(seed, run)[0]["status"] == "queued"
    seed.ctl("POST", "/clock", {"advance": 3600})
    job = wait_for(lambda: next((j for j in records(seed, run) if j["status"] == "completed"), None), "the timeout")
    assert job["conclusion"] == "failure"
    assert job["message"] == "The job has exceeded the maximum execution time while awaiting a runner for 24h0m0s"
    assert run_state(seed, run) == ("completed", "failure")


def test_cancel_cancels_jobs_and_frees_their_runners(seed):
    put_workflow(seed, "two.yml", (
        "on: workflow_dispatch\njobs:\n  a:\n    runs-on: [self-hosted, linux]\n  b:\n    runs-on: [self-hosted, linux]\n"
        "  c:\n    runs-on: [self-hosted, gpu]\n"
    ))
    run = dispatch(seed, "two.yml")
    running = Listener(seed, jit(seed, "running", ["linux"]))
    assigned = Listener(seed, jit(seed, "assigned", ["linux"]))
    job_a = running.job()
    assert running.start(job_a["id"]).status_code == 200
    assert assigned.job() is not None  # assigned, not started
    gh_run = seed.gh("alice").get_repo("alice/pub").get_workflow_run(run)
    assert gh_run.cancel() is True
    assert {j["name"]: j["conclusion"] for j in records(seed, run)} == {"a": "cancelled", "b": "cancelled", "c": "cancelled"}
    assert run_state(seed, run) == ("completed", "cancelled")
    runners = {r["name"]: r for r in seed.ctl("GET", "/runners")["runners"]}
    assert list(runners) == ["assigned"] and runners["assigned"]["busy"] is False  # "running" spent its one job
    assert running.poll().status_code == 410
    reply = assigned.poll().json()
    assert reply["job"] is None and reply["cancelled"]
    assert running.complete(job_a["id"]).status_code in (404, 409)


def test_a_runner_that_stops_polling_loses_its_job(seed):
    seed.ctl("PUT", "/jobs/settings", {"lease_seconds": 0.5, "tick_seconds": 0.05})
    put_workflow(seed, "two.yml", "on: workflow_dispatch\njobs:\n  a:\n    runs-on: [self-hosted, linux]\n  b:\n    runs-on: [self-hosted, gpu]\n")
    run = dispatch(seed, "two.yml")
    doomed = Listener(seed, jit(seed, "doomed", ["linux"]))
    idle = Listener(seed, jit(seed, "idle", ["cpu"]))
    job = doomed.job()
    assert doomed.start(job["id"]).status_code == 200
    lost = wait_for(lambda: next((j for j in records(seed, run) if j["status"] == "completed"), None), "the lease to lapse")
    assert lost["name"] == "a" and lost["conclusion"] == "failure"
    assert lost["message"].startswith("The self-hosted runner: doomed lost communication with the server.")
    runners = {r["name"]: r["status"] for r in seed.ctl("GET", "/runners")["runners"]}
    assert runners == {"idle": "offline"}  # the one that ran a job is removed, the idle one offline
    assert {j["name"]: j["status"] for j in records(seed, run)}["b"] == "queued"  # nothing else touched
    assert run_state(seed, run) == ("in_progress", None)
    assert idle.poll().status_code == 404  # its session is gone: a runner reconnects


def test_environment_reviewers_make_a_job_wait(seed):
    alice = seed.call("alice", "GET", "/user").json()
    resp = seed.call("alice", "PUT", "/repos/alice/pub/environments/prod",
                     {"reviewers": [{"type": "User", "id": alice["id"]}]})
    assert resp.status_code == 200, resp.text
    put_workflow(seed, "d.yml", "on: workflow_dispatch\njobs:\n  deploy:\n    runs-on: [self-hosted]\n    environment: prod\n")
    run = dispatch(seed, "d.yml")
    (job,) = records(seed, run)
    assert job["status"] == "waiting" and run_state(seed, run) == ("waiting", None)
    runner = Listener(seed, jit(seed, "r", ["linux"]))
    assert runner.job() is None
    seed.ctl("POST", f"/jobs/{job['id']}/approve")
    assert runner.job()["id"] == job["id"]


def test_a_second_session_for_a_runner_is_refused(seed):
    config = jit(seed, "r", ["linux"])
    Listener(seed, config)
    resp = requests.post(f"{seed.sb.config.public_url}/_sandbox/broker/sessions",
                         json={"encoded_jit_config": config["encoded_jit_config"]}, timeout=30)
    assert (resp.status_code, resp.json()["message"]) == (409, "A session for this runner already exists.")
    resp = requests.post(f"{seed.sb.config.public_url}/_sandbox/broker/sessions",
                         json={"encoded_jit_config": "not-a-config"}, timeout=30)
    assert resp.status_code == 404


def test_runner_connected_without_a_listener_takes_no_job(seed):
    put_workflow(seed, "gpu.yml", "on: workflow_dispatch\njobs:\n  train:\n    runs-on: [self-hosted, gpu]\n")
    run = dispatch(seed, "gpu.yml")
    config = jit(seed, "manual", ["gpu"])
    seed.ctl("POST", "/runners/connect", {"encoded_jit_config": config["encoded_jit_config"]})
    time.sleep(0.3)
    assert records(seed, run)[0]["status"] == "queued"
    assert seed.ctl("GET", "/runners")["runners"][0]["busy"] is False
