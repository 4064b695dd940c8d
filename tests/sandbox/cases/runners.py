"""Conformance cases: self-hosted runners (repository and organization), labels, JIT
configurations, registration tokens, runner groups."""

from __future__ import annotations

from typing import Any

from ..conformance import Case

ORG = "/orgs/acme/actions/runners"
REPO = "/repos/alice/pub/actions/runners"
GROUPS = "/orgs/acme/actions/runner-groups"


# -- setups ----------------------------------------------------------------------------------------
def _jit(seed: Any, base: str, name: str = "r1", labels: tuple[str, ...] = ("gpu",), group: int = 1) -> dict:
    resp = seed.call(
        "alice", "POST", f"{base}/generate-jitconfig", {"name": name, "runner_group_id": group, "labels": list(labels)}
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["runner"]


def org_runner(seed: Any) -> dict:
    return {"rid": _jit(seed, ORG)["id"]}


def repo_runner(seed: Any) -> dict:
    return {"rid": _jit(seed, REPO)["id"]}


def busy_org_runner(seed: Any) -> dict:
    rid = _jit(seed, ORG)["id"]
    seed.ctl("POST", f"/runners/{rid}", {"status": "online", "busy": True})
    return {"rid": rid}


def busy_repo_runner(seed: Any) -> dict:
    rid = _jit(seed, REPO)["id"]
    seed.ctl("POST", f"/runners/{rid}", {"status": "online", "busy": True})
    return {"rid": rid}


def no_admin_org_scope(seed: Any) -> dict:
    """alice (an org admin) with a token that lacks ``admin:org``."""
    seed.tokens["alice-noorg"] = seed.sb.add_user("alice", scopes=("repo",))
    return {}


def svc_id(seed: Any) -> dict:
    resp = seed.call("alice", "GET", "/repos/acme/svc")
    assert resp.status_code == 200, resp.text
    return {"repo_id": resp.json()["id"]}


def _group(seed: Any, name: str = "builders", visibility: str = "selected", **extra: Any) -> dict:
    body = {"name": name, "visibility": visibility, **extra}
    resp = seed.call("alice", "POST", GROUPS, body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def selected_group(seed: Any) -> dict:
    v = svc_id(seed)
    v["gid"] = _group(seed, selected_repository_ids=[v["repo_id"]])["id"]
    return v


def all_group(seed: Any) -> dict:
    v = svc_id(seed)
    v["gid"] = _group(seed, visibility="all")["id"]
    return v


def group_with_runner(seed: Any) -> dict:
    v = org_runner(seed)
    v["gid"] = _group(seed, runners=[v["rid"]])["id"]
    return v


# -- cases -----------------------------------------------------------------------------------------
_JIT_BODY = {"name": "r1", "runner_group_id": 1, "labels": ["gpu", "linux"]}

REPO_CASES = [
    Case("actions/list-self-hosted-runners-for-repo", 200, "GET", REPO + "?name=r1", setup=repo_runner),
    Case(
        "actions/list-self-hosted-runners-for-repo",
        404,
        "GET",
        "/repos/alice/priv/actions/runners",
        login="carol",
        note="private-hidden",
    ),
    Case("actions/list-self-hosted-runners-for-repo", 403, "GET", REPO, login="bob", note="not-admin"),
    Case("actions/list-runner-applications-for-repo", 200, "GET", REPO + "/downloads"),
    Case("actions/list-runner-applications-for-repo", 403, "GET", REPO + "/downloads", login="carol"),
    Case("actions/generate-runner-jitconfig-for-repo", 201, "POST", REPO + "/generate-jitconfig", _JIT_BODY),
    Case(
        "actions/generate-runner-jitconfig-for-repo",
        409,
        "POST",
        REPO + "/generate-jitconfig",
        _JIT_BODY,
        setup=repo_runner,
        note="name-taken",
    ),
    Case(
        "actions/generate-runner-jitconfig-for-repo",
        404,
        "POST",
        REPO + "/generate-jitconfig",
        {"name": "r1", "runner_group_id": 2, "labels": ["gpu"]},
        note="repo-has-only-default-group",
    ),
    Case(
        "actions/generate-runner-jitconfig-for-repo",
        422,
        "POST",
        REPO + "/generate-jitconfig",
        {"name": "r1", "runner_group_id": 1, "labels": []},
        note="no-labels",
    ),
    Case(
        "actions/generate-runner-jitconfig-for-repo",
        422,
        "POST",
        REPO + "/generate-jitconfig",
        {"name": "r1", "runner_group_id": "1", "labels": ["gpu"]},
        note="group-id-not-int",
    ),
    Case(
        "actions/generate-runner-jitconfig-for-repo",
        422,
        "POST",
        REPO + "/generate-jitconfig",
        {"name": "  ", "runner_group_id": 1, "labels": ["gpu"]},
        note="blank-name",
    ),
    Case("actions/create-registration-token-for-repo", 201, "POST", REPO + "/registration-token"),
    Case(
        "actions/create-registration-token-for-repo",
        404,
        "POST",
        "/repos/alice/priv/actions/runners/registration-token",
        login="carol",
    ),
    Case("actions/create-remove-token-for-repo", 201, "POST", REPO + "/remove-token"),
    Case("actions/create-remove-token-for-repo", 403, "POST", REPO + "/remove-token", login="bob"),
    Case("actions/get-self-hosted-runner-for-repo", 200, "GET", REPO + "/{rid}", setup=repo_runner),
    Case("actions/get-self-hosted-runner-for-repo", 404, "GET", REPO + "/999999"),
    Case(
        "actions/get-self-hosted-runner-for-repo",
        404,
        "GET",
        "/repos/alice/priv/actions/runners/{rid}",
        setup=repo_runner,
        note="other-repo",
    ),
    Case("actions/delete-self-hosted-runner-from-repo", 204, "DELETE", REPO + "/{rid}", setup=repo_runner),
    Case(
        "actions/delete-self-hosted-runner-from-repo",
        422,
        "DELETE",
        REPO + "/{rid}",
        setup=busy_repo_runner,
        note="busy",
    ),
    Case("actions/list-labels-for-self-hosted-runner-for-repo", 200, "GET", REPO + "/{rid}/labels", setup=repo_runner),
    Case("actions/list-labels-for-self-hosted-runner-for-repo", 404, "GET", REPO + "/999999/labels"),
    Case(
        "actions/add-custom-labels-to-self-hosted-runner-for-repo",
        200,
        "POST",
        REPO + "/{rid}/labels",
        {"labels": ["big", "gpu"]},
        setup=repo_runner,
    ),
    Case(
        "actions/add-custom-labels-to-self-hosted-runner-for-repo",
        422,
        "POST",
        REPO + "/{rid}/labels",
        {"labels": []},
        setup=repo_runner,
        note="empty",
    ),
    Case(
        "actions/add-custom-labels-to-self-hosted-runner-for-repo",
        404,
        "POST",
        REPO + "/999999/labels",
        {"labels": ["x"]},
    ),
    Case(
        "actions/set-custom-labels-for-self-hosted-runner-for-repo",
        200,
        "PUT",
        REPO + "/{rid}/labels",
        {"labels": ["only-this"]},
        setup=repo_runner,
    ),
    Case(
        "actions/set-custom-labels-for-self-hosted-runner-for-repo",
        422,
        "PUT",
        REPO + "/{rid}/labels",
        {"labels": [" "]},
        setup=repo_runner,
        note="blank-label",
    ),
    Case(
        "actions/set-custom-labels-for-self-hosted-runner-for-repo", 404, "PUT", REPO + "/999999/labels", {"labels": []}
    ),
    Case(
        "actions/remove-all-custom-labels-from-self-hosted-runner-for-repo",
        200,
        "DELETE",
        REPO + "/{rid}/labels",
        setup=repo_runner,
    ),
    Case("actions/remove-all-custom-labels-from-self-hosted-runner-for-repo", 404, "DELETE", REPO + "/999999/labels"),
    Case(
        "actions/remove-custom-label-from-self-hosted-runner-for-repo",
        200,
        "DELETE",
        REPO + "/{rid}/labels/GPU",
        setup=repo_runner,
    ),
    Case(
        "actions/remove-custom-label-from-self-hosted-runner-for-repo",
        404,
        "DELETE",
        REPO + "/{rid}/labels/nope",
        setup=repo_runner,
        note="absent",
    ),
    Case(
        "actions/remove-custom-label-from-self-hosted-runner-for-repo",
        422,
        "DELETE",
        REPO + "/{rid}/labels/self-hosted",
        setup=repo_runner,
        note="read-only",
    ),
]

ORG_CASES = [
    Case("actions/list-self-hosted-runners-for-org", 200, "GET", ORG + "?name=r1&per_page=1", setup=org_runner),
    Case("actions/list-self-hosted-runners-for-org", 403, "GET", ORG, login="bob", note="member-not-admin"),
    Case(
        "actions/list-self-hosted-runners-for-org",
        403,
        "GET",
        ORG,
        login="alice-noorg",
        setup=no_admin_org_scope,
        note="no-admin-org-scope",
    ),
    Case("actions/list-self-hosted-runners-for-org", 404, "GET", "/orgs/nope/actions/runners", note="no-org"),
    Case("actions/list-runner-applications-for-org", 200, "GET", ORG + "/downloads"),
    Case("actions/list-runner-applications-for-org", 403, "GET", ORG + "/downloads", login="carol"),
    Case(
        "actions/generate-runner-jitconfig-for-org",
        201,
        "POST",
        ORG + "/generate-jitconfig",
        {"name": "r1", "runner_group_id": 1, "labels": ["gpu"], "work_folder": "w"},
    ),
    Case(
        "actions/generate-runner-jitconfig-for-org",
        409,
        "POST",
        ORG + "/generate-jitconfig",
        _JIT_BODY,
        setup=org_runner,
        note="name-taken",
    ),
    Case(
        "actions/generate-runner-jitconfig-for-org",
        404,
        "POST",
        ORG + "/generate-jitconfig",
        {"name": "r1", "runner_group_id": 4242, "labels": ["gpu"]},
        note="unknown-group",
    ),
    Case(
        "actions/generate-runner-jitconfig-for-org",
        422,
        "POST",
        ORG + "/generate-jitconfig",
        {"name": "r1", "labels": ["gpu"]},
        note="no-group",
    ),
    Case("actions/create-registration-token-for-org", 201, "POST", ORG + "/registration-token"),
    Case("actions/create-registration-token-for-org", 403, "POST", ORG + "/registration-token", login="bob"),
    Case("actions/create-remove-token-for-org", 201, "POST", ORG + "/remove-token"),
    Case("actions/create-remove-token-for-org", 401, "POST", ORG + "/remove-token", login=None),
    Case("actions/get-self-hosted-runner-for-org", 200, "GET", ORG + "/{rid}", setup=org_runner),
    Case("actions/get-self-hosted-runner-for-org", 404, "GET", ORG + "/{rid}", setup=repo_runner, note="repo-runner"),
    Case("actions/delete-self-hosted-runner-from-org", 204, "DELETE", ORG + "/{rid}", setup=org_runner),
    Case(
        "actions/delete-self-hosted-runner-from-org", 422, "DELETE", ORG + "/{rid}", setup=busy_org_runner, note="busy"
    ),
    Case("actions/list-labels-for-self-hosted-runner-for-org", 200, "GET", ORG + "/{rid}/labels", setup=org_runner),
    Case("actions/list-labels-for-self-hosted-runner-for-org", 404, "GET", ORG + "/999999/labels"),
    Case(
        "actions/add-custom-labels-to-self-hosted-runner-for-org",
        200,
        "POST",
        ORG + "/{rid}/labels",
        {"labels": ["big"]},
        setup=org_runner,
    ),
    Case(
        "actions/add-custom-labels-to-self-hosted-runner-for-org",
        422,
        "POST",
        ORG + "/{rid}/labels",
        {"labels": [f"l{i}" for i in range(100)]},
        setup=org_runner,
        note="over-100",
    ),
    Case(
        "actions/add-custom-labels-to-self-hosted-runner-for-org",
        404,
        "POST",
        ORG + "/999999/labels",
        {"labels": ["x"]},
    ),
    Case(
        "actions/set-custom-labels-for-self-hosted-runner-for-org",
        200,
        "PUT",
        ORG + "/{rid}/labels",
        {"labels": []},
        setup=org_runner,
    ),
    Case(
        "actions/set-custom-labels-for-self-hosted-runner-for-org",
        422,
        "PUT",
        ORG + "/{rid}/labels",
        {"labels": [f"l{i}" for i in range(101)]},
        setup=org_runner,
        note="schema-max",
    ),
    Case(
        "actions/set-custom-labels-for-self-hosted-runner-for-org",
        404,
        "PUT",
        ORG + "/999999/labels",
        {"labels": ["x"]},
    ),
    Case(
        "actions/remove-all-custom-labels-from-self-hosted-runner-for-org",
        200,
        "DELETE",
        ORG + "/{rid}/labels",
        setup=org_runner,
    ),
    Case("actions/remove-all-custom-labels-from-self-hosted-runner-for-org", 404, "DELETE", ORG + "/999999/labels"),
    Case(
        "actions/remove-custom-label-from-self-hosted-runner-for-org",
        200,
        "DELETE",
        ORG + "/{rid}/labels/gpu",
        setup=org_runner,
    ),
    Case(
        "actions/remove-custom-label-from-self-hosted-runner-for-org",
        404,
        "DELETE",
        ORG + "/{rid}/labels/nope",
        setup=org_runner,
        note="absent",
    ),
    Case(
        "actions/remove-custom-label-from-self-hosted-runner-for-org",
        422,
        "DELETE",
        ORG + "/{rid}/labels/Linux",
        setup=org_runner,
        note="read-only",
    ),
]

GROUP_CASES = [
    Case("actions/list-self-hosted-runner-groups-for-org", 200, "GET", GROUPS),
    Case(
        "actions/list-self-hosted-runner-groups-for-org",
        200,
        "GET",
        GROUPS + "?visible_to_repository=svc",
        setup=selected_group,
        note="visible-to",
    ),
    Case("actions/list-self-hosted-runner-groups-for-org", 403, "GET", GROUPS, login="bob"),
    Case(
        "actions/create-self-hosted-runner-group-for-org",
        201,
        "POST",
        GROUPS,
        {
            "name": "builders",
            "visibility": "selected",
            "selected_repository_ids": ["{repo_id}"],
            "restricted_to_workflows": True,
            "selected_workflows": ["acme/svc/.github/workflows/ci.yml@refs/heads/main"],
        },
        setup=svc_id,
    ),
    Case(
        "actions/create-self-hosted-runner-group-for-org", 409, "POST", GROUPS, {"name": "default"}, note="name-taken"
    ),
    Case(
        "actions/create-self-hosted-runner-group-for-org",
        422,
        "POST",
        GROUPS,
        {"name": "x", "visibility": "selected", "selected_repository_ids": [999999]},
        note="foreign-repo",
    ),
    Case(
        "actions/create-self-hosted-runner-group-for-org",
        422,
        "POST",
        GROUPS,
        {"name": "x", "visibility": "secret"},
        note="schema",
    ),
    Case(
        "actions/create-self-hosted-runner-group-for-org",
        422,
        "POST",
        GROUPS,
        {"name": "x", "restricted_to_workflows": True, "selected_workflows": ["ci.yml"]},
        note="bad-workflow-ref",
    ),
    Case("actions/get-self-hosted-runner-group-for-org", 200, "GET", GROUPS + "/1"),
    Case(
        "actions/get-self-hosted-runner-group-for-org",
        200,
        "GET",
        GROUPS + "/{gid}",
        setup=selected_group,
        note="selected",
    ),
    Case("actions/get-self-hosted-runner-group-for-org", 404, "GET", GROUPS + "/999"),
    Case(
        "actions/update-self-hosted-runner-group-for-org",
        200,
        "PATCH",
        GROUPS + "/{gid}",
        {"name": "renamed", "visibility": "private", "allows_public_repositories": True},
        setup=selected_group,
    ),
    Case(
        "actions/update-self-hosted-runner-group-for-org",
        422,
        "PATCH",
        GROUPS + "/1",
        {"name": "Other"},
        note="rename-default",
    ),
    Case("actions/update-self-hosted-runner-group-for-org", 404, "PATCH", GROUPS + "/999", {"name": "x"}),
    Case("actions/delete-self-hosted-runner-group-from-org", 204, "DELETE", GROUPS + "/{gid}", setup=group_with_runner),
    Case("actions/delete-self-hosted-runner-group-from-org", 422, "DELETE", GROUPS + "/1", note="default"),
    Case(
        "actions/list-repo-access-to-self-hosted-runner-group-in-org",
        200,
        "GET",
        GROUPS + "/{gid}/repositories",
        setup=selected_group,
    ),
    Case("actions/list-repo-access-to-self-hosted-runner-group-in-org", 404, "GET", GROUPS + "/999/repositories"),
    Case(
        "actions/set-repo-access-to-self-hosted-runner-group-in-org",
        204,
        "PUT",
        GROUPS + "/{gid}/repositories",
        {"selected_repository_ids": ["{repo_id}"]},
        setup=selected_group,
    ),
    Case(
        "actions/set-repo-access-to-self-hosted-runner-group-in-org",
        409,
        "PUT",
        GROUPS + "/1/repositories",
        {"selected_repository_ids": ["{repo_id}"]},
        setup=svc_id,
        note="not-selected",
    ),
    Case(
        "actions/set-repo-access-to-self-hosted-runner-group-in-org",
        422,
        "PUT",
        GROUPS + "/{gid}/repositories",
        {"selected_repository_ids": [999999]},
        setup=selected_group,
        note="foreign-repo",
    ),
    Case(
        "actions/add-repo-access-to-self-hosted-runner-group-in-org",
        204,
        "PUT",
        GROUPS + "/{gid}/repositories/{repo_id}",
        setup=selected_group,
    ),
    Case(
        "actions/add-repo-access-to-self-hosted-runner-group-in-org",
        409,
        "PUT",
        GROUPS + "/{gid}/repositories/{repo_id}",
        setup=all_group,
        note="not-selected",
    ),
    Case(
        "actions/add-repo-access-to-self-hosted-runner-group-in-org",
        404,
        "PUT",
        GROUPS + "/{gid}/repositories/999999",
        setup=selected_group,
        note="unknown-repo",
    ),
    Case(
        "actions/remove-repo-access-to-self-hosted-runner-group-in-org",
        204,
        "DELETE",
        GROUPS + "/{gid}/repositories/{repo_id}",
        setup=selected_group,
    ),
    Case(
        "actions/remove-repo-access-to-self-hosted-runner-group-in-org",
        409,
        "DELETE",
        GROUPS + "/1/repositories/{repo_id}",
        setup=svc_id,
        note="not-selected",
    ),
    Case(
        "actions/list-self-hosted-runners-in-group-for-org",
        200,
        "GET",
        GROUPS + "/{gid}/runners",
        setup=group_with_runner,
    ),
    Case("actions/list-self-hosted-runners-in-group-for-org", 404, "GET", GROUPS + "/999/runners"),
    Case(
        "actions/set-self-hosted-runners-in-group-for-org",
        204,
        "PUT",
        GROUPS + "/{gid}/runners",
        {"runners": []},
        setup=group_with_runner,
    ),
    Case(
        "actions/set-self-hosted-runners-in-group-for-org",
        422,
        "PUT",
        GROUPS + "/1/runners",
        {"runners": [999999]},
        note="unknown-runner",
    ),
    Case(
        "actions/add-self-hosted-runner-to-group-for-org",
        204,
        "PUT",
        GROUPS + "/1/runners/{rid}",
        setup=group_with_runner,
    ),
    Case("actions/add-self-hosted-runner-to-group-for-org", 404, "PUT", GROUPS + "/1/runners/999999"),
    Case(
        "actions/remove-self-hosted-runner-from-group-for-org",
        204,
        "DELETE",
        GROUPS + "/{gid}/runners/{rid}",
        setup=group_with_runner,
    ),
    Case(
        "actions/remove-self-hosted-runner-from-group-for-org",
        422,
        "DELETE",
        GROUPS + "/1/runners/{rid}",
        setup=org_runner,
        note="default-group",
    ),
]

CASES = REPO_CASES + ORG_CASES + GROUP_CASES
