"""Dispatch templates checked against their workflows at plan time (to be implemented)."""

from __future__ import annotations

from typing import Any

from ..errors import Diagnostic


def check(env: Any, plan: Any) -> list[Diagnostic]:
    return []
