"""``gridctl sandbox ...`` (to be implemented)."""

import typer

app = typer.Typer(help="Run and manage the GitHub API sandbox.", no_args_is_help=True)
