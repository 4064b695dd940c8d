"""``gridctl validate``, ``plan``, ``show``, ``apply``, ``destroy`` and ``rollback``.

A saved plan is the approval: ``gridctl apply PLAN_FILE`` applies it without asking (it still
re-reads every target and refuses a stale plan, and an unsafe one without ``--force``) and prints
one summary line instead of the plan that was just reviewed. ``apply`` without a plan file
computes a plan, prints it whole and asks (``--auto-approve`` does not ask).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from ..errors import GridctlError
from ..plan import Plan
from .common import (
    ApiUrlOpt,
    ApplyProgress,
    FileOpt,
    NoColorOpt,
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
    for fn in (validate, plan, show, apply, destroy, rollback):
        app.command()(fn)



def validate(
    file: Path = FileOpt,
    sandbox: bool = SandboxOpt,
    check_sources: bool = typer.Option(False, "--check-sources", help="Also read token sources and the key and secret sources that are environment variables or commands (an unavailable one is an error)."),
) -> None:
    """Check the manifest (schema, references, includes, file sources, dispatch templates against
    declared workflows) without calling GitHub and without any secret."""

    def go() -> None:
        from ..manifest.yamlpos import gc_paused

        # no cyclic collection while the kinds are imported and the manifest is loaded and
        # checked: all of it lives until the command ends (and the manifest, some 10^6 objects for
        # 1,000 repositories, is freed before the collector is back on)
        with gc_paused():
            from ..core.validate import validate_manifest

            m = validate_manifest(file, check_sources=check_sources, sandbox=sandbox)
            report_diagnostics(m.warnings)
            typer.echo(f"{file}: valid ({len(m.accounts)} account(s), {len(m.repos)} repository(ies))")
            del m

    run_command(go)


def plan(
    file: Path = FileOpt,
    out: Path = typer.Option(None, "--out", "-o", help="Save the plan (JSON) for `gridctl apply PLAN_FILE`."),
    fmt: str = typer.Option("text", "--format", metavar="<text|markdown|json>", help="How to print the plan."),
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
    no_color: bool = NoColorOpt,
    explain: str = typer.Option(
        None, "--explain", metavar="ADDRESS",
        help="Instead of the plan, print where each value of the resource at ADDRESS comes from: defaults.repo, a repository group (repo_groups) or the repository entry, with file:line.",
    ),
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
            if explain is not None:
                from ..core.explain import explain as explain_address
                from ..core.explain import render_explained

                report_diagnostics(s.manifest.warnings)
                explained = explain_address(s.env(), explain)
                s.tokens_checked()  # a refused token fails the command before it prints
                sys.stdout.write(render_explained(explained, "json" if fmt == "json" else "text"))
                return 0
            p = s.plan(destroy=destroy, targets=target or [])
            diags = [*s.manifest.warnings, *p.diagnostics]
            report_diagnostics(diags)
            pointer = full_plan_pointer(out)
            if fmt == "markdown":
                sys.stdout.write(render_markdown(p, diagnostics=diags, full_plan=pointer))
            else:
                sys.stdout.write(render(p, fmt, color=use_color(no_color=no_color) and fmt == "text"))
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


def show(
    plan_file: Path = typer.Argument(..., metavar="PLAN_FILE", help="A plan saved by `gridctl plan --out`."),
    fmt: str = typer.Option("text", "--format", metavar="<text|markdown|json>", help="How to print the plan."),
    no_color: bool = NoColorOpt,
) -> None:
    """Print a saved plan; reads neither GitHub nor the manifest (no token needed)."""
    if fmt not in ("text", "markdown", "json"):
        err(f"gridctl: unknown format {fmt!r} (text, markdown or json)")
        raise typer.Exit(1)

    def go() -> None:
        from ..review import render
        from ..review.markdown import render_markdown
        from ..review.pr import full_plan_pointer
        from .comment import load_saved

        p, diags = load_saved(plan_file)
        report_diagnostics(diags)
        if fmt == "markdown":
            sys.stdout.write(render_markdown(p, diagnostics=diags, full_plan=full_plan_pointer(plan_file)))
        else:
            sys.stdout.write(render(p, fmt, color=use_color(no_color=no_color) and fmt == "text"))

    run_command(go)


def apply(
    plan_file: Path = typer.Argument(
        None, metavar="PLAN_FILE", help="A plan saved by `gridctl plan --out`: applied without asking (default: plan the manifest now)."
    ),
    file: Path = FileOpt,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation (a saved plan never asks)."),
    force: bool = typer.Option(False, "--force", help="Accept changes the safety checks refuse."),
    target: list[str] = TargetOpt,
    expect_plan_id: str = typer.Option(None, "--plan-id", help="Refuse unless the computed plan has this id (the reviewed one)."),
    sandbox: bool = SandboxOpt,
    api_url: str = ApiUrlOpt,
    state_dir: Path = StateDirOpt,
    no_color: bool = NoColorOpt,
) -> None:
    """Make GitHub match the manifest (or apply a saved plan, re-checking every target)."""

    def go() -> None:
        _apply(plan_file, file, auto_approve, force, target or [], expect_plan_id, sandbox, api_url, state_dir,
               destroy=False, no_color=no_color)

    run_command(go)


def destroy(
    file: Path = FileOpt,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
    force: bool = typer.Option(False, "--force", help="Accept changes the safety checks refuse (e.g. many deletes at once)."),
    target: list[str] = TargetOpt,
    sandbox: bool = SandboxOpt,
    api_url: str = ApiUrlOpt,
    state_dir: Path = StateDirOpt,
    no_color: bool = NoColorOpt,
) -> None:
    """Remove what gridctl manages (repositories are archived unless lifecycle says delete)."""

    def go() -> None:
        _apply(None, file, auto_approve, force, target or [], None, sandbox, api_url, state_dir, destroy=True, no_color=no_color)

    run_command(go)


def _saved_summary(p: Plan, plan_file: Path) -> str:
    """The one line ``apply PLAN_FILE`` prints instead of the plan that was just reviewed."""
    what = "destroy plan" if p.destroy else "plan"
    if not p.has_changes:
        return f"Saved {what} {p.plan_id[:12]} ({plan_file}): no changes.\n"
    c = p.counts()
    return (
        f"Applying the saved {what} {p.plan_id[:12]} ({plan_file}): {c['create']} to create, {c['update']} to update, "
        f"{c['replace']} to replace, {c['delete']} to delete.\n"
    )


def _apply(plan_file: Path | None, file: Path, auto_approve: bool, force: bool, targets: list[str], expect: str | None,
           sandbox: bool, api_url: str | None, state_dir: Path | None, *, destroy: bool, no_color: bool = False) -> None:
    from ..core.session import Session
    from ..review import render
    from .comment import load_saved

    saved = None
    if plan_file is not None:
        saved, _ = load_saved(plan_file)
        if expect and saved.plan_id != expect:
            raise GridctlError(f"{plan_file} holds plan {saved.plan_id}, not the reviewed plan ({expect})")
        if saved.manifest_file and file == Path("grid.yaml") and not Path("grid.yaml").exists():
            file = Path(saved.manifest_file)
    with Session.open(file, session_options(sandbox, api_url, state_dir), operation="destroy" if destroy else "apply") as s:
        if saved is not None:
            if saved.manifest_sha256 != s.manifest.sha256:
                raise GridctlError(f"the manifest {file} changed since the plan was made; plan again")
            p = saved
            # reviewed already: one line, not the whole plan again
            sys.stdout.write(_saved_summary(p, plan_file or Path()))
        else:
            p = s.plan(destroy=destroy, targets=targets)
            if expect and p.plan_id != expect:
                raise GridctlError(f"the plan computed now ({p.plan_id}) is not the reviewed plan ({expect}); GitHub or the manifest changed — plan and review again")
            sys.stdout.write(render(p, "text", color=use_color(no_color=no_color)))
        if not p.has_changes:
            s.apply(p, force=force)  # records adoption and forgets, no writes
            return
        if p.unsafe and not force:
            from ..errors import UnsafePlanError

            raise UnsafePlanError(p.unsafe)
        # a saved plan is the approval (it was reviewed; the stale check below guards it)
        if saved is None and not confirm("Apply these changes?", auto_approve):
            err("gridctl: apply cancelled")
            raise typer.Exit(1)
        with ApplyProgress(len(p.changes), no_color=no_color) as progress_sink:
            report = s.apply(p, force=force, stale_check=saved is not None, on_change=progress_sink)
        stats = s.stats()
        calls = sum(v.get("requests", 0) for v in stats.values())
        err(f"gridctl: applied {len(report.applied)} change(s) in run {report.run_id} ({calls} API requests)")


def rollback(
    run_id: str = typer.Argument(None, metavar="RUN_ID", help="The run to undo, or a prefix of its id (default: the last one)."),
    file: Path = FileOpt,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
    force: bool = typer.Option(False, "--force", help="Accept changes the safety checks refuse."),
    sandbox: bool = SandboxOpt,
    api_url: str = ApiUrlOpt,
    state_dir: Path = StateDirOpt,
    no_color: bool = NoColorOpt,
) -> None:
    """Build the plan that undoes a run's reversible changes, show it, apply it on confirmation."""

    def go() -> None:
        from ..core.rollback import rollback_plan
        from ..core.session import Session
        from ..review import render

        with Session.open(file, session_options(sandbox, api_url, state_dir), operation="rollback") as s:
            p, skipped = rollback_plan(s.workdir, run_id, s.manifest)
            sys.stdout.write(render(p, "text", color=use_color(no_color=no_color)))
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
