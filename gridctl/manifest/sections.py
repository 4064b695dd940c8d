"""Manifest sections owned by resource kinds.

The manifest layer knows the frame of ``grid.yaml`` — accounts, keys, defaults, repositories
with their settings, state and settings. Everything a resource kind manages inside it is a
:class:`Section` the kind declares next to its code: where it sits (under ``repos.<owner/name>``
or at the top level), its JSON Schema fragment and the parser that turns the raw value into the
kind's spec. :func:`~gridctl.manifest.load.load_manifest` is handed the sections (the kind
registry collects them) and

* validates with the frame schema plus every fragment (:func:`merged_schema`), so a section is
  checked with ``file:line:col`` diagnostics like the rest of the file;
* calls each parser once per occurrence, after accounts, keys and repositories are known, and
  stores what it returns on ``RepoSpec.sections[key]`` / ``Manifest.sections[key]``.

``schemas/grid.schema.json`` — the file editors use — is the merged schema written out; a test
checks it is current (``nox -s schema`` rewrites it).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .yamlpos import PathT

if TYPE_CHECKING:
    from .model import Manifest, RepoSpec


class SectionContext:
    """What a section parser may use: the manifest built so far and the diagnostics sink."""

    def __init__(self, manifest: Manifest, error: Callable[..., None], warn: Callable[..., None]):
        self.manifest = manifest
        self._error = error
        self._warn = warn

    def error(self, path: PathT, summary: str, detail: str = "", *, key: bool = False) -> None:
        self._error(path, summary, detail, key=key)

    def warn(self, path: PathT, summary: str, detail: str = "", *, key: bool = False) -> None:
        self._warn(path, summary, detail, key=key)

    def unknown_account(self, acc: str) -> str:
        return unknown_account(self.manifest, acc)

    def need_org(self, acc_id: str, path: PathT) -> bool:
        """Whether ``acc_id`` (the key at ``path``) is an organization account of the manifest;
        an error at ``path`` when it is not."""
        m = self.manifest
        if acc_id not in m.accounts:
            self.error(path, self.unknown_account(acc_id), key=True)
            return False
        if not m.accounts[acc_id].is_org:
            self.error(path, f"{path[0]} needs an organization account, and {acc_id} is a user ({m.accounts[acc_id].login})", key=True)
            return False
        return True

    def per_org(self, raw: dict[str, Any], path: PathT) -> Iterator[tuple[str, str, Any, PathT]]:
        """The entries of a section keyed by organization account, then by name, as ``(account,
        name, value, path)``; an account that is not an organization is an error, its entries
        skipped."""
        for acc_id, entries in raw.items():
            if self.need_org(acc_id, path + (acc_id,)):
                for name, value in entries.items():
                    yield acc_id, name, value, path + (acc_id, name)

    def visibility(self, raw: dict[str, Any], path: PathT, acc_id: str) -> tuple[str, list[str]]:
        """``visibility`` and ``repos`` of an organization-wide entry (``all`` unless repositories
        are listed, then ``selected``); each repository must be the organization's."""
        repos = list(raw.get("repos") or [])
        vis = raw.get("visibility") or ("selected" if repos else "all")
        if repos and vis != "selected":
            self.error(path + ("repos",), f"repos can only be listed with visibility: selected (this is {vis})")
        org = self.manifest.accounts[acc_id].login
        for i, r in enumerate(repos):
            if r.count("/") != 1 or r.split("/")[0].lower() != org.lower():
                self.error(path + ("repos", i), f"{r!r} is not a repository of {org}")
        return vis, repos


def scalar(v: Any) -> str:
    """A YAML scalar as the text GitHub stores (a variable's value): ``true``/``false`` for
    booleans, numbers as written."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def unknown_account(m: Manifest, acc: str) -> str:
    """The message for an account id the manifest does not declare (with the nearest one)."""
    near = difflib.get_close_matches(acc, list(m.accounts), n=1)
    return f"unknown account {acc!r}" + (f" (did you mean {near[0]!r}?)" if near else "") + f"; accounts are: {', '.join(m.accounts)}"


#: parser of a section under ``repos.<owner/name>``: (ctx, repo, raw value, path) -> spec
RepoParser = Callable[[SectionContext, "RepoSpec", Any, PathT], Any]
#: parser of a top-level section: (ctx, raw value, path) -> spec
TopParser = Callable[[SectionContext, Any, PathT], Any]


@dataclass(frozen=True)
class Section:
    #: the key in the manifest (``labels``)
    key: str
    #: ``repo``: under ``repos.<owner/name>``; ``top``: a top-level section
    where: Literal["repo", "top"]
    #: JSON Schema of the section's value (may reference ``#/$defs/...``)
    schema: dict[str, Any]
    parse: Callable[..., Any]
    #: extra ``$defs`` the fragment references
    defs: dict[str, Any] = field(default_factory=dict)
    #: a repository section that ``prune: {<key>: true}`` makes exhaustive
    prunable: bool = False


def merged_schema(frame: dict[str, Any], sections: Iterable[Section]) -> dict[str, Any]:
    """The frame schema with every section's fragment in place (a copy; idempotent)."""
    out = copy.deepcopy(frame)
    defs = out.setdefault("$defs", {})
    for s in sections:
        for name, d in s.defs.items():
            defs[name] = copy.deepcopy(d)
        if s.where == "repo":
            props = defs["repo"]["properties"]
            props[s.key] = copy.deepcopy(s.schema)
            if s.prunable:
                props["prune"]["properties"][s.key] = {"type": "boolean"}
        else:
            out["properties"][s.key] = copy.deepcopy(s.schema)
    return out


def parse_sections(ctx: SectionContext, sections: Iterable[Section]) -> None:
    """Run every section parser over the manifest's raw data (repositories first, in file
    order; then top-level sections in registry order)."""
    m = ctx.manifest
    repo_sections = [s for s in sections if s.where == "repo"]
    top_sections = [s for s in sections if s.where == "top"]
    raw_repos = m.data.get("repos") or {}
    for full, spec in m.repos.items():
        raw = raw_repos.get(full) or {}
        for s in repo_sections:
            if s.key in raw:
                spec.sections[s.key] = s.parse(ctx, spec, raw[s.key], spec.path + (s.key,))
    for s in top_sections:
        if s.key in m.data and m.data[s.key] is not None:
            m.sections[s.key] = s.parse(ctx, m.data[s.key], (s.key,))
