"""``gridctl plan --explain ADDRESS``: where each declared value of one resource comes from.

A repository's values are inherited (``defaults.repo``, then its repository groups, then its own
entry: :mod:`gridctl.manifest.inherit`), and the loaded model keeps each inherited value's origin
(``RepoSpec.origins``) and its position (where it is written, not the repository's line). The
resource at ADDRESS is found among the desired items (the manifest alone: no GitHub read), and
each field of it is traced to its origin: through its own path when the field is a manifest key
(a repository's settings, ``actions`` fields), else through the entry the item is declared by.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import GridctlError
from ..manifest.model import Manifest, Origin, RepoSpec
from ..manifest.yamlpos import PathT
from ..resources import KINDS
from ..resources.base import Item, PlanEnv, Scope
from ..util.text import printable


@dataclass
class FieldOrigin:
    name: str
    value: Any
    #: "defaults.repo", "group <name>", "the repository entry", or "not declared"
    origin: str
    at: str | None  # "file:line"


@dataclass
class Explained:
    address: str
    kind: str
    scope: str
    source: str | None
    repo: str | None = None
    groups: list[str] = field(default_factory=list)
    fields: list[FieldOrigin] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address, "kind": self.kind, "scope": self.scope, "source": self.source,
            "repository": self.repo, "groups": list(self.groups),
            "fields": [{"field": f.name, "value": f.value, "from": f.origin, "at": f.at} for f in self.fields],
        }


def find(env: PlanEnv, address: str) -> tuple[str, str, Scope, Item]:
    """The desired item at ``address``: (its address as declared, kind name, scope, item). Raises GridctlError naming the
    nearest declared address when there is none."""
    kinds = [k for k in KINDS.values() if address.lower().startswith(k.name + ":")]
    for kind in kinds:
        for scope in kind.scopes(env):
            if scope.name.lower() not in address.lower():
                continue
            for key, item in kind.desired(env, scope).items():
                found = kind.address(scope, key)
                if found.lower() == address.lower():
                    return found, kind.name, scope, item
    # not found: the nearest address of the same kind (every scope's items, only now)
    seen = [kind.address(scope, key) for kind in kinds for scope in kind.scopes(env) for key in kind.desired(env, scope)]
    near = difflib.get_close_matches(address, seen, n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]}?)" if near else ""
    if not kinds:
        hint = f" (an address starts with a kind: {', '.join(sorted(KINDS))})"
    raise GridctlError(f"the manifest declares no resource at {printable(address)}{hint}; "
                       "give an address as the plan prints it (repo:OWNER/NAME, collaborator:OWNER/NAME:LOGIN...)")


def _origin_of(spec: RepoSpec, rel: PathT) -> Origin:
    """The origin of the value at ``rel`` (the closest inherited path above it, else its own)."""
    for n in range(len(rel), 0, -1):
        o = spec.origins.get(rel[:n])
        if o is not None:
            return o
    return Origin("entry", spec.path)


def _declared_at(m: Manifest, spec: RepoSpec, kind: str, item: Item) -> PathT:
    """The path inside the repository's entry that the item is declared by (``()``: the entry
    itself): the entry at the item's source line, else (an item without a source) the entry
    named like the item's key, in the section named like its kind."""
    if item.source == m.positions.source(spec.path):
        return ()
    base = tuple(spec.path)
    section = kind.split("-")[-1].replace("-", "_")  # env-variable -> variable(s), deploy-key -> key(s)
    best: tuple[tuple[bool, bool, int], PathT] | None = None
    for path, p in m.positions.keys.items():
        if path[: len(base)] != base or len(path) == len(base):
            continue
        rel = path[len(base):]
        named = str(rel[-1]).lower() == item.key.lower()
        if item.source is not None:
            if f"{p.file}:{p.line}" != item.source:
                continue
        elif not named:
            continue
        score = (named, any(str(step).startswith(section) or str(step).endswith(section + "s") for step in rel[:-1]), -len(rel))
        if best is None or score > best[0]:
            best = (score, rel)
    return best[1] if best else ()


def explain(env: PlanEnv, address: str) -> Explained:
    m = env.manifest
    found, kind, scope, item = find(env, address)
    out = Explained(found, kind, scope.name, item.source, scope.repo)
    spec = m.repo(scope.repo) if scope.repo else None
    if spec is None:
        out.fields = [FieldOrigin(k, v, "declared", item.source) for k, v in item.attrs.items()]
        return out
    out.repo, out.groups = spec.full_name, list(spec.groups)
    base = tuple(spec.path)
    at = _declared_at(m, spec, kind, item)
    attrs = dict(item.attrs)
    if item.fingerprint is not None:  # a secret: where its value comes from, never the value
        attrs["value"] = "(sensitive)"
    for name, value in attrs.items():
        rel = at + (name,)
        if rel in spec.origins or base + rel in m.positions.keys:
            o = _origin_of(spec, rel)
            out.fields.append(FieldOrigin(name, value, o.label, m.positions.source(base + rel)))
        elif at:
            out.fields.append(FieldOrigin(name, value, _origin_of(spec, at).label, m.positions.source(base + at)))
        else:
            out.fields.append(FieldOrigin(name, value, "not declared (gridctl's default)", None))
    return out


def render_explained(e: Explained, fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(e.to_json(), indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    head = printable(e.address) + (f"  (declared at {e.source})" if e.source else "")
    lines = [head]
    if e.repo is not None:
        lines.append(f"  {e.repo}: " + (f"in group(s) {', '.join(e.groups)} (applied in this order)" if e.groups else "in no repository group"))
        lines.append("  precedence: defaults.repo, then the groups, then the repository entry (the last one wins)")
    width = max((len(f.name) for f in e.fields), default=0)
    vwidth = min(max((len(json.dumps(f.value, default=str)) for f in e.fields), default=0), 40)
    for f in e.fields:
        shown = printable(json.dumps(f.value, ensure_ascii=False, default=str))
        said = f.origin if f.origin.startswith("not declared") else f"from {f.origin}" + (f" at {f.at}" if f.at else "")
        lines.append(f"  {printable(f.name):<{width}}  {shown:<{vwidth}}  {said}")
    if not e.fields:
        lines.append("  (no managed fields)")
    return "\n".join(lines) + "\n"
