"""Conformance cases: environments, Actions variables (repository, environment, organization),
deploy keys."""

from __future__ import annotations

import base64
import hashlib
import struct

from ..conformance import Case


def fake_ed25519(label: str) -> str:
    """A syntactically valid (never usable) OpenSSH ed25519 public key, derived from ``label``."""
    point = hashlib.sha256(label.encode()).digest()
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + point
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


KEY = fake_ed25519("conformance")


def _ok(resp, *statuses):
    assert resp.status_code in statuses, resp.text
    return resp


def env(seed) -> dict:
    _ok(seed.call("alice", "PUT", "/repos/alice/pub/environments/prod", {}), 200)
    return {}


def env_var(seed) -> dict:
    env(seed)
    _ok(seed.call("alice", "POST", "/repos/alice/pub/environments/prod/variables", {"name": "FOO", "value": "1"}), 201)
    return {}


def repo_vars(seed) -> dict:
    for name in ("FOO", "BAR"):
        _ok(seed.call("alice", "POST", "/repos/alice/pub/actions/variables", {"name": name, "value": "v"}), 201)
    return {}


def _ids(seed) -> dict:
    svc = seed.call("alice", "GET", "/repos/acme/svc").json()["id"]
    pub = seed.call("alice", "GET", "/repos/alice/pub").json()["id"]
    return {"svc_id": svc, "pub_id": pub}


def org_vars(seed) -> dict:
    ids = _ids(seed)
    _ok(
        seed.call(
            "alice",
            "POST",
            "/orgs/acme/actions/variables",
            {"name": "SEL", "value": "s", "visibility": "selected", "selected_repository_ids": [ids["svc_id"]]},
        ),
        201,
    )
    _ok(seed.call("alice", "POST", "/orgs/acme/actions/variables", {"name": "ALL", "value": "a", "visibility": "all"}), 201)
    return ids


def repo_only_token(seed) -> dict:
    seed.tokens["alice-repo-only"] = seed.sb.add_user("alice", scopes=("repo",))
    return {}


def deploy_key(seed) -> dict:
    resp = _ok(seed.call("alice", "POST", "/repos/alice/pub/keys", {"title": "ci", "key": KEY}), 201)
    return {"key_id": resp.json()["id"]}


ENV = "/repos/alice/pub/environments/prod"
RV = "/repos/alice/pub/actions/variables"
OV = "/orgs/acme/actions/variables"

CASES = [
    # -- environments --------------------------------------------------------------------------
    Case("repos/get-all-environments", 200, "GET", "/repos/alice/pub/environments", setup=env),
    Case("repos/get-all-environments", 404, "GET", "/repos/alice/priv/environments", login="carol", note="private-hidden"),
    Case("repos/get-environment", 200, "GET", "/repos/alice/pub/environments/PROD", setup=env, note="case-insensitive"),
    Case("repos/get-environment", 404, "GET", "/repos/alice/pub/environments/nope"),
    Case(
        "repos/create-or-update-environment",
        200,
        "PUT",
        ENV,
        {
            "wait_timer": 5,
            "prevent_self_review": True,
            "reviewers": [{"type": "User", "id": "{bob_id}"}],
            "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
        },
        setup=lambda seed: {"bob_id": seed.call("alice", "GET", "/users/bob").json()["id"]},
        note="all-rules",
    ),
    Case("repos/create-or-update-environment", 200, "PUT", ENV, note="no-body"),
    Case(
        "repos/create-or-update-environment",
        422,
        "PUT",
        ENV,
        {"deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": True}},
        note="both-policies",
    ),
    Case("repos/create-or-update-environment", 422, "PUT", ENV, {"wait_timer": 43201}, note="wait-timer"),
    Case(
        "repos/create-or-update-environment",
        422,
        "PUT",
        ENV,
        {"reviewers": [{"type": "User", "id": i} for i in range(1, 8)]},
        note="seven-reviewers",
    ),
    Case("repos/create-or-update-environment", 422, "PUT", ENV, {"wait_timer": "5"}, note="schema"),
    Case("repos/create-or-update-environment", 403, "PUT", ENV, {}, login="carol", note="not-admin"),
    Case("repos/delete-an-environment", 204, "DELETE", ENV, setup=env),
    Case("repos/delete-an-environment", 404, "DELETE", ENV, note="missing"),
    # -- repository variables ----------------------------------------------------------------------
    Case("actions/list-repo-variables", 200, "GET", RV + "?per_page=1", setup=repo_vars),
    Case("actions/list-repo-variables", 403, "GET", RV, login="carol", note="not-admin"),
    Case("actions/list-repo-variables", 404, "GET", "/repos/alice/priv/actions/variables", login="bob", note="hidden"),
    Case("actions/list-repo-variables", 401, "GET", RV, login=None, note="anonymous"),
    Case("actions/create-repo-variable", 201, "POST", RV, {"name": "new_var", "value": "x"}),
    Case("actions/create-repo-variable", 409, "POST", RV, {"name": "foo", "value": "x"}, setup=repo_vars, note="exists"),
    Case("actions/create-repo-variable", 422, "POST", RV, {"name": "1BAD", "value": "x"}, note="bad-name"),
    Case("actions/create-repo-variable", 422, "POST", RV, {"name": "github_token", "value": "x"}, note="reserved"),
    Case("actions/create-repo-variable", 422, "POST", RV, {"name": "BIG", "value": "x" * (48 * 1024 + 1)}, note="too-big"),
    Case("actions/create-repo-variable", 422, "POST", RV, {"name": "NOVALUE"}, note="schema"),
    Case("actions/get-repo-variable", 200, "GET", RV + "/foo", setup=repo_vars),
    Case("actions/get-repo-variable", 404, "GET", RV + "/MISSING"),
    Case("actions/update-repo-variable", 204, "PATCH", RV + "/FOO", {"name": "RENAMED", "value": "2"}, setup=repo_vars),
    Case("actions/update-repo-variable", 404, "PATCH", RV + "/MISSING", {"value": "2"}),
    Case("actions/update-repo-variable", 409, "PATCH", RV + "/FOO", {"name": "bar"}, setup=repo_vars, note="rename-taken"),
    Case("actions/delete-repo-variable", 204, "DELETE", RV + "/FOO", setup=repo_vars),
    Case("actions/delete-repo-variable", 404, "DELETE", RV + "/MISSING"),
    Case("actions/list-repo-organization-variables", 200, "GET", "/repos/acme/svc/actions/organization-variables", setup=org_vars),
    Case(
        "actions/list-repo-organization-variables",
        404,
        "GET",
        "/repos/acme/svc/actions/organization-variables",
        login="carol",
        note="hidden",
    ),
    # -- environment variables ---------------------------------------------------------------------
    Case("actions/list-environment-variables", 200, "GET", ENV + "/variables", setup=env_var),
    Case("actions/list-environment-variables", 404, "GET", ENV + "/variables", note="no-env"),
    Case("actions/create-environment-variable", 201, "POST", ENV + "/variables", {"name": "X", "value": ""}, setup=env),
    Case("actions/create-environment-variable", 409, "POST", ENV + "/variables", {"name": "foo", "value": "2"}, setup=env_var),
    Case("actions/get-environment-variable", 200, "GET", ENV + "/variables/FOO", setup=env_var),
    Case("actions/get-environment-variable", 404, "GET", ENV + "/variables/MISSING", setup=env),
    Case("actions/update-environment-variable", 204, "PATCH", ENV + "/variables/foo", {"value": "2"}, setup=env_var),
    Case("actions/update-environment-variable", 422, "PATCH", ENV + "/variables/FOO", {"name": "a-b"}, setup=env_var),
    Case("actions/delete-environment-variable", 204, "DELETE", ENV + "/variables/FOO", setup=env_var),
    Case("actions/delete-environment-variable", 404, "DELETE", ENV + "/variables/FOO", setup=env),
    # -- organization variables ----------------------------------------------------------------------
    Case("actions/list-org-variables", 200, "GET", OV, setup=org_vars),
    Case("actions/list-org-variables", 403, "GET", OV, login="bob", note="member-not-admin"),
    Case(
        "actions/create-org-variable",
        201,
        "POST",
        OV,
        {"name": "NEW", "value": "v", "visibility": "selected", "selected_repository_ids": ["{svc_id}"]},
        setup=_ids,
    ),
    Case(
        "actions/create-org-variable",
        422,
        "POST",
        OV,
        {"name": "NEW", "value": "v", "visibility": "selected", "selected_repository_ids": ["{pub_id}"]},
        setup=_ids,
        note="not-org-repo",
    ),
    Case("actions/create-org-variable", 422, "POST", OV, {"name": "NEW", "value": "v"}, note="no-visibility"),
    Case("actions/create-org-variable", 409, "POST", OV, {"name": "all", "value": "v", "visibility": "all"}, setup=org_vars, note="exists"),
    Case(
        "actions/create-org-variable",
        403,
        "POST",
        OV,
        {"name": "NEW", "value": "v", "visibility": "all"},
        login="alice-repo-only",
        setup=repo_only_token,
        note="no-admin-org-scope",
    ),
    Case("actions/get-org-variable", 200, "GET", OV + "/sel", setup=org_vars),
    Case("actions/get-org-variable", 404, "GET", OV + "/MISSING"),
    Case("actions/update-org-variable", 204, "PATCH", OV + "/ALL", {"value": "b", "visibility": "private"}, setup=org_vars),
    Case(
        "actions/update-org-variable",
        422,
        "PATCH",
        OV + "/ALL",
        {"selected_repository_ids": ["{svc_id}"]},
        setup=org_vars,
        note="ids-need-selected",
    ),
    Case("actions/delete-org-variable", 204, "DELETE", OV + "/SEL", setup=org_vars),
    Case("actions/delete-org-variable", 404, "DELETE", OV + "/MISSING"),
    Case("actions/list-selected-repos-for-org-variable", 200, "GET", OV + "/SEL/repositories", setup=org_vars),
    Case("actions/list-selected-repos-for-org-variable", 409, "GET", OV + "/ALL/repositories", setup=org_vars),
    Case("actions/set-selected-repos-for-org-variable", 204, "PUT", OV + "/SEL/repositories", {"selected_repository_ids": []}, setup=org_vars),
    Case(
        "actions/set-selected-repos-for-org-variable",
        409,
        "PUT",
        OV + "/ALL/repositories",
        {"selected_repository_ids": ["{svc_id}"]},
        setup=org_vars,
    ),
    Case("actions/add-selected-repo-to-org-variable", 204, "PUT", OV + "/SEL/repositories/{svc_id}", setup=org_vars),
    Case("actions/add-selected-repo-to-org-variable", 409, "PUT", OV + "/ALL/repositories/{svc_id}", setup=org_vars),
    Case("actions/remove-selected-repo-from-org-variable", 204, "DELETE", OV + "/SEL/repositories/{svc_id}", setup=org_vars),
    Case("actions/remove-selected-repo-from-org-variable", 409, "DELETE", OV + "/ALL/repositories/{svc_id}", setup=org_vars),
    # -- deploy keys -----------------------------------------------------------------------------------
    Case("repos/list-deploy-keys", 200, "GET", "/repos/alice/pub/keys", setup=deploy_key),
    Case("repos/list-deploy-keys", 403, "GET", "/repos/alice/pub/keys", login="carol", note="not-admin"),
    Case("repos/list-deploy-keys", 401, "GET", "/repos/alice/pub/keys", login=None, note="anonymous"),
    Case("repos/create-deploy-key", 201, "POST", "/repos/alice/pub/keys", {"title": "deploy", "key": KEY + " me@host", "read_only": True}),
    Case("repos/create-deploy-key", 422, "POST", "/repos/alice/pub/keys", {"title": "bad", "key": "not a key"}, note="invalid"),
    Case("repos/create-deploy-key", 422, "POST", "/repos/alice/priv/keys", {"key": KEY}, setup=deploy_key, note="in-use"),
    Case("repos/get-deploy-key", 200, "GET", "/repos/alice/pub/keys/{key_id}", setup=deploy_key),
    Case("repos/get-deploy-key", 404, "GET", "/repos/alice/pub/keys/1"),
    Case("repos/delete-deploy-key", 204, "DELETE", "/repos/alice/pub/keys/{key_id}", setup=deploy_key),
    Case("repos/delete-deploy-key", 404, "DELETE", "/repos/alice/pub/keys/1"),
]
