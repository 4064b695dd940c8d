"""A repository's security settings and autolinks (groups ``repo-security`` and ``autolinks``).

Operations: ``GET``/``PUT``/``DELETE /repos/{owner}/{repo}/vulnerability-alerts`` (Dependabot
alerts and the dependency graph: "Check if vulnerability alerts are enabled for a repository" and
its neighbours, https://docs.github.com/en/rest/repos/repos#check-if-vulnerability-alerts-are-enabled-for-a-repository),
``GET``/``PUT``/``DELETE .../automated-security-fixes`` (Dependabot security updates,
https://docs.github.com/en/rest/repos/repos#check-if-dependabot-security-updates-are-enabled-for-a-repository)
and ``GET``/``POST .../autolinks``, ``GET``/``DELETE .../autolinks/{autolink_id}``
(https://docs.github.com/en/rest/repos/autolinks).

Layouts: ``repo["vulnerability_alerts"]`` (bool), ``repo["automated_security_fixes"]``
(``{enabled, paused}``), both absent (off) until written, and ``repo["autolinks"]``:
``{str(id): {id, key_prefix, url_template, is_alphanumeric}}``.

GitHub's rules reproduced here:

* who: every operation needs admin rights on the repository (the descriptions: "The
  authenticated user must have admin access", "Information about autolinks are only available to
  repository administrators") — 403 for a collaborator below admin, 404 for one who cannot see it
  — and a classic token with ``repo``;
* the checks answer with their status: vulnerability alerts 204 when enabled and 404 when not;
  security updates 200 ``{enabled, paused}`` when enabled and 404 when not (the operations'
  documented responses);
* Dependabot security updates need Dependabot alerts: "Dependabot security updates require
  ... Dependabot alerts" to be enabled ("About Dependabot security updates",
  https://docs.github.com/en/code-security/dependabot/dependabot-security-updates/about-dependabot-security-updates),
  so enabling them while alerts are off is refused (422) and disabling alerts turns them off;
* an autolink's ``url_template`` "must contain ``<num>`` for the reference number" and
  ``is_alphanumeric`` defaults to true (the create operation's request body); a ``key_prefix``
  already used in the repository (compared case-insensitively) is refused with 422, as is an
  empty one. GitHub has no update for autolinks: a changed one is deleted and created again.
"""

from __future__ import annotations

from typing import Any

from ..errors import ApiError, not_found, validation_failed
from ..http import Ctx, Reply, empty, json_reply
from ..routing import route

_REPO_SCOPES = ("repo",)
_VULN = "/repos/{owner}/{repo}/vulnerability-alerts"
_FIXES = "/repos/{owner}/{repo}/automated-security-fixes"
_LINKS = "/repos/{owner}/{repo}/autolinks"


def _save(ctx: Ctx, repo: dict) -> None:
    ctx.world.save("repos", repo["id"], repo)


# -- vulnerability alerts and security updates ------------------------------------------------------
@route("GET", _VULN, "repos/check-vulnerability-alerts", scopes=_REPO_SCOPES)
def check_vulnerability_alerts(ctx: Ctx) -> Reply:
    if not ctx.repo("admin").get("vulnerability_alerts"):
        raise not_found()
    return empty()


@route("PUT", _VULN, "repos/enable-vulnerability-alerts", scopes=_REPO_SCOPES)
def enable_vulnerability_alerts(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    repo["vulnerability_alerts"] = True
    _save(ctx, repo)
    return empty()


@route("DELETE", _VULN, "repos/disable-vulnerability-alerts", scopes=_REPO_SCOPES)
def disable_vulnerability_alerts(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    repo["vulnerability_alerts"] = False
    repo.pop("automated_security_fixes", None)  # security updates need the alerts
    _save(ctx, repo)
    return empty()


@route("GET", _FIXES, "repos/check-automated-security-fixes", scopes=_REPO_SCOPES)
def check_automated_security_fixes(ctx: Ctx) -> Reply:
    fixes = ctx.repo("admin").get("automated_security_fixes")
    if not fixes or not fixes.get("enabled"):
        raise not_found()
    return json_reply({"enabled": True, "paused": bool(fixes.get("paused"))})


@route("PUT", _FIXES, "repos/enable-automated-security-fixes", scopes=_REPO_SCOPES)
def enable_automated_security_fixes(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    if not repo.get("vulnerability_alerts"):
        raise ApiError(422, "Dependabot security updates need Dependabot alerts: enable vulnerability alerts first.")
    repo["automated_security_fixes"] = {"enabled": True, "paused": False}
    _save(ctx, repo)
    return empty()


@route("DELETE", _FIXES, "repos/disable-automated-security-fixes", scopes=_REPO_SCOPES)
def disable_automated_security_fixes(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    repo.pop("automated_security_fixes", None)
    _save(ctx, repo)
    return empty()


# -- autolinks --------------------------------------------------------------------------------------
def _link(ctx: Ctx, repo: dict) -> dict[str, Any]:
    raw = str(ctx.params["autolink_id"])
    link = (repo.get("autolinks") or {}).get(raw)
    if link is None:
        raise not_found()
    return _autolink(link)


def _autolink(link: dict) -> dict[str, Any]:
    """An autolink as GitHub sends it: ``updated_at`` is the time it was created (autolinks are
    never updated), null for one recorded before the sandbox kept it (the description types it
    nullable; https://docs.github.com/en/rest/repos/autolinks)."""
    return {**link, "updated_at": link.get("updated_at")}


@route("GET", _LINKS, "repos/list-autolinks", scopes=_REPO_SCOPES)
def list_autolinks(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    links = sorted((repo.get("autolinks") or {}).values(), key=lambda a: a["id"])
    return json_reply([_autolink(a) for a in links])


@route("POST", _LINKS, "repos/create-autolink", scopes=_REPO_SCOPES)
def create_autolink(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    body = ctx.body if isinstance(ctx.body, dict) else {}
    prefix, template = body.get("key_prefix"), body.get("url_template")
    alnum = body.get("is_alphanumeric", True)
    if not isinstance(prefix, str) or not prefix.strip():
        raise validation_failed("KeyLink", "key_prefix", "missing_field" if prefix is None else "invalid")
    if not isinstance(template, str) or "<num>" not in template:
        raise validation_failed("KeyLink", "url_template", "invalid", "url_template must contain <num>")
    if not isinstance(alnum, bool):
        raise validation_failed("KeyLink", "is_alphanumeric", "invalid")
    links = repo.setdefault("autolinks", {})
    if any(a["key_prefix"].lower() == prefix.lower() for a in links.values()):
        raise validation_failed("KeyLink", "key_prefix", "already_exists", "key_prefix has already been taken")
    link = {"id": ctx.world.next_id("autolinks", 1), "key_prefix": prefix, "url_template": template, "is_alphanumeric": alnum,
            "updated_at": ctx.world.now_iso()}
    links[str(link["id"])] = link
    _save(ctx, repo)
    location = ctx.url(f"/repos/{repo['owner']}/{repo['name']}/autolinks/{link['id']}")
    return json_reply(_autolink(link), status=201, headers={"Location": location})


@route("GET", _LINKS + "/{autolink_id:int}", "repos/get-autolink", scopes=_REPO_SCOPES)
def get_autolink(ctx: Ctx) -> Reply:
    return json_reply(_link(ctx, ctx.repo("admin")))


@route("DELETE", _LINKS + "/{autolink_id:int}", "repos/delete-autolink", scopes=_REPO_SCOPES)
def delete_autolink(ctx: Ctx) -> Reply:
    repo = ctx.repo("admin")
    link = _link(ctx, repo)
    del repo["autolinks"][str(link["id"])]
    _save(ctx, repo)
    return empty()
