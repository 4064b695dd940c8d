"""Alembic migrations of the controller's database (applied by :func:`gridctl.serve.store.migrate`)."""
