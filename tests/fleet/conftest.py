"""Fleet tests run gridctl against the strict sandbox of tests/core (the ``grid`` fixture)."""

from __future__ import annotations

from tests.core.conftest import grid  # noqa: F401  (the fixture, shared)
