"""End to end: repositories, topics and variables; plan -> apply -> no changes; drift; destroy."""

from __future__ import annotations

import json

from ..helpers import grid_yaml

MANIFEST = grid_yaml("""\
repos:
  alice/demo:
    description: Demo repository
    visibility: private
    has_wiki: false
    topics: [grid, demo]
    variables: {MAX_PARALLEL: 20, REGION: eu}
""")


def test_plan_apply_converges(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ repo alice/demo" in r.out and "Plan: 4 to create" in r.out
    r = grid.check(0, "apply", "--auto-approve")
    repo = grid.gh("alice").get_repo("alice/demo")
    assert repo.private and repo.description == "Demo repository" and repo.has_wiki is False
    assert sorted(repo.get_topics()) == ["demo", "grid"]
    assert {v.name: v.value for v in repo.get_variables()} == {"MAX_PARALLEL": "20", "REGION": "eu"}
    r = grid.check(0, "plan", "--detailed-exitcode")
    assert "No changes" in r.out


def test_drift_is_planned_back(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    assert grid.run("apply", "--auto-approve").code == 0
    assert grid.api("alice", "PATCH", "/repos/alice/demo", {"description": "changed by hand"}).status_code == 200
    assert grid.api("alice", "PATCH", "/repos/alice/demo/actions/variables/REGION", {"value": "us"}).status_code == 204
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2
    assert 'description: "changed by hand" -> "Demo repository"' in r.out
    assert 'value: "us" -> "eu"' in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_removed_variable_is_deleted_only_when_managed(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    assert grid.run("apply", "--auto-approve").code == 0
    # a variable created outside gridctl is left alone...
    assert grid.api("alice", "POST", "/repos/alice/demo/actions/variables", {"name": "MANUAL", "value": "x"}).status_code == 201
    # ...while one gridctl managed and the manifest dropped is deleted
    grid.write("grid.yaml", MANIFEST.replace(", REGION: eu", ""))
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2
    assert "- variable alice/demo REGION" in r.out
    assert "MANUAL" not in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    names = {v.name for v in grid.gh("alice").get_repo("alice/demo").get_variables()}
    assert names == {"MAX_PARALLEL", "MANUAL"}


def test_saved_plan_applies_and_refuses_when_stale(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.write("grid.yaml", MANIFEST.replace("REGION: eu", "REGION: ap"))
    r = grid.run("plan", "--out", "plan.json")
    assert r.code == 0
    plan = json.loads((grid.dir / "plan.json").read_text())
    assert plan["summary"]["update"] == 1 and len(plan["plan_id"]) == 64
    # someone changes the variable after the review: the saved plan is stale
    assert grid.api("alice", "PATCH", "/repos/alice/demo/actions/variables/REGION", {"value": "sa"}).status_code == 204
    r = grid.run("apply", "plan.json", "--auto-approve")
    assert r.code == 1
    assert "stale" in r.err
    assert grid.gh("alice").get_repo("alice/demo").get_variable("REGION").value == "sa"
    # a fresh plan applies
    assert grid.run("plan", "--out", "plan.json").code == 0
    r = grid.check(0, "apply", "plan.json", "--auto-approve")
    assert grid.gh("alice").get_repo("alice/demo").get_variable("REGION").value == "ap"


def test_destroy_archives_managed_repo(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    assert grid.run("apply", "--auto-approve").code == 0
    grid.check(0, "destroy", "--auto-approve")
    repo = grid.gh("alice").get_repo("alice/demo")
    assert repo.archived is True
    assert list(repo.get_variables()) == []


def test_prevent_destroy_refuses_destroy(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST.replace("    has_wiki: false\n", "    has_wiki: false\n    lifecycle: {prevent_destroy: true}\n"))
    assert grid.run("apply", "--auto-approve").code == 0
    r = grid.run("destroy", "--auto-approve")
    assert r.code == 1
    assert "lifecycle.prevent_destroy forbids destroying: repo:alice/demo" in r.err
    assert grid.gh("alice").get_repo("alice/demo").archived is False
    # removing the repository from the manifest is refused the same way (state remembers)
    grid.write("grid.yaml", "version: 1\naccounts:\n  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\n")
    r = grid.run("plan")
    assert r.code == 1 and "prevent_destroy" in r.err


def test_hard_delete_needs_force_and_gridctl_files_are_private(grid):
    import stat

    grid.user("alice")
    grid.write("grid.yaml", MANIFEST.replace("    has_wiki: false\n", "    has_wiki: false\n    lifecycle: {on_destroy: delete}\n"))
    assert grid.run("apply", "--auto-approve").code == 0
    for rel in (".gridctl/state.json", ".gridctl/fingerprint.key"):
        assert stat.S_IMODE((grid.dir / rel).stat().st_mode) == 0o600, rel
    for journal in (grid.dir / ".gridctl" / "journal").glob("*.jsonl"):
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    r = grid.run("destroy", "--auto-approve")
    assert r.code == 1 and "deletes the repository and everything in it" in r.err
    r = grid.check(0, "destroy", "--auto-approve", "--force")
    assert grid.api("alice", "GET", "/repos/alice/demo").status_code == 404
