"""Secrets driven through the real PyGithub (and its requester where PyGithub has no API).

Seed (conftest.py): alice owns alice/pub and alice/priv and is admin of acme (repo acme/svc);
bob is a member of acme; carol belongs to no organization. The sandbox is strict: every
response is also checked against GitHub's OpenAPI description. Secret values are proved by
the fingerprints of ``GET /_sandbox/secrets``; the plaintext never leaves the test.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

import pytest
from github import GithubException, UnknownObjectException
from github.PublicKey import encrypt

from gridctl.sandbox.testing import pygithub

from .cases.secrets import ensure_environment, seal


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def secrets(seed, **filters) -> list[dict]:
    query = "&".join(f"{k}={quote(v)}" for k, v in filters.items())
    return seed.ctl("GET", "/secrets" + (f"?{query}" if query else ""))


def one(seed, name: str, **filters) -> dict:
    rows = [r for r in secrets(seed, **filters) if r["name"] == name]
    assert len(rows) == 1, rows
    return rows[0]


def advance(seed, seconds: float = 5) -> None:
    seed.ctl("POST", "/clock", {"advance": seconds})


def statuses(seed, op: str) -> dict:
    return seed.ctl("GET", "/stats")["by_endpoint"].get(op, {})


# -- repository secrets ------------------------------------------------------------------------------
def test_repo_secret_create_update_delete(seed):
    repo = seed.gh("alice").get_repo("alice/priv")
    secret = repo.create_secret("API_KEY", "hunter2")
    assert secret.name == "API_KEY"

    first = one(seed, "API_KEY", type="actions", repo="alice/priv")
    assert first["sha256"] == sha("hunter2")
    assert (first["scope"], first["owner"], first["environment"]) == ("repo", "alice", None)
    assert "hunter2" not in json.dumps(secrets(seed))
    got = repo.get_secret("API_KEY")
    created_at = got.created_at
    assert got.updated_at == created_at

    advance(seed)
    repo.create_secret("API_KEY", "hunter3")
    second = one(seed, "API_KEY", type="actions", repo="alice/priv")
    assert second["sha256"] == sha("hunter3")
    assert second["updated_at"] > first["updated_at"]
    again = repo.get_secret("API_KEY")
    assert again.created_at == created_at and again.updated_at > created_at
    counts = statuses(seed, "actions/create-or-update-repo-secret")
    assert (counts.get("status_201"), counts.get("status_204")) == (1, 1)

    assert [s.name for s in repo.get_secrets()] == ["API_KEY"]
    assert repo.delete_secret("API_KEY") is True
    assert repo.delete_secret("API_KEY") is False  # PyGithub's silent bool: the second is a 404
    assert secrets(seed, repo="alice/priv") == []
    assert list(repo.get_secrets()) == []


def test_names_are_case_insensitive_and_stored_upper_case(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    repo.create_secret("deploy_key", "one")
    repo.create_secret("DEPLOY_KEY", "two")
    assert [s.name for s in repo.get_secrets()] == ["DEPLOY_KEY"]
    assert one(seed, "DEPLOY_KEY", repo="alice/pub")["sha256"] == sha("two")
    assert repo.get_secret("Deploy_Key").updated_at is not None
    counts = statuses(seed, "actions/create-or-update-repo-secret")
    assert (counts.get("status_201"), counts.get("status_204")) == (1, 1)


@pytest.mark.parametrize("name", ["2FAST", "WITH-DASH", "github_token", "GITHUB_X"])
def test_bad_names_are_refused(seed, name):
    repo = seed.gh("alice").get_repo("alice/pub")
    with pytest.raises(GithubException) as exc:
        repo.create_secret(name, "v")
    assert exc.value.status == 422
    assert secrets(seed) == []


def test_dependabot_secrets_are_separate_from_actions(seed):
    repo = seed.gh("alice").get_repo("alice/priv")
    repo.create_secret("NPM_TOKEN", "dep-value", secret_type="dependabot")
    repo.create_secret("NPM_TOKEN", "act-value")
    dep = one(seed, "NPM_TOKEN", type="dependabot")
    act = one(seed, "NPM_TOKEN", type="actions")
    assert (dep["sha256"], act["sha256"]) == (sha("dep-value"), sha("act-value"))
    assert dep["repo"] == act["repo"] == "alice/priv"
    assert [s.name for s in repo.get_secrets(secret_type="dependabot")] == ["NPM_TOKEN"]
    # every scope has its own key pair, stable across requests
    k_act, k_dep = repo.get_public_key(), repo.get_public_key(secret_type="dependabot")
    assert k_act.key_id != k_dep.key_id and k_act.key != k_dep.key
    assert repo.get_public_key().key == k_act.key
    assert seed.gh("alice").get_repo("alice/pub").get_public_key().key != k_act.key
    assert repo.delete_secret("NPM_TOKEN", secret_type="dependabot") is True
    assert [r["type"] for r in secrets(seed, repo="alice/priv")] == ["actions"]


def test_dependabot_secret_without_value_is_refused(seed):
    sealed = seal(seed, "/repos/alice/priv/dependabot/secrets/public-key")
    resp = seed.call("alice", "PUT", "/repos/alice/priv/dependabot/secrets/X", {})
    assert resp.status_code == 422
    assert "encrypted_value" in resp.json()["message"]
    resp = seed.call("alice", "PUT", "/repos/alice/priv/dependabot/secrets/X", {"encrypted_value": sealed["enc"]})
    assert resp.status_code == 422
    assert "key_id" in resp.json()["message"]
    assert secrets(seed) == []


def test_wrong_key_id_and_garbage_value_are_422(seed):
    req = seed.gh("alice").requester
    _, pk = req.requestJsonAndCheck("GET", "/repos/alice/priv/actions/secrets/public-key")
    # sealed for another scope's key: the box does not open with this repository's key
    _, other = req.requestJsonAndCheck("GET", "/repos/alice/pub/actions/secrets/public-key")
    bodies = [
        {"key_id": "1" + pk["key_id"], "encrypted_value": encrypt(pk["key"], "v")},
        {"key_id": pk["key_id"], "encrypted_value": "Z2FyYmFnZSBnYXJiYWdlIGdhcmJhZ2UgZ2FyYmFnZSBnYXJiYWdlIGdhcmJhZ2U="},
        {"key_id": pk["key_id"], "encrypted_value": encrypt(other["key"], "v")},
    ]
    for body in bodies:
        with pytest.raises(GithubException) as exc:
            req.requestJsonAndCheck("PUT", "/repos/alice/priv/actions/secrets/API_KEY", input=body)
        assert exc.value.status == 422, body
    assert secrets(seed) == []


def test_repo_secret_permissions(seed):
    # bob is a member of acme (read on acme/svc): he may read the key, not the secrets
    gh_bob = seed.gh("bob")
    svc = gh_bob.get_repo("acme/svc")
    assert svc.get_public_key().key
    with pytest.raises(GithubException) as exc:
        list(svc.get_secrets())
    assert exc.value.status == 403
    with pytest.raises(GithubException) as exc:
        svc.create_secret("X", "v")
    assert exc.value.status == 403
    # carol cannot see alice/priv at all: a 404, not a 403
    resp = seed.call("carol", "GET", "/repos/alice/priv/actions/secrets")
    assert resp.status_code == 404
    # a token without the repo scope is refused even by the owner of a public repository
    token = seed.sb.add_user("alice", scopes=("user",))
    resp = seed.api(None).get(seed.url + "/repos/alice/pub/actions/secrets", headers={"Authorization": f"token {token}"})
    assert resp.status_code == 403
    assert resp.headers["X-Accepted-OAuth-Scopes"] == "repo"


def test_repo_secret_list_paginates(seed):
    repo = seed.gh("alice", per_page=2).get_repo("alice/priv")
    for name in ("C_ONE", "A_TWO", "B_THREE"):
        repo.create_secret(name, name.lower())
    assert [s.name for s in repo.get_secrets()] == ["A_TWO", "B_THREE", "C_ONE"]
    resp = seed.call("alice", "GET", "/repos/alice/priv/actions/secrets?per_page=2")
    assert resp.json()["total_count"] == 3 and len(resp.json()["secrets"]) == 2
    assert 'rel="next"' in resp.headers["Link"]


# -- environment secrets --------------------------------------------------------------------------------
def test_environment_secrets_via_pygithub(seed):
    ensure_environment(seed, "alice", "priv", "prod")
    ensure_environment(seed, "alice", "priv", "staging")
    # lazy: get_environment() builds the object without a GET, so only secrets routes are used
    repo = seed.gh("alice", lazy=True).get_repo("alice/priv")
    prod, staging = repo.get_environment("prod"), repo.get_environment("staging")
    assert prod.get_public_key().key != staging.get_public_key().key
    assert prod.get_public_key().key != repo.get_public_key().key

    prod.create_secret("DB_PASS", "prod-pw")
    staging.create_secret("DB_PASS", "staging-pw")
    rows = {r["environment"]: r for r in secrets(seed, scope="environment")}
    assert rows["prod"]["sha256"] == sha("prod-pw") and rows["staging"]["sha256"] == sha("staging-pw")
    assert rows["prod"]["repo"] == "alice/priv" and rows["prod"]["type"] == "actions"
    assert [s.name for s in prod.get_secrets()] == ["DB_PASS"]
    assert prod.get_secret("DB_PASS").created_at is not None
    assert list(repo.get_secrets()) == []  # environment secrets are not repository secrets

    advance(seed)
    prod.create_secret("db_pass", "prod-pw-2")
    row = one(seed, "DB_PASS", scope="environment", environment="prod")
    assert row["sha256"] == sha("prod-pw-2") and row["updated_at"] > rows["prod"]["updated_at"]

    assert prod.delete_secret("DB_PASS") is True
    assert prod.delete_secret("DB_PASS") is False
    assert [r["environment"] for r in secrets(seed, scope="environment")] == ["staging"]


def test_environment_must_exist(seed):
    env = seed.gh("alice", lazy=True).get_repo("alice/priv").get_environment("nowhere")
    with pytest.raises(UnknownObjectException):
        env.get_public_key()
    with pytest.raises(UnknownObjectException):
        env.create_secret("X", "v")
    assert statuses(seed, "actions/get-environment-public-key").get("status_404") == 2
    sealed = seal(seed, "/repos/alice/priv/actions/secrets/public-key")
    resp = seed.call("alice", "PUT", "/repos/alice/priv/environments/nowhere/secrets/X",
                     {"key_id": sealed["key_id"], "encrypted_value": sealed["enc"]})
    assert resp.status_code == 404


# -- organization secrets ---------------------------------------------------------------------------------
def test_org_secret_selected_repositories(seed):
    gh = seed.gh("alice")
    org = gh.get_organization("acme")
    svc = gh.get_repo("acme/svc")
    web = org.create_repo("web", private=False)

    secret = org.create_secret("ORG_TOKEN", "org-v1", visibility="selected", selected_repositories=[svc])
    row = one(seed, "ORG_TOKEN", scope="org", type="actions")
    assert row["sha256"] == sha("org-v1")
    assert (row["owner"], row["visibility"], row["selected_repositories"]) == ("acme", "selected", ["acme/svc"])
    assert [r.full_name for r in secret.selected_repositories] == ["acme/svc"]

    assert secret.add_repo(web) is True
    assert secret.remove_repo(svc) is True
    assert one(seed, "ORG_TOKEN", scope="org")["selected_repositories"] == ["acme/web"]
    fetched = org.get_secret("ORG_TOKEN")
    assert fetched.visibility == "selected"
    assert [r.full_name for r in fetched.selected_repositories] == ["acme/web"]

    # a repository outside the organization cannot be selected
    with pytest.raises(GithubException) as exc:
        secret.add_repo(gh.get_repo("alice/pub"))
    assert exc.value.status == 422

    # edit: a new value and a new visibility; the selection goes with "selected"
    advance(seed)
    assert fetched.edit("org-v2", visibility="private") is True
    row2 = one(seed, "ORG_TOKEN", scope="org")
    assert (row2["sha256"], row2["visibility"], row2["selected_repositories"]) == (sha("org-v2"), "private", [])
    assert row2["updated_at"] > row["updated_at"]
    # PyGithub's add_repo/remove_repo are silent no-ops (False) unless visibility is "selected"
    again = org.get_secret("ORG_TOKEN")
    assert again.visibility == "private"
    assert again.add_repo(svc) is False
    assert again.remove_repo(svc) is False
    # ... and the API itself answers 409
    resp = seed.call("alice", "PUT", f"/orgs/acme/actions/secrets/ORG_TOKEN/repositories/{svc.id}")
    assert resp.status_code == 409
    resp = seed.call("alice", "PUT", "/orgs/acme/actions/secrets/ORG_TOKEN/repositories",
                     {"selected_repository_ids": [svc.id]})
    assert resp.status_code == 409


def test_org_dependabot_secret_with_string_ids(seed):
    gh = seed.gh("alice")
    org = gh.get_organization("acme")
    svc = gh.get_repo("acme/svc")
    secret = org.create_secret("DEP_TOKEN", "dep", visibility="selected", selected_repositories=[svc],
                               secret_type="dependabot")
    row = one(seed, "DEP_TOKEN", scope="org", type="dependabot")
    assert row["sha256"] == sha("dep") and row["selected_repositories"] == ["acme/svc"]
    assert [s.name for s in org.get_secrets(secret_type="dependabot")] == ["DEP_TOKEN"]
    assert list(org.get_secrets()) == []  # not an Actions secret
    assert org.get_public_key("dependabot").key != org.get_public_key().key
    assert secret.remove_repo(svc) is True
    assert one(seed, "DEP_TOKEN", type="dependabot")["selected_repositories"] == []
    org.get_secret("DEP_TOKEN", secret_type="dependabot").delete()
    assert secrets(seed, type="dependabot") == []


def test_org_secret_rules(seed):
    gh = seed.gh("alice")
    org = gh.get_organization("acme")
    pub = gh.get_repo("alice/pub")
    with pytest.raises(GithubException) as exc:
        org.create_secret("BAD", "v", visibility="selected", selected_repositories=[pub])
    assert exc.value.status == 422
    assert secrets(seed, scope="org") == []
    # ids only go with visibility "selected"
    sealed = seal(seed, "/orgs/acme/actions/secrets/public-key")
    svc_id = gh.get_repo("acme/svc").id
    resp = seed.call("alice", "PUT", "/orgs/acme/actions/secrets/X",
                     {"key_id": sealed["key_id"], "encrypted_value": sealed["enc"], "visibility": "all",
                      "selected_repository_ids": [svc_id]})
    assert resp.status_code == 422
    # an existing secret may change visibility without a new value; a new one needs a value
    org.create_secret("KEEP", "kept-value", visibility="all")
    assert seed.call("alice", "PUT", "/orgs/acme/actions/secrets/KEEP", {"visibility": "private"}).status_code == 204
    row = one(seed, "KEEP", scope="org")
    assert (row["visibility"], row["sha256"]) == ("private", sha("kept-value"))
    assert seed.call("alice", "PUT", "/orgs/acme/actions/secrets/NEW", {"visibility": "all"}).status_code == 422
    # members who are not owners, and outsiders, are refused
    for login in ("bob", "carol"):
        resp = seed.call(login, "GET", "/orgs/acme/actions/secrets")
        assert resp.status_code == 403, login
    # an owner's token without admin:org is refused too
    token = seed.sb.add_user("alice", scopes=("repo",))
    resp = seed.api(None).get(seed.url + "/orgs/acme/actions/secrets", headers={"Authorization": f"token {token}"})
    assert resp.status_code == 403


def test_org_secrets_visible_to_a_repository(seed):
    gh = seed.gh("alice")
    org = gh.get_organization("acme")
    svc = gh.get_repo("acme/svc")  # private
    web = org.create_repo("web", private=False)
    org.create_secret("ALL_REPOS", "a", visibility="all")
    org.create_secret("PRIVATE_REPOS", "p", visibility="private")
    org.create_secret("ONLY_WEB", "w", visibility="selected", selected_repositories=[web])
    org.create_secret("DEP_ALL", "d", visibility="all", secret_type="dependabot")

    def visible(repo) -> list[str]:
        _, data = gh.requester.requestJsonAndCheck("GET", f"{repo.url}/actions/organization-secrets")
        assert data["total_count"] == len(data["secrets"])
        return [s["name"] for s in data["secrets"]]

    assert visible(svc) == ["ALL_REPOS", "PRIVATE_REPOS"]
    assert visible(web) == ["ALL_REPOS", "ONLY_WEB"]
    assert visible(gh.get_repo("alice/pub")) == []  # not an organization's repository
    org.get_secret("ONLY_WEB").add_repo(svc)
    assert visible(svc) == ["ALL_REPOS", "ONLY_WEB", "PRIVATE_REPOS"]


# -- Codespaces user secrets ----------------------------------------------------------------------------
def _put_cs(gh, name: str, value: str, repo_ids: list[int] | None = None) -> None:
    req = gh.requester
    _, pk = req.requestJsonAndCheck("GET", "/user/codespaces/secrets/public-key")
    body = {"key_id": pk["key_id"], "encrypted_value": encrypt(pk["key"], value)}
    if repo_ids is not None:
        body["selected_repository_ids"] = repo_ids
    req.requestJsonAndCheck("PUT", f"/user/codespaces/secrets/{quote(name, safe='')}", input=body)


def test_codespaces_user_secrets(seed):
    gh = seed.gh("alice")
    req = gh.requester
    pub, priv = gh.get_repo("alice/pub"), gh.get_repo("alice/priv")
    _put_cs(gh, "CS_TOKEN", "cs-1", [pub.id])
    row = one(seed, "CS_TOKEN", type="codespaces")
    assert (row["scope"], row["owner"], row["repo"]) == ("user", "alice", None)
    assert (row["sha256"], row["visibility"], row["selected_repositories"]) == (sha("cs-1"), "selected", ["alice/pub"])

    _, listed = req.requestJsonAndCheck("GET", "/user/codespaces/secrets")
    assert [s["name"] for s in listed["secrets"]] == ["CS_TOKEN"]
    _, got = req.requestJsonAndCheck("GET", "/user/codespaces/secrets/cs_token")
    assert got["selected_repositories_url"].endswith("/user/codespaces/secrets/CS_TOKEN/repositories")

    advance(seed)
    _put_cs(gh, "CS_TOKEN", "cs-2")  # a new value keeps the repositories
    row2 = one(seed, "CS_TOKEN", type="codespaces")
    assert row2["sha256"] == sha("cs-2") and row2["selected_repositories"] == ["alice/pub"]
    assert row2["updated_at"] > row["updated_at"]

    req.requestJsonAndCheck("PUT", f"/user/codespaces/secrets/CS_TOKEN/repositories/{priv.id}")
    req.requestJsonAndCheck("DELETE", f"/user/codespaces/secrets/CS_TOKEN/repositories/{pub.id}")
    _, repos = req.requestJsonAndCheck("GET", "/user/codespaces/secrets/CS_TOKEN/repositories")
    assert [r["full_name"] for r in repos["repositories"]] == ["alice/priv"]
    req.requestJsonAndCheck("PUT", "/user/codespaces/secrets/CS_TOKEN/repositories",
                            input={"selected_repository_ids": [pub.id, priv.id]})
    assert one(seed, "CS_TOKEN", type="codespaces")["selected_repositories"] == ["alice/pub", "alice/priv"]

    # secrets are per user: bob has none, and his key is not alice's
    gh_bob = seed.gh("bob")
    _, bobs = gh_bob.requester.requestJsonAndCheck("GET", "/user/codespaces/secrets")
    assert (bobs["total_count"], bobs["secrets"]) == (0, [])
    _, bob_key = gh_bob.requester.requestJsonAndCheck("GET", "/user/codespaces/secrets/public-key")
    _, alice_key = req.requestJsonAndCheck("GET", "/user/codespaces/secrets/public-key")
    assert bob_key["key"] != alice_key["key"]
    with pytest.raises(UnknownObjectException):
        gh_bob.requester.requestJsonAndCheck("GET", "/user/codespaces/secrets/CS_TOKEN")

    req.requestJsonAndCheck("DELETE", "/user/codespaces/secrets/CS_TOKEN")
    assert secrets(seed, type="codespaces") == []


def test_codespaces_repositories_must_be_accessible(seed):
    gh_carol = seed.gh("carol")
    svc_id = seed.gh("alice").get_repo("acme/svc").id  # private to acme: carol cannot see it
    with pytest.raises(GithubException) as exc:
        _put_cs(gh_carol, "MINE", "v", [svc_id])
    assert exc.value.status == 422
    _put_cs(gh_carol, "MINE", "v", [])
    with pytest.raises(UnknownObjectException):
        gh_carol.requester.requestJsonAndCheck("PUT", f"/user/codespaces/secrets/MINE/repositories/{svc_id}")
    assert one(seed, "MINE", owner="carol")["selected_repositories"] == []


def test_codespaces_need_the_codespace_scope(seed):
    token = seed.sb.add_user("bob", scopes=("repo",))
    gh = pygithub(seed.sb, token)
    with pytest.raises(GithubException) as exc:
        gh.requester.requestJsonAndCheck("GET", "/user/codespaces/secrets/public-key")
    assert exc.value.status == 403
    assert "codespace" in exc.value.headers.get("x-accepted-oauth-scopes", "")
    with pytest.raises(GithubException) as exc:
        _put_cs(gh, "X", "v")
    assert exc.value.status == 403
    # codespace:secrets is enough
    token2 = seed.sb.add_user("bob", scopes=("codespace:secrets",))
    _put_cs(pygithub(seed.sb, token2), "OK_TOKEN", "fine")
    assert one(seed, "OK_TOKEN", owner="bob")["sha256"] == sha("fine")
    resp = seed.call(None, "GET", "/user/codespaces/secrets")
    assert resp.status_code == 401


def test_control_route_filters(seed):
    gh = seed.gh("alice")
    gh.get_repo("alice/priv").create_secret("A", "1")
    gh.get_repo("alice/pub").create_secret("B", "2", secret_type="dependabot")
    gh.get_organization("acme").create_secret("C", "3")
    assert {r["name"] for r in secrets(seed)} == {"A", "B", "C"}
    assert [r["name"] for r in secrets(seed, type="dependabot")] == ["B"]
    assert [r["name"] for r in secrets(seed, repo="ALICE/PRIV")] == ["A"]
    assert [r["name"] for r in secrets(seed, owner="acme")] == ["C"]
    assert {r["name"] for r in secrets(seed, owner="alice")} == {"A", "B"}
    for row in secrets(seed):
        assert set(row) == {"scope", "type", "owner", "repo", "environment", "name", "sha256", "updated_at",
                            "visibility", "selected_repositories"}
