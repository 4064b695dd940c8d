"""`gridctl queue`: submit, list, claim, complete, fail and reap the tasks of a git-backed queue
(``queues.<name>`` in the manifest; the mechanics are in :mod:`gridctl.fleet.taskqueue`).

Exit codes: 0 done; 1 error; 3 ``claim`` found nothing to claim; 4 ``complete``/``fail`` of a
task this node does not hold (any more) — it was reaped or finished, nothing was recorded.
Queue commands take no state lock: any number of workers may run them at once.
"""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .common import ApiUrlOpt, FileOpt, SandboxOpt, StateDirOpt, err, run_command

if TYPE_CHECKING:
    from ..fleet.taskqueue import TaskQueue


def connect(
    file: Path, name: str, sandbox: bool, api_url: str | None, state_dir: Path | None, account: str | None
) -> AbstractContextManager[TaskQueue]:
    from ..core.session import open_queue

    return open_queue(file, name, sandbox=sandbox, api_url=api_url, workdir=state_dir, account=account)


def finish(outcome: str, name: str, task: str, result: str | None, node: str | None, file: Path, sandbox: bool,
           api_url: str | None, state_dir: Path | None, account: str | None) -> None:
    def go() -> None:
        from ..errors import GridctlError

        data = None
        if result is not None:
            try:
                data = sys.stdin.buffer.read() if result == "-" else Path(result).read_bytes()
            except OSError as exc:
                raise GridctlError(f"cannot read the result file {result} ({exc.__class__.__name__})") from None
        with connect(file, name, sandbox, api_url, state_dir, account) as tq:
            tq.finish(task, outcome, data, node)
        size = f" (result: {len(data)} bytes)" if data is not None else ""
        typer.echo(f"{task}: {outcome}{size}")

    run_command(go)


def register(app: typer.Typer) -> None:
    """Add the ``queue`` group to the main app."""

    q = typer.Typer(help="Git-backed task queues: submit, ls, claim, complete, fail, reap.", no_args_is_help=True)
    app.add_typer(q, name="queue")
    NameArg = typer.Argument(..., metavar="NAME", help="The queue (queues.<NAME> in the manifest).")
    AccountOpt = typer.Option(None, "--account", help="Act with this manifest account's token (default: the queue's account).")
    NodeOpt = typer.Option(None, "--node", help="The worker node's id (letters, digits, '_', '.', ':', '@', '-').")

    @q.command("check")
    def check(files: list[Path] = typer.Argument(..., metavar="FILE", help="Task files (JSON or YAML).")) -> None:
        """Validate task files against schemas/task.schema.json, without calling GitHub."""

        def go() -> None:
            tasks = _load(files)
            for t in tasks:
                typer.echo(f"{t['task_id']}: valid")

        run_command(go)

    @q.command("submit")
    def submit(
        name: str = NameArg,
        files: list[Path] = typer.Argument(..., metavar="FILE", help="Task files (JSON or YAML): all validated, then one commit."),
        file: Path = FileOpt,
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
        state_dir: Path = StateDirOpt,
        account: str = AccountOpt,
    ) -> None:
        """Validate task files and add them to the queue in one commit (a task_id that exists
        in any state of the queue is refused)."""

        def go() -> None:
            tasks = _load(files)  # every problem of every file, before any API call
            with connect(file, name, sandbox, api_url, state_dir, account) as tq:
                paths = tq.submit(tasks)
            for t, p in zip(tasks, paths, strict=True):
                typer.echo(f"submitted {t['task_id']} to queue {name} ({p})")

        run_command(go)

    @q.command("ls")
    def ls(
        name: str = NameArg,
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
        file: Path = FileOpt,
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
        state_dir: Path = StateDirOpt,
        account: str = AccountOpt,
    ) -> None:
        """Tasks per state and the oldest one's age (one API call)."""

        def go() -> None:
            from ..fleet.taskqueue import format_age

            with connect(file, name, sandbox, api_url, state_dir, account) as tq:
                states = tq.status()
                where = tq.where()
            if json_out:
                typer.echo(json.dumps({"queue": name, "where": where, "states": states}, indent=2))
                return
            typer.echo(f"queue {name}  {where}")
            typer.echo(f"  {'state':<12} {'tasks':>6}  oldest")
            for state, s in states.items():
                age = format_age(s["oldest_age"])
                if s["unstamped"]:
                    age += f" (+{s['unstamped']} of unknown age)"
                typer.echo(f"  {state:<12} {s['count']:>6}  {age}")

        run_command(go)

    @q.command("claim")
    def claim(
        name: str = NameArg,
        node: str = typer.Option(..., "--node", help="The worker node's id, recorded in the task."),
        file: Path = FileOpt,
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
        state_dir: Path = StateDirOpt,
        account: str = AccountOpt,
    ) -> None:
        """Move the best task (highest priority, then oldest) to in_progress/ for NODE and print
        it as JSON on stdout. Exit 3 when the queue has nothing to claim."""

        def go() -> int:
            from ..fleet.taskqueue import EXIT_EMPTY

            with connect(file, name, sandbox, api_url, state_dir, account) as tq:
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
            file: Path = FileOpt,
            sandbox: bool = SandboxOpt,
            api_url: str = ApiUrlOpt,
            state_dir: Path = StateDirOpt,
            account: str = AccountOpt,
        ) -> None:
            finish(outcome, name, task, result, node, file, sandbox, api_url, state_dir, account)

        command.__doc__ = (f"Move an in-progress task to {outcome}/ with its result. With --node, only the node\n"
                           "        holding the task may (exit 4 otherwise).")
        q.command(command_name)(command)

    finisher("complete", "completed")
    finisher("fail", "failed")

    @q.command("reap")
    def reap(
        name: str = NameArg,
        file: Path = FileOpt,
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
        state_dir: Path = StateDirOpt,
        account: str = AccountOpt,
    ) -> None:
        """Return tasks in progress for longer than the queue's orphan_after to the queue
        (attempts + 1; to failed/ once a task's max_attempts is reached), in one commit."""

        def go() -> None:
            with connect(file, name, sandbox, api_url, state_dir, account) as tq:
                moved = tq.reap()
            if not moved:
                typer.echo(f"queue {name}: nothing to reap")
            for task_id, state in moved:
                typer.echo(f"{task_id}: back to the queue" if state == "queue" else f"{task_id}: moved to {state}/")

        run_command(go)


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
