"""The controller's declarations in grid.yaml — ``pools:``, ``groups:``, ``serve:`` — load into
typed specs, every mistake is reported at its ``file:line:col`` (all at once), secrets never
appear in a message, and ``plan`` shows nothing for them (they are not GitHub objects).

One mistake per file lives in ``tests/manifests/bad-pool-*.yaml`` / ``bad-serve-*.yaml`` (checked
through ``validate`` and ``plan`` by test_bad_manifests.py); here are the good shapes, the
defaults, and the cases that need more than one line to show.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from gridctl.errors import ManifestError
from gridctl.manifest.sources import Source
from gridctl.resources import load_manifest
from gridctl.serve.declare import (
    DEFAULT_LAUNCHER,
    GroupSpec,
    PoolSpec,
    ServeSpec,
    database_url,
    groups_of,
    pools_of,
    serve_of,
)

HEAD = """\
version: 1
accounts:
  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}
  lab: {org: lab-grid, token: {env: GRID_TOKEN_ALICE}}
runner_groups:
  lab:
    gpu: {visibility: all}
"""

FULL = HEAD + """\
repos:
  lab-grid/jobs:
    files:
      .github/workflows/train.yml:
        content: |
          on: workflow_dispatch
          jobs:
            train:
              runs-on: [self-hosted, GPU]
              steps: [{run: ./train.sh}]
dispatch:
  train: {repo: lab-grid/jobs, workflow: train.yml}
  lint: {repo: alice/demo, workflow: lint.yml}
pools:
  gpu:
    scope: org:lab
    group: gpu
    labels: [GPU, linux]
    min: 1
    max: 5
    idle_timeout: 10m
    online_timeout: 90
    offline_timeout: 1.5s
    scale_up: {threshold: 2, cooldown: 30s}
    scale_down: {cooldown: 1m}
    launcher: {command: docker run --rm -e ACTIONS_RUNNER_INPUT_JITCONFIG runner-image ./run.sh}
  small:
    scope: alice/demo
    max: 2
groups:
  training:
    labels: [gpu]
    templates: [train]
    max_concurrent: 2
  linting:
    labels: [self-hosted]
    templates: [lint]
    pool: small
  elsewhere:
    labels: [arm64]
    templates: [lint]
serve:
  listen: "[::1]:9090"
  database: postgresql://grid@db.internal/controller
  poll_interval: 15s
  webhook_secret: {env: GRID_WEBHOOK_SECRET}
  api:
    users:
      ops: {role: admin, token: {env: GRID_API_OPS}}
      dash: {role: readonly, token: {file: dash.token}}
"""


def write(tmp_path: Path, text: str, name: str = "grid.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifest(path, resolve=False)
    return [f"{d.location()}: {d.summary}".removeprefix(f"{path.parent}/") for d in info.value.diagnostics() if d.severity == "error"]


def test_the_declarations_load_into_typed_specs(tmp_path):
    m = load_manifest(write(tmp_path, FULL), resolve=False)
    pools = pools_of(m)
    assert list(pools) == ["gpu", "small"]
    gpu = pools["gpu"]
    assert gpu == PoolSpec(
        name="gpu", account="lab", scope="org:lab-grid", group="gpu", labels=("GPU", "linux"), min=1, max=5,
        idle_timeout=600.0, online_timeout=90.0, offline_timeout=1.5, scale_up_threshold=2, scale_up_cooldown=30.0,
        scale_down_cooldown=60.0, launcher=("docker", "run", "--rm", "-e", "ACTIONS_RUNNER_INPUT_JITCONFIG", "runner-image", "./run.sh"),
        path=("pools", "gpu"),
    )
    assert gpu.runner_labels == {"gpu", "linux", "self-hosted"}  # lower-cased: GitHub compares labels so
    assert gpu.covers("LAB-GRID/jobs") and not gpu.covers("alice/demo")
    small = pools["small"]
    # the defaults
    assert (small.account, small.scope, small.group, small.min, small.labels) == ("main", "alice/demo", None, 0, ())
    assert (small.idle_timeout, small.online_timeout, small.offline_timeout) == (300.0, 300.0, 60.0)
    assert (small.scale_up_threshold, small.scale_up_cooldown, small.scale_down_cooldown) == (1, 0.0, 0.0)
    assert small.launcher == DEFAULT_LAUNCHER
    assert small.covers("alice/demo") and not small.covers("alice/demo2")

    groups = groups_of(m)
    # a group without `pool:` pre-warms the first pool whose runners have all its labels
    assert groups["training"] == GroupSpec("training", ("gpu",), ("train",), 2, "gpu", ("groups", "training"))
    assert groups["linting"].pool == "small" and groups["linting"].max_concurrent is None
    assert groups["elsewhere"].pool is None  # no pool has arm64: entries wait for runners registered otherwise

    serve = serve_of(m)
    assert (serve.host, serve.port, serve.poll_interval) == ("::1", 9090, 15.0)
    assert serve.database == "postgresql://grid@db.internal/controller"
    assert serve.webhook_secret == Source("env", "GRID_WEBHOOK_SECRET")
    assert [(u.name, u.role, u.token) for u in serve.users] == [
        ("ops", "admin", Source("env", "GRID_API_OPS")), ("dash", "readonly", Source("file", "dash.token")),
    ]


def test_a_relative_sqlite_path_is_relative_to_the_manifest(tmp_path):
    m = load_manifest(write(tmp_path, HEAD + "serve: {database: 'sqlite:///.gridctl/c.db'}\n"), resolve=False)
    url = serve_of(m).database
    assert isinstance(url, str)
    assert database_url(url, m.root) == f"sqlite:///{tmp_path.resolve()}/.gridctl/c.db"
    assert database_url("sqlite:////var/lib/c.db", m.root) == "sqlite:////var/lib/c.db"
    assert database_url("postgresql://db/x", m.root) == "postgresql://db/x"


def test_without_the_sections_the_specs_are_empty_and_serve_has_defaults(tmp_path):
    m = load_manifest(write(tmp_path, HEAD), resolve=False)
    assert pools_of(m) == {} and groups_of(m) == {}
    assert serve_of(m) == ServeSpec()
    assert (serve_of(m).host, serve_of(m).port, serve_of(m).database, serve_of(m).users) == ("127.0.0.1", 8080, None, ())


@pytest.mark.parametrize("command", [
    "docker run --rm -e ACTIONS_RUNNER_INPUT_JITCONFIG img ./run.sh",
    "ssh -o SendEnv=ACTIONS_RUNNER_INPUT_JITCONFIG build-host ./actions-runner/run.sh",
    "sh -c 'ssh build-host ./run-jit.sh < {jitconfig_file}'",
    ["./start-vm.sh", "--name", "{name}", "--dir", "{workdir}", "--pool", "{pool}", "--jit", "{jitconfig_file}"],
    "env GRIDCTL_JIT_FILE=x ./run.sh",
])
def test_documented_launcher_templates_are_accepted(tmp_path, command):
    text = HEAD + f"pools:\n  p:\n    scope: alice/demo\n    max: 1\n    launcher: {{command: {command!r}}}\n"
    if isinstance(command, list):
        text = HEAD + "pools:\n  p:\n    scope: alice/demo\n    max: 1\n    launcher:\n      command: [" + ", ".join(f'"{a}"' for a in command) + "]\n"
    m = load_manifest(write(tmp_path, text), resolve=False)
    assert pools_of(m)["p"].launcher[0] in ("docker", "ssh", "sh", "./start-vm.sh", "env")


def test_every_mistake_is_reported_at_once_in_file_order(tmp_path):
    path = write(tmp_path, HEAD + """\
pools:
  p:
    scope: alice/demo
    min: 3
    max: 2
    idle_timeout: soon
    scale_up: {cooldown: 5 minutes}
    launcher: {command: "./run.sh {nmae} {jitconfig_file}"}
  q:
    scope: org:main
    max: 1
  r:
    scope: alice/demo
    group: gpu
    max: 1
  s:
    scope: not-a-scope
    max: 1
serve:
  listen: "127.0.0.1:70000"
  database: "sqlite://relative.db"
  poll_interval: 100ms
""")
    assert errors_of(path) == [
        "grid.yaml:11:10: pool p: min 3 is more than max 2",
        "grid.yaml:13:19: pools.p.idle_timeout: 'soon' is not a duration",
        "grid.yaml:14:26: pools.p.scale_up.cooldown: '5 minutes' is not a duration",
        "grid.yaml:15:25: pool p: unknown placeholder {nmae} in the launcher (did you mean '{name}'?)",
        "grid.yaml:17:12: pool q: no organization account 'main' in this manifest",  # main is a user
        "grid.yaml:21:12: pool r: repository runners can only be in the default group",
        "grid.yaml:24:12: pool s: scope 'not-a-scope' must be owner/repo or org:<name>",
        "grid.yaml:27:11: serve.listen must be host:port (like 127.0.0.1:8080 or [::1]:8080), not '127.0.0.1:70000'",
        "grid.yaml:28:13: serve.database: a SQLite URL is sqlite:///PATH (three slashes; the path is relative to the manifest's folder)",
        "grid.yaml:29:18: serve.poll_interval must be at least 1s",
    ]


def test_a_pool_of_a_retired_account_or_an_unmanaged_repository_is_refused(tmp_path):
    path = write(tmp_path, """\
version: 1
accounts:
  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}
  old: {login: olduser, token: {env: GRID_TOKEN_OLD}, retired: true}
pools:
  a:
    scope: olduser/tools
    max: 1
  b:
    scope: carol/tools
    max: 1
  c:
    scope: alice/demo
    account: old
    max: 1
""")
    assert errors_of(path) == [
        "grid.yaml:7:12: account old (olduser) is retired and cannot run a pool",
        "grid.yaml:10:12: pool b: no account manages carol/tools",
        "grid.yaml:14:14: account old (olduser) is retired and cannot run a pool",
    ]


def test_group_templates_must_run_where_the_pool_runs_and_fit_its_labels(tmp_path):
    workflow = """\
        content: |
          on: workflow_dispatch
          jobs:
            {jobs}
"""
    jobs = {
        # one job fits (the other is GitHub-hosted): fine
        "mixed": "a: {runs-on: ubuntu-latest}\n            b: {runs-on: [self-hosted, Linux]}",
        # runs-on computed at run time: cannot be judged, accepted
        "expr": "a: {runs-on: '${{ inputs.where }}'}",
        # the mapping form: a group and labels
        "mapped": "a: {runs-on: {group: gpu, labels: [linux, big]}}",
        # a single string that no pool runner has
        "hosted": "a: {runs-on: windows-latest}",
    }
    files = "".join(f"      .github/workflows/{n}.yml:\n" + workflow.replace("{jobs}", j) for n, j in jobs.items())
    text = HEAD + "repos:\n  alice/demo:\n    files:\n" + files + """\
dispatch:
  mixed: {repo: alice/demo, workflow: mixed.yml}
  expr: {repo: alice/demo, workflow: expr.yml}
  mapped: {repo: alice/demo, workflow: mapped.yml}
  hosted: {repo: alice/demo, workflow: hosted.yml}
  other-repo: {repo: alice/site, workflow: x.yml}
pools:
  linux:
    scope: alice/demo
    labels: [linux]
    max: 2
groups:
  g:
    labels: [linux]
    templates: [mixed, expr, mapped, hosted, other-repo]
"""
    path = write(tmp_path, text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path, resolve=False)
    got = [(d.summary, d.detail) for d in info.value.diagnostics()]
    assert got == [
        ("dispatch group g: no job of .github/workflows/mapped.yml (template mapped) can run on pool linux's runners",
         "runs-on asks for [big, linux]; the pool's runners have: linux, self-hosted (a job needs a runner with all of its labels)"),
        ("dispatch group g: no job of .github/workflows/hosted.yml (template hosted) can run on pool linux's runners",
         "runs-on asks for [windows-latest]; the pool's runners have: linux, self-hosted (a job needs a runner with all of its labels)"),
        ("dispatch group g: template other-repo runs in alice/site, outside pool linux's scope (alice/demo)",
         "a pool's runners take jobs of its repository, or of its organization's repositories"),
    ]


CANARY = "canary-Q4vz-" + "9e1b" * 5


def test_secrets_in_serve_are_refused_without_being_printed(tmp_path):
    """A password in the database URL, and a literal webhook secret or API token, are errors
    that name the place, never the value — in validate and in plan."""
    from typer.testing import CliRunner

    from gridctl.cli import app

    write(tmp_path, HEAD + f"""\
serve:
  database: "postgresql://grid:{CANARY}@db/controller"
  webhook_secret: "{CANARY}"
  api:
    users:
      ops: {{role: admin, token: "{CANARY}"}}
""")
    runner = CliRunner()
    for command in (["validate", "-f", str(tmp_path / "grid.yaml")], ["plan", "-f", str(tmp_path / "grid.yaml")]):
        res = runner.invoke(app, command, env={"GRID_TOKEN_ALICE": "fake", "NO_COLOR": "1", "GRIDCTL_API_URL": "http://127.0.0.1:9"}, catch_exceptions=False)
        assert res.exit_code == 1
        out = res.stdout + res.stderr
        assert CANARY not in out
        assert "serve.webhook_secret must be a source" in out
        assert "serve.api.users.ops.token must be a source" in out
        # schema errors come first: the URL is looked at once the shapes are right
    write(tmp_path, HEAD + f'serve:\n  database: "postgresql://grid:{CANARY}@db/controller"\n')
    res = runner.invoke(app, ["validate", "-f", str(tmp_path / "grid.yaml")], env={"NO_COLOR": "1"}, catch_exceptions=False)
    assert res.exit_code == 1
    assert "serve.database holds a password" in res.stderr and CANARY not in res.stdout + res.stderr
    # a mistyped scheme is not repeated either, unless it is a well-known one
    write(tmp_path, HEAD + f'serve:\n  database: "{CANARY}:x@db/controller"\n')
    res = runner.invoke(app, ["validate", "-f", str(tmp_path / "grid.yaml")], env={"NO_COLOR": "1"}, catch_exceptions=False)
    assert res.exit_code == 1 and CANARY not in res.stdout + res.stderr
    assert "serve.database must be a sqlite:///PATH or postgresql://HOST/DB URL\n" in res.stderr


def test_plan_shows_nothing_for_the_controller_sections(grid):
    """pools, groups and serve are not GitHub objects: the plan with them is the plan without."""
    grid.user("alice")
    base = ("version: 1\naccounts:\n  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\nrepos:\n  alice/demo:\n    description: Demo\n"
            "    files:\n      .github/workflows/t.yml:\n        content: |\n          on: workflow_dispatch\n"
            "          jobs: {a: {runs-on: [self-hosted, linux], steps: [{run: x}]}}\n")
    extra = "pools:\n  p: {scope: alice/demo, labels: [linux], max: 2}\ngroups:\n  g: {labels: [linux], templates: [t]}\n" \
            "dispatch:\n  t: {repo: alice/demo, workflow: t.yml}\nserve: {listen: '127.0.0.1:8081'}\n"
    grid.write("without.yaml", base + "dispatch:\n  t: {repo: alice/demo, workflow: t.yml}\n")
    grid.write("with.yaml", base + extra)
    plain = grid.run("plan", "-f", "without.yaml")
    assert plain.code == 0, plain.all
    r = grid.run("plan", "-f", "with.yaml")
    assert r.code == 0, r.all
    def same(text: str) -> str:  # the plan id covers the manifest's hash
        return re.sub(r"\(plan [0-9a-f]{12}\)", "(plan ID)", text.replace("without.yaml", "with.yaml"))

    assert same(r.out) == same(plain.out)
    assert "Plan: 2 to create, 0 to update, 0 to replace, 0 to delete." in r.out  # the repository and its workflow file
    assert "pool" not in r.out and "serve" not in r.out
