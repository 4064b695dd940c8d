"""End to end: environments, environment variables, deploy keys, files and organization
variables — plan -> apply -> no changes; drift; deletes of managed objects only; deploy-key
replace; file CAS and stale saved plans; the workflow scope; API calls on a no-change plan."""

from __future__ import annotations

import base64
import json
import struct
from collections import Counter

import pytest

from gridctl.core.session import Options, Session
from gridctl.errors import ApplyError
from gridctl.resources.file import blob_sha

from ..helpers import ACME, ALICE, grid_yaml


def pubkey(seed: int, comment: str = "ci@example") -> str:
    """A well-formed OpenSSH ed25519 public key line (the sandbox checks the blob's layout)."""
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + bytes([seed]) * 31 + b"\x07"
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"


def body_of(key: str) -> str:
    return key.split()[1]


def calls(grid) -> Counter:
    return Counter({k: v["requests"] for k, v in grid.ctl("GET", "/stats")["by_endpoint"].items()})


def writes(delta: Counter) -> int:
    return sum(
        n for op, n in delta.items() if not (op.split("/")[-1].startswith(("get", "list")) or op == "(no route)")
    )


def file_text(grid, login: str, repo: str, path: str, ref: str | None = None) -> str:
    r = grid.api(login, "GET", f"/repos/{repo}/contents/{path}" + (f"?ref={ref}" if ref else ""))
    assert r.status_code == 200, r.text
    return base64.b64decode(r.json()["content"]).decode()


def put_file(grid, login: str, repo: str, path: str, text: str) -> None:
    sha = grid.api(login, "GET", f"/repos/{repo}/contents/{path}").json()["sha"]
    body = {"message": "by hand", "content": base64.b64encode(text.encode()).decode(), "sha": sha}
    assert grid.api(login, "PUT", f"/repos/{repo}/contents/{path}", body).status_code == 200


# -- environments and environment variables ------------------------------------------------------

ENVS = grid_yaml("""\
repos:
  alice/demo:
    environments:
      production:
        wait_timer: 5
        reviewers: [main]
        prevent_self_review: true
        protected_branches_only: true
        variables: {REGION: eu, TIER: 3}
      staging:
        protected_branches_only: false
        variables: {LEVEL: debug}
""")


def env_get(grid, name: str) -> dict:
    r = grid.api("alice", "GET", f"/repos/alice/demo/environments/{name}")
    assert r.status_code == 200, r.text
    return r.json()


def rules(env: dict) -> dict:
    return {r["type"]: r for r in env["protection_rules"]}


def env_vars(grid, env: str) -> dict[str, str]:
    r = grid.api("alice", "GET", f"/repos/alice/demo/environments/{env}/variables")
    return {v["name"]: v["value"] for v in r.json()["variables"]}


def test_environments_converge_and_keep_unmanaged_fields(grid):
    grid.user("alice")
    grid.write("grid.yaml", ENVS)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ environment alice/demo production" in r.out and "+ environment alice/demo staging" in r.out
    assert "+ env-variable alice/demo env production REGION" in r.out
    assert "Plan: 6 to create" in r.out
    r = grid.check(0, "apply", "--auto-approve")
    prod = env_get(grid, "production")
    rr = rules(prod)
    assert rr["wait_timer"]["wait_timer"] == 5
    assert [x["reviewer"]["login"] for x in rr["required_reviewers"]["reviewers"]] == ["alice"]
    assert rr["required_reviewers"]["prevent_self_review"] is True
    assert prod["deployment_branch_policy"] == {"protected_branches": True, "custom_branch_policies": False}
    assert env_vars(grid, "production") == {"REGION": "eu", "TIER": "3"}
    assert env_vars(grid, "staging") == {"LEVEL": "debug"}
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "No changes" in r.out

    # unmanaged fields of staging (wait_timer, reviewers) changed by hand are not drift...
    body = {
        "wait_timer": 7,
        "reviewers": [{"type": "User", "id": prod["protection_rules"][0]["reviewers"][0]["reviewer"]["id"]}],
    }
    assert grid.api("alice", "PUT", "/repos/alice/demo/environments/staging", body).status_code == 200
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # ...managed ones are, and the update sends the unmanaged ones back unchanged
    assert (
        grid.api(
            "alice",
            "PUT",
            "/repos/alice/demo/environments/staging",
            {"deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False}},
        ).status_code
        == 200
    )
    assert grid.api("alice", "PUT", "/repos/alice/demo/environments/production", {"wait_timer": 30}).status_code == 200
    assert (
        grid.api(
            "alice", "PATCH", "/repos/alice/demo/environments/production/variables/REGION", {"value": "us"}
        ).status_code
        == 204
    )
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "~ environment alice/demo production" in r.out and "wait_timer: 30 -> 5" in r.out
    assert "~ environment alice/demo staging" in r.out and "protected_branches_only: true -> false" in r.out
    assert 'value: "us" -> "eu"' in r.out
    assert "Plan: 0 to create, 3 to update" in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    staging = env_get(grid, "staging")
    assert staging["deployment_branch_policy"] is None
    assert rules(staging)["wait_timer"]["wait_timer"] == 7
    assert [x["reviewer"]["login"] for x in rules(staging)["required_reviewers"]["reviewers"]] == ["alice"]
    assert rules(env_get(grid, "production"))["wait_timer"]["wait_timer"] == 5
    assert env_vars(grid, "production")["REGION"] == "eu"
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_environments_and_variables_deleted_only_when_managed(grid):
    grid.user("alice")
    grid.write("grid.yaml", ENVS)
    assert grid.run("apply", "--auto-approve").code == 0
    # made by hand: an environment, and a variable in a managed environment
    assert grid.api("alice", "PUT", "/repos/alice/demo/environments/manual", {}).status_code == 200
    assert (
        grid.api(
            "alice", "POST", "/repos/alice/demo/environments/production/variables", {"name": "MANUAL", "value": "x"}
        ).status_code
        == 201
    )
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # drop staging (and its variable) and one production variable
    grid.write("grid.yaml", ENVS.replace(", TIER: 3", "").split("      staging:")[0])
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- environment alice/demo staging" in r.out
    assert "- env-variable alice/demo env staging LEVEL" in r.out
    assert "- env-variable alice/demo env production TIER" in r.out
    assert "manual" not in r.out and "MANUAL" not in r.out
    assert "Plan: 0 to create, 0 to update, 0 to replace, 3 to delete." in r.out
    r = grid.check(0, "apply", "--auto-approve")
    names = {e["name"] for e in grid.api("alice", "GET", "/repos/alice/demo/environments").json()["environments"]}
    assert names == {"production", "manual"}
    assert env_vars(grid, "production") == {"REGION": "eu", "MANUAL": "x"}
    r = grid.check(0, "plan", "--detailed-exitcode")
    state = json.dumps(json.loads((grid.dir / ".gridctl" / "state.json").read_text()))
    assert "staging" not in state  # the environment and its children are forgotten


def test_prune_environments_deletes_unlisted(grid):
    grid.user("alice")
    grid.write("grid.yaml", ENVS)
    assert grid.run("apply", "--auto-approve").code == 0
    assert grid.api("alice", "PUT", "/repos/alice/demo/environments/manual", {}).status_code == 200
    grid.write("grid.yaml", ENVS.replace("    environments:", "    prune: {environments: true}\n    environments:"))
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2
    assert "- environment alice/demo manual  (not declared, and prune is on)" in r.out


# -- deploy keys ---------------------------------------------------------------------------------

KEYS = grid_yaml("""\
repos:
  alice/demo:
    deploy_keys:
      ci: {env: KEY_CI}
      deploy: {file: deploy.pub, read_only: false}
""")


def live_keys(grid) -> dict[str, dict]:
    return {k["title"]: k for k in grid.api("alice", "GET", "/repos/alice/demo/keys").json()}


def test_deploy_keys_converge_replace_and_delete(grid):
    grid.user("alice")
    ci, deploy = pubkey(1, "ci@host"), pubkey(2, "deploy@host")
    grid.env["KEY_CI"] = ci
    grid.write("deploy.pub", deploy + "\n")
    grid.write("grid.yaml", KEYS)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ deploy-key alice/demo ci" in r.out and 'key: "ssh-ed25519 SHA256:' in r.out
    assert body_of(ci) not in r.all and body_of(deploy) not in r.all  # only fingerprints
    r = grid.check(0, "apply", "--auto-approve")
    keys = live_keys(grid)
    assert keys["ci"]["key"] == " ".join(ci.split()[:2]) and keys["ci"]["read_only"] is True
    assert keys["deploy"]["key"] == " ".join(deploy.split()[:2]) and keys["deploy"]["read_only"] is False
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # a changed read_only (GitHub cannot edit a key) is a replace: delete, then create
    old_id = keys["ci"]["id"]
    grid.write("grid.yaml", KEYS.replace("{env: KEY_CI}", "{env: KEY_CI, read_only: false}"))
    r = grid.check(2, "plan", "--detailed-exitcode", "--out", "plan.json")
    assert body_of(ci) not in (grid.dir / "plan.json").read_text()
    assert "-/+ deploy-key alice/demo ci" in r.out
    assert "read_only: true -> false" in r.out
    assert "Plan: 0 to create, 0 to update, 1 to replace, 0 to delete." in r.out
    r = grid.check(0, "apply", "--auto-approve")
    keys = live_keys(grid)
    assert keys["ci"]["read_only"] is False and keys["ci"]["id"] != old_id
    assert len(keys) == 2
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # so is a changed key; a rollback restores the old key text from the journal
    new_ci = pubkey(3, "ci@host2")
    r = grid.check(0, "apply", "--auto-approve", env={"KEY_CI": new_ci})
    assert "-/+ deploy-key alice/demo ci" in r.out
    assert live_keys(grid)["ci"]["key"] == " ".join(new_ci.split()[:2])
    r = grid.check(0, "rollback", "--auto-approve")
    assert live_keys(grid)["ci"]["key"] == " ".join(ci.split()[:2])
    assert body_of(new_ci) not in r.all and body_of(ci) not in r.all
    assert body_of(ci) not in (grid.dir / ".gridctl" / "state.json").read_text()

    # drift: a managed key deleted by hand is re-created; a key added by hand is left alone
    assert grid.api("alice", "DELETE", f"/repos/alice/demo/keys/{live_keys(grid)['deploy']['id']}").status_code == 204
    assert (
        grid.api(
            "alice", "POST", "/repos/alice/demo/keys", {"title": "manual", "key": pubkey(9), "read_only": True}
        ).status_code
        == 201
    )
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2
    assert "+ deploy-key alice/demo deploy" in r.out and "manual" not in r.out
    assert grid.run("apply", "--auto-approve").code == 0

    # removed from the manifest: deleted (only the managed one)
    grid.write("grid.yaml", KEYS.replace("      deploy: {file: deploy.pub, read_only: false}\n", ""))
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2
    assert "- deploy-key alice/demo deploy" in r.out and "manual" not in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    assert set(live_keys(grid)) == {"ci", "manual"}
    assert grid.run("plan", "--detailed-exitcode").code == 0


# -- files -----------------------------------------------------------------------------------------

FILES = grid_yaml("""\
repos:
  alice/demo:
    auto_init: true
    files:
      .github/workflows/ci.yml: {source: wf/ci.yml}
      .github/workflows/release.yml: {content: "name: release\\non: push\\n", message: "ci: release workflow"}
""")

CANARY = "CANARY-7f3a9c-file-content"


def setup_files(grid, text: str = FILES) -> None:
    grid.user("alice")
    grid.write("wf/ci.yml", f"name: ci\non: push\n# {CANARY}\n")
    grid.write("grid.yaml", text)


def test_files_converge_with_one_listing_per_directory(grid):
    setup_files(grid)
    r = grid.check(2, "plan", "--detailed-exitcode", "--out", "plan.json")
    assert "+ file alice/demo .github/workflows/ci.yml" in r.out
    want = blob_sha(f"name: ci\non: push\n# {CANARY}\n".encode())
    assert f'sha: "{want}"' in r.out
    r = grid.check(0, "apply", "--auto-approve")
    assert file_text(grid, "alice", "alice/demo", ".github/workflows/ci.yml").endswith(f"# {CANARY}\n")
    commits = grid.api("alice", "GET", "/repos/alice/demo/git/matching-refs/heads/main").json()
    head = grid.api("alice", "GET", f"/repos/alice/demo/git/commits/{commits[0]['object']['sha']}").json()
    assert head["message"] in ("ci: release workflow", "gridctl: update .github/workflows/ci.yml")

    before = calls(grid)
    r = grid.run("plan", "--detailed-exitcode")
    delta = calls(grid) - before
    assert r.code == 0, r.all
    assert delta["repos/get-content"] == 1  # both workflow files: one listing of their folder
    assert writes(delta) == 0
    # the content never reaches the plan, the state or the journal
    assert CANARY not in r.all
    assert CANARY not in (grid.dir / "plan.json").read_text()
    for name, data in grid.files_written().items():
        assert CANARY.encode() not in data, name


def test_files_in_several_folders_cost_one_tree_read_and_a_truncated_tree_falls_back(grid):
    setup_files(grid, FILES + '      docs/guide.md: {content: "guide\\n"}\n      config/app.json: {content: "{}\\n"}\n'
                '      config/gone.txt: {content: "x\\n"}\n')
    grid.check(0, "apply", "--auto-approve")
    before = calls(grid)
    grid.check(0, "plan", "--detailed-exitcode")
    delta = calls(grid) - before
    assert delta["git/get-tree"] == 1 and "repos/get-content" not in delta  # 3 folders, one read
    # a change by hand is seen through the tree (the ETag cache keeps only these paths' entries)
    put_file(grid, "alice", "alice/demo", "docs/guide.md", "by hand\n")
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "~ file alice/demo docs/guide.md" in r.out
    grid.check(0, "apply", "--auto-approve")
    cache = (grid.dir / ".gridctl" / "cache" / "main.json").read_text()
    assert "README.md" not in cache  # the auto_init README is in the tree, not in the cache
    # GitHub cuts a recursive tree at 100,000 entries and says truncated: then one listing per folder
    grid.ctl("PUT", "/limits", {"tree_max_entries": 2})
    before = calls(grid)
    grid.check(0, "plan", "--detailed-exitcode")
    delta = calls(grid) - before
    assert delta["git/get-tree"] == 1 and delta["repos/get-content"] == 3
    put_file(grid, "alice", "alice/demo", "config/app.json", "by hand\n")
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "~ file alice/demo config/app.json" in r.out and "docs/guide.md" not in r.out


def test_file_drift_update_uses_live_sha_and_rolls_back(grid):
    setup_files(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    put_file(grid, "alice", "alice/demo", ".github/workflows/release.yml", f"name: hand # {CANARY}\n")
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2
    assert "~ file alice/demo .github/workflows/release.yml" in r.out
    release_sha = blob_sha(b"name: release\non: push\n")
    assert f'-> "{release_sha}"' in r.out
    r = grid.check(0, "apply", "--auto-approve")
    assert file_text(grid, "alice", "alice/demo", ".github/workflows/release.yml") == "name: release\non: push\n"
    # a commit on top of the hand edit: history is kept (no force push)
    ref = grid.api("alice", "GET", "/repos/alice/demo/git/ref/heads/main").json()["object"]["sha"]
    head = grid.api("alice", "GET", f"/repos/alice/demo/git/commits/{ref}").json()
    parent = grid.api("alice", "GET", f"/repos/alice/demo/git/commits/{head['parents'][0]['sha']}").json()
    assert head["message"] == "ci: release workflow" and parent["message"] == "by hand"
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # the rollback restores the previous blob (fetched by SHA; it was never in the manifest)
    r = grid.check(0, "rollback", "--auto-approve")
    assert file_text(grid, "alice", "alice/demo", ".github/workflows/release.yml") == f"name: hand # {CANARY}\n"
    assert CANARY not in r.all
    for name, data in grid.files_written().items():  # state, journal, ETag cache
        assert CANARY.encode() not in data, name


def test_file_changed_between_plan_and_saved_apply_is_stale(grid):
    setup_files(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("wf/ci.yml", "name: ci v2\n")
    assert grid.run("plan", "--out", "plan.json").code == 0
    put_file(grid, "alice", "alice/demo", ".github/workflows/ci.yml", "name: concurrent\n")
    r = grid.run("apply", "plan.json", "--auto-approve")
    assert r.code == 1
    assert "stale" in r.err and "file:alice/demo:.github/workflows/ci.yml" in r.err
    assert file_text(grid, "alice", "alice/demo", ".github/workflows/ci.yml") == "name: concurrent\n"


def test_file_update_is_compare_and_swap(grid, monkeypatch):
    """A change made between the read and the write (no stale check) is refused by GitHub's
    CAS on the blob SHA: a clear 409, nothing overwritten, no retry."""
    setup_files(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("wf/ci.yml", "name: ci v2\n")
    monkeypatch.setenv("GRID_TOKEN_ALICE", grid.tokens["alice"])
    opts = Options(api_url=grid.sb.url, workdir=grid.dir / ".gridctl", write_interval=0)
    with Session.open(grid.dir / "grid.yaml", opts, operation="apply") as s:
        plan = s.plan()
        assert [c.address for c in plan.changes] == ["file:alice/demo:.github/workflows/ci.yml"]
        put_file(grid, "alice", "alice/demo", ".github/workflows/ci.yml", "name: concurrent\n")
        before = calls(grid)
        with pytest.raises(ApplyError) as exc:
            s.apply(plan, stale_check=False)
        delta = calls(grid) - before
    assert "409" in str(exc.value) and "changed on GitHub since it was read" in str(exc.value)
    assert delta["repos/create-or-update-file-contents"] == 1  # refused once, not retried
    assert file_text(grid, "alice", "alice/demo", ".github/workflows/ci.yml") == "name: concurrent\n"
    # a fresh plan sees the concurrent content and updates from it
    grid.check(0, "apply", "--auto-approve")
    assert file_text(grid, "alice", "alice/demo", ".github/workflows/ci.yml") == "name: ci v2\n"


def test_file_deleted_only_when_managed_and_on_a_branch(grid):
    setup_files(grid, FILES + '      docs/guide.md: {content: "guide\\n"}\n')
    assert grid.run("apply", "--auto-approve").code == 0
    assert file_text(grid, "alice", "alice/demo", "docs/guide.md") == "guide\n"
    # a branch, and a file declared on it
    main = grid.api("alice", "GET", "/repos/alice/demo/git/ref/heads/main").json()["object"]["sha"]
    assert (
        grid.api("alice", "POST", "/repos/alice/demo/git/refs", {"ref": "refs/heads/pages", "sha": main}).status_code
        == 201
    )
    text = FILES + '      docs/guide.md: {content: "guide\\n", branch: pages}\n'
    grid.write("grid.yaml", text)
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 0, r.all  # same content on pages already (the branch was cut from main)
    grid.write("grid.yaml", text.replace('guide\\n", branch', 'guide v2\\n", branch'))
    assert grid.run("apply", "--auto-approve").code == 0
    assert file_text(grid, "alice", "alice/demo", "docs/guide.md", "pages") == "guide v2\n"
    assert file_text(grid, "alice", "alice/demo", "docs/guide.md") == "guide\n"
    # removed from the manifest: the managed file is deleted on its branch; README stays
    grid.write("grid.yaml", FILES)
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2
    assert "- file alice/demo docs/guide.md" in r.out and "README" not in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    assert grid.api("alice", "GET", "/repos/alice/demo/contents/docs/guide.md?ref=pages").status_code == 404
    assert grid.api("alice", "GET", "/repos/alice/demo/contents/README.md").status_code == 200
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_file_in_new_repositories(grid):
    """An empty repository gets its first commit from the file; an auto_init one has its
    generated README replaced (it is still the initial commit's blob)."""
    grid.user("alice")
    grid.write(
        "grid.yaml",
        grid_yaml("""\
        repos:
          alice/empty:
            files:
              README.md: {content: "first\\n"}
          alice/inited:
            auto_init: true
            files:
              .github/workflows/ci.yml: {content: "name: ci\\n"}
              README.md: {content: "mine\\n"}
        """, indent="        "),
    )
    grid.check(0, "apply", "--auto-approve")
    assert file_text(grid, "alice", "alice/empty", "README.md") == "first\n"
    assert file_text(grid, "alice", "alice/inited", "README.md") == "mine\n"
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_workflow_files_need_the_workflow_scope(grid):
    grid.user("alice", scopes=("repo",))
    grid.write("wf/ci.yml", "name: ci\n")
    grid.write("grid.yaml", FILES)
    before = calls(grid)
    r = grid.run("plan")
    assert r.code == 1
    assert "lacks scope workflow" in r.err and "files" in r.err
    delta = calls(grid) - before
    assert set(delta) <= {"users/get-authenticated"}  # refused at plan start, before any read


# -- organization variables ------------------------------------------------------------------------

ORG = grid_yaml("""\
repos:
  acme/api: {}
  acme/web: {}
org_variables:
  acme:
    REGION: eu
    TIER: {value: gold, visibility: selected, repos: [acme/api]}
""", ACME)


def org_vars(grid) -> dict[str, dict]:
    return {v["name"]: v for v in grid.api("alice", "GET", "/orgs/acme/actions/variables").json()["variables"]}


def selected(grid, name: str) -> list[str]:
    return sorted(
        r["full_name"]
        for r in grid.api("alice", "GET", f"/orgs/acme/actions/variables/{name}/repositories").json()["repositories"]
    )


def test_org_variables_converge_drift_and_delete(grid):
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    grid.write("grid.yaml", ORG)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ org-variable org acme TIER" in r.out and 'repos: ["acme/api"]' in r.out
    r = grid.check(0, "apply", "--auto-approve")
    v = org_vars(grid)
    assert v["REGION"]["value"] == "eu" and v["REGION"]["visibility"] == "all"
    assert v["TIER"]["visibility"] == "selected" and selected(grid, "TIER") == ["acme/api"]
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # drift: the value and the selected repositories changed by hand
    web = grid.api("alice", "GET", "/repos/acme/web").json()["id"]
    assert (
        grid.api(
            "alice", "PATCH", "/orgs/acme/actions/variables/TIER", {"value": "silver", "selected_repository_ids": [web]}
        ).status_code
        == 204
    )
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2
    assert 'value: "silver" -> "gold"' in r.out and 'repos: ["acme/web"] -> ["acme/api"]' in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    assert org_vars(grid)["TIER"]["value"] == "gold" and selected(grid, "TIER") == ["acme/api"]

    # a manifest change of visibility and repositories
    grid.write(
        "grid.yaml",
        ORG.replace("repos: [acme/api]", "repos: [acme/api, acme/web]").replace(
            "REGION: eu", "REGION: {value: eu, visibility: private}"
        ),
    )
    r = grid.check(0, "apply", "--auto-approve")
    assert org_vars(grid)["REGION"]["visibility"] == "private"
    assert selected(grid, "TIER") == ["acme/api", "acme/web"]
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # removed from the manifest: deleted; a variable made by hand stays
    assert (
        grid.api(
            "alice", "POST", "/orgs/acme/actions/variables", {"name": "MANUAL", "value": "x", "visibility": "all"}
        ).status_code
        == 201
    )
    grid.write("grid.yaml", ORG.split("    TIER:")[0])
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2
    assert "- org-variable org acme TIER" in r.out and "MANUAL" not in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    assert set(org_vars(grid)) == {"REGION", "MANUAL"}
    assert grid.run("plan", "--detailed-exitcode").code == 0


# -- API calls on a no-change plan -----------------------------------------------------------------

ALL = grid_yaml("""\
repos:
  alice/demo:
    auto_init: true
    environments:
      production: {wait_timer: 5, variables: {REGION: eu}}
      staging: {variables: {LEVEL: debug}}
    deploy_keys:
      ci: {env: KEY_CI}
      deploy: {env: KEY_DEPLOY}
    files:
      .github/workflows/a.yml: {content: "name: a\\n"}
      .github/workflows/b.yml: {content: "name: b\\n"}
      docs/guide.md: {content: "guide\\n"}
  acme/api: {}
org_variables:
  acme:
    REGION: eu
    TIER: {value: gold, visibility: selected, repos: [acme/api]}
""", ALICE, ACME)


def test_no_change_plan_call_counts(grid):
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    grid.env.update({"KEY_CI": pubkey(11), "KEY_DEPLOY": pubkey(12)})
    grid.write("grid.yaml", ALL)
    assert grid.run("apply", "--auto-approve").code == 0
    before = calls(grid)
    r = grid.run("plan", "--detailed-exitcode")
    delta = calls(grid) - before
    assert r.code == 0, r.all
    assert writes(delta) == 0
    assert delta["repos/get-all-environments"] == 1  # one list per repository with environments
    assert delta["actions/list-environment-variables"] == 2  # one per environment
    assert delta["repos/list-deploy-keys"] == 1  # one per repository with deploy keys
    assert delta["git/get-tree"] == 1  # files in two folders (.github/workflows, docs): one tree
    assert "repos/get-content" not in delta
    assert delta["actions/list-org-variables"] == 1  # one per organization...
    assert delta["actions/list-selected-repos-for-org-variable"] == 1  # ...plus one per selected variable
    assert "repos/get-deploy-key" not in delta and "actions/get-environment-variable" not in delta
