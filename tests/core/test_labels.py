"""Kind ``label`` end to end against the strict sandbox: create, converge, drift, rename by case,
delete only what is managed, ``prune: {labels: true}``, rollback, destroy — and the labels the
sandbox holds are read back with PyGithub, independently of gridctl."""

from __future__ import annotations

import pytest

from ..helpers import grid_yaml

MANIFEST = grid_yaml("""\
repos:
  alice/demo:
    labels:
      bug: {color: d73a4a, description: Something is broken}
      triage: "#FBCA04"
""")


@pytest.fixture
def demo(grid):
    """alice/demo with the two labels applied."""
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    grid.check(0, "apply", "--auto-approve")
    return grid


def labels(grid) -> dict[str, tuple[str, str]]:
    repo = grid.gh("alice").get_repo("alice/demo")
    return {lb.name: (lb.color, lb.description or "") for lb in repo.get_labels()}


def test_labels_converge_and_drift_is_planned_back(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "+ label alice/demo bug" in r.out and "+ label alice/demo triage" in r.out
    r = grid.check(0, "apply", "--auto-approve")
    got = labels(grid)
    assert got["bug"] == ("d73a4a", "Something is broken")
    assert got["triage"] == ("fbca04", "")
    assert grid.run("plan", "--detailed-exitcode").code == 0
    # changed by hand: planned back
    assert grid.api("alice", "PATCH", "/repos/alice/demo/labels/triage", {"color": "000000"}).status_code == 200
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2 and 'color: "000000" -> "fbca04"' in r.out, r.out
    assert grid.run("apply", "--auto-approve").code == 0
    assert labels(grid)["triage"] == ("fbca04", "")


def test_a_case_change_is_a_rename_and_removal_deletes_only_managed(demo):
    grid = demo
    assert grid.api("alice", "POST", "/repos/alice/demo/labels", {"name": "manual", "color": "ffffff"}).status_code == 201
    grid.write("grid.yaml", MANIFEST.replace("      bug:", "      Bug:").replace('      triage: "#FBCA04"\n', ""))
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2
    assert "~ label alice/demo bug" in r.out and "- label alice/demo triage" in r.out
    assert "manual" not in r.out
    assert grid.run("apply", "--auto-approve").code == 0
    got = labels(grid)
    assert "Bug" in got and "bug" not in got and "triage" not in got and "manual" in got
    assert grid.run("plan", "--detailed-exitcode").code == 0


def test_prune_deletes_undeclared_labels_and_rollback_restores_them(demo):
    grid = demo
    assert grid.api("alice", "POST", "/repos/alice/demo/labels", {"name": "manual", "color": "ffffff", "description": "by hand"}).status_code == 201
    grid.write("grid.yaml", MANIFEST + "    prune: {labels: true}\n")
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2 and "- label alice/demo manual" in r.out and "prune is on" in r.out, r.out
    # GitHub's eight other default labels go too: more than 30% of the collection, so --force
    r = grid.run("apply", "--auto-approve")
    assert r.code == 1 and "deletes 9 of 11 label items in alice/demo" in r.err, r.all
    assert grid.run("apply", "--auto-approve", "--force").code == 0
    assert set(labels(grid)) == {"bug", "triage"}
    r = grid.check(0, "rollback", "--auto-approve")
    assert labels(grid)["manual"] == ("ffffff", "by hand")


def test_bad_labels_are_refused_at_their_line(grid):
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST.replace('"#FBCA04"', "yellow"))
    r = grid.run("validate")
    assert r.code == 1 and "grid.yaml:8:15: error:" in r.err, r.err
    grid.write("grid.yaml", MANIFEST + "      BUG: {color: '000000'}\n")
    r = grid.run("validate")
    assert r.code == 1
    assert "grid.yaml:9:7: error: label BUG is declared twice" in r.err, r.err
    assert "Traceback" not in r.all


def test_destroy_removes_managed_labels(demo):
    grid = demo
    r = grid.check(0, "destroy", "--auto-approve")
    assert "- label alice/demo bug" in r.out
