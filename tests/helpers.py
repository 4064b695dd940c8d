"""What many tests share: the head of a test manifest, waiting (bounded) for a condition, a
private copy of an example folder, the CLI run in-process from a folder.

A test manifest is written as ``grid_yaml(body)``: the text is exactly what the tests used to
spell out — a leading line break, ``version: 1``, the ``accounts:`` block, then ``body`` — so
the line numbers a test expects in a diagnostic (``grid.yaml:7:5``) count the same lines.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: account lines (without their two-space indentation) of the sandbox's seed users
ALICE = "main: {login: alice, token: {env: GRID_TOKEN_ALICE}}"
ACME = "acme: {org: acme, token: {env: GRID_TOKEN_ALICE}}"
HELPER_BOB = "helper: {login: bob, token: {env: GRID_TOKEN_BOB}}"
NODE_BOB = "node-1: {login: bob, token: {env: GRID_TOKEN_BOB}}"
NODE_CAROL = "node-2: {login: carol, token: {env: GRID_TOKEN_CAROL}}"


def grid_yaml(body: str, *accounts: str, indent: str = "") -> str:
    """A manifest: a line break, ``version: 1``, ``accounts:`` with ``accounts`` (default: alice
    as ``main``), then ``body`` (YAML from the line after the accounts). ``indent`` prefixes the
    header's lines, for a manifest written indented inside a function (``grid.write`` dedents)."""
    head = ["version: 1", "accounts:", *(f"  {a}" for a in accounts or (ALICE,))]
    return "\n" + "".join(f"{indent}{line}\n" for line in head) + body


def wait_for(check: Callable[[], T], what: str, timeout: float = 20.0, interval: float = 0.05,
             most: int = 10_000) -> T:
    """``check()``'s first true value, tried every ``interval`` seconds; fails after ``timeout``
    seconds or ``most`` tries, whichever comes first."""
    deadline = time.monotonic() + timeout
    for _ in range(most):
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def copy_example(example: Path, dest: Path, *skip: str) -> Path:
    """A private copy of an example folder at ``dest`` (which may exist), without its ``.gridctl``
    working folder nor the entries named in ``skip``."""
    shutil.copytree(example, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".gridctl", *skip))
    return dest


def cli_in(cwd: Path, *args: str, env: dict[str, str | None]) -> Any:
    """The real CLI, in-process, run from ``cwd`` with ``env`` set over the process's environment
    (``None`` unsets a variable); its click ``Result``."""
    from typer.testing import CliRunner

    from gridctl.cli import app

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    finally:
        os.chdir(old)


def change_block(out: str, head: str) -> list[str]:
    """The attribute lines a plan prints under the change whose first line starts with ``head``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(head))
    block = []
    for line in lines[start + 1:]:
        if not line.startswith("      "):
            break
        block.append(line.strip())
    return block


def get_json(grid: Any, path: str, login: str = "alice") -> Any:
    """GET ``path`` on the sandbox as ``login``: the answer's JSON (asserting a 200)."""
    resp = grid.api(login, "GET", path)
    assert resp.status_code == 200, resp.text
    return resp.json()
