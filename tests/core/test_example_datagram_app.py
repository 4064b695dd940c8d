"""End to end: examples/datagram-app — Datagram where the main account is a GitHub App installed on
the organization. On the strict sandbox with the app registered and installed: plan -> apply ->
no changes -> destroy, the workers accepting with their own tokens, and neither the app's key,
its tokens nor the API keys in any output or file."""

from __future__ import annotations

import re
from pathlib import Path

from ..helpers import copy_example

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "datagram-app"
REPO = "dg-org/datagram"
WORKERS = ("dg-worker-1", "dg-worker-2", "dg-worker-3")
PERMISSIONS = {p: "write" for p in ("administration", "secrets", "actions_variables", "contents", "workflows", "actions")}


def test_datagram_as_a_github_app(grid):
    for login in WORKERS:
        grid.user(login)
    grid.user("dg-org-owner")
    grid.org("dg-org", admins=("dg-org-owner",))
    app = grid.ctl("POST", "/apps", {"name": "datagram-app", "owner": "dg-org", "permissions": PERMISSIONS})
    assert app["id"] == 1  # the id grid.yaml names
    grid.ctl("POST", "/apps/1/installations", {"account": "dg-org"})
    grid.env["GRID_APP_KEY"] = app["private_key"]
    copy_example(EXAMPLE, grid.dir)
    outputs = []
    r = grid.check(2, "plan", "--detailed-exitcode")
    outputs.append(r.all)
    assert "to create" in r.out
    r = grid.check(0, "apply", "--auto-approve")
    outputs.append(r.all)
    repo = grid.gh("dg-org-owner").get_repo(REPO)
    assert repo.private is True
    assert sorted(c.login for c in repo.get_collaborators(affiliation="direct")) == sorted(WORKERS)
    assert [s.name for s in repo.get_secrets()] == ["DATAGRAM_KEYS"]
    r = grid.check(0, "plan", "--detailed-exitcode")
    outputs.append(r.all)
    assert "No changes" in r.out
    # the template starts the runner workflow, dispatched by the app (actions: write)
    r = grid.check(0, "dispatch", "datagram-smoke")
    outputs.append(r.all)
    assert re.search(r"^fired datagram-smoke: run \d+ ", r.out, re.M), r.out
    (run,) = grid.ctl("GET", f"/runs?repo={REPO}")["runs"]
    assert run["event"] == "workflow_dispatch" and run["actor"] == "datagram-app[bot]"
    r = grid.check(0, "destroy", "--auto-approve")
    outputs.append(r.all)
    assert grid.gh("dg-org-owner").get_repo(REPO).archived is True
    keys = [k.strip() for k in (grid.dir / "keys" / "api_keys.txt").read_text().splitlines() if k.strip() and not k.startswith("#")]
    pem = [line for line in app["private_key"].splitlines() if "-----" not in line]
    files = grid.files_written()
    for text in [*outputs, *(d.decode("utf-8", "replace") for d in files.values())]:
        assert not re.search(r"gridsbx_[0-9a-f]{20,}", text)
        assert not any(k in text for k in keys) and not any(line in text for line in pem)
