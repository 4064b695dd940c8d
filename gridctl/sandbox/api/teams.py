"""Teams of organizations: the teams themselves, their members and their repositories (group
``teams``).

Operations (REST reference "Teams", https://docs.github.com/en/rest/teams/teams, ".../members",
".../teams#...repositories"): ``GET``/``POST /orgs/{org}/teams``, ``GET``/``PATCH``/``DELETE
/orgs/{org}/teams/{team_slug}``, ``GET .../members``, ``GET``/``PUT``/``DELETE
.../memberships/{username}``, ``GET .../repos`` and ``PUT``/``DELETE .../repos/{owner}/{repo}``.

Layouts (see LAYOUT.md): table ``teams`` key id ``{id, org, name, slug, description, privacy,
notification_setting, parent_id, members: {login_lower: member|maintainer}, created_at,
updated_at}``; a team's access to a repository lives on the repository,
``repo["teams"] = {str(team_id): role}`` (role names as for collaborators), so
:meth:`~gridctl.sandbox.world.World.role` finds it; a pending team membership of someone who is not
yet a member of the organization rides on the organization invitation: table ``org_invitations``
key id ``{id, org, invitee (login or None), email, inviter, role: admin|direct_member, team_roles:
{str(team_id): member|maintainer}, created_at}``, kept here with the team records and served by
:mod:`.org_members`.

GitHub's rules reproduced here:

* the slug is the name with special characters replaced, lower case, spaces as ``-``, and names
  are unique in an organization (422 otherwise; "Get a team by name");
* visibility: an organization owner sees every team; another member sees the ``closed`` (visible)
  teams and the ``secret`` ones it belongs to; nobody else sees any (404 for one team; 403 for
  the list) ("About teams", https://docs.github.com/en/organizations/organizing-members-into-teams/about-teams);
* a new team is ``secret`` unless it has a parent, then ``closed``; a team with a parent or with
  children cannot be ``secret`` ("Secret teams cannot be nested", the same page; 422). The
  creator becomes a maintainer ("Create a team": "When you create a new team, you automatically
  become a team maintainer");
* writes need an organization owner or a maintainer of the team (members may create teams);
  deleting a parent deletes its children ("Delete a team"); a team's repository access goes to the
  members of its child teams too ("Child teams inherit the access permissions of the parent
  team", "About teams");
* adding someone who is not a member of the organization to a team sends them an invitation to the
  organization; the team membership is ``pending`` until they accept ("Add or update team
  membership for a user": "If the user ... is not a member of the team's organization ... an
  email invitation ... membership state pending"). A repository must belong to the team's
  organization (422).
"""

from __future__ import annotations

import calendar
import time
from typing import Any

from ...util.text import team_slug
from ..errors import ApiError, not_found, validation_failed
from ..http import Ctx, Reply, empty, json_reply
from ..routing import route
from ..shapes import organization, repository, simple_user, web_root
from ..world import PERMISSION_TO_ROLE, node_id

TEAMS = "teams"
INVITATIONS = "org_invitations"
#: how long an organization invitation stays acceptable
INVITATION_TTL = 7 * 24 * 3600
_TEAM = "/orgs/{org}/teams/{team_slug}"
_READ = ("read:org", "write:org", "admin:org")
_WRITE = ("admin:org", "write:org")
#: the deepest chain of parents the sandbox accepts
MAX_DEPTH = 16


# -- records ---------------------------------------------------------------------------------------
def teams_of(world: Any, org: dict) -> list[dict]:
    low = org["login"].lower()
    return sorted((t for t in world.store.values(TEAMS) if t["org"].lower() == low), key=lambda t: t["id"])


def team_by_slug(world: Any, org: dict, slug: str) -> dict | None:
    low = slug.lower()
    return next((t for t in teams_of(world, org) if t["slug"] == low), None)


def team_by_id(world: Any, ident: Any) -> dict | None:
    try:
        found: dict | None = world.store.get(TEAMS, str(int(ident)))
        return found
    except (TypeError, ValueError):
        return None


def children(world: Any, team: dict) -> list[dict]:
    return [t for t in world.store.values(TEAMS) if t.get("parent_id") == team["id"]]


def ancestors(world: Any, team: dict) -> list[dict]:
    """``team``'s parent, its parent's parent..., nearest first."""
    out: list[dict] = []
    cur = team
    for _ in range(MAX_DEPTH):
        parent = team_by_id(world, cur.get("parent_id")) if cur.get("parent_id") else None
        if parent is None:
            break
        out.append(parent)
        cur = parent
    return out


def drop_member(world: Any, org: dict, login: str) -> None:
    """Someone leaving ``org`` leaves its teams."""
    for team in teams_of(world, org):
        if team["members"].pop(login.lower(), None) is not None:
            world.save(TEAMS, team["id"], team)


def add_member(world: Any, team: dict, login: str, role: str) -> None:
    team["members"][login.lower()] = role
    team["updated_at"] = world.now_iso()
    world.save(TEAMS, team["id"], team)


# -- organization invitations (records; routes in org_members) ---------------------------------------------------------------------------------------
def _expired(ctx: Ctx, inv: dict) -> bool:
    created = float(calendar.timegm(time.strptime(inv["created_at"], "%Y-%m-%dT%H:%M:%SZ")))
    return ctx.world.now() >= created + INVITATION_TTL


def pending(ctx: Ctx, org: dict) -> list[dict]:
    low = org["login"].lower()
    return sorted(
        (i for i in ctx.world.store.values(INVITATIONS) if i["org"].lower() == low and not _expired(ctx, i)),
        key=lambda i: i["id"],
    )


def invitation_of(ctx: Ctx, org: dict, login: str) -> dict | None:
    low = login.lower()
    return next((i for i in pending(ctx, org) if str(i.get("invitee") or "").lower() == low), None)


def invite(ctx: Ctx, org: dict, user: dict | None, role: str, email: str | None = None) -> dict:
    """The pending invitation of ``user`` (or ``email``) to ``org``, created when there is none."""
    world = ctx.world
    if user is not None:
        found = invitation_of(ctx, org, user["login"])
        if found is not None:
            if role == "admin" and found["role"] != "admin":
                found["role"] = "admin"
                world.save(INVITATIONS, found["id"], found)
            return found
    for old in list(world.store.values(INVITATIONS)):  # an expired one is replaced
        if old["org"].lower() == org["login"].lower() and user is not None and str(old.get("invitee") or "").lower() == user["login"].lower():
            world.store.delete(INVITATIONS, old["id"])
    inv = {
        "id": world.next_id(INVITATIONS, 1),
        "org": org["login"],
        "invitee": user["login"] if user else None,
        "email": email if user is None else user.get("email"),
        "inviter": ctx.login,
        "role": role,
        "team_roles": {},
        "created_at": world.now_iso(),
    }
    return world.save(INVITATIONS, inv["id"], inv)


# -- shapes ------------------------------------------------------------------------------------------
def _urls(ctx: Ctx, team: dict) -> dict[str, Any]:
    api = ctx.url(f"/organizations/{_org_id(ctx, team)}/team/{team['id']}")
    return {
        "id": team["id"],
        "node_id": node_id("Team", team["id"]),
        "url": api,
        "html_url": f"{web_root(ctx)}/orgs/{team['org']}/teams/{team['slug']}",
        "name": team["name"],
        "slug": team["slug"],
        "description": team.get("description"),
        "privacy": team["privacy"],
        "notification_setting": team["notification_setting"],
        "permission": "pull",
        "members_url": api + "/members{/member}",
        "repositories_url": api + "/repos",
        "type": "organization",
        "organization_id": _org_id(ctx, team),
    }


def _org_id(ctx: Ctx, team: dict) -> int:
    org = ctx.world.find_user(team["org"])
    return int(org["id"]) if org else 0


def team_simple(ctx: Ctx, team: dict) -> dict[str, Any]:
    return _urls(ctx, team)


def team_listed(ctx: Ctx, team: dict) -> dict[str, Any]:
    """A team as the list of an organization's teams shows it (with its parent)."""
    out = _urls(ctx, team)
    parent = team_by_id(ctx.world, team.get("parent_id")) if team.get("parent_id") else None
    out["parent"] = team_simple(ctx, parent) if parent else None
    return out


def team_full(ctx: Ctx, team: dict) -> dict[str, Any]:
    out = team_listed(ctx, team)
    org = ctx.world.find_user(team["org"]) or {}
    repos = [r for r in ctx.world.repos_of(team["org"]) if str(team["id"]) in r.get("teams", {})]
    out.update(
        {
            "members_count": len(team["members"]),
            "repos_count": len(repos),
            "created_at": team["created_at"],
            "updated_at": team["updated_at"],
            # the public organization fields, with is_verified (false: the sandbox verifies no
            # domain); an owner's fields (plan, billing email...) only come from GET /orgs/{org}
            "organization": {**organization(ctx, org), "is_verified": False},
        }
    )
    return out


# -- who may do what -----------------------------------------------------------------------------------
def _org_member(ctx: Ctx) -> tuple[dict, str]:
    """The organization and the caller's role in it; 403 for a caller who is not a member."""
    ctx.require_auth()
    org = ctx.org()
    role = ctx.world.org_role(org, ctx.login)
    if role is None:
        raise ApiError(403, f"You must be a member of {org['login']} to see its teams.")
    return org, role


def can_see(world: Any, org: dict, team: dict, login: str | None) -> bool:
    role = world.org_role(org, login)
    if role == "admin":
        return True
    if role is None or login is None:
        return False
    return team["privacy"] == "closed" or login.lower() in team["members"]


def _team(ctx: Ctx, *, manage: bool = False) -> tuple[dict, dict]:
    """The visible team ``{team_slug}`` (404 otherwise); ``manage`` also requires an organization
    owner or a maintainer of the team (403)."""
    ctx.require_auth()
    org = ctx.org()
    team = team_by_slug(ctx.world, org, ctx.params["team_slug"])
    if team is None or not can_see(ctx.world, org, team, ctx.login):
        raise not_found()
    if manage and not _manager(ctx, org, team):
        raise ApiError(403, "You must be an organization owner or a team maintainer to do this.")
    return org, team


def _manager(ctx: Ctx, org: dict, team: dict) -> bool:
    if ctx.world.org_role(org, ctx.login) == "admin":
        return True
    return bool(ctx.login) and team["members"].get(str(ctx.login).lower()) == "maintainer"


def _parent_from(ctx: Ctx, org: dict, body: dict) -> tuple[bool, dict | None]:
    """(given, parent) from ``parent_team_id`` / ``parent_team_slug`` (null: no parent)."""
    if "parent_team_id" in body:
        ident = body["parent_team_id"]
        if ident is None:
            return True, None
        parent = team_by_id(ctx.world, ident)
    elif "parent_team_slug" in body:
        slug = body["parent_team_slug"]
        if slug is None:
            return True, None
        parent = team_by_slug(ctx.world, org, str(slug))
    else:
        return False, None
    if parent is None or parent["org"].lower() != org["login"].lower():
        raise validation_failed("Team", "parent_team_id", "invalid", "Parent team does not exist in this organization")
    return True, parent


def _check_nesting(ctx: Ctx, team: dict | None, privacy: str, parent: dict | None) -> None:
    if parent is not None and privacy == "secret":
        raise validation_failed("Team", "privacy", "invalid", "A team with a parent team cannot be secret")
    if parent is not None and parent["privacy"] == "secret":
        raise validation_failed("Team", "parent_team_id", "invalid", "A secret team cannot be a parent team")
    if team is not None and privacy == "secret" and children(ctx.world, team):
        raise validation_failed("Team", "privacy", "invalid", "A team with child teams cannot be secret")
    if team is not None and parent is not None:
        chain = [parent, *ancestors(ctx.world, parent)]
        if any(t["id"] == team["id"] for t in chain):
            raise validation_failed("Team", "parent_team_id", "invalid", "A team cannot be its own ancestor")
    if parent is not None and len(ancestors(ctx.world, parent)) + 2 > MAX_DEPTH:
        raise validation_failed("Team", "parent_team_id", "invalid", f"Teams nest at most {MAX_DEPTH} deep")


def _unique_name(ctx: Ctx, org: dict, name: str, team: dict | None) -> str:
    slug = team_slug(name)
    if not slug:
        raise validation_failed("Team", "name", "invalid", "Name must contain a letter or a digit")
    other = team_by_slug(ctx.world, org, slug)
    if other is not None and (team is None or other["id"] != team["id"]):
        raise validation_failed("Team", "name", "already_exists", "Name must be unique for this org")
    return slug


# -- teams -----------------------------------------------------------------------------------------------
@route("GET", "/orgs/{org}/teams", "teams/list", scopes=_READ)
def list_teams(ctx: Ctx) -> Reply:
    org, _role = _org_member(ctx)
    rows = [team_listed(ctx, t) for t in teams_of(ctx.world, org) if can_see(ctx.world, org, t, ctx.login)]
    return ctx.paginate(rows)


@route("POST", "/orgs/{org}/teams", "teams/create", content=True, scopes=_WRITE)
def create_team(ctx: Ctx) -> Reply:
    org, _role = _org_member(ctx)
    world = ctx.world
    body = ctx.body or {}
    name = str(body.get("name") or "")
    slug = _unique_name(ctx, org, name, None)
    _given, parent = _parent_from(ctx, org, body)
    privacy = body.get("privacy") or ("closed" if parent is not None else "secret")
    _check_nesting(ctx, None, privacy, parent)
    maintainers = [str(m) for m in body.get("maintainers") or []]
    for login in maintainers:
        if world.org_role(org, login) is None:
            raise validation_failed("Team", "maintainers", "invalid", f"{login} is not a member of {org['login']}")
    repos = []
    for full in body.get("repo_names") or []:
        owner, _, name_ = str(full).partition("/")
        repo = world.find_repo(owner, name_) if name_ else world.find_repo(org["login"], owner)
        if repo is None or repo["owner"].lower() != org["login"].lower():
            raise validation_failed("Team", "repo_names", "invalid", f"{full} is not a repository of {org['login']}")
        repos.append(repo)
    now = world.now_iso()
    team: dict[str, Any] = {
        "id": world.next_id(TEAMS, 1),
        "org": org["login"],
        "name": name,
        "slug": slug,
        "description": body.get("description"),
        "privacy": privacy,
        "notification_setting": body.get("notification_setting") or "notifications_enabled",
        "parent_id": parent["id"] if parent else None,
        "members": {str(ctx.login).lower(): "maintainer", **{m.lower(): "maintainer" for m in maintainers}},
        "created_at": now,
        "updated_at": now,
    }
    world.save(TEAMS, team["id"], team)
    role = PERMISSION_TO_ROLE.get(str(body.get("permission") or "pull"), "read")
    for repo in repos:
        repo.setdefault("teams", {})[str(team["id"])] = role
        world.save("repos", repo["id"], repo)
    return json_reply(team_full(ctx, team), status=201)


@route("GET", _TEAM, "teams/get-by-name", scopes=_READ)
def get_team(ctx: Ctx) -> Reply:
    _org, team = _team(ctx)
    return json_reply(team_full(ctx, team))


@route("PATCH", _TEAM, "teams/update-in-org", scopes=_WRITE)
def update_team(ctx: Ctx) -> Reply:
    org, team = _team(ctx, manage=True)
    world = ctx.world
    body = ctx.body or {}
    if "name" in body and body["name"] is not None:
        team["slug"] = _unique_name(ctx, org, str(body["name"]), team)
        team["name"] = str(body["name"])
    given, parent = _parent_from(ctx, org, body)
    if not given:
        parent = team_by_id(world, team["parent_id"]) if team.get("parent_id") else None
    privacy = body.get("privacy") or team["privacy"]
    if given and parent is not None and "privacy" not in body and privacy == "secret":
        privacy = "closed"  # nesting a secret team makes it visible, as the web page does
    _check_nesting(ctx, team, privacy, parent)
    team["privacy"] = privacy
    team["parent_id"] = parent["id"] if parent else None
    for key in ("description", "notification_setting"):
        if key in body:
            team[key] = body[key]
    team["updated_at"] = world.now_iso()
    world.save(TEAMS, team["id"], team)
    return json_reply(team_full(ctx, team))


@route("DELETE", _TEAM, "teams/delete-in-org", scopes=_WRITE)
def delete_team(ctx: Ctx) -> Reply:
    _org, team = _team(ctx, manage=True)
    _delete(ctx.world, team)
    return empty()


def _delete(world: Any, team: dict) -> None:
    for child in children(world, team):
        _delete(world, child)
    world.store.delete(TEAMS, team["id"])
    key = str(team["id"])
    for repo in world.repos_of(team["org"]):
        if repo.get("teams", {}).pop(key, None) is not None:
            world.save("repos", repo["id"], repo)
    for inv in list(world.store.values(INVITATIONS)):
        if inv.get("team_roles", {}).pop(key, None) is not None:
            world.save(INVITATIONS, inv["id"], inv)


# -- members -------------------------------------------------------------------------------------------
def _members(world: Any, team: dict) -> list[tuple[str, str, bool]]:
    """(login_lower, role, inherited): the team's own members, then its child teams' members."""
    out = {low: (low, role, False) for low, role in team["members"].items()}
    stack = children(world, team)
    for _ in range(10_000):
        if not stack:
            break
        child = stack.pop()
        for low in child["members"]:
            out.setdefault(low, (low, "member", True))
        stack.extend(children(world, child))
    return sorted(out.values())


@route("GET", _TEAM + "/members", "teams/list-members-in-org", scopes=_READ)
def list_members(ctx: Ctx) -> Reply:
    _org, team = _team(ctx)
    wanted = ctx.query.get("role", "all")
    if wanted not in ("all", "member", "maintainer"):
        raise validation_failed("Team", "role", "invalid", "role must be one of: all, member, maintainer")
    rows = []
    users: list[tuple[dict, str, bool]] = []
    for low, role, inherited in _members(ctx.world, team):
        found = ctx.world.find_user(low)
        if found is not None:
            users.append((found, role, inherited))
    for user, role, inherited in sorted(users, key=lambda u: int(u[0]["id"])):
        if wanted != "all" and role != wanted:
            continue
        row = simple_user(ctx, user)
        row["role"] = role
        row["inherited"] = inherited
        rows.append(row)
    return ctx.paginate(rows)


def _membership(ctx: Ctx, team: dict, login: str, role: str, state: str) -> dict[str, Any]:
    return {"url": ctx.url(f"/organizations/{_org_id(ctx, team)}/team/{team['id']}/memberships/{login}"), "role": role, "state": state}


def pending_team_role(ctx: Ctx, org: dict, team: dict, login: str) -> str | None:
    """The role ``login`` will have in ``team`` once it accepts its invitation to ``org``."""
    inv = invitation_of(ctx, org, login)
    role: str | None = inv.get("team_roles", {}).get(str(team["id"])) if inv else None
    return role


@route("GET", _TEAM + "/memberships/{username}", "teams/get-membership-for-user-in-org", scopes=_READ)
def get_membership(ctx: Ctx) -> Reply:
    org, team = _team(ctx)
    user = ctx.world.find_user(ctx.params["username"])
    if user is None:
        raise not_found()
    low = user["login"].lower()
    for member, role, _inherited in _members(ctx.world, team):
        if member == low:
            return json_reply(_membership(ctx, team, user["login"], role, "active"))
    pending = pending_team_role(ctx, org, team, low)
    if pending is not None:
        return json_reply(_membership(ctx, team, user["login"], pending, "pending"))
    raise not_found()


@route("PUT", _TEAM + "/memberships/{username}", "teams/add-or-update-membership-for-user-in-org", scopes=_WRITE)
def put_membership(ctx: Ctx) -> Reply:
    org, team = _team(ctx, manage=True)
    world = ctx.world
    role = (ctx.body or {}).get("role") or "member"
    if role not in ("member", "maintainer"):
        raise validation_failed("Team", "role", "invalid", "role must be member or maintainer")
    user = world.find_user(ctx.params["username"])
    if user is None or user["type"] != "User":
        raise validation_failed("Team", "username", "invalid", f"{ctx.params['username']} is not a user")
    if world.org_role(org, user["login"]) is not None:
        add_member(world, team, user["login"], role)
        return json_reply(_membership(ctx, team, user["login"], role, "active"))
    inv = invite(ctx, org, user, "direct_member")
    inv.setdefault("team_roles", {})[str(team["id"])] = role
    world.save(INVITATIONS, inv["id"], inv)
    return json_reply(_membership(ctx, team, user["login"], role, "pending"))


@route("DELETE", _TEAM + "/memberships/{username}", "teams/remove-membership-for-user-in-org", scopes=_WRITE)
def delete_membership(ctx: Ctx) -> Reply:
    org, team = _team(ctx, manage=True)
    world = ctx.world
    low = ctx.params["username"].lower()
    if team["members"].pop(low, None) is not None:
        team["updated_at"] = world.now_iso()
        world.save(TEAMS, team["id"], team)
        return empty()
    inv = invitation_of(ctx, org, low)
    if inv is not None and inv.get("team_roles", {}).pop(str(team["id"]), None) is not None:
        world.save(INVITATIONS, inv["id"], inv)
        return empty()
    raise not_found()


# -- repositories --------------------------------------------------------------------------------------

@route("GET", _TEAM + "/repos", "teams/list-repos-in-org", scopes=(*_READ, "repo"))
def list_repos(ctx: Ctx) -> Reply:
    _org, team = _team(ctx)
    world = ctx.world
    key = str(team["id"])
    rows = []
    for repo in world.repos_of(team["org"]):
        role = repo.get("teams", {}).get(key)
        if role is None or world.role(ctx.login, repo, ctx.scopes) is None:
            continue
        row = repository(ctx, repo, level="minimal")
        row["permissions"] = world.permissions_object(role)
        row["role_name"] = role
        rows.append(row)
    return ctx.paginate(rows)


def _team_repo(ctx: Ctx) -> tuple[dict, dict, dict]:
    org, team = _team(ctx)
    repo = ctx.world.find_repo(ctx.params["owner"], ctx.params["repo"])
    if repo is None or ctx.world.role(ctx.login, repo, ctx.scopes) is None:
        raise not_found()
    return org, team, repo


@route("PUT", _TEAM + "/repos/{owner}/{repo}", "teams/add-or-update-repo-permissions-in-org", scopes=_WRITE)
def put_repo(ctx: Ctx) -> Reply:
    org, team, repo = _team_repo(ctx)
    world = ctx.world
    if world.role(ctx.login, repo, ctx.scopes) != "admin":
        raise ApiError(403, "You must have admin access to the repository to add it to a team.")
    if repo["owner"].lower() != org["login"].lower():
        raise validation_failed("Team", "repository", "invalid", f"{repo['owner']}/{repo['name']} is not owned by {org['login']}")
    wanted = (ctx.body or {}).get("permission") or "pull"
    role = PERMISSION_TO_ROLE.get(str(wanted))
    if role is None:
        raise validation_failed("Team", "permission", "invalid", f"{wanted!r} is not a permission: use pull, triage, push, maintain or admin")
    repo.setdefault("teams", {})[str(team["id"])] = role
    world.save("repos", repo["id"], repo)
    return empty()


@route("DELETE", _TEAM + "/repos/{owner}/{repo}", "teams/remove-repo-in-org", scopes=_WRITE)
def delete_repo(ctx: Ctx) -> Reply:
    org, team, repo = _team_repo(ctx)
    world = ctx.world
    if not _manager(ctx, org, team) and world.role(ctx.login, repo, ctx.scopes) != "admin":
        raise ApiError(403, "You must be an organization owner, a team maintainer or a repository admin to do this.")
    if repo.get("teams", {}).pop(str(team["id"]), None) is None:
        raise not_found()
    world.save("repos", repo["id"], repo)
    return empty()


# -- the same operations by id ----------------------------------------------------------------------
def _by_id(fn: Any) -> Any:
    """``fn`` served under ``/organizations/{org_id}/team/{team_id}...``, the route each operation
    documents as an alternative ("You can also specify a team by org_id and team_id") and the
    ``url`` a team carries, which PyGithub follows."""

    def handler(ctx: Ctx) -> Reply:
        org = ctx.world.user_by_id(int(ctx.params.pop("org_id")))
        team = team_by_id(ctx.world, ctx.params.pop("team_id"))
        if org is None or team is None or team["org"].lower() != org["login"].lower():
            raise not_found()
        ctx.params["org"], ctx.params["team_slug"] = org["login"], team["slug"]
        reply: Reply = fn(ctx)
        return reply

    return handler


_BY_ID = "/organizations/{org_id:int}/team/{team_id:int}"
for _method, _suffix, _op, _fn, _scopes in (
    ("GET", "", "teams/get-by-name", get_team, _READ),
    ("PATCH", "", "teams/update-in-org", update_team, _WRITE),
    ("DELETE", "", "teams/delete-in-org", delete_team, _WRITE),
    ("GET", "/members", "teams/list-members-in-org", list_members, _READ),
    ("GET", "/memberships/{username}", "teams/get-membership-for-user-in-org", get_membership, _READ),
    ("PUT", "/memberships/{username}", "teams/add-or-update-membership-for-user-in-org", put_membership, _WRITE),
    ("DELETE", "/memberships/{username}", "teams/remove-membership-for-user-in-org", delete_membership, _WRITE),
    ("GET", "/repos", "teams/list-repos-in-org", list_repos, (*_READ, "repo")),
    ("PUT", "/repos/{owner}/{repo}", "teams/add-or-update-repo-permissions-in-org", put_repo, _WRITE),
    ("DELETE", "/repos/{owner}/{repo}", "teams/remove-repo-in-org", delete_repo, _WRITE),
):
    route(_method, _BY_ID + _suffix, _op, scopes=_scopes, alias=True)(_by_id(_fn))
