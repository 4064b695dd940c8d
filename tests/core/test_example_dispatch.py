"""End to end: examples/dispatch — runner groups by label, templates from included files,
dispatched when idle. Plans, applies, re-plans to no changes, fires, destroys cleanly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gridctl.resources import KINDS

from ..helpers import copy_example

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dispatch"
#: the kinds the example's lifecycle needs besides repositories (written in parallel with dispatch)
NEEDED = {"file", "runner", "runner-group"}


def setup(grid) -> None:
    grid.user("alice")
    grid.org("lab-grid", admins=("alice",))
    grid.env["GRID_TOKEN_LAB"] = grid.tokens["alice"]
    copy_example(EXAMPLE, grid.dir, "runners")


def line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


def runs(grid) -> list[dict]:
    return grid.ctl("GET", "/runs?repo=lab-grid/jobs")["runs"]


def lab_runners(grid) -> dict[str, dict]:
    return {r["name"]: r for r in grid.ctl("GET", "/runners")["runners"] if r["scope"] == "org:lab-grid"}


def test_example_templates_are_checked_against_the_manifest_before_the_first_apply(grid):
    setup(grid)
    grid.ctl("POST", "/stats/reset")
    r = grid.check(2, "plan", "--detailed-exitcode")
    # lab-grid/jobs and its workflows do not exist yet: the templates were checked against the
    # workflow files the manifest deploys, without asking GitHub for them
    assert "repos/get-content" not in grid.ctl("GET", "/stats")["by_endpoint"]
    training = grid.dir / "templates" / "training.yaml"
    training.write_text(training.read_text().replace("precision: bf16", "precision: bf-16"))
    r = grid.check(1, "plan")
    assert f"templates/training.yaml:{line_of(training, 'precision: bf-16')}:" in r.err
    assert "dispatch template train-large: input 'precision': 'bf-16' is not one of its options (did you mean 'bf16'?): fp32, bf16" in r.err


@pytest.mark.xfail(not set(KINDS) >= NEEDED, reason="the file/runner kinds are written in parallel", strict=False)
def test_example_lifecycle_dispatches_when_idle(grid):
    setup(grid)
    r = grid.check(0, "apply", "--auto-approve")
    r = grid.check(0, "plan", "--detailed-exitcode")
    runners = lab_runners(grid)
    assert sorted(runners) == ["cpu-1", "cpu-2", "cpu-3", "gpu-1", "gpu-2"]
    assert {runners["gpu-1"]["group"], runners["cpu-1"]["group"]} == {"gpu", "cpu"}

    # the stand-in runner processes start from their JIT files; the GPUs are busy
    for jit in sorted((grid.dir / "runners").rglob("*.jit")):
        grid.ctl("POST", "/runners/connect", {"encoded_jit_config": jit.read_text().strip()})
    for name in ("gpu-1", "gpu-2"):
        grid.ctl("POST", f"/runners/{runners[name]['id']}", {"busy": True})

    r = grid.check(0, "dispatch", "--ready")
    assert re.search(r"^fired   render-frames: run \d+ ", r.out, re.M), r.out
    assert "skipped train-large: no idle runner with labels gpu, linux (2 busy)" in r.out
    assert "skipped train-small: no idle runner with labels gpu (2 busy)" in r.out
    (render,) = runs(grid)
    assert render["path"] == ".github/workflows/render.yml" and render["inputs"] == {"scene": "city", "frames": 240}

    # the CPUs get busy, one GPU frees up: the first GPU template takes it, the other waits
    for name in ("cpu-1", "cpu-2", "cpu-3"):
        grid.ctl("POST", f"/runners/{runners[name]['id']}", {"busy": True})
    grid.ctl("POST", f"/runners/{runners['gpu-1']['id']}", {"busy": False})
    r = grid.check(0, "dispatch", "--ready")
    assert re.search(r"^fired   train-large: run \d+ \S+ \(runner gpu-1 \(gpu, linux\) is idle; 0 of at most 1 run\(s\) active\)$", r.out, re.M), r.out
    assert "skipped train-small: no idle runner with labels gpu (1 busy, 1 taken by a template fired in this pass)" in r.out
    assert "skipped render-frames: no idle runner with labels cpu (3 busy)" in r.out
    train = [x for x in runs(grid) if x["path"].endswith("train.yml")]
    assert [x["inputs"] for x in train] == [{"model": "large", "epochs": 10, "precision": "bf16"}]

    # jobs done, runner processes stopped: destroy removes everything gridctl made
    for rid in (x["id"] for x in lab_runners(grid).values()):
        grid.ctl("POST", f"/runners/{rid}", {"status": "offline"})
    r = grid.check(0, "destroy", "--auto-approve")
    assert lab_runners(grid) == {}
    groups = grid.api("alice", "GET", "/orgs/lab-grid/actions/runner-groups").json()["runner_groups"]
    assert [g["name"] for g in groups] == ["Default"]
    assert grid.gh("alice").get_repo("lab-grid/jobs").archived is True
