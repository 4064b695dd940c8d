"""What every command module shares: the common options, running a command with errors
rendered once as diagnostics (no traceback), confirmation, apply progress lines."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from ..errors import Diagnostic, GridctlError

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


def run_command(fn: Any) -> Any:
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


def session_options(sandbox: bool, api_url: str | None, state_dir: Path | None) -> Any:
    from ..core.session import Options

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
        from ..review.text import describe

        if self.bar is not None:
            if event == "start":
                self.bar.update(self.task, description=describe(change))
                return
            self.bar.advance(self.task)
            if event == "done":
                return
        on_change(event, change, detail)


def on_change(event: str, change: Any, detail: str) -> None:
    from ..review.text import describe

    if event == "done":
        err(f"  {change.action.symbol} {describe(change)}: done")
    elif event == "skipped":
        err(f"  {change.action.symbol} {describe(change)}: skipped ({detail})")
    elif event == "failed":
        err(f"  {change.action.symbol} {describe(change)}: FAILED: {detail}")
