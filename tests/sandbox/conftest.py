"""Fixtures for sandbox tests: a strict sandbox seeded with a small world.

Seed world (every test starts from it):
  users  alice (admin of org acme), bob (member of acme), carol (no org)
  org    acme
  repos  alice/pub (public, auto_init), alice/priv (private, auto_init), acme/svc (private, auto_init)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from gridctl.sandbox.server import Sandbox
from gridctl.sandbox.testing import pygithub, session, strict_sandbox


@dataclass
class Seed:
    sb: Sandbox
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.sb.url

    def api(self, login: str | None = "alice") -> requests.Session:
        """A raw HTTP session as ``login`` (None: anonymous)."""
        return session(self.sb, self.tokens[login] if login else None)

    def gh(self, login: str = "alice", **kwargs: Any) -> Any:
        """A PyGithub client as ``login`` (throttles and retries off)."""
        return pygithub(self.sb, self.tokens[login], **kwargs)

    def call(self, login: str | None, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.api(login).request(method, self.url + path, json=body, **kw)

    def ctl(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(method, f"{self.sb.config.public_url}/_sandbox{path}", json=body, timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json()


def make_seed(sb: Sandbox) -> Seed:
    seed = Seed(sb)
    for login in ("alice", "bob", "carol"):
        seed.tokens[login] = sb.add_user(login)
    seed.tokens["bogus"] = "gridsbx_" + "0" * 40  # never issued: a 401
    sb.add_org("acme", admins=("alice",), members=("bob",))
    for path, body in (
        ("/user/repos", {"name": "pub", "auto_init": True}),
        ("/user/repos", {"name": "priv", "private": True, "auto_init": True}),
        ("/orgs/acme/repos", {"name": "svc", "private": True, "auto_init": True}),
    ):
        resp = seed.call("alice", "POST", path, body)
        assert resp.status_code == 201, resp.text
    return seed


@pytest.fixture
def sb():
    with strict_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def seed(sb) -> Seed:
    return make_seed(sb)
