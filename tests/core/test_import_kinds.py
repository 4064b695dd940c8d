"""End to end: ``gridctl import`` writes the kinds that import through their own
``Kind.declare`` (branch protection, rulesets, labels, webhooks, Actions permissions, autolinks,
security settings), each made on the sandbox with raw API calls (not by gridctl), and the
imported manifest then plans with no changes (a webhook's secret, which GitHub never returns,
aside)."""

from __future__ import annotations

import json
from typing import Any

from gridctl.importer import PLACEHOLDER_PREFIX
from gridctl.manifest.yamlpos import load_yaml

from ..helpers import grid_yaml


def ok(resp: Any, *codes: int) -> Any:
    assert resp.status_code in (codes or (200, 201, 204)), f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp


def imported(grid, *args: str) -> tuple[dict[str, Any], Any]:
    """Import alice (or the account in ``args``) to ``imported/grid.yaml``: its data and the run."""
    r = grid.run("import", *(args or ("--account", "alice")), "-o", "imported/grid.yaml")
    assert r.code == 0, r.all
    data, _ = load_yaml(grid.dir / "imported" / "grid.yaml")
    return data, r


def plans_clean(grid) -> None:
    r = grid.run("plan", "-f", "imported/grid.yaml", "--detailed-exitcode")
    assert r.code == 0, r.all


def test_branch_protection_is_imported(grid):
    grid.user("alice")
    api = lambda *a: grid.api("alice", *a)  # noqa: E731
    ok(api("POST", "/user/repos", {"name": "demo", "auto_init": True}), 201)
    ok(api("POST", "/repos/alice/demo/git/refs", {"ref": "refs/heads/release", "sha": api("GET", "/repos/alice/demo/git/ref/heads/main").json()["object"]["sha"]}), 201)
    ok(api("PUT", "/repos/alice/demo/branches/main/protection", {
        "required_status_checks": {"strict": True, "contexts": ["ci/test", "ci/lint"]},
        "enforce_admins": True,
        "required_pull_request_reviews": {"required_approving_review_count": 2, "dismiss_stale_reviews": True},
        "restrictions": None,
        "required_linear_history": True,
        "required_conversation_resolution": True,
    }))
    ok(api("POST", "/repos/alice/demo/branches/main/protection/required_signatures"))
    ok(api("PUT", "/repos/alice/demo/branches/release/protection", {
        "required_status_checks": None, "enforce_admins": False, "required_pull_request_reviews": None, "restrictions": None,
        "allow_deletions": True,
    }))
    data, _ = imported(grid)
    assert data["repos"]["alice/demo"]["branch_protection"] == {
        "main": {
            "conversation_resolution": True, "enforce_admins": True, "linear_history": True, "signed_commits": True,
            "reviews": {"approvals": 2, "dismiss_stale": True},
            "status_checks": {"strict": True, "contexts": ["ci/lint", "ci/test"]},
        },
        "release": {"allow_deletions": True},
    }
    plans_clean(grid)
