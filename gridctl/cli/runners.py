"""``gridctl runners status`` and ``gridctl runners run``.

``status`` reads every runner scope of the manifest (the scopes of declared runners and of
runners gridctl manages; ``--all`` adds every declared repository and organization) with one
list call per scope and prints a table: name, online/offline, busy, labels, group, and whether
the runner is declared (``ok``), declared but not registered (``missing``) or registered but
not declared (``not declared``). ``--json`` prints the same rows as JSON.

``run`` supervises runner processes on this host from the JIT files (see
:mod:`gridctl.fleet.supervisor`).

``install`` downloads the Actions runner once (its SHA-256 verified) and prepares the folder of
every runner so that ``run`` starts it with no further step (see :mod:`gridctl.fleet.install`);
``status`` says, for each declared runner, whether its folder has a runner installed.
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
        if command is None:
            _warn_not_installed(folder)
        raise typer.Exit(sup.run())

    @runners_app.command("install")
    def install(
        folder: Path = typer.Option(None, "--dir", help="The folder of JIT files whose runners to prepare (default: the manifest's settings.runner_dir)."),
        version: str = typer.Option(None, "--version", help="The runner version, like 2.321.0 (default: the latest release)."),
        sha256: str = typer.Option(None, "--sha256", help="The package's SHA-256 (default: the one its release publishes)."),
        file: Path = FileOpt,
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
        state_dir: Path = StateDirOpt,
        account: str = typer.Option(None, "--account", help="The manifest account whose token reads the release (default: the first)."),
    ) -> None:
        """Download the Actions runner once (SHA-256 verified) and prepare every runner folder for gridctl runners run."""

        def go() -> None:
            run_install(file, session_options(sandbox, api_url, state_dir), folder=folder, version=version, sha256=sha256, account=account)

        run_command(go)


def run_install(file: Path, options: Any, *, folder: Path | None, version: str | None, sha256: str | None, account: str | None) -> None:
    from ..core.session import Session
    from ..errors import GridctlError
    from ..fleet.install import install
    from ..resources import load_manifest
    from ..util.text import printable
    from .common import err

    accounts = list(load_manifest(file, tokens=False).accounts)
    if account is not None and account not in accounts:
        raise GridctlError(f"--account {printable(account)!r} is not an account of {file} (accounts: {', '.join(accounts)})")
    chosen = account or (accounts[0] if accounts else None)
    if chosen is None:
        raise GridctlError(f"{file} declares no account to read the release with")
    with Session.connect(file, options, accounts=[chosen]) as s:
        root = s.manifest.root
        folder = folder if folder is not None else root / str(s.manifest.settings.get("runner_dir", "runners"))
        inside, outside = _declared_jit_files(s, folder)
        client = s.clients[chosen]
        report = install(client.get, folder, version=version, sha256=sha256, declared=inside,
                         retry=client.policy.call, say=lambda text: err(f"gridctl: {printable(text)}"))
    pkg = report.package
    if report.downloaded:
        typer.echo(f"{pkg.name}: downloaded {report.downloaded:,} bytes, SHA-256 verified against {pkg.source}; "
                   f"unpacked in {_shown(report.shared)}")
    else:
        typer.echo(f"{pkg.name}: already unpacked in {_shown(report.shared)} (SHA-256 verified when installed): nothing downloaded")
    words = {"prepared": "runner installed", "updated": "runner installed (replacing what was there)", "ready": "already installed"}
    for path, outcome in report.folders:
        typer.echo(f"{_shown(path)}: {words.get(outcome, outcome)}")
    done = sum(1 for _, x in report.folders if x != "ready")
    typer.echo(f"{len(report.folders)} runner folder(s): {done} installed, {len(report.folders) - done} already installed")
    if not report.folders:
        typer.echo(f"No runner folder under {_shown(folder)} yet (no JIT file there, no runner declared there): "
                   "run gridctl apply, then install again.")
    if outside:
        typer.echo(f"{len(outside)} declared runner(s) keep their JIT files outside {_shown(folder)} (jit_config.write_to): "
                   "run install with their --dir too.")


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is under it, made printable."""
    from ..util.text import printable

    try:
        return printable(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return printable(path)


def _declared_jit_files(session: Any, folder: Path) -> tuple[list[Path], list[Path]]:
    """The JIT files of the runners the manifest declares: (under ``folder``, elsewhere)."""
    from ..resources import KINDS
    from ..resources.base import PlanEnv
    from ..state.local import State

    kind = KINDS["runner"]
    env = PlanEnv(session.manifest, State(), b"", session.clients)  # declarations only: no state is read
    base = folder.resolve()
    inside: list[Path] = []
    outside: list[Path] = []
    for scope in kind.scopes(env):
        for item in kind.desired(env, scope).values():
            jit = session.manifest.root / item.meta["jit_file"]
            parent = jit.parent.resolve()
            (inside if parent == base or base in parent.parents else outside).append(jit)
    return inside, outside


def _warn_not_installed(folder: Path) -> None:
    """A hint before ``run`` starts ``./run.sh`` in folders that have none."""
    from ..fleet.install import installed, runner_folders
    from .common import err

    missing = [p for p in runner_folders(folder) if not installed(p)]
    if missing:
        names = ", ".join(str(p.relative_to(folder)) for p in missing[:5]) + (", ..." if len(missing) > 5 else "")
        err(f"gridctl runners: warning: {len(missing)} runner folder(s) have no runner installed (no run.sh): {names}; "
            "gridctl runners install puts it there")


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
    root = session.manifest.root
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
                    "installed": _installed(root, d.meta["jit_file"]) if d is not None else None,
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
                        "installed": _installed(root, d.meta["jit_file"]),
                    }
                )
        if live is None and not declared:
            rows.append({"scope": scope.name, "name": None, "error": "not found (or not visible to this account)"})
    return rows


def _installed(root: Path, jit_file: str) -> bool:
    """Whether the runner folder beside a declared runner's JIT file has a runner installed."""
    from ..fleet.install import installed

    return installed((root / jit_file).with_suffix(""))


def print_table(rows: list[dict[str, Any]], *, no_color: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    tty = sys.stdout.isatty()
    console = Console(file=sys.stdout, width=None if tty else 200, no_color=not tty or no_color or bool(os.environ.get("NO_COLOR")), highlight=False, soft_wrap=False)
    if not rows:
        console.print("No runner scopes in this manifest (declare runners, or pass --all).")
        return
    table = Table(title="Self-hosted runners", title_justify="left")
    for col in ("scope", "name", "status", "busy", "labels", "group", "declared", "installed"):
        table.add_column(col, no_wrap=col in ("scope", "name"))
    for r in rows:
        if r.get("error"):
            table.add_row(r["scope"], "-", "error", "", r["error"], "", "", "")
            continue
        status = r["status"] or "-"
        busy = "-" if r["busy"] is None else ("busy" if r["busy"] else "idle")
        installed = "-" if r.get("installed") is None else ("yes" if r["installed"] else "no")
        table.add_row(r["scope"], r["name"], status, busy, ", ".join(r["labels"]), r["group"] or "", r["declared"], installed)
    console.print(table)
    missing = sum(1 for r in rows if r.get("declared") == "missing")
    extra = sum(1 for r in rows if r.get("declared") == "not declared")
    online = sum(1 for r in rows if r.get("status") == "online")
    bare = sum(1 for r in rows if r.get("installed") is False)
    note = f"; {bare} with no runner installed in its folder (gridctl runners install)" if bare else ""
    console.print(f"{online} online, {missing} declared but missing, {extra} present but not declared{note}")
