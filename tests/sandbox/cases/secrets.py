"""Conformance cases: Actions secrets (repository, environment, organization), Dependabot
secrets (repository, organization), Codespaces user secrets.

The helpers here (``seal``, ``ensure_environment``, ``put_secret``...) are shared with
``tests/sandbox/test_secrets.py``.
"""

from __future__ import annotations

from typing import Any

from github.PublicKey import encrypt

from ..conformance import Case

VALUE = "s3cret-value"


# -- helpers ----------------------------------------------------------------------------------------
def seal(seed: Any, key_path: str, value: str = VALUE, login: str = "alice") -> dict:
    """``{"key_id", "enc"}``: ``value`` sealed with the public key at ``key_path``."""
    resp = seed.call(login, "GET", key_path)
    assert resp.status_code == 200, resp.text
    pk = resp.json()
    return {"key_id": pk["key_id"], "enc": encrypt(pk["key"], value)}


def put_secret(seed: Any, secret_path: str, value: str = VALUE, login: str = "alice", **extra: Any) -> int:
    """PUT a secret at ``secret_path`` (``.../secrets/NAME``), sealing ``value`` with the key of
    that collection; returns the status."""
    key_path = secret_path.rsplit("/", 1)[0] + "/public-key"
    sealed = seal(seed, key_path, value, login)
    body = {"key_id": sealed["key_id"], "encrypted_value": sealed["enc"], **extra}
    resp = seed.call(login, "PUT", secret_path, body)
    assert resp.status_code in (201, 204), resp.text
    return resp.status_code


def ensure_environment(seed: Any, owner: str, repo: str, name: str) -> None:
    """Create environment ``name`` with the real API when it exists, otherwise write the record
    LAYOUT.md describes straight into the world (the environments area is built in parallel)."""
    resp = seed.call("alice", "PUT", f"/repos/{owner}/{repo}/environments/{name}", {})
    if resp.status_code == 200:
        return
    app = seed.sb.app
    world = app.world
    with app.store.lock:
        rec = world.find_repo(owner, repo)
        assert rec is not None
        envs = rec.setdefault("environments", {})
        if name not in envs:
            now = world.now_iso()
            envs[name] = {
                "id": world.next_id("environments", 160000),
                "name": name,
                "created_at": now,
                "updated_at": now,
                "wait_timer": 0,
                "prevent_self_review": False,
                "reviewers": [],
                "deployment_branch_policy": None,
                "secrets": {},
                "variables": {},
            }
        world.save("repos", rec["id"], rec)
        app.store.commit()


def repo_ids(seed: Any) -> dict:
    out = {}
    for key, full in (("pub_id", "alice/pub"), ("priv_id", "alice/priv"), ("svc_id", "acme/svc")):
        out[key] = seed.call("alice", "GET", f"/repos/{full}").json()["id"]
        out[key + "_s"] = str(out[key])
    return out


# -- setups -----------------------------------------------------------------------------------------
def repo_key(kind: str, repo: str = "alice/priv"):
    return lambda seed: seal(seed, f"/repos/{repo}/{kind}/secrets/public-key")


def repo_secret(kind: str, repo: str = "alice/priv", name: str = "API_KEY"):
    def setup(seed: Any) -> dict:
        put_secret(seed, f"/repos/{repo}/{kind}/secrets/{name}")
        return seal(seed, f"/repos/{repo}/{kind}/secrets/public-key", "new-value")

    return setup


def env_ready(seed: Any) -> dict:
    ensure_environment(seed, "alice", "priv", "prod")
    return seal(seed, "/repos/alice/priv/environments/prod/secrets/public-key")


def env_secret(seed: Any) -> dict:
    ensure_environment(seed, "alice", "priv", "prod")
    put_secret(seed, "/repos/alice/priv/environments/prod/secrets/DB_PASS")
    return seal(seed, "/repos/alice/priv/environments/prod/secrets/public-key", "new-value")


def org_key(kind: str):
    def setup(seed: Any) -> dict:
        out = repo_ids(seed)
        out.update(seal(seed, f"/orgs/acme/{kind}/secrets/public-key"))
        return out

    return setup


def org_secret(kind: str, visibility: str = "selected"):
    def setup(seed: Any) -> dict:
        out = repo_ids(seed)
        extra: dict[str, Any] = {"visibility": visibility}
        if visibility == "selected":
            extra["selected_repository_ids"] = [out["svc_id"]]
        put_secret(seed, f"/orgs/acme/{kind}/secrets/ORG_TOKEN", **extra)
        out.update(seal(seed, f"/orgs/acme/{kind}/secrets/public-key", "new-value"))
        return out

    return setup


def org_secrets_for_svc(seed: Any) -> dict:
    ids = repo_ids(seed)
    put_secret(seed, "/orgs/acme/actions/secrets/EVERYWHERE", visibility="all")
    put_secret(seed, "/orgs/acme/actions/secrets/NOT_SVC", visibility="selected", selected_repository_ids=[])
    return ids


def no_codespace_token(seed: Any) -> dict:
    seed.tokens["bob_repo_only"] = seed.sb.add_user("bob", scopes=("repo",))
    return {}


def cs_key(seed: Any) -> dict:
    out = repo_ids(seed)
    out.update(seal(seed, "/user/codespaces/secrets/public-key"))
    return out


def cs_secret(seed: Any) -> dict:
    out = repo_ids(seed)
    put_secret(seed, "/user/codespaces/secrets/CS_TOKEN", selected_repository_ids=[out["pub_id"]])
    out.update(seal(seed, "/user/codespaces/secrets/public-key", "new-value"))
    return out


def cs_secret_and_hidden_repo(seed: Any) -> dict:
    out = cs_secret(seed)
    resp = seed.call("carol", "POST", "/user/repos", {"name": "hidden", "private": True})
    assert resp.status_code == 201, resp.text
    out["hidden_id"] = resp.json()["id"]
    return out


SEALED = {"key_id": "{key_id}", "encrypted_value": "{enc}"}
GARBAGE = "bm90IGEgc2VhbGVkIGJveCBhdCBhbGwgLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0tLS0t"

CASES: list[Case] = []

# -- repository secrets, both kinds -----------------------------------------------------------------
for kind in ("actions", "dependabot"):
    base = f"/repos/alice/priv/{kind}/secrets"
    CASES += [
        Case(f"{kind}/get-repo-public-key", 200, "GET", base + "/public-key"),
        Case(f"{kind}/get-repo-public-key", 200, "GET", f"/repos/alice/pub/{kind}/secrets/public-key",
             login="carol", note="read-access-is-enough"),
        Case(f"{kind}/get-repo-public-key", 404, "GET", base + "/public-key", login="carol", note="private-hidden"),
        Case(f"{kind}/list-repo-secrets", 200, "GET", base, setup=repo_secret(kind)),
        Case(f"{kind}/list-repo-secrets", 403, "GET", f"/repos/alice/pub/{kind}/secrets", login="carol", note="not-admin"),
        Case(f"{kind}/list-repo-secrets", 404, "GET", base, login="carol", note="private-hidden"),
        Case(f"{kind}/get-repo-secret", 200, "GET", base + "/api_key", setup=repo_secret(kind), note="case-insensitive"),
        Case(f"{kind}/get-repo-secret", 404, "GET", base + "/NOPE"),
        Case(f"{kind}/create-or-update-repo-secret", 201, "PUT", base + "/API_KEY", SEALED, setup=repo_key(kind)),
        Case(f"{kind}/create-or-update-repo-secret", 204, "PUT", base + "/API_KEY", SEALED, setup=repo_secret(kind),
             note="update"),
        Case(f"{kind}/create-or-update-repo-secret", 422, "PUT", base + "/API_KEY",
             {"key_id": "12345", "encrypted_value": "{enc}"}, setup=repo_key(kind), note="wrong-key-id"),
        Case(f"{kind}/create-or-update-repo-secret", 422, "PUT", base + "/API_KEY",
             {"key_id": "{key_id}", "encrypted_value": GARBAGE}, setup=repo_key(kind), note="garbage-value"),
        Case(f"{kind}/create-or-update-repo-secret", 422, "PUT", base + "/2BAD", SEALED, setup=repo_key(kind),
             note="bad-name"),
        Case(f"{kind}/create-or-update-repo-secret", 422, "PUT", base + "/GITHUB_TOKEN", SEALED, setup=repo_key(kind),
             note="github-prefix"),
        Case(f"{kind}/create-or-update-repo-secret", 404, "PUT", base + "/API_KEY", SEALED, login="carol",
             setup=repo_key(kind), note="private-hidden"),
        Case(f"{kind}/delete-repo-secret", 204, "DELETE", base + "/API_KEY", setup=repo_secret(kind)),
        Case(f"{kind}/delete-repo-secret", 404, "DELETE", base + "/API_KEY"),
    ]
CASES += [
    Case("actions/create-or-update-repo-secret", 422, "PUT", "/repos/alice/priv/actions/secrets/API_KEY",
         {"encrypted_value": "{enc}"}, setup=repo_key("actions"), note="schema-missing-key-id"),
    Case("dependabot/create-or-update-repo-secret", 422, "PUT", "/repos/alice/priv/dependabot/secrets/API_KEY",
         {"key_id": "{key_id}"}, setup=repo_key("dependabot"), note="no-value"),
    Case("dependabot/create-or-update-repo-secret", 422, "PUT", "/repos/alice/priv/dependabot/secrets/API_KEY",
         {"encrypted_value": "{enc}"}, setup=repo_key("dependabot"), note="no-key-id"),
]

# -- environment secrets ------------------------------------------------------------------------------
ENV = "/repos/alice/priv/environments/prod/secrets"
CASES += [
    Case("actions/get-environment-public-key", 200, "GET", ENV + "/public-key", setup=env_ready),
    Case("actions/get-environment-public-key", 404, "GET", "/repos/alice/priv/environments/none/secrets/public-key"),
    Case("actions/list-environment-secrets", 200, "GET", ENV, setup=env_secret),
    Case("actions/list-environment-secrets", 404, "GET", "/repos/alice/priv/environments/none/secrets",
         note="no-environment"),
    Case("actions/get-environment-secret", 200, "GET", ENV + "/DB_PASS", setup=env_secret),
    Case("actions/get-environment-secret", 404, "GET", ENV + "/NOPE", setup=env_ready),
    Case("actions/create-or-update-environment-secret", 201, "PUT", ENV + "/DB_PASS", SEALED, setup=env_ready),
    Case("actions/create-or-update-environment-secret", 204, "PUT", ENV + "/DB_PASS", SEALED, setup=env_secret,
         note="update"),
    Case("actions/create-or-update-environment-secret", 404, "PUT",
         "/repos/alice/priv/environments/none/secrets/DB_PASS", SEALED, setup=env_ready, note="no-environment"),
    Case("actions/create-or-update-environment-secret", 422, "PUT", ENV + "/DB_PASS",
         {"key_id": "{key_id}", "encrypted_value": GARBAGE}, setup=env_ready, note="garbage-value"),
    Case("actions/delete-environment-secret", 204, "DELETE", ENV + "/DB_PASS", setup=env_secret),
    Case("actions/delete-environment-secret", 404, "DELETE", ENV + "/DB_PASS", setup=env_ready),
]

# -- organization secrets, both kinds ------------------------------------------------------------------
for kind in ("actions", "dependabot"):
    base = f"/orgs/acme/{kind}/secrets"
    sid = "{svc_id}" if kind == "actions" else "{svc_id_s}"
    CASES += [
        Case(f"{kind}/get-org-public-key", 200, "GET", base + "/public-key"),
        Case(f"{kind}/get-org-public-key", 403, "GET", base + "/public-key", login="bob", note="member-not-admin"),
        Case(f"{kind}/list-org-secrets", 200, "GET", base, setup=org_secret(kind)),
        Case(f"{kind}/list-org-secrets", 404, "GET", f"/orgs/nope/{kind}/secrets"),
        Case(f"{kind}/get-org-secret", 200, "GET", base + "/ORG_TOKEN", setup=org_secret(kind)),
        Case(f"{kind}/get-org-secret", 404, "GET", base + "/NOPE"),
        Case(f"{kind}/create-or-update-org-secret", 201, "PUT", base + "/ORG_TOKEN",
             {**SEALED, "visibility": "selected", "selected_repository_ids": [sid]}, setup=org_key(kind)),
        Case(f"{kind}/create-or-update-org-secret", 204, "PUT", base + "/ORG_TOKEN",
             {**SEALED, "visibility": "private"}, setup=org_secret(kind), note="update"),
        Case(f"{kind}/create-or-update-org-secret", 422, "PUT", base + "/ORG_TOKEN",
             {**SEALED, "visibility": "selected", "selected_repository_ids": ["{pub_id}"]}, setup=org_key(kind),
             note="repo-not-in-org"),
        Case(f"{kind}/create-or-update-org-secret", 422, "PUT", base + "/ORG_TOKEN", SEALED, setup=org_key(kind),
             note="schema-no-visibility"),
        Case(f"{kind}/create-or-update-org-secret", 422, "PUT", base + "/ORG_TOKEN",
             {"visibility": "all"}, setup=org_key(kind), note="create-without-value"),
        Case(f"{kind}/create-or-update-org-secret", 403, "PUT", base + "/ORG_TOKEN",
             {**SEALED, "visibility": "all"}, login="bob", setup=org_key(kind), note="member-not-admin"),
        Case(f"{kind}/delete-org-secret", 204, "DELETE", base + "/ORG_TOKEN", setup=org_secret(kind)),
        Case(f"{kind}/delete-org-secret", 404, "DELETE", base + "/ORG_TOKEN"),
        Case(f"{kind}/list-selected-repos-for-org-secret", 200, "GET", base + "/ORG_TOKEN/repositories",
             setup=org_secret(kind)),
        Case(f"{kind}/list-selected-repos-for-org-secret", 404, "GET", base + "/NOPE/repositories"),
        Case(f"{kind}/set-selected-repos-for-org-secret", 204, "PUT", base + "/ORG_TOKEN/repositories",
             {"selected_repository_ids": []}, setup=org_secret(kind)),
        Case(f"{kind}/set-selected-repos-for-org-secret", 409, "PUT", base + "/ORG_TOKEN/repositories",
             {"selected_repository_ids": ["{svc_id}"]}, setup=org_secret(kind, "all"), note="not-selected"),
        Case(f"{kind}/set-selected-repos-for-org-secret", 422, "PUT", base + "/ORG_TOKEN/repositories",
             {"selected_repository_ids": ["{priv_id}"]}, setup=org_secret(kind), note="repo-not-in-org"),
        Case(f"{kind}/add-selected-repo-to-org-secret", 204, "PUT", base + "/ORG_TOKEN/repositories/{svc_id}",
             setup=org_secret(kind)),
        Case(f"{kind}/add-selected-repo-to-org-secret", 409, "PUT", base + "/ORG_TOKEN/repositories/{svc_id}",
             setup=org_secret(kind, "private"), note="not-selected"),
        Case(f"{kind}/add-selected-repo-to-org-secret", 422, "PUT", base + "/ORG_TOKEN/repositories/{pub_id}",
             setup=org_secret(kind), note="repo-not-in-org"),
        Case(f"{kind}/remove-selected-repo-from-org-secret", 204, "DELETE",
             base + "/ORG_TOKEN/repositories/{svc_id}", setup=org_secret(kind)),
        Case(f"{kind}/remove-selected-repo-from-org-secret", 409, "DELETE",
             base + "/ORG_TOKEN/repositories/{svc_id}", setup=org_secret(kind, "all"), note="not-selected"),
    ]

CASES += [
    Case("actions/list-repo-organization-secrets", 200, "GET", "/repos/acme/svc/actions/organization-secrets",
         setup=org_secrets_for_svc),
    Case("actions/list-repo-organization-secrets", 403, "GET", "/repos/acme/svc/actions/organization-secrets",
         login="bob", note="not-admin"),
    Case("actions/list-repo-organization-secrets", 404, "GET", "/repos/acme/svc/actions/organization-secrets",
         login="carol", note="private-hidden"),
]

# -- Codespaces user secrets ------------------------------------------------------------------------------
CS = "/user/codespaces/secrets"
CASES += [
    Case("codespaces/get-public-key-for-authenticated-user", 200, "GET", CS + "/public-key"),
    Case("codespaces/get-public-key-for-authenticated-user", 403, "GET", CS + "/public-key", login="bob_repo_only",
         setup=no_codespace_token, note="no-codespace-scope"),
    Case("codespaces/list-secrets-for-authenticated-user", 200, "GET", CS, setup=cs_secret),
    Case("codespaces/list-secrets-for-authenticated-user", 401, "GET", CS, login=None, note="anonymous"),
    Case("codespaces/get-secret-for-authenticated-user", 200, "GET", CS + "/CS_TOKEN", setup=cs_secret),
    Case("codespaces/get-secret-for-authenticated-user", 404, "GET", CS + "/CS_TOKEN", login="bob", setup=cs_secret,
         note="someone-elses"),
    Case("codespaces/create-or-update-secret-for-authenticated-user", 201, "PUT", CS + "/CS_TOKEN",
         {**SEALED, "selected_repository_ids": ["{pub_id}", "{priv_id}"]}, setup=cs_key),
    Case("codespaces/create-or-update-secret-for-authenticated-user", 204, "PUT", CS + "/CS_TOKEN",
         SEALED, setup=cs_secret, note="update"),
    Case("codespaces/create-or-update-secret-for-authenticated-user", 422, "PUT", CS + "/CS_TOKEN",
         {**SEALED, "key_id": "1"}, setup=cs_key, note="wrong-key-id"),
    Case("codespaces/create-or-update-secret-for-authenticated-user", 422, "PUT", CS + "/CS_TOKEN",
         {**SEALED, "selected_repository_ids": ["{svc_id}"]}, login="carol", setup=cs_key, note="repo-not-visible"),
    Case("codespaces/create-or-update-secret-for-authenticated-user", 422, "PUT", CS + "/CS_TOKEN",
         {"key_id": "{key_id}"}, setup=cs_key, note="create-without-value"),
    Case("codespaces/delete-secret-for-authenticated-user", 204, "DELETE", CS + "/CS_TOKEN", setup=cs_secret),
    Case("codespaces/delete-secret-for-authenticated-user", 404, "DELETE", CS + "/CS_TOKEN"),
    Case("codespaces/list-repositories-for-secret-for-authenticated-user", 200, "GET", CS + "/CS_TOKEN/repositories",
         setup=cs_secret),
    Case("codespaces/list-repositories-for-secret-for-authenticated-user", 404, "GET", CS + "/NOPE/repositories"),
    Case("codespaces/set-repositories-for-secret-for-authenticated-user", 204, "PUT", CS + "/CS_TOKEN/repositories",
         {"selected_repository_ids": ["{priv_id}", "{svc_id}"]}, setup=cs_secret),
    Case("codespaces/set-repositories-for-secret-for-authenticated-user", 404, "PUT", CS + "/NOPE/repositories",
         {"selected_repository_ids": []}, note="no-secret"),
    Case("codespaces/add-repository-for-secret-for-authenticated-user", 204, "PUT",
         CS + "/CS_TOKEN/repositories/{svc_id}", setup=cs_secret),
    Case("codespaces/add-repository-for-secret-for-authenticated-user", 404, "PUT",
         CS + "/CS_TOKEN/repositories/{hidden_id}", setup=cs_secret_and_hidden_repo, note="repo-not-visible"),
    Case("codespaces/remove-repository-for-secret-for-authenticated-user", 204, "DELETE",
         CS + "/CS_TOKEN/repositories/{pub_id}", setup=cs_secret),
    Case("codespaces/remove-repository-for-secret-for-authenticated-user", 404, "DELETE",
         CS + "/NOPE/repositories/{pub_id}", setup=repo_ids, note="no-secret"),
]
