"""Workflows, workflow_dispatch and workflow runs driven through the real PyGithub."""

from __future__ import annotations

import pytest
from github import GithubException, UnknownObjectException

DEPLOY = """\
name: Deploy
on:
  push:
    branches: [main]
  workflow_dispatch:
    inputs:
      environment:
        description: target environment
        required: true
        type: string
      tier:
        type: choice
        options: [small, large]
        default: small
      dry_run:
        type: boolean
        required: false
      replicas:
        type: number
        default: 1
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: echo deploying
"""


def _setup(seed):
    gh = seed.gh("alice")
    repo = gh.get_repo("alice/pub")
    repo.create_file(".github/workflows/deploy.yml", "add deploy", DEPLOY)
    return gh, repo


def _runs(seed, repo="alice/pub"):
    return seed.ctl("GET", f"/runs?repo={repo}")["runs"]


def test_workflow_is_listed_and_found_by_id_or_file_name(seed):
    _, repo = _setup(seed)
    repo.create_file(".github/workflows/lint.yaml", "lint", "on: [push]\njobs: {}\n")
    repo.create_file(".github/workflows/notes.txt", "not a workflow", "x")
    repo.create_file(".github/workflows/nested/inner.yml", "not listed either", "on: push\n")

    workflows = {w.path: w for w in repo.get_workflows()}
    assert sorted(workflows) == [".github/workflows/deploy.yml", ".github/workflows/lint.yaml"]
    deploy = workflows[".github/workflows/deploy.yml"]
    assert deploy.name == "Deploy" and deploy.state == "active"
    assert workflows[".github/workflows/lint.yaml"].name == ".github/workflows/lint.yaml"  # no name: the path

    by_file = repo.get_workflow("deploy.yml")
    assert by_file.id == deploy.id and by_file.name == "Deploy"
    assert repo.get_workflow(deploy.id).path == deploy.path
    with pytest.raises(UnknownObjectException):
        repo.get_workflow("missing.yml")
    # ids are stable
    assert [w.id for w in repo.get_workflows()] == [w.id for w in repo.get_workflows()]


def test_dispatch_creates_a_run_with_the_inputs(seed):
    _, repo = _setup(seed)
    wf = repo.get_workflow("deploy.yml")
    assert wf.create_dispatch("main", {"environment": "prod", "tier": "large", "dry_run": True}, throw=True) is True

    runs = list(wf.get_runs())
    assert len(runs) == 1
    run = runs[0]
    assert (run.status, run.conclusion, run.event) == ("queued", None, "workflow_dispatch")
    assert run.head_branch == "main" and run.head_sha == repo.get_branch("main").commit.sha
    assert run.workflow_id == wf.id and run.run_number == 1
    assert run.actor.login == "alice" and run.repository.full_name == "alice/pub"
    assert run.head_commit.message == "add deploy"
    assert [r.id for r in repo.get_workflow_runs()] == [run.id]

    recorded = _runs(seed)
    assert recorded[0]["id"] == run.id
    # defaults fill what was left out; booleans and numbers keep their types
    assert recorded[0]["inputs"] == {"environment": "prod", "tier": "large", "dry_run": True, "replicas": 1}

    details = wf.create_dispatch(
        "main", {"environment": "dev", "dry_run": "false"}, throw=True, return_run_details=True
    )
    assert details.id != run.id
    again = repo.get_workflow_run(details.id)
    assert again.run_number == 2 and again.status == "queued"
    assert _runs(seed)[0]["inputs"]["dry_run"] is False


@pytest.mark.parametrize(
    ("ref", "inputs", "message"),
    [
        ("main", {"environment": "prod", "colour": "red"}, 'Unexpected inputs provided: ["colour"]'),
        ("main", {"environment": "prod", "a": "1", "b": "2"}, 'Unexpected inputs provided: ["a", "b"]'),
        ("main", {"tier": "small"}, "Required input 'environment' not provided"),
        (
            "main",
            {"environment": "prod", "tier": "huge"},
            "Provided value 'huge' for input 'tier' not in the list of allowed values",
        ),
        (
            "main",
            {"environment": "prod", "dry_run": "maybe"},
            "Provided value 'maybe' for input 'dry_run' is not a valid boolean",
        ),
        (
            "main",
            {"environment": "prod", "replicas": "many"},
            "Provided value 'many' for input 'replicas' is not a valid number",
        ),
        ("no-such-branch", {"environment": "prod"}, "No ref found for: no-such-branch"),
    ],
    ids=["unexpected", "unexpected-two", "required", "choice", "boolean", "number", "ref"],
)
def test_invalid_dispatch_is_422_with_githubs_message(seed, ref, inputs, message):
    _, repo = _setup(seed)
    wf = repo.get_workflow("deploy.yml")
    with pytest.raises(GithubException) as err:
        wf.create_dispatch(ref, inputs, throw=True)
    assert err.value.status == 422
    assert err.value.data["message"] == message
    assert _runs(seed) == []
    # without throw=True PyGithub swallows the error and answers False
    assert wf.create_dispatch(ref, inputs) is False


def test_more_than_25_inputs_is_refused(seed):
    _, repo = _setup(seed)
    inputs = {f"i{n}": "x" for n in range(26)}
    with pytest.raises(GithubException) as err:
        repo.get_workflow("deploy.yml").create_dispatch("main", inputs, throw=True)
    assert err.value.status == 422


def test_dispatch_reads_the_workflow_at_the_ref(seed):
    _, repo = _setup(seed)
    main = repo.get_branch("main").commit.sha
    repo.create_git_ref("refs/heads/feature", main)
    current = repo.get_contents(".github/workflows/deploy.yml", ref="feature")
    with_region = DEPLOY.replace("      tier:", "      region:\n        default: eu\n      tier:")
    repo.update_file(current.path, "add region", with_region, current.sha, branch="feature")
    repo.create_git_ref("refs/tags/v1", main)

    wf = repo.get_workflow("deploy.yml")
    assert wf.create_dispatch("feature", {"environment": "prod", "region": "us"}, throw=True)
    with pytest.raises(GithubException) as err:
        wf.create_dispatch("main", {"environment": "prod", "region": "us"}, throw=True)
    assert err.value.data["message"] == 'Unexpected inputs provided: ["region"]'
    assert wf.create_dispatch("v1", {"environment": "prod"}, throw=True)  # a tag is a ref too

    runs = _runs(seed)
    assert [(r["head_branch"], r["inputs"].get("region")) for r in runs] == [("v1", None), ("feature", "us")]
    # a bare commit SHA is not a ref
    with pytest.raises(GithubException) as err:
        wf.create_dispatch(main, {"environment": "prod"}, throw=True)
    assert err.value.data["message"] == f"No ref found for: {main}"


@pytest.mark.parametrize(
    ("text", "dispatchable"),
    [
        ("on: workflow_dispatch\n", True),
        ("on: [push, workflow_dispatch]\n", True),
        ("on:\n  workflow_dispatch:\n", True),
        ("%YAML 1.1\n---\non:\n  workflow_dispatch: {}\n", True),  # YAML 1.1: the key is boolean true
        ("'on': {workflow_dispatch: null, push: null}\n", True),
        ("on: push\n", False),
        ("on: [push, pull_request]\n", False),
        ("on:\n  push:\n    branches: [main]\n", False),
        ("jobs: {}\n", False),
        ("on: [unclosed\n", False),  # not YAML at all
    ],
)
def test_trigger_forms(seed, text, dispatchable):
    repo = seed.gh("alice").get_repo("alice/pub")
    repo.create_file(".github/workflows/t.yml", "t", text)
    wf = repo.get_workflow("t.yml")
    if dispatchable:
        assert wf.create_dispatch("main", throw=True)
        assert len(_runs(seed)) == 1
    else:
        with pytest.raises(GithubException) as err:
            wf.create_dispatch("main", throw=True)
        assert (err.value.status, err.value.data["message"]) == (
            422,
            "Workflow does not have 'workflow_dispatch' trigger",
        )


def test_disabled_workflow_cannot_be_dispatched(seed):
    _, repo = _setup(seed)
    wf = repo.get_workflow("deploy.yml")
    assert wf.disable() is True
    assert repo.get_workflow("deploy.yml").state == "disabled_manually"
    with pytest.raises(GithubException) as err:
        wf.create_dispatch("main", {"environment": "prod"}, throw=True)
    assert (err.value.status, err.value.data["message"]) == (
        422,
        "Cannot trigger a 'workflow_dispatch' on a disabled workflow",
    )
    assert wf.disable() is False  # already disabled: GitHub refuses (403)
    assert wf.enable() is True
    assert repo.get_workflow(wf.id).state == "active"
    assert wf.create_dispatch("main", {"environment": "prod"}, throw=True)


def test_runs_filter_by_status_move_along_and_cancel(seed):
    _, repo = _setup(seed)
    wf = repo.get_workflow("deploy.yml")
    for env in ("a", "b", "c"):
        wf.create_dispatch("main", {"environment": env}, throw=True)
    first, second, third = sorted(r["id"] for r in _runs(seed))

    seed.ctl("POST", f"/runs/{first}", {"status": "in_progress"})
    seed.ctl("POST", f"/runs/{second}", {"status": "completed", "conclusion": "failure"})
    assert {r.id for r in repo.get_workflow_runs(status="queued")} == {third}
    assert {r.id for r in wf.get_runs(status="in_progress")} == {first}
    assert {r.id for r in wf.get_runs(status="completed")} == {second}
    assert {r.id for r in wf.get_runs(status="failure")} == {second}  # a conclusion filters too
    assert [r.id for r in wf.get_runs()] == [third, second, first]  # newest first

    run = repo.get_workflow_run(first)
    assert run.cancel() is True
    cancelled = repo.get_workflow_run(first)
    assert (cancelled.status, cancelled.conclusion) == ("completed", "cancelled")
    resp = seed.call("alice", "POST", f"/repos/alice/pub/actions/runs/{second}/cancel")
    assert (resp.status_code, resp.json()["message"]) == (409, "Cannot cancel a workflow run that is completed.")
    with pytest.raises(UnknownObjectException):
        repo.get_workflow_run(999)


def test_deleted_workflow_file_disappears_and_comes_back_with_its_id(seed):
    _, repo = _setup(seed)
    wf_id = repo.get_workflow("deploy.yml").id
    f = repo.get_contents(".github/workflows/deploy.yml")
    repo.delete_file(f.path, "remove", f.sha)
    assert list(repo.get_workflows()) == []
    with pytest.raises(UnknownObjectException):
        repo.get_workflow(wf_id)
    repo.create_file(".github/workflows/deploy.yml", "restore", DEPLOY)
    assert [w.id for w in repo.get_workflows()] == [wf_id]


def test_workflow_permissions(seed):
    _setup(seed)
    carol = seed.gh("carol").get_repo("alice/pub")
    assert [w.name for w in carol.get_workflows()] == ["Deploy"]  # public: readable
    with pytest.raises(UnknownObjectException):
        carol.get_workflow("deploy.yml").create_dispatch("main", {"environment": "x"}, throw=True)
    resp = seed.call("carol", "GET", "/repos/alice/priv/actions/workflows")
    assert resp.status_code == 404
