"""A damaged journal is closed once: a torn last line ends its run, unreadable lines are reported
and skipped, and a run's state updates are never replayed twice nor over newer state."""

from __future__ import annotations

import json

import pytest

from ..helpers import grid_yaml

MANIFEST = grid_yaml("""\
repos:
  alice/r1:
    visibility: private
    secrets:
      actions: {API: {env: API_VALUE}}
    variables: {MODE: MODE_WORD}
""")


def journals(grid) -> list:
    return sorted((grid.dir / ".gridctl" / "journal").glob("*.jsonl"))


def two_applies(grid):
    """Two finished applies; the second rewrote the secret and the variable."""
    grid.user("alice")
    grid.write("grid.yaml", MANIFEST.replace("MODE_WORD", "one"))
    assert grid.run("apply", "--auto-approve", env={"API_VALUE": "first"}).code == 0
    grid.write("grid.yaml", MANIFEST.replace("MODE_WORD", "two"))
    assert grid.run("apply", "--auto-approve", env={"API_VALUE": "second"}).code == 0
    assert len(journals(grid)) == 2


def settled(grid) -> None:
    """Later commands neither recover again nor see changes; apply writes nothing."""
    for _ in range(2):
        r = grid.check(0, "plan", "--detailed-exitcode", env={"API_VALUE": "second"})
        assert "recovered" not in r.all, r.all
    r = grid.run("apply", "--auto-approve", env={"API_VALUE": "second"})
    assert r.code == 0 and "No changes" in r.all, r.all


@pytest.mark.parametrize("which", [0, 1], ids=["older-run", "latest-run"])
def test_torn_last_line_closes_the_run_once(grid, which):
    two_applies(grid)
    path = journals(grid)[which]
    data = path.read_bytes()
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[1]
    assert json.loads(last)["type"] == "end"
    path.write_bytes(data[: len(data) - len(last) // 2 - 1])  # cut the end line in half
    r = grid.check(0, "plan", "--detailed-exitcode", env={"API_VALUE": "second"})
    assert "torn last line" in r.all, r.all
    settled(grid)
    # the run now ends with a readable end entry on a line of its own
    lines = path.read_bytes().splitlines()
    assert json.loads(lines[-1])["type"] == "end"


@pytest.mark.parametrize(
    "damage",
    [b"{not json", b"[1, 2]", b"\xff\xfe not utf-8", b'"a string"'],
    ids=["bad-json", "list", "non-utf8", "string"],
)
def test_damaged_middle_line_is_reported_and_skipped(grid, damage):
    two_applies(grid)
    path = journals(grid)[0]
    lines = path.read_bytes().splitlines()
    lines[1] = damage
    # and drop the end, as a crash would have left it: the run must still be closed, not replayed
    # over the newer run's state
    path.write_bytes(b"\n".join(lines[:-1]) + b"\n")
    r = grid.check(0, "plan", "--detailed-exitcode", env={"API_VALUE": "second"})
    assert "unreadable line(s) 2 skipped" in r.all, r.all
    assert "Traceback" not in r.all and "internal error" not in r.all
    settled(grid)
