"""Helpers for tests that drive the sandbox over HTTP (ours, and users' own).

    from gridctl.sandbox.testing import strict_sandbox, pygithub

    with strict_sandbox() as sb:
        gh = pygithub(sb, sb.add_user("alice"))

``strict_sandbox`` validates every response against GitHub's OpenAPI description and raises
at exit if any response did not conform, so a test that passes has also checked the shapes.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import requests

from .config import SandboxConfig
from .server import Sandbox

#: every (operationId, status) validated by strict sandboxes in this process
VALIDATED: Counter[tuple[str, int]] = Counter()


class ConformanceError(AssertionError):
    pass


@contextlib.contextmanager
def strict_sandbox(**kwargs: Any) -> Iterator[Sandbox]:
    config = kwargs.pop("config", None) or SandboxConfig()
    config.strict = True
    sb = Sandbox(config=config, **kwargs).start()
    try:
        yield sb
    finally:
        sb.stop()
        assert sb.app is not None
        VALIDATED.update(sb.app.validated)
        if sb.app.violations:
            shown = "\n  ".join(sb.app.violations[:20])
            raise ConformanceError(f"{len(sb.app.violations)} response(s) broke GitHub's description:\n  {shown}")


def pygithub(sb: Sandbox, token: str, **kwargs: Any) -> Any:
    """A PyGithub client for ``token`` with its default throttles and retries off."""
    from github import Auth, Github

    kwargs.setdefault("seconds_between_requests", None)
    kwargs.setdefault("seconds_between_writes", None)
    kwargs.setdefault("retry", None)
    kwargs.setdefault("base_url", sb.url)
    return Github(auth=Auth.Token(token), **kwargs)


def session(sb: Sandbox, token: str | None) -> requests.Session:
    """A ``requests`` session that talks to the sandbox as ``token`` (None: anonymous)."""
    s = requests.Session()
    s.headers["Accept"] = "application/vnd.github+json"
    if token:
        s.headers["Authorization"] = f"token {token}"
    return s


def control(sb: Sandbox, method: str, path: str, body: Any = None) -> Any:
    resp = requests.request(method, f"{sb.config.public_url}/_sandbox{path}", json=body, timeout=30)
    resp.raise_for_status()
    return resp.json()
