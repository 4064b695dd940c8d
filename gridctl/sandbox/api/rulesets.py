"""Repository and organization rulesets (group ``rulesets``).

Operations (REST reference "Rules", https://docs.github.com/en/rest/repos/rules and
https://docs.github.com/en/rest/orgs/rules): list, create, get, update and delete under
``/repos/{owner}/{repo}/rulesets`` and ``/orgs/{org}/rulesets``.

Layout: ``repo["rulesets"]`` and the organization record's ``["rulesets"]`` are ``{str(id):
{id, name, target, enforcement, bypass_actors, conditions, rules, created_at, updated_at}}``, as
validated from the request (ids from the ``rulesets`` sequence).

GitHub's rules reproduced here:

* who: "Anyone with read access to a repository can view the repository's rulesets. People with
  admin access to a repository ... can create, edit, and delete rulesets" ("Managing rulesets
  for a repository", https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-rulesets/managing-rulesets-for-a-repository);
  below admin a write is 403 "Must have admin rights to Repository."; ``bypass_actors`` is "only
  returned if the user making the API request has write access to the ruleset" (get-repo-ruleset's
  description). An organization's rulesets need an organization owner with ``admin:org``;
* the list includes the rulesets "configured at higher levels that apply to this repository"
  unless ``includes_parents=false`` (the parameter's description): an organization ruleset applies
  where its ``repository_name`` condition includes the repository (``~ALL``, ``fnmatch``
  patterns) and does not exclude it; the list shows no rules, conditions or bypass actors;
* 422 (Validation Failed): a name already used in the same place, a rule type given twice, a
  ``pull_request`` rule without any allowed merge method ("At least one option must be enabled"),
  ``OrganizationAdmin`` on a personal repository ("``OrganizationAdmin`` is not applicable for
  personal repositories"), a bypass actor without the ``actor_id`` its type requires, a
  ``RepositoryRole`` other than the built-in maintain (2), write (4) or admin (5) roles (the roles
  eligible for bypass, "About rulesets",
  https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-rulesets/about-rulesets),
  ``pull_request`` bypass mode outside a branch ruleset, an organization branch or tag ruleset
  without a ``ref_name`` condition; teams and apps are unknown to the sandbox (422);
* a ``pull_request`` rule keeps ``allowed_merge_methods`` (all three when left out) and a
  ``required_status_checks`` rule ``do_not_enforce_on_create`` (false when left out); ``_links``
  has ``self`` and ``html`` (the ruleset's settings page);
* ``current_user_can_bypass`` (repository endpoints only): the bypass mode of the first actor the
  caller matches (a repository role at or below the caller's, organization owners), else ``never``.

Not reproduced: rules are not enforced on pushes; rule suites, history and ``evaluate``'s plan
limits are not modelled.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from ..errors import ApiError, role_at_least, validation_failed
from ..http import Ctx, Reply, empty, json_reply
from ..routing import route
from ..shapes import web_root
from ..world import node_id

_REPO = "/repos/{owner}/{repo}/rulesets"
_ORG = "/orgs/{org}/rulesets"
_ORG_SCOPES = ("admin:org",)
#: the built-in repository roles a ruleset may let bypass it, by their RepositoryRole ids
ROLE_IDS = {2: "maintain", 4: "write", 5: "admin"}
_BYPASS = {"always": "always", "pull_request": "pull_requests_only", "exempt": "exempt"}
_NEEDS_ID = ("Integration", "RepositoryRole", "Team", "User")
MERGE_METHODS = ("merge", "squash", "rebase")


def _invalid(field: str, message: str) -> ApiError:
    return validation_failed("Ruleset", field, "invalid", message)


# -- records ---------------------------------------------------------------------------------------
def _records(holder: dict) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = holder.get("rulesets") or {}
    return out


def _validate(ctx: Ctx, holder: dict, *, org: bool, personal: bool, current: dict[str, Any] | None) -> dict[str, Any]:
    """The record the request body asks for (merged over ``current`` for an update)."""
    body = ctx.body or {}
    rec: dict[str, Any] = dict(current or {"target": "branch", "bypass_actors": [], "conditions": None, "rules": []})
    for key in ("name", "target", "enforcement", "bypass_actors", "conditions", "rules"):
        if key in body:
            rec[key] = body[key]
    for other in _records(holder).values():
        if other["name"].lower() == rec["name"].lower() and (current is None or other["id"] != current["id"]):
            raise _invalid("name", "Name must be unique")
    seen: set[str] = set()
    rec["rules"] = [_with_defaults(rule) for rule in rec["rules"] or []]
    for rule in rec["rules"]:
        if rule["type"] in seen:
            raise _invalid("rules", f"Invalid rules: '{rule['type']}' is given more than once")
        seen.add(rule["type"])
        if rule["type"] == "pull_request" and (rule.get("parameters") or {}).get("allowed_merge_methods") == []:
            raise _invalid("rules", "Invalid rules: 'pull_request' needs at least one allowed merge method")
    actors = []
    for actor in rec["bypass_actors"] or []:
        kind, ident = actor["actor_type"], actor.get("actor_id")
        mode = actor.get("bypass_mode", "always")
        if kind == "OrganizationAdmin" and personal:
            raise _invalid("bypass_actors", "OrganizationAdmin is not applicable for personal repositories")
        if kind in _NEEDS_ID and ident is None:
            raise _invalid("bypass_actors", f"actor_id is required for {kind}")
        if kind == "RepositoryRole" and ident not in ROLE_IDS:
            raise _invalid("bypass_actors", f"Unknown repository role {ident}: only maintain (2), write (4) and admin (5) may bypass")
        if kind == "User" and not any(u.get("id") == ident for u in ctx.world.store.values("users")):
            raise _invalid("bypass_actors", f"Unknown user {ident}")
        if kind in ("Team", "Integration"):
            raise _invalid("bypass_actors", f"Unknown {kind.lower()} {ident}")
        if mode == "pull_request" and rec["target"] != "branch":
            raise _invalid("bypass_actors", "The pull_request bypass mode applies to branch rulesets only")
        actors.append({"actor_id": 1 if kind == "OrganizationAdmin" else ident, "actor_type": kind, "bypass_mode": mode})
    rec["bypass_actors"] = actors
    conditions = rec.get("conditions") or {}
    if org and rec["target"] in ("branch", "tag") and "ref_name" not in conditions:
        raise _invalid("conditions", "Branch and tag rulesets of an organization need a ref_name condition")
    return rec


def _with_defaults(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule as GitHub stores it: the optional parameters it fills in when left out.

    ``pull_request`` keeps ``allowed_merge_methods`` (all three unless named: "At least one option
    must be enabled") and ``required_status_checks`` ``do_not_enforce_on_create`` (false), as the
    "Rules" reference documents their parameters
    (https://docs.github.com/en/rest/repos/rules#create-a-repository-ruleset).
    """
    params = rule.get("parameters")
    if not isinstance(params, dict):
        return rule
    if rule["type"] == "pull_request":
        params = {**params, "allowed_merge_methods": params.get("allowed_merge_methods", list(MERGE_METHODS))}
    elif rule["type"] == "required_status_checks":
        params = {**params, "do_not_enforce_on_create": bool(params.get("do_not_enforce_on_create", False))}
    return {**rule, "parameters": params}


def _html(ctx: Ctx, source_type: str, source: str, ident: int) -> str:
    """A ruleset's settings page: ``/{owner}/{repo}/rules/{id}`` for a repository's,
    ``/organizations/{org}/settings/rules/{id}`` for an organization's (the ``_links.html`` of the
    "Rules" reference's examples, https://docs.github.com/en/rest/repos/rules)."""
    if source_type == "Organization":
        return f"{web_root(ctx)}/organizations/{source}/settings/rules/{ident}"
    return f"{web_root(ctx)}/{source}/rules/{ident}"


def _render(ctx: Ctx, rec: dict[str, Any], *, source_type: str, source: str, base: str,
            full: bool, admin: bool, bypass: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rec["id"],
        "name": rec["name"],
        "target": rec["target"],
        "source_type": source_type,
        "source": source,
        "enforcement": rec["enforcement"],
        "node_id": node_id("RepositoryRuleset", rec["id"]),
        "_links": {"self": {"href": f"{base}/{rec['id']}"}, "html": {"href": _html(ctx, source_type, source, rec["id"])}},
        "created_at": rec["created_at"],
        "updated_at": rec["updated_at"],
    }
    if bypass is not None:
        out["current_user_can_bypass"] = bypass
    if full:
        if admin:
            out["bypass_actors"] = [dict(a) for a in rec["bypass_actors"]]
        out["conditions"] = rec.get("conditions")
        out["rules"] = [dict(r) for r in rec["rules"] or []]
    return out


def _can_bypass(ctx: Ctx, rec: dict[str, Any], role: str | None, org_admin: bool) -> str:
    for actor in rec["bypass_actors"]:
        kind = actor["actor_type"]
        if (kind == "RepositoryRole" and role_at_least(role, ROLE_IDS.get(actor["actor_id"], "admin"))) or (
            kind == "OrganizationAdmin" and org_admin
        ) or (kind == "User" and ctx.user is not None and ctx.user["id"] == actor["actor_id"]):
            return _BYPASS[actor["bypass_mode"]]
    return "never"


def _stamp(ctx: Ctx, rec: dict[str, Any], *, new: bool) -> dict[str, Any]:
    now = ctx.world.now_iso()
    if new:
        rec["id"] = ctx.world.next_id("rulesets", 1)
        rec["created_at"] = now
    rec["updated_at"] = now
    return rec


def _matches(patterns: list[str], name: str) -> bool:
    return any(p == "~ALL" or fnmatch.fnmatch(name.lower(), p.lower()) for p in patterns)


def _org_applies(rec: dict[str, Any], repo: dict) -> bool:
    cond = (rec.get("conditions") or {}).get("repository_name")
    if not cond:
        return False
    return _matches(cond.get("include") or [], repo["name"]) and not _matches(cond.get("exclude") or [], repo["name"])


# -- repository ------------------------------------------------------------------------------------
class _RepoView:
    def __init__(self, ctx: Ctx, needed: str = "read"):
        self.repo = ctx.repo(needed)
        self.role = ctx.world.role(ctx.login, self.repo, ctx.scopes)
        owner = ctx.world.find_user(self.repo["owner"])
        self.org = owner if owner is not None and owner["type"] == "Organization" else None
        self.org_admin = self.org is not None and ctx.world.org_role(self.org, ctx.login) == "admin"
        self.base = ctx.url(f"/repos/{self.repo['owner']}/{self.repo['name']}/rulesets")

    def render(self, ctx: Ctx, rec: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
        return _render(ctx, rec, source_type="Repository", source=f"{self.repo['owner']}/{self.repo['name']}", base=self.base,
                       full=full, admin=role_at_least(self.role, "admin"), bypass=_can_bypass(ctx, rec, self.role, self.org_admin))

    def render_org(self, ctx: Ctx, rec: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
        assert self.org is not None
        return _render(ctx, rec, source_type="Organization", source=self.org["login"], base=self.base,
                       full=full, admin=self.org_admin, bypass=_can_bypass(ctx, rec, self.role, self.org_admin))

    def find(self, ctx: Ctx, parents: bool) -> dict[str, Any]:
        ident = str(ctx.params["ruleset_id"])
        rec = _records(self.repo).get(ident)
        if rec is not None:
            return self.render(ctx, rec)
        if parents and self.org is not None:
            rec = _records(self.org).get(ident)
            if rec is not None and _org_applies(rec, self.repo):
                return self.render_org(ctx, rec)
        raise ApiError(404, "Not Found")

    def save(self, ctx: Ctx, rec: dict[str, Any]) -> None:
        self.repo["rulesets"] = {**_records(self.repo), str(rec["id"]): rec}
        ctx.world.save("repos", self.repo["id"], self.repo)


def _parents(ctx: Ctx) -> bool:
    return ctx.query.get("includes_parents", "true").lower() != "false"


@route("GET", _REPO, "repos/get-repo-rulesets")
def list_repo_rulesets(ctx: Ctx) -> Reply:
    view = _RepoView(ctx)
    targets = {t.strip() for t in ctx.query.get("targets", "").split(",") if t.strip()}
    items = [view.render(ctx, r, full=False) for r in sorted(_records(view.repo).values(), key=lambda r: r["id"])]
    if _parents(ctx) and view.org is not None:
        for rec in sorted(_records(view.org).values(), key=lambda r: r["id"]):
            if _org_applies(rec, view.repo):
                items.append(view.render_org(ctx, rec, full=False))
    if targets:
        items = [i for i in items if i["target"] in targets]
    return ctx.paginate(items)


@route("POST", _REPO, "repos/create-repo-ruleset", content=True)
def create_repo_ruleset(ctx: Ctx) -> Reply:
    view = _RepoView(ctx, "admin")
    rec = _stamp(ctx, _validate(ctx, view.repo, org=False, personal=view.org is None, current=None), new=True)
    view.save(ctx, rec)
    return json_reply(view.render(ctx, rec), status=201)


@route("GET", _REPO + "/{ruleset_id:int}", "repos/get-repo-ruleset")
def get_repo_ruleset(ctx: Ctx) -> Reply:
    view = _RepoView(ctx)
    return json_reply(view.find(ctx, _parents(ctx)))


def _own(ctx: Ctx, view: _RepoView) -> dict[str, Any]:
    rec = _records(view.repo).get(str(ctx.params["ruleset_id"]))
    if rec is None:
        raise ApiError(404, "Not Found")
    return rec


@route("PUT", _REPO + "/{ruleset_id:int}", "repos/update-repo-ruleset")
def update_repo_ruleset(ctx: Ctx) -> Reply:
    view = _RepoView(ctx, "admin")
    current = _own(ctx, view)
    rec = _stamp(ctx, _validate(ctx, view.repo, org=False, personal=view.org is None, current=current), new=False)
    view.save(ctx, rec)
    return json_reply(view.render(ctx, rec))


@route("DELETE", _REPO + "/{ruleset_id:int}", "repos/delete-repo-ruleset")
def delete_repo_ruleset(ctx: Ctx) -> Reply:
    view = _RepoView(ctx, "admin")
    rec = _own(ctx, view)
    view.repo["rulesets"] = {k: v for k, v in _records(view.repo).items() if k != str(rec["id"])}
    ctx.world.save("repos", view.repo["id"], view.repo)
    return empty()


# -- organization ----------------------------------------------------------------------------------
def _org_render(ctx: Ctx, org: dict, rec: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
    return _render(ctx, rec, source_type="Organization", source=org["login"], base=ctx.url(f"/orgs/{org['login']}/rulesets"),
                   full=full, admin=True, bypass=None)


def _org_save(ctx: Ctx, org: dict, rulesets: dict[str, dict[str, Any]]) -> None:
    org["rulesets"] = rulesets
    ctx.world.save("users", org["login"].lower(), org)


def _org_own(ctx: Ctx, org: dict) -> dict[str, Any]:
    rec = _records(org).get(str(ctx.params["ruleset_id"]))
    if rec is None:
        raise ApiError(404, "Not Found")
    return rec


@route("GET", _ORG, "repos/get-org-rulesets", scopes=_ORG_SCOPES)
def list_org_rulesets(ctx: Ctx) -> Reply:
    org = ctx.org(admin=True)
    targets = {t.strip() for t in ctx.query.get("targets", "").split(",") if t.strip()}
    items = [_org_render(ctx, org, r, full=False) for r in sorted(_records(org).values(), key=lambda r: r["id"])]
    if targets:
        items = [i for i in items if i["target"] in targets]
    return ctx.paginate(items)


@route("POST", _ORG, "repos/create-org-ruleset", content=True, scopes=_ORG_SCOPES)
def create_org_ruleset(ctx: Ctx) -> Reply:
    org = ctx.org(admin=True)
    rec = _stamp(ctx, _validate(ctx, org, org=True, personal=False, current=None), new=True)
    _org_save(ctx, org, {**_records(org), str(rec["id"]): rec})
    return json_reply(_org_render(ctx, org, rec), status=201)


@route("GET", _ORG + "/{ruleset_id:int}", "repos/get-org-ruleset", scopes=_ORG_SCOPES)
def get_org_ruleset(ctx: Ctx) -> Reply:
    org = ctx.org(admin=True)
    return json_reply(_org_render(ctx, org, _org_own(ctx, org)))


@route("PUT", _ORG + "/{ruleset_id:int}", "repos/update-org-ruleset", scopes=_ORG_SCOPES)
def update_org_ruleset(ctx: Ctx) -> Reply:
    org = ctx.org(admin=True)
    current = _org_own(ctx, org)
    rec = _stamp(ctx, _validate(ctx, org, org=True, personal=False, current=current), new=False)
    _org_save(ctx, org, {**_records(org), str(rec["id"]): rec})
    return json_reply(_org_render(ctx, org, rec))


@route("DELETE", _ORG + "/{ruleset_id:int}", "repos/delete-org-ruleset", scopes=_ORG_SCOPES)
def delete_org_ruleset(ctx: Ctx) -> Reply:
    org = ctx.org(admin=True)
    rec = _org_own(ctx, org)
    _org_save(ctx, org, {k: v for k, v in _records(org).items() if k != str(rec["id"])})
    return empty()
