"""What every command module shares: the common options, running a command with errors
rendered once as diagnostics (no traceback), confirmation, apply progress lines."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import typer
from typer.core import TyperGroup

from ..errors import Diagnostic, GridctlError
from ..util.text import printable

FileOpt = typer.Option(Path("grid.yaml"), "--file", "-f", help="The manifest.")
SandboxOpt = typer.Option(False, "--sandbox", help="Run against the embedded sandbox in .gridctl/sandbox/ (no token needed).")
ApiUrlOpt = typer.Option(None, "--api-url", envvar="GRIDCTL_API_URL", help="GitHub API base URL (default https://api.github.com).")
TargetOpt = typer.Option(None, "--target", "-t", metavar="<address>", help="Only this address, repository or kind (repeatable).")
StateDirOpt = typer.Option(None, "--state-dir", help="Working folder for state, journal and caches (default .gridctl next to the manifest).")
NoColorOpt = typer.Option(False, "--no-color", help="Plain output without colours (as when NO_COLOR is set).")


# -- output helpers -----------------------------------------------------------------------------


def err(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


def use_color(stream: Any = None, *, no_color: bool = False) -> bool:
    """Colours only on a terminal, and never with ``--no-color`` or a non-empty ``NO_COLOR``
    (https://no-color.org: "when present and not an empty string")."""
    stream = stream or sys.stdout
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return hasattr(stream, "isatty") and stream.isatty()


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
    message = printable(d.summary + (f"\n{d.detail}" if d.detail else ""), newlines=True)
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

    def __init__(self, total: int, *, no_color: bool = False):
        self.total = total
        self.bar: Any = None
        interactive = sys.stderr.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"
        if interactive and total > 1:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"),
                console=Console(stderr=True, no_color=no_color or bool(os.environ.get("NO_COLOR"))), transient=True,
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


# -- usage errors and exit codes ------------------------------------------------------------------

EXIT_CODES = """\b
Exit codes:
  0    success (with --detailed-exitcode: no changes)
  1    an error, usage errors included (an unknown option, a missing argument)
  2    changes present (plan --detailed-exitcode)
  3    dispatch: a condition kept the template from firing
  130  interrupted"""


def _usage_error() -> type[typer.BadParameter]:
    """click's ``UsageError`` as typer uses it (newer typers vendor their own click; the
    ``BadParameter`` typer exports is a ``UsageError`` either way). Typed as its subclass
    ``BadParameter``, whose ``exit_code`` it declares."""
    for klass in typer.BadParameter.__mro__:
        if klass.__name__ == "UsageError":
            return cast("type[typer.BadParameter]", klass)
    return typer.BadParameter


class RootGroup(TyperGroup):
    """The ``gridctl`` command: a usage error (unknown option, missing argument, bad value) exits
    1 like every other error, as Terraform's do — click's 2 is what ``plan --detailed-exitcode``
    means by "changes present", so a typo in CI must not read as a pending change."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with _usage_exits_1():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _usage_exits_1():
            return super().invoke(ctx)


@contextlib.contextmanager
def _usage_exits_1() -> Iterator[None]:
    try:
        yield
    except _usage_error() as exc:
        exc.exit_code = 1
        raise
