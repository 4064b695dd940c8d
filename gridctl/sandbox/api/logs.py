"""Workflow run and job logs, served the way github.com serves them: a ``302`` to a short-lived
download link.

GitHub Docs, "Workflow runs: download workflow run logs" and "Workflow jobs: download job logs"
(https://docs.github.com/en/rest/actions/workflow-runs#download-workflow-run-logs,
https://docs.github.com/en/rest/actions/workflow-jobs#download-job-logs-for-a-workflow-run), in
our words: anyone who can read the repository gets a redirect (``Location``) to the logs; the
link expires after 1 minute. A run's logs are a zip archive; a job's, one plain text file.

The archive is laid out as github.com lays it out: for each job that ran, ``{n}_{job}.txt`` (the
whole job's log, ``n`` counting from 0) and a folder ``{job}/`` with ``{number}_{step}.txt`` per
step (characters that cannot be in a file name dropped). Lines carry a timestamp as the runner
writes them. The sandbox runs no step, so each log says what the sandbox knows of it (name,
status, conclusion, runner, times). A completed run whose jobs never ran on a runner (none
planned, or completed through ``POST /_sandbox/runs/{id}``) gets one ``run.txt`` saying so; a
run or job not yet completed or started has no logs yet (404).

The download link is a page of the web host (``/_logs/{token}``) that needs no token, like
GitHub's signed storage URL; table ``log_links`` keeps ``sha256(token) -> {kind, id, expires}``,
never the token, and drops expired links as new ones are made.
"""

from __future__ import annotations

import io
import re
import secrets
import zipfile
from typing import Any

from ..errors import not_found
from ..http import Ctx, Reply
from ..routing import WebReply, WebRequest, route, web
from ..shapes import web_root
from ..world import token_hash
from .jobs import job_shape, run_jobs, service_ctx

#: how long a download link works (sandbox clock): "This link expires after 1 minute."
LINK_TTL = 60.0
LINKS = "log_links"
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def _link(ctx: Ctx, kind: str, ident: int) -> Reply:
    world = ctx.world
    now = world.now()
    for key, rec in list(world.store.tables.get(LINKS, {}).items()):
        if rec["expires"] <= now:
            world.store.delete(LINKS, key)
    token = secrets.token_urlsafe(24)
    world.save(LINKS, token_hash(token), {"kind": kind, "id": ident, "expires": now + LINK_TTL})
    return Reply(status=302, body=None, headers={"Location": f"{web_root(ctx)}/_logs/{token}"})


def _file_name(text: str) -> str:
    return _UNSAFE.sub("", text).strip() or "step"


def _line(ts: str | None, text: str) -> str:
    stamp = (ts or "").replace("Z", ".0000000Z") if ts else "0000-00-00T00:00:00.0000000Z"
    return f"{stamp} {text}\n"


def _step_log(job: dict, step: dict) -> str:
    out = _line(step.get("started_at"), f"##[group]Run {step['name']}")
    out += _line(step.get("started_at"), f"(gridctl sandbox) step {step['number']} of job {job['name']!r}; no command runs here")
    out += _line(step.get("started_at"), "##[endgroup]")
    if step.get("status") == "completed":
        out += _line(step.get("completed_at"), f"(gridctl sandbox) step {step['status']}: {step.get('conclusion')}")
    else:
        out += _line(step.get("started_at"), f"(gridctl sandbox) step {step.get('status')}")
    return out


def _job_log(job: dict) -> str:
    head = _line(job.get("started_at"), f"Job {job['name']!r} ran on runner {job.get('runner_name')!r} "
                                        f"(group {job.get('runner_group_name')!r}), labels {', '.join(job.get('labels') or [])}")
    body = "".join(_step_log(job, s) for s in job.get("steps") or [])
    tail = _line(job.get("completed_at") or job.get("started_at"), f"Job {job['status']}: {job.get('conclusion')}")
    return head + body + tail


def _jobs_that_ran(ctx: Ctx, repo: dict, run: dict) -> list[dict]:
    """The run's jobs that started on a runner, as GitHub shows them (``job`` shape)."""
    return [job_shape(ctx, repo, j) for j in run_jobs(ctx.world, run["id"]) if j.get("started_at")]


def run_archive(ctx: Ctx, repo: dict, run: dict) -> bytes:
    """The zip of a run's logs (see the module docstring for the layout)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        jobs = _jobs_that_ran(ctx, repo, run)
        for n, job in enumerate(jobs):
            folder = _file_name(job["name"])
            zf.writestr(f"{n}_{folder}.txt", _job_log(job))
            for step in job["steps"]:
                zf.writestr(f"{folder}/{step['number']}_{_file_name(step['name'])}.txt", _step_log(job, step))
        if not jobs:
            text = _line(run.get("updated_at"), f"Run {run['id']} ({run.get('name') or run.get('path')}) {run['status']}: "
                         f"{run.get('conclusion')}. No job of this run ran on a runner in the gridctl sandbox, "
                         "so there is no step log.")
            zf.writestr("run.txt", text)
    return buf.getvalue()


def _run(ctx: Ctx, repo: dict) -> dict:
    raw = str(ctx.params["run_id"])
    run = ctx.world.store.get("runs", raw) if raw.isdigit() else None
    if run is None or run["repo_id"] != repo["id"]:
        raise not_found()
    return run


def _job(ctx: Ctx, repo: dict) -> dict:
    raw = str(ctx.params["job_id"])
    job = ctx.world.store.get("jobs", raw) if raw.isdigit() else None
    if job is None or job["repo_id"] != repo["id"]:
        raise not_found()
    return job


@route("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/logs", "actions/download-workflow-run-logs")
def download_run_logs(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    run = _run(ctx, repo)
    if run["status"] != "completed":
        raise not_found()
    return _link(ctx, "run", run["id"])


@route("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs", "actions/download-job-logs-for-workflow-run")
def download_job_logs(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    job = _job(ctx, repo)
    if not job.get("started_at"):
        raise not_found()
    return _link(ctx, "job", job["id"])


@web("GET", "/_logs/{token}")
def serve_link(app: Any, req: WebRequest) -> WebReply:
    """The download behind a log link: the run's zip or the job's text, while the link lives."""
    world = app.world
    rec = world.store.get(LINKS, token_hash(req.params["token"]))
    if rec is None or rec["expires"] <= world.now():
        return WebReply(403, b"This download link has expired or is not valid.", "text/plain; charset=utf-8")
    ctx = service_ctx(world)
    if rec["kind"] == "run":
        run = world.store.get("runs", rec["id"])
        repo = world.repo_by_id(run["repo_id"]) if run else None
        if run is None or repo is None:
            return WebReply(404, b"Not Found", "text/plain; charset=utf-8")
        name = f"logs_{run['id']}.zip"
        return WebReply(200, run_archive(ctx, repo, run), "application/zip",
                        {"Content-Disposition": f"attachment; filename={name}"})
    job = world.store.get("jobs", rec["id"])
    repo = world.repo_by_id(job["repo_id"]) if job else None
    if job is None or repo is None:
        return WebReply(404, b"Not Found", "text/plain; charset=utf-8")
    return WebReply(200, _job_log(job_shape(ctx, repo, job)).encode(), "text/plain; charset=utf-8")
