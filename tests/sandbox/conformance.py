"""Table-driven conformance cases: one request, its expected status, and (by strict mode) a
check of the response against GitHub's OpenAPI description.

Each module in ``tests/sandbox/cases/`` exports ``CASES: list[Case]``. Every operation the
sandbox implements must have at least one success case and one error case
(``test_conformance.py::test_every_operation_has_success_and_error_cases``).

Paths and bodies may use ``{placeholders}`` filled from the dict the case's ``setup`` returns
(``setup(seed) -> dict``); ``setup`` runs with the standard seed world (see conftest.py).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    op: str
    status: int
    method: str
    path: str
    body: Any = None
    login: str | None = "alice"
    setup: Callable[[Any], dict] | None = None
    #: a raw request body (bytes), sent instead of ``body`` (for unparsable JSON)
    raw: bytes | None = None
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.op}-{self.status}{('-' + self.note) if self.note else ''}"


def fill(value: Any, vars: dict) -> Any:
    if isinstance(value, str):
        try:
            return value.format(**vars)
        except (KeyError, IndexError):
            return value
    if isinstance(value, list):
        return [fill(v, vars) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, vars) for k, v in value.items()}
    return value


def fill_body(body: Any, vars: dict) -> Any:
    """Like :func:`fill`, but a string that is exactly ``"{name}"`` takes the variable's own type."""
    if isinstance(body, str) and body.startswith("{") and body.endswith("}") and body[1:-1] in vars:
        return vars[body[1:-1]]
    if isinstance(body, list):
        return [fill_body(v, vars) for v in body]
    if isinstance(body, dict):
        return {k: fill_body(v, vars) for k, v in body.items()}
    return fill(body, vars)


def all_cases() -> list[Case]:
    from . import cases

    out: list[Case] = []
    for mod in pkgutil.iter_modules(cases.__path__):
        module = importlib.import_module(f"{cases.__name__}.{mod.name}")
        out.extend(getattr(module, "CASES", []))
    return out


def run_case(seed: Any, case: Case) -> Any:
    vars = case.setup(seed) if case.setup else {}
    vars = vars or {}
    path = fill(case.path, vars)
    session = seed.api(case.login)
    if case.raw is not None:
        resp = session.request(case.method, seed.url + path, data=case.raw, headers={"Content-Type": "application/json"},
                               allow_redirects=False)
    elif case.body is not None:
        resp = session.request(case.method, seed.url + path, data=json.dumps(fill_body(case.body, vars)),
                               headers={"Content-Type": "application/json"}, allow_redirects=False)
    else:
        # a redirect is the answer under test, not a hop to follow
        resp = session.request(case.method, seed.url + path, allow_redirects=False)
    return resp
