"""End to end: examples/datagram — one main account, three workers, API keys from a file spread
over the workers. Workers invited and accepting, each worker's share as its Codespaces secret, the
whole key matrix as an Actions secret, the runner workflow deployed and a dispatch template that
starts it. On the strict sandbox (tokens from the environment, as for real) and on the embedded
one (``--sandbox``, as the README runs it): plan -> apply -> no changes -> dispatch -> rotate one
key -> destroy, with the real effects checked and the key values never shown or stored."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
import requests
from github import GithubException
from ruamel.yaml import YAML

from gridctl.manifest.keys import spread
from gridctl.manifest.sources import Sensitive
from gridctl.resources import load_manifest
from gridctl.sandbox.embedded import EmbeddedSandbox
from gridctl.sandbox.testing import pygithub

from ..helpers import cli_in, copy_example

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "datagram"
REPO = "dg-main/datagram"
WORKFLOW = ".github/workflows/datagram-runner.yml"
WORKERS = {"worker-1": "dg-worker-1", "worker-2": "dg-worker-2", "worker-3": "dg-worker-3"}
LOGINS = ("dg-main", *WORKERS.values())
MATRIX = f"secret:{REPO}:actions:DATAGRAM_KEYS"
#: the run's inputs: the template's, plus the workflow's defaults for those it leaves out
START_INPUTS = {"nodes": 12, "region": "eu-west", "hours": 5, "dry_run": False}
#: GitHub operations that change something (a no-change plan must call none of them)
WRITE_OP = re.compile(r"/(create|update|delete|set|add|remove|accept|decline|put|enable|disable|rerun|cancel)")


# -- what the example should produce, computed independently of the run ---------------------------


def key_lines(folder: Path) -> list[str]:
    """The keys in keys/api_keys.txt: one per non-empty line, # comments skipped."""
    lines = (folder / "keys" / "api_keys.txt").read_text().splitlines()
    return [s.strip() for s in lines if s.strip() and not s.strip().startswith("#")]


#: the shares the last apply in a folder recorded (gridctl keeps keys where they were: sticky)
_APPLIED: dict[Path, dict[str, set[str]]] = {}


def shares(folder: Path) -> dict[str, list[str]]:
    """Each worker account's share of the keys, with keys.spread as grid.yaml configures it,
    sticky to what the last apply in this folder assigned (as gridctl does, from its state)."""
    conf = YAML(typ="safe").load((folder / "grid.yaml").read_text())["keys"]["api-keys"]["spread"]
    assignment, unassigned = spread(
        [Sensitive(k) for k in key_lines(folder)], conf["over"], conf.get("per_account"), _APPLIED.get(folder), lambda v: v.reveal()
    )
    assert unassigned == 0
    return {acc: [v.reveal() for v in values] for acc, values in assignment.items()}


def applied(folder: Path) -> None:
    """Record the shares an apply just wrote, for the next expectation."""
    _APPLIED[folder] = {acc: set(share) for acc, share in shares(folder).items()}


def sha(values: list[str]) -> str:
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()


def expected_secrets(folder: Path) -> dict[tuple[str, str], str]:
    """(type, owner) -> SHA-256 of the value: the matrix on the repo, each worker's own share."""
    out = {("actions", "dg-main"): sha(key_lines(folder))}
    for acc, share in shares(folder).items():
        out[("codespaces", WORKERS[acc])] = sha(share)
    return out


def live_secrets(base_url: str) -> dict[tuple[str, str], dict]:
    """What the sandbox holds (it decrypts each sealed value and keeps its SHA-256 only)."""
    rows = requests.get(f"{base_url}/_sandbox/secrets", timeout=30).json()
    return {(r["type"], r["owner"]): r for r in rows}


def rotate_one_key(folder: Path) -> tuple[str, str, str]:
    """Replace one line of api_keys.txt by a new value that stays with the same worker and moves
    no other key; returns (worker account, old value, new value)."""
    before = shares(folder)
    path = folder / "keys" / "api_keys.txt"
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    for old in key_lines(folder):
        for n in range(200):
            new = f"{old}-rotated-{n}"
            path.write_text("".join(f"{new}\n" if line.strip() == old else line for line in lines))
            after = shares(folder)
            changed = [acc for acc in before if before[acc] != after[acc]]
            if len(changed) == 1 and after[changed[0]] == [new if k == old else k for k in before[changed[0]]]:
                return changed[0], old, new
    path.write_text(text)
    raise AssertionError("no single-worker rotation found")


CHANGED = ("update", "sensitive value changed")


def planned(run) -> dict[str, tuple[str, str]]:
    """The next plan's changes: address -> (action, reason)."""
    r = run("plan", "--format", "json")
    return {c["address"]: (c["action"], c["reason"]) for c in json.loads(r.out)["changes"]}


def assert_hidden(values: list[str], outputs: list[str], files: dict[str, bytes]) -> None:
    assert files, "gridctl wrote nothing under .gridctl/"
    for value in values:
        for out in outputs:
            assert value not in out
        for name, data in files.items():
            assert value.encode() not in data, f"{name} holds a key value"


# -- on the strict sandbox --------------------------------------------------------------------------


def setup(grid) -> None:
    for login in LOGINS:
        grid.user(login)
    copy_example(EXAMPLE, grid.dir)


def ops(grid) -> dict[str, int]:
    return {op: c["requests"] for op, c in grid.ctl("GET", "/stats")["by_endpoint"].items()}


def test_the_example_validates(grid):
    setup(grid)
    r = grid.check(0, "validate")
    assert r.out == "grid.yaml: valid (4 account(s), 1 repository(ies))\n"
    # the example is what the README says: 12 keys, 4 per worker, no key twice
    got = shares(grid.dir)
    assert sorted(len(s) for s in got.values()) == [4, 4, 4]
    assert sorted(k for s in got.values() for k in s) == sorted(key_lines(grid.dir))
    assert all(re.fullmatch(r"dg-demo-key-\d{4}", k) for k in key_lines(grid.dir))


def test_the_template_is_checked_against_the_workflow_in_the_manifest(grid):
    setup(grid)
    grid.ctl("POST", "/stats/reset")
    r = grid.check(2, "plan", "--detailed-exitcode")
    # nothing exists yet: the template was checked against workflows/datagram-runner.yml
    assert "repos/get-content" not in ops(grid)
    templates = grid.dir / "templates" / "datagram.yaml"
    text = templates.read_text()
    line = text.splitlines().index("    region: eu-west") + 1
    templates.write_text(text.replace("region: eu-west", "region: eu-north"))
    r = grid.check(1, "plan")
    assert f"templates/datagram.yaml:{line}:" in r.err
    assert "dispatch template datagram-start: input 'region': 'eu-north' is not one of its options" in r.err
    # the workflow declared in the manifest is the reference: rename an input there instead
    templates.write_text(text)
    flow = grid.dir / "workflows" / "datagram-runner.yml"
    flow.write_text(flow.read_text().replace("      hours:", "      duration:"))
    r = grid.check(1, "plan")
    line = text.splitlines().index("    hours: 5") + 1
    assert (
        f"templates/datagram.yaml:{line}:5: error: dispatch template datagram-start: input 'hours' is not defined"
        " by .github/workflows/datagram-runner.yml; its inputs are: dry_run, duration, nodes, region"
    ) in r.err
    assert "datagram-smoke" not in r.err  # it does not set hours


def test_example_lifecycle_on_the_strict_sandbox(grid):
    setup(grid)
    outputs: list[str] = []

    def run(*args: str):
        r = grid.run(*args)
        outputs.append(r.all)
        return r

    r = run("plan", "--detailed-exitcode")
    assert r.code == 2, r.all
    assert "Plan: 13 to create, 0 to update, 0 to replace, 0 to delete." in r.out
    assert r.out.count("value: (sensitive value)") == 4
    r = run("apply", "--auto-approve")
    assert r.code == 0, r.all
    assert "applied 13 change(s)" in r.err

    # the workers are write collaborators; nobody has an invitation left to accept
    repo = grid.gh("dg-main").get_repo(REPO)
    assert repo.private is True and repo.has_wiki is False and repo.archived is False
    assert sorted(c.login for c in repo.get_collaborators(affiliation="direct")) == sorted(LOGINS)  # the owner too
    for login in WORKERS.values():
        assert repo.get_collaborator_permission(login) == "write"
        assert list(grid.gh(login).get_user().get_invitations()) == []
        assert grid.gh(login).get_repo(REPO).permissions.push is True
    assert list(repo.get_pending_invitations()) == []
    # each worker's Codespaces secret is exactly its own share, for the main repository only;
    # the Actions secret is the whole matrix
    live = live_secrets(grid.sb.url)
    assert {k: v["sha256"] for k, v in live.items()} == expected_secrets(grid.dir)
    applied(grid.dir)
    for login in WORKERS.values():
        assert live[("codespaces", login)]["selected_repositories"] == [REPO]
        assert live[("codespaces", login)]["name"] == "DATAGRAM_KEYS"
    assert live[("actions", "dg-main")]["repo"] == REPO
    assert repo.get_variable("MAX_PARALLEL").value == "4"
    # the runner workflow is on the default branch, byte for byte
    content = repo.get_contents(WORKFLOW, ref=repo.default_branch)
    assert base64.b64decode(content.content) == (grid.dir / "workflows" / "datagram-runner.yml").read_bytes()

    # converged: a second plan reads (one list per collection and scope) and writes nothing
    grid.ctl("POST", "/stats/reset")
    r = run("plan", "--detailed-exitcode")
    assert r.code == 0, r.all
    assert "No changes" in r.out
    calls = ops(grid)
    assert not [op for op in calls if WRITE_OP.search(op)], calls
    assert calls.get("codespaces/list-secrets-for-authenticated-user") == 3  # one per worker
    assert calls.get("actions/list-repo-secrets") == 1
    assert calls.get("actions/list-repo-variables") == 1
    assert calls.get("repos/list-collaborators") == 1
    assert calls.get("codespaces/list-repositories-for-secret-for-authenticated-user") == 3
    assert sum(calls.values()) <= 15, calls  # with 4 token checks and the workflow folder listing

    # the template starts the runner workflow with its inputs
    r = run("dispatch", "datagram-start")
    assert r.code == 0, r.all
    m = re.search(r"^fired datagram-start: run (\d+) (\S+)$", r.out, re.M)
    assert m, r.out
    (fleet,) = grid.ctl("GET", f"/runs?repo={REPO}")["runs"]
    assert str(fleet["id"]) == m.group(1) and m.group(2).endswith(f"/{REPO}/actions/runs/{fleet['id']}")
    assert fleet["path"] == WORKFLOW and fleet["event"] == "workflow_dispatch"
    assert fleet["inputs"] == START_INPUTS
    # max_concurrent: 1 — a second fleet does not start while the first runs
    r = run("dispatch", "datagram-start")
    assert r.code == 3, r.all
    assert "skipped datagram-start: 1 run(s) of datagram-runner.yml queued or in progress (max_concurrent 1)" in r.out
    assert len(grid.ctl("GET", f"/runs?repo={REPO}")["runs"]) == 1
    grid.ctl("POST", f"/runs/{fleet['id']}", {"status": "completed"})
    r = run("dispatch", "datagram-smoke", "-i", "region=ap-south")
    assert r.code == 0, r.all
    smoke = grid.ctl("GET", f"/runs?repo={REPO}")["runs"][0]
    assert smoke["inputs"] == {"nodes": 1, "region": "ap-south", "hours": 5, "dry_run": True}

    # rotating one key rewrites exactly the secrets that hold it: the matrix and one worker's share
    worker, old, new = rotate_one_key(grid.dir)
    r = run("plan", "--detailed-exitcode")
    assert r.code == 2, r.all
    assert "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete." in r.out
    assert r.out.count("value: (sensitive value changed)") == 2
    assert planned(run) == {MATRIX: CHANGED, f"codespaces-secret:{WORKERS[worker]}:DATAGRAM_KEYS": CHANGED}
    r = run("plan", "--out", "rotate.json")  # reviewed, then applied as saved
    assert r.code == 0, r.all
    r = run("apply", "rotate.json", "--auto-approve")
    assert r.code == 0, r.all
    assert "applied 2 change(s)" in r.err
    assert {k: v["sha256"] for k, v in live_secrets(grid.sb.url).items()} == expected_secrets(grid.dir)
    applied(grid.dir)
    r = run("plan", "--detailed-exitcode")
    assert r.code == 0, r.all

    # every worker holds 4 keys: replacing a key keeps every other key where it was (the spread
    # is sticky to what the last apply assigned), so exactly one share moves
    before = shares(grid.dir)
    keys_file = grid.dir / "keys" / "api_keys.txt"
    keys_file.write_text(keys_file.read_text().replace("dg-demo-key-0002\n", "dg-demo-key-0014\n"))
    moved = [acc for acc, share in shares(grid.dir).items() if share != before[acc]]
    assert len(moved) == 1
    assert planned(run) == {
        MATRIX: CHANGED,
        **{f"codespaces-secret:{WORKERS[a]}:DATAGRAM_KEYS": CHANGED for a in moved},
    }
    r = run("apply", "--auto-approve")
    assert r.code == 0, r.all
    assert {k: v["sha256"] for k, v in live_secrets(grid.sb.url).items()} == expected_secrets(grid.dir)

    # destroy: nothing left but the archived repository, nothing left in state
    r = run("destroy", "--auto-approve")
    assert r.code == 0, r.all
    assert "Plan: 0 to create, 0 to update, 0 to replace, 10 to delete." in r.out
    assert live_secrets(grid.sb.url) == {}
    repo = grid.gh("dg-main").get_repo(REPO)
    assert repo.archived is True
    assert [c.login for c in repo.get_collaborators(affiliation="direct")] == ["dg-main"]
    assert not _exists(repo, WORKFLOW)
    state = json.loads((grid.dir / ".gridctl" / "state.json").read_text())
    assert state["resources"] == {}
    r = run("plan", "--destroy", "--detailed-exitcode")
    assert r.code == 0 and "No changes" in r.out, r.all
    # a plan shows what an apply would bring back (the repository is unarchived first)
    r = run("plan", "--detailed-exitcode")
    assert r.code == 2, r.all
    assert "Plan: 12 to create, 1 to update, 0 to replace, 0 to delete." in r.out
    assert "archived: true -> false" in r.out

    # canary: no key value in any output or in anything gridctl wrote
    files = {**grid.files_written(), "rotate.json": (grid.dir / "rotate.json").read_bytes()}
    assert_hidden([*key_lines(grid.dir), old, new, "dg-demo-key-0002"], outputs, files)


def _exists(repo, path: str) -> bool:
    try:
        repo.get_contents(path)
    except GithubException as exc:
        if exc.status == 404:
            return False
        raise
    return True


# -- on the embedded sandbox, as the README runs it ------------------------------------------------


def run_cli(cwd: Path, *args: str):
    """The real CLI, in-process, from ``cwd``; no API URL or token leaks in from the outer env."""
    env: dict[str, str | None] = {"GRIDCTL_API_URL": None, "NO_COLOR": "1", "GITHUB_ACTIONS": None}
    env.update({f"GRID_TOKEN_{login.upper().replace('-', '_')}": None for login in LOGINS})
    return cli_in(cwd, *args, env=env)


@pytest.fixture
def datagram(tmp_path) -> Path:
    return copy_example(EXAMPLE, tmp_path / "datagram")


def test_example_with_the_embedded_sandbox(datagram):
    top, f = datagram.parent, "datagram/grid.yaml"
    outputs: list[str] = []

    def run(*args: str):
        r = run_cli(top, *args, "--sandbox", "-f", f)
        outputs.append(r.stdout + r.stderr)
        return r

    r = run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "Plan: 13 to create, 0 to update, 0 to replace, 0 to delete." in r.stdout
    r = run("apply", "--auto-approve")
    assert r.exit_code == 0, r.stdout + r.stderr
    r = run("plan", "--detailed-exitcode")
    assert r.exit_code == 0 and "No changes" in r.stdout, r.stdout + r.stderr
    r = run("dispatch", "datagram-start")
    assert r.exit_code == 0 and r.stdout.startswith("fired datagram-start: run "), r.stdout + r.stderr

    # look at what the embedded sandbox holds
    sandbox = EmbeddedSandbox(datagram / ".gridctl")
    _, tokens = sandbox.start(load_manifest(datagram / "grid.yaml", tokens=False))
    try:
        assert sandbox.sandbox is not None
        base = sandbox.sandbox.config.public_url
        assert {k: v["sha256"] for k, v in live_secrets(base).items()} == expected_secrets(datagram)
        repo = pygithub(sandbox.sandbox, tokens["main"].reveal()).get_repo(REPO)
        roles = {
            c.login: repo.get_collaborator_permission(c.login) for c in repo.get_collaborators(affiliation="direct")
        }
        assert roles == {"dg-main": "admin", **{w: "write" for w in WORKERS.values()}}
        assert list(repo.get_pending_invitations()) == []
        assert (
            repo.get_contents(WORKFLOW).decoded_content == (datagram / "workflows" / "datagram-runner.yml").read_bytes()
        )
        (fleet,) = requests.get(f"{base}/_sandbox/runs", params={"repo": REPO}, timeout=30).json()["runs"]
        assert fleet["path"] == WORKFLOW and fleet["inputs"] == START_INPUTS
    finally:
        sandbox.stop()

    r = run("destroy", "--auto-approve")
    assert r.exit_code == 0, r.stdout + r.stderr
    r = run("plan", "--destroy", "--detailed-exitcode")
    assert r.exit_code == 0, r.stdout + r.stderr
    written = {
        str(p): p.read_bytes() for p in (datagram / ".gridctl").rglob("*") if p.is_file() and "sandbox" not in p.parts
    }
    assert_hidden(key_lines(datagram), outputs, written)
