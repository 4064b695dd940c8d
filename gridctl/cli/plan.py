"""``gridctl validate``, ``plan``, ``apply``, ``destroy`` and ``rollback``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from ..errors import GridctlError
from .common import (
    ApiUrlOpt,
    ApplyProgress,
    FileOpt,
    SandboxOpt,
    StateDirOpt,
    TargetOpt,
    confirm,
    err,
    in_actions,
    on_change,
    report_diagnostics,
    run_command,
    session_options,
    use_color,
)


def register(app: typer.Typer) -> None:
    for fn in (validate, plan, apply, destroy, rollback):
        app.command()(fn)




def validate(
    file: Path = FileOpt,
    sandbox: bool = SandboxOpt,
) -> None:
    """Check the manifest (schema, references, sources) without calling GitHub."""

    def go() -> None:
        from ..resources import load_manifest

        m = load_manifest(file, tokens=not sandbox)
        report_diagnostics(m.warnings)
        typer.echo(f"{file}: valid ({len(m.accounts)} account(s), {len(m.repos)} repository(ies))")

    run_command(go)


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

        from ..core.session import Session
        from ..review import render
        from ..review.markdown import render_markdown
        from ..review.pr import full_plan_pointer
        from ..state.local import write_private

        with Session.open(file, session_options(sandbox, api_url, state_dir), operation="plan") as s:
            p = s.plan(destroy=destroy, targets=target or [])
            diags = [*s.manifest.warnings, *p.diagnostics]
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
                from .comment import comment_after_plan

                comment_after_plan(s, p, diags, pr=comment_pr, repo=comment_repo, account=comment_account, token_env=comment_token_env,
                                   manifest_file=file, plan_file=out, api_url_opt=api_url)
        return 2 if (detailed_exitcode and p.has_changes) else 0

    code = run_command(go)
    raise typer.Exit(code or 0)


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

    run_command(go)


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

    run_command(go)


def _apply(plan_file: Path | None, file: Path, auto_approve: bool, force: bool, targets: list[str], expect: str | None,
           sandbox: bool, api_url: str | None, state_dir: Path | None, *, destroy: bool) -> None:
    from ..core.session import Session
    from ..plan import Plan
    from ..review import render

    saved = None
    if plan_file is not None:
        try:
            saved = Plan.from_json(json.loads(plan_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GridctlError(f"{plan_file}: not a gridctl plan ({exc})") from None
        if saved.manifest_file and file == Path("grid.yaml") and not Path("grid.yaml").exists():
            file = Path(saved.manifest_file)
    with Session.open(file, session_options(sandbox, api_url, state_dir), operation="destroy" if destroy else "apply") as s:
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
            from ..errors import UnsafePlanError

            raise UnsafePlanError(p.unsafe)
        if not confirm("Apply these changes?", auto_approve):
            err("gridctl: apply cancelled")
            raise typer.Exit(1)
        with ApplyProgress(len(p.changes)) as progress_sink:
            report = s.apply(p, force=force, stale_check=saved is not None, on_change=progress_sink)
        stats = s.stats()
        calls = sum(v.get("requests", 0) for v in stats.values())
        err(f"gridctl: applied {len(report.applied)} change(s) in run {report.run_id} ({calls} API requests)")


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
        from ..core.rollback import rollback_plan
        from ..core.session import Session
        from ..review import render

        with Session.open(file, session_options(sandbox, api_url, state_dir), operation="rollback") as s:
            p, skipped = rollback_plan(s.workdir, run_id, s.manifest)
            sys.stdout.write(render(p, "text", color=use_color()))
            for note in skipped:
                err(f"gridctl: cannot roll back {note}")
            if not p.has_changes:
                return
            if p.unsafe and not force:
                from ..errors import UnsafePlanError

                raise UnsafePlanError(p.unsafe)
            if not confirm("Roll back these changes?", auto_approve):
                err("gridctl: rollback cancelled")
                raise typer.Exit(1)
            report = s.apply(p, force=force, stale_check=True, on_change=on_change)
            err(f"gridctl: rolled back {len(report.applied)} change(s) in run {report.run_id}")

    run_command(go)
