"""The registry of resource kinds: one module per kind, one line each here.

Order in this table does not matter (``Kind.order`` decides dependency order); names must be
unique — :func:`register` refuses a duplicate.
"""

from __future__ import annotations

from .base import Kind
from .repository import Repository, Topics
from .variable import Variable

KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    if kind.name in KINDS:
        raise ValueError(f"resource kind {kind.name!r} registered twice")
    KINDS[kind.name] = kind


for _kind in (
    Repository(),
    Topics(),
    Variable(),
):
    register(_kind)
