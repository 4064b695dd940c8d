"""gridctl's command line: parse, call the library, render diagnostics once, exit 0/1/2.

Exit codes: 0 success (and, with ``--detailed-exitcode``, no changes), 1 error, 2 changes
present (``plan --detailed-exitcode``). Errors print as ``file:line:col: error: ...`` on
stderr without a traceback (``GRIDCTL_DEBUG=1`` shows one for unexpected errors).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from .errors import Diagnostic, GridctlError
from .sandbox.cli import app as sandbox_app

app = typer.Typer(
    name="gridctl",
    help="Declarative plan/apply for fleets of GitHub accounts, repositories and Actions runners.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(sandbox_app, name="sandbox")
state_app = typer.Typer(help="Inspect and manage gridctl's state.", no_args_is_help=True)
app.add_typer(state_app, name="state")

FileOpt = typer.Option(Path("grid.yaml"), "--file", "-f", help="The manifest.")
SandboxOpt = typer.Option(False, "--sandbox", help="Run against the embedded sandbox in .gridctl/sandbox/ (no token needed).")
ApiUrlOpt = typer.Option(None, "--api-url", envvar="GRIDCTL_API_URL", help="GitHub API base URL (default https://api.github.com).")
TargetOpt = typer.Option(None, "--target", "-t", help="Only this address, repository or kind (repeatable).")
StateDirOpt = typer.Option(None, "--state-dir", help="Working folder for state, journal and caches (default .gridctl next to the manifest).")


# -- output helpers -----------------------------------------------------------------------------


def err(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


def use_color(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _gh_escape(text: str, *, prop: bool = False) -> str:
    """Escape a workflow-command value (GitHub Actions' toolkit rules)."""
    out = str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return out.replace(":", "%3A").replace(",", "%2C") if prop else out


def _annotation_file(file: str) -> str:
    """A diagnostic's file relative to the repository root ($GITHUB_WORKSPACE), as GitHub
    needs it to place the annotation on the pull request's diff."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if not workspace:
        return file
    try:
        return Path(file).resolve().relative_to(Path(workspace).resolve()).as_posix()
    except (ValueError, OSError):
        return file


def annotation(d: Diagnostic) -> str:
    """``::error file=..,line=..,col=..::message`` for one diagnostic."""
    kind = "error" if d.severity == "error" else "warning"
    props = []
    if d.file:
        props.append(f"file={_gh_escape(_annotation_file(d.file), prop=True)}")
        if d.line:
            props.append(f"line={d.line}")
            if d.col:
                props.append(f"col={d.col}")
    message = d.summary + (f"\n{d.detail}" if d.detail else "")
    return f"::{kind}{' ' if props else ''}{','.join(props)}::{_gh_escape(message)}"


def report_diagnostics(diags: list[Diagnostic]) -> None:
    for d in diags:
        err(d.render())
        if in_actions():
            err(annotation(d))


def fail(exc: GridctlError) -> None:
    report_diagnostics(exc.diagnostics())
    raise typer.Exit(exc.exit_code)


def progress(event: str, detail: str) -> None:
    if event == "read":
        return
    err(f"gridctl: {event}: {detail}")


def _run(fn: Any) -> Any:
    try:
        return fn()
    except GridctlError as exc:
        fail(exc)
    except KeyboardInterrupt:
        err("gridctl: interrupted; the journal records what was done (gridctl rollback can undo it)")
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as exc:  # an internal error: no traceback unless asked for
        if os.environ.get("GRIDCTL_DEBUG"):
            raise
        err(f"gridctl: internal error: {exc.__class__.__name__} (set GRIDCTL_DEBUG=1 for details)")
        raise typer.Exit(1) from None


def _options(sandbox: bool, api_url: str | None, state_dir: Path | None) -> Any:
    from .session import Options

    return Options(api_url=api_url, sandbox=sandbox, workdir=state_dir, progress=progress, check_tokens=not sandbox)


def confirm(question: str, auto_approve: bool) -> bool:
    if auto_approve:
        return True
    if not sys.stdin.isatty():
        raise GridctlError("refusing to change GitHub without confirmation in a non-interactive run; pass --auto-approve")
    answer = input(f"{question} Only 'yes' will be accepted: ")
    return answer.strip() == "yes"


class ApplyProgress:
    """Progress of an apply: a bar on an interactive terminal, one plain line per change
    otherwise (CI logs, pipes). Failures and skips are always printed as lines."""

    def __init__(self, total: int):
        self.total = total
        self.bar: Any = None
        interactive = sys.stderr.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"
        if interactive and total > 1:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"),
                console=Console(stderr=True, no_color="NO_COLOR" in os.environ), transient=True,
            )
            self.task = self.bar.add_task("", total=total)

    def __enter__(self) -> ApplyProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, event: str, change: Any, detail: str) -> None:
        from .render.text import describe

        if self.bar is not None:
            if event == "start":
                self.bar.update(self.task, description=describe(change))
                return
            self.bar.advance(self.task)
            if event == "done":
                return
        on_change(event, change, detail)


def on_change(event: str, change: Any, detail: str) -> None:
    from .render.text import describe

    if event == "done":
        err(f"  {change.action.symbol} {describe(change)}: done")
    elif event == "skipped":
        err(f"  {change.action.symbol} {describe(change)}: skipped ({detail})")
    elif event == "failed":
        err(f"  {change.action.symbol} {describe(change)}: FAILED: {detail}")


# -- commands -------------------------------------------------------------------------------------


@app.command()
def validate(
    file: Path = FileOpt,
    sandbox: bool = SandboxOpt,
) -> None:
    """Check the manifest (schema, references, sources) without calling GitHub."""

    def go() -> None:
        from .manifest.load import load_manifest

        m = load_manifest(file, tokens=not sandbox)
        report_diagnostics(getattr(m, "warnings", []))
        typer.echo(f"{file}: valid ({len(m.accounts)} account(s), {len(m.repos)} repository(ies))")

    _run(go)


@app.command()
def plan(
    file: Path = FileOpt,
    out: Path = typer.Option(None, "--out", "-o", help="Save the plan (JSON) for `gridctl apply PLAN_FILE`."),
    fmt: str = typer.Option("text", "--format", help="text | markdown | json"),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="Exit 0 for no changes, 2 for changes, 1 for errors."),
    target: list[str] = TargetOpt,
    destroy: bool = typer.Option(False, "--destroy", help="Plan destroying what the manifest manages."),
    sandbox: bool = SandboxOpt,
    api_url: str = ApiUrlOpt,
    state_dir: Path = StateDirOpt,
    comment_pr: int = typer.Option(None, "--comment-pr", help="Also post the plan on this pull request (one sticky comment, labels)."),
    comment_repo: str = typer.Option(None, "--comment-repo", help="OWNER/NAME of that pull request (default $GITHUB_REPOSITORY)."),
    comment_account: str = typer.Option(None, "--comment-account", help="Post as this manifest account (default: the one managing that repository)."),
    comment_token_env: str = typer.Option(None, "--comment-token-env", help="Post with the token in this environment variable (e.g. GITHUB_TOKEN)."),
) -> None:
    """Read GitHub, diff it against the manifest, print the plan."""
    if fmt not in ("text", "markdown", "json"):
        err(f"gridctl: unknown format {fmt!r} (text, markdown or json)")
        raise typer.Exit(1)

    def go() -> int:
        from dataclasses import asdict

        from .pr import full_plan_pointer
        from .render import render
        from .render.markdown import render_markdown
        from .session import Session
        from .state import write_private

        with Session.open(file, _options(sandbox, api_url, state_dir), operation="plan") as s:
            p = s.plan(destroy=destroy, targets=target or [])
            diags = [*getattr(s.manifest, "warnings", []), *getattr(p, "diagnostics", [])]
            report_diagnostics(diags)
            pointer = full_plan_pointer(out)
            if fmt == "markdown":
                sys.stdout.write(render_markdown(p, diagnostics=diags, full_plan=pointer))
            else:
                sys.stdout.write(render(p, fmt, color=use_color() and fmt == "text"))
            if out:
                saved = {**p.to_json(), "diagnostics": [asdict(d) for d in diags]}
                write_private(out, json.dumps(saved, indent=2, sort_keys=True, default=str) + "\n")
                err(f"gridctl: plan {p.plan_id} saved to {out}")
            if in_actions() and os.environ.get("GITHUB_STEP_SUMMARY"):
                with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as fh:
                    fh.write(render_markdown(p, diagnostics=diags, full_plan=pointer) + "\n")
            if comment_pr is not None or comment_repo or comment_token_env:
                from .commands.comment import comment_after_plan

                comment_after_plan(s, p, diags, pr=comment_pr, repo=comment_repo, account=comment_account, token_env=comment_token_env,
                                   manifest_file=file, plan_file=out, api_url_opt=api_url)
        return 2 if (detailed_exitcode and p.has_changes) else 0

    code = _run(go)
    raise typer.Exit(code or 0)


@app.command()
def apply(
    plan_file: Path = typer.Argument(None, help="A plan saved by `gridctl plan --out` (default: plan the manifest now)."),
    file: Path = FileOpt,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
    force: bool = typer.Option(False, "--force", help="Accept changes the safety checks refuse."),
    target: list[str] = TargetOpt,
    expect_plan_id: str = typer.Option(None, "--plan-id", help="Refuse unless the computed plan has this id (the reviewed one)."),
    sandbox: bool = SandboxOpt,
    api_url: str = ApiUrlOpt,
    state_dir: Path = StateDirOpt,
) -> None:
    """Make GitHub match the manifest (or apply a saved plan, re-checking every target)."""

    def go() -> None:
        _apply(plan_file, file, auto_approve, force, target or [], expect_plan_id, sandbox, api_url, state_dir, destroy=False)

    _run(go)


@app.command()
def destroy(
    file: Path = FileOpt,
    auto_approve: bool = typer.Option(False, "--auto-approve"),
    force: bool = typer.Option(False, "--force"),
    target: list[str] = TargetOpt,
    sandbox: bool = SandboxOpt,
    api_url: str = ApiUrlOpt,
    state_dir: Path = StateDirOpt,
) -> None:
    """Remove what gridctl manages (repositories are archived unless lifecycle says delete)."""

    def go() -> None:
        _apply(None, file, auto_approve, force, target or [], None, sandbox, api_url, state_dir, destroy=True)

    _run(go)


def _apply(plan_file: Path | None, file: Path, auto_approve: bool, force: bool, targets: list[str], expect: str | None,
           sandbox: bool, api_url: str | None, state_dir: Path | None, *, destroy: bool) -> None:
    from .plan import Plan
    from .render import render
    from .session import Session

    saved = None
    if plan_file is not None:
        try:
            saved = Plan.from_json(json.loads(plan_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GridctlError(f"{plan_file}: not a gridctl plan ({exc})") from None
        if saved.manifest_file and file == Path("grid.yaml") and not Path("grid.yaml").exists():
            file = Path(saved.manifest_file)
    with Session.open(file, _options(sandbox, api_url, state_dir), operation="destroy" if destroy else "apply") as s:
        if saved is not None:
            if saved.manifest_sha256 != s.manifest.sha256:
                raise GridctlError(f"the manifest {file} changed since the plan was made; plan again")
            p = saved
        else:
            p = s.plan(destroy=destroy, targets=targets)
            if expect and p.plan_id != expect:
                raise GridctlError(f"the plan computed now ({p.plan_id}) is not the reviewed plan ({expect}); GitHub or the manifest changed — plan and review again")
        sys.stdout.write(render(p, "text", color=use_color()))
        if not p.has_changes:
            s.apply(p, force=force)  # records adoption and forgets, no writes
            return
        if p.unsafe and not force:
            from .errors import UnsafePlanError

            raise UnsafePlanError(p.unsafe)
        if not confirm("Apply these changes?", auto_approve):
            err("gridctl: apply cancelled")
            raise typer.Exit(1)
        with ApplyProgress(len(p.changes)) as progress_sink:
            report = s.apply(p, force=force, stale_check=saved is not None, on_change=progress_sink)
        stats = s.stats()
        calls = sum(v.get("requests", 0) for v in stats.values())
        err(f"gridctl: applied {len(report.applied)} change(s) in run {report.run_id} ({calls} API requests)")


@app.command()
def rollback(
    run_id: str = typer.Argument(None, help="The run to undo (default: the last one)."),
    file: Path = FileOpt,
    auto_approve: bool = typer.Option(False, "--auto-approve"),
    force: bool = typer.Option(False, "--force"),
    sandbox: bool = SandboxOpt,
    api_url: str = ApiUrlOpt,
    state_dir: Path = StateDirOpt,
) -> None:
    """Build the plan that undoes a run's reversible changes, show it, apply it on confirmation."""

    def go() -> None:
        from .render import render
        from .rollback import rollback_plan
        from .session import Session

        with Session.open(file, _options(sandbox, api_url, state_dir), operation="rollback") as s:
            p, skipped = rollback_plan(s.workdir, run_id, s.manifest)
            sys.stdout.write(render(p, "text", color=use_color()))
            for note in skipped:
                err(f"gridctl: cannot roll back {note}")
            if not p.has_changes:
                return
            if p.unsafe and not force:
                from .errors import UnsafePlanError

                raise UnsafePlanError(p.unsafe)
            if not confirm("Roll back these changes?", auto_approve):
                err("gridctl: rollback cancelled")
                raise typer.Exit(1)
            report = s.apply(p, force=force, stale_check=True, on_change=on_change)
            err(f"gridctl: rolled back {len(report.applied)} change(s) in run {report.run_id}")

    _run(go)


def _register_commands() -> None:
    import importlib

    from .commands import MODULES

    for name in MODULES:
        module = importlib.import_module(f"{__package__}.commands.{name}")
        module.register(app)


_register_commands()


def main() -> None:
    import signal

    def terminate(signum: int, frame: Any) -> None:
        # a cancelled CI job sends SIGTERM: unwind like Ctrl-C so locks are released and the
        # journal and state are written
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    app()


if __name__ == "__main__":
    main()
