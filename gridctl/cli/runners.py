"""``gridctl runners status`` and ``gridctl runners run``.

``status`` reads every runner scope of the manifest (the scopes of declared runners and of
runners gridctl manages; ``--all`` adds every declared repository and organization) with one
list call per scope and prints a table: name, online/offline, busy, labels, group, and whether
the runner is declared (``ok``), declared but not registered (``missing``) or registered but
not declared (``not declared``). ``--json`` prints the same rows as JSON.

``run`` supervises runner processes on this host from the JIT files (see
:mod:`gridctl.fleet.supervisor`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    from .common import ApiUrlOpt, FileOpt, NoColorOpt, SandboxOpt, StateDirOpt, err, run_command, session_options

    runners_app = typer.Typer(help="Self-hosted runners: their status, and supervising them on this host.", no_args_is_help=True)
    app.add_typer(runners_app, name="runners")

    @runners_app.command("status")
    def status(
        file: Path = FileOpt,
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
        state_dir: Path = StateDirOpt,
        json_out: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
        all_scopes: bool = typer.Option(False, "--all", help="Also list runners of every declared repository and organization."),
        no_color: bool = NoColorOpt,
    ) -> None:
        """A table of runners per scope: online/offline, busy, labels, group, declared or not."""

        def go() -> None:
            from ..core.session import Session

            with Session.open(file, session_options(sandbox, api_url, state_dir), operation="runners status") as s:
                rows = collect_status(s, all_scopes=all_scopes)
            if json_out:
                typer.echo(json.dumps(rows, indent=2))
            else:
                print_table(rows, no_color=no_color)

        run_command(go)

    @runners_app.command("run")
    def run(
        folder: Path = typer.Option(Path("runners"), "--dir", help="The folder of JIT files (settings.runner_dir / jit_config.write_to)."),
        command: str = typer.Option(
            None,
            "--command",
            envvar="GRIDCTL_RUNNER_COMMAND",
            help="Runner command template; placeholders {jitconfig_file} {name} {workdir} {jitconfig}. Default: ./run.sh (the Actions runner) with the JIT config in ACTIONS_RUNNER_INPUT_JITCONFIG.",
        ),
        grace: float = typer.Option(30.0, "--grace", help="Seconds between SIGINT and SIGKILL on shutdown."),
        backoff: float = typer.Option(1.0, "--backoff", help="First restart delay after a crash (doubles per crash)."),
        max_backoff: float = typer.Option(60.0, "--max-backoff", help="Longest restart delay."),
    ) -> None:
        """Supervise one runner process per JIT file: restart on crash, SIGINT then SIGKILL on stop."""
        from ..fleet.supervisor import Supervisor

        if not folder.is_dir():
            err(f"gridctl: {folder} is not a folder of JIT files (run gridctl apply first, or pass --dir)")
            raise typer.Exit(1)
        try:
            sup = Supervisor(folder, command, grace=grace, backoff=backoff, max_backoff=max_backoff)
        except ValueError as exc:
            err(f"gridctl: {exc}")
            raise typer.Exit(1) from None
        raise typer.Exit(sup.run())


def collect_status(session: Any, *, all_scopes: bool = False) -> list[dict[str, Any]]:
    from ..errors import GitHubError
    from ..github.reader import Reader
    from ..resources import KINDS
    from ..resources.runner import Runner, read_runners

    kind = KINDS["runner"]
    assert isinstance(kind, Runner)
    env = session.env()
    scopes = kind.scopes(env)
    if all_scopes:
        have = {s.name.lower() for s in scopes}
        m = session.manifest
        extra = [(r.full_name, r.account) for r in m.repos.values()]
        extra += [(f"org {a.login}", a.id) for a in m.accounts.values() if a.is_org]
        for name, acc in extra:
            if name.lower() not in have:
                scopes.append(kind.scope_of(name, acc))
                have.add(name.lower())
    rows: list[dict[str, Any]] = []
    readers: dict[str, Reader] = {}
    for scope in scopes:
        reader = readers.setdefault(scope.account, Reader(session.clients[scope.account]))
        declared = kind.desired(env, scope)
        try:
            live = read_runners(reader, scope)
        except GitHubError as exc:
            rows.append({"scope": scope.name, "name": None, "error": str(exc)})
            continue
        seen = set()
        for r in live or []:
            key = r["name"].lower()
            seen.add(key)
            d = declared.get(key)
            rows.append(
                {
                    "scope": scope.name,
                    "name": r["name"],
                    "id": r["id"],
                    "status": r.get("status"),
                    "busy": bool(r.get("busy")),
                    "labels": [lb["name"] for lb in r.get("labels", [])],
                    "group": r["group"],
                    "declared": "ok" if d is not None else "not declared",
                    "jit_file": d.meta["jit_file"] if d is not None else None,
                }
            )
        for key, d in sorted(declared.items()):
            if key not in seen:
                rows.append(
                    {
                        "scope": scope.name,
                        "name": d.meta["name"],
                        "id": None,
                        "status": None,
                        "busy": None,
                        "labels": list(d.attrs.get("labels", [])),
                        "group": d.attrs.get("group", "Default"),
                        "declared": "missing",
                        "jit_file": d.meta["jit_file"],
                    }
                )
        if live is None and not declared:
            rows.append({"scope": scope.name, "name": None, "error": "not found (or not visible to this account)"})
    return rows


def print_table(rows: list[dict[str, Any]], *, no_color: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    tty = sys.stdout.isatty()
    console = Console(file=sys.stdout, width=None if tty else 200, no_color=not tty or no_color or bool(os.environ.get("NO_COLOR")), highlight=False, soft_wrap=False)
    if not rows:
        console.print("No runner scopes in this manifest (declare runners, or pass --all).")
        return
    table = Table(title="Self-hosted runners", title_justify="left")
    for col in ("scope", "name", "status", "busy", "labels", "group", "declared"):
        table.add_column(col, no_wrap=col in ("scope", "name"))
    for r in rows:
        if r.get("error"):
            table.add_row(r["scope"], "-", "error", "", r["error"], "", "")
            continue
        status = r["status"] or "-"
        busy = "-" if r["busy"] is None else ("busy" if r["busy"] else "idle")
        table.add_row(r["scope"], r["name"], status, busy, ", ".join(r["labels"]), r["group"] or "", r["declared"])
    console.print(table)
    missing = sum(1 for r in rows if r.get("declared") == "missing")
    extra = sum(1 for r in rows if r.get("declared") == "not declared")
    online = sum(1 for r in rows if r.get("status") == "online")
    console.print(f"{online} online, {missing} declared but missing, {extra} present but not declared")
