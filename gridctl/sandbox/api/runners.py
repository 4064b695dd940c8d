"""Self-hosted runners at repository and organization scope.

GitHub operations (groups ``runners-repo`` and ``runners-org``): list (``?name=``), get,
delete, runner application downloads, registration and remove tokens, just-in-time (JIT)
configurations, and runner labels. Both scopes are served by one set of handlers that take a
:class:`Scope` (``_OPERATIONS``, registered once per scope). Control routes set a runner's
state by hand: ``POST /_sandbox/runners/connect`` (a JIT runner comes online, without a
listener: it takes no job), ``POST /_sandbox/runners/{id}`` (set status / busy) and
``GET /_sandbox/runners`` (inspect every runner). A runner that takes jobs listens through the
broker of :mod:`.jobs` (``gridctl sandbox runner`` does).

Records (see LAYOUT.md): table ``runners`` keyed by id. A JIT configuration is a credential:
the sandbox returns it once and keeps only its sha256 (``jit_sha256``).

This module also owns the storage helpers for runner groups (default group, lookups, moving a
runner between groups, repository access) because runners need them at creation time;
:mod:`.runner_groups` builds the runner-group API on top of them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ApiError, not_found
from ..http import Ctx, Reply, empty, json_reply
from ..inputs import str_field
from ..routing import control, route
from ..shapes import web_root
from ..world import World, iso
from . import releases

#: every organization's "Default" runner group; repository runners report it too
DEFAULT_GROUP_ID = 1
#: most custom labels one runner may carry (the request schemas' maxItems)
MAX_CUSTOM_LABELS = 100

#: label (lower-case) -> (read-only label name, runner ``os`` value)
_OS = {"linux": ("Linux", "Linux"), "windows": ("Windows", "Windows"), "macos": ("macOS", "macOS")}
#: label (lower-case) -> read-only architecture label
_ARCH = {"x64": "X64", "arm64": "ARM64", "arm": "ARM"}

_TOKEN_ALPHABET = string.ascii_uppercase + string.digits

_ORG_SCOPES = ("admin:org",)
_REPO_SCOPES = ("repo",)


def simple_422(message: str) -> ApiError:
    """GitHub's "Validation Error Simple" (the 422 these operations document): the errors are
    plain strings."""
    return ApiError(422, "Validation Failed", errors=[message])


# -- scopes --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """Where runners live: an organization (``org``) or one repository (``repo_id``)."""

    org: str | None
    repo_id: int | None
    #: the web URL a runner registers against (``https://github.com/acme`` stand-in)
    web_url: str

    def holds(self, rec: dict) -> bool:
        if self.repo_id is not None:
            return rec.get("repo_id") == self.repo_id
        return rec.get("repo_id") is None and (rec.get("org") or "").lower() == (self.org or "").lower()


def _org_scope(ctx: Ctx) -> Scope:
    org = ctx.org(admin=True)
    return Scope(org["login"], None, f"{web_root(ctx)}/{org['login']}")


def _repo_scope(ctx: Ctx) -> Scope:
    repo = ctx.repo("admin")
    return Scope(None, repo["id"], f"{web_root(ctx)}/{repo['owner']}/{repo['name']}")


def runners_in(world: World, scope: Scope) -> list[dict]:
    return sorted((r for r in world.store.values("runners") if scope.holds(r)), key=lambda r: r["id"])


def _runner(ctx: Ctx, scope: Scope) -> dict:
    rec = ctx.world.store.get("runners", ctx.params["runner_id"])
    if rec is None or not scope.holds(rec):
        raise not_found()
    return rec


# -- shapes --------------------------------------------------------------------------------------
def runner_json(rec: dict) -> dict[str, Any]:
    """A runner as GitHub renders it (``runner`` schema). Never includes JIT material."""
    return {
        "id": rec["id"],
        "name": rec["name"],
        "os": rec["os"],
        "status": rec["status"],
        "busy": rec["busy"],
        "ephemeral": rec["ephemeral"],
        "runner_group_id": rec["runner_group_id"],
        "labels": [{"id": lb["id"], "name": lb["name"], "type": lb["type"]} for lb in rec["labels"]],
    }


def _labels_reply(rec: dict, *, only_read_only: bool = False) -> Reply:
    labels = [lb for lb in rec["labels"] if not only_read_only or lb["type"] == "read-only"]
    return json_reply(
        {
            "total_count": len(labels),
            "labels": [{"id": lb["id"], "name": lb["name"], "type": lb["type"]} for lb in labels],
        }
    )


# -- runner-group storage (shared with runner_groups.py) -----------------------------------------
def group_key(org_login: str, group_id: int) -> str:
    """Store key of a runner group. Every organization has its own group 1 (Default), so the
    key carries the organization as well as the id."""
    return f"{org_login.lower()}:{group_id}"


def default_group(world: World, org_login: str) -> dict:
    """The organization's Default group, created (and persisted) on first use."""
    key = group_key(org_login, DEFAULT_GROUP_ID)
    rec = world.store.get("runner_groups", key)
    if rec is None:
        rec = world.save(
            "runner_groups",
            key,
            {
                "id": DEFAULT_GROUP_ID,
                "org": org_login,
                "name": "Default",
                "visibility": "all",
                "default": True,
                "allows_public_repositories": False,
                "restricted_to_workflows": False,
                "selected_workflows": [],
                "selected_repository_ids": [],
                "runner_ids": [],
            },
        )
    return rec


def find_group(world: World, org_login: str, group_id: int) -> dict | None:
    if group_id == DEFAULT_GROUP_ID:
        return default_group(world, org_login)
    return world.store.get("runner_groups", group_key(org_login, group_id))


def org_groups(world: World, org_login: str) -> list[dict]:
    default_group(world, org_login)
    low = org_login.lower()
    return sorted((g for g in world.store.values("runner_groups") if g["org"].lower() == low), key=lambda g: g["id"])


def save_group(world: World, group: dict) -> None:
    world.save("runner_groups", group_key(group["org"], group["id"]), group)


def move_runner(world: World, runner: dict, group: dict) -> None:
    """Put an organization runner into ``group``, taking it out of the group it was in."""
    old = find_group(world, runner["org"], runner["runner_group_id"])
    if old is not None and old["id"] != group["id"] and runner["id"] in old["runner_ids"]:
        old["runner_ids"].remove(runner["id"])
        save_group(world, old)
    if runner["id"] not in group["runner_ids"]:
        group["runner_ids"].append(runner["id"])
        save_group(world, group)
    runner["runner_group_id"] = group["id"]
    world.save("runners", runner["id"], runner)


def group_allows_repo(group: dict, repo: dict) -> bool:
    """Whether workflows in ``repo`` (an organization repository) may use ``group``'s runners."""
    if not repo["private"] and not group.get("allows_public_repositories", False):
        return False
    if group["visibility"] == "selected":
        return repo["id"] in group.get("selected_repository_ids", [])
    if group["visibility"] == "private":
        return bool(repo["private"])
    return True


def eligible_runners(world: World, repo: dict) -> list[dict]:
    """Every runner a workflow in ``repo`` may run on: the repository's own runners, then the
    owning organization's runners whose group lets the repository in."""
    out = [r for r in world.store.values("runners") if r.get("repo_id") == repo["id"]]
    owner = world.find_user(repo["owner"])
    if owner is not None and owner["type"] == "Organization":
        allowed = {g["id"] for g in org_groups(world, owner["login"]) if group_allows_repo(g, repo)}
        low = owner["login"].lower()
        out += [
            r
            for r in world.store.values("runners")
            if r.get("repo_id") is None and (r.get("org") or "").lower() == low and r["runner_group_id"] in allowed
        ]
    return sorted(out, key=lambda r: r["id"])


# -- labels --------------------------------------------------------------------------------------
def _clean_label_names(names: list[str]) -> list[str]:
    """Trimmed, de-duplicated (case-insensitively, first spelling wins) label names."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in names:
        name = raw.strip()
        if not name:
            raise simple_422("Label names must not be empty.")
        if len(name) > 256:
            raise simple_422(f"Label {name[:40]!r}... is longer than 256 characters.")
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out


def _label_id(world: World, scope: Scope, name: str) -> int:
    """Labels are entities of their scope: the same name keeps the same id on every runner."""
    low = name.lower()
    for rec in world.store.values("runners"):
        if scope.holds(rec):
            for lb in rec["labels"]:
                if lb["name"].lower() == low:
                    ident: int = lb["id"]
                    return ident
    return world.next_id("runner_labels")


def _too_many(count: int) -> ApiError:
    return simple_422(
        f"A runner can have at most {MAX_CUSTOM_LABELS} custom labels; this request would give it {count}."
    )


def _add_labels(world: World, scope: Scope, rec: dict, names: list[str]) -> None:
    have = {lb["name"].lower() for lb in rec["labels"]}
    new = [n for n in _clean_label_names(names) if n.lower() not in have]
    custom = sum(1 for lb in rec["labels"] if lb["type"] == "custom") + len(new)
    if custom > MAX_CUSTOM_LABELS:
        raise _too_many(custom)
    for name in new:
        rec["labels"].append({"id": _label_id(world, scope, name), "name": name, "type": "custom"})


def _set_labels(world: World, scope: Scope, rec: dict, names: list[str]) -> None:
    read_only = [lb for lb in rec["labels"] if lb["type"] == "read-only"]
    fixed = {lb["name"].lower() for lb in read_only}
    wanted = [n for n in _clean_label_names(names) if n.lower() not in fixed]
    if len(wanted) > MAX_CUSTOM_LABELS:
        raise _too_many(len(wanted))
    rec["labels"] = read_only + [{"id": _label_id(world, scope, n), "name": n, "type": "custom"} for n in wanted]


# -- runner creation -----------------------------------------------------------------------------
def _platform(labels: list[str]) -> tuple[str, str, str]:
    """(os value, OS label, architecture label) taken from the requested labels; a runner that
    names none is a Linux X64 machine, the most common self-hosted runner."""
    os_value, os_label, arch = "Linux", "Linux", "X64"
    for name in labels:
        low = name.lower()
        if low in _OS:
            os_label, os_value = _OS[low]
            break
    for name in labels:
        if name.lower() in _ARCH:
            arch = _ARCH[name.lower()]
            break
    return os_value, os_label, arch


def create_runner(world: World, scope: Scope, name: str, labels: list[str], group_id: int, *, ephemeral: bool) -> dict:
    """A new, offline, idle runner in ``scope`` (the caller checked name and group)."""
    names = _clean_label_names(labels)
    os_value, os_label, arch = _platform(names)
    fixed = ["self-hosted", os_label, arch]
    fixed_low = {f.lower() for f in fixed}
    custom = [n for n in names if n.lower() not in fixed_low]
    if len(custom) > MAX_CUSTOM_LABELS:
        raise _too_many(len(custom))
    label_recs = [{"id": _label_id(world, scope, f), "name": f, "type": "read-only"} for f in fixed]
    label_recs += [{"id": _label_id(world, scope, n), "name": n, "type": "custom"} for n in custom]
    rec: dict[str, Any] = {
        "id": world.next_id("runners"),
        "name": name,
        "repo_id": scope.repo_id,
        "org": scope.org,
        "labels": label_recs,
        "runner_group_id": group_id,
        "status": "offline",
        "busy": False,
        "os": os_value,
        "ephemeral": ephemeral,
        "jit_sha256": None,
        "created_at": world.now_iso(),
    }
    return world.save("runners", rec["id"], rec)


def _generate_jitconfig(ctx: Ctx, scope: Scope) -> Reply:
    world = ctx.world
    body = ctx.body
    name = body["name"].strip()
    if not name:
        raise simple_422("Runner name must not be empty.")
    if any(r["name"].lower() == name.lower() for r in runners_in(world, scope)):
        raise ApiError(409, f"Already exists - A runner with the name {name} already exists.")
    group_id = body["runner_group_id"]
    # repository runners all sit in the Default group; an organization has its own groups
    group = find_group(world, scope.org, group_id) if scope.org is not None else None
    if (scope.org is not None and group is None) or (scope.org is None and group_id != DEFAULT_GROUP_ID):
        raise ApiError(404, f"No runner group found with identifier {group_id}.")
    work_folder = body.get("work_folder") or "_work"
    rec = create_runner(world, scope, name, body["labels"], group_id, ephemeral=True)
    # The configuration the runner application is started with. Opaque to clients; what makes
    # it a credential is the random secret inside it.
    payload = {
        "runner_id": rec["id"],
        "runner_name": name,
        "runner_group_id": group_id,
        "server_url": scope.web_url,
        "work_folder": work_folder,
        "ephemeral": True,
        "secret": secrets.token_urlsafe(32),
    }
    encoded = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    rec["jit_sha256"] = hashlib.sha256(encoded.encode()).hexdigest()
    world.save("runners", rec["id"], rec)
    if group is not None:
        move_runner(world, rec, group)
    return json_reply({"runner": runner_json(rec), "encoded_jit_config": encoded}, status=201)


# -- shared handlers -----------------------------------------------------------------------------
def _list(ctx: Ctx, scope: Scope) -> Reply:
    items = runners_in(ctx.world, scope)
    wanted = ctx.query.get("name")
    if wanted is not None:
        items = [r for r in items if r["name"].lower() == wanted.lower()]
    return ctx.paginate([runner_json(r) for r in items], key="runners")


def remove_runner(world: World, rec: dict) -> None:
    """Delete a runner record, taking it out of its group."""
    if rec.get("org") and rec.get("repo_id") is None:
        group = find_group(world, rec["org"], rec["runner_group_id"])
        if group is not None and rec["id"] in group["runner_ids"]:
            group["runner_ids"].remove(rec["id"])
            save_group(world, group)
    world.store.delete("runners", rec["id"])


def runner_by_jit(world: World, config: str) -> dict | None:
    """The runner registered with the JIT configuration ``config`` (compared by its sha256)."""
    digest = hashlib.sha256(config.encode()).hexdigest()
    for rec in world.store.values("runners"):
        if rec.get("jit_sha256") and secrets.compare_digest(rec["jit_sha256"], digest):
            return rec
    return None


def _delete(ctx: Ctx, scope: Scope) -> Reply:
    rec = _runner(ctx, scope)
    if rec["busy"]:
        raise ApiError(422, f'Bad request - Runner "{rec["name"]}" is still running a job!')
    remove_runner(ctx.world, rec)
    return empty()


def _token(ctx: Ctx, scope: Scope) -> Reply:
    token = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(29))
    return json_reply({"token": token, "expires_at": iso(ctx.world.now() + 3600)}, status=201)


def _downloads(ctx: Ctx, scope: Scope) -> Reply:
    """The runner application packages of the latest ``actions/runner`` release the sandbox
    serves (see :mod:`.releases`), each with the SHA-256 its release publishes
    (``sha256_checksum``, GitHub Docs, "List runner applications for a repository",
    https://docs.github.com/en/rest/actions/self-hosted-runners#list-runner-applications-for-a-repository)
    and a download link on the sandbox itself."""
    out = []
    for os_name, arch in releases.PLATFORMS:
        out.append(
            {
                "os": os_name,
                "architecture": arch,
                "download_url": releases.download_url(web_root(ctx), releases.LATEST, os_name, arch),
                "filename": releases.package_name(releases.LATEST, os_name, arch),
                "sha256_checksum": releases.published_sha256(ctx.world, releases.LATEST, os_name, arch),
            }
        )
    return json_reply(out)


def _remove_label(ctx: Ctx, scope: Scope) -> Reply:
    rec = _runner(ctx, scope)
    wanted = ctx.params["name"].lower()
    label = next((lb for lb in rec["labels"] if lb["name"].lower() == wanted), None)
    if label is None:
        raise ApiError(404, f"Label {ctx.params['name']} not found on runner {rec['name']}.")
    if label["type"] == "read-only":
        raise simple_422(f"Label {label['name']} is read-only and cannot be removed from a runner.")
    rec["labels"].remove(label)
    ctx.world.save("runners", rec["id"], rec)
    return _labels_reply(rec)


def _add_labels_reply(ctx: Ctx, scope: Scope) -> Reply:
    rec = _runner(ctx, scope)
    _add_labels(ctx.world, scope, rec, ctx.body["labels"])
    ctx.world.save("runners", rec["id"], rec)
    return _labels_reply(rec)


def _set_labels_reply(ctx: Ctx, scope: Scope) -> Reply:
    rec = _runner(ctx, scope)
    _set_labels(ctx.world, scope, rec, ctx.body["labels"])
    ctx.world.save("runners", rec["id"], rec)
    return _labels_reply(rec)


def _clear_labels_reply(ctx: Ctx, scope: Scope) -> Reply:
    rec = _runner(ctx, scope)
    rec["labels"] = [lb for lb in rec["labels"] if lb["type"] == "read-only"]
    ctx.world.save("runners", rec["id"], rec)
    return _labels_reply(rec, only_read_only=True)


# -- routes: one set per scope ------------------------------------------------------------------
def _get(ctx: Ctx, scope: Scope) -> Reply:
    return json_reply(runner_json(_runner(ctx, scope)))


def _list_labels(ctx: Ctx, scope: Scope) -> Reply:
    return _labels_reply(_runner(ctx, scope))


#: every runner operation, as (method, path below the scope's ``.../actions/runners``,
#: operationId with ``{x}`` for ``repo`` / ``org``, handler); specific paths before {runner_id}
_OPERATIONS: tuple[tuple[str, str, str, Callable[[Ctx, Scope], Reply]], ...] = (
    ("GET", "", "actions/list-self-hosted-runners-for-{x}", _list),
    ("GET", "/downloads", "actions/list-runner-applications-for-{x}", _downloads),
    ("POST", "/generate-jitconfig", "actions/generate-runner-jitconfig-for-{x}", _generate_jitconfig),
    ("POST", "/registration-token", "actions/create-registration-token-for-{x}", _token),
    ("POST", "/remove-token", "actions/create-remove-token-for-{x}", _token),
    ("GET", "/{runner_id:int}", "actions/get-self-hosted-runner-for-{x}", _get),
    ("DELETE", "/{runner_id:int}", "actions/delete-self-hosted-runner-from-{x}", _delete),
    ("GET", "/{runner_id:int}/labels", "actions/list-labels-for-self-hosted-runner-for-{x}", _list_labels),
    ("POST", "/{runner_id:int}/labels", "actions/add-custom-labels-to-self-hosted-runner-for-{x}", _add_labels_reply),
    ("PUT", "/{runner_id:int}/labels", "actions/set-custom-labels-for-self-hosted-runner-for-{x}", _set_labels_reply),
    (
        "DELETE",
        "/{runner_id:int}/labels",
        "actions/remove-all-custom-labels-from-self-hosted-runner-for-{x}",
        _clear_labels_reply,
    ),
    (
        "DELETE",
        "/{runner_id:int}/labels/{name}",
        "actions/remove-custom-label-from-self-hosted-runner-for-{x}",
        _remove_label,
    ),
)


def _in_scope(handle: Callable[[Ctx, Scope], Reply], scope_of: Callable[[Ctx], Scope]) -> Callable[[Ctx], Reply]:
    """``handle`` as a route handler: the scope (and its permission check) comes first."""

    def handler(ctx: Ctx) -> Reply:
        return handle(ctx, scope_of(ctx))

    return handler


def _register(x: str, base: str, scope_of: Callable[[Ctx], Scope], scopes: tuple[str, ...]) -> None:
    for method, path, op_id, handle in _OPERATIONS:
        route(method, base + path, op_id.format(x=x), scopes=scopes)(_in_scope(handle, scope_of))


_register("repo", "/repos/{owner}/{repo}/actions/runners", _repo_scope, _REPO_SCOPES)
_register("org", "/orgs/{org}/actions/runners", _org_scope, _ORG_SCOPES)


# -- control routes: the stand-in runner process -------------------------------------------------
@control("POST", "/runners/connect")
def connect(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{"encoded_jit_config": "..."}``: the runner started with that configuration comes online."""
    rec = runner_by_jit(app.world, str_field(body, "encoded_jit_config", max_length=1 << 20))
    if rec is None:
        raise ApiError(404, "No runner was configured with that JIT configuration.")
    rec["status"] = "online"
    app.world.save("runners", rec["id"], rec)
    return {"id": rec["id"], "name": rec["name"]}


@control("POST", "/runners/{runner_id:int}")
def set_state(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{"status": "online"|"offline", "busy": true|false}`` (either or both)."""
    rec = app.world.store.get("runners", params["runner_id"])
    if rec is None:
        raise ApiError(404, f"no runner {params['runner_id']}")
    status = body.get("status", rec["status"])
    if status not in ("online", "offline"):
        raise ApiError(422, "status must be online or offline")
    busy = body.get("busy", rec["busy"] if status == "online" else False)
    if not isinstance(busy, bool):
        raise ApiError(422, "busy must be true or false")
    if busy and status != "online":
        raise ApiError(422, "an offline runner cannot be busy")
    rec["status"], rec["busy"] = status, busy
    app.world.save("runners", rec["id"], rec)
    return _control_view(app.world, rec)


@control("GET", "/runners")
def list_all(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Every runner in the sandbox with its scope, state, labels and group."""
    runners = sorted(app.world.store.values("runners"), key=lambda r: r["id"])
    return {"runners": [_control_view(app.world, r) for r in runners]}


def _control_view(world: World, rec: dict) -> dict[str, Any]:
    if rec.get("repo_id") is not None:
        repo = world.repo_by_id(rec["repo_id"])
        scope = f"repo:{repo['owner']}/{repo['name']}" if repo else f"repo:{rec['repo_id']}"
        group_name: str | None = "Default"
    else:
        scope = f"org:{rec['org']}"
        group = find_group(world, rec["org"], rec["runner_group_id"])
        group_name = group["name"] if group else None
    return {
        "id": rec["id"],
        "name": rec["name"],
        "scope": scope,
        "status": rec["status"],
        "busy": rec["busy"],
        "ephemeral": rec["ephemeral"],
        "os": rec["os"],
        "labels": [lb["name"] for lb in rec["labels"]],
        "label_types": {lb["name"]: lb["type"] for lb in rec["labels"]},
        "runner_group_id": rec["runner_group_id"],
        "group": group_name,
        "jit": rec.get("jit_sha256") is not None,
        "created_at": rec["created_at"],
    }
