"""Conformance cases: Actions workflows, workflow_dispatch, workflow runs."""

from __future__ import annotations

import base64

from ..conformance import Case

DEPLOY = """\
name: Deploy
on:
  workflow_dispatch:
    inputs:
      target:
        description: where to
        required: true
      level:
        type: choice
        options: [low, high]
        default: low
      dry_run:
        type: boolean
        default: false
"""

PUSH_ONLY = "name: CI\non: push\njobs: {}\n"


def _put(seed, path: str, text: str, repo: str = "alice/pub", branch: str | None = None) -> dict:
    body = {"message": f"add {path}", "content": base64.b64encode(text.encode()).decode()}
    if branch:
        body["branch"] = branch
    resp = seed.call("alice", "PUT", f"/repos/{repo}/contents/{path}", body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _workflow(seed) -> dict:
    _put(seed, ".github/workflows/deploy.yml", DEPLOY)
    _put(seed, ".github/workflows/ci.yml", PUSH_ONLY)
    resp = seed.call("alice", "GET", "/repos/alice/pub/actions/workflows/deploy.yml")
    assert resp.status_code == 200, resp.text
    return {"wf": resp.json()["id"]}


def _disabled(seed) -> dict:
    out = _workflow(seed)
    assert seed.call("alice", "PUT", f"/repos/alice/pub/actions/workflows/{out['wf']}/disable").status_code == 204
    return out


def _run(seed) -> dict:
    out = _workflow(seed)
    resp = seed.call(
        "alice",
        "POST",
        "/repos/alice/pub/actions/workflows/deploy.yml/dispatches",
        {"ref": "main", "inputs": {"target": "prod"}, "return_run_details": True},
    )
    assert resp.status_code == 200, resp.text
    out["run"] = resp.json()["workflow_run_id"]
    return out


def _completed_run(seed) -> dict:
    out = _run(seed)
    seed.ctl("POST", f"/runs/{out['run']}", {"status": "completed", "conclusion": "success"})
    return out


DISPATCH = "/repos/alice/pub/actions/workflows/deploy.yml/dispatches"

CASES = [
    Case("actions/list-repo-workflows", 200, "GET", "/repos/alice/pub/actions/workflows", setup=_workflow),
    Case("actions/list-repo-workflows", 200, "GET", "/repos/alice/pub/actions/workflows", note="none"),
    Case(
        "actions/list-repo-workflows", 404, "GET", "/repos/alice/priv/actions/workflows", login="carol", note="hidden"
    ),
    Case("actions/get-workflow", 200, "GET", "/repos/alice/pub/actions/workflows/{wf}", setup=_workflow, note="by-id"),
    Case(
        "actions/get-workflow", 200, "GET", "/repos/alice/pub/actions/workflows/ci.yml", setup=_workflow, note="by-file"
    ),
    Case("actions/get-workflow", 404, "GET", "/repos/alice/pub/actions/workflows/nope.yml", setup=_workflow),
    Case("actions/enable-workflow", 204, "PUT", "/repos/alice/pub/actions/workflows/{wf}/enable", setup=_disabled),
    Case(
        "actions/enable-workflow",
        404,
        "PUT",
        "/repos/alice/pub/actions/workflows/{wf}/enable",
        login="carol",
        setup=_disabled,
        note="read-only",
    ),
    Case(
        "actions/disable-workflow", 204, "PUT", "/repos/alice/pub/actions/workflows/deploy.yml/disable", setup=_workflow
    ),
    Case(
        "actions/disable-workflow",
        403,
        "PUT",
        "/repos/alice/pub/actions/workflows/deploy.yml/disable",
        setup=_disabled,
        note="not-active",
    ),
    Case("actions/disable-workflow", 404, "PUT", "/repos/alice/pub/actions/workflows/nope.yml/disable", note="missing"),
    Case(
        "actions/create-workflow-dispatch",
        204,
        "POST",
        DISPATCH,
        {"ref": "main", "inputs": {"target": "prod"}},
        setup=_workflow,
    ),
    Case(
        "actions/create-workflow-dispatch",
        200,
        "POST",
        DISPATCH,
        {
            "ref": "refs/heads/main",
            "inputs": {"target": "prod", "level": "high", "dry_run": True},
            "return_run_details": True,
        },
        setup=_workflow,
        note="run-details",
    ),
    Case(
        "actions/create-workflow-dispatch",
        422,
        "POST",
        DISPATCH,
        {"ref": "nope", "inputs": {"target": "x"}},
        setup=_workflow,
        note="no-ref",
    ),
    Case(
        "actions/create-workflow-dispatch",
        422,
        "POST",
        "/repos/alice/pub/actions/workflows/ci.yml/dispatches",
        {"ref": "main"},
        setup=_workflow,
        note="no-trigger",
    ),
    Case(
        "actions/create-workflow-dispatch",
        422,
        "POST",
        DISPATCH,
        {"ref": "main", "inputs": {"target": "x", "zzz": "1"}},
        setup=_workflow,
        note="unexpected-input",
    ),
    Case(
        "actions/create-workflow-dispatch",
        422,
        "POST",
        DISPATCH,
        {"ref": "main", "inputs": {}},
        setup=_workflow,
        note="required-missing",
    ),
    Case(
        "actions/create-workflow-dispatch",
        422,
        "POST",
        DISPATCH,
        {"ref": "main", "inputs": {"target": "x", "level": "max"}},
        setup=_workflow,
        note="bad-choice",
    ),
    Case(
        "actions/create-workflow-dispatch",
        422,
        "POST",
        DISPATCH,
        {"ref": "main", "inputs": {"target": "x"}},
        setup=_disabled,
        note="disabled",
    ),
    Case(
        "actions/create-workflow-dispatch",
        422,
        "POST",
        DISPATCH,
        {"inputs": {"target": "x"}},
        setup=_workflow,
        note="schema-no-ref",
    ),
    Case(
        "actions/create-workflow-dispatch",
        404,
        "POST",
        DISPATCH,
        {"ref": "main", "inputs": {"target": "x"}},
        login="carol",
        setup=_workflow,
        note="read-only",
    ),
    Case("actions/list-workflow-runs-for-repo", 200, "GET", "/repos/alice/pub/actions/runs?status=queued", setup=_run),
    Case("actions/list-workflow-runs-for-repo", 404, "GET", "/repos/alice/nope/actions/runs"),
    Case("actions/list-workflow-runs", 200, "GET", "/repos/alice/pub/actions/workflows/{wf}/runs", setup=_run),
    Case("actions/list-workflow-runs", 404, "GET", "/repos/alice/pub/actions/workflows/nope.yml/runs"),
    Case("actions/get-workflow-run", 200, "GET", "/repos/alice/pub/actions/runs/{run}", setup=_run),
    Case(
        "actions/get-workflow-run",
        200,
        "GET",
        "/repos/alice/pub/actions/runs/{run}",
        setup=_completed_run,
        note="completed",
    ),
    Case("actions/get-workflow-run", 404, "GET", "/repos/alice/pub/actions/runs/123"),
    Case("actions/cancel-workflow-run", 202, "POST", "/repos/alice/pub/actions/runs/{run}/cancel", setup=_run),
    Case(
        "actions/cancel-workflow-run",
        409,
        "POST",
        "/repos/alice/pub/actions/runs/{run}/cancel",
        setup=_completed_run,
        note="completed",
    ),
    Case(
        "actions/cancel-workflow-run",
        404,
        "POST",
        "/repos/alice/pub/actions/runs/{run}/cancel",
        login="carol",
        setup=_run,
        note="read-only",
    ),
]
