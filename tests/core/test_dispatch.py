"""End to end: dispatch templates — plan-time validation with file:line, `gridctl dispatch`
(run id and URL, -i overrides, --dry-run, --wait), when_idle runners, max_concurrent, --ready."""

from __future__ import annotations

import re
import threading
import time

import pytest

from ..helpers import ALICE, grid_yaml

WORKFLOW = """\
name: Train
on:
  workflow_dispatch:
    inputs:
      model:
        type: choice
        options: [small, large]
        required: true
      epochs:
        type: number
        default: 3
      dry:
        type: boolean
        default: false
      note:
        description: free text
jobs:
  train:
    runs-on: [self-hosted, gpu]
    steps:
      - run: echo training
"""

ACCOUNTS = """\
version: 1
accounts:
  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}
"""


def make_repo(grid, name="demo", files=None, *, owner=None, private=True):
    """A repository with files on its default branch, made with PyGithub (not gridctl)."""
    gh = grid.gh("alice")
    if owner:
        repo = gh.get_organization(owner).create_repo(name, auto_init=True, private=private)
    else:
        repo = gh.get_user().create_repo(name, auto_init=True, private=private)
    for path, text in (files if files is not None else {".github/workflows/train.yml": WORKFLOW}).items():
        repo.create_file(path, f"add {path}", text)
    return repo


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line number of the nth line containing ``needle``."""
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError(f"{needle!r} not in the text")


def runs(grid, repo="alice/demo"):
    return grid.ctl("GET", f"/runs?repo={repo}")["runs"]


def stats(grid):
    return grid.ctl("GET", "/stats")["by_endpoint"]


def write_template(grid, inline: bool, body: str) -> tuple[str, str]:
    """The template ``train`` inline in grid.yaml or in an included file; returns (file, text)."""
    if inline:
        text = ACCOUNTS + "dispatch:\n  train:\n" + "\n".join("    " + ln for ln in body.strip("\n").splitlines()) + "\n"
        grid.write("grid.yaml", text)
        return "grid.yaml", text
    grid.write("grid.yaml", ACCOUNTS + "dispatch:\n  include: [templates/*.yaml]\n")
    text = "# templates of the training jobs\ntrain:\n" + "\n".join("  " + ln for ln in body.strip("\n").splitlines()) + "\n"
    grid.write("templates/train.yaml", text)
    return "templates/train.yaml", text


# -- plan-time validation ---------------------------------------------------------------------


def plan_error(grid, inline: bool, body: str) -> tuple[str, str, str]:
    """A plan with the template ``train`` (``body``) inline or included, which must fail:
    (the template's file, its text, the plan's stderr)."""
    grid.user("alice")
    make_repo(grid)
    file, text = write_template(grid, inline, body)
    return file, text, grid.check(1, "plan").err


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "included"])
def test_plan_reports_unknown_input_at_its_line(grid, inline):
    file, text, err = plan_error(grid, inline, """
repo: alice/demo
workflow: train.yml
inputs:
  model: small
  epoch: 5
""")
    assert f"{file}:{line_of(text, 'epoch: 5')}:" in err, err
    assert "input 'epoch' is not defined by .github/workflows/train.yml (did you mean 'epochs'?)" in err


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "included"])
def test_plan_reports_missing_required_input_at_its_line(grid, inline):
    file, text, err = plan_error(grid, inline, """
repo: alice/demo
workflow: train.yml
ref: main
inputs:
  epochs: 5
""")
    assert f"{file}:{line_of(text, 'inputs:')}:" in err, err
    assert "required input 'model' of .github/workflows/train.yml is not given, and it has no default" in err


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "included"])
def test_plan_reports_bad_choice_value_at_its_line(grid, inline):
    file, text, err = plan_error(grid, inline, """
repo: alice/demo
workflow: train.yml
inputs:
  epochs: 4
  model: smal
  dry: maybe
""")
    assert f"{file}:{line_of(text, 'model: smal')}:" in err, err
    assert "input 'model': 'smal' is not one of its options (did you mean 'small'?): small, large" in err
    assert f"{file}:{line_of(text, 'dry: maybe')}:" in err
    assert "input 'dry' is a boolean: 'maybe' is not true or false" in err


def test_plan_passes_a_valid_template_with_one_read_per_workflow_and_ref(grid):
    grid.user("alice")
    make_repo(grid)
    grid.write("grid.yaml", ACCOUNTS + """
dispatch:
  small: {repo: alice/demo, workflow: train.yml, inputs: {model: small}}
  large: {repo: alice/demo, workflow: train.yml, inputs: {model: large, epochs: 9, dry: true}}
  pinned: {repo: alice/demo, workflow: .github/workflows/train.yml, ref: main, inputs: {model: small, note: hi}}
""")
    grid.ctl("POST", "/stats/reset")
    grid.check(0, "plan", "--detailed-exitcode")
    ops = stats(grid)
    # small and large share (alice/demo, train.yml, default branch); pinned reads at ref main
    assert ops["repos/get-content"]["requests"] == 2
    # an explicit ref also checks that the workflow is on the default branch
    assert ops["actions/get-workflow"]["requests"] == 1
    # a second plan costs the same requests, answered 304 (no rate-limit points)
    grid.ctl("POST", "/stats/reset")
    assert grid.run("plan", "--detailed-exitcode").code == 0
    ops = stats(grid)
    assert ops["repos/get-content"] == {"requests": 2, "status_304": 2, "not_modified": 2}


@pytest.mark.parametrize(
    "on",
    [
        "on: workflow_dispatch",
        "on: [push, workflow_dispatch]",
        "on:\n  workflow_dispatch:\n  push: {branches: [main]}",
        "%YAML 1.1\n---\non: [workflow_dispatch]",  # YAML 1.1 reads the `on` key as true
    ],
    ids=["string", "list", "mapping", "yaml11"],
)
def test_trigger_forms_are_understood(grid, on):
    grid.user("alice")
    make_repo(grid, files={".github/workflows/go.yml": f"{on}\njobs: {{a: {{runs-on: x, steps: [{{run: 'true'}}]}}}}\n"})
    grid.write("grid.yaml", ACCOUNTS + "dispatch:\n  go: {repo: alice/demo, workflow: go.yml}\n")
    assert grid.run("plan").code == 0
    grid.write("grid.yaml", ACCOUNTS + "dispatch:\n  go: {repo: alice/demo, workflow: go.yml, inputs: {x: 1}}\n")
    r = grid.run("plan")
    assert r.code == 1 and "input 'x' is not defined by .github/workflows/go.yml; it defines no inputs" in r.err, r.all
    # the sandbox agrees: it refuses the same input
    assert grid.run("dispatch", "go", "-i", "x=1").code == 1


def test_plan_reports_missing_repo_workflow_ref_and_trigger(grid):
    grid.user("alice")
    make_repo(grid, files={".github/workflows/train.yml": WORKFLOW, ".github/workflows/ci.yml": "on: push\njobs: {}\n"})
    text = ACCOUNTS + """
dispatch:
  a: {repo: alice/nope, workflow: train.yml}
  b: {repo: alice/demo, workflow: deploy.yml}
  c: {repo: alice/demo, workflow: train.yml, ref: no-such-branch, inputs: {model: small}}
  d: {repo: alice/demo, workflow: ci.yml}
  e: {repo: alice/demo, workflow: 999}
  f: {repo: alice/demo, workflow: Train}
"""
    grid.write("grid.yaml", text)
    r = grid.run("plan")
    assert r.code == 1
    err = r.err
    assert f"grid.yaml:{line_of(text, '  a:')}:" in err and "repository alice/nope does not exist, or account main cannot see it" in err
    assert f"grid.yaml:{line_of(text, '  b:')}:" in err and ".github/workflows/deploy.yml does not exist on the default branch of alice/demo" in err
    assert f"grid.yaml:{line_of(text, '  c:')}:" in err and "ref 'no-such-branch' is neither a branch nor a tag of alice/demo" in err
    assert f"grid.yaml:{line_of(text, '  d:')}:" in err and ".github/workflows/ci.yml has no workflow_dispatch trigger" in err
    assert f"grid.yaml:{line_of(text, '  e:')}:" in err and "alice/demo has no workflow with id 999" in err
    assert f"grid.yaml:{line_of(text, '  f:')}:" in err and "must be a workflow file name" in err


def test_plan_validates_a_workflow_declared_in_the_manifest_before_apply(grid):
    grid.user("alice")
    grid.write("workflows/train.yml", WORKFLOW)
    base = ACCOUNTS + """
repos:
  alice/jobs:
    visibility: private
    auto_init: true
    files:
      .github/workflows/train.yml: {source: workflows/train.yml}
dispatch:
  train:
    repo: alice/jobs
    workflow: train.yml
    inputs:
      model: {model}
"""
    grid.write("grid.yaml", base.replace("{model}", "large"))
    grid.ctl("POST", "/stats/reset")
    r = grid.run("plan", "--detailed-exitcode")
    assert r.code == 2, r.all  # the repository and its file are still to create; the template is fine
    assert "repos/get-content" not in stats(grid)  # checked against the manifest, not GitHub
    text = base.replace("{model}", "medium")
    grid.write("grid.yaml", text)
    r = grid.check(1, "plan")
    assert f"grid.yaml:{line_of(text, 'model: medium')}:" in r.err
    assert "input 'model': 'medium' is not one of its options: small, large" in r.err
    # a ref the manifest does not commit the file to cannot be checked from the manifest
    grid.write("grid.yaml", base.replace("{model}", "large").replace("    workflow: train.yml", "    workflow: train.yml\n    ref: dev"))
    r = grid.run("plan")
    assert r.code == 1 and "the manifest commits .github/workflows/train.yml to branch main, not to ref dev" in r.err, r.all


def test_plan_needs_a_declared_workflow_on_the_default_branch(grid):
    grid.user("alice")
    make_repo(grid, files={})
    grid.write("workflows/train.yml", WORKFLOW)
    text = ACCOUNTS + """
repos:
  alice/demo:
    files:
      .github/workflows/train.yml: {source: workflows/train.yml, branch: dev}
dispatch:
  train: {repo: alice/demo, workflow: train.yml, ref: dev, inputs: {model: small}}
"""
    grid.write("grid.yaml", text)
    r = grid.check(1, "plan")
    assert f"grid.yaml:{line_of(text, 'train: {repo')}:" in r.err
    assert ".github/workflows/train.yml is not on the default branch of alice/demo (the manifest commits it to dev)" in r.err


def test_plan_prefers_the_manifest_content_over_github(grid):
    grid.user("alice")
    make_repo(grid)  # GitHub's train.yml requires `model`...
    grid.write("workflows/train.yml", WORKFLOW.replace("required: true", "required: false").replace("[small, large]", "[small, large, huge]"))
    text = ACCOUNTS + """
repos:
  alice/demo:
    files:
      .github/workflows/train.yml: {source: workflows/train.yml}
dispatch:
  train: {repo: alice/demo, workflow: train.yml, inputs: {model: huge}}
"""
    grid.write("grid.yaml", text)
    r = grid.run("plan")
    assert r.code == 0, r.all  # ...but the manifest's version, which this plan commits, allows huge


# -- gridctl dispatch --------------------------------------------------------------------------


TEMPLATE = ACCOUNTS + """
dispatch:
  train:
    repo: alice/demo
    workflow: train.yml
    inputs: {model: small, epochs: 5}
"""


def test_dispatch_prints_the_run_and_sends_the_inputs(grid):
    grid.user("alice")
    make_repo(grid)
    grid.write("grid.yaml", TEMPLATE)
    r = grid.check(0, "dispatch", "train", "-i", "epochs=7", "-i", "note=a=b")
    m = re.search(r"^fired train: run (\d+) (\S+)$", r.out, re.M)
    assert m, r.out
    run_id = int(m.group(1))
    assert m.group(2).endswith(f"/alice/demo/actions/runs/{run_id}")
    (run,) = runs(grid)
    assert run["id"] == run_id and run["event"] == "workflow_dispatch" and run["head_branch"] == "main"
    assert run["inputs"] == {"model": "small", "epochs": 7, "dry": False, "note": "a=b"}
    # PyGithub agrees on the run
    wr = grid.gh("alice").get_repo("alice/demo").get_workflow_run(run_id)
    assert wr.event == "workflow_dispatch" and wr.status == "queued"


def test_dispatch_dry_run_validates_and_sends_nothing(grid):
    grid.user("alice")
    make_repo(grid)
    grid.write("grid.yaml", TEMPLATE)
    r = grid.check(0, "dispatch", "train", "--dry-run", "-i", "dry=true")
    assert 'would fire train: POST /repos/alice/demo/actions/workflows/train.yml/dispatches {"inputs": {"dry": "true", "epochs": "5", "model": "small"}, "ref": "main", "return_run_details": true}' in r.out
    r = grid.run("dispatch", "train", "--dry-run", "-i", "model=tiny")
    assert r.code == 1
    assert "input 'model': 'tiny' is not one of its options: small, large (from -i)" in r.err
    assert runs(grid) == []


def test_dispatch_refusals_are_clear(grid):
    grid.user("alice")
    grid.user("bob")
    make_repo(grid, private=False)
    grid.write("grid.yaml", grid_yaml("""\
dispatch:
  train: {repo: alice/demo, workflow: train.yml, inputs: {model: small}}
  as-bob: {repo: alice/demo, workflow: train.yml, account: reader, inputs: {model: small}}
  bad: {repo: alice/demo, workflow: train.yml, inputs: {model: tiny}}
""", ALICE, "reader: {login: bob, token: {env: GRID_TOKEN_BOB}}"))
    r = grid.run("dispatch", "trian")
    assert r.code == 1 and "no dispatch template 'trian' (did you mean 'train'?)" in r.err, r.all
    r = grid.run("dispatch", "as-bob")
    assert r.code == 1 and "account reader (bob) cannot dispatch workflows in alice/demo: that needs write access" in r.err, r.all
    r = grid.run("dispatch", "bad")
    assert r.code == 1 and "GitHub refused the dispatch: 422 Provided value 'tiny' for input 'model' not in the list of allowed values" in r.err, r.all
    assert runs(grid) == []


def _wait_in_thread(grid, *args):
    box = {}
    th = threading.Thread(target=lambda: box.setdefault("r", grid.run("dispatch", "train", "--wait", "--poll-interval", "0.02", *args)))
    th.start()
    return th, box


def _first_run(grid, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = runs(grid)
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError("no run appeared")


@pytest.mark.parametrize("conclusion, code", [("success", 0), ("failure", 1)])
def test_dispatch_wait_follows_the_run(grid, conclusion, code):
    grid.user("alice")
    make_repo(grid)
    grid.write("grid.yaml", TEMPLATE)
    th, box = _wait_in_thread(grid, "--timeout", "60")
    run = _first_run(grid)
    time.sleep(0.1)
    grid.ctl("POST", f"/runs/{run['id']}", {"status": "in_progress"})
    time.sleep(0.1)
    grid.ctl("POST", f"/runs/{run['id']}", {"status": "completed", "conclusion": conclusion})
    th.join(60)
    r = box["r"]
    assert r.code == code, r.all
    assert f"run {run['id']} completed: {conclusion}" in r.out
    assert f"run {run['id']}: in_progress" in r.err and f"run {run['id']}: completed ({conclusion})" in r.err


def test_dispatch_wait_gives_up_after_the_timeout(grid):
    grid.user("alice")
    make_repo(grid)
    grid.write("grid.yaml", TEMPLATE)
    r = grid.check(1, "dispatch", "train", "--wait", "--poll-interval", "0.05", "--timeout", "0.3")
    assert "is still queued after 0.3s; it keeps running on GitHub" in r.err


# -- conditions ----------------------------------------------------------------------------------


def add_runner(grid, name, labels, *, repo="alice/demo", org=None, group=1, busy=False, online=True):
    """A JIT-registered runner (generate-jitconfig + the stand-in runner connecting)."""
    url = f"/orgs/{org}/actions/runners/generate-jitconfig" if org else f"/repos/{repo}/actions/runners/generate-jitconfig"
    resp = grid.api("alice", "POST", url, {"name": name, "runner_group_id": group, "labels": labels})
    assert resp.status_code == 201, resp.text
    rid = resp.json()["runner"]["id"]
    if online:
        assert grid.ctl("POST", "/runners/connect", {"encoded_jit_config": resp.json()["encoded_jit_config"]})["id"] == rid
    if busy:
        grid.ctl("POST", f"/runners/{rid}", {"busy": True})
    return rid


IDLE = ACCOUNTS + """
dispatch:
  train:
    repo: alice/demo
    workflow: train.yml
    inputs: {model: large}
    when_idle: {labels: [GPU, linux]}
"""


def test_when_idle_waits_until_a_matching_runner_is_idle(grid):
    grid.user("alice")
    make_repo(grid)
    grid.write("grid.yaml", IDLE)
    add_runner(grid, "gpu-1", ["gpu"], busy=True)
    busy2 = add_runner(grid, "gpu-2", ["gpu"], busy=True)
    add_runner(grid, "cpu-1", ["cpu"])  # idle, but without the labels
    add_runner(grid, "gpu-3", ["gpu"], online=False)  # never connected
    r = grid.check(3, "dispatch", "train", "--when-idle")
    assert "skipped train: no idle runner with labels GPU, linux (2 busy, 1 offline)" in r.out
    assert runs(grid) == []
    # one runner finishes its job: the template fires
    grid.ctl("POST", f"/runners/{busy2}", {"busy": False})
    r = grid.check(0, "dispatch", "train", "--when-idle")
    assert re.search(r"^fired train: run \d+ ", r.out, re.M)
    assert len(runs(grid)) == 1 and runs(grid)[0]["inputs"]["model"] == "large"


def test_when_idle_counts_org_runners_whose_group_allows_the_repo(grid):
    grid.user("alice")
    grid.org("lab", admins=("alice",))
    make_repo(grid, "jobs", owner="lab")
    grid.write("grid.yaml", grid_yaml("""\
dispatch:
  train: {repo: lab/jobs, workflow: train.yml, inputs: {model: small}, when_idle: {labels: [gpu]}}
""", "lab: {org: lab, token: {env: GRID_TOKEN_ALICE}}"))
    other = grid.gh("alice").get_organization("lab").create_repo("other", private=True)
    resp = grid.api("alice", "POST", "/orgs/lab/actions/runner-groups", {"name": "gpus", "visibility": "selected", "selected_repository_ids": [other.id]})
    assert resp.status_code == 201, resp.text
    group = resp.json()["id"]
    add_runner(grid, "gpu-1", ["gpu"], org="lab", group=group)
    r = grid.run("dispatch", "train", "--when-idle")
    assert r.code == 3 and "no runner has the labels gpu" in r.out, r.all  # its group does not let lab/jobs in
    jobs_id = grid.gh("alice").get_repo("lab/jobs").id
    assert grid.api("alice", "PUT", f"/orgs/lab/actions/runner-groups/{group}/repositories/{jobs_id}").status_code == 204
    r = grid.check(0, "dispatch", "train", "--when-idle")
    assert len(runs(grid, "lab/jobs")) == 1


def test_when_idle_without_a_condition_says_so(grid):
    grid.user("alice")
    make_repo(grid)
    grid.write("grid.yaml", TEMPLATE)
    r = grid.run("dispatch", "train", "--when-idle")
    assert r.code == 0 and "template train has no when_idle condition" in r.err, r.all


def test_max_concurrent_blocks_a_third_run(grid):
    grid.user("alice")
    make_repo(grid)
    grid.write("grid.yaml", TEMPLATE + "    max_concurrent: 2\n")
    for _ in range(2):
        assert grid.run("dispatch", "train").code == 0
    for run in runs(grid):
        grid.ctl("POST", f"/runs/{run['id']}", {"status": "in_progress"})
    r = grid.check(3, "dispatch", "train")
    assert "skipped train: 2 run(s) of train.yml queued or in progress (max_concurrent 2)" in r.out
    assert len(runs(grid)) == 2
    # one completes: there is room again
    grid.ctl("POST", f"/runs/{runs(grid)[0]['id']}", {"status": "completed"})
    assert grid.run("dispatch", "train").code == 0
    assert len(runs(grid)) == 3


READY = ACCOUNTS + """
dispatch:
  a-gpu:   {repo: alice/demo, workflow: train.yml, inputs: {model: small, note: a}, when_idle: {labels: [gpu]}}
  b-gpu:   {repo: alice/demo, workflow: train.yml, inputs: {model: small, note: b}, when_idle: {labels: [gpu]}}
  c-cpu:   {repo: alice/demo, workflow: train.yml, inputs: {model: small, note: c}, when_idle: {labels: [cpu]}}
  d-any:   {repo: alice/demo, workflow: train.yml, inputs: {model: small, note: d}}
  e-limit: {repo: alice/demo, workflow: other.yml, max_concurrent: 1}
  f-limit: {repo: alice/demo, workflow: train.yml, inputs: {model: large, note: f}, max_concurrent: 5}
"""


def test_ready_fires_exactly_the_eligible_templates(grid):
    grid.user("alice")
    other = "on: workflow_dispatch\njobs: {a: {runs-on: x, steps: [{run: 'true'}]}}\n"
    make_repo(grid, files={".github/workflows/train.yml": WORKFLOW, ".github/workflows/other.yml": other})
    grid.write("grid.yaml", READY)
    add_runner(grid, "gpu-1", ["gpu"])  # one idle gpu runner: a-gpu takes it, b-gpu must not
    add_runner(grid, "cpu-1", ["cpu"], busy=True)
    grid.api("alice", "POST", "/repos/alice/demo/actions/workflows/other.yml/dispatches", {"ref": "main"})
    r = grid.check(0, "dispatch", "--ready", "--dry-run")
    assert re.search(r"^would fire a-gpu: runner gpu-1 \(gpu\) is idle", r.out, re.M)
    assert len(runs(grid)) == 1  # a dry run fires nothing
    grid.ctl("POST", "/stats/reset")
    r = grid.check(0, "dispatch", "--ready")
    out = r.out
    assert re.search(r"^fired   a-gpu: run \d+ \S+ \(runner gpu-1 \(gpu\) is idle\)$", out, re.M), out
    assert "skipped b-gpu: no idle runner with labels gpu (1 taken by a template fired in this pass)" in out
    assert "skipped c-cpu: no idle runner with labels cpu (1 busy)" in out
    assert "skipped d-any: no when_idle or max_concurrent condition" in out
    assert "skipped e-limit: 1 run(s) of other.yml queued or in progress (max_concurrent 1)" in out
    assert re.search(r"^fired   f-limit: run \d+ ", out, re.M)
    assert len(out.strip().splitlines()) == 6
    assert "fired 2, skipped 4, errors 0" in r.err
    fired = sorted(run["inputs"].get("note", "") for run in runs(grid) if run["path"].endswith("train.yml"))
    assert fired == ["a", "f"]
    # reads are shared across the pass: one repository GET, one runner list, and two run counts
    # (in_progress, queued) per workflow with a max_concurrent template
    ops = {op: c["requests"] for op, c in stats(grid).items()}
    assert ops == {
        "repos/get": 1,
        "actions/list-self-hosted-runners-for-repo": 1,
        "actions/list-workflow-runs": 4,
        "actions/create-workflow-dispatch": 2,
    }


def test_ready_pass_is_exclusive(grid):
    import fcntl
    import os

    grid.user("alice")
    make_repo(grid)
    grid.write("grid.yaml", TEMPLATE + "    max_concurrent: 1\n")
    (grid.dir / ".gridctl").mkdir()
    fd = os.open(grid.dir / ".gridctl" / "dispatch.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another pass is running
        r = grid.run("dispatch", "--ready")
        assert r.code == 0 and "another `gridctl dispatch --ready` pass is running; this one fires nothing" in r.err, r.all
        assert runs(grid) == []
    finally:
        os.close(fd)
    r = grid.run("dispatch", "--ready", "train", "train")
    assert r.code == 0 and r.out.count("fired   train: run") == 1, r.all
    assert len(runs(grid)) == 1


def test_dispatch_does_not_need_the_workflow_scope(grid):
    grid.user("alice")
    make_repo(grid)  # files under .github/workflows need the workflow scope; dispatching does not
    grid.write("grid.yaml", TEMPLATE)
    token = grid.sb.add_user("alice", scopes=("repo",))
    r = grid.check(0, "dispatch", "train", env={"GRID_TOKEN_ALICE": token})
    assert len(runs(grid)) == 1
    assert token not in r.all


def test_ready_reports_errors_and_still_fires_the_rest(grid):
    grid.user("alice")
    make_repo(grid)
    grid.write("grid.yaml", ACCOUNTS + """
dispatch:
  gone: {repo: alice/gone, workflow: train.yml, inputs: {model: small}, max_concurrent: 1}
  ok: {repo: alice/demo, workflow: train.yml, inputs: {model: small}, max_concurrent: 1}
""")
    r = grid.check(1, "dispatch", "--ready")
    assert "error   gone: repository alice/gone does not exist, or account main (alice) cannot see it" in r.out
    assert re.search(r"^fired   ok: run \d+", r.out, re.M)
    # the next pass: ok is at its limit, so nothing fires twice
    r = grid.run("dispatch", "--ready", "ok")
    assert r.code == 0 and "skipped ok: 1 run(s) of train.yml queued or in progress (max_concurrent 1)" in r.out, r.all
    assert len(runs(grid)) == 1


def test_plan_warns_about_a_disabled_workflow_named_by_id(grid):
    grid.user("alice")
    make_repo(grid)
    wf = grid.gh("alice").get_repo("alice/demo").get_workflow("train.yml")
    assert wf.disable() is True
    grid.write("grid.yaml", ACCOUNTS + f"dispatch:\n  train: {{repo: alice/demo, workflow: {wf.id}, inputs: {{model: small}}}}\n")
    r = grid.check(0, "plan")
    assert "grid.yaml:5:" in r.err and "warning: dispatch template train: .github/workflows/train.yml is disabled_manually on GitHub" in r.err
    r = grid.run("dispatch", "train")
    assert r.code == 1 and "422 Cannot trigger a 'workflow_dispatch' on a disabled workflow" in r.err, r.all
