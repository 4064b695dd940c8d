"""The resource-kind contract. One module per kind, registered in ``resources/__init__.py``.

A kind knows, for one *scope* (a repository, an environment, an organization, a user):

* ``desired(env, scope)`` — what the manifest declares, as :class:`Item` values (pure);
* ``live(reader, scope)`` — what GitHub has, as :class:`Item` values (reads only);
* ``compare(desired, live, state_entry)`` — the field differences (pure; default: the
  managed ``attrs``, compared with deepdiff);
* ``apply(ctx, change)`` — perform one change and return the state entry (the only writer);
* ``inverse(change, result)`` — the change that undoes it, or None when it cannot be undone.

Everything else — create/update/delete decisions, what is managed, pruning, adoption into state,
notes, ordering, safety, journaling, retries — is shared and lives outside kinds. Resource code
never checks a dry-run flag: planning never calls ``apply``.

Rules for implementers:

* ``Item.attrs`` hold only managed fields, normalized the same way on both sides, and never a
  secret value (use ``Item.secret`` / ``Item.fingerprint``).
* ``apply`` must work from ``change.after`` and ``change.meta`` alone (plus secret values looked
  up in the manifest for sensitive kinds), so saved plans and rollbacks apply the same way.
* An apply that returns normally has succeeded; failures raise (GitHubError from the client).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import Diagnostic
from ..github.scopes import APP_PERMISSIONS
from ..manifest.model import Manifest
from ..manifest.sections import Section
from ..plan import Action, Change, FieldDiff, Note, Plan, fingerprint

if TYPE_CHECKING:  # (the clients, deepdiff and the state load when a plan needs them, not with the kinds' sections)
    from ..github.client import AccountClient
    from ..github.reader import Reader
    from ..state.local import State

__all__ = ["ApplyContext", "ApplyResult", "Declaring", "Item", "Kind", "PlanEnv", "Reader", "Scope", "ScopePlan", "attr_diffs", "live_fp"]


@dataclass
class PlanEnv:
    manifest: Manifest
    state: State
    fp_key: bytes
    clients: dict[str, AccountClient]
    destroy: bool = False
    targets: list[str] = field(default_factory=list)
    parallelism: int = 4
    #: progress callback: (event, detail)
    progress: Callable[[str, str], None] | None = None

    def client(self, account: str) -> AccountClient:
        return self.clients[account]

    def say(self, event: str, detail: str) -> None:
        if self.progress:
            self.progress(event, detail)


@dataclass
class ApplyContext:
    env: PlanEnv
    #: addresses whose read-back may wait for a later change of the same batch
    #: (:meth:`Kind.batch`): the apply sets them; empty, every change reads back at once
    deferred: set[str] = field(default_factory=set)
    #: per batch, the changes written whose read-back is still to come
    batches: dict[str, list[Change]] = field(default_factory=dict)

    @property
    def manifest(self) -> Manifest:
        return self.env.manifest

    def client(self, account: str) -> AccountClient:
        return self.env.client(account)

    def reader(self, account: str) -> Reader:
        from ..github.reader import Reader

        return Reader(self.env.client(account))


def live_fp(attrs: dict[str, Any] | None, keys: Any = None, updated_at: Any = None) -> str:
    """Fingerprint of a live object as a change sees it: its attributes restricted to the
    fields the change is about (and, for secrets, GitHub's ``updated_at``)."""
    if attrs is None:
        return "absent"
    if keys is not None:
        attrs = {k: attrs.get(k) for k in keys if k != "fingerprint"}
    return fingerprint({"attrs": attrs, "updated_at": updated_at})



@dataclass
class Item:
    key: str
    attrs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    secret: Any = None  # Sensitive, desired side only
    fingerprint: str | None = None  # HMAC of the desired secret value
    source: str | None = None  # manifest "file:line", desired side only


@dataclass(frozen=True)
class Scope:
    kind: str
    account: str
    name: str  # display/grouping: "alice/demo", "alice/demo env prod", "org acme", "user bob"
    repo: str | None = None  # full name when repo-scoped
    extra: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.extra).get(key, default)

    def to_meta(self) -> dict[str, Any]:
        return {"kind": self.kind, "account": self.account, "name": self.name, "repo": self.repo, "extra": [list(x) for x in self.extra]}


@dataclass
class Declaring:
    """What :meth:`Kind.declare` may use besides the live items (``gridctl import``)."""

    #: what is declared, for notes: ``alice/demo`` or ``organization acme``
    what: str
    #: where to say what could not be imported as it is on GitHub
    notes: list[str]
    #: ``(what the secret is, a file name) -> a source`` reading a new placeholder file (GitHub
    #: never returns secret values)
    secret: Callable[[str, str], dict[str, Any]]


@dataclass
class ScopePlan:
    #: GitHub limits the plan would break (an error before anything is written)
    problems: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    adopt: dict[str, dict[str, Any]] = field(default_factory=dict)
    forget: list[str] = field(default_factory=list)
    live_count: int = 0


@dataclass
class ApplyResult:
    #: the address's new state entry (None forgets it)
    state: dict[str, Any] | None
    #: extra state updates ({address: entry | None}), e.g. children forgotten with a repository
    more_state: dict[str, Any] = field(default_factory=dict)
    #: facts for the journal (ids, updated_at), never secret
    result: dict[str, Any] = field(default_factory=dict)


class Kind:
    #: registry key, also the first part of every address of this kind
    name: ClassVar[str] = ""
    #: dependency order: parents lower; creates run ascending, deletes descending
    order: ClassVar[int] = 0
    #: the manifest collection that ``prune: {...: true}`` makes exhaustive (repo kinds)
    prune_key: ClassVar[str | None] = None
    #: values are secrets: updates cannot be undone and show as "(sensitive value changed)"
    sensitive: ClassVar[bool] = False
    #: a deleted object of this kind can be recreated from ``before`` by a rollback
    restorable: ClassVar[bool] = True
    #: GitHub cannot edit objects of this kind (deploy keys): a difference is a REPLACE
    replace_on_change: ClassVar[bool] = False
    #: objects of this kind contain the scopes of others (a repository): a targeted change
    #: inside a scope that this plan creates pulls that creation in, and plan-time checks
    #: know the scope will exist
    container: ClassVar[bool] = False
    #: the manifest sections this kind owns (schema fragment + parser), see manifest.sections
    sections: ClassVar[tuple[Section, ...]] = ()
    #: GitHub's cap on objects of this kind in one scope (per :meth:`limit_group`), checked on
    #: the plan — live objects plus creates minus deletes — so an apply never stops half-way
    max_per_scope: ClassVar[int | None] = None

    def reversible(self, action: Action) -> bool:
        """Whether a change with ``action`` can be rolled back (shown in the plan)."""
        if action == Action.CREATE:
            return True
        if action in (Action.UPDATE, Action.REPLACE):
            return not self.sensitive
        return self.restorable and not self.sensitive

    def reversible_change(self, action: Action, diffs: tuple[FieldDiff, ...]) -> bool:
        """Whether an update with these field differences can be rolled back (default: as
        :meth:`reversible`); a kind with one write-only field (a webhook's secret) says no
        only when that field changes."""
        return self.reversible(action)

    # -- to implement --------------------------------------------------------------------------
    def scopes(self, env: PlanEnv) -> list[Scope]:
        raise NotImplementedError

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        raise NotImplementedError

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        raise NotImplementedError

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        raise NotImplementedError

    # -- gridctl import ------------------------------------------------------------------------
    #: ``gridctl import`` writes this kind's section (its first) from :meth:`live` via :meth:`declare`
    importable: ClassVar[bool] = False

    def import_scope(self, account: str, owner: str, repo: str | None) -> Scope:
        """The scope ``gridctl import`` reads: a repository's (``repo`` given), else organization
        ``owner``'s (the ``("org", login)`` scope the organization kinds plan with)."""
        if repo is not None:
            return Scope(self.name, account, repo, repo)
        return Scope(self.name, account, f"org {owner}", None, (("org", owner),))

    def declare(self, items: dict[str, Item], d: Declaring) -> Any:
        """The manifest declaration (the section's value for one repository or organization)
        that plans as no change against ``items`` (what :meth:`live` read); None or empty: nothing
        to write (e.g. everything is at GitHub's default)."""
        raise NotImplementedError

    # -- overridable defaults -----------------------------------------------------------------
    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.name}:{key}"

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list[FieldDiff], str]:
        return attr_diffs(desired.attrs, live.attrs), ""

    def change_order(self, item: Item) -> int:
        """The order of a change of ``item``: :attr:`order`, unless objects of this kind nest
        (teams): then parents are created before, and deleted after, their children."""
        return self.order

    def prune(self, env: PlanEnv, scope: Scope) -> bool:
        if self.prune_key is None or scope.repo is None:
            return False
        spec = env.manifest.repo(scope.repo)
        return bool(spec and spec.prune.get(self.prune_key))

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        """(account id, classic token scope, the manifest entry that needs it) for what this
        kind will read and write; checked against each token before a plan reads anything."""
        return []

    #: the GitHub App permissions (name, level) standing for a classic scope of
    #: :meth:`token_scopes` in this kind, where they differ from ``scopes.APP_PERMISSIONS``
    app_scope_permissions: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {}

    def app_permissions(self, m: Manifest) -> list[tuple[str, str, str, str]]:
        """(account id, GitHub App permission, level, the manifest entry that needs it), checked
        against an app installation's permissions before a plan reads anything. By default the
        classic scopes of :meth:`token_scopes`, translated; a kind whose objects need a permission
        no scope names (secrets, variables, labels) adds it here."""
        return [
            (account, permission, level, why)
            for account, scope, why in self.token_scopes(m)
            for permission, level in self.app_scope_permissions.get(scope, APP_PERMISSIONS.get(scope, ()))
        ]

    def safety(self, change: Change, own_logins: dict[str, str]) -> list[str]:
        """Why ``change`` needs ``--force`` (a dangerous change of this kind); ``own_logins``
        maps each declared repository to the login gridctl manages it with."""
        return []

    def plan_checks(self, env: PlanEnv, plan: Plan) -> list[Diagnostic]:
        """Warnings (or errors, which stop the plan) about this kind's planned changes that are
        not changes themselves, each at its manifest line; run by ``gridctl.core.checks``."""
        return []

    def delete_reason(self, live: Item, state: dict[str, Any] | None) -> str | None:
        """Why a planned delete needs attention (e.g. "online and busy: apply waits..."),
        shown as the change's reason; None keeps the default."""
        return None

    def limit_group(self, key: str) -> str:
        """Which cap an object counts against, when one scope holds several (secret types)."""
        return ""

    def contains(self, change: Change, address: str, entry: dict[str, Any]) -> bool:
        """Whether the planned delete ``change`` of a container takes the managed object at
        ``address`` along (a repository's secrets, files, runners...)."""
        return False

    def delete_meta(self, env: PlanEnv, scope: Scope, state: dict[str, Any] | None) -> dict[str, Any]:
        """Extra ``meta`` for a planned delete (e.g. a repository's lifecycle)."""
        return {}

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        entry = {"kind": self.name, "scope": scope.name, "account": scope.account}
        for k in ("id", "updated_at"):
            if k in live.meta:
                entry[k] = live.meta[k]
        return entry

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        """Default: create <-> delete, update -> update back; secrets cannot be restored."""
        meta = {**change.meta, **{k: v for k, v in result.result.items() if k in ("id",)}}
        if change.action == Action.CREATE:
            return _flip(change, Action.DELETE, before=change.after, after=None, meta=meta)
        if change.action == Action.UPDATE and not self.sensitive:
            return _flip(change, Action.UPDATE, before=change.after, after=change.before, meta=meta)
        if change.action == Action.DELETE and self.restorable and not self.sensitive:
            return _flip(change, Action.CREATE, before=None, after=change.before, meta=meta)
        return None

    def batch(self, change: Change) -> str | None:
        """Changes of one batch (a secret collection) read back once, after the last of them
        in the plan (see :attr:`ApplyContext.deferred`); None: not batched."""
        return None

    def writer(self, change: Change) -> str:
        """The account whose token makes the change's writes (its apply lane)."""
        return change.account

    def scope_for_change(self, change: Change) -> Scope:
        """The scope a planned change belongs to (recorded in ``meta["_scope"]`` by the planner)."""
        s = change.meta["_scope"]
        return Scope(s["kind"], s["account"], s["name"], s.get("repo"), tuple(tuple(x) for x in s.get("extra", [])))

    def refresh(self, reader: Reader, scope: Scope, key: str) -> Item | None:
        """The live object now (for stale checks); default re-reads the whole scope."""
        return self.live(reader, scope).get(key)



def org_scopes(env: PlanEnv, kind: Kind, declared: set[str]) -> list[Scope]:
    """One scope per organization account that declares something for ``kind`` (``declared``,
    account ids) or holds objects ``kind`` manages, in account order."""
    accounts = set(declared)
    for entry in env.state.of_kind(kind.name).values():
        acc = env.manifest.accounts.get(str(entry.get("account", "")))
        if acc is not None and acc.is_org and acc.id in env.clients:
            accounts.add(acc.id)
    out = []
    for acc_id in sorted(accounts):
        login = env.manifest.accounts[acc_id].login
        out.append(Scope(kind.name, acc_id, f"org {login}", None, (("org", login),)))
    return out

def _flip(change: Change, action: Action, *, before: Any, after: Any, meta: dict[str, Any]) -> Change:
    return Change(
        address=change.address,
        kind=change.kind,
        action=action,
        account=change.account,
        scope=change.scope,
        order=change.order,
        before=before,
        after=after,
        diffs=tuple(FieldDiff(d.field, d.after, d.before) for d in change.diffs),
        reason=f"rollback of {change.action.value}",
        reversible=True,
        sensitive=change.sensitive,
        live_fp=None if change.sensitive else live_fp(before),
        meta=meta,
        source=change.source,
    )


def attr_diffs(desired: dict[str, Any], live: dict[str, Any]) -> list[FieldDiff]:
    """Field differences on the desired (managed) fields, via deepdiff (imported only when two
    structured values are not identical: a plan with nothing to change never loads it)."""
    out: list[FieldDiff] = []
    for key in sorted(desired):
        want = desired[key]
        have = live.get(key)
        if _identical(want, have):
            continue  # what DeepDiff would find no difference in, found without it (most fields)
        if isinstance(want, (dict, list)) or isinstance(have, (dict, list)):
            from deepdiff import DeepDiff
        if isinstance(want, list) and isinstance(have, list):
            if DeepDiff(have, want, ignore_order=True):
                out.append(FieldDiff(key, have, want))
        elif isinstance(want, (dict, list)) or isinstance(have, (dict, list)):
            if DeepDiff(have, want, ignore_order=False):
                out.append(FieldDiff(key, have, want))
        elif want != have:
            out.append(FieldDiff(key, have, want))
    return out


def _identical(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (so ``1`` and ``True`` are not): where
    this holds, DeepDiff reports nothing, in order or not."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_identical(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def __getattr__(name: str) -> Any:
    if name == "Reader":  # re-exported (``__all__``), imported on first use
        from ..github.reader import Reader

        return Reader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
