"""GitHub Actions workflows, workflow runs and ``workflow_dispatch``.

Workflows are not stored: they are the ``.github/workflows/*.yml|*.yaml`` files on the default
branch, read with :mod:`gridctl.util.workflow` (the reader gridctl's dispatch templates use too).
What is stored per workflow path (``repo["workflows"]``, see LAYOUT.md) is what git cannot say:
a stable id, the enabled/disabled state and dates. A workflow whose file is deleted disappears
from the lists; its record stays, so a file that comes back at the same path gets the same id,
as on github.com.

Runs are records in the ``runs`` table. A dispatch creates a ``queued`` run with the jobs of
the workflow file at the dispatched ref (:mod:`.jobs`), which self-hosted runners listening
through the sandbox broker take and complete; the run's status follows its jobs. The control
route ``POST /_sandbox/runs/{run_id}`` still moves a run by hand (a run completed that way ends
its unfinished jobs with it).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from ...util.workflow import WorkflowError, dispatch_inputs, parse_workflow
from ..errors import ApiError, not_found
from ..gitobjects import Git
from ..http import Ctx, Reply, empty, json_reply
from ..inputs import str_field
from ..routing import control, route
from ..world import node_id
from .contents import WORKFLOW_DIR, api_root, html_root
from .jobs import cancel_jobs, create_jobs, find_run, run_changed, run_shape, settle_jobs

RUN_STATUSES = ("queued", "in_progress", "completed", "requested", "waiting", "pending")
CONCLUSIONS = ("success", "failure", "cancelled", "skipped", "neutral", "timed_out", "action_required", "stale")


# -- reading workflow files ----------------------------------------------------------------------------------
def parse_yaml(data: bytes) -> Any:
    """The workflow document, or None when it is not one (a workflow that does not parse
    cannot be dispatched, and lists under its path). Bytes that are not UTF-8 are read with
    replacement characters rather than refused."""
    try:
        return parse_workflow(data.decode("utf-8", errors="replace"))
    except WorkflowError:
        return None


def is_workflow_path(path: str) -> bool:
    if not path.startswith(WORKFLOW_DIR):
        return False
    rest = path[len(WORKFLOW_DIR) :]
    return "/" not in rest and rest.endswith((".yml", ".yaml")) and rest not in (".yml", ".yaml")


def _read(git: Git, commit: str, path: str) -> Any:
    entry = git.lookup(commit, path)
    if entry is None or entry["type"] != "blob":
        return None
    return parse_yaml(git.blob_data(entry["sha"]))


def _name(doc: Any, path: str) -> str:
    name = doc.get("name") if isinstance(doc, dict) else None
    return name if isinstance(name, str) and name.strip() else path


def sync_workflows(ctx: Ctx, repo: dict) -> list[tuple[str, dict, str]]:
    """The workflows on the default branch as ``[(path, record, name)]``, by id.

    New files get a record (and an id) the first time they are seen.
    """
    git = Git(ctx.world, repo)
    head = git.resolve(repo["default_branch"]) if not git.is_empty() else None
    if head is None:
        return []
    files = git.flatten(git.commit_tree(head))
    records = repo.setdefault("workflows", {})
    changed = False
    out = []
    for path in sorted(p for p in files if is_workflow_path(p)):
        rec = records.get(path)
        if rec is None:
            now = ctx.world.now_iso()
            rec = {
                "id": ctx.world.next_id("workflows", 10_000_000),
                "state": "active",
                "created_at": now,
                "updated_at": now,
            }
            records[path] = rec
            changed = True
        out.append((path, rec, _name(_read(git, head, path), path)))
    if changed:
        ctx.world.save("repos", repo["id"], repo)
    out.sort(key=lambda t: t[1]["id"])
    return out


def find_workflow(ctx: Ctx, repo: dict) -> tuple[str, dict, str]:
    """The workflow named by ``{workflow_id}``: its numeric id or its file name."""
    wanted = str(ctx.params["workflow_id"])
    for path, rec, name in sync_workflows(ctx, repo):
        if wanted.isdigit() and int(wanted) == rec["id"]:
            return path, rec, name
        if path.rsplit("/", 1)[-1] == wanted:
            return path, rec, name
    raise not_found()


def workflow_shape(ctx: Ctx, repo: dict, path: str, rec: dict, name: str) -> dict:
    html = html_root(ctx, repo)
    return {
        "id": rec["id"],
        "node_id": node_id("Workflow", rec["id"]),
        "name": name,
        "path": path,
        "state": rec["state"],
        "created_at": rec["created_at"],
        "updated_at": rec["updated_at"],
        "url": f"{api_root(ctx, repo)}/actions/workflows/{rec['id']}",
        "html_url": f"{html}/blob/{quote(repo['default_branch'])}/{quote(path)}",
        "badge_url": f"{html}/workflows/{quote(name, safe='')}/badge.svg",
    }


# -- workflows -------------------------------------------------------------------------------------------------
@route("GET", "/repos/{owner}/{repo}/actions/workflows", "actions/list-repo-workflows")
def list_workflows(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    items = [workflow_shape(ctx, repo, p, r, n) for p, r, n in sync_workflows(ctx, repo)]
    return ctx.paginate(items, key="workflows")


@route("GET", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}", "actions/get-workflow")
def get_workflow(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    return json_reply(workflow_shape(ctx, repo, *find_workflow(ctx, repo)))


@route("PUT", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/enable", "actions/enable-workflow")
def enable_workflow(ctx: Ctx) -> Reply:
    repo = ctx.repo("write")
    _, rec, _ = find_workflow(ctx, repo)
    if rec["state"] != "active":
        rec["state"] = "active"
        rec["updated_at"] = ctx.world.now_iso()
        ctx.world.save("repos", repo["id"], repo)
    return empty()


@route("PUT", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/disable", "actions/disable-workflow")
def disable_workflow(ctx: Ctx) -> Reply:
    repo = ctx.repo("write")
    _, rec, _ = find_workflow(ctx, repo)
    if rec["state"] != "active":
        # github.com refuses to disable what is not active (already disabled included)
        raise ApiError(403, "Unable to disable a workflow that is not active.")
    rec["state"] = "disabled_manually"
    rec["updated_at"] = ctx.world.now_iso()
    ctx.world.save("repos", repo["id"], repo)
    return empty()


# -- dispatch -------------------------------------------------------------------------------------------------
def _dispatch_ref(git: Git, ref: str) -> tuple[str, str] | None:
    """A branch or tag (short or full name) -> (head_branch, commit); a bare SHA is no ref."""
    for full in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
        if full.startswith("refs/") and full in git.refs:
            short = full.split("/", 2)[2]
            return short, git.refs[full]
    return None


def _input_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def check_inputs(defined: dict[str, dict], provided: dict[str, Any]) -> dict[str, Any]:
    """The run's inputs from what the client sent, checked the way GitHub checks them."""
    unexpected = [k for k in provided if k not in defined]
    if unexpected:
        raise ApiError(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
    out: dict[str, Any] = {}
    for name, spec in defined.items():
        kind = str(spec.get("type") or "string")
        if name in provided and provided[name] is not None:
            value = provided[name]
        elif "default" in spec and spec["default"] is not None:
            value = spec["default"]
        elif _truthy(spec.get("required", False)):
            raise ApiError(422, f"Required input '{name}' not provided")
        else:
            continue
        if isinstance(value, (dict, list)):
            raise ApiError(422, f"Provided value for input '{name}' must be a string, number or boolean")
        if kind == "boolean":
            text = _input_text(value).strip().lower()
            if text not in ("true", "false"):
                raise ApiError(422, f"Provided value '{_input_text(value)}' for input '{name}' is not a valid boolean")
            out[name] = text == "true"
        elif kind == "number":
            if isinstance(value, bool):
                raise ApiError(422, f"Provided value '{_input_text(value)}' for input '{name}' is not a valid number")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ApiError(
                    422, f"Provided value '{_input_text(value)}' for input '{name}' is not a valid number"
                ) from None
            out[name] = int(number) if number.is_integer() and "." not in str(value) else number
        elif kind == "choice":
            options = [_input_text(o) for o in (spec.get("options") or [])]
            text = _input_text(value)
            if text not in options:
                raise ApiError(422, f"Provided value '{text}' for input '{name}' not in the list of allowed values")
            out[name] = text
        else:
            out[name] = _input_text(value)
    return out


@route("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", "actions/create-workflow-dispatch")
def create_dispatch(ctx: Ctx) -> Reply:
    repo = ctx.repo("write")
    path, rec, name = find_workflow(ctx, repo)
    if rec["state"] != "active":
        raise ApiError(422, "Cannot trigger a 'workflow_dispatch' on a disabled workflow")
    body = ctx.body
    git = Git(ctx.world, repo)
    found = _dispatch_ref(git, body["ref"])
    if found is None:
        raise ApiError(422, f"No ref found for: {body['ref']}")
    head_branch, head_sha = found
    doc = _read(git, head_sha, path)  # the workflow as it is AT the ref, not on the default branch
    defined = dispatch_inputs(doc)
    if defined is None:
        raise ApiError(422, "Workflow does not have 'workflow_dispatch' trigger")
    provided = body.get("inputs") or {}
    inputs = check_inputs(defined, provided)
    world = ctx.world
    now = world.now_iso()
    run_number = 1 + sum(
        1 for r in world.store.values("runs") if r["repo_id"] == repo["id"] and r["workflow_id"] == rec["id"]
    )
    run_name = doc.get("run-name") if isinstance(doc, dict) else None
    run = {
        "id": world.next_id("runs", 5_000_000_000),
        "repo_id": repo["id"],
        "workflow_id": rec["id"],
        "path": path,
        "name": _name(doc, path),
        "display_title": run_name if isinstance(run_name, str) and run_name.strip() else _name(doc, path),
        "status": "queued",
        "conclusion": None,
        "event": "workflow_dispatch",
        "head_branch": head_branch,
        "head_sha": head_sha,
        "inputs": inputs,
        "actor": ctx.login,
        "run_number": run_number,
        "created_at": now,
        "updated_at": now,
        "run_started_at": now,
    }
    world.save("runs", run["id"], run)
    create_jobs(world, repo, run, doc)
    if body.get("return_run_details"):
        return json_reply(
            {
                "workflow_run_id": run["id"],
                "run_url": f"{api_root(ctx, repo)}/actions/runs/{run['id']}",
                "html_url": f"{html_root(ctx, repo)}/actions/runs/{run['id']}",
            }
        )
    return empty()


# -- runs ---------------------------------------------------------------------------------------------------------
def _repo_runs(ctx: Ctx, repo: dict, workflow_id: int | None = None) -> list[dict]:
    runs = [r for r in ctx.world.store.values("runs") if r["repo_id"] == repo["id"]]
    if workflow_id is not None:
        runs = [r for r in runs if r["workflow_id"] == workflow_id]
    q = ctx.query
    if q.get("actor"):
        runs = [r for r in runs if (r.get("actor") or "").lower() == q["actor"].lower()]
    if q.get("branch"):
        runs = [r for r in runs if r["head_branch"] == q["branch"]]
    if q.get("event"):
        runs = [r for r in runs if r["event"] == q["event"]]
    if q.get("status"):
        # "Returns workflow runs with the check run status or conclusion that you specify"
        runs = [r for r in runs if q["status"] in (r["status"], r["conclusion"])]
    if q.get("head_sha"):
        runs = [r for r in runs if r["head_sha"] == q["head_sha"].lower()]
    if q.get("check_suite_id"):
        runs = [r for r in runs if str(r["id"] + 7_000_000_000) == q["check_suite_id"]]
    runs.sort(key=lambda r: r["id"], reverse=True)
    return runs


@route("GET", "/repos/{owner}/{repo}/actions/runs", "actions/list-workflow-runs-for-repo")
def list_repo_runs(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    return ctx.paginate([run_shape(ctx, repo, r) for r in _repo_runs(ctx, repo)], key="workflow_runs")


@route("GET", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs", "actions/list-workflow-runs")
def list_workflow_runs(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    _, rec, _ = find_workflow(ctx, repo)
    return ctx.paginate([run_shape(ctx, repo, r) for r in _repo_runs(ctx, repo, rec["id"])], key="workflow_runs")


@route("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}", "actions/get-workflow-run")
def get_run(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    return json_reply(run_shape(ctx, repo, find_run(ctx, repo)))


@route("POST", "/repos/{owner}/{repo}/actions/runs/{run_id}/cancel", "actions/cancel-workflow-run")
def cancel_run(ctx: Ctx) -> Reply:
    repo = ctx.repo("write")
    run = find_run(ctx, repo)
    if run["status"] == "completed":
        raise ApiError(409, "Cannot cancel a workflow run that is completed.")
    cancel_jobs(ctx.world, run)
    if run["status"] != "completed" or run["conclusion"] != "cancelled":  # a run without jobs
        run["status"] = "completed"
        run["conclusion"] = "cancelled"
        run["updated_at"] = ctx.world.now_iso()
        ctx.world.save("runs", run["id"], run)
        run_changed(ctx.world, run, "completed")
    return json_reply({}, status=202)


# -- sandbox control routes ------------------------------------------------------------------------------------------
@control("POST", "/runs/{run_id}")
def move_run(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Move a run along: ``{"status": "in_progress"}``, ``{"status": "completed", "conclusion":
    "failure"}`` (a completed run without a conclusion succeeded)."""
    run = app.store.get("runs", params["run_id"])
    if run is None:
        raise ApiError(404, f"no run {params['run_id']}")
    status = str_field(body, "status", run["status"], max_length=100)
    if status not in RUN_STATUSES:
        raise ApiError(422, f"status must be one of {', '.join(RUN_STATUSES)}")
    conclusion = str_field(body, "conclusion", None, max_length=100)
    if status == "completed":
        conclusion = conclusion or "success"
        if conclusion not in CONCLUSIONS:
            raise ApiError(422, f"conclusion must be one of {', '.join(CONCLUSIONS)}")
    elif conclusion is not None:
        raise ApiError(422, "only a completed run has a conclusion")
    if status == "completed":
        settle_jobs(app.world, run, str(conclusion))
    before = run["status"]
    run["status"] = status
    run["conclusion"] = conclusion
    run["updated_at"] = app.world.now_iso()
    app.world.save("runs", run["id"], run)
    if status != before and status in ("in_progress", "completed"):
        run_changed(app.world, run, status)  # workflow_run webhooks, as for a run its jobs move
    return run


@control("GET", "/runs")
def list_runs(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Runs (newest first) with their inputs; ``?repo=owner/name`` keeps one repository's."""
    runs = list(app.store.values("runs"))
    if query.get("repo"):
        owner, _, name = query["repo"].partition("/")
        repo = app.world.find_repo(owner, name)
        if repo is None:
            raise ApiError(404, f"no repository {query['repo']}")
        runs = [r for r in runs if r["repo_id"] == repo["id"]]
    runs.sort(key=lambda r: r["id"], reverse=True)
    return {"total_count": len(runs), "runs": runs}
