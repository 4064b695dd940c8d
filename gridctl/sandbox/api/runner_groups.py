"""Self-hosted runner groups of an organization (group ``runner-groups``).

Every organization has a "Default" group with id 1 (visibility ``all``), created on first use
and persisted; it can be configured but neither renamed nor deleted, and a runner taken out
of any other group returns to it. Custom groups get ids from one sandbox-wide sequence.

Records: table ``runner_groups`` (see :func:`.runners.group_key` for the key), fields as in
LAYOUT.md. The runner records' ``runner_group_id`` and the groups' ``runner_ids`` are kept in
step by :func:`.runners.move_runner`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from ..errors import ApiError, not_found
from ..http import Ctx, Reply, empty, json_reply
from ..routing import route
from ..shapes import repository
from .runners import (
    DEFAULT_GROUP_ID,
    default_group,
    find_group,
    group_allows_repo,
    group_key,
    move_runner,
    org_groups,
    runner_json,
    save_group,
)

_SCOPES = ("admin:org",)
_G = "/orgs/{org}/actions/runner-groups"
#: ``owner/repo/.github/workflows/file.yml@ref`` (a ref, tag or long SHA is required)
_WORKFLOW_REF = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/\.github/workflows/[^@\s]+\.ya?ml@\S+$")


# -- shapes --------------------------------------------------------------------------------------
def group_json(ctx: Ctx, group: dict) -> dict[str, Any]:
    base = ctx.url(f"/orgs/{group['org']}/actions/runner-groups/{group['id']}")
    out: dict[str, Any] = {
        "id": group["id"],
        "name": group["name"],
        "visibility": group["visibility"],
        "default": group["default"],
        "runners_url": f"{base}/runners",
        "hosted_runners_url": f"{base}/hosted-runners",
        "inherited": False,
        "allows_public_repositories": group["allows_public_repositories"],
        "restricted_to_workflows": group["restricted_to_workflows"],
        "selected_workflows": list(group["selected_workflows"]),
        "workflow_restrictions_read_only": False,
    }
    if group["visibility"] == "selected":
        out["selected_repositories_url"] = f"{base}/repositories"
    return out


# -- helpers -------------------------------------------------------------------------------------
def _group(ctx: Ctx) -> tuple[dict, dict]:
    """The organization (its owner calling) and its runner group ``{runner_group_id}``."""
    org = ctx.org(admin=True)
    group = find_group(ctx.world, org["login"], int(ctx.params["runner_group_id"]))
    if group is None:
        raise not_found()
    return org, group


#: a handler of one group's operation: ``(ctx, org, group) -> Reply``
GroupHandler = Callable[[Ctx, dict, dict], Reply]


def _on_group(method: str, suffix: str, op_id: str) -> Callable[[GroupHandler], GroupHandler]:
    """Route ``method`` on one group's path (``{runner_group_id}`` then ``suffix``) to a handler
    given the organization and the group (:func:`_group`: a 404 when there is no such group)."""

    def register(fn: GroupHandler) -> GroupHandler:
        route(method, _G + "/{runner_group_id:int}" + suffix, op_id, scopes=_SCOPES)(lambda ctx: fn(ctx, *_group(ctx)))
        return fn

    return register


def _path_item(ctx: Ctx, items: dict[int, dict], param: str) -> dict:
    """The repository or runner of the organization that the path parameter ``param`` names."""
    item = items.get(int(ctx.params[param]))
    if item is None:
        raise not_found()
    return item


def _org_repos(ctx: Ctx, org: dict) -> dict[int, dict]:
    return {r["id"]: r for r in ctx.world.repos_of(org["login"])}


def _org_runners(ctx: Ctx, org: dict) -> dict[int, dict]:
    low = org["login"].lower()
    return {
        r["id"]: r
        for r in ctx.world.store.values("runners")
        if r.get("repo_id") is None and (r.get("org") or "").lower() == low
    }


def _invalid(field: str, message: str, value: Any = None) -> ApiError:
    err: dict[str, Any] = {"resource": "RunnerGroup", "code": "invalid", "field": field, "message": message}
    if value is not None:
        err["value"] = value
    return ApiError(422, "Validation Failed", errors=[err])


def _check_name(ctx: Ctx, org: dict, name: str, *, other_than: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[
                {"resource": "RunnerGroup", "code": "missing_field", "field": "name", "message": "Name can't be blank"}
            ],
        )
    for g in org_groups(ctx.world, org["login"]):
        if g["id"] != other_than and g["name"].lower() == name.lower():
            raise ApiError(409, f"A runner group with the name {g['name']} already exists in {org['login']}.")
    return name


def _known(ids: list[int], items: dict[int, dict], field: str, unknown: str) -> list[dict]:
    """The records ``ids`` name, de-duplicated in order; an id not in ``items`` is a 422 whose
    message is ``unknown`` with the id filled in."""
    out: list[dict] = []
    for ident in ids:
        if ident not in items:
            raise _invalid(field, unknown.format(ident), ident)
        if items[ident] not in out:
            out.append(items[ident])
    return out


def _check_repo_ids(ctx: Ctx, org: dict, ids: list[int]) -> list[int]:
    repos = _known(ids, _org_repos(ctx, org), "selected_repository_ids", f"Repository {{}} is not a repository of {org['login']}.")
    return [r["id"] for r in repos]


def _check_runner_ids(ctx: Ctx, org: dict, ids: list[int]) -> list[dict]:
    return _known(ids, _org_runners(ctx, org), "runners", f"Runner {{}} is not a self-hosted runner of {org['login']}.")


def _check_workflow_settings(body: dict) -> None:
    for ref in body.get("selected_workflows", []):
        if not _WORKFLOW_REF.match(ref):
            raise _invalid(
                "selected_workflows",
                f"{ref!r} is not a workflow reference: use OWNER/REPO/.github/workflows/FILE.yml@REF "
                "(a ref, tag, or long SHA is required).",
                ref,
            )
    if body.get("network_configuration_id") is not None:
        # hosted compute networking (Azure private networking) does not exist in the sandbox
        raise _invalid(
            "network_configuration_id",
            f"Network configuration {body['network_configuration_id']} was not found.",
            body["network_configuration_id"],
        )


def _visible_to(ctx: Ctx, org: dict, groups: list[dict]) -> list[dict]:
    name = ctx.query.get("visible_to_repository")
    if name is None:
        return groups
    repo = ctx.world.find_repo(org["login"], name)
    if repo is None:
        return []
    return [g for g in groups if group_allows_repo(g, repo)]


# -- groups --------------------------------------------------------------------------------------
@route("GET", _G, "actions/list-self-hosted-runner-groups-for-org", scopes=_SCOPES)
def list_groups(ctx: Ctx) -> Reply:
    org = ctx.org(admin=True)
    groups = _visible_to(ctx, org, org_groups(ctx.world, org["login"]))
    return ctx.paginate([group_json(ctx, g) for g in groups], key="runner_groups")


@route("POST", _G, "actions/create-self-hosted-runner-group-for-org", scopes=_SCOPES)
def create_group(ctx: Ctx) -> Reply:
    org = ctx.org(admin=True)
    world = ctx.world
    body = ctx.body
    name = _check_name(ctx, org, body["name"])
    _check_workflow_settings(body)
    visibility = body.get("visibility", "all")
    repo_ids = _check_repo_ids(ctx, org, body.get("selected_repository_ids", []))
    runners = _check_runner_ids(ctx, org, body.get("runners", []))
    default_group(world, org["login"])
    group = {
        "id": world.next_id("runner_groups", DEFAULT_GROUP_ID + 1),
        "org": org["login"],
        "name": name,
        "visibility": visibility,
        "default": False,
        "allows_public_repositories": body.get("allows_public_repositories", False),
        "restricted_to_workflows": body.get("restricted_to_workflows", False),
        "selected_workflows": list(body.get("selected_workflows", [])),
        # selected repositories only mean something for visibility "selected"
        "selected_repository_ids": repo_ids if visibility == "selected" else [],
        "runner_ids": [],
    }
    save_group(world, group)
    for runner in runners:
        move_runner(world, runner, group)
    return json_reply(group_json(ctx, group), status=201)


@_on_group("GET", "", "actions/get-self-hosted-runner-group-for-org")
def get_group(ctx: Ctx, org: dict, group: dict) -> Reply:
    return json_reply(group_json(ctx, group))


@_on_group("PATCH", "", "actions/update-self-hosted-runner-group-for-org")
def update_group(ctx: Ctx, org: dict, group: dict) -> Reply:
    body = ctx.body
    name = _check_name(ctx, org, body["name"], other_than=group["id"])
    if group["default"] and name != group["name"]:
        raise _invalid("name", "The default runner group cannot be renamed.", name)
    _check_workflow_settings(body)
    group["name"] = name
    if "visibility" in body:
        group["visibility"] = body["visibility"]
        if body["visibility"] != "selected":
            group["selected_repository_ids"] = []
    for key in ("allows_public_repositories", "restricted_to_workflows"):
        if key in body:
            group[key] = body[key]
    if "selected_workflows" in body:
        group["selected_workflows"] = list(body["selected_workflows"])
    save_group(ctx.world, group)
    return json_reply(group_json(ctx, group))


@_on_group("DELETE", "", "actions/delete-self-hosted-runner-group-from-org")
def delete_group(ctx: Ctx, org: dict, group: dict) -> Reply:
    world = ctx.world
    if group["default"]:
        raise ApiError(422, "The default runner group cannot be deleted.")
    fallback = default_group(world, org["login"])
    for runner in _org_runners(ctx, org).values():
        if runner["runner_group_id"] == group["id"]:
            move_runner(world, runner, fallback)
    world.store.delete("runner_groups", group_key(org["login"], group["id"]))
    return empty()


# -- repository access ---------------------------------------------------------------------------
def _need_selected(group: dict) -> None:
    if group["visibility"] != "selected":
        raise ApiError(
            409,
            f"The runner group {group['name']} has visibility {group['visibility']!r}; "
            "repository access can only be changed when visibility is 'selected'.",
        )


@_on_group("GET", "/repositories", "actions/list-repo-access-to-self-hosted-runner-group-in-org")
def list_repo_access(ctx: Ctx, org: dict, group: dict) -> Reply:
    repos = _org_repos(ctx, org)
    chosen = [repos[i] for i in sorted(group["selected_repository_ids"]) if i in repos]
    return ctx.paginate([repository(ctx, r, level="minimal") for r in chosen], key="repositories")


@_on_group("PUT", "/repositories", "actions/set-repo-access-to-self-hosted-runner-group-in-org")
def set_repo_access(ctx: Ctx, org: dict, group: dict) -> Reply:
    _need_selected(group)
    group["selected_repository_ids"] = _check_repo_ids(ctx, org, ctx.body["selected_repository_ids"])
    save_group(ctx.world, group)
    return empty()


def _repo_access(ctx: Ctx, org: dict, group: dict, *, grant: bool) -> Reply:
    """Grant (or withdraw) the repository ``{repository_id}`` access to the group."""
    repo = _path_item(ctx, _org_repos(ctx, org), "repository_id")
    _need_selected(group)
    ids = group["selected_repository_ids"]
    if grant != (repo["id"] in ids):
        if grant:
            ids.append(repo["id"])
        else:
            ids.remove(repo["id"])
        save_group(ctx.world, group)
    return empty()


for _method, _op_id, _grant in (
    ("PUT", "actions/add-repo-access-to-self-hosted-runner-group-in-org", True),
    ("DELETE", "actions/remove-repo-access-to-self-hosted-runner-group-in-org", False),
):
    _on_group(_method, "/repositories/{repository_id:int}", _op_id)(functools.partial(_repo_access, grant=_grant))


# -- runners in a group --------------------------------------------------------------------------
def _members(ctx: Ctx, org: dict, group: dict) -> list[dict]:
    return sorted(
        (r for r in _org_runners(ctx, org).values() if r["runner_group_id"] == group["id"]), key=lambda r: r["id"]
    )


def _cannot_leave_default(runner: dict) -> ApiError:
    return ApiError(
        422,
        f"Runner {runner['name']} cannot be removed from the default runner group; add it to another group instead.",
    )


@_on_group("GET", "/runners", "actions/list-self-hosted-runners-in-group-for-org")
def list_group_runners(ctx: Ctx, org: dict, group: dict) -> Reply:
    return ctx.paginate([runner_json(r) for r in _members(ctx, org, group)], key="runners")


@_on_group("PUT", "/runners", "actions/set-self-hosted-runners-in-group-for-org")
def set_group_runners(ctx: Ctx, org: dict, group: dict) -> Reply:
    world = ctx.world
    wanted = _check_runner_ids(ctx, org, ctx.body["runners"])
    wanted_ids = {r["id"] for r in wanted}
    leaving = [r for r in _members(ctx, org, group) if r["id"] not in wanted_ids]
    if group["default"] and leaving:
        raise _cannot_leave_default(leaving[0])
    fallback = default_group(world, org["login"])
    for runner in leaving:
        move_runner(world, runner, fallback)
    for runner in wanted:
        move_runner(world, runner, group)
    return empty()


@_on_group("PUT", "/runners/{runner_id:int}", "actions/add-self-hosted-runner-to-group-for-org")
def add_group_runner(ctx: Ctx, org: dict, group: dict) -> Reply:
    move_runner(ctx.world, _path_item(ctx, _org_runners(ctx, org), "runner_id"), group)
    return empty()


@_on_group("DELETE", "/runners/{runner_id:int}", "actions/remove-self-hosted-runner-from-group-for-org")
def remove_group_runner(ctx: Ctx, org: dict, group: dict) -> Reply:
    runner = _path_item(ctx, _org_runners(ctx, org), "runner_id")
    if runner["runner_group_id"] != group["id"]:
        raise not_found()
    if group["default"]:
        raise _cannot_leave_default(runner)
    move_runner(ctx.world, runner, default_group(ctx.world, org["login"]))
    return empty()
