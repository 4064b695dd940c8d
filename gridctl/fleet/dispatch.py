"""Dispatch templates (``dispatch:`` in the manifest): check them against their workflow files,
decide whether their conditions hold, fire them and follow the run.

A template names a repository, a workflow (file name or numeric id), a ref, inputs, and two
optional conditions: ``when_idle`` (a self-hosted runner with all these labels is online and not
busy) and ``max_concurrent`` (fewer runs of that workflow are queued or in progress).

Used by the plan-time check (:mod:`gridctl.core.checks.dispatch`) and by ``gridctl dispatch``
(:mod:`gridctl.cli.dispatch`). Workflow files are read by :mod:`gridctl.util.workflow` (YAML
safe loader; ``on:`` a string, a list or a mapping, YAML 1.1's boolean ``true`` key accepted).

API calls (reads memoized per pass, so templates sharing a repository share them):

* validating a template: one contents GET per distinct (repository, workflow, ref); plus a
  workflow GET when the workflow is an id, or when an explicit ref must be checked against the
  default branch (GitHub only dispatches workflows whose file is on the default branch);
* firing: the repository GET (default branch, write permission), then for ``when_idle`` the
  repository's runners and, for an organization's repository, the runner groups visible to it
  and the organization's runners; for ``max_concurrent`` the workflow's runs with status
  ``in_progress`` and ``queued`` (``per_page=1``, the counts come from ``total_count``); then
  one POST (``Workflow.create_dispatch(..., throw=True, return_run_details=True)``).
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import Diagnostic, GitHubError, GridctlError
from ..manifest.model import DispatchTemplate, FileSpec, Manifest, RepoSpec
from ..util.files import private_dir

# the workflow reader is shared with the sandbox; its names stay importable from here
from ..util.workflow import WorkflowError as WorkflowError
from ..util.workflow import dispatch_inputs as dispatch_inputs
from ..util.workflow import parse_workflow as parse_workflow
from ..util.workflow import triggers as triggers

if TYPE_CHECKING:
    from ..github.client import AccountClient
    from ..github.reader import Reader

WORKFLOW_DIR = ".github/workflows/"
#: GitHub accepts at most this many inputs in one dispatch
MAX_INPUTS = 25
INPUT_TYPES = ("string", "boolean", "choice", "number", "environment")
#: run conclusions that count as a success for ``--wait``
OK_CONCLUSIONS = ("success", "neutral", "skipped")


class DispatchError(GridctlError):
    """A template cannot be fired (not found, not allowed, refused by GitHub)."""


# -- workflow files ------------------------------------------------------------------------------


def workflow_path(workflow: str | int) -> str | None:
    """``.github/workflows/<file>`` for a file name (or that path), None for a numeric id."""
    if isinstance(workflow, int) and not isinstance(workflow, bool):
        return None
    text = str(workflow).strip()
    if text.isdigit():
        return None
    rest = text[len(WORKFLOW_DIR) :] if text.startswith(WORKFLOW_DIR) else text
    if not rest or "/" in rest or not rest.endswith((".yml", ".yaml")) or rest in (".yml", ".yaml"):
        raise WorkflowError(
            f"workflow {text!r} must be a workflow file name (like build.yml, in {WORKFLOW_DIR}) or a numeric workflow id"
        )
    return WORKFLOW_DIR + rest


def workflow_key(workflow: str | int) -> str:
    """How the API names the workflow in a URL: its id or its file name (quoted)."""
    path = workflow_path(workflow)
    return quote(path.rsplit("/", 1)[-1] if path else str(workflow).strip(), safe="")


# -- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something wrong with a template, and which part of it to point at."""

    message: str
    #: the input concerned (pointed at when the template gives it)
    input: str | None = None
    #: otherwise the template field concerned: repo, workflow, ref, inputs
    field: str | None = None
    #: point at the key rather than the value
    key: bool = False
    severity: str = "error"
    detail: str = ""


def text_value(value: Any) -> str:
    """An input value as GitHub receives it (inputs are sent as strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def wire_inputs(given: dict[str, Any]) -> dict[str, str]:
    return {str(k): text_value(v) for k, v in given.items()}


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _has_default(spec: dict[str, Any]) -> bool:
    return "default" in spec and spec["default"] is not None


def check_inputs(defined: dict[str, dict[str, Any]], given: dict[str, Any], workflow: str) -> list[Problem]:
    """What GitHub would refuse about ``given`` for a workflow defining ``defined``: unknown
    names, missing required inputs, and values that do not fit a boolean, number or choice."""
    out: list[Problem] = []
    if len(given) > MAX_INPUTS:
        out.append(Problem(f"gives {len(given)} inputs; GitHub accepts at most {MAX_INPUTS}", field="inputs", key=True))
    names = sorted(defined)
    for name in given:
        if name in defined:
            continue
        near = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        known = f"its inputs are: {', '.join(names)}" if names else "it defines no inputs"
        out.append(Problem(f"input {name!r} is not defined by {workflow}{hint}; {known}", input=name, key=True))
    for name in names:
        spec = defined[name]
        kind = str(spec.get("type") or "string")
        if name not in given or given[name] is None:
            if _truthy(spec.get("required", False)) and not _has_default(spec):
                out.append(Problem(f"required input {name!r} of {workflow} is not given, and it has no default", field="inputs", key=True))
            continue
        value = given[name]
        shown = text_value(value)
        if isinstance(value, (dict, list)):
            out.append(Problem(f"input {name!r} must be a string, number or boolean", input=name))
        elif kind == "boolean":
            if shown.strip().lower() not in ("true", "false"):
                out.append(Problem(f"input {name!r} is a boolean: {shown!r} is not true or false", input=name))
        elif kind == "number":
            ok = not isinstance(value, bool)
            if ok:
                try:
                    float(value)
                except (TypeError, ValueError):
                    ok = False
            if not ok:
                out.append(Problem(f"input {name!r} is a number: {shown!r} is not a number", input=name))
        elif kind == "choice":
            options = [text_value(o) for o in (spec.get("options") or [])]
            if shown not in options:
                near = difflib.get_close_matches(shown, options, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                out.append(Problem(f"input {name!r}: {shown!r} is not one of its options{hint}: {', '.join(options) or '(none)'}", input=name))
        elif kind not in INPUT_TYPES:
            out.append(Problem(f"{workflow} declares input {name!r} with unknown type {kind!r}", input=name, severity="warning"))
    return out


def locate(m: Manifest, t: DispatchTemplate, p: Problem) -> Diagnostic:
    """The diagnostic for ``p``, pointing at the template's line that it is about."""
    raw = (m.data.get("dispatch") or {}).get(t.name)
    raw = raw if isinstance(raw, dict) else {}
    given = raw.get("inputs")
    given = given if isinstance(given, dict) else {}
    if p.input is not None and p.input in given:
        path, key = t.path + ("inputs", p.input), p.key
    elif p.field is not None and p.field in raw:
        path, key = t.path + (p.field,), p.key
    else:
        path, key = t.path, True
    return m.positions.diag(path, f"dispatch template {t.name}: {p.message}", p.detail, key=key, severity=p.severity)


# -- reading workflows from GitHub ---------------------------------------------------------------


def short_ref(ref: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def contents(reader: Reader, repo: str, path: str, ref: str | None) -> bytes | None:
    """A file's bytes at ``ref`` (default branch when None), or None when absent."""
    data = reader.get(f"/repos/{repo}/contents/{quote(path)}", {"ref": ref} if ref else None)
    if data is None:
        return None
    if not isinstance(data, dict) or data.get("type") != "file":
        raise WorkflowError("is not a file")
    if data.get("encoding") != "base64" or not isinstance(data.get("content"), str):
        raise WorkflowError("is too large to read through the contents API")
    return base64.b64decode(data["content"])


def why_missing(reader: Reader, t: DispatchTemplate, what: str, ref: str | None) -> Problem:
    """Explain a 404 reading ``what`` (a workflow file or id) at ``ref`` (extra reads, error path only)."""
    if reader.repo(t.repo) is None:
        return Problem(f"repository {t.repo} does not exist, or account {t.account} cannot see it", field="repo")
    if ref:
        name = quote(short_ref(ref), safe="")
        if reader.get(f"/repos/{t.repo}/branches/{name}") is None and reader.get(f"/repos/{t.repo}/git/ref/tags/{name}") is None:
            return Problem(f"ref {ref!r} is neither a branch nor a tag of {t.repo}", field="ref")
    where = f"ref {ref!r}" if ref else "the default branch"
    return Problem(f"{what} does not exist on {where} of {t.repo}", field="workflow")


@dataclass
class Resolved:
    """A template's workflow document and where it came from."""

    path: str
    doc: dict[str, Any] | None
    origin: str
    problems: list[Problem] = field(default_factory=list)


def resolve_from_github(reader: Reader, t: DispatchTemplate, *, default_branch_declared: bool = False) -> Resolved:
    """Read the template's workflow at its ref from GitHub; problems instead of exceptions."""
    try:
        path = workflow_path(t.workflow)
    except WorkflowError as exc:
        return Resolved("", None, "", [Problem(str(exc), field="workflow")])
    problems: list[Problem] = []
    wf: dict | None = None
    if path is None or (t.ref and not default_branch_declared):
        # by id: learn the path; with an explicit ref: the file must also be on the default branch
        wf = reader.get(f"/repos/{t.repo}/actions/workflows/{workflow_key(t.workflow)}")
        if wf is None:
            if path is None:
                missing = why_missing(reader, t, f"workflow id {t.workflow}", None)
                if missing.field == "workflow":
                    missing = Problem(f"{t.repo} has no workflow with id {t.workflow}", field="workflow")
                return Resolved("", None, "", [missing])
            missing = why_missing(reader, t, path, None)
            if missing.field == "workflow":
                missing = Problem(
                    f"{path} is not on the default branch of {t.repo}",
                    field="workflow",
                    detail="GitHub dispatches only workflows whose file is on the default branch (the run then uses the file at the ref)",
                )
            return Resolved(path or "", None, "", [missing])
        path = str(wf.get("path") or path)
        if wf.get("state") not in (None, "active"):
            problems.append(Problem(f"{path} is {wf['state']} on GitHub; GitHub refuses to dispatch it until it is enabled", field="workflow", severity="warning"))
    assert path is not None
    origin = f"{path}" + (f" at {t.ref}" if t.ref else "")
    try:
        data = contents(reader, t.repo, path, t.ref)
    except WorkflowError as exc:
        return Resolved(path, None, origin, [*problems, Problem(f"{path} {exc}", field="workflow")])
    if data is None:
        return Resolved(path, None, origin, [*problems, why_missing(reader, t, path, t.ref)])
    try:
        doc = parse_workflow(data)
    except WorkflowError as exc:
        return Resolved(path, None, origin, [*problems, Problem(f"{origin} {exc}", field="workflow")])
    return Resolved(path, doc, origin, problems)


def input_problems(res: Resolved, given: dict[str, Any]) -> list[Problem]:
    if res.doc is None:
        return list(res.problems)
    defined = dispatch_inputs(res.doc)
    if defined is None:
        return [*res.problems, Problem(f"{res.origin} has no workflow_dispatch trigger", field="workflow")]
    return [*res.problems, *check_inputs(defined, given, res.path)]


# -- the plan-time view: manifest content first --------------------------------------------------


def declared_file(m: Manifest, t: DispatchTemplate, path: str | None) -> tuple[RepoSpec | None, FileSpec | None]:
    spec = m.repo(t.repo)
    if spec is None or path is None:
        return spec, None
    return spec, spec.files.get(path)


def template_problems(m: Manifest, t: DispatchTemplate, reader: Reader, created: set[str]) -> list[Problem]:
    """Everything wrong with ``t`` as this plan would leave GitHub: a workflow file the manifest
    declares is checked from the manifest (the plan may create it); anything else from GitHub."""
    from ..errors import SourceError
    from ..manifest.load import file_content

    try:
        path = workflow_path(t.workflow)
    except WorkflowError as exc:
        return [Problem(str(exc), field="workflow")]
    spec, fspec = declared_file(m, t, path)
    being_created = t.repo.lower() in created
    if spec is not None and fspec is not None and path is not None:
        default = _default_branch(m, spec, reader, being_created) if (t.ref or fspec.branch) else None
        file_branch = fspec.branch or default
        wanted = short_ref(t.ref) if t.ref else default
        if wanted == file_branch:
            origin = f"{path} (as declared in repos.{spec.full_name}.files)"
            try:
                doc = parse_workflow(file_content(m, fspec))
            except (WorkflowError, SourceError, OSError) as exc:
                return [Problem(f"{origin} {exc}", field="workflow")]
            problems: list[Problem] = []
            # committed to another branch only: GitHub also needs the file on the default branch
            elsewhere = fspec.branch is not None and fspec.branch != default
            if elsewhere and (being_created or reader.get(f"/repos/{t.repo}/actions/workflows/{workflow_key(t.workflow)}") is None):
                problems.append(
                    Problem(
                        f"{path} is not on the default branch of {t.repo} (the manifest commits it to {fspec.branch})",
                        field="workflow",
                        detail="GitHub dispatches only workflows whose file is on the default branch (the run then uses the file at the ref)",
                    )
                )
            return problems + input_problems(Resolved(path, doc, origin), t.inputs)
        if being_created:
            return [Problem(f"{t.repo} is created by this plan, and the manifest commits {path} to branch {file_branch}, not to ref {wanted}", field="ref")]
    elif being_created:
        what = path or f"workflow id {t.workflow}"
        return [
            Problem(
                f"{t.repo} is created by this plan and does not declare {what}",
                field="workflow",
                detail=f"declare it under repos.{spec.full_name if spec else t.repo}.files, or dispatch another repository",
            )
        ]
    on_default = fspec is not None and fspec.branch is None
    return input_problems(resolve_from_github(reader, t, default_branch_declared=on_default), t.inputs)


def _default_branch(m: Manifest, spec: RepoSpec, reader: Reader, being_created: bool) -> str:
    if spec.settings.get("default_branch"):
        return str(spec.settings["default_branch"])
    if not being_created:
        live = reader.repo(spec.full_name)
        if live and live.get("default_branch"):
            return str(live["default_branch"])
    return "main"  # GitHub's default for a new repository


# -- templates and sessions ----------------------------------------------------------------------


def find_template(m: Manifest, name: str) -> DispatchTemplate:
    t = m.dispatch.get(name)
    if t is not None:
        return t
    names = sorted(m.dispatch)
    near = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    known = f"templates are: {', '.join(names)}" if names else "the manifest declares no dispatch templates"
    raise DispatchError(f"no dispatch template {name!r}{hint}; {known}")


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise DispatchError(f"-i expects key=value, not {pair!r}")
        out[name.strip()] = value
    return out


@contextlib.contextmanager
def pass_lock(workdir: Path) -> Iterator[bool]:
    """An exclusive, non-blocking lock for one ``--ready`` pass (True when acquired), so two
    overlapping cron runs cannot both fire the same template."""
    private_dir(workdir)
    fd = os.open(workdir / "dispatch.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            acquired = True
        except BlockingIOError:
            acquired = False
        except ImportError:  # no flock (Windows): run unlocked
            acquired = True
        yield acquired
    finally:
        os.close(fd)


# -- conditions and firing -----------------------------------------------------------------------


@dataclass
class Decision:
    fire: bool
    reason: str
    runner: dict[str, Any] | None = None


@dataclass
class Fired:
    template: str
    repo: str
    workflow: str
    ref: str
    inputs: dict[str, str]
    run_id: int | None
    run_url: str | None
    html_url: str | None


def runner_labels(runner: dict[str, Any]) -> set[str]:
    out = set()
    for lb in runner.get("labels") or []:
        name = lb.get("name") if isinstance(lb, dict) else lb
        if isinstance(name, str):
            out.add(name.lower())
    return out


class Dispatcher:
    """Evaluates and fires templates for one pass; reads are memoized for the pass, an idle runner
    that a fired template counts on is reserved, and fired runs count towards max_concurrent."""

    def __init__(self, manifest: Manifest, clients: dict[str, AccountClient]):
        from ..github.reader import Reader

        self.manifest = manifest
        self.clients = clients
        self.readers: dict[str, Reader] = {a: Reader(c) for a, c in clients.items()}
        self.reserved: set[int] = set()
        self.fired_runs: Counter[tuple[str, str]] = Counter()

    def reader(self, account: str) -> Reader:
        return self.readers[account]

    # -- the repository ----------------------------------------------------------------------------
    def repo(self, t: DispatchTemplate) -> dict[str, Any]:
        data = self.reader(t.account).repo(t.repo)
        acc = self.manifest.accounts[t.account]
        if data is None:
            raise DispatchError(f"{t.name}: repository {t.repo} does not exist, or account {t.account} ({acc.login}) cannot see it")
        perms = data.get("permissions")
        if isinstance(perms, dict) and not (perms.get("push") or perms.get("admin") or perms.get("maintain")):
            raise DispatchError(f"{t.name}: account {t.account} ({acc.login}) cannot dispatch workflows in {t.repo}: that needs write access to the repository")
        if data.get("archived"):
            raise DispatchError(f"{t.name}: {t.repo} is archived; GitHub runs no workflows in it")
        return data

    def ref(self, t: DispatchTemplate) -> str:
        return t.ref or str(self.repo(t)["default_branch"])

    def validate(self, t: DispatchTemplate, given: dict[str, Any]) -> list[Problem]:
        """``t`` with inputs ``given`` against its workflow on GitHub now."""
        res = resolve_from_github(self.reader(t.account), t)
        return input_problems(res, given)

    # -- conditions --------------------------------------------------------------------------------
    def runners(self, t: DispatchTemplate) -> tuple[list[dict[str, Any]], list[str]]:
        """Runners a workflow in ``t.repo`` may use: the repository's own, and its organization's
        whose group lets the repository in. Also notes on what could not be read."""
        repo = self.repo(t)
        notes: list[str] = []
        found: list[dict[str, Any]] = []
        readable = 0
        try:
            found += self.reader(t.account).list(f"/repos/{t.repo}/actions/runners", key="runners") or []
            readable += 1
        except GitHubError as exc:
            notes.append(f"cannot list {t.repo}'s runners as {t.account} ({exc.status}: listing runners needs admin on the repository)")
        owner = repo.get("owner") or {}
        if owner.get("type") == "Organization":
            org = str(owner.get("login"))
            acc = self.manifest.account_for_owner(org)
            account = acc.id if (acc is not None and acc.is_org and acc.id in self.clients) else t.account
            reader = self.reader(account)
            try:
                groups = reader.list(f"/orgs/{org}/actions/runner-groups", key="runner_groups", params={"visible_to_repository": repo["name"]}) or []
                allowed = {g.get("id") for g in groups}
                org_runners = reader.list(f"/orgs/{org}/actions/runners", key="runners") or []
                found += [r for r in org_runners if r.get("runner_group_id") in allowed]
                readable += 1
            except GitHubError as exc:
                notes.append(f"cannot list {org}'s runners as {account} ({exc.status}: that needs an organization owner with admin:org)")
        if not readable:
            raise DispatchError(f"{t.name}: when_idle cannot see any runner: " + "; ".join(notes))
        return found, notes

    def idle_runner(self, t: DispatchTemplate) -> Decision:
        wanted = [lb for lb in t.when_idle]
        low = {lb.lower() for lb in wanted}
        runners, notes = self.runners(t)
        matching = [r for r in runners if low <= runner_labels(r)]
        idle = [r for r in matching if r.get("status") == "online" and not r.get("busy") and r.get("id") not in self.reserved]
        labels = ", ".join(wanted)
        if idle:
            pick = sorted(idle, key=lambda r: r.get("id") or 0)[0]
            return Decision(True, f"runner {pick.get('name')} ({labels}) is idle", pick)
        if not matching:
            why = f"no runner has the labels {labels}"
        else:
            busy = sum(1 for r in matching if r.get("status") == "online" and r.get("busy"))
            offline = sum(1 for r in matching if r.get("status") != "online")
            taken = sum(1 for r in matching if r.get("id") in self.reserved and r.get("status") == "online" and not r.get("busy"))
            bits = [f"{n} {what}" for n, what in ((busy, "busy"), (offline, "offline"), (taken, "taken by a template fired in this pass")) if n]
            why = f"no idle runner with labels {labels} ({', '.join(bits)})"
        if notes:
            why += "; " + "; ".join(notes)
        return Decision(False, why)

    def active_runs(self, t: DispatchTemplate) -> int:
        reader = self.reader(t.account)
        url = f"/repos/{t.repo}/actions/workflows/{workflow_key(t.workflow)}/runs"
        total = 0
        for status in ("in_progress", "queued"):
            data = reader.get(url, {"status": status, "per_page": 1})
            if data is None:
                raise DispatchError(f"{t.name}: workflow {t.workflow} not found in {t.repo}")
            total += int(data.get("total_count") or 0)
        return total + self.fired_runs[self._wf_key(t)]

    def decide(self, t: DispatchTemplate, *, when_idle: bool) -> Decision:
        """Whether ``t`` may fire now: ``max_concurrent`` always applies; ``when_idle`` when asked."""
        self.repo(t)
        reasons: list[str] = []
        runner = None
        if when_idle and t.when_idle:
            d = self.idle_runner(t)
            if not d.fire:
                return d
            reasons.append(d.reason)
            runner = d.runner
        if t.max_concurrent:
            active = self.active_runs(t)
            if active >= t.max_concurrent:
                return Decision(False, f"{active} run(s) of {t.workflow} queued or in progress (max_concurrent {t.max_concurrent})")
            reasons.append(f"{active} of at most {t.max_concurrent} run(s) active")
        return Decision(True, "; ".join(reasons) or "no condition", runner)

    def _wf_key(self, t: DispatchTemplate) -> tuple[str, str]:
        return (t.repo.lower(), workflow_key(t.workflow))

    # -- firing ------------------------------------------------------------------------------------
    def request(self, t: DispatchTemplate, given: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The request a dispatch sends: path and body."""
        return f"POST {self._dispatch_path(t)}", self._dispatch_body(t, given)

    @staticmethod
    def _dispatch_path(t: DispatchTemplate) -> str:
        return f"/repos/{t.repo}/actions/workflows/{workflow_key(t.workflow)}/dispatches"

    def _dispatch_body(self, t: DispatchTemplate, given: dict[str, Any]) -> dict[str, Any]:
        return {"ref": self.ref(t), "inputs": wire_inputs(given), "return_run_details": True}

    def fire(self, t: DispatchTemplate, given: dict[str, Any], decision: Decision | None = None) -> Fired:
        body = self._dispatch_body(t, given)
        ref, inputs = body["ref"], body["inputs"]
        client = self.clients[t.account]
        # With return_run_details GitHub answers 200 with workflow_run_id, run_url and html_url
        # (an older GitHub: 204, no body). Not retried after a transient failure: a dispatch
        # cannot be looked up before its run shows, and a second one would start a second run
        # (GitHub Docs, "Create a workflow dispatch event":
        # https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event).
        try:
            result = client.raw("POST", self._dispatch_path(t), body, idempotent=False)
        except GitHubError as exc:
            raise DispatchError(f"{t.name}: GitHub refused the dispatch: {_refusal(exc, t)}") from None
        if decision is not None and decision.runner is not None and decision.runner.get("id") is not None:
            self.reserved.add(decision.runner["id"])
        self.fired_runs[self._wf_key(t)] += 1
        if not isinstance(result, dict) or "workflow_run_id" not in result:  # 204: no run details
            return Fired(t.name, t.repo, str(t.workflow), ref, inputs, None, None, None)
        return Fired(
            t.name,
            t.repo,
            str(t.workflow),
            ref,
            inputs,
            int(result["workflow_run_id"]),
            str(result.get("run_url")),
            str(result.get("html_url")),
        )


def _refusal(exc: GitHubError, t: DispatchTemplate) -> str:
    msg = exc.github_message or str(exc)
    if exc.status == 404:
        return f"404 {msg}: no workflow {t.workflow} in {t.repo}, or account {t.account} lacks write access (classic tokens need the repo scope)"
    if exc.errors:
        bits = [e.get("message") if isinstance(e, dict) else str(e) for e in exc.errors[:3]]
        msg += " (" + "; ".join(str(b) for b in bits if b) + ")"
    return f"{exc.status} {msg}" if exc.status else msg


# -- one --ready pass ----------------------------------------------------------------------------


@dataclass
class Outcome:
    template: str
    status: str  # fired | would fire | skipped | error
    detail: str
    fired: Fired | None = None


def ready_pass(d: Dispatcher, templates: list[DispatchTemplate], *, dry_run: bool = False) -> list[Outcome]:
    """Fire every template whose conditions hold, each at most once. A template without a
    condition is skipped: a cron pass must not fire it every time it runs."""
    out: list[Outcome] = []
    for t in sorted(templates, key=lambda x: x.name):
        if not t.when_idle and not t.max_concurrent:
            out.append(Outcome(t.name, "skipped", "no when_idle or max_concurrent condition (fire it with `gridctl dispatch NAME`)"))
            continue
        try:
            decision = d.decide(t, when_idle=True)
            if not decision.fire:
                out.append(Outcome(t.name, "skipped", decision.reason))
            elif dry_run:
                line, body = d.request(t, t.inputs)
                if decision.runner is not None and decision.runner.get("id") is not None:
                    d.reserved.add(decision.runner["id"])
                d.fired_runs[d._wf_key(t)] += 1
                out.append(Outcome(t.name, "would fire", f"{decision.reason}; {line} {_json(body)}"))
            else:
                fired = d.fire(t, t.inputs, decision)
                out.append(Outcome(t.name, "fired", f"run {fired.run_id} {fired.html_url or ''}".rstrip() + f" ({decision.reason})", fired))
        except GridctlError as exc:
            out.append(Outcome(t.name, "error", str(exc).removeprefix(f"{t.name}: ")))
    return out


def _json(body: Any) -> str:
    import json

    return json.dumps(body, sort_keys=True)


# -- following a run -----------------------------------------------------------------------------


class RunTimeout(GridctlError):
    pass


def wait_for_run(
    client: AccountClient,
    repo: str,
    run_id: int,
    *,
    timeout: float,
    interval: float,
    on_status: Callable[[str, str | None], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll the run until it completes (conditional GETs: an unchanged run costs a 304)."""
    deadline = clock() + max(0.0, timeout)
    last: tuple[str, str | None] | None = None
    while True:
        run: dict[str, Any] = client.get(f"/repos/{repo}/actions/runs/{run_id}", missing_ok=False)
        now = (str(run.get("status")), run.get("conclusion"))
        if now != last and on_status is not None:
            on_status(*now)
        last = now
        if now[0] == "completed":
            return run
        left = deadline - clock()
        if left <= 0:
            raise RunTimeout(f"run {run_id} is still {now[0]} after {timeout:g}s; it keeps running on GitHub")
        sleep(min(max(interval, 0.0), left))
