"""Rollback is a plan, not a replay: the inverse of a run's ``done`` changes, newest first,
reviewed and applied like any plan (with stale checks against what the run left behind).

Changes that cannot be undone — a secret overwritten or deleted (its old value was never
known), a repository deleted — are listed and skipped.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import GridctlError
from ..manifest.model import Manifest
from ..plan import Change, Plan, check_plan_shape, check_safety
from .engine import change_rules
from .journal import read_entries, run_path


def rollback_plan(workdir: Path, run_id: str | None, manifest: Manifest) -> tuple[Plan, list[str]]:
    path = run_path(workdir, run_id)
    if path is None:
        raise GridctlError(f"no journal for run {run_id}" if run_id else f"no runs in {workdir / 'journal'}")
    entries = read_entries(path)
    changes: list[Change] = []
    skipped: list[str] = []
    for e in reversed([e for e in entries if e.get("type") == "done"]):
        if e.get("inverse"):
            try:
                check_plan_shape({"changes": [e["inverse"]]})
            except ValueError as exc:  # a damaged journal line: reported, never half-read
                skipped.append(f"{e.get('address', '?')} (its undo in {path} is damaged: {exc})")
                continue
            changes.append(Change.from_dict(e["inverse"]))
        else:
            skipped.append(f"{e.get('address', '?')} ({e.get('action', '?')}: the previous value is unknown or the object is gone)")
    plan = Plan(
        changes=changes,
        manifest_file=str(manifest.file),
        manifest_sha256=manifest.sha256,
        accounts={a.id: a.login for a in manifest.accounts.values()},
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    plan.unsafe = check_safety(plan, {}, change_rules(manifest))
    return plan, skipped
