"""The registry of resource kinds. Each module in ``MODULES`` exports ``KINDS``, a list of
:class:`~gridctl.resources.base.Kind` instances; adding a kind is its module and one line here.

``Kind.order`` decides dependency order; the order here is the order kinds are asked for token
scopes and manifest sections. Names must be unique — :func:`register` refuses a duplicate.
:func:`load_manifest` loads a manifest with every kind's sections plugged in, and the
controller's (``pools``, ``groups``, ``serve``: :mod:`gridctl.serve.declare`), which are
checked like the rest of the manifest but are not GitHub objects.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..manifest import load as _load
from ..manifest.model import Manifest
from ..manifest.schema import load_schema
from ..manifest.sections import Section, merged_schema
from ..serve.declare import SECTIONS as CONTROLLER_SECTIONS
from .base import Kind

MODULES = (
    "repository",  # repo, topics
    "variable",  # variable (repository), env-variable, org-variable
    "collaborator",  # collaborator, invitation (acceptance by the invitee)
    "secret",  # secret (repo actions/dependabot), env-secret, org-secret, codespaces-secret
    "environment",  # environment
    "deploy_key",  # deploy-key
    "file",  # file
    "runner",  # runner-group, runner
    "queue",  # queue layout
    "label",  # label
    "actions_permissions",  # actions-permissions (repository), org-actions-permissions
    "webhook",  # hook (repository), org-hook
    "autolink",  # autolink
    "security",  # security (vulnerability alerts, automated security fixes)
    "branch_protection",  # branch-protection
    "rulesets",  # ruleset (repository), org-ruleset
    "team",  # team, team-member, team-repo
    "org_member",  # org-member, org-invitation
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


#: every kind's manifest sections, in registry order, then the controller's
SECTIONS: tuple[Section, ...] = tuple(s for k in KINDS.values() for s in k.sections) + CONTROLLER_SECTIONS


def manifest_schema() -> dict[str, Any]:
    """The manifest's JSON Schema with every kind's section in place: what
    ``schemas/grid.schema.json`` must hold (``nox -s schema`` writes it)."""
    return merged_schema(load_schema(), SECTIONS)


def load_manifest(file: str | Path, **options: Any) -> Manifest:
    """:func:`gridctl.manifest.load.load_manifest` with every kind's sections."""
    return _load.load_manifest(file, sections=SECTIONS, **options)
