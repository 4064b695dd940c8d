"""gridctl's command line: parse, call the library, render diagnostics once, exit 0/1/2."""

from __future__ import annotations

import typer

from .sandbox.cli import app as sandbox_app

app = typer.Typer(
    name="gridctl",
    help="Declarative plan/apply for fleets of GitHub accounts, repositories and Actions runners.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(sandbox_app, name="sandbox")


def main() -> None:
    app()
