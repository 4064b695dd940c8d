"""Accounts that are GitHub App installations, end to end on the strict sandbox: gridctl signs the
JWT, finds the installation, mints installation tokens and renews them — before they expire and
after a 401 — so a long apply never shows the user a 401; the tokens and the private key appear
in no output and no file; a manifest needing a permission the installation lacks is refused at
plan time, at the manifest line that needs it."""

from __future__ import annotations

import json
import re
import time

from gridctl.github.app import AppCredentials, InstallationTokens
from gridctl.github.client import AccountClient
from gridctl.manifest.sources import Sensitive

#: what gridctl's installation tokens look like on the sandbox (the canary of every output)
SANDBOX_TOKEN = re.compile(r"gridsbx_[0-9a-f]{20,}")
PERMISSIONS = {"administration": "write", "actions_variables": "write", "contents": "write"}
REPOS = 4
VARIABLES = 49  # 4 repositories + 4 x 49 variables = 200 changes


def app_on_org(grid, permissions: dict | None = None, **install: object) -> dict:
    """acme (owned by acme-owner) with grid-bot installed on it; the key in GRID_APP_KEY."""
    grid.user("acme-owner")
    grid.org("acme", admins=("acme-owner",))
    app = grid.ctl("POST", "/apps", {"name": "grid-bot", "owner": "acme", "permissions": permissions or PERMISSIONS})
    grid.ctl("POST", f"/apps/{app['id']}/installations", {"account": "acme", **install})
    grid.env["GRID_APP_KEY"] = app["private_key"]
    return dict(app)


def manifest(app: dict, repos: dict[str, dict]) -> str:
    body = {
        "version": 1,
        "accounts": {"main": {"org": "acme", "app": {"id": app["id"], "private_key": {"env": "GRID_APP_KEY"}, "installation": "acme"}}},
        "repos": repos,
    }
    return json.dumps(body, indent=2) + "\n"  # JSON is YAML


def many_changes() -> dict[str, dict]:
    return {
        f"acme/fleet-{r}": {"visibility": "private", "variables": {f"V{n:03d}": f"value {r}/{n}" for n in range(VARIABLES)}}
        for r in range(REPOS)
    }


def test_an_apply_of_200_changes_outlives_its_installation_tokens(grid):
    app = app_on_org(grid)
    grid.write("grid.yaml", manifest(app, many_changes()))
    outputs = []
    r = grid.check(2, "plan", "--detailed-exitcode", "--out", "plan.json")
    outputs.append(r.all)
    assert "Plan: 200 to create, 0 to update, 0 to replace, 0 to delete." in r.out
    # tokens now live two seconds: the apply outlives several of them (GitHub's 900 points a minute
    # per endpoint — 180 writes — would make it wait a minute: not what this test is about)
    grid.ctl("PUT", "/apps/token-lifetime", {"seconds": 2})
    grid.ctl("PUT", "/limits", {"endpoint_points_per_minute": 2000})
    started = time.monotonic()
    r = grid.check(0, "apply", "plan.json", env={"GRIDCTL_WRITE_INTERVAL": "0.02"})
    took = time.monotonic() - started
    outputs.append(r.all)
    assert "applied 200 change(s)" in r.err
    assert "401" not in r.all and "Bad credentials" not in r.all
    minted = grid.ctl("GET", "/apps/tokens")["minted"]
    assert sum(minted.values()) >= 3, (minted, took)  # plan's, apply's first, and renewals part-way
    # every change arrived, made by the app's bot
    for n in range(REPOS):
        got = grid.api("acme-owner", "GET", f"/repos/acme/fleet-{n}/actions/variables?per_page=100").json()
        assert got["total_count"] == VARIABLES
    r = grid.check(0, "plan", "--detailed-exitcode")
    outputs.append(r.all)
    assert "No changes" in r.out
    # the tokens, the JWTs and the key are nowhere
    key_lines = [line for line in app["private_key"].splitlines() if "-----" not in line]
    files = grid.files_written()
    files["plan.json"] = (grid.dir / "plan.json").read_bytes()
    for out in outputs:
        assert not SANDBOX_TOKEN.search(out) and "eyJ" not in out
        assert not any(line in out for line in key_lines)
    for name, data in files.items():
        text = data.decode("utf-8", "replace")
        assert not SANDBOX_TOKEN.search(text), name
        assert "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9" not in text, name
        assert not any(line in text for line in key_lines), name


def test_a_refused_token_is_renewed_once(grid):
    app = app_on_org(grid)
    creds = AppCredentials(str(app["id"]), Sensitive(app["private_key"]), "acme")
    provider = InstallationTokens("main", creds, grid.sb.url)
    assert provider.connect()["account"]["login"] == "acme"
    client = AccountClient("main", provider, grid.sb.url)
    assert client.get("/orgs/acme") is not None
    grid.ctl("POST", "/apps/expire-tokens")  # revoked or expired early: GitHub answers 401
    assert client.raw("POST", "/orgs/acme/repos", {"name": "after-401"})["name"] == "after-401"
    assert provider.minted == 2


def test_a_missing_permission_is_refused_at_plan_time_at_its_line(grid):
    app = app_on_org(grid, {"administration": "write", "contents": "write"})
    text = manifest(app, {"acme/svc": {"visibility": "private", "variables": {"LEVEL": "3"}}})
    grid.write("grid.yaml", text)
    line = text.splitlines().index('      "variables": {') + 1
    grid.ctl("POST", "/stats/reset")
    r = grid.check(1, "plan")
    assert f"grid.yaml:{line}:7: error: account main: the GitHub App installation lacks the permission actions_variables: write" in r.err
    assert "needed by repos.acme/svc.variables" in r.err
    assert "Traceback" not in r.all
    # nothing of the repositories was read: the check comes first
    assert not any(op.startswith("repos/") for op in grid.ctl("GET", "/stats")["by_endpoint"])


def test_an_app_account_on_the_wrong_owner_or_with_a_bad_key_is_refused(grid):
    app = app_on_org(grid)
    grid.user("carol")
    grid.ctl("POST", f"/apps/{app['id']}/installations", {"account": "carol"})
    text = manifest(app, {}).replace('"installation": "acme"', '"installation": "carol"')
    grid.write("grid.yaml", text.replace('"repos": {}', '"repos": {"acme/x": {}}'))
    r = grid.check(1, "plan")
    assert "is on carol, not acme" in r.err
    grid.write("grid.yaml", manifest(app, {"acme/x": {}}))
    r = grid.check(1, "plan", env={"GRID_APP_KEY": "not a key"})
    assert "does not hold a PEM private key" in r.err and "not a key" not in r.err
    inline = json.loads(manifest(app, {}))
    inline["accounts"]["main"]["app"]["private_key"] = app["private_key"]
    grid.write("grid.yaml", json.dumps(inline))
    r = grid.check(1, "validate")
    assert "a literal token is not allowed in the manifest" in r.err
    assert app["private_key"].splitlines()[1] not in r.all
