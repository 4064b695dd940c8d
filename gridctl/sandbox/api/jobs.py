"""Workflow jobs: planned from the workflow file, scheduled on self-hosted runners, run by
stand-in runner processes.

**Planning.** A dispatched run gets its jobs from the workflow file at the run's commit
(:func:`plan_jobs`): every entry of ``jobs:`` with its ``runs-on`` (a label, a list of labels,
or ``{group:, labels:}``), ``needs:`` (the order: a job waits, ``pending``, until every job it
needs succeeded, and is skipped when one did not), its step names and its ``env:``. A
``strategy.matrix`` of lists is expanded into one job per combination (with ``exclude``); a
matrix with ``include`` or given by an expression is not expanded: the job runs once (its
record's ``note`` says so). ``${{ inputs.NAME }}`` and ``${{ matrix.KEY }}`` are substituted;
any other expression stays as written (in ``runs-on`` it is then a label no runner has, so
the job waits). ``if:`` conditions are not evaluated (the job runs). A workflow the sandbox
cannot plan (a job without ``runs-on``, an unknown or circular ``needs``, a reusable workflow)
gives a run that completes with ``failure`` and no jobs, as github.com shows a workflow file it
cannot run; the run record's ``message`` says why. A workflow without jobs gives a run
without jobs, moved only through ``POST /_sandbox/runs/{id}``.

**Scheduling** (:func:`schedule`): a queued job goes to an online, idle runner that listens
for work (a stand-in runner's broker session, below), that the repository may use (its own
runners; the owning organization's runners whose group lets it in, see
:func:`.runners.eligible_runners`, and lets its workflow in when the group is restricted to
workflows) and whose labels include every ``runs-on`` label, compared case-insensitively
("Labels are case-insensitive", https://docs.github.com/en/actions/hosting-your-own-runners/managing-self-hosted-runners/using-labels-with-self-hosted-runners).
A runner put online by ``POST /_sandbox/runners/connect`` or ``/_sandbox/runners/{id}`` has no
listener and never gets a job. A job no runner takes stays queued; after 24 hours of sandbox
clock it fails, as github.com ends a job that waited that long for a self-hosted runner
("Each job for self-hosted runners can be queued for a maximum of 24 hours",
https://docs.github.com/en/actions/hosting-your-own-runners/managing-self-hosted-runners/about-self-hosted-runners#usage-limits).
GitHub-hosted labels (``ubuntu-latest``) have no runner here: such jobs stay queued.

**Job and run states.** ``pending`` (waiting on ``needs``) or ``waiting`` (a protected
environment: reviewers or a wait timer) → ``queued`` → (assigned: the runner is busy, the job
still queued until the runner starts it) ``in_progress`` → ``completed``. The run is
``queued`` until a job starts, ``in_progress`` until every job completed, then ``completed``
with ``failure`` if a job failed, ``cancelled`` if cancelled, else ``success``. An ephemeral
(JIT) runner is removed after its one job. Cancelling a run completes its unfinished jobs as
``cancelled`` and frees their runners.

**The broker** (control routes under ``/_sandbox/broker``; the real runner's protocol is not
part of the REST API): a runner process opens a session with its JIT configuration, polls
(each poll renews its lease), starts the job it is given and completes it. A session not
renewed within ``lease_seconds`` (real time) is a lost runner: its job fails with GitHub's
"lost communication" message, the runner goes offline (removed if it had taken its one job).
``GET|PUT /_sandbox/jobs/settings`` reads and changes the lease, poll interval and queue
timeout; ``GET /_sandbox/jobs`` lists job records; ``POST /_sandbox/jobs/{id}/approve``
releases a job waiting on environment reviewers.

Records: table ``jobs`` keyed by id (see LAYOUT.md). Sessions live in memory only: after a
restart, runners reconnect.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, cast

from ..errors import ApiError, not_found
from ..gitobjects import Git
from ..http import Ctx, Reply, json_reply
from ..inputs import number_field, str_field
from ..routing import control, route
from ..shapes import repository, simple_user
from ..spec import load_spec
from ..world import World, node_id
from .contents import api_root, html_root
from .runners import eligible_runners, find_group, remove_runner, runner_by_jit

#: the most jobs a matrix may generate ("A matrix can generate a maximum of 256 jobs per
#: workflow run", https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/running-variations-of-jobs-in-a-workflow)
MAX_MATRIX_JOBS = 256
#: workflow ``env`` names a stand-in runner reads (the job's ``env:`` or the workflow's)
SECONDS_ENV = "GRIDCTL_SANDBOX_JOB_SECONDS"
CONCLUSION_ENV = "GRIDCTL_SANDBOX_JOB_CONCLUSION"
RUNNER_CONCLUSIONS = ("success", "failure")
#: what github.com writes on a job whose runner stopped answering
LOST_RUNNER = (
    "The self-hosted runner: {name} lost communication with the server. Verify the machine is running "
    "and has a healthy network connection. Anything in your workflow that terminates the runner process, "
    "starves it for CPU/Memory, or blocks its network access can cause this error."
)
SHUTDOWN = "The runner has received a shutdown signal. This can happen when the runner service is stopped, or a manually started runner is canceled."
QUEUE_TIMEOUT = "The job has exceeded the maximum execution time while awaiting a runner for {hours}"
JOB_ID_START = 30_000_000_000
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
log = logging.getLogger("gridctl.sandbox")


class JobsError(Exception):
    """A workflow whose jobs the sandbox cannot plan (the run fails)."""


# -- planning ------------------------------------------------------------------------------------
@dataclass
class JobPlan:
    key: str
    name: str
    labels: list[str]
    group: str | None
    needs: list[str]
    steps: list[str]
    env: dict[str, str]
    environment: str | None
    #: what the sandbox left out (a matrix it did not expand)
    note: str | None = None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _substitute(text: str, values: dict[str, str]) -> str:
    return _EXPR.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _labels(key: str, value: Any, values: dict[str, str]) -> tuple[list[str], str | None]:
    """``runs-on`` as (labels, group)."""
    group: str | None = None
    if isinstance(value, dict):
        raw_group = value.get("group")
        if raw_group is not None and not isinstance(raw_group, str):
            raise JobsError(f"job {key}: runs-on.group must be a string")
        group = _substitute(raw_group, values) if raw_group else None
        value = value.get("labels", [])
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise JobsError(f"job {key}: runs-on must be a label, a list of labels or {{group, labels}}")
    # an expression the sandbox does not evaluate stays as written: no runner has that label
    labels = [_substitute(_text(v), values).strip() for v in value]
    labels = [label for label in labels if label]
    if not labels and group is None:
        raise JobsError(f"job {key}: runs-on names no label")
    return labels, group


def _matrix(key: str, job: dict) -> tuple[list[dict[str, str]], str | None]:
    """The matrix combinations, or ``[{}]`` and why the matrix is not expanded."""
    strategy = job.get("strategy")
    matrix = strategy.get("matrix") if isinstance(strategy, dict) else None
    if matrix is None:
        return [{}], None
    if not isinstance(matrix, dict):
        return [{}], "a matrix given by an expression is not expanded by the sandbox: one job"
    if "include" in matrix:
        return [{}], "a matrix with include is not expanded by the sandbox: one job"
    exclude = matrix.get("exclude") or []
    if not isinstance(exclude, list) or not all(isinstance(e, dict) for e in exclude):
        raise JobsError(f"job {key}: matrix exclude must be a list of mappings")
    axes: list[tuple[str, list[str]]] = []
    for name, options in matrix.items():
        if name == "exclude":
            continue
        if not isinstance(options, list) or not all(isinstance(o, (str, int, float, bool)) for o in options):
            return [{}], f"matrix {name} is not a list of values: not expanded by the sandbox: one job"
        if not options:
            raise JobsError(f"job {key}: matrix {name} is an empty list")
        axes.append((str(name), [_text(o) for o in options]))
    if not axes:
        return [{}], None
    combos = [dict(zip([a for a, _ in axes], values, strict=True)) for values in itertools.product(*(o for _, o in axes))]
    combos = [c for c in combos if not any(all(c.get(str(k)) == _text(v) for k, v in e.items()) for e in exclude)]
    if len(combos) > MAX_MATRIX_JOBS:
        raise JobsError(f"job {key}: the matrix generates {len(combos)} jobs (at most {MAX_MATRIX_JOBS})")
    return combos, None


def _step_names(key: str, steps: Any, values: dict[str, str]) -> list[str]:
    if steps is None:
        return []
    if not isinstance(steps, list):
        raise JobsError(f"job {key}: steps must be a list")
    out = []
    for i, step in enumerate(steps, 1):
        name = None
        if isinstance(step, dict):
            if isinstance(step.get("name"), str) and step["name"].strip():
                name = step["name"]
            elif isinstance(step.get("uses"), str):
                name = f"Run {step['uses']}"
            elif isinstance(step.get("run"), str) and step["run"].strip():
                name = "Run " + step["run"].strip().splitlines()[0]
        out.append(_substitute(name or f"Step {i}", values)[:200])
    return out


def _env(doc_env: Any, job_env: Any, values: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for env in (doc_env, job_env):
        if isinstance(env, dict):
            out.update({str(k): _substitute(_text(v), values) for k, v in env.items() if v is not None})
    return out


def _check_controls(key: str, env: dict[str, str]) -> None:
    seconds = env.get(SECONDS_ENV)
    if seconds is not None:
        try:
            value = float(seconds)
        except ValueError:
            value = -1.0
        if not 0 <= value <= 86400:
            raise JobsError(f"job {key}: {SECONDS_ENV} {seconds!r} is not a number of seconds (0 to 86400)")
    conclusion = env.get(CONCLUSION_ENV)
    if conclusion is not None and conclusion not in RUNNER_CONCLUSIONS:
        raise JobsError(f"job {key}: {CONCLUSION_ENV} {conclusion!r} must be one of {', '.join(RUNNER_CONCLUSIONS)}")


def _needs(key: str, job: dict, keys: list[str]) -> list[str]:
    needs = job.get("needs", [])
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise JobsError(f"job {key}: needs must be a job id or a list of job ids")
    for n in needs:
        if n not in keys:
            raise JobsError(f"job {key}: needs unknown job {n!r}")
    return list(dict.fromkeys(needs))


def _check_cycles(needs: dict[str, list[str]]) -> None:
    state: dict[str, int] = {}

    def visit(k: str, path: list[str]) -> None:
        if state.get(k) == 2:
            return
        if state.get(k) == 1:
            raise JobsError(f"jobs {' -> '.join([*path, k])} need each other in a cycle")
        state[k] = 1
        for n in needs[k]:
            visit(n, [*path, k])
        state[k] = 2

    for k in needs:
        visit(k, [])


def plan_jobs(doc: Any, inputs: dict[str, Any]) -> list[JobPlan]:
    """The jobs of a workflow document for a run with ``inputs``; ``[]`` when it has none."""
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    if not isinstance(jobs, dict) or not jobs:
        return []
    keys = [str(k) for k in jobs]
    base = {f"inputs.{k}": _text(v) for k, v in inputs.items()}
    base.update({f"github.event.inputs.{k}": _text(v) for k, v in inputs.items()})
    plans: list[JobPlan] = []
    needs: dict[str, list[str]] = {}
    for raw_key, job in jobs.items():
        key = str(raw_key)
        if not isinstance(job, dict):
            raise JobsError(f"job {key} must be a mapping")
        if "uses" in job:
            raise JobsError(f"job {key} calls a reusable workflow, which the sandbox does not run")
        if "runs-on" not in job:
            raise JobsError(f"job {key} has no runs-on")
        needs[key] = _needs(key, job, keys)
        raw_name = job.get("name")
        combos, note = _matrix(key, job)
        for combo in combos:
            values = {**base, **{f"matrix.{k}": v for k, v in combo.items()}}
            labels, group = _labels(key, job["runs-on"], values)
            if isinstance(raw_name, str) and raw_name.strip():
                name = _substitute(raw_name, values)
                if combo and "matrix." not in raw_name:
                    name = f"{name} ({', '.join(combo.values())})"
            else:
                name = f"{key} ({', '.join(combo.values())})" if combo else key
            env = _env(doc.get("env"), job.get("env"), values)
            _check_controls(key, env)
            environment = job.get("environment")
            if isinstance(environment, dict):
                environment = environment.get("name")
            plans.append(
                JobPlan(
                    key=key,
                    name=name[:256],
                    labels=labels,
                    group=group,
                    needs=needs[key],
                    steps=_step_names(key, job.get("steps"), values),
                    env={k: v for k, v in env.items() if k in (SECONDS_ENV, CONCLUSION_ENV)},
                    environment=_substitute(environment, values) if isinstance(environment, str) else None,
                    note=note,
                )
            )
    _check_cycles(needs)
    return plans


# -- the broker's in-memory state ----------------------------------------------------------------
@dataclass
class Settings:
    #: a session not renewed for this long (real seconds) is a lost runner
    lease_seconds: float = 30.0
    #: how often a stand-in runner asks for work
    poll_seconds: float = 0.5
    #: a queued job fails after this long on the sandbox clock (GitHub: 24 hours)
    queue_timeout_seconds: float = 24 * 3600.0
    #: how often the scheduler thread looks at leases, timeouts and queued jobs
    tick_seconds: float = 0.2

    def as_dict(self) -> dict[str, float]:
        return {
            "lease_seconds": self.lease_seconds,
            "poll_seconds": self.poll_seconds,
            "queue_timeout_seconds": self.queue_timeout_seconds,
            "tick_seconds": self.tick_seconds,
        }


@dataclass
class Session:
    id: str
    runner_id: int
    last_seen: float
    job_id: int | None = None
    #: a job of this session completed behind its back (cancelled): told on the next poll
    cancelled: list[int] = field(default_factory=list)


class Broker:
    """Sessions of listening runners and the set of unfinished jobs (memory only)."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.sessions: dict[str, Session] = {}
        self.by_runner: dict[int, str] = {}
        self.active: set[int] | None = None

    def session_of(self, runner_id: int) -> Session | None:
        sid = self.by_runner.get(runner_id)
        return self.sessions.get(sid) if sid else None

    def drop(self, session: Session) -> None:
        self.sessions.pop(session.id, None)
        if self.by_runner.get(session.runner_id) == session.id:
            del self.by_runner[session.runner_id]


def broker(world: World) -> Broker:
    found = world.services.get("broker")
    if found is None:
        found = world.services["broker"] = Broker()
    return cast(Broker, found)


def _active(world: World) -> set[int]:
    b = broker(world)
    if b.active is None:
        b.active = {j["id"] for j in world.store.values("jobs") if j["status"] != "completed"}
    return b.active


# -- shapes ----------------------------------------------------------------------------------------
def service_ctx(world: World) -> Ctx:
    """A request context for work done outside a request (the scheduler, webhook payloads)."""
    base = (getattr(world.config, "public_url", None) or "http://127.0.0.1").rstrip("/")
    return Ctx(
        world=world,
        op=load_spec().operation("actions/get-job-for-workflow-run"),
        method="GET",
        params={},
        query={},
        body=None,
        headers={},
        user=None,
        scopes=frozenset(),
        base_url=base,
        path="",
        request_id="",
    )


def _steps(job: dict) -> list[dict[str, Any]]:
    names = ["Set up job", *job.get("step_names", []), "Complete job"]
    status, started, ended = job["status"], job.get("started_at"), job.get("completed_at")
    if not started or status in ("queued", "pending", "waiting"):
        return []
    out = []
    last_user = len(names) - 2
    for number, name in enumerate(names, 1):
        step: dict[str, Any] = {"name": name, "number": number}
        if status == "in_progress":
            if number == 1:
                step.update(status="completed", conclusion="success", started_at=started, completed_at=started)
            elif number == 2:
                step.update(status="in_progress", conclusion=None, started_at=started, completed_at=None)
            else:
                step.update(status="queued", conclusion=None, started_at=None, completed_at=None)
        else:
            conclusion = "success"
            if 1 < number < len(names):
                if job["conclusion"] == "failure" and number == last_user + 1:
                    conclusion = "failure"
                elif job["conclusion"] == "cancelled":
                    conclusion = "cancelled" if number == 2 else "skipped"
            step.update(status="completed", conclusion=conclusion, started_at=started, completed_at=ended or started)
        out.append(step)
    return out


def job_shape(ctx: Ctx, repo: dict, job: dict) -> dict[str, Any]:
    """A job as GitHub renders it (``job`` schema; the ``workflow_job`` of webhooks)."""
    api = api_root(ctx, repo)
    queued = job["status"] in ("queued", "pending", "waiting")
    return {
        "id": job["id"],
        "run_id": job["run_id"],
        "run_url": f"{api}/actions/runs/{job['run_id']}",
        "run_attempt": 1,
        "node_id": node_id("CheckRun", job["id"]),
        "head_sha": job["head_sha"],
        "url": f"{api}/actions/jobs/{job['id']}",
        "html_url": f"{html_root(ctx, repo)}/actions/runs/{job['run_id']}/job/{job['id']}",
        "status": job["status"],
        "conclusion": job["conclusion"],
        "created_at": job["created_at"],
        "started_at": job.get("started_at") or job["created_at"],
        "completed_at": job.get("completed_at"),
        "name": job["name"],
        "steps": _steps(job),
        "check_run_url": f"{api}/check-runs/{job['id']}",
        "labels": list(job["labels"]),
        "runner_id": None if queued else job.get("runner_id"),
        "runner_name": None if queued else job.get("runner_name"),
        "runner_group_id": None if queued else job.get("runner_group_id"),
        "runner_group_name": None if queued else job.get("runner_group_name"),
        "workflow_name": job.get("workflow_name"),
        "head_branch": job.get("head_branch"),
    }


def _actor(ctx: Ctx, login: str | None) -> dict:
    user = ctx.world.find_user(login) if login else None
    return simple_user(ctx, user or {"login": "ghost", "id": 10137, "type": "User"})


def run_shape(ctx: Ctx, repo: dict, run: dict) -> dict:
    """A workflow run as GitHub renders it (``workflow-run`` schema)."""
    api = api_root(ctx, repo)
    html = html_root(ctx, repo)
    git = Git(ctx.world, repo)
    run_url = f"{api}/actions/runs/{run['id']}"
    commit = git.get(run["head_sha"])
    head_commit = None
    if commit is not None:
        head_commit = {
            "id": run["head_sha"],
            "tree_id": commit["tree"],
            "message": commit["message"],
            "timestamp": commit["committer"]["date"],
            "author": {"name": commit["author"]["name"], "email": commit["author"]["email"]},
            "committer": {"name": commit["committer"]["name"], "email": commit["committer"]["email"]},
        }
    suite = run["id"] + 7_000_000_000
    minimal = repository(ctx, repo, level="minimal")
    actor = _actor(ctx, run.get("actor"))
    return {
        "id": run["id"],
        "name": run.get("name") or run["path"],
        "node_id": node_id("WorkflowRun", run["id"]),
        "check_suite_id": suite,
        "check_suite_node_id": node_id("CheckSuite", suite),
        "head_branch": run["head_branch"],
        "head_sha": run["head_sha"],
        "path": run["path"],
        "display_title": run.get("display_title") or run.get("name") or run["path"],
        "run_number": run["run_number"],
        "run_attempt": 1,
        "referenced_workflows": [],
        "event": run["event"],
        "status": run["status"],
        "conclusion": run["conclusion"],
        "workflow_id": run["workflow_id"],
        "url": run_url,
        "html_url": f"{html}/actions/runs/{run['id']}",
        "pull_requests": [],
        "created_at": run["created_at"],
        "updated_at": run["updated_at"],
        "actor": actor,
        "triggering_actor": actor,
        "run_started_at": run["run_started_at"],
        "jobs_url": f"{run_url}/jobs",
        "logs_url": f"{run_url}/logs",
        "check_suite_url": f"{api}/check-suites/{suite}",
        "artifacts_url": f"{run_url}/artifacts",
        "cancel_url": f"{run_url}/cancel",
        "rerun_url": f"{run_url}/rerun",
        "previous_attempt_url": None,
        "workflow_url": f"{api}/actions/workflows/{run['workflow_id']}",
        "head_commit": head_commit,
        "repository": minimal,
        "head_repository": minimal,
        "head_repository_id": repo["id"],
    }


# -- events ----------------------------------------------------------------------------------------
#: called with (world, repo, run, job, action) after a job changes state, and with
#: (world, repo, run, None, action) after its run does; filled by the webhook area
LISTENERS: list[Any] = []


def _notify(world: World, run: dict, job: dict | None, action: str) -> None:
    repo = world.repo_by_id(run["repo_id"])
    if repo is None:
        return
    for listener in LISTENERS:
        listener(world, repo, run, job, action)


def run_changed(world: World, run: dict, action: str) -> None:
    """Tell the listeners a run moved by hand (a run without jobs, a control route)."""
    _notify(world, run, None, action)


# -- job records -----------------------------------------------------------------------------------
def run_jobs(world: World, run_id: int) -> list[dict]:
    return sorted((j for j in world.store.values("jobs") if j["run_id"] == run_id), key=lambda j: j["id"])


def _env_gate(world: World, repo: dict, name: str | None) -> tuple[bool, float | None]:
    """(needs a reviewer, wait-timer deadline on the sandbox clock) of a job's environment."""
    if not name:
        return False, None
    env = (repo.get("environments") or {}).get(name)
    if env is None:
        return False, None
    timer = env.get("wait_timer") or 0
    return bool(env.get("reviewers")), (world.now() + 60 * timer) if timer else None


def create_jobs(world: World, repo: dict, run: dict, doc: Any) -> None:
    """The run's jobs from its workflow document (called when the run is created)."""
    _notify(world, run, None, "requested")
    try:
        plans = plan_jobs(doc, run.get("inputs") or {})
    except JobsError as exc:
        now = world.now_iso()
        run.update(status="completed", conclusion="failure", updated_at=now, message=str(exc))
        world.save("runs", run["id"], run)
        _notify(world, run, None, "completed")
        return
    run["job_count"] = len(plans)
    world.save("runs", run["id"], run)
    for plan in plans:
        job: dict[str, Any] = {
            "id": world.next_id("jobs", JOB_ID_START),
            "run_id": run["id"],
            "repo_id": repo["id"],
            "key": plan.key,
            "name": plan.name,
            "labels": plan.labels,
            "group": plan.group,
            "needs": plan.needs,
            "step_names": plan.steps,
            "env": plan.env,
            "environment": plan.environment,
            "status": "pending" if plan.needs else "queued",
            "conclusion": None,
            "created_at": run["created_at"],
            "started_at": None,
            "completed_at": None,
            "head_sha": run["head_sha"],
            "head_branch": run["head_branch"],
            "workflow_name": run.get("name"),
            "runner_id": None,
            "runner_name": None,
            "runner_group_id": None,
            "runner_group_name": None,
            "queued_epoch": None,
            "message": None,
            "note": plan.note,
        }
        world.save("jobs", job["id"], job)
        _active(world).add(job["id"])
        if job["status"] == "queued":
            _enqueue(world, repo, run, job)
    refresh_run(world, run)
    schedule(world)


def _enqueue(world: World, repo: dict, run: dict, job: dict) -> None:
    """A job whose needs are met: queued, or waiting on its environment's protection rules."""
    reviewers, until = _env_gate(world, repo, job.get("environment"))
    if reviewers or until is not None:
        job.update(status="waiting", wait_until=until, needs_approval=reviewers)
        world.save("jobs", job["id"], job)
        _notify(world, run, job, "waiting")
        return
    job.update(status="queued", queued_epoch=world.now())
    world.save("jobs", job["id"], job)
    _notify(world, run, job, "queued")


def _release_runner(world: World, job: dict, *, spent: bool, tell: bool) -> None:
    """Free the runner a job held; an ephemeral runner that ran the job is removed. ``tell``:
    the runner learns on its next poll that the job ended without it (cancelled)."""
    rid = job.get("runner_id")
    rec = world.store.get("runners", rid) if rid is not None else None
    b = broker(world)
    session = b.session_of(rid) if rid is not None else None
    if session is not None and session.job_id == job["id"]:
        session.job_id = None
        if tell:
            session.cancelled.append(job["id"])
    if rec is None:
        return
    if spent and rec["ephemeral"]:
        remove_runner(world, rec)
        return
    rec["busy"] = False
    world.save("runners", rec["id"], rec)


def finish_job(world: World, job: dict, conclusion: str, message: str | None = None, *, by_runner: bool = False) -> None:
    """Complete a job (any state), free its runner, move dependants and the run along.
    ``by_runner``: its runner reported it; otherwise the runner is told on its next poll."""
    if job["status"] == "completed":
        return
    started = job["status"] == "in_progress"
    assigned = job.get("runner_id") is not None
    now = world.now_iso()
    job.update(status="completed", conclusion=conclusion, completed_at=now, message=message)
    world.save("jobs", job["id"], job)
    _active(world).discard(job["id"])
    if assigned:
        _release_runner(world, job, spent=started, tell=not by_runner)
        if not started:  # never ran: it held the runner but says nothing of it
            job.update(runner_id=None, runner_name=None, runner_group_id=None, runner_group_name=None)
            world.save("jobs", job["id"], job)
    run = world.store.get("runs", job["run_id"])
    if run is None:
        return
    _notify(world, run, job, "completed")
    _advance(world, run)


def _advance(world: World, run: dict) -> None:
    """Start the jobs whose needs are complete, skip those whose needs failed; then the run."""
    repo = world.repo_by_id(run["repo_id"])
    jobs = run_jobs(world, run["id"])
    changed = True
    while changed and repo is not None:
        changed = False
        by_key: dict[str, list[dict]] = {}
        for j in jobs:
            by_key.setdefault(j["key"], []).append(j)
        for j in jobs:
            if j["status"] != "pending":
                continue
            needed = [n for key in j["needs"] for n in by_key.get(key, [])]
            if any(n["status"] != "completed" for n in needed):
                continue
            changed = True
            if all(n["conclusion"] == "success" for n in needed):
                _enqueue(world, repo, run, j)
            else:
                j.update(status="completed", conclusion="skipped", completed_at=world.now_iso())
                world.save("jobs", j["id"], j)
                _active(world).discard(j["id"])
                _notify(world, run, j, "completed")
    refresh_run(world, run, jobs)
    schedule(world)


def refresh_run(world: World, run: dict, jobs: list[dict] | None = None) -> None:
    """The run's status and conclusion from its jobs (a run without jobs is left alone)."""
    jobs = run_jobs(world, run["id"]) if jobs is None else jobs
    if not jobs:
        return
    status, conclusion = run["status"], run["conclusion"]
    new: tuple[str, str | None]
    if all(j["status"] == "completed" for j in jobs):
        conclusions = {j["conclusion"] for j in jobs}
        if run.get("cancel_requested"):
            new = ("completed", "cancelled")
        elif conclusions & {"failure", "timed_out"}:
            new = ("completed", "failure")
        elif "cancelled" in conclusions:
            new = ("completed", "cancelled")
        elif conclusions == {"skipped"}:
            new = ("completed", "skipped")
        else:
            new = ("completed", "success")
    elif any(j.get("started_at") for j in jobs):
        new = ("in_progress", None)
    elif any(j["status"] == "waiting" for j in jobs):
        new = ("waiting", None)
    else:
        new = ("queued", None)
    if new == (status, conclusion):
        return
    run["status"], run["conclusion"] = new
    run["updated_at"] = world.now_iso()
    world.save("runs", run["id"], run)
    if new[0] in ("in_progress", "completed"):
        _notify(world, run, None, new[0])


def cancel_jobs(world: World, run: dict) -> None:
    """Cancel every unfinished job of a run (a run cancelled through the API)."""
    run["cancel_requested"] = True
    world.save("runs", run["id"], run)
    for job in run_jobs(world, run["id"]):
        if job["status"] != "completed":
            finish_job(world, job, "cancelled")


def settle_jobs(world: World, run: dict, conclusion: str) -> None:
    """A run completed by hand (``POST /_sandbox/runs/{id}``): its unfinished jobs end with it."""
    allowed = ("success", "failure", "cancelled", "skipped", "neutral", "timed_out", "action_required")
    for job in run_jobs(world, run["id"]):
        if job["status"] != "completed":
            finish_job(world, job, conclusion if conclusion in allowed else "cancelled")


# -- scheduling ------------------------------------------------------------------------------------
def _workflow_allowed(group: dict, repo: dict, run: dict) -> bool:
    if not group.get("restricted_to_workflows"):
        return True
    here = f"{repo['owner']}/{repo['name']}/{run['path']}".lower()
    refs = {run["head_sha"].lower(), run["head_branch"].lower(), f"refs/heads/{run['head_branch']}".lower(),
            f"refs/tags/{run['head_branch']}".lower()}
    for entry in group.get("selected_workflows") or []:
        path, _, ref = str(entry).partition("@")
        if path.lower() == here and ref.lower() in refs:
            return True
    return False


def _group_name(world: World, rec: dict) -> str:
    if rec.get("repo_id") is not None:
        return "Default"
    group = find_group(world, rec["org"], rec["runner_group_id"])
    return group["name"] if group else "Default"


def _idle_listeners(world: World) -> set[int]:
    """Ids of the runners that listen for work and have none."""
    b = broker(world)
    out = set()
    for session in b.sessions.values():
        rec = world.store.get("runners", session.runner_id)
        if session.job_id is None and rec is not None and rec["status"] == "online" and not rec["busy"]:
            out.add(rec["id"])
    return out


def _pick(world: World, job: dict, repo: dict, run: dict, idle: set[int], eligible: list[dict]) -> dict | None:
    wanted = {label.lower() for label in job["labels"]}
    for rec in eligible:
        if rec["id"] not in idle or not wanted <= {lb["name"].lower() for lb in rec["labels"]}:
            continue
        if rec.get("repo_id") is None:
            group = find_group(world, rec["org"], rec["runner_group_id"])
            if group is None or not _workflow_allowed(group, repo, run):
                continue
        if job.get("group") and _group_name(world, rec).lower() != str(job["group"]).lower():
            continue
        return rec
    return None


def schedule(world: World) -> None:
    """Give every queued, unassigned job an idle listening runner that fits, oldest job first."""
    b = broker(world)
    idle = _idle_listeners(world) if b.sessions else set()
    eligible: dict[int, list[dict]] = {}  # per repository, for this pass
    for jid in sorted(_active(world)):
        if not idle:
            return
        job = world.store.get("jobs", jid)
        if job is None or job["status"] != "queued" or job.get("runner_id") is not None:
            continue
        run = world.store.get("runs", job["run_id"])
        repo = world.repo_by_id(job["repo_id"])
        if run is None or repo is None:
            continue
        if repo["id"] not in eligible:
            eligible[repo["id"]] = eligible_runners(world, repo)
        rec = _pick(world, job, repo, run, idle, eligible[repo["id"]])
        if rec is None:
            continue
        idle.discard(rec["id"])
        rec["busy"] = True
        world.save("runners", rec["id"], rec)
        job.update(
            runner_id=rec["id"],
            runner_name=rec["name"],
            runner_group_id=rec["runner_group_id"],
            runner_group_name=_group_name(world, rec),
        )
        world.save("jobs", job["id"], job)
        session = b.session_of(rec["id"])
        assert session is not None
        session.job_id = job["id"]


def _lose(world: World, session: Session, message: str) -> None:
    """A runner that stopped listening: its job fails (or goes back to the queue if it never
    started), the runner goes offline, or is removed when it was an ephemeral runner that
    had taken its job."""
    b = broker(world)
    b.drop(session)
    rec = world.store.get("runners", session.runner_id)
    job = world.store.get("jobs", session.job_id) if session.job_id is not None else None
    if job is not None and job["status"] == "queued":
        job.update(runner_id=None, runner_name=None, runner_group_id=None, runner_group_name=None)
        world.save("jobs", job["id"], job)
        job = None
        if rec is not None:
            rec["busy"] = False
    if rec is None:
        return
    if job is not None and job["status"] == "in_progress":
        finish_job(world, job, "failure", message.format(name=rec["name"]))
        rec = world.store.get("runners", session.runner_id)
        if rec is None:
            return
    rec["status"], rec["busy"] = "offline", False
    world.save("runners", rec["id"], rec)


def tick(world: World, now: float | None = None) -> None:
    """One pass of the scheduler thread: lost runners, queue timeouts, wait timers, assignments."""
    b = broker(world)
    now = time.monotonic() if now is None else now
    for session in list(b.sessions.values()):
        if now - session.last_seen > b.settings.lease_seconds:
            _lose(world, session, LOST_RUNNER)
    active = _active(world)
    if not active:
        return
    clock = world.now()
    hours = b.settings.queue_timeout_seconds / 3600
    for jid in sorted(active):
        job = world.store.get("jobs", jid)
        if job is None:
            active.discard(jid)
            continue
        if job["status"] == "queued" and job.get("runner_id") is None and job.get("queued_epoch") is not None:
            if clock - job["queued_epoch"] >= b.settings.queue_timeout_seconds:
                finish_job(world, job, "failure", QUEUE_TIMEOUT.format(hours=f"{int(hours)}h{int(hours * 60) % 60}m0s"))
        elif job["status"] == "waiting" and not job.get("needs_approval") and clock >= (job.get("wait_until") or clock + 1):
            _release_waiting(world, job)
    schedule(world)


def _release_waiting(world: World, job: dict) -> None:
    run = world.store.get("runs", job["run_id"])
    if run is None:
        return
    job.update(status="queued", queued_epoch=world.now(), needs_approval=False, wait_until=None)
    world.save("jobs", job["id"], job)
    _notify(world, run, job, "queued")


class Scheduler:
    """The background thread that calls :func:`tick`; started and stopped with the sandbox."""

    def __init__(self, world: World, lock: Any, violations: list[str]):
        self.world = world
        self.lock = lock
        self.violations = violations
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gridctl-sandbox-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(broker(self.world).settings.tick_seconds):
            with self.lock:
                try:
                    tick(self.world)
                except Exception:  # a bug: keep the evidence, keep scheduling
                    log.error("scheduler tick crashed:\n%s", traceback.format_exc())
                    self.violations.append(f"scheduler tick raised {traceback.format_exc(limit=3)}")
                finally:
                    self.world.store.commit()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


# -- routes ----------------------------------------------------------------------------------------
def find_run(ctx: Ctx, repo: dict) -> dict:
    """The run ``{run_id}`` of ``repo`` (a 404 for another repository's run)."""
    raw = str(ctx.params["run_id"])
    run = ctx.world.store.get("runs", raw) if raw.isdigit() else None
    if run is None or run["repo_id"] != repo["id"]:
        raise not_found()
    return run


@route("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", "actions/list-jobs-for-workflow-run")
def list_jobs(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    run = find_run(ctx, repo)
    if ctx.query.get("filter", "latest") not in ("latest", "all"):
        raise ApiError(422, "Invalid request.\n\nFor 'filter', must be one of: latest, all.")
    # one attempt per run in the sandbox: latest and all list the same jobs
    jobs = [job_shape(ctx, repo, j) for j in run_jobs(ctx.world, run["id"])]
    return ctx.paginate(jobs, key="jobs")


@route(
    "GET",
    "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs",
    "actions/list-jobs-for-workflow-run-attempt",
)
def list_attempt_jobs(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    run = find_run(ctx, repo)
    if str(ctx.params["attempt_number"]) != "1":
        raise not_found()
    return ctx.paginate([job_shape(ctx, repo, j) for j in run_jobs(ctx.world, run["id"])], key="jobs")


@route("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}", "actions/get-job-for-workflow-run")
def get_job(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    raw = str(ctx.params["job_id"])
    job = ctx.world.store.get("jobs", raw) if raw.isdigit() else None
    if job is None or job["repo_id"] != repo["id"]:
        raise not_found()
    return json_reply(job_shape(ctx, repo, job))


# -- control routes: the broker ----------------------------------------------------------------------
def _session(app: Any, params: dict) -> Session:
    b = broker(app.world)
    session = b.sessions.get(params["session_id"])
    if session is None:
        raise ApiError(404, "No such session: open a new one with the runner's JIT configuration.")
    session.last_seen = time.monotonic()
    return session


def _gone(app: Any, session: Session) -> dict | None:
    rec: dict | None = app.world.store.get("runners", session.runner_id)
    if rec is None:
        broker(app.world).drop(session)
    return rec


@control("POST", "/broker/sessions")
def open_session(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{"encoded_jit_config": "..."}``: the runner started with it listens for jobs."""
    world = app.world
    rec = runner_by_jit(world, str_field(body, "encoded_jit_config", max_length=1 << 20))
    if rec is None:
        raise ApiError(404, "No runner was configured with that JIT configuration (was it removed?).")
    b = broker(world)
    old = b.session_of(rec["id"])
    if old is not None:
        if time.monotonic() - old.last_seen <= b.settings.lease_seconds:
            raise ApiError(409, "A session for this runner already exists.")
        _lose(world, old, LOST_RUNNER)
        rec = world.store.get("runners", rec["id"])
        if rec is None:
            raise ApiError(404, "The runner was removed.")
    session = Session(secrets.token_urlsafe(24), rec["id"], time.monotonic())
    b.sessions[session.id] = session
    b.by_runner[rec["id"]] = session.id
    rec["status"] = "online"
    world.save("runners", rec["id"], rec)
    schedule(world)
    return 201, {
        "session_id": session.id,
        "runner": {"id": rec["id"], "name": rec["name"], "ephemeral": rec["ephemeral"]},
        **b.settings.as_dict(),
    }


def _assignment(world: World, job: dict) -> dict[str, Any]:
    repo = world.repo_by_id(job["repo_id"])
    env = job.get("env") or {}
    return {
        "id": job["id"],
        "run_id": job["run_id"],
        "name": job["name"],
        "repository": f"{repo['owner']}/{repo['name']}" if repo else None,
        "labels": job["labels"],
        "steps": job.get("step_names", []),
        "seconds": float(env[SECONDS_ENV]) if SECONDS_ENV in env else None,
        "conclusion": env.get(CONCLUSION_ENV),
    }


@control("POST", "/broker/sessions/{session_id}/poll")
def poll(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Renew the lease; answer ``{"job": {...} | null, "cancelled": [job ids]}``."""
    session = _session(app, params)
    if _gone(app, session) is None:
        return 410, {"message": "The runner was removed."}
    schedule(app.world)
    cancelled, session.cancelled = session.cancelled, []
    job = app.world.store.get("jobs", session.job_id) if session.job_id is not None else None
    return {"job": _assignment(app.world, job) if job else None, "cancelled": cancelled,
            "poll_seconds": broker(app.world).settings.poll_seconds}


def _session_job(app: Any, session: Session, params: dict) -> dict:
    job: dict | None = app.world.store.get("jobs", params["job_id"])
    if job is None or job.get("runner_id") != session.runner_id:
        raise ApiError(404, f"Job {params['job_id']} is not assigned to this runner.")
    return job


@control("POST", "/broker/sessions/{session_id}/jobs/{job_id:int}/start")
def start_job(app: Any, body: dict, params: dict, query: dict) -> Any:
    """The runner took its job: the job is in progress."""
    world = app.world
    session = _session(app, params)
    job = _session_job(app, session, params)
    if job["status"] == "completed":
        return 409, {"message": "The job was cancelled.", "conclusion": job["conclusion"]}
    if job["status"] == "queued":
        job.update(status="in_progress", started_at=world.now_iso())
        world.save("jobs", job["id"], job)
        run = world.store.get("runs", job["run_id"])
        if run is not None:
            _notify(world, run, job, "in_progress")
            refresh_run(world, run)
    return {"status": job["status"]}


@control("POST", "/broker/sessions/{session_id}/jobs/{job_id:int}/complete")
def complete_job(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{"conclusion": "success"|"failure", "message"?: str}``: the runner finished its job."""
    world = app.world
    session = _session(app, params)
    job = _session_job(app, session, params)
    conclusion = str_field(body, "conclusion", "success", max_length=20)
    if conclusion not in RUNNER_CONCLUSIONS:
        raise ApiError(422, f"conclusion must be one of {', '.join(RUNNER_CONCLUSIONS)}")
    if job["status"] == "completed":
        return 409, {"message": "The job was already completed.", "conclusion": job["conclusion"]}
    if job["status"] != "in_progress":
        raise ApiError(409, "The job was not started.")
    finish_job(world, job, conclusion, str_field(body, "message", None, max_length=2000), by_runner=True)
    removed = world.store.get("runners", session.runner_id) is None
    if removed:
        broker(world).drop(session)
    return {"removed": removed}


@control("DELETE", "/broker/sessions/{session_id}")
def close_session(app: Any, body: dict, params: dict, query: dict) -> Any:
    """The runner stops listening (shut down): it goes offline; a job it was running fails."""
    session = _session(app, params)
    _lose(app.world, session, SHUTDOWN)
    return {"ok": True}


@control("GET", "/jobs/settings")
def get_settings(app: Any, body: dict, params: dict, query: dict) -> Any:
    return broker(app.world).settings.as_dict()


@control("PUT", "/jobs/settings")
def put_settings(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{"lease_seconds": 2, "poll_seconds": 0.1, "queue_timeout_seconds": 86400, "tick_seconds": 0.1}``."""
    s = broker(app.world).settings
    s.lease_seconds = number_field(body, "lease_seconds", s.lease_seconds, low=0.1, high=86400.0)
    s.poll_seconds = number_field(body, "poll_seconds", s.poll_seconds, low=0.01, high=60.0)
    s.queue_timeout_seconds = number_field(body, "queue_timeout_seconds", s.queue_timeout_seconds, low=1.0, high=10 * 86400.0)
    s.tick_seconds = number_field(body, "tick_seconds", s.tick_seconds, low=0.01, high=10.0)
    return s.as_dict()


@control("GET", "/jobs")
def list_job_records(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Job records, oldest first; ``?run=ID`` keeps one run's."""
    jobs = sorted(app.world.store.values("jobs"), key=lambda j: j["id"])
    if query.get("run"):
        jobs = [j for j in jobs if str(j["run_id"]) == query["run"]]
    b = broker(app.world)
    listening = sorted(s.runner_id for s in b.sessions.values())
    return {"jobs": jobs, "listening_runners": listening}


@control("POST", "/jobs/{job_id:int}/approve")
def approve(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Approve a job waiting on its environment's reviewers: it is queued."""
    job = app.world.store.get("jobs", params["job_id"])
    if job is None:
        raise ApiError(404, f"no job {params['job_id']}")
    if job["status"] != "waiting":
        raise ApiError(409, f"job {job['id']} is {job['status']}, not waiting")
    _release_waiting(app.world, job)
    schedule(app.world)
    return job

