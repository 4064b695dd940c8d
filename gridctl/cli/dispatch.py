"""`gridctl dispatch`: fire a dispatch template, or every ready one (``--ready``).

Exit codes: 0 fired (``--ready``: the pass ran, whatever it fired), 1 error (or a ``--wait``ed
run that did not succeed), 3 not fired because a condition does not hold (one template).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

#: exit code of `gridctl dispatch NAME` when a condition keeps the template from firing
NOT_FIRED = 3


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    from .common import ApiUrlOpt, FileOpt, SandboxOpt, StateDirOpt, err, run_command

    @app.command("dispatch")
    def dispatch(
        names: list[str] = typer.Argument(None, metavar="NAME", show_default=False, help="The template to fire (with --ready: limit the pass to these templates)."),
        inputs: list[str] = typer.Option(None, "--input", "-i", metavar="KEY=VALUE", help="Override an input: key=value (repeatable)."),
        when_idle: bool = typer.Option(False, "--when-idle", help="Fire only when the template's when_idle runners have an idle one."),
        ready: bool = typer.Option(False, "--ready", help="One pass: fire every template whose conditions hold (safe from cron)."),
        wait: bool = typer.Option(False, "--wait", help="Follow the run until it completes; exit 1 unless it succeeded."),
        timeout: float = typer.Option(3600.0, "--timeout", help="With --wait: give up after this many seconds (the run goes on)."),
        poll_interval: float = typer.Option(10.0, "--poll-interval", help="With --wait: seconds between checks of the run."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Validate and print what would be sent; send nothing."),
        file: Path = FileOpt,
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
        state_dir: Path = StateDirOpt,
    ) -> None:
        """Fire a workflow_dispatch template and print the run id and URL.

        Exit 0 when fired (with --ready: when the pass ran), 1 on errors or a failed --wait run,
        3 when a condition (when_idle, max_concurrent) keeps the template from firing.
        """
        from ..core.session import Options

        names = list(names or [])
        overrides_raw = list(inputs or [])
        options = Options(api_url=api_url, sandbox=sandbox, workdir=state_dir, check_tokens=False)

        def go() -> int:
            from ..fleet.dispatch import DispatchError, parse_overrides

            if ready:
                if overrides_raw or wait:
                    raise DispatchError("--ready fires templates as declared: it takes neither -i nor --wait")
                return _ready(file, options, names, dry_run)
            if len(names) != 1:
                raise DispatchError("name one dispatch template (or use --ready for every ready one)")
            return _one(file, options, names[0], parse_overrides(overrides_raw), when_idle, wait, timeout, poll_interval, dry_run)

        def _ready(file: Path, options: Options, only: list[str], dry_run: bool) -> int:
            from ..core.session import Session
            from ..fleet.dispatch import Dispatcher, find_template, pass_lock, ready_pass

            with Session.connect(file, options) as s:
                # each template once, however often it is named
                templates = [find_template(s.manifest, n) for n in dict.fromkeys(only)] if only else list(s.manifest.dispatch.values())
                with pass_lock(s.workdir) as acquired:
                    if not acquired:
                        err("gridctl: another `gridctl dispatch --ready` pass is running; this one fires nothing")
                        return 0
                    outcomes = ready_pass(Dispatcher(s.manifest, s.clients), templates, dry_run=dry_run)
            width = len("would fire") if dry_run else len("skipped")
            for o in outcomes:
                typer.echo(f"{o.status.ljust(width)} {o.template}: {o.detail}")
            fired = sum(1 for o in outcomes if o.status in ("fired", "would fire"))
            errors = sum(1 for o in outcomes if o.status == "error")
            verb = "would fire" if dry_run else "fired"
            err(f"gridctl: dispatch pass: {verb} {fired}, skipped {len(outcomes) - fired - errors}, errors {errors}")
            return 1 if errors else 0

        def _one(file: Path, options: Options, name: str, overrides: dict, when_idle: bool, wait: bool,
                 timeout: float, poll_interval: float, dry_run: bool) -> int:
            from ..core.session import Session
            from ..errors import Diagnostic, ManifestError
            from ..fleet.dispatch import (
                Dispatcher,
                DispatchError,
                RunTimeout,
                find_template,
                locate,
                wait_for_run,
            )

            with Session.connect(file, options) as s:
                m = s.manifest
                t = find_template(m, name)
                given = {**t.inputs, **overrides}
                d = Dispatcher(m, s.clients)
                if dry_run:
                    diags: list[Diagnostic] = []
                    for p in d.validate(t, given):
                        if p.input is not None and p.input in overrides:
                            diags.append(Diagnostic(p.severity, f"dispatch template {t.name}: {p.message} (from -i)", p.detail))
                        else:
                            diags.append(locate(m, t, p))
                    if any(x.severity == "error" for x in diags):
                        raise ManifestError(diags)
                    from .common import report_diagnostics

                    report_diagnostics(diags)
                if when_idle and not t.when_idle:
                    err(f"gridctl: template {t.name} has no when_idle condition; --when-idle does not hold it back")
                decision = d.decide(t, when_idle=when_idle)
                if not decision.fire:
                    typer.echo(f"skipped {t.name}: {decision.reason}")
                    return NOT_FIRED
                if dry_run:
                    from ..fleet.dispatch import _json

                    line, body = d.request(t, given)
                    typer.echo(f"would fire {t.name}: {line} {_json(body)}")
                    if decision.reason != "no condition":
                        err(f"gridctl: {decision.reason}")
                    return 0
                fired = d.fire(t, given, decision)
                if fired.run_id is None:
                    typer.echo(f"fired {t.name}: {fired.workflow} on {fired.ref} (GitHub did not return the run id)")
                    if wait:
                        raise DispatchError("cannot --wait: GitHub did not return the run id")
                    return 0
                typer.echo(f"fired {t.name}: run {fired.run_id} {fired.html_url}")
                err(f"gridctl: {fired.workflow} on {fired.ref} in {fired.repo}" + (f" with inputs {_inputs_text(fired.inputs)}" if fired.inputs else ""))
                if not wait:
                    return 0

                def on_status(status: str, conclusion: str | None) -> None:
                    err(f"gridctl: run {fired.run_id}: {status}" + (f" ({conclusion})" if conclusion else ""))

                try:
                    run = wait_for_run(s.clients[t.account], t.repo, fired.run_id, timeout=timeout, interval=poll_interval, on_status=on_status)
                except RunTimeout as exc:
                    err(f"gridctl: {exc}")
                    return 1
            from ..fleet.dispatch import OK_CONCLUSIONS

            conclusion = run.get("conclusion") or "unknown"
            typer.echo(f"run {fired.run_id} completed: {conclusion}")
            return 0 if conclusion in OK_CONCLUSIONS else 1

        code = run_command(go)
        sys.stdout.flush()
        raise typer.Exit(code or 0)


def _inputs_text(inputs: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(inputs.items()))
