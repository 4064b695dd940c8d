"""Kinds ``team`` (an organization's teams), ``team-member`` (their members, with a role) and
``team-repo`` (the repositories a team may use, with a permission), all from ``teams``:

    teams:
      acme:                          # an organization account of the manifest
        Infra:                       # the team's name; GitHub derives its slug (infra)
          privacy: closed            # closed (visible to the organization) | secret
        Platform:
          description: Platform engineers
          parent: Infra              # another team of this organization, by name
          notifications: enabled     # enabled | disabled
          members: {alice: maintainer, node-1: member}   # logins or account ids of the manifest
          repos: {acme/svc: push}    # pull | triage | push | maintain | admin (or a custom role)

What is managed: a team's ``name`` and ``parent`` (none when not declared: removing ``parent``
un-nests the team) and the other fields when they are set; the members and repositories listed.
gridctl removes only what it manages (its state): a member someone else added, or a team nobody
declared, is left alone. Each is planned on its own, so editing one member's role plans exactly
that. A team is addressed by its slug (``team:acme/platform``): a new name with another slug is a
new team (the old one is deleted, its members and repositories with it).

GitHub facts used here (REST "Teams", https://docs.github.com/en/rest/teams/teams, "Team members",
https://docs.github.com/en/rest/teams/members; "About teams",
https://docs.github.com/en/organizations/organizing-members-into-teams/about-teams):

* the slug: special characters replaced, lower case, spaces as ``-`` ("Get a team by name");
* a new team is ``secret`` unless it is nested, then ``closed``; secret teams cannot be nested
  (neither parent nor child) — checked when the manifest is loaded;
* whoever creates a team becomes its maintainer ("Create a team"). gridctl takes its own account
  out again unless the manifest lists it (Terraform's ``create_default_maintainer = false`` does
  the same), so a team holds whom the manifest says;
* deleting a team deletes its child teams ("Delete a team"): a planned delete of a team whose
  children are still on GitHub needs ``--force``; parents are created first and deleted last
  (:meth:`Team.change_order`);
* ``GET .../members`` lists each member's ``role`` and whether it is ``inherited`` from a child
  team (those are not the team's own and are ignored); adding someone who is not a member of the
  organization invites them to it and the team membership stays ``pending`` until they accept —
  an account of this manifest accepts with its own token (kind ``org-invitation``,
  :mod:`gridctl.resources.org_member`);
* a team's repositories come with ``role_name`` (``read``, ``write``... shown here in the
  ``PUT`` vocabulary ``pull``, ``push``...); ``PUT .../repos/{owner}/{repo}`` needs admin rights
  on the repository, which must belong to the organization.

Tokens: the organization account's (an owner's) with ``admin:org``. Reads: one list of teams per
organization, then per team one list of members and one of repositories (plus one membership
read per declared member missing from the list, to see a pending one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import GitHubError
from ..manifest.load import LOGIN_RE, REPO_NAME_RE
from ..manifest.model import PERMISSION_OF, ROLE_OF
from ..manifest.sections import Section, SectionContext
from ..manifest.yamlpos import PathT
from ..plan import Action, Change, FieldDiff
from ..util.text import team_slug
from .base import ApplyResult, Item, Kind, Scope, org_scopes

if TYPE_CHECKING:
    from ..github.client import AccountClient
    from ..manifest.model import Manifest
    from .base import ApplyContext, PlanEnv, Reader

#: how deep teams may nest in a manifest (GitHub sets no documented limit; deeper is a mistake)
MAX_DEPTH = 5

TEAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Teams of organizations, by organization account id, then by team name.",
    "propertyNames": {"$ref": "#/$defs/localId"},
    "additionalProperties": {
        "type": "object",
        "propertyNames": {"type": "string", "minLength": 1, "maxLength": 255},
        "additionalProperties": {"$ref": "#/$defs/team"},
    },
}
TEAM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string", "maxLength": 1024},
        "privacy": {"enum": ["closed", "secret"], "description": "closed: visible to every member of the organization."},
        "parent": {"type": "string", "minLength": 1, "description": "The parent team's name."},
        "notifications": {"enum": ["enabled", "disabled"]},
        "members": {
            "type": "object",
            "description": "login or account id -> member | maintainer",
            "propertyNames": {"type": "string", "minLength": 1, "maxLength": 64},
            "additionalProperties": {"enum": ["member", "maintainer"]},
        },
        "repos": {
            "type": "object",
            "description": "owner/name (a repository of the organization) -> permission",
            "propertyNames": {"type": "string", "minLength": 3, "maxLength": 140},
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 100},
        },
    },
}


@dataclass
class TeamSpec:
    account: str
    org: str
    name: str
    slug: str
    path: PathT
    attrs: dict[str, Any]
    parent: str | None = None  # the parent's slug
    depth: int = 0
    #: login -> member | maintainer
    members: dict[str, str] = field(default_factory=dict)
    #: login_lower -> account id, for members that are accounts of the manifest
    member_accounts: dict[str, str] = field(default_factory=dict)
    #: full name (lower) -> permission (PUT vocabulary)
    repos: dict[str, str] = field(default_factory=dict)


def _login(ctx: SectionContext, who: str, path: PathT) -> tuple[str | None, str | None]:
    """(login, account id) of a member written as an account id or a login."""
    m = ctx.manifest
    if who in m.accounts:
        acc = m.accounts[who]
        if acc.is_org:
            ctx.error(path, f"{who} is an organization and cannot be a member", key=True)
            return None, None
        return acc.login, acc.id
    if not LOGIN_RE.match(who):
        ctx.error(path, f"member {who!r} is neither an account id of this manifest nor a valid GitHub login", key=True)
        return None, None
    owner = m.account_for_owner(who)
    return who, (owner.id if owner is not None and not owner.is_org else None)


def members_of(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> tuple[dict[str, str], dict[str, str]]:
    """``{login: role}`` and ``{login_lower: account id}`` of a members map (teams and the
    organization's own), each login once."""
    out: dict[str, str] = {}
    accounts: dict[str, str] = {}
    seen: set[str] = set()
    for who, role in raw.items():
        login, acc = _login(ctx, who, path + (who,))
        if login is None:
            continue
        if login.lower() in seen:
            ctx.error(path + (who,), f"{login} is listed twice", key=True)
            continue
        seen.add(login.lower())
        out[login] = role
        if acc is not None:
            accounts[login.lower()] = acc
    return out, accounts


def parse_teams(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> list[TeamSpec]:
    out: list[TeamSpec] = []
    for acc_id, name, value, tp in ctx.per_org(raw, path):
        org = ctx.manifest.accounts[acc_id].login
        slug = team_slug(name)
        if not slug:
            ctx.error(tp, f"team {name!r}: the name needs a letter or a digit", key=True)
            continue
        if any(t.account == acc_id and t.slug == slug for t in out):
            ctx.error(tp, f"team {name!r} has the same slug ({slug}) as another team of {org}", key=True)
            continue
        attrs: dict[str, Any] = {"name": name}
        for key in ("description", "privacy", "notifications"):
            if key in value:
                attrs[key] = value[key]
        spec = TeamSpec(acc_id, org, name, slug, tp, attrs)
        if value.get("parent") is not None:
            spec.parent = team_slug(str(value["parent"]))
            if spec.parent == slug:
                ctx.error(tp + ("parent",), f"team {name!r} cannot be its own parent")
        spec.members, spec.member_accounts = members_of(ctx, value.get("members") or {}, tp + ("members",))
        for full, perm in (value.get("repos") or {}).items():
            rp = tp + ("repos", full)
            name = full.partition("/")[2]
            if full.count("/") != 1 or full.split("/")[0].lower() != org.lower() or not REPO_NAME_RE.match(name) or name in (".", ".."):
                ctx.error(rp, f"{full!r} is not a repository of {org} (a team gets the organization's repositories only)", key=True)
                continue
            spec.repos[full.lower()] = PERMISSION_OF.get(ROLE_OF.get(perm, perm), perm)
        out.append(spec)
    _check_nesting(ctx, out)
    return out


def _check_nesting(ctx: SectionContext, specs: list[TeamSpec]) -> None:
    """Depths, cycles and GitHub's "secret teams cannot be nested"."""
    by = {(s.account, s.slug): s for s in specs}
    for s in specs:
        chain, cur = [s.slug], s
        for _ in range(MAX_DEPTH + 2):
            if cur.parent is None:
                break
            if cur.parent in chain:
                ctx.error(s.path + ("parent",), f"team {s.name!r}: its parents form a cycle ({' -> '.join(chain + [cur.parent])})")
                break
            chain.append(cur.parent)
            nxt = by.get((s.account, cur.parent))
            if nxt is None:
                break  # a parent that is not declared: it must exist on GitHub
            cur = nxt
        s.depth = min(len(chain) - 1, MAX_DEPTH)
        if len(chain) - 1 > MAX_DEPTH:
            ctx.error(s.path + ("parent",), f"team {s.name!r} is nested more than {MAX_DEPTH} deep")
        if s.parent is not None and s.attrs.get("privacy") == "secret":
            ctx.error(s.path + ("privacy",), f"team {s.name!r} has a parent and cannot be secret (GitHub does not nest secret teams)")
        parent = by.get((s.account, s.parent or ""))
        if parent is not None and parent.attrs.get("privacy") == "secret":
            ctx.error(parent.path + ("privacy",), f"team {parent.name!r} has a child team ({s.name}) and cannot be secret", key=True)


def team_specs(m: Manifest) -> list[TeamSpec]:
    specs: list[TeamSpec] = m.sections.get("teams", [])
    return specs


def _csv(values: Any) -> str:
    return ",".join(sorted({str(v) for v in values}))


def _set(scope: Scope, key: str) -> set[str]:
    return {x for x in str(scope.get(key, "") or "").split(",") if x}


def _org_scopes(env: PlanEnv, kind: Kind, declared: set[str]) -> list[Scope]:
    """One scope per organization account with a client that declares something or holds managed objects."""
    return org_scopes(env, kind, {a for a in declared if a in env.clients})


class Team(Kind):
    name = "team"
    # after organization members (20), before team members and repositories (34, 36); nested
    # teams one step later per level (change_order)
    order = 24

    sections = (Section("teams", "top", TEAMS_SCHEMA, parse_teams, defs={"team": TEAM_SCHEMA}),)

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(t.account, "admin:org", f"teams.{t.account}.{t.name}") for t in team_specs(m)]

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.get('org')}/{key}"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        out = []
        for s in _org_scopes(env, self, {t.account for t in team_specs(env.manifest)}):
            declared = set() if env.destroy else {t.slug for t in team_specs(env.manifest) if t.account == s.account}
            managed = {str(e.get("slug", "")) for e in env.state.in_scope(self.name, s.name).values()}
            # the teams that stay whatever this plan deletes: declared ones and those gridctl
            # does not manage (a delete of their parent would take them along)
            out.append(Scope(s.kind, s.account, s.name, None, (*s.extra, ("declared", _csv(declared)), ("managed", _csv(managed)))))
        return out

    def change_order(self, item: Item) -> int:
        return self.order + min(int(item.meta.get("depth", 0)), MAX_DEPTH)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        out = {}
        for t in team_specs(env.manifest):
            if t.account == scope.account:
                meta = {"depth": t.depth, "keep": sorted(login.lower() for login in t.members)}
                out[t.slug] = Item(t.slug, attrs={**t.attrs, "parent": t.parent}, meta=meta,
                                   source=env.manifest.positions.source(t.path))
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        rows = reader.list(f"/orgs/{scope.get('org')}/teams") or []
        parents = {r["slug"]: (r.get("parent") or {}).get("slug") for r in rows}
        declared, managed = _set(scope, "declared"), _set(scope, "managed")
        out = {}
        for r in rows:
            depth, cur = 0, r["slug"]
            for _ in range(MAX_DEPTH):
                cur = parents.get(cur)
                if cur is None:
                    break
                depth += 1
            attrs = {
                "name": r["name"],
                "description": r.get("description"),
                "privacy": r.get("privacy"),
                "notifications": str(r.get("notification_setting", "notifications_enabled")).removeprefix("notifications_"),
                "parent": parents.get(r["slug"]),
            }
            children = sorted(s for s, p in parents.items() if p == r["slug"] and (s in declared or s not in managed))
            out[r["slug"]] = Item(r["slug"], attrs=attrs, meta={"id": r["id"], "depth": depth, "children": children})
        return out

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        return {"kind": self.name, "scope": scope.name, "account": scope.account, "id": live.meta.get("id"), "slug": live.key}

    def safety(self, change: Change, own_logins: dict[str, str]) -> list[str]:
        kids = change.meta.get("children") or []
        if change.action == Action.DELETE and kids:
            return [f"{change.address}: GitHub deletes its child teams with it, and these stay declared or are not gridctl's ({', '.join(kids)})"]
        return []

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        org = self.scope_for_change(change).get("org")
        slug = str(change.meta["key"])
        entry = {"kind": self.name, "scope": change.scope, "account": change.account, "slug": slug}
        if change.action == Action.DELETE:
            # https://docs.github.com/en/rest/teams/teams#delete-a-team
            client.raw("DELETE", f"/orgs/{org}/teams/{slug}")
            return ApplyResult(None)
        after = change.after or {}
        fields = {d.field for d in change.diffs} if change.action == Action.UPDATE else set(after)
        body: dict[str, Any] = {}
        for key in fields:
            if key == "parent":
                body["parent_team_id"] = _team_id(client, org, after["parent"]) if after.get("parent") else None
            elif key == "notifications":
                body["notification_setting"] = f"notifications_{after[key]}"
            elif key in ("name", "description", "privacy") and after.get(key) is not None:
                body[key] = after[key]
        if change.action == Action.CREATE:
            if body.get("parent_team_id") is None:
                body.pop("parent_team_id", None)
            # https://docs.github.com/en/rest/teams/teams#create-a-team
            made = client.raw("POST", f"/orgs/{org}/teams", body, verify=lambda: client.get(f"/orgs/{org}/teams/{slug}"))
            result: dict[str, Any] = {"id": made["id"]}
            creator = str(client.login or "")
            if creator and creator.lower() not in change.meta.get("keep", []):
                # the creator became a maintainer: not declared, so taken out again
                client.raw("DELETE", f"/orgs/{org}/teams/{made['slug']}/memberships/{quote(creator, safe='')}")
                result["creator_removed"] = creator
            return ApplyResult({**entry, "id": made["id"]}, result=result)
        # https://docs.github.com/en/rest/teams/teams#update-a-team
        made = client.raw("PATCH", f"/orgs/{org}/teams/{slug}", body)
        return ApplyResult({**entry, "id": (made or {}).get("id")})


def _team_id(client: AccountClient, org: str, slug: str) -> int:
    data = client.get(f"/orgs/{org}/teams/{slug}")
    if data is None:
        raise GitHubError(f"team {org}/{slug} (a parent team) does not exist or is not visible")
    return int(data["id"])


class _TeamChildren(Kind):
    """What lives in one team: one scope per declared team (and per team with managed items)."""

    def _entries(self, spec: TeamSpec) -> dict[str, str]:
        raise NotImplementedError

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.get('org')}/{scope.get('team')}:{key}"

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(t.account, "admin:org", f"teams.{t.account}.{t.name}") for t in team_specs(m) if self._entries(t)]

    def scopes(self, env: PlanEnv) -> list[Scope]:
        found: dict[str, tuple[str, str, str]] = {}
        for t in team_specs(env.manifest):
            if t.account in env.clients and self._entries(t):
                found[f"team {t.org}/{t.slug}"] = (t.account, t.org, t.slug)
        for entry in env.state.of_kind(self.name).values():
            name, acc = str(entry.get("scope", "")), str(entry.get("account", ""))
            org, _, slug = name.removeprefix("team ").partition("/")
            if acc in env.clients and slug and name not in found:
                found[name] = (acc, org, slug)
        out = []
        for name, (acc, org, slug) in sorted(found.items()):
            managed = {str(e.get("key", "")) for e in env.state.in_scope(self.name, name).values()}
            spec = self._spec(env, acc, slug)
            want = set() if env.destroy or spec is None else {k.lower() for k in self._entries(spec)}
            extra = (("org", org), ("team", slug), ("want", _csv(want)), ("managed", _csv(managed)))
            out.append(Scope(self.name, acc, name, None, extra))
        return out

    @staticmethod
    def _spec(env: PlanEnv, acc: str, slug: str) -> TeamSpec | None:
        return next((t for t in team_specs(env.manifest) if t.account == acc and t.slug == slug), None)

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        return {"kind": self.name, "scope": scope.name, "account": scope.account, "key": live.key}

    def base(self, change: Change) -> str:
        scope = self.scope_for_change(change)
        return f"/orgs/{scope.get('org')}/teams/{scope.get('team')}"


class TeamMember(_TeamChildren):
    name = "team-member"
    order = 34

    def _entries(self, spec: TeamSpec) -> dict[str, str]:
        return spec.members

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = self._spec(env, scope.account, str(scope.get("team")))
        if spec is None:
            return {}
        out = {}
        for login, role in spec.members.items():
            meta: dict[str, Any] = {"login": login}
            if login.lower() in spec.member_accounts:
                meta["invitee_account"] = spec.member_accounts[login.lower()]
            source = env.manifest.positions.source(spec.path + ("members", _written(env, spec, login)))
            out[login.lower()] = Item(login.lower(), attrs={"login": login, "role": role}, meta=meta, source=source)
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        base = f"/orgs/{scope.get('org')}/teams/{scope.get('team')}"
        rows = reader.list(base + "/members", params={"role": "all"})
        if rows is None:
            return {}
        out = {}
        for r in rows:
            if r.get("inherited"):
                continue  # a member of a child team: not this team's own
            out[r["login"].lower()] = Item(r["login"].lower(), attrs={"login": r["login"], "role": r.get("role", "member")})
        for low in sorted((_set(scope, "want") | _set(scope, "managed")) - set(out)):
            got = reader.get(f"{base}/memberships/{quote(low, safe='')}")
            if got is not None and got.get("state") == "pending":
                out[low] = Item(low, attrs={"login": low, "role": got.get("role")}, meta={"pending": True})
        return out

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list[FieldDiff], str]:
        want, have = desired.attrs.get("role"), live.attrs.get("role")
        diffs = [] if want == have else [FieldDiff("role", have, want)]
        if live.meta.get("pending") and not diffs and not desired.meta.get("invitee_account"):
            return [], f"{desired.attrs['login']} is invited to the organization; the team membership waits for the acceptance"
        return diffs, ""

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        login = str((change.after or change.before or {}).get("login") or change.meta["key"])
        url = f"{self.base(change)}/memberships/{quote(login, safe='')}"
        entry = {"kind": self.name, "scope": change.scope, "account": change.account, "key": login.lower()}
        if change.action == Action.DELETE:
            # https://docs.github.com/en/rest/teams/members#remove-team-membership-for-a-user
            client.raw("DELETE", url)
            return ApplyResult(None)
        # https://docs.github.com/en/rest/teams/members#add-or-update-team-membership-for-a-user
        got = client.raw("PUT", url, {"role": (change.after or {})["role"]})
        return ApplyResult(entry, result={"state": (got or {}).get("state")})


class TeamRepo(_TeamChildren):
    name = "team-repo"
    # after the repositories (10) and the team (24+)
    order = 36

    def _entries(self, spec: TeamSpec) -> dict[str, str]:
        return spec.repos

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = self._spec(env, scope.account, str(scope.get("team")))
        if spec is None:
            return {}
        raw = (env.manifest.data.get("teams") or {}).get(spec.account, {}).get(spec.name, {}).get("repos") or {}
        written = {k.lower(): k for k in raw}
        return {
            full: Item(full, attrs={"repo": full, "permission": perm},
                       source=env.manifest.positions.source(spec.path + ("repos", written.get(full, full))))
            for full, perm in spec.repos.items()
        }

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        rows = reader.list(f"/orgs/{scope.get('org')}/teams/{scope.get('team')}/repos")
        out = {}
        for r in rows or []:
            full = str(r["full_name"]).lower()
            role = r.get("role_name") or _strongest(r.get("permissions") or {})
            out[full] = Item(full, attrs={"repo": full, "permission": PERMISSION_OF.get(role, role)}, meta={"id": r["id"]})
        return out

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        full = str((change.after or change.before or {}).get("repo") or change.meta["key"])
        url = f"{self.base(change)}/repos/{full}"
        if change.action == Action.DELETE:
            # https://docs.github.com/en/rest/teams/teams#remove-a-repository-from-a-team
            client.raw("DELETE", url)
            return ApplyResult(None)
        # https://docs.github.com/en/rest/teams/teams#add-or-update-team-repository-permissions
        client.raw("PUT", url, {"permission": (change.after or {})["permission"]})
        return ApplyResult({"kind": self.name, "scope": change.scope, "account": change.account, "key": full})


def _strongest(perms: dict[str, bool]) -> str:
    for role, flag in (("admin", "admin"), ("maintain", "maintain"), ("write", "push"), ("triage", "triage")):
        if perms.get(flag):
            return role
    return "read"


def _written(env: PlanEnv, spec: TeamSpec, login: str) -> str:
    """The key a member is written with (an account id or the login)."""
    acc = spec.member_accounts.get(login.lower())
    raw = (env.manifest.data.get("teams") or {}).get(spec.account, {}).get(spec.name, {}).get("members") or {}
    return acc if acc is not None and acc in raw else login


KINDS = [Team(), TeamMember(), TeamRepo()]
