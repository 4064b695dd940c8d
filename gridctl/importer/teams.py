"""``gridctl import`` for an organization's members and teams: ``org_members`` and ``teams``.

Read with the kinds' own ``live`` (``org-member``, ``team``, ``team-member``, ``team-repo``), so
what is written is normalized exactly as ``gridctl plan`` compares it: active members with their
role (pending invitations are not members yet and are left out), each team with its name,
description, privacy, parent (by name) and notification setting (only when disabled, GitHub's
default being enabled), its own members (not those inherited from child teams) and its
repositories with their permission.
"""

from __future__ import annotations

from typing import Any

from ..github.reader import Reader
from ..resources import KINDS
from ..resources.base import Scope
from ..resources.org_member import _members


def read_teams(reader: Reader, acc: str, org: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """``({login: role}, {team name: declaration})`` of organization ``org``."""
    members = {m["login"]: m["role"] for m in (_members(reader, org) or {}).values()}
    scope = Scope("team", acc, f"org {org}", None, (("org", org), ("declared", ""), ("managed", "")))
    items = KINDS["team"].live(reader, scope)
    names = {slug: str(it.attrs["name"]) for slug, it in items.items()}
    teams: dict[str, dict[str, Any]] = {}
    for slug, it in sorted(items.items()):
        decl: dict[str, Any] = {}
        if it.attrs.get("description"):
            decl["description"] = it.attrs["description"]
        if it.attrs.get("privacy"):
            decl["privacy"] = it.attrs["privacy"]
        parent = it.attrs.get("parent")
        if parent:
            decl["parent"] = names.get(parent, parent)
        if it.attrs.get("notifications") == "disabled":
            decl["notifications"] = "disabled"
        extra = (("org", org), ("team", slug), ("want", ""), ("managed", ""))
        who = KINDS["team-member"].live(reader, Scope("team-member", acc, f"team {org}/{slug}", None, extra))
        if who:
            decl["members"] = {m.attrs["login"]: m.attrs["role"] for m in who.values()}
        repos = KINDS["team-repo"].live(reader, Scope("team-repo", acc, f"team {org}/{slug}", None, extra))
        if repos:
            decl["repos"] = {r.attrs["repo"]: r.attrs["permission"] for r in repos.values()}
        teams[names[slug]] = decl
    return members, teams


def _who(login: str, login_accounts: dict[str, str], used: set[str]) -> str:
    acc = login_accounts.get(login.lower())
    if acc is not None:
        used.add(acc)
    return acc or login


def team_sections(acc: str, members: dict[str, str], teams: dict[str, dict[str, Any]], login_accounts: dict[str, str], used: set[str]) -> dict[str, Any]:
    """The manifest's ``org_members`` and ``teams`` for organization account ``acc`` (logins that
    are accounts of an existing manifest written as their account ids, recorded in ``used``)."""
    out: dict[str, Any] = {}
    if members:
        out["org_members"] = {acc: {_who(k, login_accounts, used): v for k, v in sorted(members.items(), key=lambda kv: kv[0].lower())}}
    if teams:
        written = {}
        for name, decl in sorted(teams.items(), key=lambda kv: kv[0].lower()):
            d = dict(decl)
            if "members" in d:
                d["members"] = {_who(k, login_accounts, used): v for k, v in sorted(d["members"].items(), key=lambda kv: kv[0].lower())}
            if "repos" in d:
                d["repos"] = dict(sorted(d["repos"].items()))
            written[name] = d
        out["teams"] = {acc: written}
    return out
