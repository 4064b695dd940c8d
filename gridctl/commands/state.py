"""``gridctl state ...`` beyond ``show`` (unlock, for shared backends) — to be implemented."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """State subcommands live on ``gridctl.cli.state_app``."""
