"""Plan-time checks: validations that need live GitHub but are not changes (e.g. dispatch
templates against their workflow files). Each module in ``MODULES`` exports
``check(env, plan) -> list[Diagnostic]``; errors make ``gridctl plan`` exit 1 with the
diagnostics pointing at the manifest lines, warnings are printed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ...errors import Diagnostic

MODULES: tuple[str, ...] = ("dispatch", "kinds")


def run_checks(env: Any, plan: Any) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        fn: Callable[[Any, Any], list[Diagnostic]] | None = getattr(module, "check", None)
        if fn is not None:
            out.extend(fn(env, plan))
    return out
