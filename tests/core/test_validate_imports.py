"""``gridctl validate`` imports only what loading a manifest needs (issue 16: validating 1,000
repositories in at most 1 s of CPU, where importing the session — clients, engine, state — took
some 0.4 s).

Each case runs the command line in a fresh interpreter, as a pre-commit hook or an editor would,
and lists the modules loaded when it ends: never PyGithub (``github``), requests, deepdiff,
jinja2, PyNaCl or PyJWT — whatever the manifest holds (dispatch templates, task queues, runners,
webhooks, an App account), valid or not, with ``--check-sources`` too. A valid manifest does not
load jsonschema either (the compiled quick check accepts it; jsonschema is imported to word the
errors of an invalid one). Counts of modules, not times: the test is as steady as the machine is
noisy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/grid.yaml"))

#: what validate must never import: the clients and what only plan, apply and other commands use
NEVER = ("github", "requests", "urllib3", "deepdiff", "jinja2", "nacl", "jwt")

#: runs gridctl's entry point with the given arguments, then writes the names of the loaded modules
#: to the file named by the first argument
HARNESS = """\
import json, sys
out, preload, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if preload:
    __import__(preload)
sys.argv = ["gridctl", *args]
from gridctl.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
finally:
    with open(out, "w") as fh:
        json.dump(sorted(sys.modules), fh)
sys.exit(code)
"""


def loaded(tmp_path: Path, *args: str, preload: str = "") -> tuple[int, set[str], str]:
    """Exit code, top-level names of the modules loaded, and stderr of ``gridctl ARGS``."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "SYSTEMROOT", "VIRTUAL_ENV")}
    env = {**keep, "HOME": str(tmp_path), "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), keep.get("PYTHONPATH")]))}
    out = tmp_path / "modules.json"
    proc = subprocess.run([sys.executable, "-c", HARNESS, str(out), preload, *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    names = json.loads(out.read_text())
    return proc.returncode, {n.split(".")[0] for n in names}, proc.stderr


def test_the_harness_sees_the_clients_where_they_are_imported(tmp_path):
    """The check can fail: with the session loaded first, PyGithub and requests show up."""
    code, modules, err = loaded(tmp_path, "--version", preload="gridctl.core.session")
    assert code == 0, err
    assert {"github", "requests"} <= modules


@pytest.mark.parametrize("manifest", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_validate_imports_no_client(manifest, tmp_path):
    code, modules, err = loaded(tmp_path, "validate", "-f", str(manifest))
    assert code == 0, err
    assert sorted(modules & {*NEVER, "jsonschema"}) == []
    # reading the token sources too (they are missing here: exit 1, each reported at its line)
    code, modules, err = loaded(tmp_path, "validate", "--check-sources", "-f", str(manifest))
    assert code == 1 and "token source unavailable" in err
    assert sorted(modules & {*NEVER, "jsonschema"}) == []


def test_an_invalid_manifest_imports_jsonschema_but_no_client(tmp_path):
    (tmp_path / "grid.yaml").write_text(
        "version: 1\naccounts:\n  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\n"
        "repos:\n  alice/demo: {visibilty: private, topics: [a, a]}\n"
    )
    code, modules, err = loaded(tmp_path, "validate")
    assert code == 1
    assert "grid.yaml:5:" in err and "visibilty" in err
    assert "jsonschema" in modules
    assert sorted(modules & set(NEVER)) == []


def test_no_string_shorter_than_token_min_looks_like_a_token():
    """The walk looking for literal tokens skips strings shorter than TOKEN_MIN: that is the
    shortest match TOKEN_RE has (read from the expression itself)."""
    import re._parser as sre_parse  # (Python's own reading of an expression: its shortest match)

    from gridctl.manifest.load import TOKEN_MIN, TOKEN_RE

    assert sre_parse.parse(TOKEN_RE.pattern).getwidth()[0] == TOKEN_MIN
