"""Project-wide test configuration."""

from __future__ import annotations

import os
from collections import Counter

import pytest

# Tests must never reach a real GitHub: point every default at nothing routable.
os.environ.setdefault("GRIDCTL_API_URL", "http://127.0.0.1:9")
os.environ.pop("GITHUB_TOKEN", None)

@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server's admin URL (see tests/pgserver.py); never skipped."""
    from tests.pgserver import server_url

    try:
        with server_url() as url:
            yield url
    except (RuntimeError, OSError) as exc:  # pragma: no cover - a machine without PostgreSQL
        pytest.fail(f"PostgreSQL is needed by this test and none could be reached or started: {exc}")


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh database on the test PostgreSQL server, dropped after the test."""
    from tests.pgserver import fresh_database

    with fresh_database(postgres_server) as url:
        yield url


#: what strict sandboxes validated in xdist workers, merged in the controller
_FROM_WORKERS: Counter[tuple[str, int]] = Counter()


def pytest_sessionfinish(session, exitstatus):
    """An xdist worker hands its validation counts to the controller."""
    from gridctl.sandbox.testing import VALIDATED

    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["gridctl_validated"] = [[op, st, n] for (op, st), n in VALIDATED.items()]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    for op, st, n in getattr(node, "workeroutput", {}).get("gridctl_validated", []):
        _FROM_WORKERS[(op, int(st))] += n


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # pragma: no cover - reporting
    """One line: how many responses (and operations) were validated against GitHub's OpenAPI
    description across the whole run, every worker included."""
    from gridctl.sandbox.testing import VALIDATED

    merged = Counter(VALIDATED) + _FROM_WORKERS
    if not merged:
        return
    import gridctl.sandbox.app  # noqa: F401  (registers the routes)
    from gridctl.sandbox.routing import ROUTES

    implemented = {r.op_id for r in ROUTES}
    ops = {op for op, _ in merged}
    ok_ops = {op for (op, st) in merged if st < 400}
    err_ops = {op for (op, st) in merged if st >= 400}
    total = sum(merged.values())
    errors = sum(n for (_, st), n in merged.items() if st >= 400)
    terminalreporter.write_sep("-", "sandbox conformance")
    terminalreporter.write_line(
        f"validated {total} responses ({errors} errors) against GitHub's OpenAPI description: "
        f"{len(ops & implemented)} of {len(implemented)} implemented operations, {len(merged)} (operation, status) pairs; "
        f"{len(ok_ops & implemented)} operations with a validated success, {len(err_ops & implemented)} with a validated error"
    )
