"""Project-wide test configuration."""

from __future__ import annotations

import os

# Tests must never reach a real GitHub: point every default at nothing routable.
os.environ.setdefault("GRIDCTL_API_URL", "http://127.0.0.1:9")
os.environ.pop("GITHUB_TOKEN", None)


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # pragma: no cover - reporting
    from gridctl.sandbox.testing import VALIDATED

    if not VALIDATED:
        return
    ops = {op for op, _ in VALIDATED}
    total = sum(VALIDATED.values())
    errors = sum(n for (_, st), n in VALIDATED.items() if st >= 400)
    terminalreporter.write_sep("-", "sandbox conformance")
    terminalreporter.write_line(
        f"validated {total} responses ({errors} errors) against GitHub's OpenAPI description, "
        f"covering {len(ops)} operations and {len(VALIDATED)} (operation, status) pairs"
    )
