"""The registry of resource kinds. Each module in ``MODULES`` exports ``KINDS``, a list of
:class:`~gridctl.resources.base.Kind` instances; adding a kind touches its module and, for a
new module, one line here.

Order here does not matter (``Kind.order`` decides dependency order); names must be unique —
:func:`register` refuses a duplicate.
"""

from __future__ import annotations

import importlib

from .base import Kind

MODULES = (
    "repository",  # repo, topics
    "variable",  # variable (repository)
    "collaborator",  # collaborator, invitation (acceptance by the invitee)
    "secret",  # secret (repo actions/dependabot), env-secret, org-secret, codespaces-secret
    "environment",  # environment, env-variable
    "deploy_key",  # deploy-key
    "file",  # file
    "org_variable",  # org-variable
    "runner",  # runner-group, runner
    "queue",  # queue layout
)

KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    if kind.name in KINDS:
        raise ValueError(f"resource kind {kind.name!r} registered twice")
    KINDS[kind.name] = kind


for _name in MODULES:
    _module = importlib.import_module(f"{__name__}.{_name}")
    for _kind in getattr(_module, "KINDS", []):
        register(_kind)
