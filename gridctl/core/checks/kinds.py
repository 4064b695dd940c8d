"""Each resource kind's own plan-time checks (``Kind.plan_checks``): findings about its planned
changes that are not changes, such as a repository create that may hide an existing repository
the token cannot see."""

from __future__ import annotations

from typing import Any

from ...errors import Diagnostic


def check(env: Any, plan: Any) -> list[Diagnostic]:
    from ...resources import KINDS

    out: list[Diagnostic] = []
    for kind in KINDS.values():
        out.extend(kind.plan_checks(env, plan))
    return out
