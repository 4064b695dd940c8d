"""Kind ``queue``: a git-backed task queue's layout, and the workflow that validates tasks
submitted by pull request (``queues.<name>``; the queue itself is :mod:`gridctl.fleet.taskqueue`).

Per declared queue, scope ``<repo> queue <name>``:

* ``layout`` — the four state folders under the queue's path, each created with a ``.gitkeep``,
  all in ONE commit through the Git Data API (compare-and-swap on the branch, never a force
  push). A missing branch is created from the default branch's head; an empty repository gets
  its first file through the contents API (GitHub's Git Data API refuses empty repositories).
* ``workflow`` (``validate_pull_requests: true``) — ``.github/workflows/gridctl-queue-<name>.yml``:
  on a pull request touching the queue, it checks every task file added to ``queue/`` against
  ``schemas/task.schema.json`` (embedded in the workflow), the file name, read-only fields and
  task id uniqueness, and refuses changes to the other state folders. Compared by blob SHA, so
  the content is never downloaded to plan.

* ``publish`` (``publish: {schedule, to, folder, results}``) —
  ``.github/workflows/gridctl-queue-publish-<name>.yml`` on the repository's default branch
  (GitHub runs scheduled workflows only from the latest commit of the default branch: "Events
  that trigger workflows", schedule,
  https://docs.github.com/en/actions/writing-workflows/choosing-when-your-workflow-runs/events-that-trigger-workflows#schedule).
  On the cron schedule and on ``workflow_dispatch`` it installs this version of gridctl, writes a
  manifest of the queue alone and runs ``gridctl queue publish`` (:mod:`gridctl.fleet.publish`)
  with the workflow's ``GITHUB_TOKEN`` (``permissions: contents: write``). Every value written
  into it is checked to be a plain name first (a value cannot add YAML, shell or a ``${{ }}``
  expression to the workflow).

Reading costs one directory listing of the queue path and, when a workflow is declared or
managed, one of ``.github/workflows`` (the same memoized call the ``file`` kind makes for that
folder), both ETag-cached: a no-change plan spends no rate limit.

Destroying (or removing the queue from the manifest) deletes the workflows only: the layout and
every task stay in the repository, and state simply forgets the layout. A deleted workflow's
plan entry says so. Writes re-read and retry when a worker moved the branch in between
(the branch ref is the queue's only lock); they never sleep.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import __version__
from ..errors import GridctlError
from ..fleet.publish import DEFAULT_RESULTS, MAX_RESULTS, PublishError, target
from ..fleet.taskqueue import KEEP, STATES, TaskQueue, blob_sha
from ..manifest.model import Manifest, QueueSpec
from ..manifest.sections import Section, SectionContext
from ..manifest.yamlpos import PathT
from ..plan import Action, Change
from ..util.durations import seconds
from .base import ApplyResult, Item, Kind, Scope

if TYPE_CHECKING:
    from .base import ApplyContext, PlanEnv, Reader

WORKFLOWS = ".github/workflows"


def workflow_path(name: str) -> str:
    return f"{WORKFLOWS}/gridctl-queue-{name}.yml"


def publish_path(name: str) -> str:
    return f"{WORKFLOWS}/gridctl-queue-publish-{name}.yml"


def _listing_url(repo: str, path: str) -> str:
    return f"/repos/{repo}/contents/{quote(path)}" if path else f"/repos/{repo}/contents"


#: five cron fields (GitHub's schedule syntax: POSIX cron, in UTC)
CRON = r"^[0-9A-Za-z*/,-]+( [0-9A-Za-z*/,-]+){4}$"
#: what the publish workflow may hold: names without quotes, spaces, '$' or line breaks
_PLAIN = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Git-backed task queues.",
    "propertyNames": {"$ref": "#/$defs/localId"},
    "additionalProperties": {"$ref": "#/$defs/queue"},
}
QUEUE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["repo"],
    "properties": {
        "repo": {"type": "string"},
        "account": {"$ref": "#/$defs/localId"},
        "path": {"type": "string", "minLength": 1},
        "branch": {"type": "string", "minLength": 1},
        "validate_pull_requests": {"type": "boolean"},
        "orphan_after": {"type": "string", "pattern": "^[0-9]+(s|m|h|d)$"},
        "publish": {
            "type": "object",
            "description": "Deploy a workflow that publishes the queue's status page (gridctl queue publish) on a schedule.",
            "additionalProperties": False,
            "required": ["schedule"],
            "properties": {
                "schedule": {"type": "string", "pattern": CRON, "description": "When, as a POSIX cron expression in UTC (five fields), e.g. '*/10 * * * *'."},
                "to": {"type": "string", "minLength": 1, "description": "The branch of the page (default gh-pages; with folder alone, the queue's branch)."},
                "folder": {"type": "string", "minLength": 1, "description": "The folder of the page on that branch, e.g. docs."},
                "results": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "description": f"How many of the latest results the page lists (default {DEFAULT_RESULTS})."},
            },
        },
    },
}


@dataclass(frozen=True)
class Publish:
    """``queues.<name>.publish``: the scheduled workflow that runs ``gridctl queue publish``."""

    schedule: str
    to: str | None
    folder: str | None
    results: int


@dataclass
class DeclaredQueue(QueueSpec):
    """A declared queue and, when it has one, its ``publish:`` workflow."""

    publish: Publish | None = None


def parse(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> dict[str, QueueSpec]:
    """``queues.<name>``: each queue with the account that manages its repository (``account:``,
    else the repository's, else its owner's)."""
    m = ctx.manifest
    out: dict[str, QueueSpec] = {}
    for qname, q in raw.items():
        qp = path + (qname,)
        repo = m.repo(q["repo"])
        acc_id = q.get("account") or (repo.account if repo else None)
        if acc_id is None and q["repo"].count("/") == 1:
            acc = m.account_for_owner(q["repo"].split("/")[0])
            acc_id = acc.id if acc else None
        if acc_id is None or acc_id not in m.accounts:
            ctx.error(qp + ("repo",), f"queue {qname}: no account manages {q['repo']}")
            continue
        parsed = seconds(q.get("orphan_after", "1h"))  # the schema admits only <int><s|m|h|d>
        orphan_after = 3600.0 if parsed is None else parsed
        qpath = q.get("path", "tasks").strip("/")
        if ".." in qpath.split("/"):
            ctx.error(qp + ("path",), f"queue path {qpath!r} must stay inside the repository")
        publish = _parse_publish(ctx, m, qp, q, acc_id, qpath)
        out[qname] = DeclaredQueue(qname, q["repo"], acc_id, qpath, q.get("branch"), bool(q.get("validate_pull_requests", False)),
                                   orphan_after, qp, publish)
    return out


def _parse_publish(ctx: SectionContext, m: Manifest, qp: PathT, q: dict[str, Any], acc_id: str, qpath: str) -> Publish | None:
    """``publish:``, with every value the workflow will hold checked to be a plain name."""
    raw = q.get("publish")
    if raw is None:
        return None
    ok = True
    try:
        target(raw.get("to"), raw.get("folder"))
    except PublishError as exc:  # "--folder '..' is not..." said of the manifest's key
        key = "folder" if str(exc).startswith("--folder") else "to"
        ctx.error(qp + ("publish", key), str(exc).replace(f"--{key}", key, 1))
        ok = False
    for key, value in (("repo", q["repo"]), ("path", qpath), ("branch", q.get("branch")), ("account", m.accounts[acc_id].login)):
        if value and not _PLAIN.match(value):
            where = qp + (key,) if key in q else qp + ("publish",)
            ctx.error(where, f"the {key} {value!r} cannot be written into the publish workflow: letters, digits, '.', '_', '-' and '/' only")
            ok = False
    if not ok:
        return None
    return Publish(raw["schedule"], raw.get("to"), raw.get("folder"), int(raw.get("results", DEFAULT_RESULTS)))


class Queue(Kind):
    name = "queue"
    order = 85
    sections = (Section("queues", "top", SCHEMA, parse, defs={"queue": QUEUE_SCHEMA}),)

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        # the pull-request validation workflow is a file under .github/workflows/
        out = [(q.account, "workflow", f"queues.{q.name}.validate_pull_requests") for q in m.queues.values() if q.validate_pull_requests]
        return out + [(q.account, "workflow", f"queues.{q.name}.publish") for q in m.queues.values() if _publish_of(q)]

    def _scope(self, account: str, repo: str, queue: str, path: str, branch: str | None, workflow: bool, declared: bool,
               publish: bool = False) -> Scope:
        extra: tuple[tuple[str, Any], ...] = (("queue", queue), ("path", path), ("branch", branch or ""), ("workflow", workflow),
                                              ("declared", declared))
        if publish:  # only then: the scopes of queues without one stay as they were
            extra += (("publish", True),)
        return Scope(self.name, account, f"{repo} queue {queue}", repo, extra)

    def scopes(self, env: PlanEnv) -> list[Scope]:
        managed: dict[str, dict[str, Any]] = {}
        for address, e in env.state.resources.items():
            if e.get("kind") == self.name:
                m = managed.setdefault(str(e["scope"]), {**e, "workflow": False, "publish": False})
                m["workflow"] = m["workflow"] or address.endswith(":workflow")
                m["publish"] = m["publish"] or address.endswith(":publish")
        out = []
        for q in env.manifest.queues.values():
            was = managed.pop(f"{q.repo} queue {q.name}", {})
            wf = q.validate_pull_requests or bool(was.get("workflow"))
            pub = _publish_of(q) is not None or bool(was.get("publish"))
            out.append(self._scope(q.account, q.repo, q.name, q.path_in_repo, q.branch, wf, not env.destroy, pub))
        for _, e in sorted(managed.items()):  # gone from the manifest: its workflows go, its tasks stay
            if e.get("account") in env.clients and e.get("repo") and e.get("queue"):
                out.append(self._scope(e["account"], e["repo"], e["queue"], e.get("path", ""), e.get("branch"), bool(e["workflow"]), False,
                                       bool(e["publish"])))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.queues.get(scope.get("queue"))
        if spec is None or not scope.get("declared"):
            return {}
        source = env.manifest.positions.source(spec.path)
        out = {"layout": Item("layout", attrs={"path": spec.path_in_repo, "folders": sorted(STATES)}, source=source)}
        if spec.validate_pull_requests:
            text = workflow_text(spec)
            out["workflow"] = Item(
                "workflow", attrs={"file": workflow_path(spec.name), "sha": blob_sha(text.encode())}, meta={"content": text}, source=source
            )
        publish = _publish_of(spec)
        if publish is not None:
            text = publish_workflow_text(spec, publish, env.manifest.accounts[spec.account].login)
            out["publish"] = Item(
                "publish", attrs={"file": publish_path(spec.name), "sha": blob_sha(text.encode())}, meta={"content": text}, source=source
            )
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        assert scope.repo is not None
        data = reader.repo(scope.repo)
        if data is None:
            return {}
        branch = scope.get("branch") or data.get("default_branch") or "main"
        path = scope.get("path")
        out: dict[str, Item] = {}
        if scope.get("declared"):
            listing = reader.get(_listing_url(scope.repo, path), {"ref": branch})
            entries = listing if isinstance(listing, list) else []  # no folder, branch or commit yet
            folders = sorted(e["name"] for e in entries if e.get("type") == "dir" and e.get("name") in STATES)
            if folders:
                out["layout"] = Item("layout", attrs={"path": path, "folders": folders}, meta={"branch": branch})
        where = f"{path}/" if path else "the repository root"
        for key, file, on in (("workflow", workflow_path(scope.get("queue")), branch),
                              ("publish", publish_path(scope.get("queue")), data.get("default_branch") or "main")):
            if not scope.get(key):
                continue
            listing = reader.get(_listing_url(scope.repo, WORKFLOWS), {"ref": on})
            for e in listing if isinstance(listing, list) else []:
                if e.get("path") == file and e.get("type") == "file":
                    attrs = {"file": file, "sha": e["sha"], "tasks": f"left alone: {where} keeps every task"}
                    out[key] = Item(key, attrs=attrs, meta={"branch": on})
        return out

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        return {
            **super().state_entry(scope, live),
            "repo": scope.repo,
            "queue": scope.get("queue"),
            "path": scope.get("path"),
            "branch": scope.get("branch") or None,
        }

    # -- apply ------------------------------------------------------------------------------------
    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        scope = self.scope_for_change(change)
        assert scope.repo is not None
        path = scope.get("path")
        spec = QueueSpec(scope.get("queue"), scope.repo, change.account, path, scope.get("branch") or None, False, 0.0, ())
        q = TaskQueue(ctx.client(change.account), spec, backoff=False, max_races=10)
        key = change.meta["key"]
        entry = self.state_entry(scope, Item(key))
        prefix = f"{path}/" if path else ""
        if key == "layout":
            keeps = [f"{prefix}{s}/{KEEP}" for s in STATES]
            if change.action == Action.DELETE:  # only a rollback gets here: placeholders go, tasks never
                q.edit("remove the queue's placeholders", lambda snap: {k: None for k in keeps if k in snap.files})
                return ApplyResult(None)

            def layout(snap: Any) -> dict[str, str | None]:
                if path in snap.files:  # a file where the queue's folder belongs: never replace it
                    raise GridctlError(f"{scope.repo}: {path} is a file; the queue {scope.get('queue')} needs a folder there")
                return {
                    f"{prefix}{s}/{KEEP}": ""
                    for s in STATES
                    if not any(p.startswith(f"{prefix}{s}/") for p in snap.files)
                }

            q.edit("create the queue layout", layout, bootstrap=True)
            return ApplyResult(entry)
        if key == "publish":  # scheduled workflows run from the default branch
            q = TaskQueue(q.client, replace(spec, branch=None), backoff=False, max_races=10)
        file = workflow_path(scope.get("queue")) if key == "workflow" else publish_path(scope.get("queue"))
        if change.action == Action.DELETE:
            q.edit(f"remove {file}", lambda snap: {file: None} if file in snap.files else {})
            return ApplyResult(None, result={"deleted": (change.before or {}).get("sha")})
        want = (change.after or {})["sha"]
        text = self._content(q, change, want)
        q.edit(f"deploy {file}", lambda snap: {} if snap.files.get(file) == want else {file: text}, bootstrap=True)
        return ApplyResult(entry, result={"sha": want})

    def _content(self, q: TaskQueue, change: Change, want: str) -> str:
        """The workflow text with the planned blob SHA: from the plan, else (a rollback
        restoring an earlier version) the blob from GitHub."""
        text = change.meta.get("content")
        if isinstance(text, str) and blob_sha(text.encode()) == want:
            return text
        raw = q.blob(want)
        if blob_sha(raw) != want:
            raise GridctlError(f"{change.address}: blob {want[:12]} from GitHub does not have the expected content")
        return raw.decode("utf-8")


KINDS = [Queue()]


def _publish_of(q: QueueSpec) -> Publish | None:
    return q.publish if isinstance(q, DeclaredQueue) else None


# -- the validation workflow ------------------------------------------------------------------------

_WORKFLOW = """\
# Generated by gridctl for the task queue "@NAME@" (gridctl apply rewrites it; do not edit).
# A pull request may add task files to @QUEUE@queue/ as <task_id>.json, .yaml or .yml (or withdraw
# queued ones); this checks each against the task schema. Only gridctl moves tasks between states.
name: "gridctl queue @NAME@: validate tasks"
on:
  pull_request:
    paths:
      - "@QUEUE@**"
permissions:
  contents: read
concurrency:
  group: gridctl-queue-@NAME@-${{ github.event.pull_request.number }}
  cancel-in-progress: true
jobs:
  validate:
    name: validate task files
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install the checker's dependencies
        run: python -m pip install --disable-pip-version-check --quiet "jsonschema>=4.20,<5" "ruamel.yaml>=0.18,<0.19"
      - name: Validate task files
        env:
          QUEUE_PATH: "@PATH@"
          BASE_SHA: ${{ github.event.pull_request.base.sha }}
          TASK_SCHEMA: '@SCHEMA@'
        run: |
          cat > "$RUNNER_TEMP/check_tasks.py" <<'GRIDCTL_EOF'
@SCRIPT@
          GRIDCTL_EOF
          python "$RUNNER_TEMP/check_tasks.py"
"""

#: the checker the workflow runs (also run by the tests, on a local git repository)
_CHECKER = r'''"""Check the task files a pull request changes in a gridctl queue (generated by gridctl)."""
import json
import os
import re
import subprocess
import sys

from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

QUEUE = os.environ["QUEUE_PATH"].strip("/")
PREFIX = QUEUE + "/" if QUEUE else ""
SCHEMA = json.loads(os.environ["TASK_SCHEMA"])
VALIDATOR = Draft202012Validator(SCHEMA)
READ_ONLY = sorted(k for k, v in SCHEMA["properties"].items() if v.get("readOnly"))
STATES = ("queue", "in_progress", "completed", "failed")
BARE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,99})\.(json|yaml|yml)$")
TASK = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,99})(@[0-9]{8}T[0-9]{6}Z@p-?[0-9]{1,4}\.json|\.json|\.yaml|\.yml)$")
problems = []


def report(path, msg, line=None, col=None):
    problems.append(path)
    where = "file=" + path + ("" if line is None else ",line=%d,col=%d" % (line, col or 1))
    print("::error %s::%s" % (where, msg))
    print("%s:%s:%s: error: %s" % (path, line or 1, col or 1, msg), file=sys.stderr)


def position(node, path, key_only=False):
    """1-based (line, col) of ``path`` (of its key, with ``key_only``) in a round-trip node."""
    line, col = 1, 1
    for i, key in enumerate(path):
        try:
            if isinstance(node, dict):
                at_key = node[key] is None or (key_only and i == len(path) - 1)
                line, col = node.lc.key(key) if at_key else node.lc.value(key)
                line, col = line + 1, col + 1
            elif isinstance(node, list):
                l0, c0 = node.lc.item(key)
                line, col = l0 + 1, c0 + 1
            node = node[key]
        except Exception:
            break
    return line, col


def ids_in_tree():
    found = {}
    for state in STATES:
        folder = PREFIX + state
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            m = TASK.match(name)
            if m:
                found.setdefault(m.group(1), []).append(folder + "/" + name)
    return found


def check(path, known):
    name = path.rsplit("/", 1)[-1]
    m = BARE.match(name)
    if not m:
        report(path, "name a task file %squeue/<task_id>.json, .yaml or .yml (task ids: letters, digits, '_', '.', '-')" % PREFIX)
        return
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        plain = json.loads(text) if m.group(2) == "json" else None
    except ValueError as exc:  # not UTF-8, or not JSON
        report(path, "not valid JSON: %s" % getattr(exc, "msg", exc.__class__.__name__), getattr(exc, "lineno", None), getattr(exc, "colno", None))
        return
    try:
        data = YAML(typ="rt").load(text)  # for line numbers (JSON is YAML)
    except Exception as exc:
        if plain is None:
            mark = getattr(exc, "problem_mark", None)
            report(path, "not valid YAML: %s" % (getattr(exc, "problem", None) or exc.__class__.__name__),
                   mark.line + 1 if mark else None, mark.column + 1 if mark else None)
            return
        data = plain
    if not isinstance(data, dict):
        report(path, "a task file must hold a mapping: task_id, script or command, timeout...")
        return
    if plain is None:
        plain = json.loads(json.dumps(data, default=str))
    for err in sorted(VALIDATOR.iter_errors(plain), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(map(str, err.absolute_path)) or "the task"
        line, col = position(data, list(err.absolute_path))
        report(path, "%s: %s" % (where, err.message), line, col)
    for key in READ_ONLY:
        if key in data:
            line, col = position(data, [key], key_only=True)
            report(path, "'%s' is set by gridctl as the task moves; a submitted task must not have it" % key, line, col)
    if isinstance(data.get("task_id"), str) and data["task_id"] != m.group(1):
        line, col = position(data, ["task_id"])
        report(path, "task_id %r does not match the file name %s" % (data["task_id"], name), line, col)
    others = [p for p in known.get(m.group(1), []) if p != path]
    if others:
        report(path, "task %s already exists: %s (task ids are unique in a queue, in every state)" % (m.group(1), ", ".join(others)))


def main():
    base = os.environ["BASE_SHA"]
    diff = subprocess.run(["git", "diff", "--name-status", "--no-renames", base, "HEAD", "--", QUEUE or "."],
                          check=True, capture_output=True, text=True).stdout
    known = ids_in_tree()
    checked = 0
    for line in diff.splitlines():
        status, path = line.split("\t", 1)
        if not path.startswith(PREFIX):
            continue
        parts = path[len(PREFIX):].split("/")
        if len(parts) != 2 or parts[0] != "queue":
            report(path, "only gridctl moves tasks: a pull request may add or withdraw files in %squeue/ only" % PREFIX)
        elif status.startswith("D") or parts[1] == ".gitkeep":
            continue
        else:
            checked += 1
            check(path, known)
    print("checked %d task file(s): %d problem(s)" % (checked, len(problems)))
    return 1 if problems else 0


sys.exit(main())
'''


def workflow_text(spec: QueueSpec) -> str:
    """The validation workflow for ``spec`` (deterministic: its blob SHA is what plans compare)."""
    from ..manifest.schema import load_schema

    prefix = f"{spec.path_in_repo}/" if spec.path_in_repo else ""
    schema = json.dumps(load_schema("task.schema.json"), sort_keys=True, separators=(",", ":")).replace("'", "''")
    script = "\n".join(("          " + line) if line else "" for line in _CHECKER.splitlines())
    return (
        _WORKFLOW.replace("@NAME@", spec.name)
        .replace("@QUEUE@", prefix)
        .replace("@PATH@", spec.path_in_repo)
        .replace("@SCHEMA@", schema)
        .replace("@SCRIPT@", script)
    )


# -- the publish workflow ---------------------------------------------------------------------------

_PUBLISH_WORKFLOW = """\
# Generated by gridctl for the task queue "@NAME@" (gridctl apply rewrites it; do not edit).
# Publishes the queue's status page with `gridctl queue publish` on a schedule (and on demand):
# one commit when the queue changed, none otherwise.
name: "gridctl queue @NAME@: publish the status page"
on:
  schedule:
    - cron: "@CRON@"
  workflow_dispatch:
permissions:
  contents: write
concurrency:
  group: gridctl-queue-publish-@NAME@
  cancel-in-progress: false
jobs:
  publish:
    name: publish the status page
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install gridctl
        run: python -m pip install --disable-pip-version-check --quiet "gridctl-fleet==@VERSION@"
      - name: Publish the status page
        env:
          GRID_TOKEN_QUEUE: ${{ secrets.GITHUB_TOKEN }}
          GRIDCTL_API_URL: ${{ github.api_url }}
        run: |
          cat > "$RUNNER_TEMP/grid.yaml" <<'GRIDCTL_EOF'
          version: 1
          accounts:
            queue: {login: "@LOGIN@", token: {env: GRID_TOKEN_QUEUE}}
          queues:
            @NAME@: {@QUEUE@}
          GRIDCTL_EOF
          gridctl queue publish @NAME@ -f "$RUNNER_TEMP/grid.yaml"@ARGS@
"""


def publish_workflow_text(spec: QueueSpec, publish: Publish, login: str) -> str:
    """The publish workflow of ``spec`` (deterministic: its blob SHA is what plans compare).
    Every value in it was checked to be a plain name by :func:`parse`."""
    # quoted: a plain name such as 1.0 or true must stay a string
    queue = [f'repo: "{spec.repo}"', "account: queue", f'path: "{spec.path_in_repo or "/"}"', f"orphan_after: {int(spec.orphan_after)}s"]
    if spec.branch:
        queue.insert(3, f'branch: "{spec.branch}"')
    args = ""
    if publish.to:
        args += f" --to {publish.to}"
    if publish.folder:
        args += f" --folder {publish.folder}"
    if publish.results != DEFAULT_RESULTS:
        args += f" --results {publish.results}"
    return (
        _PUBLISH_WORKFLOW.replace("@NAME@", spec.name)
        .replace("@CRON@", publish.schedule)
        .replace("@VERSION@", __version__)
        .replace("@LOGIN@", login)
        .replace("@QUEUE@", ", ".join(queue))
        .replace("@ARGS@", args)
    )
