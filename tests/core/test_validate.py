"""``gridctl validate``: what a valid manifest prints, warnings, includes, ``--sandbox``, workflow
annotations, odd input that must still get a positioned message, and no API call ever. It needs
no secret (every example validates in a scrubbed environment, and so does the pre-commit hook);
``--check-sources`` reads token, env and command sources and reports the unavailable ones."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from gridctl.manifest.schema import load_schema

from ..helpers import ALICE, HELPER_BOB, grid_yaml

ROOT = Path(__file__).resolve().parents[2]
ENV = {"GRID_TOKEN_ALICE": "fake-token-alice", "GRID_TOKEN_BOB": "fake-token-bob", "GITHUB_ACTIONS": None}

VALID = grid_yaml("""\
keys:
  api: {source: {file: keys/api.txt, lines: true}}
repos_from: repos/*.yaml
repos:
  alice/demo:
    visibility: private
    collaborators: {helper: push}
    secrets:
      actions:
        API_KEYS: {key: api, format: json}
    variables: {REGION: eu}
    files:
      .github/workflows/ci.yml: {source: workflows/ci.yml}
""", ALICE, HELPER_BOB)


def write_valid(grid):
    grid.write("grid.yaml", VALID)
    grid.write("keys/api.txt", "fake-key-1\nfake-key-2\n")
    grid.write("workflows/ci.yml", "on: push\njobs: {}\n")
    grid.write("repos/more.yaml", "alice/tools: {description: Tools}\nalice/site: {}\n")


def test_valid_manifest_prints_a_summary_and_calls_nothing(grid):
    write_valid(grid)
    grid.ctl("POST", "/stats/reset")
    r = grid.check(0, "validate", env=ENV)
    assert r.out == "grid.yaml: valid (2 account(s), 3 repository(ies))\n"
    assert r.err == ""
    assert grid.ctl("GET", "/stats")["total"].get("requests", 0) == 0
    assert not (grid.dir / ".gridctl").exists()


def test_validation_needs_no_token_and_check_sources_reports_them(grid):
    write_valid(grid)
    no_tokens = {"GITHUB_ACTIONS": None, "GRID_TOKEN_ALICE": None, "GRID_TOKEN_BOB": None, "GH_TOKEN": None, "GITHUB_TOKEN": None}
    r = grid.check(0, "validate", env=no_tokens)
    assert r.out == "grid.yaml: valid (2 account(s), 3 repository(ies))\n"
    # asked for, unavailable token sources are errors naming the account, at their line
    r = grid.run("validate", "--check-sources", env=no_tokens)
    assert r.code == 1
    assert [line for line in r.err.splitlines() if ": error: " in line] == [
        "grid.yaml:3:31: error: account main: token source unavailable: env GRID_TOKEN_ALICE is not set",
        "grid.yaml:4:31: error: account helper: token source unavailable: env GRID_TOKEN_BOB is not set",
    ]
    # one set (a canary value), one not: only the missing one is reported, and no value is printed
    r = grid.run("validate", "--check-sources", env={**no_tokens, "GRID_TOKEN_ALICE": "canary-7f3a9c-token"})
    assert r.code == 1
    assert "account main" not in r.err and "account helper: token source unavailable" in r.err
    assert "canary-7f3a9c-token" not in r.all
    assert grid.run("validate", "--check-sources", env=ENV).code == 0
    r = grid.check(0, "validate", "--sandbox", env=no_tokens)
    # the key and the workflow file are still read: they are files of the repository, not secrets
    (grid.dir / "workflows/ci.yml").unlink()
    for args in (["validate"], ["validate", "--sandbox"]):
        r = grid.run(*args, env=no_tokens)
        assert r.code == 1
        assert "grid.yaml:17:42: error: alice/demo: .github/workflows/ci.yml: file workflows/ci.yml does not exist" in r.err


def test_env_and_command_sources_of_keys_and_secrets_are_read_only_when_asked(grid):
    grid.write(
        "grid.yaml",
        grid_yaml("""\
        keys:
          api: {source: {env: GRID_TEST_API_KEYS, lines: true}}
          local: {source: {file: keys/local.txt}}
        repos:
          alice/demo:
            secrets:
              actions:
                FROM_ENV: {env: GRID_TEST_SECRET}
                FROM_KEY: {key: api, format: json}
                FROM_FILE: {key: local}
        """, "main: {login: alice, token: {command: [definitely-not-a-gridctl-program]}}", indent="        "),
    )
    unset = {"GRID_TEST_API_KEYS": None, "GRID_TEST_SECRET": None, "GITHUB_ACTIONS": None}
    grid.write("keys/local.txt", "fake-local-key\n")
    r = grid.check(0, "validate", env=unset)
    r = grid.run("validate", "--check-sources", env=unset)
    assert r.code == 1
    assert [line for line in r.err.splitlines() if ": error: " in line] == [
        "grid.yaml:3:31: error: account main: token source unavailable: command definitely-not-a-gridctl-program: program not found",
        "grid.yaml:5:17: error: key api: env GRID_TEST_API_KEYS is not set",
        "grid.yaml:11:19: error: secret source unavailable: env GRID_TEST_SECRET is not set",
    ]
    # a key file is part of the repository: plain validation still reads it
    (grid.dir / "keys/local.txt").unlink()
    r = grid.run("validate", env=unset)
    assert r.code == 1
    assert "grid.yaml:6:19: error: key local: file keys/local.txt does not exist" in r.err


DISPATCHING = grid_yaml("""\
repos:
  alice/jobs:
    files:
      .github/workflows/run.yml: {source: workflows/run.yml}
dispatch:
  start:
    repo: alice/jobs
    workflow: run.yml
    inputs: {size: huge, dry: maybe}
  elsewhere:
    repo: alice/other
    workflow: other.yml
    inputs: {anything: 1}
""")

RUN_WORKFLOW = """
on:
  workflow_dispatch:
    inputs:
      size: {type: choice, options: [small, large], required: true}
      dry: {type: boolean}
jobs:
  run: {runs-on: ubuntu-latest, steps: [{run: echo}]}
"""


def test_dispatch_templates_are_checked_against_declared_workflows_without_github(grid):
    grid.write("grid.yaml", DISPATCHING)
    grid.write("workflows/run.yml", RUN_WORKFLOW)
    grid.ctl("POST", "/stats/reset")
    r = grid.run("validate", env={"GRID_TOKEN_ALICE": None, "GITHUB_ACTIONS": None})
    assert r.code == 1
    errors = [line for line in r.err.splitlines() if ": error: " in line]
    assert len(errors) == 2, r.err
    assert errors == [
        "grid.yaml:12:20: error: dispatch template start: input 'size': 'huge' is not one of its options: small, large",
        "grid.yaml:12:31: error: dispatch template start: input 'dry' is a boolean: 'maybe' is not true or false",
    ]
    # a template whose workflow is not declared here (alice/other) is left to plan, which reads GitHub
    assert "elsewhere" not in r.err
    grid.write("grid.yaml", DISPATCHING.replace("{size: huge, dry: maybe}", "{size: large, dry: true}"))
    r = grid.check(0, "validate", env={"GRID_TOKEN_ALICE": None, "GITHUB_ACTIONS": None})
    assert grid.ctl("GET", "/stats")["total"].get("requests", 0) == 0


def _scrubbed_env(home):
    """The environment of a fork's pull request or a pre-commit hook: no token of any kind."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "SYSTEMROOT", "VIRTUAL_ENV")}
    return {**keep, "HOME": str(home), "NO_COLOR": "1"}


EXAMPLES = sorted((ROOT / "examples").glob("*/grid.yaml"))


@pytest.mark.parametrize("manifest", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_every_example_validates_with_no_secret_in_the_environment(manifest, tmp_path):
    env = _scrubbed_env(tmp_path)
    assert not any(k.startswith(("GRID_", "GH_", "GITHUB_")) for k in env)
    proc = subprocess.run([sys.executable, "-m", "gridctl", "validate", "-f", str(manifest)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"{manifest}: valid (")
    assert proc.stderr == ""
    # asked for, the token sources are reported missing
    proc = subprocess.run([sys.executable, "-m", "gridctl", "validate", "--check-sources", "-f", str(manifest)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert ": token source unavailable: env GRID_TOKEN_" in proc.stderr


def test_the_pre_commit_hook_runs_validate_without_secrets(tmp_path):
    from pre_commit.clientlib import load_manifest as load_hooks

    (hook,) = load_hooks(str(ROOT / ".pre-commit-hooks.yaml"))
    assert hook["id"] == "gridctl-validate" and hook["language"] == "python" and not hook["pass_filenames"]
    argv = shlex.split(hook["entry"])
    assert argv[0] == "gridctl"
    # what pre-commit runs, in a copy of the quickstart (the hook's default manifest is ./grid.yaml)
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "quickstart", work, ignore=shutil.ignore_patterns(".gridctl"))
    gridctl = Path(sys.executable).with_name("gridctl")
    proc = subprocess.run([str(gridctl), *argv[1:], *hook["args"]], env=_scrubbed_env(tmp_path), cwd=work,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == "grid.yaml: valid (2 account(s), 1 repository(ies))\n"
    (work / "grid.yaml").write_text((work / "grid.yaml").read_text().replace("description:", "descripton:"))
    proc = subprocess.run([str(gridctl), *argv[1:]], env=_scrubbed_env(tmp_path), cwd=work, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert "unknown field 'descripton'" in proc.stderr


def test_semantic_errors_are_all_reported_at_once(grid):
    grid.write(
        "grid.yaml",
        grid_yaml("""\
        repos:
          alice/demo:
            collaborators: {alice: push}
            secrets:
              actions:
                GITHUB_X: {env: GRID_TOKEN_ALICE}
          alice/other:
            account: nobody
        """, indent="        "),
    )
    r = grid.run("validate", env=ENV)
    assert r.code == 1
    assert [line for line in r.err.splitlines() if ": error: " in line] == [
        "grid.yaml:6:21: error: alice owns alice/demo and cannot be its collaborator",
        "grid.yaml:9:9: error: secret GITHUB_X: names starting with GITHUB_ are reserved by GitHub",
        "grid.yaml:11:14: error: unknown account 'nobody'; accounts are: main",
    ]


def test_warnings_are_positioned_and_do_not_fail(grid):
    grid.write(
        "grid.yaml",
        grid_yaml("""\
        keys:
          api:
            source: {file: keys/api.txt, lines: true}
            spread: {over: [a, b], per_account: 1}
        """, "a: {login: alice, token: {env: GRID_TOKEN_ALICE}}", 'b: {login: bob, token: {env: GRID_TOKEN_BOB}}', indent="        "),
    )
    grid.write("keys/api.txt", "k1\nk2\nk3\n")
    r = grid.check(0, "validate", env=ENV)
    assert "grid.yaml:8:13: warning: key api: 1 value(s) do not fit (per_account 1 over 2 accounts) and go to no account" in r.err
    assert "k1" not in r.all and "k3" not in r.all


def test_errors_become_workflow_annotations_in_github_actions(grid):
    grid.write(
        "grid.yaml",
        grid_yaml("""\
        repos:
          alice/demo: {visibilty: private}
        """, indent="        "),
    )
    r = grid.run("validate", env={**ENV, "GITHUB_ACTIONS": "true"})
    assert r.code == 1
    (note,) = [line for line in r.err.splitlines() if line.startswith("::error ")]
    assert note.startswith("::error file=grid.yaml,line=5,col=16")
    assert "::unknown field 'visibilty' in repos.alice/demo (did you mean 'visibility'?)" in note


def test_a_missing_manifest_is_named(grid):
    r = grid.run("validate", "-f", "nope.yaml", env=ENV)
    assert r.code == 1
    assert r.err == "nope.yaml: error: file not found\n"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", "grid.yaml:1:1: error: the manifest is missing the required field 'version'"),
        ("- version: 1\n", "grid.yaml:1:1: error: the manifest must be a mapping (version, accounts, repos...)"),
        ("version: 1\naccounts:\n\tmain: {}\n", "grid.yaml:3:1: error: YAML syntax error: found character '\\t' that cannot start any token"),
        ("version: 1\x00\n", "grid.yaml:1:11: error: YAML syntax error: character U+0000 is not allowed in YAML"),
        (b"version: 1\n# caf\xe9\n", "grid.yaml:2:6: error: the file is not UTF-8 text"),
        ("version: 1\naccounts: *nope\n", "grid.yaml:2:11: error: YAML syntax error: found undefined alias 'nope'"),
        ("version: 2\naccounts:\n  main: {login: alice, token: {env: X}}\n", "grid.yaml:1:10: error: version must be 1, not 2"),
        ("version: 1\naccounts: []\n", "grid.yaml:2:11: error: accounts must be a mapping, not a list"),
        ("version: 1\naccounts: {}\n", "grid.yaml:2:11: error: accounts must not be empty"),
        (
            "version: 1\naccounts:\n  main: {login: alice, token: hunter2}\n",
            "grid.yaml:3:31: error: accounts.main.token must be a source ({env: VAR}, {file: path} or {command: [...]}), not a literal value",
        ),
        ("version: 1\naccounts:\n  main: {lgin: alice, token: {env: X}}\n", "grid.yaml:3:10: error: unknown field 'lgin' in accounts.main (did you mean 'login'?)"),
        (
            "version: 1\naccounts:\n  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\nrepos:\n  alice/demo:\n",
            "grid.yaml:5:3: error: repos.alice/demo must be a mapping, not empty (null)",
        ),
        (
            "version: 1\naccounts:\n  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\nrepos:\n  alice/demo:\n    secrets: {actions: {KEY: s3cr3t}}\n",
            "grid.yaml:6:30: error: repos.alice/demo.secrets.actions.KEY must be a source ({key: id}, {env: VAR}, {file: path} or {command: [...]}), not a literal value",
        ),
        (
            "version: 1\naccounts:\n  acme: {org: acme, token: {env: GRID_TOKEN_ALICE}}\norg_variables:\n  acme:\n    X: {value: 1, visiblity: all}\n",
            "grid.yaml:6:19: error: unknown field 'visiblity' in org_variables.acme.X (did you mean 'visibility'?)",
        ),
        (
            "version: 1\naccounts:\n  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\nrepos:\n  alice/demo:\n    files: {a.txt: {source: .}}\n",
            "grid.yaml:6:29: error: alice/demo: a.txt: file . is a directory",
        ),
    ],
    ids=lambda v: None if isinstance(v, str | bytes) and len(v) > 60 else str(v)[:40],
)
def test_odd_input_gets_one_positioned_message(grid, text, expected):
    grid.write("grid.yaml", text)
    r = grid.run("validate", env=ENV)
    assert r.code == 1
    assert "Traceback" not in r.all and "internal error" not in r.all
    errors = [line for line in r.err.splitlines() if ": error: " in line]
    assert errors[0] == expected, r.err
    assert len(errors) == (2 if text == "" else 1), r.err


def test_the_manifest_schema_is_a_valid_2020_12_schema():
    schema = load_schema("grid.schema.json")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    json.dumps(schema)
