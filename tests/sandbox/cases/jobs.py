"""Conformance cases: workflow jobs (queued, in progress, completed on a listening runner)."""

from __future__ import annotations

import base64

from ..conformance import Case

BUILD = """\
name: Build
on: workflow_dispatch
jobs:
  build:
    runs-on: [self-hosted, linux]
    steps:
      - name: Compile
        run: make
      - uses: actions/upload-artifact@v4
  test:
    needs: build
    runs-on: [self-hosted, linux]
    steps:
      - run: make test
"""


def _dispatch(seed) -> dict:
    body = {"message": "add build", "content": base64.b64encode(BUILD.encode()).decode()}
    resp = seed.call("alice", "PUT", "/repos/alice/pub/contents/.github/workflows/build.yml", body)
    assert resp.status_code == 201, resp.text
    resp = seed.call(
        "alice", "POST", "/repos/alice/pub/actions/workflows/build.yml/dispatches", {"ref": "main", "return_run_details": True}
    )
    assert resp.status_code == 200, resp.text
    run = resp.json()["workflow_run_id"]
    jobs = seed.ctl("GET", f"/jobs?run={run}")["jobs"]
    return {"run": run, "job": jobs[0]["id"], "pending": jobs[1]["id"]}


def _listening_runner(seed) -> str:
    resp = seed.call(
        "alice",
        "POST",
        "/repos/alice/pub/actions/runners/generate-jitconfig",
        {"name": "case-runner", "runner_group_id": 1, "labels": ["linux"]},
    )
    assert resp.status_code == 201, resp.text
    return seed.ctl("POST", "/broker/sessions", {"encoded_jit_config": resp.json()["encoded_jit_config"]})["session_id"]


def _in_progress(seed) -> dict:
    out = _dispatch(seed)
    session = _listening_runner(seed)
    assigned = seed.ctl("POST", f"/broker/sessions/{session}/poll")["job"]
    assert assigned["id"] == out["job"], assigned
    seed.ctl("POST", f"/broker/sessions/{session}/jobs/{out['job']}/start")
    out["session"] = session
    return out


def _completed(seed) -> dict:
    out = _in_progress(seed)
    seed.ctl("POST", f"/broker/sessions/{out['session']}/jobs/{out['job']}/complete", {"conclusion": "failure"})
    return out


JOBS = "/repos/alice/pub/actions/runs/{run}/jobs"

CASES = [
    Case("actions/list-jobs-for-workflow-run", 200, "GET", JOBS, setup=_dispatch),
    Case("actions/list-jobs-for-workflow-run", 200, "GET", JOBS + "?filter=all&per_page=1", setup=_in_progress, note="running"),
    Case("actions/list-jobs-for-workflow-run", 200, "GET", JOBS, setup=_completed, note="completed"),
    Case("actions/list-jobs-for-workflow-run", 404, "GET", "/repos/alice/pub/actions/runs/12345/jobs"),
    Case("actions/list-jobs-for-workflow-run", 422, "GET", JOBS + "?filter=newest", setup=_dispatch, note="filter"),
    Case("actions/list-jobs-for-workflow-run-attempt", 200, "GET", "/repos/alice/pub/actions/runs/{run}/attempts/1/jobs", setup=_dispatch),
    Case(
        "actions/list-jobs-for-workflow-run-attempt",
        404,
        "GET",
        "/repos/alice/pub/actions/runs/{run}/attempts/2/jobs",
        setup=_dispatch,
        note="no-such-attempt",
    ),
    Case("actions/get-job-for-workflow-run", 200, "GET", "/repos/alice/pub/actions/jobs/{job}", setup=_dispatch),
    Case("actions/get-job-for-workflow-run", 200, "GET", "/repos/alice/pub/actions/jobs/{job}", setup=_in_progress, note="running"),
    Case("actions/get-job-for-workflow-run", 200, "GET", "/repos/alice/pub/actions/jobs/{job}", setup=_completed, note="completed"),
    Case("actions/get-job-for-workflow-run", 404, "GET", "/repos/alice/priv/actions/jobs/{job}", setup=_dispatch, note="other-repo"),
]
