"""Kinds ``org-member`` (who belongs to an organization, with the role ``member`` or ``admin``)
and ``org-invitation`` (the acceptance of an organization's invitation by an invitee that is an
account of the manifest, with its own token):

    org_members:
      acme:                  # an organization account of the manifest
        alice: admin         # a login, or an account id of the manifest
        node-1: member       # an account here: invited and accepted in the same apply

Only the people listed are managed, and gridctl removes only whom it added or adopted (its state):
a member of the organization that the manifest does not list is left alone — unlike peribolos,
which removes everyone it is not told about. A declared member who already belongs is adopted, so
``destroy`` (or dropping it from the manifest) removes it like one gridctl added. gridctl never
removes its own account (the token's user) from the organization — undeclared, it is simply
forgotten — and demoting it from owner needs ``--force``.

GitHub facts used here (REST "Organization members", https://docs.github.com/en/rest/orgs/members):

* ``PUT /orgs/{org}/memberships/{username}`` ``{"role": ...}`` invites someone who is not a
  member (the membership is ``pending`` until they accept) and changes a member's role;
  ``DELETE`` on the same path removes a member, and
  ``DELETE /orgs/{org}/invitations/{invitation_id}`` cancels a pending invitation (both need an
  owner; ``admin:org`` for a classic token);
* ``GET /orgs/{org}/members?role=admin|all`` lists members by role; ``GET /orgs/{org}/invitations``
  the pending invitations (their ``role`` is ``admin`` or ``direct_member``); a pending invitation
  with the declared role is "in progress", not a change;
* the invitee accepts with ``PATCH /user/memberships/orgs/{org}`` ``{"state": "active"}`` —
  with its own token, so only an account of this manifest can be accepted for
  (https://docs.github.com/en/rest/orgs/members#update-an-organization-membership-for-the-authenticated-user);
  the kind ``org-invitation`` does that for the organization's declared members and for the team
  members (``teams``) that are accounts here, whose team membership waits for the same
  invitation. Like repository invitations, an accept cannot be undone: removing the member is
  ``org-member``'s job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import GitHubError
from ..manifest.sections import Section, SectionContext
from ..manifest.yamlpos import PathT
from ..plan import Action, Change, FieldDiff
from .base import ApplyResult, Item, Kind, Scope, _flip
from .team import _org_scopes, members_of, team_specs

if TYPE_CHECKING:
    from ..manifest.model import Manifest
    from .base import ApplyContext, PlanEnv, Reader

ORG_MEMBERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Members of organizations, by organization account id: login or account id -> member | admin.",
    "propertyNames": {"$ref": "#/$defs/localId"},
    "additionalProperties": {
        "type": "object",
        "propertyNames": {"type": "string", "minLength": 1, "maxLength": 64},
        "additionalProperties": {"enum": ["member", "admin"]},
    },
}


class OrgMembers:
    """One organization's declared members."""

    def __init__(self, account: str, org: str, path: PathT, members: dict[str, str], accounts: dict[str, str]):
        self.account, self.org, self.path, self.members, self.accounts = account, org, path, members, accounts


def parse_org_members(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> list[OrgMembers]:
    out = []
    for acc_id, entries in raw.items():
        if ctx.need_org(acc_id, path + (acc_id,)):
            members, accounts = members_of(ctx, entries, path + (acc_id,))
            out.append(OrgMembers(acc_id, ctx.manifest.accounts[acc_id].login, path + (acc_id,), members, accounts))
    return out


def org_members(m: Manifest) -> list[OrgMembers]:
    specs: list[OrgMembers] = m.sections.get("org_members", [])
    return specs


def _members(reader: Reader, org: str) -> dict[str, dict[str, Any]] | None:
    """Active members by lower-case login: ``{login, role}`` (two list calls, shared)."""
    everyone = reader.list(f"/orgs/{org}/members", params={"role": "all"})
    if everyone is None:
        return None
    admins = {r["login"].lower() for r in reader.list(f"/orgs/{org}/members", params={"role": "admin"}) or []}
    return {r["login"].lower(): {"login": r["login"], "role": "admin" if r["login"].lower() in admins else "member"} for r in everyone}


class OrgMember(Kind):
    name = "org-member"
    # before the teams (24) whose members must belong to the organization
    order = 20
    sections = (Section("org_members", "top", ORG_MEMBERS_SCHEMA, parse_org_members),)

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(s.account, "admin:org", f"org_members.{s.account}") for s in org_members(m)]

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.get('org')}:{key}"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        out = []
        for s in _org_scopes(env, self, {o.account for o in org_members(env.manifest)}):
            spec = self._spec(env, s.account)
            want = set() if env.destroy or spec is None else {k.lower() for k in spec.members}
            managed = {str(e.get("login", "")).lower() for e in env.state.in_scope(self.name, s.name).values()}
            out.append(Scope(s.kind, s.account, s.name, None, (*s.extra, ("want", ",".join(sorted(want))), ("managed", ",".join(sorted(managed))))))
        return out

    @staticmethod
    def _spec(env: PlanEnv, account: str) -> OrgMembers | None:
        return next((o for o in org_members(env.manifest) if o.account == account), None)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = self._spec(env, scope.account)
        if spec is None:
            return {}
        out = {}
        for login, role in spec.members.items():
            meta: dict[str, Any] = {"login": login}
            written = login
            if login.lower() in spec.accounts:
                meta["invitee_account"] = spec.accounts[login.lower()]
                raw = (env.manifest.data.get("org_members") or {}).get(spec.account) or {}
                written = spec.accounts[login.lower()] if spec.accounts[login.lower()] in raw else login
            out[login.lower()] = Item(login.lower(), attrs={"login": login, "role": role}, meta=meta,
                                      source=env.manifest.positions.source(spec.path + (written,)))
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        org = str(scope.get("org"))
        members = _members(reader, org)
        if members is None:
            return {}
        want = {x for x in str(scope.get("want", "")).split(",") if x}
        me = str(reader.client.login or "").lower()  # the token's user: gridctl's own account
        # gridctl's own account is managed only while declared: never removed (it would lose the
        # access it manages the organization with), and forgotten when no longer declared
        out = {
            low: Item(low, attrs=dict(m), meta={"pending": False, "own": low == me})
            for low, m in members.items() if low != me or low in want
        }
        wanted = want | {x for x in str(scope.get("managed", "")).split(",") if x}
        if not wanted - set(out):
            return out
        for inv in reader.list(f"/orgs/{org}/invitations") or []:
            login = inv.get("login")
            if login and login.lower() not in out:
                role = "admin" if inv.get("role") == "admin" else "member"
                out[login.lower()] = Item(login.lower(), attrs={"login": login, "role": role}, meta={"pending": True, "invitation_id": inv["id"]})
        return out

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list[FieldDiff], str]:
        want, have = desired.attrs.get("role"), live.attrs.get("role")
        diffs = [] if want == have else [FieldDiff("role", have, want)]
        if live.meta.get("pending") and not diffs and not desired.meta.get("invitee_account"):
            return [], f"invitation sent; waiting for {desired.attrs['login']} to accept"
        if live.meta.get("pending") and diffs:
            return diffs, f"the invitation of {desired.attrs['login']} is still pending: change its role"
        return diffs, ""

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        return {"kind": self.name, "scope": scope.name, "account": scope.account, "login": live.attrs["login"]}

    def safety(self, change: Change, own_logins: dict[str, str]) -> list[str]:
        login = str((change.before or {}).get("login", "")).lower()
        if change.meta.get("own"):
            if change.action == Action.DELETE:
                return [f"{change.address}: removes gridctl's own account ({login}) from the organization"]
            if change.action == Action.UPDATE and (change.after or {}).get("role") != "admin":
                return [f"{change.address}: takes the owner role from gridctl's own account ({login})"]
        return []

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        org = self.scope_for_change(change).get("org")
        login = str((change.after or change.before or {}).get("login") or change.meta["key"])
        url = f"/orgs/{org}/memberships/{quote(login, safe='')}"
        entry = {"kind": self.name, "scope": change.scope, "account": change.account, "login": login}
        if change.action == Action.DELETE:
            if change.meta.get("pending") is True:
                # https://docs.github.com/en/rest/orgs/members#cancel-an-organization-invitation
                inv_id = int(change.meta["invitation_id"])
                try:
                    client.raw("DELETE", f"/orgs/{org}/invitations/{inv_id}")
                except GitHubError as exc:
                    if exc.status != 404:
                        raise
                    client.raw("DELETE", url)  # accepted since the plan: remove the member
                return ApplyResult(None, result={"invitation_id": inv_id})
            # https://docs.github.com/en/rest/orgs/members#remove-organization-membership-for-a-user
            # (a member is removed, a pending invitation cancelled)
            client.raw("DELETE", url)
            return ApplyResult(None)
        # https://docs.github.com/en/rest/orgs/members#set-organization-membership-for-a-user
        got = client.raw("PUT", url, {"role": (change.after or {})["role"]})
        return ApplyResult(entry, result={"state": (got or {}).get("state")})

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        meta = {k: v for k, v in change.meta.items() if k not in ("pending", "invitation_id")}
        if change.action == Action.CREATE:
            # invited, maybe accepted since: DELETE .../memberships covers both
            return _flip(change, Action.DELETE, before=change.after, after=None, meta=meta)
        if change.action == Action.UPDATE:
            return _flip(change, Action.UPDATE, before=change.after, after=change.before, meta=change.meta)
        if change.action == Action.DELETE:
            # invited again (a removed member must accept again)
            return _flip(change, Action.CREATE, before=None, after=change.before, meta=meta)
        return None


class OrgInvitation(Kind):
    """Acceptance of an organization invitation by an invitee that is an account of the manifest."""

    name = "org-invitation"
    # after the invitations: organization members (20) and team members (34)
    order = 38
    restorable = False

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        out = []
        for o in org_members(m):
            out += [(acc, "write:org", f"org_members.{o.account}.{acc} (accepting the invitation)") for acc in o.accounts.values()]
        for t in team_specs(m):
            out += [(acc, "write:org", f"teams.{t.account}.{t.name}.members.{acc} (accepting the invitation)") for acc in t.member_accounts.values()]
        return out

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.get('org')}:{key}"

    def _invitees(self, env: PlanEnv, account: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for o in org_members(env.manifest):
            if o.account == account:
                out.update(o.accounts)
        for t in team_specs(env.manifest):
            if t.account == account:
                out.update(t.member_accounts)
        return {low: acc for low, acc in out.items() if acc in env.clients}

    def scopes(self, env: PlanEnv) -> list[Scope]:
        declared = {o.account for o in org_members(env.manifest)} | {t.account for t in team_specs(env.manifest)}
        out = []
        for s in _org_scopes(env, self, declared):
            invitees = {} if env.destroy else self._invitees(env, s.account)
            if invitees or env.state.in_scope(self.name, s.name):
                pairs = ",".join(sorted(f"{k}={v}" for k, v in invitees.items()))
                out.append(Scope(s.kind, s.account, s.name, None, (*s.extra, ("invitees", pairs))))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        out = {}
        for pair in (x for x in str(scope.get("invitees", "")).split(",") if x):
            low, acc = pair.split("=", 1)
            out[low] = Item(low, attrs={"invitee": low, "account": acc}, meta={"invitee_account": acc})
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        invitees = dict(pair.split("=", 1) for pair in str(scope.get("invitees", "")).split(",") if pair)
        if not invitees:
            return {}
        members = _members(reader, str(scope.get("org"))) or {}
        return {
            low: Item(low, attrs={"invitee": low, "account": acc}, meta={"invitee_account": acc})
            for low, acc in invitees.items() if low in members
        }

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list[FieldDiff], str]:
        return [], ""

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        return {"kind": self.name, "scope": scope.name, "account": scope.account, "invitee_account": live.meta["invitee_account"]}

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        if change.action != Action.CREATE:
            raise NotImplementedError(f"{change.address}: an accept is never undone or deleted (org-member removes members)")
        org = self.scope_for_change(change).get("org")
        acc = change.meta["invitee_account"]
        login = change.meta["key"]
        entry = {"kind": self.name, "scope": change.scope, "account": change.account, "invitee_account": acc}
        invitee = ctx.client(acc)
        mine = invitee.get(f"/user/memberships/orgs/{org}")
        if mine is None:
            raise GitHubError(f"{acc} ({login}) has no invitation to {org} (declined, expired or cancelled?); plan again to invite")
        if mine.get("state") == "active":
            return ApplyResult(entry, result={"already": True})
        # https://docs.github.com/en/rest/orgs/members#update-an-organization-membership-for-the-authenticated-user
        invitee.raw("PATCH", f"/user/memberships/orgs/{org}", {"state": "active"})
        return ApplyResult(entry)

    def reversible(self, action: Action) -> bool:
        return False

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        """None: accepting consumed the invitation; the membership belongs to ``org-member``."""
        return None


KINDS = [OrgMember(), OrgInvitation()]
