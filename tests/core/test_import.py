"""End to end: ``gridctl import`` — a manifest written from live state, which then plans clean
(apart from the secret values GitHub never returns), validates, and leaks no secret.

The estates are seeded through the API (raw requests and PyGithub), not by gridctl, so the
import is checked against objects gridctl never wrote.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import struct
import time
import uuid
from collections import Counter
from pathlib import Path

from gridctl.importer import GITHUB_REPO_DEFAULTS, PLACEHOLDER_PREFIX
from gridctl.manifest.model import REPO_SETTINGS
from gridctl.manifest.yamlpos import load_yaml

from ..helpers import NODE_BOB, grid_yaml

N_REPOS = 50
SECRET_KINDS = {"secret", "env-secret", "org-secret", "codespaces-secret"}


def pubkey(seed: int) -> str:
    """A well-formed OpenSSH ed25519 public key (the sandbox checks the blob's layout)."""
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + bytes([seed % 256]) * 31 + bytes([seed // 256 + 1])
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}"


def canary(tag: str) -> str:
    return f"CANARY-{tag}-{uuid.uuid4().hex}"


def ok(resp, *codes):
    assert resp.status_code in (codes or (200, 201, 204)), f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp


def accept_all(grid, login: str) -> None:
    me = grid.gh(login).get_user()
    for inv in me.get_invitations():
        me.accept_invitation(inv.id)


def endpoint_calls(grid) -> Counter:
    return Counter({k: v["requests"] for k, v in grid.ctl("GET", "/stats")["by_endpoint"].items()})


def plan_json(grid, manifest: str) -> dict:
    r = grid.check(0, "plan", "-f", manifest, "--format", "json")
    return json.loads(r.out)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file() and "sandbox" not in p.parts}


def repo_name(i: int) -> str:
    return f"svc-{i:02d}"


def seed_user_estate(grid) -> dict:
    """50 repositories of alice with varied settings, topics, variables, collaborators (direct,
    pending, expired), environments, deploy keys and secrets (canary values)."""
    for login in ("alice", "bob", "carol", "dave"):
        grid.user(login)
    api = lambda *a: grid.api("alice", *a)  # noqa: E731
    canaries: list[str] = []
    secrets: set[tuple[str, str]] = set()  # (kind, address-ish) of every secret seeded

    # an invitation that expires: created first, then the clock moves 8 days on
    ok(api("POST", "/user/repos", {"name": repo_name(4)}), 201)
    ok(api("PUT", f"/repos/alice/{repo_name(4)}/collaborators/dave", {"permission": "push"}), 201)
    grid.ctl("POST", "/clock", {"advance": 8 * 86400})

    for i in range(N_REPOS):
        name, full = repo_name(i), f"alice/{repo_name(i)}"
        body = {"name": name, "description": f"Service {i}: the {name} API", "has_wiki": i % 5 == 0, "delete_branch_on_merge": i % 10 < 6}
        if i % 3 == 0:
            body["allow_merge_commit"] = False
        if i % 4 == 0:
            body["private"] = True
        if i % 7 == 0:
            body["homepage"] = f"https://example.com/{name}"
        if i == 7:
            body["is_template"] = True
        if i == 4:
            ok(api("PATCH", f"/repos/{full}", body))
        else:
            ok(api("POST", "/user/repos", body), 201)
        if i % 2 == 0:
            ok(api("PUT", f"/repos/{full}/topics", {"names": ["grid", f"team-{i % 3}"]}))
        if i % 2 == 1:
            ok(api("POST", f"/repos/{full}/actions/variables", {"name": "REGION", "value": "eu"}), 201)
            ok(api("POST", f"/repos/{full}/actions/variables", {"name": "TIER", "value": str(i)}), 201)
        if i == 1:  # values YAML would misread unquoted
            for vname, value in {"ODD": 'a: "b" #c\nline2', "ZERO": "007", "YES": "true", "EMPTYISH": " "}.items():
                ok(api("POST", f"/repos/{full}/actions/variables", {"name": vname, "value": value}), 201)
        if i % 5 == 1:
            ok(api("PUT", f"/repos/{full}/collaborators/bob", {"permission": "push"}), 201)
        if i % 5 == 2:
            ok(api("PUT", f"/repos/{full}/collaborators/carol", {"permission": "pull"}), 201)  # stays pending
        if i == 3:
            ok(api("PUT", f"/repos/{full}/collaborators/dave", {"permission": "maintain"}), 201)
        if i % 10 == 3:
            ok(api("POST", f"/repos/{full}/keys", {"title": "ci", "key": pubkey(i), "read_only": True}), 201)
            ok(api("POST", f"/repos/{full}/keys", {"title": "deploy bot", "key": pubkey(i + 100), "read_only": False}), 201)
    accept_all(grid, "bob")
    accept_all(grid, "dave")  # accepts repo 3; the expired invitation to repo 4 cannot be accepted

    gh = grid.gh("alice")
    for i in range(0, N_REPOS, 3):
        if i == 48:
            continue
        value = canary(f"api-{i}")
        canaries.append(value)
        gh.get_repo(f"alice/{repo_name(i)}").create_secret("API_KEY", value)
        secrets.add(("secret", f"alice/{repo_name(i)}:actions:API_KEY"))
    value = canary("npm")
    canaries.append(value)
    gh.get_repo(f"alice/{repo_name(5)}").create_secret("NPM_TOKEN", value, "dependabot")
    secrets.add(("secret", f"alice/{repo_name(5)}:dependabot:NPM_TOKEN"))

    # environments on svc-01: production (protected) and staging (plain), with variables and a secret
    full = f"alice/{repo_name(1)}"
    bob_id = grid.api("bob", "GET", "/user").json()["id"]
    ok(api("PUT", f"/repos/{full}/environments/production", {
        "wait_timer": 5, "prevent_self_review": True, "reviewers": [{"type": "User", "id": bob_id}],
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False},
    }))
    ok(api("PUT", f"/repos/{full}/environments/staging", {}))
    ok(api("POST", f"/repos/{full}/environments/production/variables", {"name": "REGION", "value": "eu-west"}), 201)
    ok(api("POST", f"/repos/{full}/environments/staging/variables", {"name": "LEVEL", "value": "debug"}), 201)
    value = canary("deploy")
    canaries.append(value)
    gh.get_repo(full).get_environment("production").create_secret("DEPLOY_TOKEN", value)
    secrets.add(("env-secret", f"alice/{repo_name(1)}:production:DEPLOY_TOKEN"))

    # the last repository is archived (after its topics were set)
    ok(api("PATCH", f"/repos/alice/{repo_name(49)}", {"archived": True}))
    return {"canaries": canaries, "secrets": secrets}


def test_defaults_are_githubs():
    """The import's notion of "GitHub's default" covers every managed setting and matches the
    sandbox's (itself modelled on GitHub's) for a new repository."""
    from gridctl.sandbox.world import REPO_DEFAULTS

    assert set(GITHUB_REPO_DEFAULTS) == set(REPO_SETTINGS)
    for key, value in GITHUB_REPO_DEFAULTS.items():
        if key in REPO_DEFAULTS:
            assert REPO_DEFAULTS[key] == value, key
    assert GITHUB_REPO_DEFAULTS["visibility"] == "public" and GITHUB_REPO_DEFAULTS["default_branch"] == "main"


def test_import_50_repositories_then_plan_shows_only_secret_values(grid):
    seeded = seed_user_estate(grid)
    grid.ctl("POST", "/stats/reset")
    t0 = time.monotonic()
    r = grid.run("import", "--account", "alice", "-o", "imported/grid.yaml")
    took = time.monotonic() - t0
    assert r.code == 0, r.all
    calls = endpoint_calls(grid)
    out = grid.dir / "imported"
    text = (out / "grid.yaml").read_text()
    assert text.splitlines()[0].startswith("# yaml-language-server: $schema=")
    schema_ref = text.splitlines()[0].split("$schema=", 1)[1]
    assert (out / schema_ref).resolve().name == "grid.schema.json" and (out / schema_ref).resolve().is_file()

    # -- it validates, with gridctl's own validate
    v = grid.run("validate", "-f", "imported/grid.yaml")
    assert v.code == 0, v.all
    assert f"{N_REPOS} repository(ies)" in v.out

    data, _ = load_yaml(out / "grid.yaml")
    assert data["accounts"] == {"alice": {"login": "alice", "token": {"env": "GRID_TOKEN_ALICE"}}}
    repos = data["repos"]
    assert sorted(repos) == [f"alice/{repo_name(i)}" for i in range(N_REPOS)]

    # -- defaults are factored: in defaults.repo, and never repeated with the same value per repo
    defaults = data["defaults"]["repo"]
    assert defaults == {"has_wiki": False, "delete_branch_on_merge": True}, defaults
    for full, entry in repos.items():
        for key, value in defaults.items():
            assert entry.get(key, "absent") != value, (full, key)
    assert repos["alice/svc-05"]["has_wiki"] is True and "has_wiki" not in repos["alice/svc-06"]
    assert repos["alice/svc-07"]["delete_branch_on_merge"] is False and repos["alice/svc-07"]["is_template"] is True
    # settings equal to GitHub's defaults are left out; differences stay
    assert repos["alice/svc-03"]["allow_merge_commit"] is False and "allow_merge_commit" not in repos["alice/svc-01"]
    assert repos["alice/svc-08"]["visibility"] == "private" and "visibility" not in repos["alice/svc-01"]
    assert repos["alice/svc-49"]["archived"] is True and "variables" not in repos["alice/svc-49"]
    assert repos["alice/svc-14"]["homepage"] == "https://example.com/svc-14"

    # -- the other collections
    assert repos["alice/svc-02"]["topics"] == ["grid", "team-2"]
    assert repos["alice/svc-01"]["variables"] == {"EMPTYISH": " ", "ODD": 'a: "b" #c\nline2', "REGION": "eu", "TIER": "1", "YES": "true", "ZERO": "007"}
    assert repos["alice/svc-01"]["collaborators"] == {"bob": "write"}
    assert repos["alice/svc-02"]["collaborators"] == {"carol": "read"}  # a pending invitation
    assert repos["alice/svc-03"]["collaborators"] == {"dave": "maintain"}
    assert "collaborators" not in repos["alice/svc-04"]  # expired invitation: left out, with a note
    assert "invitation of dave has expired" in r.err
    env = repos["alice/svc-01"]["environments"]
    assert env["production"]["wait_timer"] == 5 and env["production"]["reviewers"] == ["bob"]
    assert env["production"]["prevent_self_review"] is True and env["production"]["protected_branches_only"] is True
    assert env["production"]["variables"] == {"REGION": "eu-west"} and list(env["production"]["secrets"]) == ["DEPLOY_TOKEN"]
    assert env["staging"] == {"variables": {"LEVEL": "debug"}}
    dks = repos["alice/svc-13"]["deploy_keys"]
    assert set(dks) == {"ci", "deploy bot"} and dks["deploy bot"]["read_only"] is False and "read_only" not in dks["ci"]
    assert (out / dks["ci"]["file"]).read_text().strip() == pubkey(13)
    assert repos["alice/svc-05"]["secrets"]["dependabot"] == {"NPM_TOKEN": {"key": repos["alice/svc-05"]["secrets"]["dependabot"]["NPM_TOKEN"]["key"]}}

    # -- canary: no secret value anywhere; placeholders are placeholders, private, one per secret
    key_files = [data["keys"][k]["source"]["file"] for k in data["keys"]]
    assert len(key_files) == len(seeded["secrets"]) == len(set(key_files))
    for rel in key_files:
        p = out / rel
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, rel
        last = [ln for ln in p.read_text().splitlines() if ln and not ln.startswith("#")]
        assert len(last) == 1 and last[0].startswith(PLACEHOLDER_PREFIX), rel
    written = tree(out)
    for value in seeded["canaries"]:
        assert all(value.encode() not in body for body in written.values())
        assert value not in r.all
    for token in grid.tokens.values():
        assert all(token.encode() not in body for body in written.values()) and token not in r.all

    # -- API calls: one listing (it carries every setting: no GET per repository), then list
    # calls per repository; nothing written
    account_level = ("users/get-authenticated", "repos/list-for-authenticated-user", "codespaces/list-secrets-for-authenticated-user")
    per_repo = (sum(calls.values()) - sum(calls[op] for op in account_level)) / N_REPOS
    assert calls["repos/list-for-authenticated-user"] == 1 and calls["repos/get"] == 0 and calls["users/get-authenticated"] == 1
    assert all(op.split("/")[-1].startswith(("get", "list", "check")) for op in calls), calls
    assert per_repo <= 16.5, (per_repo, calls)
    assert f"API requests: {sum(calls.values())} " in r.out and f"{per_repo:.1f} per repository" in r.out, r.out
    print(f"\nimport of {N_REPOS} repositories: {sum(calls.values())} requests, {per_repo:.2f} per repository, {took:.2f}s")
    print("  " + ", ".join(f"{op}={n}" for op, n in sorted(calls.items())))

    # -- the plan: nothing but secret values that gridctl has not written yet (and no write)
    grid.ctl("POST", "/stats/reset")
    plan = plan_json(grid, "imported/grid.yaml")
    plan_calls = endpoint_calls(grid)
    assert all(op.split("/")[-1].startswith(("get", "list")) for op in plan_calls), plan_calls
    print(f"  plan of the imported manifest: {sum(plan_calls.values())} requests ({sum(plan_calls.values()) / N_REPOS:.2f} per repository)")
    changes = plan["changes"]
    assert changes, "the secrets should show as needing values"
    assert {c["kind"] for c in changes} <= SECRET_KINDS, [c["address"] for c in changes if c["kind"] not in SECRET_KINDS]
    assert {c["action"] for c in changes} == {"update"}
    assert all("not written by gridctl yet" in c["reason"] for c in changes)
    assert len(changes) == len(seeded["secrets"])
    assert plan["summary"]["create"] == 0 and plan["summary"]["delete"] == 0
    for value in seeded["canaries"]:
        assert value not in json.dumps(plan)

    # -- deterministic: a second import is byte-identical (placeholders included)
    r2 = grid.run("import", "--account", "alice", "-o", "again/grid.yaml")
    assert r2.code == 0, r2.all
    mine = lambda files: {k: v for k, v in files.items() if not k.startswith(".gridctl")}  # noqa: E731
    assert mine(tree(grid.dir / "again")) == mine(written)


def test_reimport_keeps_filled_in_secrets_and_refuses_to_overwrite(grid):
    from github.PublicKey import encrypt

    grid.user("alice")
    app_id = ok(grid.api("alice", "POST", "/user/repos", {"name": "app"}), 201).json()["id"]
    grid.gh("alice").get_repo("alice/app").create_secret("TOKEN", canary("t"))
    pk = ok(grid.api("alice", "GET", "/user/codespaces/secrets/public-key")).json()
    body = {"key_id": pk["key_id"], "encrypted_value": encrypt(pk["key"], canary("cs")), "selected_repository_ids": [app_id]}
    ok(grid.api("alice", "PUT", "/user/codespaces/secrets/CS_TOKEN", body), 201, 204)
    assert grid.run("import", "-a", "alice").code == 0
    data, _ = load_yaml(grid.dir / "grid.yaml")
    assert data["repos"] == {"alice/app": {"secrets": {"actions": {"TOKEN": {"key": "app.actions.TOKEN"}}}}}
    assert data["codespaces_secrets"] == {"alice": {"CS_TOKEN": {"key": "codespaces.CS_TOKEN", "repos": ["alice/app"]}}}
    for key_id in ("app.actions.TOKEN", "codespaces.CS_TOKEN"):
        assert data["keys"][key_id]["source"]["lines"] is True
    key_file = grid.dir / data["keys"]["app.actions.TOKEN"]["source"]["file"]
    key_file.write_text("the-real-value\n")
    r = grid.run("import", "-a", "alice")
    assert r.code == 1 and "exists; pass --force" in r.err
    r = grid.check(0, "import", "-a", "alice", "--force")
    assert key_file.read_text() == "the-real-value\n"
    assert "2 existing kept" in r.out
    # with its value filled in, the secret is a plain "not written yet" update of that value
    plan = plan_json(grid, "grid.yaml")
    assert sorted(c["address"] for c in plan["changes"]) == ["codespaces-secret:alice:CS_TOKEN", "secret:alice/app:actions:TOKEN"]
    # the Codespaces secret still holds its placeholder: apply refuses before writing it
    r = grid.run("apply", "-f", "grid.yaml", "--auto-approve")
    assert r.code == 1 and "still holds the placeholder written by gridctl import" in r.err, r.all
    cs_file = grid.dir / data["keys"]["codespaces.CS_TOKEN"]["source"]["file"]
    cs_file.write_text("the-real-codespaces-value\n")
    r = grid.check(0, "apply", "-f", "grid.yaml", "--auto-approve")
    assert grid.run("plan", "-f", "grid.yaml", "--detailed-exitcode").code == 0


def test_import_organization_secrets_variables_runner_groups_runners(grid):
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    api = lambda *a: grid.api("alice", *a)  # noqa: E731
    ids = {}
    for name in ("api", "web", "tools"):
        ids[name] = ok(api("POST", "/orgs/acme/repos", {"name": name, "has_wiki": False}), 201).json()["id"]
    ok(api("PATCH", "/repos/acme/tools", {"has_wiki": True, "has_issues": False}))
    org = grid.gh("alice").get_organization("acme")
    values = [canary("org1"), canary("org2")]
    org.create_secret("SHARED", values[0], "all")
    org.create_secret("DEP", values[1], "selected", [grid.gh("alice").get_repo("acme/api")], secret_type="dependabot")
    ok(api("POST", "/orgs/acme/actions/variables", {"name": "PLAIN", "value": "1", "visibility": "all"}), 201)
    ok(api("POST", "/orgs/acme/actions/variables", {"name": "SEL", "value": "x", "visibility": "selected", "selected_repository_ids": [ids["web"]]}), 201)
    ok(api("POST", "/orgs/acme/actions/variables", {"name": "PRIV", "value": "p", "visibility": "private"}), 201)
    gpu = ok(api("POST", "/orgs/acme/actions/runner-groups", {"name": "gpu", "visibility": "selected", "selected_repository_ids": [ids["api"]]}), 201).json()["id"]
    ok(api("POST", "/orgs/acme/actions/runner-groups", {"name": "builders", "visibility": "all", "allows_public_repositories": True}), 201)
    jit = ok(api("POST", "/orgs/acme/actions/runners/generate-jitconfig", {"name": "gpu-1", "runner_group_id": gpu, "labels": ["self-hosted", "gpu", "cuda"]}), 201).json()
    grid.ctl("POST", "/runners/connect", {"encoded_jit_config": jit["encoded_jit_config"]})  # online
    ok(api("POST", "/orgs/acme/actions/runners/generate-jitconfig", {"name": "lost-1", "runner_group_id": 1, "labels": ["self-hosted"]}), 201)

    # the token is alice's; the account id names the organization (detected, no --org needed)
    grid.env["GRID_TOKEN_ACME"] = grid.tokens["alice"]
    grid.ctl("POST", "/stats/reset")
    r = grid.check(0, "import", "--account", "acme", "-o", "org/grid.yaml")
    calls = endpoint_calls(grid)
    # the organization's listing lacks the merge settings: one GET per repository
    assert calls["repos/list-for-org"] == 1 and calls["repos/get"] == 3
    assert calls["actions/list-selected-repos-for-org-variable"] == 1 and calls["dependabot/list-selected-repos-for-org-secret"] == 1
    assert calls["actions/list-repo-access-to-self-hosted-runner-group-in-org"] == 1
    assert f"API requests: {sum(calls.values())} " in r.out
    assert "organization acme" in r.out
    assert "lost-1" in r.err  # offline, no JIT file here: left out, with a note
    data, _ = load_yaml(grid.dir / "org" / "grid.yaml")
    assert data["accounts"] == {"acme": {"org": "acme", "token": {"env": "GRID_TOKEN_ACME"}}}
    assert data["defaults"] == {"repo": {"has_wiki": False}}
    assert data["repos"] == {"acme/api": {}, "acme/tools": {"has_issues": False, "has_wiki": True}, "acme/web": {}}
    sec = data["org_secrets"]["acme"]
    assert set(sec["actions"]["SHARED"]) == {"key"}
    assert sec["dependabot"]["DEP"]["visibility"] == "selected" and sec["dependabot"]["DEP"]["repos"] == ["acme/api"]
    assert data["org_variables"]["acme"] == {"PLAIN": "1", "PRIV": {"value": "p", "visibility": "private"}, "SEL": {"value": "x", "visibility": "selected", "repos": ["acme/web"]}}
    assert data["runner_groups"]["acme"] == {"builders": {"allows_public_repos": True}, "gpu": {"visibility": "selected", "repos": ["acme/api"]}}
    assert data["runners"] == [{"scope": "org:acme", "names": ["gpu-1"], "labels": ["cuda", "gpu"], "group": "gpu"}]
    assert grid.run("validate", "-f", "org/grid.yaml").code == 0

    r = grid.check(0, "plan", "-f", "org/grid.yaml", "--format", "json")
    plan = json.loads(r.out)
    assert sorted(c["address"] for c in plan["changes"]) == ["org-secret:acme:actions:SHARED", "org-secret:acme:dependabot:DEP"]
    assert all(c["action"] == "update" and "not written by gridctl yet" in c["reason"] for c in plan["changes"])
    for v in values:
        assert v not in r.all and all(v.encode() not in b for b in tree(grid.dir / "org").values())


def test_existing_manifest_gives_accounts_and_repos_glob_filters(grid):
    for login in ("alice", "bob", "carol", "dave"):
        grid.user(login)
    for name in ("web-1", "web-2", "tool"):
        assert grid.api("alice", "POST", "/user/repos", {"name": name}).status_code == 201
        assert grid.api("alice", "PUT", f"/repos/alice/{name}/collaborators/bob", {"permission": "push"}).status_code == 201
        assert grid.api("alice", "PUT", f"/repos/alice/{name}/collaborators/carol", {"permission": "triage"}).status_code == 201
    accept_all(grid, "bob")
    accept_all(grid, "carol")
    # dave (an account of the existing manifest) is invited, not accepted yet
    assert grid.api("alice", "PUT", "/repos/alice/web-2/collaborators/dave", {"permission": "pull"}).status_code == 201
    grid.write("existing/tokens/alice", grid.tokens["alice"] + "\n")
    grid.write("existing/grid.yaml", grid_yaml("""\
        """, "main: {login: alice, token: {file: tokens/alice}}", NODE_BOB, 'spare: {login: dave, token: {env: GRID_TOKEN_DAVE}}', indent="        "))
    r = grid.check(0, "import", "-a", "main", "-f", "existing/grid.yaml", "--repos", "web-*", "-o", "out/grid.yaml")
    data, _ = load_yaml(grid.dir / "out" / "grid.yaml")
    # the account's own entry (its token file re-pointed from the new folder: a relative token
    # path may not leave the manifest's folder, so it becomes absolute), the accounts of
    # collaborators (bob, and dave whose invitation is pending); not the others
    assert data["accounts"] == {
        "main": {"login": "alice", "token": {"file": str((grid.dir / "existing/tokens/alice").resolve())}},
        "node-1": {"login": "bob", "token": {"env": "GRID_TOKEN_BOB"}},
        "spare": {"login": "dave", "token": {"env": "GRID_TOKEN_DAVE"}},
    }
    assert sorted(data["repos"]) == ["alice/web-1", "alice/web-2"]
    assert data["repos"]["alice/web-1"]["collaborators"] == {"carol": "triage", "node-1": "write"}
    assert list(data["repos"]["alice/web-2"]["collaborators"].items()) == [("carol", "triage"), ("node-1", "write"), ("spare", "read")]
    assert "dave (account spare) has not accepted the invitation yet" in r.err
    # the only change: dave's account accepts its invitation (with its own token)
    plan = plan_json(grid, "out/grid.yaml")
    assert [(c["kind"], c["action"], c["address"]) for c in plan["changes"]] == [("invitation", "create", "invitation:alice/web-2:dave")]
    # a glob that matches nothing is an error, and writes nothing
    r = grid.run("import", "-a", "main", "-f", "existing/grid.yaml", "--repos", "nope-*", "-o", "none/grid.yaml")
    assert r.code == 1 and "no repository of alice matches nope-*" in r.err
    assert not (grid.dir / "none" / "grid.yaml").exists()


def test_import_from_the_embedded_sandbox(tmp_path):
    """``--sandbox``: the estate a previous ``apply --sandbox`` made in the same folder."""
    from typer.testing import CliRunner

    from gridctl.cli import app

    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "api.txt").write_text(canary("sbx") + "\n")
    (tmp_path / "grid.yaml").write_text(
        "version: 1\n"
        "accounts:\n  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\n"
        "keys:\n  api: {source: {file: keys/api.txt}}\n"
        "repos:\n"
        "  alice/one: {has_wiki: false, topics: [a], variables: {X: '1'}, secrets: {actions: {API: {key: api}}}}\n"
        "  alice/two: {has_wiki: false}\n"
    )
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        runner = CliRunner()
        env = {"NO_COLOR": "1", "GRIDCTL_WRITE_INTERVAL": "0"}
        r = runner.invoke(app, ["apply", "--sandbox", "--auto-approve"], env=env, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["import", "--sandbox", "-a", "main", "--login", "alice", "-o", "imported.yaml"], env=env, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        data, _ = load_yaml(tmp_path / "imported.yaml")
        assert data["defaults"] == {"repo": {"has_wiki": False}}
        assert data["repos"]["alice/one"]["variables"] == {"X": "1"} and data["repos"]["alice/two"] == {}
        r = runner.invoke(app, ["plan", "--sandbox", "-f", "imported.yaml", "--format", "json"], env=env, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        changes = json.loads(r.stdout)["changes"]
        # the same state: the secret gridctl wrote now has the placeholder value
        assert [(c["address"], c["action"]) for c in changes] == [("secret:alice/one:actions:API", "update")]
    finally:
        os.chdir(old)


def test_yaml_rendering_reads_back_exactly(tmp_path):
    """Scalars YAML would misread (booleans, nulls, numbers, indicators, odd characters) are
    quoted; the rendered text parses back to the same data."""
    from gridctl.importer import Generated, render_yaml

    tricky = ["", " ", "null", "Null", "~", "- x", "a: b", "#x", "x #y", "é", "line\u2028sep", "tab\there", "'", '"q"', "\\",
              "0x10", "1e3", "007", ".inf", "@x", "`x", "!x", "&x", "*x", "%x", "|", ">", "[a]", "{a}", ",", "?x", "true", "No",
              "y", "2024-01-01", "emoji \U0001f600", "\x00nul", "\ufeffbom", "trailing ", "a\nb\n"]
    data = {"version": 1, "repos": {f"o/r{i}": {"description": s, "topics": [s], "variables": {"V": s, s or "E": "k"}} for i, s in enumerate(tricky)}}
    text = render_yaml(Generated(data, [], []), schema="x.json", header=["a\nnote"])
    p = tmp_path / "g.yaml"
    p.write_text(text)
    parsed, _ = load_yaml(p)
    assert parsed == data
    assert text.splitlines()[1] == "# a note"


def test_the_token_must_be_the_accounts(grid):
    grid.user("alice")
    grid.user("bob")
    grid.org("acme", admins=("bob",))
    r = grid.run("import", "-a", "alice", "--login", "bob")
    assert r.code == 1 and "the token belongs to alice, not bob" in r.err
    r = grid.run("import", "-a", "acme", "--org", "acme", env={"GRID_TOKEN_ACME": grid.tokens["alice"]})
    # refused by the session's token check (today GitHub's 403 on the membership read surfaces)
    assert r.code == 1 and "acme" in r.err and "alice" in r.err
    assert not (grid.dir / "grid.yaml").exists()
    assert grid.tokens["alice"] not in r.all
