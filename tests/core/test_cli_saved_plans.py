"""Saved plans, Terraform's way: ``gridctl apply PLAN_FILE`` applies a reviewed plan without
asking (and still refuses a stale one), printing one line instead of the whole plan;
``gridctl show PLAN_FILE`` renders a saved plan without reading GitHub; the README's "Using it
against GitHub" block holds as written in a non-interactive shell. The CLI runs as its own
process with no terminal on stdin, against the strict sandbox."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from gridctl.plan import Plan

ROOT = Path(__file__).resolve().parents[2]

MANIFEST = """
version: 1
accounts:
  main: {{login: alice, token: {{env: GRID_TOKEN_MAIN}}}}
repos:
  alice/demo:
    description: {description}
    visibility: private
    topics: [grid]
    collaborators: {{bob: push}}
    variables: {{REGION: eu}}
"""


def write_manifest(grid, description: str = "first") -> None:
    grid.write("grid.yaml", MANIFEST.format(description=description))


def setup(grid) -> None:
    grid.env["GRID_TOKEN_MAIN"] = grid.user("alice")
    grid.user("bob")
    write_manifest(grid)


def gridctl(grid, *args: str, shell: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real CLI in its own process, stdin not a terminal (closed), as in CI or a pipe."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GRID_TOKEN", "GITHUB_"))}
    full_env = {
        **base, "GRIDCTL_API_URL": grid.sb.url, "NO_COLOR": "1", "GRIDCTL_WRITE_INTERVAL": "0",
        "GRIDCTL_SECONDARY_FLOOR": "0.01", "GRIDCTL_BACKOFF_BASE": "0.01", **grid.env, **(env or {}),
    }
    cmd = ["bash", "-c", shell] if shell is not None else [sys.executable, "-m", "gridctl", *args]
    return subprocess.run(cmd, cwd=cwd or grid.dir, env=full_env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)


def repo(grid) -> dict:
    r = grid.api("alice", "GET", "/repos/alice/demo")
    return r.json() if r.status_code == 200 else {}


def test_saved_plan_applies_without_asking_in_a_non_interactive_shell(grid):
    setup(grid)
    r = gridctl(grid, "plan", "--out", "plan.json")
    assert r.returncode == 0, r.stderr
    saved = Plan.from_json(json.loads((grid.dir / "plan.json").read_text()))
    # without a plan file, a non-interactive apply still refuses to change anything
    r = gridctl(grid, "apply")
    assert r.returncode == 1 and "pass --auto-approve" in r.stderr
    assert repo(grid) == {}
    # the saved plan is the approval: applied, no question, no --auto-approve
    r = gridctl(grid, "apply", "plan.json")
    assert r.returncode == 0, r.stdout + r.stderr
    # ...and what was just reviewed is summed up in one line, not printed again
    assert r.stdout.splitlines() == [
        f"Applying the saved plan {saved.plan_id[:12]} (plan.json): 4 to create, 0 to update, 0 to replace, 0 to delete."
    ]
    assert "+ repo alice/demo: done" in r.stderr and "applied 4 change(s)" in r.stderr
    assert repo(grid)["description"] == "first" and repo(grid)["topics"] == ["grid"]
    assert gridctl(grid, "plan", "--detailed-exitcode").returncode == 0
    # apply without a plan file prints the plan it computed (in full) before asking
    write_manifest(grid, "second")
    r = gridctl(grid, "apply", "--auto-approve")
    assert r.returncode == 0, r.stderr
    assert "gridctl will apply the following changes" in r.stdout and 'description: "first" -> "second"' in r.stdout


def test_stale_saved_plan_is_refused_without_asking_or_writing(grid):
    setup(grid)
    assert gridctl(grid, "apply", "--auto-approve").returncode == 0
    write_manifest(grid, "reviewed")
    assert gridctl(grid, "plan", "--out", "plan.json").returncode == 0
    # GitHub changes after the review
    r = grid.api("alice", "PATCH", "/repos/alice/demo", {"description": "changed by hand"})
    assert r.status_code == 200, r.text
    r = gridctl(grid, "apply", "plan.json")
    assert r.returncode == 1
    assert "saved plan is stale: repo:alice/demo is different on GitHub since the plan was made" in r.stderr
    assert "Traceback" not in r.stderr
    assert repo(grid)["description"] == "changed by hand"
    # a manifest edited since the plan: refused too
    assert gridctl(grid, "plan", "--out", "plan.json").returncode == 0
    write_manifest(grid, "edited again")
    r = gridctl(grid, "apply", "plan.json")
    assert r.returncode == 1 and "changed since the plan was made" in r.stderr
    assert repo(grid)["description"] == "changed by hand"


def test_show_renders_a_saved_plan_without_any_api_request(grid):
    setup(grid)
    assert gridctl(grid, "plan", "--out", "plan.json").returncode == 0
    text_plan = gridctl(grid, "plan").stdout
    (grid.dir / "grid.yaml").rename(grid.dir / "elsewhere.yaml")  # no manifest, no token either
    grid.ctl("POST", "/stats/reset")
    no_tokens = {k: "" for k in grid.env if k.startswith("GRID_TOKEN")}
    r = gridctl(grid, "show", "plan.json", env=no_tokens)
    assert r.returncode == 0, r.stderr
    assert r.stdout == text_plan
    r = gridctl(grid, "show", "plan.json", "--format", "markdown", env=no_tokens)
    assert r.returncode == 0 and r.stdout.startswith("### gridctl plan `") and "`plan.json`" in r.stdout
    r = gridctl(grid, "show", "plan.json", "--format", "json", env=no_tokens)
    assert r.returncode == 0
    assert json.loads(r.stdout)["plan_id"] == json.loads((grid.dir / "plan.json").read_text())["plan_id"]
    assert grid.ctl("GET", "/stats")["total"].get("requests", 0) == 0
    r = gridctl(grid, "show", "plan.json", "--format", "yaml", env=no_tokens)
    assert r.returncode == 1 and "unknown format 'yaml'" in r.stderr


def test_damaged_or_foreign_plan_files_are_refused_naming_the_file(grid):
    setup(grid)
    assert gridctl(grid, "plan", "--out", "plan.json").returncode == 0
    good = json.loads((grid.dir / "plan.json").read_text())
    tampered = {**good, "changes": [{**good["changes"][0], "reason": "edited"}, *good["changes"][1:]]}
    wrong_type = {k: v for k, v in good.items() if k != "plan_id"}
    wrong_type["changes"] = [{**good["changes"][0], "after": ["not", "an", "object"]}]
    cases = {
        "truncated.json": (grid.dir / "plan.json").read_text()[:200],
        "list.json": "[1, 2, 3]",
        "foreign.json": json.dumps({"format_version": 4, "terraform_version": "1.9.0", "resource_changes": []}),
        "tampered.json": json.dumps(tampered),
        "types.json": json.dumps(wrong_type),
        "binary.json": b"\x00\xff\xfe plan",
        "missing-keys.json": json.dumps({"format_version": "1"}),
    }
    for name, content in cases.items():
        grid.write(name, content)
    for name in [*cases, "absent.json"]:
        for args in (["show", name], ["apply", name]):
            r = gridctl(grid, *args)
            assert r.returncode == 1, (args, r.stdout, r.stderr)
            assert re.search(rf"^error: {re.escape(name)}: (not a gridctl plan|cannot read the plan)", r.stderr, re.M), (args, r.stderr)
            assert "Traceback" not in r.stderr and "internal error" not in r.stderr, (args, r.stderr)
    assert repo(grid) == {}


def readme_block() -> list[str]:
    """The command lines of the README's "Using it against GitHub" block, comments cut."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using it against GitHub", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines() if line.startswith("gridctl")]


def test_readme_usage_block_holds_as_written_in_a_non_interactive_shell(grid):
    setup(grid)
    lines = readme_block()
    assert [x.split()[1] for x in lines] == ["validate", "plan", "show", "apply", "apply", "rollback", "destroy"]
    results = {}
    for line in lines:
        if line == "gridctl apply --auto-approve":
            write_manifest(grid, "second")  # something for "plan and apply in one go" to do
        r = gridctl(grid, shell=line)
        results[line] = r
        if line == "gridctl plan --out plan.json":
            assert (grid.dir / "plan.json").exists()
        if line == "gridctl apply plan.json":  # applied the saved plan, no question asked
            assert r.returncode == 0 and repo(grid)["description"] == "first", r.stderr
    codes = [results[x].returncode for x in lines]
    # validate, plan, show, apply plan.json and apply --auto-approve succeed; rollback and destroy
    # show their plan and, with nobody to say "yes", ask for --auto-approve and change nothing
    assert codes == [0, 0, 0, 0, 0, 1, 1], {x: (r.returncode, r.stderr[-300:]) for x, r in results.items()}
    assert 'description: "first" -> "second"' in results["gridctl apply --auto-approve"].stdout
    # rollback shows the inverse of that run, destroy what it would remove; neither acts
    assert 'description: "second" -> "first"' in results["gridctl rollback"].stdout
    assert "gridctl will destroy the following changes" in results["gridctl destroy"].stdout
    for line in lines[-2:]:
        assert "pass --auto-approve" in results[line].stderr
    assert repo(grid)["description"] == "second" and not repo(grid)["archived"]
    assert gridctl(grid, "plan", "--detailed-exitcode").returncode == 0
