"""examples/runners/: plans, applies, re-plans to no changes and destroys cleanly — on the strict
sandbox (token from the environment, as for real) and on the embedded one (as its README says)."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "runners"
RUNNERS = {
    "web-runner": ("ci-bot/web", ["node", "web"], "X64"),
    "api-runner": ("ci-bot/api", ["api", "go"], "X64"),
    "docs-runner": ("ci-bot/docs", ["docs"], "ARM64"),
}


def copy_example(grid) -> None:
    for p in EXAMPLE.iterdir():
        if p.is_file():
            shutil.copy(p, grid.dir / p.name)


def jit_file(grid, name: str) -> Path:
    full, _, _ = RUNNERS[name]
    return grid.dir / "runners/repos" / full / f"{name}.jit"


def test_example_runners_on_the_strict_sandbox(grid):
    grid.user("ci-bot")
    copy_example(grid)
    r = grid.check(2, "plan", "--detailed-exitcode")
    assert "Plan: 6 to create, 0 to update, 0 to replace, 0 to delete." in r.out
    r = grid.check(0, "apply", "--auto-approve")
    live = {x["name"]: x for x in grid.ctl("GET", "/runners")["runners"]}
    assert set(live) == set(RUNNERS)
    for name, (full, custom, arch) in RUNNERS.items():
        assert live[name]["scope"] == f"repo:{full}"
        assert sorted(live[name]["labels"]) == sorted(["self-hosted", "Linux", arch, *custom])
        assert {n for n, t in live[name]["label_types"].items() if t == "custom"} == set(custom)
        path = jit_file(grid, name)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        config = path.read_text()
        assert config not in r.all
        assert grid.ctl("POST", "/runners/connect", {"encoded_jit_config": config})["name"] == name
    repo = grid.gh("ci-bot").get_repo("ci-bot/web")
    assert repo.private is True and repo.has_wiki is False
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 0 and "No changes" in r.out, r.all
    r = grid.run("runners", "status")
    assert r.code == 0 and "3 online, 0 declared but missing, 0 present but not declared" in r.out, r.all

    r = grid.check(0, "destroy", "--auto-approve", env={"GRIDCTL_RUNNER_WAIT": "0"})
    assert grid.ctl("GET", "/runners")["runners"] == []
    assert not any(jit_file(grid, n).exists() for n in RUNNERS)
    assert grid.gh("ci-bot").get_repo("ci-bot/web").archived is True
    r = grid.run("plan", "--destroy", "--detailed-exitcode")
    assert r.code == 0 and "No changes" in r.out, r.all


def test_example_runners_with_the_embedded_sandbox(grid):
    copy_example(grid)
    r = grid.run("plan", "--sandbox", "--detailed-exitcode")
    assert r.code == 2 and "+ runner ci-bot/docs docs-runner" in r.out, r.all
    r = grid.check(0, "apply", "--sandbox", "--auto-approve")
    assert all(jit_file(grid, n).exists() for n in RUNNERS)
    r = grid.run("runners", "status", "--sandbox")
    assert r.code == 0 and "0 online, 0 declared but missing, 0 present but not declared" in r.out, r.all
    r = grid.check(0, "plan", "--sandbox", "--detailed-exitcode")
    r = grid.check(0, "destroy", "--sandbox", "--auto-approve")
    assert not any(jit_file(grid, n).exists() for n in RUNNERS)
    r = grid.check(0, "plan", "--sandbox", "--destroy", "--detailed-exitcode")
