"""Subcommands beyond plan/apply/destroy/rollback, one module each, registered in cli.py.

Each module exposes ``register(app: typer.Typer) -> None`` and may use the helpers in
``gridctl.cli`` (``_run``, ``_options``, ``err``, ``report_diagnostics``...).
"""

MODULES = ("runners", "dispatch", "queue", "comment", "imports", "state")
