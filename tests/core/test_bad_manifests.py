"""Bad input gets a clear message with file:line:col, exit code 1, no traceback, and no API call.

Each ``tests/manifests/bad-*.yaml`` shows one mistake and states, in ``# expect:`` comments,
every error line gridctl must print for it (location and message), in order, and in
``# detail:`` comments the hint lines that must come with them. The test runs both
``gridctl validate`` and ``gridctl plan`` (against a live sandbox that must receive no request
at all) and compares the error lines exactly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gridctl.sandbox.testing import strict_sandbox

from ..helpers import grid_yaml
from .conftest import Grid

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
BAD = sorted(MANIFESTS.glob("bad-*.yaml"))

#: token sources the fixtures use (obviously fake values; the sandbox never sees them)
ENV = {
    "GRID_TOKEN_ALICE": "fake-token-alice",
    "GRID_TOKEN_BOB": "fake-token-bob",
    "GRID_TOKEN_CAROL": "fake-token-carol",
    "API_KEY": "fake-api-key",
    "GITHUB_ACTIONS": None,  # no workflow annotations: the lines compared are the plain ones
    "GRIDCTL_DEBUG": None,
}


def expected_errors(path: Path) -> list[str]:
    return [line[len("# expect: ") :] for line in path.read_text().splitlines() if line.startswith("# expect: ")]


def expected_details(path: Path) -> list[str]:
    return [line[len("# detail: ") :] for line in path.read_text().splitlines() if line.startswith("# detail: ")]


def detail_lines(text: str) -> list[str]:
    return [line[4:] for line in text.splitlines() if line.startswith("    ")]


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if ": error: " in line]


@pytest.fixture(scope="module")
def sandbox():
    """One strict sandbox for the module (cheaper than one per case); counts are reset before use."""
    with strict_sandbox() as sb:
        yield sb


@pytest.fixture
def grid(sandbox, tmp_path):
    return Grid(sandbox, tmp_path)


def copy_fixtures(dest: Path) -> None:
    """The fixtures (and their helper files and symlinks) in the test's own folder, so paths
    print relative (``bad-x.yaml:3:5``) and nothing is written next to the sources."""
    shutil.copytree(MANIFESTS, dest, symlinks=True, dirs_exist_ok=True)


def test_there_are_enough_bad_manifests():
    assert len(BAD) >= 30
    for path in BAD:
        assert expected_errors(path), f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_manifest(grid, path):
    copy_fixtures(grid.dir)
    expected = expected_errors(path)
    grid.ctl("POST", "/stats/reset")
    for command in (("validate", "--check-sources"), ("plan",)):  # plain validate reads no token source
        r = grid.run(*command, "-f", path.name, env=ENV)
        assert r.code == 1, f"{command}: {r.all}"
        assert "Traceback" not in r.all
        assert error_lines(r.err) == expected, f"{command} printed:\n{r.err}"
        for detail in expected_details(path):
            assert detail in detail_lines(r.err), f"{command} printed:\n{r.err}"
        assert r.out == "", f"{command} printed on stdout:\n{r.out}"
    assert grid.ctl("GET", "/stats")["total"].get("requests", 0) == 0
    assert not (grid.dir / ".gridctl").exists()


def test_a_good_manifest_does_reach_the_sandbox(grid):
    """The zero-request check above can fail: a valid manifest's plan is counted."""
    grid.user("alice")
    copy_fixtures(grid.dir)
    grid.ctl("POST", "/stats/reset")
    grid.check(0, "plan", "-f", "good.yaml")
    assert grid.ctl("GET", "/stats")["total"]["requests"] > 0


def test_three_schema_errors_come_at_once_in_file_order(grid):
    copy_fixtures(grid.dir)
    r = grid.run("validate", "-f", "bad-three-schema-errors.yaml", env=ENV)
    lines = error_lines(r.err)
    assert len(lines) == 3
    positions = [tuple(int(n) for n in line.split(":")[1:3]) for line in lines]
    assert positions == sorted(positions)


def test_a_literal_token_in_any_shape_is_refused_without_being_printed(grid):
    """Token-looking values are built here, never committed. Wherever one stands (a token field,
    a field with an enum, a name, an unknown field), the error names the place, not the value."""
    ghp = "ghp_" + "Z9" * 18
    pat = "github_pat_" + "Q7" * 20
    grid.write(
        "grid.yaml",
        f"""
        version: 1
        accounts:
          main: {{login: alice, token: {ghp}}}
        repos:
          alice/demo:
            visibility: {pat}
            variables:
              {ghp}: x
            {pat}: true
        """,
    )
    for command in ("validate", "plan"):
        r = grid.run(command, env=ENV)
        assert r.code == 1
        assert error_lines(r.err) == [
            "grid.yaml:3:31: error: a literal token is not allowed in the manifest",
            "grid.yaml:6:17: error: a literal token is not allowed in the manifest",
            "grid.yaml:8:7: error: a literal token is not allowed in the manifest",
            "grid.yaml:9:5: error: a literal token is not allowed in the manifest",
        ]
        assert ghp not in r.all and pat not in r.all


CANARY = "canary-Zx81-do-not-print-" + "7f3a" * 6


@pytest.mark.parametrize(
    "case,manifest,extra",
    [
        # the token is set, the manifest fails later on a reference (the token is never read)
        (
            "unknown-key",
            grid_yaml("""\
            repos:
              alice/demo:
                secrets:
                  actions:
                    API_KEY: {key: nope}
            """, "main: {login: alice, token: {env: GRID_TOKEN_CANARY}}", indent="            "),
            {},
        ),
        # the token is read, then a key source fails
        (
            "key-missing-after-token",
            grid_yaml("""\
            keys:
              api: {source: {file: keys/absent.txt}}
            """, "main: {login: alice, token: {env: GRID_TOKEN_CANARY}}", indent="            "),
            {},
        ),
        # a token command that prints the secret on stdout and stderr, then fails
        (
            "command-echoes-then-fails",
            """
            version: 1
            accounts:
              main: {login: alice, token: {command: [sh, -c, 'echo "$GRID_TOKEN_CANARY"; echo "$GRID_TOKEN_CANARY" >&2; exit 2']}}
            """,
            {},
        ),
        # a deploy key whose (secret-holding) source is not an SSH key
        (
            "deploy-key-not-ssh",
            grid_yaml("""\
            repos:
              alice/demo:
                deploy_keys:
                  worker: {env: GRID_TOKEN_CANARY}
            """, indent="            "),
            {},
        ),
        # a key with several values used as a single secret
        (
            "format-single",
            grid_yaml("""\
            keys:
              api: {source: {file: keys/two.txt, lines: true}}
            repos:
              alice/demo:
                secrets:
                  actions:
                    API_KEY: {key: api, format: single}
            """, "main: {login: alice, token: {env: GRID_TOKEN_CANARY}}", indent="            "),
            {"keys/two.txt": f"{CANARY}-one\n{CANARY}-two\n"},
        ),
    ],
)
def test_secrets_never_leak_in_messages(grid, case, manifest, extra):
    grid.write("grid.yaml", manifest)
    for rel, text in extra.items():
        grid.write(rel, text)
    grid.ctl("POST", "/stats/reset")
    for command in (("validate", "--check-sources"), ("plan",)):  # plain validate reads no token or env source
        r = grid.run(*command, env={**ENV, "GRID_TOKEN_CANARY": CANARY})
        assert r.code == 1, f"{case} {command}: {r.all}"
        assert error_lines(r.err), r.err
        assert all(line.startswith("grid.yaml:") for line in error_lines(r.err)), r.err
        assert CANARY not in r.all and "Traceback" not in r.all
    assert grid.ctl("GET", "/stats")["total"].get("requests", 0) == 0
    assert not (grid.dir / ".gridctl").exists()
