"""Collaborators and repository invitations.

Records (see LAYOUT.md): direct grants live in ``repo["collaborators"]`` as
``{login_lower: role}``; pending invitations are rows of the ``invitations`` table,
``{id, repo_id, invitee, inviter, role, created_at}``. An invitation grants nothing until the
invitee accepts it (``World.role`` reads ``repo["collaborators"]`` only).

Behaviours modelled on github.com:

* Who counts as a collaborator: the owner of a user-owned repository, the admins of the
  owning organization, its members when the organization's base permission is not ``none``,
  and every direct grant. ``affiliation=direct`` lists direct grants (and the owner of a
  user-owned repository), ``outside`` the direct grants of users who are not members of the
  owning organization, ``all`` everyone.
* Listing or checking collaborators needs push access; inviting, changing or cancelling
  invitations needs admin; anyone may remove themselves.
* ``PUT .../collaborators/{u}`` answers 201 with a new (or the still-pending) invitation for an
  outsider, and 204 for an existing collaborator (whose role it updates when ``permission`` is
  given) or a member of the owning organization (added directly, no invitation).
* Invitations expire after 7 days (``expired: true``); an expired invitation stays listed on the
  repository side, disappears from the invitee's list and can no longer be accepted.
* ``DELETE .../collaborators/{u}`` removes the direct grant and cancels the invitations ``u``
  sent for this repository (as GitHub documents). It does *not* cancel a pending invitation
  *to* ``u``: cancel that with ``DELETE .../invitations/{id}``, which works on github.com
  whatever it does there.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

from ..errors import ROLE_ORDER, ApiError, not_found, role_at_least, validation_failed
from ..http import Ctx, Reply, empty, json_reply
from ..routing import route
from ..shapes import repository, simple_user, web_root
from ..world import PERMISSION_TO_ROLE, node_id

#: how long a repository invitation stays acceptable
INVITATION_TTL = 7 * 24 * 3600

#: role name -> the legacy admin|write|read|none vocabulary of the permission-level endpoint
LEGACY_PERMISSION = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}

#: the ``permission`` query filter of the list endpoint (collaborator PUT vocabulary)
LIST_PERMISSION_FILTER = {"pull": "read", "triage": "triage", "push": "write", "maintain": "maintain", "admin": "admin"}

AFFILIATIONS = ("outside", "direct", "all")

PUSH_TO_LIST = "Must have push access to view repository collaborators."
PUSH_TO_PERMISSION = "Must have push access to view collaborator permission."


# -- shapes ---------------------------------------------------------------------------------
def collaborator(ctx: Ctx, user: dict, role: str | None) -> dict[str, Any]:
    out = simple_user(ctx, user)
    out["permissions"] = ctx.world.permissions_object(role)
    out["role_name"] = role or "none"
    return out


def _ts(iso_value: str) -> float:
    return float(calendar.timegm(time.strptime(iso_value, "%Y-%m-%dT%H:%M:%SZ")))


def is_expired(ctx: Ctx, inv: dict) -> bool:
    return ctx.world.now() >= _ts(inv["created_at"]) + INVITATION_TTL


def invitation(ctx: Ctx, inv: dict, repo: dict) -> dict[str, Any]:
    world = ctx.world
    invitee = world.find_user(inv["invitee"])
    inviter = world.find_user(inv["inviter"])
    return {
        "id": inv["id"],
        "node_id": node_id("RepositoryInvitation", inv["id"]),
        "repository": repository(ctx, repo, level="minimal"),
        "invitee": simple_user(ctx, invitee) if invitee else None,
        "inviter": simple_user(ctx, inviter) if inviter else None,
        "permissions": inv["role"],
        "created_at": inv["created_at"],
        "expired": is_expired(ctx, inv),
        "url": ctx.url(f"/user/repository_invitations/{inv['id']}"),
        "html_url": f"{web_root(ctx)}/{repo['owner']}/{repo['name']}/invitations",
    }


# -- who has access -------------------------------------------------------------------------
def _grants(ctx: Ctx, repo: dict) -> dict[str, dict[str, Any]]:
    """Everyone GitHub lists as a collaborator of ``repo``, by lower-case login:
    ``{user, role, direct, outside}``. ``role`` is the highest role from every source."""
    world = ctx.world
    owner = world.find_user(repo["owner"]) or {"login": repo["owner"], "type": "User"}
    is_org = owner["type"] == "Organization"
    members: dict[str, str] = owner.get("members", {}) if is_org else {}
    base = owner.get("default_repository_permission", "read") if is_org else "none"
    found: dict[str, dict[str, Any]] = {}

    def add(login: str, *, direct: bool) -> None:
        user = world.find_user(login)
        if user is None:
            return
        low = user["login"].lower()
        entry = found.setdefault(low, {"user": user, "direct": False, "outside": False})
        if direct:
            entry["direct"] = True
            entry["outside"] = low not in members and low != repo["owner"].lower()

    if not is_org:
        add(owner["login"], direct=True)
    for login, mrole in members.items():
        if mrole == "admin" or base != "none":
            add(login, direct=False)
    for login in repo.get("collaborators", {}):
        add(login, direct=True)
    for entry in found.values():
        entry["role"] = world.role(entry["user"]["login"], repo)
    return found


def _repo_for_viewing_collaborators(ctx: Ctx, message: str) -> dict:
    ctx.require_auth()
    repo = ctx.repo("read")
    if not role_at_least(ctx.world.role(ctx.login, repo, ctx.scopes), "write"):
        raise ApiError(403, message)
    return repo


def _invitation_of_repo(ctx: Ctx, repo: dict) -> dict:
    inv = ctx.world.store.get("invitations", str(ctx.params["invitation_id"]))
    if inv is None or inv["repo_id"] != repo["id"]:
        raise not_found()
    return inv


def _pending_for(ctx: Ctx, repo: dict, login: str) -> dict | None:
    low = login.lower()
    for inv in ctx.world.store.values("invitations"):
        if inv["repo_id"] == repo["id"] and inv["invitee"].lower() == low:
            return inv
    return None


# -- collaborators ----------------------------------------------------------------------------
@route("GET", "/repos/{owner}/{repo}/collaborators", "repos/list-collaborators", scopes=("repo",))
def list_collaborators(ctx: Ctx) -> Reply:
    repo = _repo_for_viewing_collaborators(ctx, PUSH_TO_LIST)
    affiliation = ctx.query.get("affiliation", "all")
    if affiliation not in AFFILIATIONS:
        raise validation_failed("Collaborator", "affiliation", "invalid", f"affiliation must be one of: {', '.join(AFFILIATIONS)}")
    wanted = None
    if "permission" in ctx.query:
        wanted = LIST_PERMISSION_FILTER.get(ctx.query["permission"])
        if wanted is None:
            raise validation_failed(
                "Collaborator", "permission", "invalid", f"permission must be one of: {', '.join(LIST_PERMISSION_FILTER)}"
            )
    rows = []
    for entry in sorted(_grants(ctx, repo).values(), key=lambda e: e["user"]["id"]):
        if affiliation == "direct" and not entry["direct"]:
            continue
        if affiliation == "outside" and not entry["outside"]:
            continue
        if wanted is not None and not role_at_least(entry["role"], wanted):
            continue
        rows.append(collaborator(ctx, entry["user"], entry["role"]))
    return ctx.paginate(rows)


@route("GET", "/repos/{owner}/{repo}/collaborators/{username}", "repos/check-collaborator", scopes=("repo",))
def check_collaborator(ctx: Ctx) -> Reply:
    repo = _repo_for_viewing_collaborators(ctx, PUSH_TO_LIST)
    if ctx.params["username"].lower() in _grants(ctx, repo):
        return empty()
    raise not_found()


@route(
    "PUT",
    "/repos/{owner}/{repo}/collaborators/{username}",
    "repos/add-collaborator",
    content=True,
    scopes=("repo", "public_repo"),
)
def add_collaborator(ctx: Ctx) -> Reply:
    me = ctx.require_auth()
    repo = ctx.repo("admin")
    world = ctx.world
    body = ctx.body or {}
    requested = body.get("permission")
    role: str | None = None
    if requested is not None:
        role = PERMISSION_TO_ROLE.get(requested)
        if role is None:
            raise validation_failed(
                "Repository", "permission", "invalid",
                f"{requested!r} is not a valid permission: use pull, triage, push, maintain or admin",
            )
    target = world.find_user(ctx.params["username"])
    if target is None:
        raise validation_failed("Repository", "collaborator", "invalid", f"{ctx.params['username']} is not a user")
    if target["type"] != "User":
        raise validation_failed("Repository", "collaborator", "invalid", f"{target['login']} is an organization")
    low = target["login"].lower()
    if low == repo["owner"].lower():
        raise validation_failed("Repository", "collaborator", "custom", "Repository owner cannot be a collaborator")
    collabs = repo.setdefault("collaborators", {})

    if low in collabs:  # an existing direct collaborator: maybe a new role, never an invitation
        if role is not None and collabs[low] != role:
            collabs[low] = role
            world.save("repos", repo["id"], repo)
        return empty()

    owner = world.find_user(repo["owner"]) or {}
    org_role = world.org_role(owner, low)
    if org_role is not None:  # organization members are added directly
        if org_role == "admin":
            return empty()
        give = role or "write"
        base = owner.get("default_repository_permission", "read")
        if base in ROLE_ORDER and not role_at_least(give, base):
            raise ApiError(422, f"Cannot assign {target['login']} permission of {give}")
        collabs[low] = give
        world.save("repos", repo["id"], repo)
        return empty()

    pending = _pending_for(ctx, repo, low)
    if pending is not None and is_expired(ctx, pending):
        world.store.delete("invitations", pending["id"])
        pending = None
    if pending is not None:  # inviting again returns the open invitation
        if role is not None and pending["role"] != role:
            pending["role"] = role
            world.save("invitations", pending["id"], pending)
        return _invitation_created(ctx, pending, repo)
    inv = {
        "id": world.next_id("invitations", 1),
        "repo_id": repo["id"],
        "invitee": target["login"],
        "inviter": me["login"],
        "role": role or "write",
        "created_at": world.now_iso(),
    }
    world.save("invitations", inv["id"], inv)
    return _invitation_created(ctx, inv, repo)


def _invitation_created(ctx: Ctx, inv: dict, repo: dict) -> Reply:
    """201 with the invitation, and ``Location`` naming it (github.com sends one on every 201)."""
    body = invitation(ctx, inv, repo)
    return json_reply(body, status=201, headers={"Location": body["url"]})


@route(
    "DELETE",
    "/repos/{owner}/{repo}/collaborators/{username}",
    "repos/remove-collaborator",
    scopes=("repo", "public_repo"),
)
def remove_collaborator(ctx: Ctx) -> Reply:
    me = ctx.require_auth()
    world = ctx.world
    target_name = ctx.params["username"]
    himself = target_name.lower() == me["login"].lower()
    repo = ctx.repo("read" if himself else "admin")
    target = world.find_user(target_name)
    if target is None:
        raise not_found()
    low = target["login"].lower()
    if low == repo["owner"].lower():
        raise validation_failed("Repository", "collaborator", "custom", "Repository owner cannot be removed as a collaborator")
    changed = repo.get("collaborators", {}).pop(low, None) is not None
    for inv in list(world.store.values("invitations")):
        if inv["repo_id"] == repo["id"] and inv["inviter"].lower() == low:
            world.store.delete("invitations", inv["id"])
    if changed:
        world.save("repos", repo["id"], repo)
    return empty()


@route(
    "GET",
    "/repos/{owner}/{repo}/collaborators/{username}/permission",
    "repos/get-collaborator-permission-level",
    scopes=("repo",),
)
def permission_level(ctx: Ctx) -> Reply:
    repo = _repo_for_viewing_collaborators(ctx, PUSH_TO_PERMISSION)
    target = ctx.world.find_user(ctx.params["username"])
    if target is None:
        raise not_found()
    role = ctx.world.role(target["login"], repo) if target["type"] == "User" else None
    return json_reply(
        {
            "permission": LEGACY_PERMISSION.get(role or "", "none"),
            "role_name": role or "none",
            "user": collaborator(ctx, target, role),
        }
    )


# -- invitations: the repository's side ---------------------------------------------------------
@route("GET", "/repos/{owner}/{repo}/invitations", "repos/list-invitations", scopes=("repo", "public_repo"))
def list_invitations(ctx: Ctx) -> Reply:
    ctx.require_auth()
    repo = ctx.repo("admin")
    invs = sorted((i for i in ctx.world.store.values("invitations") if i["repo_id"] == repo["id"]), key=lambda i: i["id"])
    return ctx.paginate([invitation(ctx, i, repo) for i in invs])


@route(
    "PATCH",
    "/repos/{owner}/{repo}/invitations/{invitation_id:int}",
    "repos/update-invitation",
    scopes=("repo", "public_repo"),
)
def update_invitation(ctx: Ctx) -> Reply:
    ctx.require_auth()
    repo = ctx.repo("admin")
    inv = _invitation_of_repo(ctx, repo)
    new = (ctx.body or {}).get("permissions")
    if new is not None and new != inv["role"]:
        inv["role"] = PERMISSION_TO_ROLE[new]
        ctx.world.save("invitations", inv["id"], inv)
    return json_reply(invitation(ctx, inv, repo))


@route(
    "DELETE",
    "/repos/{owner}/{repo}/invitations/{invitation_id:int}",
    "repos/delete-invitation",
    scopes=("repo", "public_repo"),
)
def delete_invitation(ctx: Ctx) -> Reply:
    ctx.require_auth()
    repo = ctx.repo("admin")
    inv = _invitation_of_repo(ctx, repo)
    ctx.world.store.delete("invitations", inv["id"])
    return empty()


# -- invitations: the invitee's side ------------------------------------------------------------
def _my_invitation(ctx: Ctx) -> tuple[dict, dict]:
    """The caller's own, still acceptable invitation ``{invitation_id}`` and its repository."""
    user = ctx.require_auth()
    inv = ctx.world.store.get("invitations", str(ctx.params["invitation_id"]))
    if inv is None or inv["invitee"].lower() != user["login"].lower() or is_expired(ctx, inv):
        raise not_found()
    repo = ctx.world.repo_by_id(inv["repo_id"])
    if repo is None:
        raise not_found()
    return inv, repo


@route(
    "GET",
    "/user/repository_invitations",
    "repos/list-invitations-for-authenticated-user",
    scopes=("repo", "repo:invite"),
)
def list_my_invitations(ctx: Ctx) -> Reply:
    user = ctx.require_auth()
    low = user["login"].lower()
    # the user's invitations first, then only the requested page is rendered: a listing costs
    # one pass over the table plus one page, not every invitation rendered for every page
    mine = sorted(
        (inv for inv in ctx.world.store.values("invitations") if inv["invitee"].lower() == low),
        key=lambda i: i["id"],
    )
    rows = [(inv, repo) for inv in mine if not is_expired(ctx, inv) and (repo := ctx.world.repo_by_id(inv["repo_id"])) is not None]
    reply = ctx.paginate(rows)
    reply.body = [invitation(ctx, inv, repo) for inv, repo in reply.body]
    return reply


@route(
    "PATCH",
    "/user/repository_invitations/{invitation_id:int}",
    "repos/accept-invitation-for-authenticated-user",
    scopes=("repo", "repo:invite"),
)
def accept_invitation(ctx: Ctx) -> Reply:
    inv, repo = _my_invitation(ctx)
    world = ctx.world
    repo.setdefault("collaborators", {})[inv["invitee"].lower()] = inv["role"]
    world.store.delete("invitations", inv["id"])
    world.save("repos", repo["id"], repo)
    return empty()


@route(
    "DELETE",
    "/user/repository_invitations/{invitation_id:int}",
    "repos/decline-invitation-for-authenticated-user",
    scopes=("repo", "repo:invite"),
)
def decline_invitation(ctx: Ctx) -> Reply:
    inv, _repo = _my_invitation(ctx)
    ctx.world.store.delete("invitations", inv["id"])
    return empty()
