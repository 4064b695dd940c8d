"""Conformance cases: operations served to close fidelity gaps (the API root, run and job logs)."""

from __future__ import annotations

import base64

from ..conformance import Case

WORKFLOW = """\
name: Logs
on: workflow_dispatch
jobs:
  build:
    runs-on: [self-hosted, linux]
    steps:
      - name: Compile
        run: make
"""


def dispatched(seed, repo: str = "alice/pub") -> dict:
    """A run of a one-job workflow on ``repo``: ``{run, job}``."""
    path = f"/repos/{repo}/contents/.github/workflows/logs.yml"
    if seed.call("alice", "GET", path).status_code == 404:
        body = {"message": "add logs.yml", "content": base64.b64encode(WORKFLOW.encode()).decode()}
        resp = seed.call("alice", "PUT", path, body)
        assert resp.status_code == 201, resp.text
    resp = seed.call("alice", "POST", f"/repos/{repo}/actions/workflows/logs.yml/dispatches",
                     {"ref": "main", "return_run_details": True})
    assert resp.status_code == 200, resp.text
    run = resp.json()["workflow_run_id"]
    return {"run": run, "job": seed.ctl("GET", f"/jobs?run={run}")["jobs"][0]["id"]}


def ran_on_a_runner(seed, repo: str = "alice/pub", conclusion: str = "success") -> dict:
    """A run whose job a listening runner took, started and completed (over the broker routes)."""
    out = dispatched(seed, repo)
    resp = seed.call("alice", "POST", f"/repos/{repo}/actions/runners/generate-jitconfig",
                     {"name": f"logs-runner-{out['run']}", "runner_group_id": 1, "labels": ["linux"]})
    assert resp.status_code == 201, resp.text
    session = seed.ctl("POST", "/broker/sessions", {"encoded_jit_config": resp.json()["encoded_jit_config"]})["session_id"]
    assert seed.ctl("POST", f"/broker/sessions/{session}/poll")["job"]["id"] == out["job"]
    seed.ctl("POST", f"/broker/sessions/{session}/jobs/{out['job']}/start")
    seed.ctl("POST", f"/broker/sessions/{session}/jobs/{out['job']}/complete", {"conclusion": conclusion})
    return out


CASES = [
    Case("meta/root", 200, "GET", "/"),
    Case("meta/root", 401, "GET", "/", login="bogus", note="bad-credentials"),
    Case("actions/download-workflow-run-logs", 302, "GET", "/repos/alice/pub/actions/runs/{run}/logs", setup=ran_on_a_runner),
    Case("actions/download-workflow-run-logs", 404, "GET", "/repos/alice/pub/actions/runs/{run}/logs", setup=dispatched,
         note="not-completed"),
    Case("actions/download-job-logs-for-workflow-run", 302, "GET", "/repos/alice/pub/actions/jobs/{job}/logs",
         setup=ran_on_a_runner),
    Case("actions/download-job-logs-for-workflow-run", 404, "GET", "/repos/alice/pub/actions/jobs/{job}/logs",
         setup=dispatched, note="not-started"),
]
