"""Text from a manifest never reaches a terminal or an Actions log raw: no escape sequence, and
no line that GitHub Actions would run as a workflow command (``::add-mask::``, ``::error::``,
``::stop-commands::``...) except the annotations gridctl means to write."""

from __future__ import annotations

import re

import pytest

from gridctl.util.text import no_commands, printable, safe

HOSTILE = "A\n::add-mask::x\n  ::error::pwned\x1b[2J\u202e"


def own_annotation(line: str) -> bool:
    return re.match(r"::(error|warning)( file=[^,:]*(,line=\d+(,col=\d+)?)?)?::", line) is not None


def test_helpers():
    assert printable("a\x1bb\u202ec") == "a\\x1bb\\u202ec"
    assert printable("a\nb", newlines=True) == "a\nb"
    assert no_commands("x\n::error::y\n  ::warning::z") == "x\n\\x3a:error::y\n  \\x3a:warning::z"
    assert all(not ln.lstrip().startswith("::") for ln in safe(HOSTILE, newlines=True).split("\n"))


@pytest.mark.parametrize("where", ["variable-name", "environment-name", "collaborator"])
def test_manifest_text_cannot_inject_workflow_commands(grid, where):
    grid.user("alice")
    name = HOSTILE.replace("\n", "\\n").replace("\x1b", "\\e").replace("\u202e", "\\u202e")
    body = {
        "variable-name": f'    variables: {{"{name}": "1"}}',
        "environment-name": f'    environments: {{"{name}": {{}}}}',
        "collaborator": f'    collaborators: {{"{name}": push}}',
    }[where]
    grid.write("grid.yaml", "version: 1\naccounts:\n  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\n"
               f"repos:\n  alice/r1:\n{body}\n")
    for command in ("validate", "plan"):
        r = grid.check(1, command, env={"GITHUB_ACTIONS": "true"})
        assert "\x1b" not in r.all and "\u202e" not in r.all
        bad = [ln for ln in r.all.splitlines() if ln.lstrip().startswith("::") and not own_annotation(ln)]
        assert not bad, r.all
        assert "Traceback" not in r.all
