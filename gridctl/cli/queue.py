"""`gridctl queue`: submit, list, claim, complete, fail and reap the tasks of a git-backed queue
(``queues.<name>`` in the manifest; the mechanics are in :mod:`gridctl.fleet.taskqueue`), and
``work``, a worker node's loop (:mod:`gridctl.fleet.queueworker`).

Exit codes: 0 done; 1 error; 3 ``claim`` (or ``work --once``) found nothing to claim; 4
``complete``/``fail`` of a task this node does not hold (any more) — it was reaped or finished,
nothing was recorded. Queue commands take no state lock: any number of workers may run them at once.
"""

from __future__ import annotations

import inspect
import json
import sys
import typing
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .common import ApiUrlOpt, FileOpt, SandboxOpt, StateDirOpt, err, run_command

if TYPE_CHECKING:
    from ..fleet.taskqueue import TaskQueue

AccountOpt = typer.Option(None, "--account", help="Act with this manifest account's token (default: the queue's account).")


@dataclass(frozen=True)
class Where:
    """The options every queue command but ``check`` takes, after its own: the manifest, the API,
    the working folder and the account (see :func:`queue_command`)."""

    file: Path = FileOpt
    sandbox: bool = SandboxOpt
    api_url: str | None = ApiUrlOpt
    state_dir: Path | None = StateDirOpt
    account: str | None = AccountOpt

    def connect(self, name: str) -> AbstractContextManager[TaskQueue]:
        from ..core.session import open_queue

        return open_queue(self.file, name, sandbox=self.sandbox, api_url=self.api_url, workdir=self.state_dir,
                          account=self.account)


_WHERE_HINTS = typing.get_type_hints(Where)


def finish(outcome: str, name: str, task: str, result: str | None, node: str | None, where: Where) -> None:
    def go() -> None:
        from ..errors import GridctlError

        data = None
        if result is not None:
            try:
                data = sys.stdin.buffer.read() if result == "-" else Path(result).read_bytes()
            except OSError as exc:
                raise GridctlError(f"cannot read the result file {result} ({exc.__class__.__name__})") from None
        with where.connect(name) as tq:
            tq.finish(task, outcome, data, node)
        size = f" (result: {len(data)} bytes)" if data is not None else ""
        typer.echo(f"{task}: {outcome}{size}")

    run_command(go)


def queue_command(q: typer.Typer, command_name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn`` as ``queue COMMAND_NAME`` with its own parameters, then the options of
    :class:`Where`; ``fn`` gets those as one ``where: Where`` keyword argument. Typer reads the
    command's parameters from its signature, so the signature shown to it is ``fn``'s own
    parameters (type hints resolved) followed by :class:`Where`'s fields."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn)
        own = [p.replace(annotation=hints[p.name]) for p in inspect.signature(fn).parameters.values() if p.name != "where"]
        shared = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=_WHERE_HINTS[f.name])
                  for f in fields(Where)]

        def command(**kwargs: Any) -> Any:
            where = Where(**{f.name: kwargs.pop(f.name) for f in fields(Where)})
            return fn(**kwargs, where=where)

        command.__doc__, command.__name__ = fn.__doc__, fn.__name__
        command.__dict__["__signature__"] = inspect.Signature(own + shared)
        q.command(command_name)(command)
        return fn

    return register



def register(app: typer.Typer) -> None:
    """Add the ``queue`` group to the main app."""

    q = typer.Typer(help="Git-backed task queues: submit, ls, claim, complete, fail, reap, work (a worker node), and publish (a status page).", no_args_is_help=True)
    app.add_typer(q, name="queue")
    NameArg = typer.Argument(..., metavar="NAME", help="The queue (queues.<NAME> in the manifest).")
    NodeOpt = typer.Option(None, "--node", help="The worker node's id (letters, digits, '_', '.', ':', '@', '-').")

    @q.command("check")
    def check(files: list[Path] = typer.Argument(..., metavar="FILE", help="Task files (JSON or YAML).")) -> None:
        """Validate task files against schemas/task.schema.json, without calling GitHub."""

        def go() -> None:
            tasks = _load(files)
            for f, t in zip(files, tasks, strict=True):
                tid = t["task_id"]
                named = "" if f.stem == tid else f" (file {f.name}: by pull request it must be named {tid}.json, .yaml or .yml)"
                typer.echo(f"{tid}: valid{named}")

        run_command(go)

    @queue_command(q, "submit")
    def submit(
        name: str = NameArg,
        files: list[Path] = typer.Argument(..., metavar="FILE", help="Task files (JSON or YAML): all validated, then one commit."),
        *,
        where: Where,
    ) -> None:
        """Validate task files and add them to the queue in one commit (a task_id that exists
        in any state of the queue is refused)."""

        def go() -> None:
            tasks = _load(files)  # every problem of every file, before any API call
            with where.connect(name) as tq:
                paths = tq.submit(tasks)
            for t, p in zip(tasks, paths, strict=True):
                typer.echo(f"submitted {t['task_id']} to queue {name} ({p})")

        run_command(go)

    @queue_command(q, "ls")
    def ls(
        name: str = NameArg,
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
        tasks: bool = typer.Option(False, "--tasks", help="Also list every task: state, age, priority and node."),
        *,
        where: Where,
    ) -> None:
        """Tasks per state with the oldest one's age, and the worker nodes with their last
        heartbeat (one API call, plus one per node; --tasks reads the tasks whose node is not
        known otherwise, at most 200)."""

        def go() -> None:
            with where.connect(name) as tq:
                view = tq.overview(tasks=tasks)
                location = tq.where()
            if json_out:
                typer.echo(json.dumps({"queue": name, "where": location, **view}, indent=2))
                return
            _print_overview(name, location, view)

        run_command(go)

    @queue_command(q, "claim")
    def claim(
        name: str = NameArg,
        node: str = typer.Option(..., "--node", help="The worker node's id, recorded in the task."),
        *,
        where: Where,
    ) -> None:
        """Move the best task (highest priority, then oldest) to in_progress/ for NODE and print
        it as JSON on stdout. Exit 3 when the queue has nothing to claim."""

        def go() -> int:
            from ..fleet.taskqueue import EXIT_EMPTY

            with where.connect(name) as tq:
                task = tq.claim(node)
            if task is None:
                err(f"gridctl: queue {name} has no task to claim")
                return EXIT_EMPTY
            sys.stdout.write(json.dumps(task, ensure_ascii=False) + "\n")
            err(f"gridctl: {node} claimed {task['task_id']}")
            return 0

        raise typer.Exit(run_command(go) or 0)

    def finisher(command_name: str, outcome: str) -> None:
        """``complete`` and ``fail``: the same command, moving the task to another folder."""

        def command(
            name: str = NameArg,
            task: str = typer.Argument(..., metavar="TASK", help="The task_id."),
            result: str = typer.Option(None, "--result", help="A file with the task's output ('-': stdin), kept as <task_id>.result."),
            node: str = NodeOpt,
            *,
            where: Where,
        ) -> None:
            finish(outcome, name, task, result, node, where)

        command.__doc__ = (f"Move an in-progress task to {outcome}/ with its result. With --node, only the node\n"
                           "        holding the task may (exit 4 otherwise).")
        queue_command(q, command_name)(command)

    finisher("complete", "completed")
    finisher("fail", "failed")

    @queue_command(q, "work")
    def work(
        name: str = NameArg,
        node: str = typer.Option(..., "--node", help="This node's id: letters, digits, '_', '.', '@', '-' (its file: nodes/<ID>.json)."),
        once: bool = typer.Option(False, "--once", help="Run one task at most, then stop (exit 3 when there is none)."),
        max_tasks: int = typer.Option(None, "--max-tasks", min=1, metavar="N", help="Stop after this many tasks."),
        idle_exit: str = typer.Option(None, "--idle-exit", metavar="DURATION", help="Stop once the queue stayed empty this long (e.g. 0, 30s, 5m)."),
        poll: str = typer.Option("30s", "--poll", metavar="DURATION", help="Sleep between claims while the queue is empty."),
        heartbeat: str = typer.Option(None, "--heartbeat", metavar="DURATION", help="Heartbeat interval (default: a third of orphan_after, 1s to 5m)."),
        output_cap: int = typer.Option(10240, "--output-cap", metavar="BYTES", help="Bytes of stdout and of stderr kept per task (the rest is counted, not kept)."),
        isolate: str = typer.Option(None, "--isolate", metavar="TEMPLATE", envvar="GRIDCTL_QUEUE_ISOLATE",
                                    help="Run each task through this command; {script} (one whole argument) is the task's script, "
                                         "e.g. 'docker run --rm -i --network=none --read-only IMAGE sh -c {script}'. Also {task_id}, {timeout}, {workdir}."),
        show_output: bool = typer.Option(False, "--show-output", help="Print each task's kept output (control characters escaped)."),
        *,
        where: Where,
    ) -> None:
        """Work as a node: register nodes/<ID>.json, then claim -> run under the task's timeout ->
        complete or fail with its result -> repeat, heartbeating while it runs or waits.
        SIGTERM/SIGINT fail the running task (its process group is killed) and stop."""

        def go() -> int:
            from ..fleet.queueworker import Worker, WorkOptions, parse_isolate
            from ..fleet.taskqueue import find_queue
            from ..resources import load_manifest

            m = load_manifest(where.file, resolve=False)
            spec = find_queue(m, name)
            opts = WorkOptions(
                node=node, once=once, max_tasks=max_tasks, idle_exit=_duration("--idle-exit", idle_exit),
                poll=_duration("--poll", poll) or 0.0, output_cap=output_cap, heartbeat=_duration("--heartbeat", heartbeat),
                isolate=parse_isolate(isolate) if isolate else None, show_output=show_output,
                hidden_env=frozenset(_env_sources(m.data)),
            )
            with ExitStack() as stack:
                session: Callable[[], AbstractContextManager[TaskQueue]]
                if where.sandbox:  # the embedded sandbox serves one command at a time: hold it per step
                    def session() -> AbstractContextManager[TaskQueue]:
                        return where.connect(name)
                else:
                    tq = stack.enter_context(where.connect(name))

                    def session() -> AbstractContextManager[TaskQueue]:
                        return nullcontext(tq)
                return Worker(session, opts, spec.orphan_after, err).run()

        raise typer.Exit(run_command(go) or 0)

    @queue_command(q, "reap")
    def reap(name: str = NameArg, *, where: Where) -> None:
        """Return orphaned tasks to the queue (attempts + 1; to failed/ once a task's
        max_attempts is reached), in one commit. A task held by a node that heartbeats (gridctl
        queue work) is orphaned when the node is silent for orphan_after, whatever the claim's
        age, and alive while it heartbeats; any other claim is orphaned at orphan_after."""

        def go() -> None:
            from ..util.text import safe

            with where.connect(name) as tq:
                moved = tq.reap()
            if not moved:
                typer.echo(f"queue {name}: nothing to reap")
            for task_id, state, why in moved:
                to = "back to the queue" if state == "queue" else f"moved to {state}/"
                typer.echo(f"{task_id}: {to} ({safe(why)})")

        run_command(go)

    @queue_command(q, "publish")
    def publish(
        name: str = NameArg,
        to: str = typer.Option(None, "--to", metavar="BRANCH",
                               help="The branch the page is committed to (default: gh-pages, created if missing; with --folder alone, the queue's branch)."),
        folder: str = typer.Option(None, "--folder", metavar="PATH", help="The folder of the page on that branch, e.g. docs (default: its root): PATH/index.html."),
        results: int = typer.Option(20, "--results", min=1, max=200, metavar="N", help="How many of the latest results the page lists."),
        output: Path = typer.Option(None, "--output", metavar="FILE", help="Write the page to FILE ('-': stdout) and commit nothing."),
        *,
        where: Where,
    ) -> None:
        """Publish the queue's status page to a GitHub Pages branch or folder: one
        self-contained HTML file (tasks per state, the oldest waiting task, the nodes with
        their last heartbeat, the latest results with exit codes) in one compare-and-swap
        commit; no commit when the published page already shows the queue as it is."""
        run_command(lambda: publish_status(name, to, folder, results, output, where))


def publish_status(name: str, to: str | None, folder: str | None, results: int, output: Path | None, where: Where) -> None:
    """``gridctl queue publish``: commit the page (or write it to ``output``) and say what was done."""
    from ..errors import GridctlError
    from ..fleet.publish import publish, render_page, target

    t = target(to, folder)
    with where.connect(name) as tq:
        if output is not None:
            page = render_page(tq, results)
        else:
            done = publish(tq, t, results=results)
            place = f"{tq.repo}@{done.branch}:{done.path}"
    if output is None:
        if not done.committed:
            typer.echo(f"queue {name}: {place} is up to date, nothing committed ({done.why})")
            return
        new = " (new branch)" if done.created_branch else ""
        races = f"; {done.lost_races} lost race(s) retried" if done.lost_races else ""
        typer.echo(f"queue {name}: published {place}{new}{races}")
    elif str(output) == "-":
        sys.stdout.write(page)
    else:
        try:
            output.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise GridctlError(f"cannot write {output} ({exc.__class__.__name__})") from None
        typer.echo(f"queue {name}: page written to {output} (nothing committed)")


def _duration(option: str, text: str | None) -> float | None:
    from ..errors import GridctlError
    from ..util.durations import seconds

    if text is None:
        return None
    value = seconds(text)
    if value is None:
        raise GridctlError(f"{option}: {text!r} is not a duration (a number of seconds, or with a unit: 500ms, 30s, 5m, 1h)")
    return value


def _env_sources(data: Any) -> set[str]:
    """Every environment variable the manifest reads a value from (``{env: NAME}``, anywhere)."""
    out: set[str] = set()
    if isinstance(data, dict):
        if isinstance(data.get("env"), str):
            out.add(data["env"])
        for v in data.values():
            out |= _env_sources(v)
    elif isinstance(data, list):
        for v in data:
            out |= _env_sources(v)
    return out


def _print_overview(name: str, where: str, view: dict) -> None:
    from ..fleet.taskqueue import format_age
    from ..util.text import safe

    typer.echo(f"queue {name}  {where}")
    typer.echo(f"  {'state':<12} {'tasks':>6}  oldest")
    for state, s in view["states"].items():
        age = format_age(s["oldest_age"])
        if s["unstamped"]:
            age += f" (+{s['unstamped']} of unknown age)"
        typer.echo(f"  {state:<12} {s['count']:>6}  {age}")
    nodes = view["nodes"]
    if not nodes:
        typer.echo("  no nodes (gridctl queue work registers one)")
    else:
        typer.echo(f"  {'node':<24} {'heartbeat':<18} {'status':<9} {'tasks':>5} {'failed':>6}  task")
        for n in nodes:
            if n.get("invalid"):
                typer.echo(f"  {n['node_id']:<24} (not a node record: {safe(n['invalid'])})")
                continue
            beat = format_age(n["heartbeat_age"]) + " ago" if n["heartbeat_age"] is not None else "-"
            if n["silent"] and n.get("status") != "stopped":
                beat += " (silent)"
            task = safe(n.get("current_task") or "-")
            status = safe(n.get("status") or "-")[:9]
            done, failed = _count(n.get("tasks_done")), _count(n.get("tasks_failed"))
            typer.echo(f"  {n['node_id']:<24} {beat:<18} {status:<9} {done:>5} {failed:>6}  {task}")
    if "tasks" in view:
        rows = view["tasks"]
        typer.echo(f"  {'task':<24} {'state':<12} {'age':>8}  node" if rows else "  no tasks")
        for r in rows:
            node = safe(r["node"]) if r["node"] else ("-" if r["node_known"] else "(not read)")
            typer.echo(f"  {r['task_id']:<24} {r['state']:<12} {format_age(r['age']):>8}  {node}")


def _count(v: Any) -> str:
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else "-"


def _load(files: list[Path]) -> list[dict]:
    from ..errors import ManifestError
    from ..fleet.taskqueue import load_task_file

    tasks, diags = [], []
    for f in files:
        try:
            tasks.append(load_task_file(f))
        except ManifestError as exc:
            diags.extend(exc.diagnostics())
    if diags:
        raise ManifestError(diags)
    return tasks
