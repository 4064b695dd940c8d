"""End to end: secrets of every scope (repository Actions/Dependabot, environment, organization,
Codespaces) — values from key files, diffing by fingerprint, drift, canaries, token scopes.

The sandbox decrypts every sealed value with the scope's private key and keeps only its SHA-256;
``GET /_sandbox/secrets`` shows it, so the tests prove the exact plaintext gridctl produced.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from gridctl.resources import KINDS

from ..helpers import ACME, ALICE, grid_yaml

HAVE_ENVIRONMENT_KIND = "environment" in KINDS
HAVE_COLLABORATOR_KINDS = "collaborator" in KINDS and "invitation" in KINDS

REPO_MANIFEST = grid_yaml("""\
keys:
  api: {source: {file: keys/api.txt, lines: true}}
  solo: {source: {file: keys/solo.txt}}
repos:
  alice/demo:
    visibility: private
    secrets:
      actions:
        API_JSON: {key: api, format: json}
        API_LINES: {key: api, format: lines}
        SOLO: {key: solo}
        FROM_ENV: {env: SECRET_FROM_ENV}
      dependabot:
        DEP_API: {key: api}
""")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def canary(tag: str) -> str:
    return f"CANARY-{tag}-{uuid.uuid4().hex}"


def secrets_of(grid, **query) -> dict[tuple, dict]:
    """The sandbox's secret records keyed by (scope, type, repo/owner, environment, name)."""
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    rows = grid.ctl("GET", "/secrets" + (f"?{qs}" if qs else ""))
    return {(r["scope"], r["type"], r["repo"] or r["owner"], r["environment"], r["name"]): r for r in rows}


def repo_secret_shas(grid, repo: str = "alice/demo") -> dict[str, str]:
    return {f"{r['type']}:{r['name']}": r["sha256"] for r in grid.ctl("GET", f"/secrets?scope=repo&repo={repo}")}


def plan_json(grid, *args: str) -> dict:
    r = grid.check(0, "plan", "--format", "json", *args)
    return json.loads(r.out)


class RepoSetup:
    def __init__(self, grid):
        self.grid = grid
        grid.user("alice")
        self.lines = [canary("line1"), canary("line2"), canary("line3")]
        self.solo = canary("solo")
        self.from_env = canary("env")
        grid.env["SECRET_FROM_ENV"] = self.from_env
        self.write_keys()
        grid.write("grid.yaml", REPO_MANIFEST)

    def write_keys(self) -> None:
        # comments and blank lines are not values; the single-value file keeps inner newlines
        self.grid.write("keys/api.txt", "# api keys\n" + "\n".join(self.lines) + "\n\n")
        self.grid.write("keys/solo.txt", self.solo + "\n")

    def expected(self) -> dict[str, str]:
        return {
            "actions:API_JSON": sha(json.dumps(self.lines)),
            "actions:API_LINES": sha("\n".join(self.lines)),
            "actions:SOLO": sha(self.solo),
            "actions:FROM_ENV": sha(self.from_env),
            "dependabot:DEP_API": sha("\n".join(self.lines)),
        }

    def canaries(self) -> list[str]:
        return [*self.lines, self.solo, self.from_env]


def assert_no_canary(grid, texts: list[str], canaries: list[str]) -> None:
    blobs = {f"output {i}": t.encode() for i, t in enumerate(texts)}
    blobs.update(grid.files_written())
    for c in canaries:
        for where, blob in blobs.items():
            assert c.encode() not in blob, f"canary leaked into {where}"
            assert c.encode().hex().encode() not in blob, f"canary (hex) leaked into {where}"


# -- 1. create from a key file ------------------------------------------------------------------------


def test_create_from_key_file_then_no_changes(grid):
    s = RepoSetup(grid)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ secret alice/demo actions API_JSON" in r.out
    assert "+ secret alice/demo dependabot DEP_API" in r.out
    assert r.out.count("value: (sensitive value)") == 5
    assert "Plan: 6 to create" in r.out  # the repository and five secrets
    r = grid.check(0, "apply", "--auto-approve")
    assert repo_secret_shas(grid) == s.expected()
    # state records the fingerprint and GitHub's updated_at of each write, never a value
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())["resources"]
    entry = state["secret:alice/demo:actions:SOLO"]
    assert entry["fingerprint"].startswith("hmac-sha256:") and entry["updated_at"]
    assert entry["updated_at"] == secrets_of(grid, repo="alice/demo")[("repo", "actions", "alice/demo", None, "SOLO")]["updated_at"]
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "No changes" in r.out


# -- 2. one changed key line updates exactly the secrets built from it ----------------------------------


def test_changed_key_line_updates_only_affected_secrets(grid):
    s = RepoSetup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    before = secrets_of(grid, repo="alice/demo")
    s.lines[1] = canary("line2-new")
    s.write_keys()
    plan = plan_json(grid)
    updates = sorted(c["address"] for c in plan["changes"])
    assert updates == [
        "secret:alice/demo:actions:API_JSON",
        "secret:alice/demo:actions:API_LINES",
        "secret:alice/demo:dependabot:DEP_API",
    ]
    for c in plan["changes"]:
        assert c["action"] == "update" and c["sensitive"] and not c["reversible"]
        assert c["reason"] == "sensitive value changed"
        assert c["diffs"] == [{"field": "value", "before": "(sensitive)", "after": "(sensitive)"}]
    r = grid.run("plan")
    assert "value: (sensitive value changed)" in r.out and "3 change(s) cannot be rolled back" in r.out
    r = grid.check(0, "apply", "--auto-approve")
    assert_no_canary(grid, [r.out, r.err], s.canaries())
    assert repo_secret_shas(grid) == s.expected()
    after = secrets_of(grid, repo="alice/demo")
    untouched = [k for k in after if k[-1] in ("SOLO", "FROM_ENV")]
    assert untouched and all(after[k]["updated_at"] == before[k]["updated_at"] and after[k]["sha256"] == before[k]["sha256"] for k in untouched)
    assert grid.run("plan", "--detailed-exitcode").code == 0


# -- 3. a value rewritten outside gridctl is drift ----------------------------------------------------


def test_secret_rewritten_outside_gridctl_is_drift(grid):
    s = RepoSetup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.ctl("POST", "/clock", {"advance": 2})  # updated_at has a one-second resolution
    grid.gh("alice").get_repo("alice/demo").create_secret("SOLO", "set by hand", "actions")
    assert repo_secret_shas(grid)["actions:SOLO"] == sha("set by hand")
    plan = plan_json(grid)
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [("secret:alice/demo:actions:SOLO", "update")]
    assert "drift" in plan["changes"][0]["reason"]
    r = grid.run("plan")
    assert "~ secret alice/demo actions SOLO  (changed outside gridctl (drift))" in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    assert repo_secret_shas(grid) == s.expected()
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_existing_secret_not_written_by_gridctl_is_rewritten(grid):
    s = RepoSetup(grid)
    grid.api("alice", "POST", "/user/repos", {"name": "demo", "private": True})
    grid.gh("alice").get_repo("alice/demo").create_secret("SOLO", "older value", "actions")
    plan = plan_json(grid)
    by_address = {c["address"]: c for c in plan["changes"]}
    solo = by_address["secret:alice/demo:actions:SOLO"]
    assert solo["action"] == "update" and solo["reason"] == "not written by gridctl yet (value unknown)"
    assert by_address["secret:alice/demo:actions:API_JSON"]["action"] == "create"
    assert grid.run("apply", "--auto-approve").code == 0
    assert repo_secret_shas(grid) == s.expected()
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_removed_secret_is_deleted_and_unmanaged_one_left_alone(grid):
    RepoSetup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.gh("alice").get_repo("alice/demo").create_secret("MANUAL", "by hand", "actions")
    grid.write("grid.yaml", REPO_MANIFEST.replace("        SOLO: {key: solo}\n", "").replace("      dependabot:\n        DEP_API: {key: api}\n", ""))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- secret alice/demo actions SOLO" in r.out and "- secret alice/demo dependabot DEP_API" in r.out
    assert "MANUAL" not in r.out and "2 change(s) cannot be rolled back" in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    assert set(repo_secret_shas(grid)) == {"actions:API_JSON", "actions:API_LINES", "actions:FROM_ENV", "actions:MANUAL"}
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())["resources"]
    assert "secret:alice/demo:actions:SOLO" not in state and "secret:alice/demo:dependabot:DEP_API" not in state
    # the dependabot collection is no longer read once nothing declares or records secrets there
    grid.ctl("POST", "/stats/reset")
    assert grid.run("plan", "--detailed-exitcode").code == 0
    assert "dependabot/list-repo-secrets" not in grid.ctl("GET", "/stats")["by_endpoint"]


def test_prune_deletes_unlisted_secrets(grid):
    RepoSetup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.gh("alice").get_repo("alice/demo").create_secret("MANUAL", "by hand", "dependabot")
    grid.write("grid.yaml", REPO_MANIFEST + "    prune: {secrets: true}\n")
    plan = plan_json(grid)
    assert [(c["address"], c["action"], c["reason"]) for c in plan["changes"]] == [
        ("secret:alice/demo:dependabot:MANUAL", "delete", "not declared, and prune is on")
    ]


def test_rollback_of_created_secret_deletes_it(grid):
    RepoSetup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("grid.yaml", REPO_MANIFEST.replace("        FROM_ENV: {env: SECRET_FROM_ENV}\n", "        FROM_ENV: {env: SECRET_FROM_ENV}\n        LATER: {key: solo}\n"))
    assert grid.run("apply", "--auto-approve").code == 0
    assert "actions:LATER" in repo_secret_shas(grid)
    grid.check(0, "rollback", "--auto-approve")
    assert "actions:LATER" not in repo_secret_shas(grid)
    assert "actions:SOLO" in repo_secret_shas(grid)


def test_saved_plan_refuses_when_key_changed_after_review(grid):
    s = RepoSetup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    s.solo = canary("solo-reviewed")
    s.write_keys()
    assert grid.run("plan", "--out", "plan.json").code == 0
    reviewed = sha(s.solo)
    grid.write("keys/solo.txt", canary("solo-unreviewed") + "\n")  # not in the manifest: its digest is unchanged
    r = grid.check(1, "apply", "plan.json", "--auto-approve")
    assert "changed since the plan was made" in r.err
    assert repo_secret_shas(grid)["actions:SOLO"] != reviewed
    grid.write("keys/solo.txt", s.solo + "\n")
    r = grid.check(0, "apply", "plan.json", "--auto-approve")
    assert repo_secret_shas(grid)["actions:SOLO"] == reviewed


def test_saved_plan_is_stale_after_drift(grid):
    s = RepoSetup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    s.solo = canary("solo-2")
    s.write_keys()
    assert grid.run("plan", "--out", "plan.json").code == 0
    grid.ctl("POST", "/clock", {"advance": 2})
    grid.gh("alice").get_repo("alice/demo").create_secret("SOLO", "meanwhile", "actions")
    r = grid.run("apply", "plan.json", "--auto-approve")
    assert r.code == 1 and "stale" in r.err, r.all
    assert repo_secret_shas(grid)["actions:SOLO"] == sha("meanwhile")


def test_no_change_plan_reads_one_list_per_collection(grid):
    """A repository with 5 secrets (4 Actions, 1 Dependabot): one list call per collection."""
    RepoSetup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.ctl("POST", "/stats/reset")
    grid.check(0, "plan", "--detailed-exitcode")
    ops = grid.ctl("GET", "/stats")["by_endpoint"]
    secret_ops = {op: c["requests"] for op, c in ops.items() if "secret" in op}
    assert secret_ops == {"actions/list-repo-secrets": 1, "dependabot/list-repo-secrets": 1}, ops
    writes = {op: c for op, c in ops.items() if not any(op.split("/", 1)[1].startswith(p) for p in ("get", "list", "check"))}
    assert not writes, writes


# -- 4. environment, organization and Codespaces secrets ----------------------------------------------

FULL_MANIFEST = grid_yaml("""\
keys:
  solo: {source: {file: keys/solo.txt}}
  pair: {source: {file: keys/pair.txt, lines: true}}
repos:
  alice/demo:
    visibility: private
    collaborators: {bob: push}
    environments:
      prod:
        secrets:
          DEPLOY_TOKEN: {key: solo}
          PAIR: {key: pair, format: json}
  acme/api: {visibility: private}
  acme/web: {visibility: private}
org_secrets:
  acme:
    actions:
      SHARED: {key: solo, visibility: selected, repos: [acme/api]}
      EVERYWHERE: {env: ORG_SECRET, visibility: all}
    dependabot:
      DEP_SELECTED: {key: pair, visibility: selected, repos: [acme/api, acme/web]}
codespaces_secrets:
  bob:
    CS_TOKEN: {env: CS_SECRET, repos: [alice/demo]}
""", ALICE, ACME, "bob: {login: bob, token: {env: GRID_TOKEN_BOB}}")


class FullSetup:
    def __init__(self, grid, *, bob_scopes: tuple[str, ...] | None = None):
        self.grid = grid
        grid.user("alice")
        grid.user("bob", scopes=bob_scopes)
        grid.org("acme", admins=("alice",))
        self.solo = canary("solo")
        self.pair = [canary("pair1"), canary("pair2")]
        self.org = canary("org")
        self.cs = canary("codespaces")
        grid.env["ORG_SECRET"] = self.org
        grid.env["CS_SECRET"] = self.cs
        grid.write("keys/solo.txt", self.solo + "\n")
        grid.write("keys/pair.txt", "\n".join(self.pair) + "\n")
        grid.write("grid.yaml", FULL_MANIFEST)

    def canaries(self) -> list[str]:
        return [self.solo, *self.pair, self.org, self.cs]


def prepare_missing_kinds(grid) -> list[str]:
    """Do through the API what the environment / collaborator kinds would do when they are
    not registered yet (the secret kinds only need the environment and bob's access)."""
    done: list[str] = []
    if HAVE_ENVIRONMENT_KIND and HAVE_COLLABORATOR_KINDS:
        return done
    assert grid.api("alice", "POST", "/user/repos", {"name": "demo", "private": True}).status_code == 201
    if not HAVE_ENVIRONMENT_KIND:
        assert grid.api("alice", "PUT", "/repos/alice/demo/environments/prod", {}).status_code == 200
        done.append("environment created through the API")
    if not HAVE_COLLABORATOR_KINDS:
        inv = grid.api("alice", "PUT", "/repos/alice/demo/collaborators/bob", {"permission": "push"})
        assert inv.status_code == 201, inv.text
        acc = grid.api("bob", "PATCH", f"/user/repository_invitations/{inv.json()['id']}")
        assert acc.status_code == 204, acc.text
        done.append("bob made a collaborator through the API")
    return done


def test_environment_org_and_codespaces_secrets(grid):
    s = FullSetup(grid)
    prepare_missing_kinds(grid)
    r = grid.check(2, "plan", "--detailed-exitcode")
    for line in (
        "+ env-secret alice/demo prod DEPLOY_TOKEN",
        "+ org-secret acme actions SHARED",
        "+ org-secret acme dependabot DEP_SELECTED",
        "+ codespaces-secret bob CS_TOKEN",
        'repos: ["acme/api"]',
        'visibility: "selected"',
    ):
        assert line in r.out, (line, r.out)
    r = grid.check(0, "apply", "--auto-approve")

    got = secrets_of(grid)
    env = got[("environment", "actions", "alice/demo", "prod", "DEPLOY_TOKEN")]
    assert env["sha256"] == sha(s.solo)
    assert got[("environment", "actions", "alice/demo", "prod", "PAIR")]["sha256"] == sha(json.dumps(s.pair))
    shared = got[("org", "actions", "acme", None, "SHARED")]
    assert (shared["sha256"], shared["visibility"], shared["selected_repositories"]) == (sha(s.solo), "selected", ["acme/api"])
    every = got[("org", "actions", "acme", None, "EVERYWHERE")]
    assert (every["sha256"], every["visibility"], every["selected_repositories"]) == (sha(s.org), "all", [])
    dep = got[("org", "dependabot", "acme", None, "DEP_SELECTED")]
    assert (dep["sha256"], dep["visibility"], sorted(dep["selected_repositories"])) == (sha("\n".join(s.pair)), "selected", ["acme/api", "acme/web"])
    cs = got[("user", "codespaces", "bob", None, "CS_TOKEN")]
    assert (cs["sha256"], cs["selected_repositories"]) == (sha(s.cs), ["alice/demo"])

    r = grid.check(0, "plan", "--detailed-exitcode")

    # a selection change is an attribute change, shown; the value is rewritten with it
    grid.write("grid.yaml", FULL_MANIFEST.replace("repos: [acme/api]}", "repos: [acme/api, acme/web]}").replace("repos: [alice/demo]", "repos: []"))
    plan = plan_json(grid)
    changes = {c["address"]: c for c in plan["changes"]}
    assert set(changes) == {"org-secret:acme:actions:SHARED", "codespaces-secret:bob:CS_TOKEN"}
    assert changes["org-secret:acme:actions:SHARED"]["diffs"] == [{"field": "repos", "before": ["acme/api"], "after": ["acme/api", "acme/web"]}]
    assert changes["codespaces-secret:bob:CS_TOKEN"]["diffs"] == [{"field": "repos", "before": ["alice/demo"], "after": []}]
    assert grid.run("apply", "--auto-approve").code == 0
    got = secrets_of(grid)
    assert sorted(got[("org", "actions", "acme", None, "SHARED")]["selected_repositories"]) == ["acme/api", "acme/web"]
    assert got[("user", "codespaces", "bob", None, "CS_TOKEN")]["selected_repositories"] == []
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # visibility changed by hand on GitHub: drift, planned back
    grid.ctl("POST", "/clock", {"advance": 2})
    assert grid.api("alice", "PUT", "/orgs/acme/actions/secrets/EVERYWHERE", {"visibility": "private"}).status_code == 204
    plan = plan_json(grid)
    [c] = plan["changes"]
    assert c["address"] == "org-secret:acme:actions:EVERYWHERE" and "drift" in c["reason"]
    assert {"field": "visibility", "before": "private", "after": "all"} in c["diffs"]
    assert grid.run("apply", "--auto-approve").code == 0
    assert secrets_of(grid)[("org", "actions", "acme", None, "EVERYWHERE")]["visibility"] == "all"

    # dropping everything deletes the managed secrets of every scope
    grid.write("grid.yaml", FULL_MANIFEST.split("org_secrets:")[0].replace("      prod:\n        secrets:\n          DEPLOY_TOKEN: {key: solo}\n          PAIR: {key: pair, format: json}\n", "      prod: {}\n"))
    plan = plan_json(grid)
    deletes = sorted(c["address"] for c in plan["changes"] if c["action"] == "delete")
    assert deletes == [
        "codespaces-secret:bob:CS_TOKEN",
        "env-secret:alice/demo:prod:DEPLOY_TOKEN",
        "env-secret:alice/demo:prod:PAIR",
        "org-secret:acme:actions:EVERYWHERE",
        "org-secret:acme:actions:SHARED",
        "org-secret:acme:dependabot:DEP_SELECTED",
    ]
    r = grid.check(0, "apply", "--auto-approve")
    assert secrets_of(grid) == {}
    assert grid.run("plan", "--detailed-exitcode").code == 0


# -- 5. canaries never leave the process --------------------------------------------------------------


def test_canary_values_appear_nowhere(grid):
    rs = RepoSetup(grid)
    grid.user("bob")
    grid.org("acme", admins=("alice",))
    fs_solo, fs_pair, fs_org, fs_cs = canary("full-solo"), [canary("full-p1"), canary("full-p2")], canary("full-org"), canary("full-cs")
    grid.env["ORG_SECRET"], grid.env["CS_SECRET"] = fs_org, fs_cs
    grid.write("keys/pair.txt", "\n".join(fs_pair) + "\n")
    grid.write("keys/solo.txt", fs_solo + "\n")
    rs.solo = fs_solo
    manifest = FULL_MANIFEST.replace(
        "  pair: {source: {file: keys/pair.txt, lines: true}}\n",
        "  pair: {source: {file: keys/pair.txt, lines: true}}\n  api: {source: {file: keys/api.txt, lines: true}}\n",
    ).replace(
        "    collaborators: {bob: push}\n",
        "    collaborators: {bob: push}\n    secrets:\n      actions: {API_JSON: {key: api, format: json}, FROM_ENV: {env: SECRET_FROM_ENV}}\n"
        "      dependabot: {DEP_API: {key: api}}\n",
    )
    grid.write("grid.yaml", manifest)
    prepare_missing_kinds(grid)
    all_canaries = [*rs.canaries(), fs_solo, *fs_pair, fs_org, fs_cs]
    outputs = []
    for args in (
        ("validate",),
        ("plan",),
        ("plan", "--format", "json"),
        ("plan", "--format", "markdown"),
        ("plan", "--out", "plan.json"),
        ("apply", "plan.json", "--auto-approve"),
        ("plan",),
        ("state", "show"),
        ("state", "show", "--json"),
    ):
        r = grid.run(*args)
        assert r.code == 0, (args, r.all)
        outputs += [r.out, r.err]
    # change values (an update path), drift one, then apply and destroy
    rs.lines[0] = canary("line1-new")
    rs.write_keys()  # keys/solo.txt keeps fs_solo (rs.solo)
    grid.ctl("POST", "/clock", {"advance": 2})
    grid.gh("alice").get_repo("alice/demo").create_secret("FROM_ENV", rs.from_env + "-x", "actions")
    all_canaries += rs.canaries()
    for args in (("plan", "--format", "json"), ("apply", "--auto-approve"), ("plan", "--detailed-exitcode"), ("destroy", "--auto-approve")):
        r = grid.run(*args)
        assert r.code == 0, (args, r.all)
        outputs += [r.out, r.err]
    outputs.append((grid.dir / "plan.json").read_text())
    assert len(grid.files_written()) >= 3  # state, journal(s), cache
    assert_no_canary(grid, outputs, all_canaries)
    assert json.loads((grid.dir / "plan.json").read_text())["summary"]["create"] >= 9


def test_failed_write_does_not_leak_the_value(grid):
    s = RepoSetup(grid)
    grid.write("keys/solo.txt", s.solo + "x" * (49 * 1024) + "\n")  # over GitHub's 48 KB limit
    r = grid.check(1, "apply", "--auto-approve")
    assert "48 KB" in r.err  # caught before any write, at the secret's line
    assert_no_canary(grid, [r.out, r.err], s.canaries())
    # a write GitHub refuses (422) says which secret, and never what it holds
    grid.write("keys/solo.txt", s.solo + "\n")
    grid.ctl("PUT", "/faults", {"specs": ["nth=1,op=actions/create-or-update-repo-secret,status=422"]})
    r = grid.run("apply", "--auto-approve")
    grid.ctl("PUT", "/faults", {"specs": []})
    assert r.code == 1, r.all
    assert "secret:alice/demo:actions:" in r.err and "422" in r.err, r.err
    assert_no_canary(grid, [r.out, r.err], s.canaries())


# -- 6. token scopes -------------------------------------------------------------------------------


def test_codespaces_needs_codespace_scope(grid):
    FullSetup(grid, bob_scopes=("repo", "user"))
    r = grid.run("plan")
    assert r.code != 0
    assert "token lacks scope codespace, needed by codespaces_secrets.bob" in r.err
    assert grid.ctl("GET", "/secrets") == []


def test_codespaces_secrets_of_several_accounts_each_read_back_their_own(grid):
    """Every account's Codespaces secrets live at the same URL (``/user/codespaces/secrets``),
    each in its own account: an account's secrets are read back with its own token, never from
    another's listing — or the next plan would see its ``updated_at`` as drift."""
    logins = ("bob", "carol", "dave")
    for login in ("alice", *logins):
        grid.user(login)
    body = "codespaces_secrets:\n" + "".join(f"  {w}:\n    TOKEN_{w.upper()}: {{env: CS_{w.upper()}}}\n" for w in logins)
    accounts = [f"{w}: {{login: {w}, token: {{env: GRID_TOKEN_{w.upper()}}}}}" for w in logins]
    grid.write("grid.yaml", grid_yaml(body, ALICE, *accounts))
    for w in logins:
        grid.env[f"CS_{w.upper()}"] = canary(w)
    grid.check(0, "apply", "--auto-approve")
    state = json.loads((grid.dir / ".gridctl/state.json").read_text())["resources"]
    for w in logins:
        entry = state[f"codespaces-secret:{w}:TOKEN_{w.upper()}"]
        live = grid.api(w, "GET", f"/user/codespaces/secrets/TOKEN_{w.upper()}").json()
        assert entry["updated_at"] == live["updated_at"], (w, entry, live)
    grid.check(0, "plan", "--detailed-exitcode")
