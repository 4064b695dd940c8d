"""Organization membership and invitations (group ``org-members``).

Operations (REST reference "Organization members", https://docs.github.com/en/rest/orgs/members):
``GET /orgs/{org}/members``, ``GET``/``PUT``/``DELETE /orgs/{org}/memberships/{username}``,
``GET``/``POST /orgs/{org}/invitations``, ``DELETE /orgs/{org}/invitations/{invitation_id}``, and
the invitee's side ``GET /user/memberships/orgs``, ``GET``/``PATCH /user/memberships/orgs/{org}``.

Layouts (see LAYOUT.md): members are the organization record's ``members`` (``{login_lower:
admin|member}``, :meth:`~gridctl.sandbox.world.World.set_membership`); invitations are the table
``org_invitations``, whose records :mod:`.teams` keeps (a team membership of a newcomer is one).

GitHub's rules reproduced here:

* only organization owners add, change or remove members and create, list or cancel invitations
  (each operation's description; 403 for a member, 404 for one who is not in the organization);
  reading another user's membership needs to be a member ("Get organization membership for a
  user"), and the member list shows members to members only (outsiders see none: the sandbox
  keeps no public/concealed distinction);
* ``PUT .../memberships/{u}`` for someone not in the organization invites them: the membership
  is ``pending`` until they accept with their own token (``PATCH /user/memberships/orgs/{org}``
  ``{"state": "active"}``); for a member it changes the role. ``DELETE`` removes a member (and
  from every team) or cancels a pending invitation ("Remove organization membership for a user");
* an organization keeps at least one owner: demoting or removing the last one is refused (422
  here; "Organizations must have at least one owner", "Roles in an organization",
  https://docs.github.com/en/organizations/managing-peoples-access-to-your-organization-with-roles/roles-in-an-organization);
* an invitation names a user (``invitee_id``) or an ``email``; inviting a member again is a 422;
  invitations expire after 7 days and an expired one is neither listed as pending nor acceptable
  ("Inviting users to join your organization", https://docs.github.com/en/organizations/managing-membership-in-your-organization/inviting-users-to-join-your-organization).
  An email invitation of someone without an account stays pending: the sandbox cannot accept it.
"""

from __future__ import annotations

from typing import Any

from ..errors import ApiError, not_found, validation_failed
from ..http import Ctx, Reply, empty, json_reply
from ..routing import route
from ..shapes import organization, simple_user
from ..world import node_id
from .teams import INVITATIONS, add_member, drop_member, invitation_of, invite, pending, team_by_id

_WRITE = ("admin:org", "write:org")
_READ = ("read:org", "write:org", "admin:org")


def _member_role(inv: dict) -> str:
    return "admin" if inv["role"] == "admin" else "member"


# -- shapes ----------------------------------------------------------------------------------------
def invitation_shape(ctx: Ctx, inv: dict) -> dict[str, Any]:
    inviter = ctx.world.find_user(inv.get("inviter") or "")
    org = ctx.world.find_user(inv["org"]) or {"id": 0}
    return {
        "id": inv["id"],
        "node_id": node_id("OrganizationInvitation", inv["id"]),
        "login": inv.get("invitee"),
        "email": inv.get("email"),
        "role": inv["role"],
        "created_at": inv["created_at"],
        "failed_at": None,
        "failed_reason": None,
        "inviter": simple_user(ctx, inviter) if inviter else simple_user(ctx, org),
        "team_count": len(inv.get("team_roles", {})),
        "invitation_teams_url": ctx.url(f"/organizations/{org['id']}/invitations/{inv['id']}/teams"),
        "invitation_source": "member",
    }


def membership_shape(ctx: Ctx, org: dict, user: dict, role: str, state: str) -> dict[str, Any]:
    is_admin = role == "admin" and state == "active"
    return {
        "url": ctx.url(f"/orgs/{org['login']}/memberships/{user['login']}"),
        "state": state,
        "role": role,
        "organization_url": ctx.url(f"/orgs/{org['login']}"),
        "organization": organization(ctx, org, full=False),
        "user": simple_user(ctx, user),
        "permissions": {"can_create_repository": is_admin or state == "active"},
    }


# -- helpers ---------------------------------------------------------------------------------------
def _owner(ctx: Ctx) -> dict:
    """The organization, for one of its owners (403 for a member, 404 for anyone else)."""
    ctx.require_auth()
    org = ctx.org()
    role = ctx.world.org_role(org, ctx.login)
    if role is None:
        raise not_found()
    if role != "admin":
        raise ApiError(403, f"You must be an owner of {org['login']} to do this.")
    return org


def _admins(org: dict) -> list[str]:
    return [low for low, role in org.get("members", {}).items() if role == "admin"]


def _keeps_an_owner(org: dict, login: str, new_role: str | None) -> None:
    low = login.lower()
    if org.get("members", {}).get(low) == "admin" and new_role != "admin" and _admins(org) == [low]:
        raise validation_failed("Organization", "role", "invalid", "Organizations must have at least one owner")


# -- members ---------------------------------------------------------------------------------------
@route("GET", "/orgs/{org}/members", "orgs/list-members", scopes=_READ)
def list_members(ctx: Ctx) -> Reply:
    org = ctx.org()
    wanted = ctx.query.get("role", "all")
    if wanted not in ("all", "admin", "member"):
        raise validation_failed("Organization", "role", "invalid", "role must be one of: all, admin, member")
    if ctx.query.get("filter", "all") not in ("all", "2fa_disabled", "2fa_insecure"):
        raise validation_failed("Organization", "filter", "invalid", "filter must be one of: all, 2fa_disabled, 2fa_insecure")
    if ctx.world.org_role(org, ctx.login) is None:
        return ctx.paginate([])
    if ctx.query.get("filter", "all") != "all":
        return ctx.paginate([])  # every sandbox user has two-factor authentication
    users = [ctx.world.find_user(low) for low, role in org.get("members", {}).items() if wanted in ("all", role)]
    rows = [simple_user(ctx, u) for u in sorted((u for u in users if u), key=lambda u: u["id"])]
    return ctx.paginate(rows)


@route("GET", "/orgs/{org}/memberships/{username}", "orgs/get-membership-for-user")
def get_membership(ctx: Ctx) -> Reply:
    ctx.require_auth()
    org = ctx.org()
    if ctx.world.org_role(org, ctx.login) is None:
        raise ApiError(403, f"You must be a member of {org['login']} to see membership information for another user.")
    user = ctx.world.find_user(ctx.params["username"])
    if user is None:
        raise not_found()
    role = ctx.world.org_role(org, user["login"])
    if role is not None:
        return json_reply(membership_shape(ctx, org, user, role, "active"))
    inv = invitation_of(ctx, org, user["login"])
    if inv is None:
        raise not_found()
    return json_reply(membership_shape(ctx, org, user, _member_role(inv), "pending"))


@route("PUT", "/orgs/{org}/memberships/{username}", "orgs/set-membership-for-user", content=True, scopes=_WRITE)
def set_membership(ctx: Ctx) -> Reply:
    org = _owner(ctx)
    world = ctx.world
    role = (ctx.body or {}).get("role") or "member"
    if role not in ("admin", "member"):
        raise validation_failed("Organization", "role", "invalid", "role must be admin or member")
    user = world.find_user(ctx.params["username"])
    if user is None or user["type"] != "User":
        raise validation_failed("Organization", "username", "invalid", f"{ctx.params['username']} is not a user")
    if world.org_role(org, user["login"]) is not None:
        _keeps_an_owner(org, user["login"], role)
        world.set_membership(org, user["login"], role)
        return json_reply(membership_shape(ctx, org, user, role, "active"))
    inv = invite(ctx, org, user, "admin" if role == "admin" else "direct_member")
    if _member_role(inv) != role:  # a pending invitation's role follows the latest request
        inv["role"] = "admin" if role == "admin" else "direct_member"
        world.save(INVITATIONS, inv["id"], inv)
    return json_reply(membership_shape(ctx, org, user, role, "pending"))


@route("DELETE", "/orgs/{org}/memberships/{username}", "orgs/remove-membership-for-user", scopes=_WRITE)
def remove_membership(ctx: Ctx) -> Reply:
    org = _owner(ctx)
    world = ctx.world
    user = world.find_user(ctx.params["username"])
    if user is None:
        raise not_found()
    if world.org_role(org, user["login"]) is not None:
        _keeps_an_owner(org, user["login"], None)
        world.set_membership(org, user["login"], None)
        drop_member(world, org, user["login"])
        return empty()
    inv = invitation_of(ctx, org, user["login"])
    if inv is None:
        raise not_found()
    world.store.delete(INVITATIONS, inv["id"])
    return empty()


# -- invitations -----------------------------------------------------------------------------------
@route("GET", "/orgs/{org}/invitations", "orgs/list-pending-invitations", scopes=_WRITE)
def list_invitations(ctx: Ctx) -> Reply:
    org = _owner(ctx)
    wanted = ctx.query.get("role", "all")
    rows = [invitation_shape(ctx, i) for i in pending(ctx, org) if wanted in ("all", i["role"])]
    return ctx.paginate(rows)


@route("POST", "/orgs/{org}/invitations", "orgs/create-invitation", content=True, scopes=_WRITE)
def create_invitation(ctx: Ctx) -> Reply:
    org = _owner(ctx)
    world = ctx.world
    body = ctx.body or {}
    role = body.get("role") or "direct_member"
    if role not in ("admin", "direct_member"):
        raise validation_failed("OrganizationInvitation", "role", "invalid", "the sandbox invites as admin or direct_member")
    user = None
    email = body.get("email")
    if body.get("invitee_id") is not None:
        user = world.user_by_id(int(body["invitee_id"]))
        if user is None or user["type"] != "User":
            raise validation_failed("OrganizationInvitation", "invitee_id", "invalid", "invitee_id is not a user")
        if world.org_role(org, user["login"]) is not None:
            raise validation_failed("OrganizationInvitation", "invitee_id", "already_exists", f"{user['login']} is already a member of {org['login']}")
    elif not email or "@" not in str(email):
        raise validation_failed("OrganizationInvitation", "invitee_id", "missing_field", "invitee_id or email is required")
    teams = []
    for ident in body.get("team_ids") or []:
        team = team_by_id(world, ident)
        if team is None or team["org"].lower() != org["login"].lower():
            raise validation_failed("OrganizationInvitation", "team_ids", "invalid", f"team {ident} is not a team of {org['login']}")
        teams.append(team)
    inv = invite(ctx, org, user, role, email)
    for team in teams:
        inv.setdefault("team_roles", {}).setdefault(str(team["id"]), "member")
    world.save(INVITATIONS, inv["id"], inv)
    return json_reply(invitation_shape(ctx, inv), status=201)


@route("DELETE", "/orgs/{org}/invitations/{invitation_id:int}", "orgs/cancel-invitation", scopes=_WRITE)
def cancel_invitation(ctx: Ctx) -> Reply:
    org = _owner(ctx)
    inv = ctx.world.store.get(INVITATIONS, str(ctx.params["invitation_id"]))
    if inv is None or inv["org"].lower() != org["login"].lower():
        raise not_found()
    ctx.world.store.delete(INVITATIONS, inv["id"])
    return empty()


# -- the invitee's side ------------------------------------------------------------------------------
def _mine(ctx: Ctx, org: dict, user: dict) -> Reply | None:
    role = ctx.world.org_role(org, user["login"])
    if role is not None:
        return json_reply(membership_shape(ctx, org, user, role, "active"))
    inv = invitation_of(ctx, org, user["login"])
    if inv is not None:
        return json_reply(membership_shape(ctx, org, user, _member_role(inv), "pending"))
    return None


@route("GET", "/user/memberships/orgs", "orgs/list-memberships-for-authenticated-user", scopes=_READ)
def list_my_memberships(ctx: Ctx) -> Reply:
    user = ctx.require_auth()
    state = ctx.query.get("state")
    if state not in (None, "active", "pending"):
        raise validation_failed("Membership", "state", "invalid", "state must be active or pending")
    rows = []
    for org in sorted((u for u in ctx.world.store.values("users") if u["type"] == "Organization"), key=lambda o: o["id"]):
        reply = _mine(ctx, org, user)
        if reply is not None and state in (None, reply.body["state"]):
            rows.append(reply.body)
    return ctx.paginate(rows)


@route("GET", "/user/memberships/orgs/{org}", "orgs/get-membership-for-authenticated-user", scopes=_READ)
def get_my_membership(ctx: Ctx) -> Reply:
    user = ctx.require_auth()
    reply = _mine(ctx, ctx.org(), user)
    if reply is None:
        raise not_found()
    return reply


@route("PATCH", "/user/memberships/orgs/{org}", "orgs/update-membership-for-authenticated-user", scopes=_WRITE)
def accept(ctx: Ctx) -> Reply:
    user = ctx.require_auth()
    org = ctx.org()
    world = ctx.world
    if (ctx.body or {}).get("state") != "active":
        raise validation_failed("Membership", "state", "invalid", "state must be active")
    if world.org_role(org, user["login"]) is None:
        inv = invitation_of(ctx, org, user["login"])
        if inv is None:
            raise not_found()
        world.set_membership(org, user["login"], _member_role(inv))
        for ident, role in inv.get("team_roles", {}).items():
            team = team_by_id(world, ident)
            if team is not None:
                add_member(world, team, user["login"], role)
        world.store.delete(INVITATIONS, inv["id"])
    reply = _mine(ctx, org, user)
    assert reply is not None
    return reply
