"""Alembic's entry point, run by :func:`gridctl.serve.store.migrate` on a connection it opened
(never from a command line with an ``alembic.ini``: the URL is the controller's own)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
