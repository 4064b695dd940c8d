"""Kinds ``collaborator`` (direct collaborators and pending invitations of a repository) and
``invitation`` (acceptance of an invitation by an invitee that is an account of the manifest).

``collaborator`` (order 40), read with the repository's managing account:

* live = ``GET /repos/{r}/collaborators?affiliation=direct`` (role from ``role_name``; the
  owner of a user repository is never managed) plus, only when needed, the pending
  invitations ``GET /repos/{r}/invitations``. "Needed" means a declared collaborator is not in
  the list, ``prune: {collaborators: true}``, or a collaborator gridctl manages (state) is not
  in the list. What ``live`` needs to know for that rides in the scope (``Scope.extra``), so
  planning stays pure per scope and a no-change plan costs one list call.
* a pending invitation with the declared role is "in progress": no change, a note for an
  outside invitee (an account of the manifest gets an ``invitation`` accept instead);
  with another role it is an UPDATE (``PATCH /repos/{r}/invitations/{id}``, role vocabulary);
  an accepted collaborator with another role is an UPDATE through
  ``PUT /repos/{r}/collaborators/{login}`` (PUT vocabulary pull|triage|push|maintain|admin).
* an expired invitation of a declared collaborator is ignored, so the plan invites again.
* ``role`` is GitHub's role name on both sides (``write``, not the manifest's ``push``); the
  manifest's word rides in ``meta["as_written"]`` so plans can show ``"push" (GitHub: "write")``.
* CREATE invites (the same PUT); DELETE removes the collaborator or cancels the
  pending invitation. ``before`` always carries ``login`` (``plan.check_safety`` refuses removing
  gridctl's own access).

``invitation`` (order 45), planned in the same scope and read with the same account (the
Reader shares the collaborator list, so it costs no call): for every declared collaborator
that is an account of the manifest, while it is not yet a direct collaborator, an "accept"
(CREATE) — also when the invitation itself is only created in the same plan (order 40 < 45).
Apply runs with the invitee's own client: ``PATCH /user/repository_invitations/{id}``, the id
known from the invite made in the same apply, else from ``GET /user/repository_invitations``
listed once per invitee per apply (``_Pending``). Once accepted the live side matches and nothing
is planned. The invitation kind never plans a delete: removing access is the collaborator
kind's job. An accept has no inverse: it consumed the invitation, which cannot be restored
(GitHub has no "un-accept"), and the access it gave belongs to the collaborator kind — rolling
back the run that invited removes the collaborator whether or not it accepted meanwhile. A
rollback of a run that only accepted lists the accept as "cannot roll back"; to revoke the
access, drop the collaborator from the manifest.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import GitHubError
from ..manifest.model import PERMISSION_OF, ROLE_OF, Manifest
from ..plan import Action, Change, FieldDiff
from .base import ApplyResult, Item, Kind, Scope, _flip
from .repository import repo_scopes

if TYPE_CHECKING:
    from ..github.client import Keep
    from .base import ApplyContext, PlanEnv, Reader


def _csv(values: Any) -> str:
    return ",".join(sorted({str(v) for v in values}))


def _set(scope: Scope, key: str) -> set[str]:
    raw = scope.get(key, "") or ""
    return {x for x in str(raw).split(",") if x}


def _role(value: Any) -> Any:
    """A GitHub role name from either vocabulary (custom role names pass unchanged)."""
    return ROLE_OF.get(str(value), value) if value is not None else None


def direct_collaborators(reader: Reader, full: str) -> list[dict] | None:
    """The repository's direct collaborators; the one list call both kinds share (memoized)."""
    return reader.list(f"/repos/{full}/collaborators", params={"affiliation": "direct"}, keep=_login_role())


@functools.cache
def _login_role() -> Keep:
    """What the ETag cache keeps of a collaborator: the fields both kinds read (made on first
    use: loading a manifest imports the kinds, not the clients)."""
    from ..github.reader import fields

    return fields("login", "role_name")


def _managed_logins(env: PlanEnv, kind: str, scope_name: str) -> set[str]:
    out = set()
    for entry in env.state.in_scope(kind, scope_name).values():
        if entry.get("login"):
            out.add(str(entry["login"]).lower())
    return out


def _as_written(env: PlanEnv, spec: Any, login: str) -> str | None:
    """The permission word the manifest used for ``login`` (``push``, ``pull``...), which plans
    show beside GitHub's role name (``write``, ``read``) when the two differ."""
    acc_id = spec.collaborator_accounts.get(login.lower())
    declared = env.manifest.data.get("repos", {}).get(spec.path[-1], {}).get("collaborators") or {}
    for who in ([acc_id] if acc_id else []) + [login]:
        if isinstance(declared.get(who), str):
            return str(declared[who])
    return None


def _source(env: PlanEnv, spec: Any, login: str) -> str | None:
    """The manifest position of a collaborator entry (written as an account id or a login)."""
    acc_id = spec.collaborator_accounts.get(login.lower())
    for who in ([acc_id] if acc_id else []) + [login]:
        path = tuple(spec.path) + ("collaborators", who)
        if path in env.manifest.positions.keys:
            pos = env.manifest.positions.keys[path]
            return f"{pos.file}:{pos.line}"
    return None


class _Pending:
    """An invitee's pending repository invitations during one apply, by repository (lower-case
    full name): listed once (``GET /user/repository_invitations``, every page), then kept
    current as this apply invites (the invitation's id comes back in the invite's 201 answer)
    and accepts. Listing once per acceptance instead would cost the invitee's whole list of
    pending invitations for each of them — quadratic over a fleet."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_repo: dict[str, int] | None = None  # None: not listed yet in this apply

    def _list(self, client: Any) -> None:
        found: dict[str, int] = {}
        for inv in client.get_list("/user/repository_invitations") or []:
            name = str((inv.get("repository") or {}).get("full_name", "")).lower()
            if name and not inv.get("expired"):
                found.setdefault(name, int(inv["id"]))
        self.by_repo = found

    def find(self, client: Any, full: str) -> int | None:
        """The pending invitation to ``full``: from what this apply knows, else from a listing
        (a second listing only when the first did not have it: invited by someone else since)."""
        with self.lock:
            listed = self.by_repo is not None
            if not listed:
                self._list(client)
            assert self.by_repo is not None
            if full.lower() not in self.by_repo and listed:
                self._list(client)
            return self.by_repo.get(full.lower())

    def invited(self, full: str, inv_id: int) -> None:
        with self.lock:
            if self.by_repo is not None:
                self.by_repo[full.lower()] = inv_id
            # not listed yet: the first acceptance's listing will include it

    def accepted(self, full: str) -> None:
        with self.lock:
            if self.by_repo is not None:
                self.by_repo.pop(full.lower(), None)


_PENDING: weakref.WeakKeyDictionary[Any, _Pending] = weakref.WeakKeyDictionary()
_PENDING_LOCK = threading.Lock()


def _pending_of(client: Any) -> _Pending:
    """The pending invitations of ``client``'s account, for as long as the client lives (one
    apply: a session makes its clients afresh)."""
    with _PENDING_LOCK:
        found = _PENDING.get(client)
        if found is None:
            found = _PENDING[client] = _Pending()
        return found


class Collaborator(Kind):
    name = "collaborator"
    order = 40
    prune_key = "collaborators"

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        # an invitee of this manifest accepts with its own token, which needs the repo scope
        return [
            (acc, "repo", f"repos.{r.full_name}.collaborators.{acc} (accepting the invitation)")
            for r in m.repos.values() for acc in r.collaborator_accounts.values()
        ]

    def safety(self, change: Change, own_logins: dict[str, str]) -> list[str]:
        login = (change.before or {}).get("login", "")
        if change.action == Action.DELETE and login and own_logins.get(change.scope, "").lower() == login.lower():
            return [f"{change.address}: removes gridctl's own access ({login}) to {change.scope}"]
        return []

    def scopes(self, env: PlanEnv) -> list[Scope]:
        out = []
        for s in repo_scopes(env, self.name):
            spec = env.manifest.repo(s.name)
            assert spec is not None
            want = set() if env.destroy else {login.lower() for login in spec.collaborators}
            managed = _managed_logins(env, self.name, s.name)
            prune = self.prune(env, s) and not env.destroy
            extra = (("want", _csv(want)), ("managed", _csv(managed)), ("prune", "1" if prune else ""))
            out.append(Scope(s.kind, s.account, s.name, s.repo, extra))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        assert spec is not None
        out = {}
        for login, role in spec.collaborators.items():
            key = login.lower()
            meta: dict[str, Any] = {"login": login}
            if key in spec.collaborator_accounts:
                meta["invitee_account"] = spec.collaborator_accounts[key]
            word = _as_written(env, spec, login)
            if word and word != role:
                meta["as_written"] = {"role": word}  # for display only: apply uses after["role"]
            out[key] = Item(key, attrs={"login": login, "role": role}, meta=meta, source=_source(env, spec, login))
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        return self._read(reader, scope)

    def refresh(self, reader: Reader, scope: Scope, key: str) -> Item | None:
        return self._read(reader, scope, only=key).get(key)

    def _read(self, reader: Reader, scope: Scope, *, only: str | None = None) -> dict[str, Item]:
        repo = reader.repo(scope.name)
        if repo is None:
            return {}
        owner = str(repo["owner"]["login"]).lower()
        out: dict[str, Item] = {}
        for c in direct_collaborators(reader, scope.name) or []:
            login = c["login"]
            if login.lower() == owner:
                continue
            out[login.lower()] = Item(
                login.lower(), attrs={"login": login, "role": _role(c.get("role_name"))}, meta={"pending": False}
            )
        want, managed = _set(scope, "want"), _set(scope, "managed")
        if only is not None:
            need = only not in out
        else:
            need = bool(scope.get("prune")) or bool((want | managed) - set(out))
        if not need:
            return out
        for inv in reader.list(f"/repos/{scope.name}/invitations") or []:
            invitee = inv.get("invitee") or {}
            login = invitee.get("login")
            if not login or login.lower() in out or login.lower() == owner:
                continue
            if inv.get("expired") and login.lower() in want:
                continue  # a declared collaborator whose invitation expired: invite again
            out[login.lower()] = Item(
                login.lower(),
                attrs={"login": login, "role": _role(inv.get("permissions"))},
                meta={"pending": True, "invitation_id": inv["id"], "expired": bool(inv.get("expired"))},
            )
        return out

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list[FieldDiff], str]:
        want, have = desired.attrs.get("role"), live.attrs.get("role")
        diffs = [] if want == have else [FieldDiff("role", have, want)]
        login = live.attrs.get("login") or desired.attrs.get("login")
        if not live.meta.get("pending"):
            return diffs, ""
        if diffs:
            return diffs, f"invitation to {login} is still pending: change its role"
        if desired.meta.get("invitee_account"):
            return [], ""  # the invitation kind plans the accept
        return [], f"invitation sent; waiting for {login} to accept"

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        return {"kind": self.name, "scope": scope.name, "account": scope.account, "login": live.attrs["login"]}

    # -- apply ------------------------------------------------------------------------------------
    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        full = change.scope
        meta = change.meta
        if change.action == Action.CREATE:
            login, role = change.after["login"], change.after["role"]  # type: ignore[index]
            inv = self._put(client, full, login, role)
            entry = {"kind": self.name, "scope": full, "account": change.account, "login": login}
            result: dict[str, Any] = {"invited": inv is not None}
            if inv is not None:
                result["invitation_id"] = inv["id"]
                acc = meta.get("invitee_account")
                if acc and acc in ctx.env.clients:  # the same apply accepts it: no listing needed
                    _pending_of(ctx.client(acc)).invited(full, int(inv["id"]))
            return ApplyResult(entry, result=result)
        if change.action == Action.UPDATE:
            login, role = change.after["login"], change.after["role"]  # type: ignore[index]
            login = meta.get("login") or login
            entry = {
                "kind": self.name,
                "scope": full,
                "account": change.account,
                "login": (change.before or {}).get("login") or login,
            }
            if meta.get("pending"):
                inv_id = meta["invitation_id"]
                try:
                    client.raw("PATCH", f"/repos/{full}/invitations/{inv_id}", {"permissions": role})
                except GitHubError as exc:
                    if exc.status == 404:
                        raise GitHubError(
                            f"the invitation of {login} to {full} is gone (accepted, declined or cancelled since the plan); plan again",
                            status=404,
                        ) from None
                    raise
                return ApplyResult(entry, result={"invitation_id": inv_id})
            self._put(client, full, login, role)
            return ApplyResult(entry)
        if change.action == Action.DELETE:
            login = (change.before or {}).get("login") or meta.get("login") or meta["key"]
            pending = meta.get("pending")
            if pending is True:
                inv_id = int(meta["invitation_id"])
                self._cancel(client, full, login, inv_id)
                return ApplyResult(None, result={"invitation_id": inv_id})
            # https://docs.github.com/en/rest/collaborators/collaborators#remove-a-repository-collaborator
            client.raw("DELETE", f"/repos/{full}/collaborators/{quote(login, safe='')}")
            if pending is None:
                # a rollback of an invite: the invitation may still be pending — cancel it too
                for inv in client.get_list(f"/repos/{full}/invitations") or []:
                    if str((inv.get("invitee") or {}).get("login", "")).lower() == login.lower():
                        self._cancel(client, full, login, int(inv["id"]))
            return ApplyResult(None)
        raise NotImplementedError(change.action)

    @staticmethod
    def _put(client: Any, full: str, login: str, role: str) -> dict[str, Any] | None:
        """Invite ``login`` with ``role``, or set an existing collaborator's role. GitHub answers
        201 with the invitation it created, or 204 with no body when nothing needed an
        invitation (GitHub Docs, "Add a repository collaborator":
        https://docs.github.com/en/rest/collaborators/collaborators#add-a-repository-collaborator)."""
        body = {"permission": PERMISSION_OF.get(role, role)}
        data = client.raw("PUT", f"/repos/{full}/collaborators/{quote(login, safe='')}", body)
        return data if isinstance(data, dict) else None

    @staticmethod
    def _cancel(client: Any, full: str, login: str, inv_id: int) -> None:
        def gone() -> bool:  # a DELETE that answered nothing may have happened: look first
            return all(int(i["id"]) != inv_id for i in client.get_list(f"/repos/{full}/invitations") or [])

        # https://docs.github.com/en/rest/collaborators/invitations#delete-a-repository-invitation
        client.raw("DELETE", f"/repos/{full}/invitations/{inv_id}", idempotent=False, verify=gone)

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        # the manifest's word for the role describes the forward change's after, not the inverse's
        meta = {k: v for k, v in change.meta.items() if k not in ("pending", "invitation_id", "expired", "as_written")}
        if change.action == Action.CREATE:
            # invited, maybe accepted since (by the invitation kind): remove whichever exists
            return _flip(change, Action.DELETE, before=change.after, after=None, meta={**meta, "pending": None})
        if change.action == Action.UPDATE:
            return _flip(change, Action.UPDATE, before=change.after, after=change.before, meta={k: v for k, v in change.meta.items() if k != "as_written"})
        if change.action == Action.DELETE:
            # re-invite with the old role (an accepted collaborator must accept again)
            return _flip(change, Action.CREATE, before=None, after=change.before, meta=meta)
        return None


class Invitation(Kind):
    """Acceptance of a repository invitation by an invitee that is an account of the manifest."""

    name = "invitation"
    order = 45
    restorable = False

    def scopes(self, env: PlanEnv) -> list[Scope]:
        out = []
        seen = set()
        for s in repo_scopes(env, self.name):
            spec = env.manifest.repo(s.name)
            assert spec is not None
            invitees = (
                {}
                if env.destroy
                else {low: acc for low, acc in spec.collaborator_accounts.items() if acc in env.clients}
            )
            if not invitees and not env.state.in_scope(self.name, s.name):
                continue
            seen.add(s.name.lower())
            out.append(
                Scope(s.kind, s.account, s.name, s.repo, (("invitees", _csv(f"{k}={v}" for k, v in invitees.items())),))
            )
        # accepts gridctl recorded for repositories no longer declared: forgotten, never undone
        for entry in env.state.of_kind(self.name).values():
            name = str(entry.get("scope", ""))
            if name.lower() not in seen and entry.get("account") in env.clients:
                seen.add(name.lower())
                out.append(Scope(self.name, entry["account"], name, name, (("invitees", ""),)))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        out = {}
        for pair in _set(scope, "invitees"):
            low, acc = pair.split("=", 1)
            out[low] = Item(low, attrs={"invitee": low, "account": acc}, meta={"invitee_account": acc})
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        invitees = dict(pair.split("=", 1) for pair in _set(scope, "invitees"))
        if not invitees or reader.repo(scope.name) is None:
            return {}
        out = {}
        for c in direct_collaborators(reader, scope.name) or []:
            low = c["login"].lower()
            if low in invitees:  # accepted: the invitee has its own access
                out[low] = Item(
                    low, attrs={"invitee": low, "account": invitees[low]}, meta={"invitee_account": invitees[low]}
                )
        return out

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list[FieldDiff], str]:
        return [], ""

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        return {
            "kind": self.name,
            "scope": scope.name,
            "account": scope.account,
            "invitee_account": live.meta["invitee_account"],
        }

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        full = change.scope
        acc = change.meta["invitee_account"]
        invitee = ctx.client(acc)
        login = change.meta["key"]
        entry = {"kind": self.name, "scope": full, "account": change.account, "invitee_account": acc}
        if change.action == Action.CREATE:
            found = _pending_of(invitee).find(invitee, full)
            if found is None:
                if self._has_access(ctx, change.account, full, login):
                    return ApplyResult(entry, result={"already": True})  # added directly (an organization member)
                raise GitHubError(
                    f"{acc} ({login}) has no pending invitation to {full} (declined, expired or cancelled?); plan again to invite"
                )
            inv_id = found
            # no body: GitHub's description defines none for this PATCH (PyGithub's
            # accept_invitation sends ``{}``)
            invitee.raw(
                "PATCH",
                f"/user/repository_invitations/{inv_id}",
                idempotent=False,
                verify=lambda: self._has_access(ctx, change.account, full, login),
            )
            _pending_of(invitee).accepted(full)
            return ApplyResult(entry, result={"invitation_id": inv_id})
        raise NotImplementedError(
            f"{change.address}: an accept is never undone or deleted (the collaborator kind removes access)"
        )

    @staticmethod
    def _has_access(ctx: ApplyContext, account: str, full: str, login: str) -> bool:
        rows = ctx.client(account).get_list(f"/repos/{full}/collaborators", {"affiliation": "direct"}) or []
        return any(str(c.get("login", "")).lower() == login.lower() for c in rows)

    def writer(self, change: Change) -> str:
        return str(change.meta.get("invitee_account") or change.account)  # the invitee accepts

    def reversible(self, action: Action) -> bool:
        # accepting uses the invitation up; the access itself belongs to the collaborator kind
        return False

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        """None: accepting consumed the invitation, which nobody can restore. The access it gave
        is undone by the collaborator kind (the inverse of the invite removes the collaborator,
        accepted or not); a second, competing "leave" here would make that inverse stale."""
        return None


KINDS = [Collaborator(), Invitation()]
