"""Every implemented operation: one success and one error response, each validated against
GitHub's OpenAPI description by the strict sandbox."""

from __future__ import annotations

import pytest

import gridctl.sandbox.app  # noqa: F401  (registers routes)
from gridctl.sandbox.routing import ROUTES

from .conformance import all_cases, run_case
from .conftest import make_seed

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(sb, case):
    seed = make_seed(sb)
    resp = run_case(seed, case)
    assert resp.status_code == case.status, f"{case.method} {case.path}: {resp.status_code} {resp.text[:500]}"
    assert sb.app.validated[(case.op, case.status)] >= 1, f"{case.op} {case.status} was not validated"
    if case.status >= 400:
        body = resp.json()
        assert set(body) >= {"message", "documentation_url"}


def test_every_operation_has_success_and_error_cases(capsys):
    ops = {r.op_id for r in ROUTES}
    ok = {c.op for c in CASES if c.status < 400}
    err = {c.op for c in CASES if c.status >= 400}
    missing_ok = sorted(ops - ok)
    missing_err = sorted(ops - err)
    unknown = sorted({c.op for c in CASES} - ops)
    with capsys.disabled():
        print(f"\nconformance cases: {len(CASES)} over {len(ops)} implemented operations "
              f"({len(ops & ok)} with a success case, {len(ops & err)} with an error case)")
    assert not unknown, f"cases for operations that are not routed: {unknown}"
    assert not missing_ok, f"operations without a success case: {missing_ok}"
    assert not missing_err, f"operations without an error case: {missing_err}"
