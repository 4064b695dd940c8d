"""The plan: an ordered list of frozen :class:`Change` values, and its canonical JSON.

``plan_id`` is the SHA-256 of the canonical JSON of what the plan will do (the changes, the
manifest digest and whether it destroys) — not of when it was made — so the same review yields
the same id in CI. A Change never holds a secret value or a token: a secret is represented by
a keyed fingerprint (HMAC) and displayed as "(sensitive value changed)".

Field notes (what each is for, and what it must not be used for):

* ``reason`` — for people reading the plan; apply never reads it.
* ``before``/``after`` — the managed fields as seen live / as declared, redacted; shown in
  plans and kept in the journal so a rollback can restore ``before``.
* ``live_fp`` — fingerprint of the live target the plan was computed from; a saved plan's
  apply re-reads the target and refuses when it no longer matches (stale plan).
* ``meta`` — what apply needs and the display does not (ids, the invitee account...).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from . import __version__
from .errors import Diagnostic

FORMAT_VERSION = "1"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}[self.value]


@dataclass(frozen=True)
class FieldDiff:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Change:
    address: str
    kind: str
    action: Action
    account: str
    scope: str
    order: int = 0
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    diffs: tuple[FieldDiff, ...] = ()
    reason: str = ""
    reversible: bool = True
    sensitive: bool = False
    live_fp: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: manifest location "file:line" of the declaration, for display
    source: str | None = None

    @property
    def sort_key(self) -> tuple:
        # deletes first, children before parents; then creates/updates, parents first
        if self.action == Action.DELETE:
            return (0, -self.order, self.address)
        return (1, self.order, self.address)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["action"] = self.action.value
        d["diffs"] = [asdict(x) for x in self.diffs]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Change:
        d = dict(d)
        d["action"] = Action(d["action"])
        d["diffs"] = tuple(FieldDiff(**x) for x in d.get("diffs", []))
        return cls(**d)


@dataclass(frozen=True)
class Note:
    """Something a reviewer should know that is not a change (a pending invitation, drift
    that is left alone...)."""

    address: str
    message: str


@dataclass
class Plan:
    changes: list[Change]
    notes: list[Note] = field(default_factory=list)
    manifest_file: str = ""
    manifest_sha256: str = ""
    destroy: bool = False
    targets: list[str] = field(default_factory=list)
    accounts: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    #: safety problems found by :func:`check_safety` (apply refuses them without --force)
    unsafe: list[str] = field(default_factory=list)
    #: state entries to record without a write (objects found matching the manifest); not saved
    adopt: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: managed addresses gone from GitHub and the manifest, to drop from state; not saved
    forget: list[str] = field(default_factory=list)
    #: plan-time check findings (warnings; errors stop the plan); not part of the plan's id
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.changes = sorted(self.changes, key=lambda c: c.sort_key)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for c in self.changes:
            out[c.action.value] += 1
        return out

    def body(self) -> dict[str, Any]:
        """The canonical content ``plan_id`` is computed from."""
        return {
            "format_version": FORMAT_VERSION,
            "manifest_sha256": self.manifest_sha256,
            "destroy": self.destroy,
            "targets": sorted(self.targets),
            "changes": [c.to_dict() for c in self.changes],
        }

    @property
    def plan_id(self) -> str:
        return hashlib.sha256(canonical(self.body()).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        out = self.body()
        out.update(
            {
                "plan_id": self.plan_id,
                "gridctl_version": __version__,
                "manifest_file": self.manifest_file,
                "created_at": self.created_at,
                "accounts": dict(sorted(self.accounts.items())),
                "notes": [asdict(n) for n in self.notes],
                "unsafe": list(self.unsafe),
                "summary": self.counts(),
            }
        )
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Plan:
        """A saved plan. Raises ValueError naming the first field that is not what
        :meth:`to_json` writes (the file was damaged or edited), or when ``plan_id`` no longer
        matches the content."""
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
        if str(d.get("format_version")) != FORMAT_VERSION:
            raise ValueError(f"plan format {d.get('format_version')!r} is not {FORMAT_VERSION}")
        check_plan_shape(d)
        plan = cls(
            changes=[Change.from_dict(c) for c in d["changes"]],
            notes=[Note(**n) for n in d.get("notes", [])],
            manifest_file=d.get("manifest_file", ""),
            manifest_sha256=d.get("manifest_sha256", ""),
            destroy=bool(d.get("destroy", False)),
            targets=list(d.get("targets", [])),
            accounts=dict(d.get("accounts", {})),
            created_at=d.get("created_at", ""),
            unsafe=list(d.get("unsafe", [])),
        )
        if d.get("plan_id") and d["plan_id"] != plan.plan_id:
            raise ValueError("the plan file was modified: its plan_id does not match its content")
        return plan


#: what each field of a saved change holds (types JSON gives back)
_CHANGE_FIELDS: dict[str, tuple[type, ...]] = {
    "address": (str,), "kind": (str,), "action": (str,), "account": (str,), "scope": (str,), "order": (int,),
    "before": (dict, type(None)), "after": (dict, type(None)), "diffs": (list,), "reason": (str,),
    "reversible": (bool,), "sensitive": (bool,), "live_fp": (str, type(None)), "meta": (dict,), "source": (str, type(None)),
}
_JSON_NAMES: dict[type, str] = {
    str: "a string", int: "an integer", bool: "true/false", dict: "an object", list: "a list", type(None): "null",
}
_REQUIRED_CHANGE_FIELDS = ("address", "kind", "action", "account", "scope")
#: top-level fields Plan.from_json reads, and their types
_PLAN_FIELDS: dict[str, tuple[type, ...]] = {
    "changes": (list,), "notes": (list,), "manifest_file": (str,), "manifest_sha256": (str,), "destroy": (bool,),
    "targets": (list,), "accounts": (dict,), "created_at": (str,), "unsafe": (list,), "plan_id": (str,),
}


def check_plan_shape(d: dict[str, Any]) -> None:
    """Raise ValueError at the first field of a saved plan that does not have the type
    :meth:`Plan.to_json` writes."""

    def typed(value: Any, types: tuple[type, ...], where: str) -> None:
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            raise ValueError(f"{where} is {_JSON_NAMES.get(type(value), 'a number')}, not {' or '.join(_JSON_NAMES[t] for t in types)}")

    if "changes" not in d:
        raise ValueError("no changes field")
    for name, types in _PLAN_FIELDS.items():
        if name in d:
            typed(d[name], types, name)
    for name in ("targets", "unsafe"):
        for i, item in enumerate(d.get(name, [])):
            typed(item, (str,), f"{name}[{i}]")
    for k, v in d.get("accounts", {}).items():
        typed(v, (str,), f"accounts.{k}")
    for i, n in enumerate(d.get("notes", [])):
        typed(n, (dict,), f"notes[{i}]")
        for name in ("address", "message"):
            typed(n.get(name), (str,), f"notes[{i}].{name}")
    for i, c in enumerate(d["changes"]):
        typed(c, (dict,), f"changes[{i}]")
        unknown = sorted(set(c) - set(_CHANGE_FIELDS))
        if unknown:
            raise ValueError(f"changes[{i}] has unknown field(s) {', '.join(map(repr, unknown))}")
        for name in _REQUIRED_CHANGE_FIELDS:
            if name not in c:
                raise ValueError(f"changes[{i}] lacks {name!r}")
        for name, value in c.items():
            typed(value, _CHANGE_FIELDS[name], f"changes[{i}].{name}")
        if c["action"] not in {a.value for a in Action}:
            raise ValueError(f"changes[{i}].action {c['action'][:20]!r} is not one of {', '.join(a.value for a in Action)}")
        for j, x in enumerate(c.get("diffs", [])):
            typed(x, (dict,), f"changes[{i}].diffs[{j}]")
            if set(x) != {"field", "before", "after"} or not isinstance(x["field"], str):
                raise ValueError(f"changes[{i}].diffs[{j}] is not {{field, before, after}}")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(value: Any) -> str:
    """A short digest of a (redacted) live object, for stale checks."""
    return "sha256:" + hashlib.sha256(canonical(value).encode()).hexdigest()[:32]


# -- safety -------------------------------------------------------------------------------------

MAX_SAFE_DELETE_FRACTION = 0.30
MIN_EXISTING_FOR_THRESHOLD = 10


def check_safety(
    plan: Plan,
    existing: dict[tuple[str, str], int],
    change_rules: Callable[[Change], list[str]] | None = None,
) -> list[str]:
    """Reasons this plan needs ``--force``: octoDNS-style delete thresholds per collection, then
    what ``change_rules`` (each kind's own dangerous changes) says of every change.

    ``existing`` counts live items per (kind, scope) collection.
    """
    reasons: list[str] = []
    deletes: dict[tuple[str, str], int] = {}
    for c in plan.changes:
        if c.action == Action.DELETE:
            deletes[(c.kind, c.scope)] = deletes.get((c.kind, c.scope), 0) + 1
    for (kind, scope), n in sorted(deletes.items()):
        total = existing.get((kind, scope), 0)
        if total >= MIN_EXISTING_FOR_THRESHOLD and n / total > MAX_SAFE_DELETE_FRACTION:
            reasons.append(f"deletes {n} of {total} {kind} items in {scope} (more than {int(MAX_SAFE_DELETE_FRACTION * 100)}%)")
    if change_rules is not None:
        for c in plan.changes:
            reasons.extend(change_rules(c))
    return reasons
