"""``gridctl import``: write a manifest from one account's live state (see :mod:`gridctl.importer`)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    from .common import ApiUrlOpt, SandboxOpt, StateDirOpt, err, progress, run_command

    @app.command("import")
    def import_(
        account: str = typer.Option(..., "--account", "-a", help="The account id to import (its token: env GRID_TOKEN_<ID>, or its entry in -f)."),
        repos: list[str] = typer.Option(None, "--repos", "-r", metavar="<glob>", help="Only repositories whose name or owner/name matches this glob (repeatable)."),
        out: Path = typer.Option(Path("grid.yaml"), "--out", "-o", help="The manifest to write (key files go under keys/ next to it)."),
        existing: Path = typer.Option(None, "--file", "-f", help="An existing manifest: its entry for the account, and accounts of collaborators."),
        login: str = typer.Option(None, "--login", help="The account is this user (default: the token's user)."),
        org: str = typer.Option(None, "--org", help="The account is this organization (the token is an owner's)."),
        force: bool = typer.Option(False, "--force", help="Overwrite the output manifest (existing key files are always kept)."),
        parallelism: int = typer.Option(4, "--parallelism", min=1, max=32, help="Repositories read concurrently."),
        schema: str = typer.Option(None, "--schema", help="The $schema reference written on the first line (default: the path to gridctl's grid.schema.json)."),
        sandbox: bool = SandboxOpt,
        api_url: str = ApiUrlOpt,
        state_dir: Path = StateDirOpt,
    ) -> None:
        """Write a manifest (and key files) from what one account has on GitHub; reads only."""
        if login and org:
            err("gridctl: --login and --org exclude each other")
            raise typer.Exit(1)

        def go() -> None:
            from ..importer import ImportOptions, run_import

            result = run_import(
                ImportOptions(
                    account=account,
                    output=out,
                    repos=list(repos or []),
                    existing=existing,
                    login=login,
                    org=org,
                    sandbox=sandbox,
                    api_url=api_url,
                    state_dir=state_dir,
                    parallelism=parallelism,
                    force=force,
                    schema=schema,
                    progress=progress,
                )
            )
            for note in result.notes:
                err(f"gridctl: note: {note}")
            c = result.calls
            kind = "organization" if result.is_org else "user"
            typer.echo(f"Imported {result.repos} repositories of the {kind} {result.login} into {result.output}.")
            typer.echo(
                f"API requests: {c.total} ({c.connect} token check, {c.listing} repository list, "
                f"{c.repos} for the repositories = {c.per_repo:.1f} per repository, {c.account} account-level)."
            )
            if result.secrets:
                typer.echo(
                    f"{result.secrets} secret(s) need values: {len(result.placeholders_written)} placeholder file(s) written, "
                    f"{len(result.placeholders_kept)} existing kept (under keys/). Until they hold real values, "
                    "gridctl plan shows those secrets as updates and apply would write the placeholders."
                )
            typer.echo(f"Next: gridctl validate -f {result.output}; gridctl plan -f {result.output}")

        run_command(go)
