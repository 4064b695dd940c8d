"""Fixtures for end-to-end tests of gridctl against a strict in-process sandbox.

    def test_x(grid):
        grid.user("alice"); grid.user("bob")
        grid.write("grid.yaml", MANIFEST)
        r = grid.run("plan", "--detailed-exitcode")
        assert r.code == 2

``grid.run`` invokes the real CLI in-process (typer's runner) with ``GRIDCTL_API_URL`` pointing at
the sandbox and each account's token in ``GRID_TOKEN_<LOGIN>``; every response the sandbox sends
is validated against GitHub's OpenAPI description (a violation fails the test).
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from gridctl.cli import app
from gridctl.sandbox.server import Sandbox
from gridctl.sandbox.testing import pygithub, strict_sandbox


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def all(self) -> str:
        return self.out + self.err


@dataclass
class Grid:
    sb: Sandbox
    dir: Path
    tokens: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def user(self, login: str, scopes: tuple[str, ...] | None = None) -> str:
        kwargs = {"scopes": scopes} if scopes else {}
        tok = self.sb.add_user(login, **kwargs)
        self.tokens[login] = tok
        self.env[f"GRID_TOKEN_{login.upper().replace('-', '_')}"] = tok
        return tok

    def org(self, login: str, admins: tuple[str, ...] = (), members: tuple[str, ...] = ()) -> None:
        self.sb.add_org(login, admins=admins, members=members)

    def write(self, rel: str, text: str | bytes) -> Path:
        p = self.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(textwrap.dedent(text).lstrip("\n"))
        return p

    def run(self, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        full_env = {
            "GRIDCTL_API_URL": self.sb.url,
            "NO_COLOR": "1",
            "GRIDCTL_SECONDARY_FLOOR": "0.01",
            "GRIDCTL_BACKOFF_BASE": "0.01",
            "GRIDCTL_WRITE_INTERVAL": "0",
            **self.env,
            **(env or {}),
        }
        runner = CliRunner()
        old = os.getcwd()
        os.chdir(self.dir)
        try:
            res = runner.invoke(app, list(args), env=full_env, input=input, catch_exceptions=False)
        finally:
            os.chdir(old)
        return Result(res.exit_code, res.stdout, res.stderr)

    def check(self, code: int, *args: str, **kwargs: Any) -> Result:
        """:meth:`run`, asserting the exit code (the whole output is the assertion's message)."""
        r = self.run(*args, **kwargs)
        assert r.code == code, r.all
        return r

    def gh(self, login: str) -> Any:
        return pygithub(self.sb, self.tokens[login])

    def api(self, login: str, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(method, self.sb.url + path, json=body, headers={"Authorization": f"token {self.tokens[login]}"}, timeout=30)

    def ctl(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(method, f"{self.sb.config.public_url}/_sandbox{path}", json=body, timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def files_written(self) -> dict[str, bytes]:
        """Every file gridctl wrote under .gridctl/ (for canary checks)."""
        out = {}
        for p in (self.dir / ".gridctl").rglob("*"):
            if p.is_file() and "sandbox" not in p.parts:
                out[str(p.relative_to(self.dir))] = p.read_bytes()
        return out


@pytest.fixture
def grid(tmp_path):
    with strict_sandbox() as sb:
        yield Grid(sb, tmp_path)


@pytest.fixture
def fleets(grid):
    """Controllers (``gridctl serve`` as real processes) on ``grid``'s sandbox: ``fleets(pool=...,
    group=...)`` makes one (tests/core/serve_harness.py); every process is stopped at the end."""
    from tests.core.serve_harness import Fleet

    made: list[Fleet] = []

    def make(**kwargs: Any) -> Fleet:
        f = Fleet(grid, **kwargs)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()
