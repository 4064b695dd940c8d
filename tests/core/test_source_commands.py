"""A source command (``token: {command: [...]}``) is bounded: a timeout or endless output stops
it and everything it started, and nothing it printed on stderr is shown."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from gridctl.errors import SourceError
from gridctl.manifest.sources import Source, read_source


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose: it runs nothing
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_timeout_kills_the_command_and_what_it_left_in_the_background(tmp_path):
    script = f"sleep 300 & echo $! > {tmp_path}/bg.pid; echo $$ > {tmp_path}/sh.pid; sleep 300"
    started = time.monotonic()
    with pytest.raises(SourceError, match="timed out after 1s"):
        read_source(Source("command", ["sh", "-c", script]), tmp_path, timeout=1)
    assert time.monotonic() - started < 15
    pids = [int((tmp_path / n).read_text()) for n in ("bg.pid", "sh.pid")]
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in pids), pids


def test_endless_output_is_cut_and_stopped(tmp_path):
    with pytest.raises(SourceError, match="printed more than"):
        read_source(Source("command", [sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('x' * 65536)"]), tmp_path, timeout=20)


def test_stderr_is_never_shown(tmp_path):
    canary = "canary-" + "7" * 20  # made by the command at run time: not in its argv
    with pytest.raises(SourceError) as info:
        read_source(Source("command", ["sh", "-c", "echo canary-$(printf '7%.0s' $(seq 20)) >&2; exit 3"]), tmp_path)
    assert "exited with status 3" in str(info.value) and canary not in str(info.value)
    assert read_source(Source("command", ["sh", "-c", "echo tok; echo noise >&2"]), tmp_path) == "tok"


def test_a_token_with_a_line_break_is_called_malformed_never_echoed(grid):
    grid.user("alice")
    grid.write("grid.yaml", "version: 1\naccounts:\n  main: {login: alice, token: {env: GRID_TOKEN_ALICE}}\nrepos:\n  alice/r1: {}\n")
    half = "gridsbx_" + "a1" * 10
    r = grid.check(1, "plan", env={"GRID_TOKEN_ALICE": half + "\n" + half})
    assert "grid.yaml:3:" in r.err and "account main: the token from env GRID_TOKEN_ALICE is malformed" in r.err, r.err
    assert half not in r.all and "InvalidHeader" not in r.all
