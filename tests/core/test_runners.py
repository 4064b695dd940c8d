"""End to end: self-hosted runners (repository and organization scope, JIT registration) and
organization runner groups, through the real CLI against a strict sandbox."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

from ..helpers import ACME, ALICE, grid_yaml

MANIFEST = grid_yaml("""\
repos:
  alice/app: {description: app}
  acme/site: {description: site}
runner_groups:
  acme:
    gpu: {visibility: selected, repos: [acme/site]}
runners:
  - scope: alice/app
    names: [app-1, app-2]
    labels: [linux, x64, build]
  - scope: org:acme
    names: [org-1]
    labels: [gpu, cuda]
    group: gpu
""", ALICE, ACME)

JIT = {
    "app-1": "runners/repos/alice/app/app-1.jit",
    "app-2": "runners/repos/alice/app/app-2.jit",
    "org-1": "runners/orgs/acme/org-1.jit",
}


def setup(grid, manifest: str = MANIFEST) -> None:
    grid.user("alice")
    grid.org("acme", admins=("alice",))
    grid.write("grid.yaml", manifest)


def runners(grid) -> dict[str, dict]:
    """Every runner in the sandbox by name (control view: scope, status, labels, group)."""
    return {r["name"]: r for r in grid.ctl("GET", "/runners")["runners"]}


def api_json(grid, path: str):
    resp = grid.api("alice", "GET", path)
    assert resp.status_code == 200, resp.text
    return resp.json()


def all_files(root: Path) -> dict[str, bytes]:
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and "sandbox" not in p.relative_to(root).parts:
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def test_plan_apply_replan_clean_and_jit_never_leaks(grid):
    setup(grid)
    results = []
    r = grid.run("plan", "--detailed-exitcode", "--out", "plan.json")
    results.append(r)
    assert r.code == 2, r.all
    for line in ("+ runner alice/app app-1", "+ runner alice/app app-2", "+ runner org acme org-1", "+ runner-group org acme gpu"):
        assert line in r.out, r.out
    assert 'labels: ["build"]' in r.out and 'group: "gpu"' in r.out
    r = grid.run("apply", "plan.json", "--auto-approve")
    results.append(r)
    assert r.code == 0, r.all

    # one 0600 file per runner, in 0700 folders, holding a configuration the sandbox accepts
    configs = {}
    for name, rel in JIT.items():
        path = grid.dir / rel
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, rel
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, rel
        configs[name] = path.read_text()
        assert len(configs[name]) > 40
    live = runners(grid)
    assert set(live) == {"app-1", "app-2", "org-1"}
    assert live["app-1"]["scope"] == "repo:alice/app" and live["org-1"]["scope"] == "org:acme"
    assert live["app-1"]["label_types"] == {"self-hosted": "read-only", "Linux": "read-only", "X64": "read-only", "build": "custom"}
    assert live["org-1"]["group"] == "gpu" and {"gpu", "cuda"} <= set(live["org-1"]["labels"])
    assert all(r["status"] == "offline" and r["jit"] for r in live.values())
    groups = api_json(grid, "/orgs/acme/actions/runner-groups")["runner_groups"]
    gpu = next(g for g in groups if g["name"] == "gpu")
    assert gpu["visibility"] == "selected"
    repos = api_json(grid, f"/orgs/acme/actions/runner-groups/{gpu['id']}/repositories")["repositories"]
    assert [x["full_name"] for x in repos] == ["acme/site"]
    # the file holds the very configuration the runner comes online with
    got = grid.ctl("POST", "/runners/connect", {"encoded_jit_config": configs["app-1"]})
    assert got["name"] == "app-1"
    assert runners(grid)["app-1"]["status"] == "online"

    r = grid.run("plan", "--detailed-exitcode", "--format", "json")
    results.append(r)
    assert r.code == 0, r.all
    plan = json.loads(r.out)
    assert plan["changes"] == []
    notes = {n["address"]: n["message"] for n in plan["notes"]}
    assert "offline" in notes["runner:alice/app:app-2"] and "runner:alice/app:app-1" not in notes  # app-1 is online
    r = grid.run("plan", "--detailed-exitcode")
    results.append(r)
    assert r.code == 0 and "No changes" in r.out, r.all
    r = grid.run("runners", "status", "--json")
    results.append(r)
    assert r.code == 0, r.all

    # the JIT configurations appear nowhere but in their own files
    written = all_files(grid.dir)
    assert ".gridctl/state.json" in written and any(k.startswith(".gridctl/journal/") for k in written)
    for name, config in configs.items():
        for res in results:
            assert config not in res.out and config not in res.err
        holders = [k for k, v in written.items() if config.encode() in v]
        assert holders == [JIT[name]], (name, holders)
    state = json.loads((grid.dir / ".gridctl/state.json").read_text())
    assert state["resources"]["runner:alice/app:app-1"]["jit_file"] == JIT["app-1"]


def test_label_change_is_a_label_update_only(grid):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    before = (grid.dir / JIT["app-1"]).read_text()
    ids = {n: r["id"] for n, r in runners(grid).items()}
    grid.write("grid.yaml", MANIFEST.replace("labels: [linux, x64, build]", "labels: [linux, x64, build, fast]"))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "~ runner alice/app app-1" in r.out and "~ runner alice/app app-2" in r.out
    assert 'labels: ["build"] -> ["build", "fast"]' in r.out
    assert "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete." in r.out
    r = grid.check(0, "apply", "--auto-approve")
    labels = api_json(grid, f"/repos/alice/app/actions/runners/{ids['app-1']}/labels")["labels"]
    assert {lb["name"]: lb["type"] for lb in labels} == {"self-hosted": "read-only", "Linux": "read-only", "X64": "read-only", "build": "custom", "fast": "custom"}
    # the same registrations: no new runner, the JIT file untouched
    assert {n: r["id"] for n, r in runners(grid).items()} == ids
    assert (grid.dir / JIT["app-1"]).read_text() == before
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # labels changed by hand on GitHub are drift, planned back
    assert grid.api("alice", "PUT", f"/repos/alice/app/actions/runners/{ids['app-2']}/labels", {"labels": ["other"]}).status_code == 200
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2 and 'labels: ["other"] -> ["build", "fast"]' in r.out, r.all


def test_runner_group_lifecycle_and_moving_a_runner(grid):
    two_groups = MANIFEST.replace(
        "    gpu: {visibility: selected, repos: [acme/site]}\n",
        "    gpu: {visibility: selected, repos: [acme/site]}\n    cpu: {restricted_to_workflows: true, selected_workflows: [acme/site/.github/workflows/ci.yml@main]}\n",
    )
    setup(grid, two_groups)
    r = grid.check(0, "apply", "--auto-approve")
    groups = {g["name"]: g for g in api_json(grid, "/orgs/acme/actions/runner-groups")["runner_groups"]}
    assert groups["cpu"]["visibility"] == "all" and groups["cpu"]["restricted_to_workflows"] is True
    assert groups["cpu"]["selected_workflows"] == ["acme/site/.github/workflows/ci.yml@main"]
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # update a group, and move the runner to the other group
    changed = two_groups.replace("gpu: {visibility: selected, repos: [acme/site]}", "gpu: {visibility: all, allows_public_repos: true}").replace("group: gpu", "group: cpu")
    grid.write("grid.yaml", changed)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "~ runner-group org acme gpu" in r.out and 'visibility: "selected" -> "all"' in r.out and "allows_public_repos: false -> true" in r.out
    assert "~ runner org acme org-1" in r.out and 'group: "gpu" -> "cpu"' in r.out
    assert "Plan: 0 to create, 2 to update" in r.out
    org1 = runners(grid)["org-1"]["id"]
    r = grid.check(0, "apply", "--auto-approve")
    groups = {g["name"]: g for g in api_json(grid, "/orgs/acme/actions/runner-groups")["runner_groups"]}
    assert groups["gpu"]["visibility"] == "all" and groups["gpu"]["allows_public_repositories"] is True
    assert runners(grid)["org-1"]["group"] == "cpu" and runners(grid)["org-1"]["id"] == org1
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # remove a group from the manifest: deleted
    grid.write("grid.yaml", changed.replace("    gpu: {visibility: all, allows_public_repos: true}\n", ""))
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2 and "- runner-group org acme gpu" in r.out and "Plan: 0 to create, 0 to update, 0 to replace, 1 to delete." in r.out, r.all
    assert grid.run("apply", "--auto-approve").code == 0
    assert {g["name"] for g in api_json(grid, "/orgs/acme/actions/runner-groups")["runner_groups"]} == {"Default", "cpu"}
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # a group created by hand is not gridctl's: never touched
    assert grid.api("alice", "POST", "/orgs/acme/actions/runner-groups", {"name": "manual"}).status_code == 201
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # destroy: runners deleted (JIT files removed), then the group
    r = grid.check(0, "destroy", "--auto-approve")
    assert runners(grid) == {}
    assert {g["name"] for g in api_json(grid, "/orgs/acme/actions/runner-groups")["runner_groups"]} == {"Default", "manual"}
    assert not any((grid.dir / rel).exists() for rel in JIT.values())
    state = json.loads((grid.dir / ".gridctl/state.json").read_text())
    assert not [a for a in state["resources"] if a.startswith("runner")]


def test_busy_runner_is_waited_for_or_skipped_never_killed(grid):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    app2 = runners(grid)["app-2"]
    grid.ctl("POST", "/runners/connect", {"encoded_jit_config": (grid.dir / JIT["app-2"]).read_text()})
    grid.ctl("POST", f"/runners/{app2['id']}", {"busy": True})
    grid.write("grid.yaml", MANIFEST.replace("names: [app-1, app-2]", "names: [app-1]"))
    r = grid.check(2, "plan", "--detailed-exitcode", "--format", "json")
    (change,) = json.loads(r.out)["changes"]
    assert change["action"] == "delete" and change["address"] == "runner:alice/app:app-2"
    assert change["meta"]["busy"] is True and change["meta"]["status"] == "online"
    assert "online and busy: apply waits" in change["reason"]
    r = grid.run("plan")
    assert "- runner alice/app app-2  (online and busy: apply waits" in r.out

    # busy past the wait: skipped with a clear message, kept (runner, state and JIT file)
    t0 = time.monotonic()
    r = grid.check(0, "apply", "--auto-approve", env={"GRIDCTL_RUNNER_WAIT": "0.6", "GRIDCTL_RUNNER_POLL": "0.1"})
    assert time.monotonic() - t0 >= 0.6
    assert "waiting up to 0.6s" in r.err
    assert "app-2 (alice/app) is still running a job after 0.6s: not deleted" in r.err
    assert "- runner alice/app app-2: skipped (busy)" in r.err and "app-2: done" not in r.err
    assert "app-2" in runners(grid) and runners(grid)["app-2"]["busy"] is True
    assert (grid.dir / JIT["app-2"]).exists()
    state = json.loads((grid.dir / ".gridctl/state.json").read_text())
    assert "runner:alice/app:app-2" in state["resources"]
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2 and "- runner alice/app app-2" in r.out  # still planned
    # GRIDCTL_RUNNER_WAIT=0: skip at once
    r = grid.run("apply", "--auto-approve", env={"GRIDCTL_RUNNER_WAIT": "0"})
    assert r.code == 0 and "not deleted" in r.err and "app-2" in runners(grid), r.all

    # the job ends while apply waits: then it is deleted
    def finish_job() -> None:
        time.sleep(1.0)
        grid.ctl("POST", f"/runners/{app2['id']}", {"busy": False})

    t = threading.Thread(target=finish_job)
    t.start()
    r = grid.run("apply", "--auto-approve", env={"GRIDCTL_RUNNER_WAIT": "30", "GRIDCTL_RUNNER_POLL": "0.1"})
    t.join()
    assert r.code == 0, r.all
    assert "waiting up to 30s" in r.err and "not deleted" not in r.err
    assert "app-2" not in runners(grid)
    assert not (grid.dir / JIT["app-2"]).exists()
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_removed_offline_and_idle_runners_are_deleted_unmanaged_left_alone(grid):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    # an online, idle runner and an offline one, both removed from the manifest
    grid.ctl("POST", "/runners/connect", {"encoded_jit_config": (grid.dir / JIT["app-1"]).read_text()})
    # a runner registered by hand is not managed
    manual = grid.api("alice", "POST", "/repos/alice/app/actions/runners/generate-jitconfig", {"name": "manual", "runner_group_id": 1, "labels": ["x"]})
    assert manual.status_code == 201
    grid.write("grid.yaml", MANIFEST.replace("  - scope: alice/app\n    names: [app-1, app-2]\n    labels: [linux, x64, build]\n", ""))
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "- runner alice/app app-1" in r.out and "- runner alice/app app-2" in r.out and "manual" not in r.out
    r = grid.check(0, "apply", "--auto-approve", env={"GRIDCTL_RUNNER_WAIT": "0"})
    assert set(runners(grid)) == {"org-1", "manual"}
    assert not (grid.dir / JIT["app-1"]).exists() and not (grid.dir / JIT["app-2"]).exists()
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # rollback re-registers them (new registrations, new JIT files)
    r = grid.check(0, "rollback", "--auto-approve")
    assert {"app-1", "app-2"} <= set(runners(grid))
    assert (grid.dir / JIT["app-1"]).exists()


def test_offline_runner_without_jit_file_is_registered_again(grid):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    old = runners(grid)["app-1"]["id"]
    old_config = (grid.dir / JIT["app-1"]).read_text()
    (grid.dir / JIT["app-1"]).unlink()  # the host lost it
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "~ runner alice/app app-1" in r.out and "JIT file runners/repos/alice/app/app-1.jit is missing" in r.out
    assert "registration:" in r.out and "Plan: 0 to create, 1 to update" in r.out
    r = grid.check(0, "apply", "--auto-approve")
    now = runners(grid)["app-1"]
    assert now["id"] != old and now["labels"] == ["self-hosted", "Linux", "X64", "build"]
    new_config = (grid.dir / JIT["app-1"]).read_text()
    assert new_config != old_config and old_config not in r.all and new_config not in r.all
    assert grid.ctl("POST", "/runners/connect", {"encoded_jit_config": new_config})["id"] == now["id"]
    assert grid.run("plan", "--detailed-exitcode").code == 0

    # online without a local file: running elsewhere, left alone
    (grid.dir / JIT["app-1"]).unlink()
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_ephemeral_runner_gone_after_its_job_is_registered_again(grid):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    rid = runners(grid)["app-2"]["id"]
    # GitHub removes a JIT (ephemeral) runner after its job
    assert grid.api("alice", "DELETE", f"/repos/alice/app/actions/runners/{rid}").status_code == 204
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2 and "+ runner alice/app app-2" in r.out, r.all
    assert grid.run("apply", "--auto-approve").code == 0
    assert runners(grid)["app-2"]["id"] != rid
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_jit_paths_must_stay_inside_the_manifest_folder(grid):
    setup(grid, MANIFEST.replace("    group: gpu\n", "    group: gpu\n    jit_config: {write_to: ../outside}\n"))
    r = grid.run("plan")
    assert r.code == 1 and "must be a folder inside the manifest's folder" in r.err, r.all
    assert not (grid.dir.parent / "outside").exists()
    # a symlinked folder leading out is refused too
    (grid.dir.parent / "elsewhere").mkdir()
    os.symlink(grid.dir.parent / "elsewhere", grid.dir / "links")
    grid.write("grid.yaml", MANIFEST.replace("    group: gpu\n", "    group: gpu\n    jit_config: {write_to: links}\n"))
    r = grid.run("apply", "--auto-approve")
    assert r.code == 1 and "outside the manifest's folder" in r.err, r.all
    assert runners(grid) == {}


def test_runners_status_table(grid):
    setup(grid)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.ctl("POST", "/runners/connect", {"encoded_jit_config": (grid.dir / JIT["app-1"]).read_text()})
    grid.ctl("POST", f"/runners/{runners(grid)['app-1']['id']}", {"busy": True})
    assert grid.api("alice", "POST", "/repos/alice/app/actions/runners/generate-jitconfig", {"name": "stray", "runner_group_id": 1, "labels": ["x"]}).status_code == 201
    assert grid.api("alice", "DELETE", f"/repos/alice/app/actions/runners/{runners(grid)['app-2']['id']}").status_code == 204
    r = grid.check(0, "runners", "status")
    lines = {ln.split("│")[2].strip(): ln for ln in r.out.splitlines() if ln.count("│") >= 8}
    assert "online" in lines["app-1"] and "busy" in lines["app-1"] and "build" in lines["app-1"] and "ok" in lines["app-1"]
    assert "missing" in lines["app-2"]
    assert "not declared" in lines["stray"]
    assert "gpu" in lines["org-1"] and "offline" in lines["org-1"]
    assert "1 online, 1 declared but missing, 1 present but not declared" in r.out
    rows = json.loads(grid.run("runners", "status", "--json").out)
    by = {x["name"]: x for x in rows}
    assert by["app-1"]["busy"] is True and by["app-1"]["labels"] == ["self-hosted", "Linux", "X64", "build"]
    assert by["org-1"]["group"] == "gpu" and by["app-2"]["declared"] == "missing" and by["stray"]["declared"] == "not declared"


def test_no_change_plan_is_one_list_call_per_scope(grid):
    n = 25
    names = ", ".join(f"r-{i:02d}" for i in range(n))
    manifest = grid_yaml(f"""\
    runners:
      - scope: alice/farm
        names: [{names}]
        labels: [linux, farm]
      - scope: org:acme
        names: [{names}]
        labels: [farm]
    """, ALICE, ACME, indent="    ")
    setup(grid, manifest)
    assert grid.api("alice", "POST", "/user/repos", {"name": "farm"}).status_code == 201
    grid.check(0, "apply", "--auto-approve")
    assert len(grid.ctl("GET", "/runners")["runners"]) == 2 * n
    grid.ctl("POST", "/stats/reset")
    grid.check(0, "plan", "--detailed-exitcode")
    ops = {op: c["requests"] for op, c in grid.ctl("GET", "/stats")["by_endpoint"].items()}
    assert ops.pop("actions/list-self-hosted-runners-for-repo") == 1
    assert ops.pop("actions/list-self-hosted-runners-for-org") == 1
    assert not [op for op in ops if "runner" in op], ops  # no per-runner call, no group list (all in Default)
    assert sum(ops.values()) <= 4, ops  # plus the token checks (GET /user, org membership)
