"""Environments, Actions variables and deploy keys, driven through real PyGithub and raw HTTP
against a strict in-process sandbox (see conftest.py for the seed world)."""

from __future__ import annotations

import base64
import os
import re
import struct

import pytest
from github import GithubException
from github.EnvironmentDeploymentBranchPolicy import EnvironmentDeploymentBranchPolicyParams
from github.EnvironmentProtectionRuleReviewer import ReviewerParams


def _wire(*parts: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def fake_ed25519() -> str:
    """A syntactically valid, random (never usable) ed25519 public key line."""
    blob = _wire(b"ssh-ed25519", os.urandom(32))
    assert len(blob) == 51
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


def fake_rsa() -> str:
    blob = _wire(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + os.urandom(256))
    return "ssh-rsa " + base64.b64encode(blob).decode()


def fake_ecdsa() -> str:
    blob = _wire(b"ecdsa-sha2-nistp256", b"nistp256", b"\x04" + os.urandom(64))
    return "ecdsa-sha2-nistp256 " + base64.b64encode(blob).decode()


def last_page(link: str) -> int:
    m = re.search(r'[?&]page=(\d+)[^>]*>; rel="last"', link)
    assert m, link
    return int(m.group(1))


# -- repository variables ------------------------------------------------------------------------
def test_repo_variables_lifecycle_through_pygithub(seed):
    repo = seed.gh("alice").get_repo("alice/pub")

    created = repo.create_variable("deploy_target", "staging")
    assert created.name == "deploy_target"
    listed = {v.name: v.value for v in repo.get_variables()}
    assert listed == {"DEPLOY_TARGET": "staging"}  # stored upper-case

    var = repo.get_variable("Deploy_Target")  # case-insensitive lookup
    assert var.value == "staging"
    assert var.name == "DEPLOY_TARGET"
    assert var.created_at is not None and var.updated_at >= var.created_at

    assert var.edit("production") is True
    assert repo.get_variable("DEPLOY_TARGET").value == "production"

    with pytest.raises(GithubException) as exc:
        repo.create_variable("DEPLOY_TARGET", "again")
    assert exc.value.status == 409
    assert exc.value.data["message"] == "Already exists - Variable already exists"

    assert repo.delete_variable("DEPLOY_TARGET") is True
    assert repo.delete_variable("DEPLOY_TARGET") is False  # a 404 is a False, not an exception
    assert var.edit("gone") is False
    assert list(repo.get_variables()) == []
    with pytest.raises(GithubException) as exc:
        _ = repo.get_variable("DEPLOY_TARGET").value
    assert exc.value.status == 404


def test_variable_delete_method_and_rename(seed):
    repo = seed.gh("alice").get_repo("alice/priv")
    repo.create_variable("OLD", "1")
    repo.create_variable("OTHER", "2")
    url = "/repos/alice/priv/actions/variables"
    assert seed.call("alice", "PATCH", url + "/old", {"name": "new"}).status_code == 204
    got = seed.call("alice", "GET", url + "/NEW").json()
    assert got["name"] == "NEW" and got["value"] == "1"
    assert seed.call("alice", "GET", url + "/OLD").status_code == 404
    clash = seed.call("alice", "PATCH", url + "/NEW", {"name": "other"})
    assert clash.status_code == 409
    assert seed.call("alice", "GET", url + "/NEW").json()["value"] == "1"  # unchanged

    repo.get_variable("OTHER").delete()
    with pytest.raises(GithubException) as exc:
        repo.get_variable("OTHER").delete()
    assert exc.value.status == 404
    assert [v.name for v in repo.get_variables()] == ["NEW"]


@pytest.mark.parametrize(
    "name",
    ["1ABC", "has-dash", "with space", "GITHUB_TOKEN", "github_anything", "", "ÜBER"],
)
def test_invalid_variable_names_are_422(seed, name):
    resp = seed.call("alice", "POST", "/repos/alice/pub/actions/variables", {"name": name, "value": "x"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "name"
    assert seed.call("alice", "GET", "/repos/alice/pub/actions/variables").json()["total_count"] == 0


def test_variable_names_that_are_valid(seed):
    for name in ("_x", "A1_b2", "GITHUBX", "GIT_HUB_"):
        resp = seed.call("alice", "POST", "/repos/alice/pub/actions/variables", {"name": name, "value": "v"})
        assert resp.status_code == 201, (name, resp.text)
        assert resp.json() == {}
    names = [v["name"] for v in seed.call("alice", "GET", "/repos/alice/pub/actions/variables").json()["variables"]]
    assert names == ["A1_B2", "GITHUBX", "GIT_HUB_", "_X"]


def test_variable_value_limit_is_48_kb(seed):
    url = "/repos/alice/pub/actions/variables"
    limit = 48 * 1024
    assert seed.call("alice", "POST", url, {"name": "FITS", "value": "a" * limit}).status_code == 201
    assert seed.call("alice", "POST", url, {"name": "TOO_BIG", "value": "a" * (limit + 1)}).status_code == 422
    # the limit counts bytes: 2-byte characters reach it at half the length
    assert seed.call("alice", "POST", url, {"name": "WIDE", "value": "é" * (limit // 2 + 1)}).status_code == 422
    assert seed.call("alice", "PATCH", url + "/FITS", {"value": "a" * (limit + 1)}).status_code == 422
    assert len(seed.call("alice", "GET", url + "/FITS").json()["value"]) == limit


def test_repo_variable_permissions(seed):
    url = "/repos/{}/actions/variables"
    # carol can read alice/pub but is not an admin: 403; alice/priv is invisible to her: 404
    assert seed.call("carol", "GET", url.format("alice/pub")).status_code == 403
    assert seed.call("carol", "POST", url.format("alice/pub"), {"name": "A", "value": "b"}).status_code == 403
    assert seed.call("carol", "GET", url.format("alice/priv")).status_code == 404
    # bob is a plain member of acme: he reads acme/svc but may not manage its variables
    assert seed.call("bob", "GET", url.format("acme/svc")).status_code == 403
    assert seed.call("alice", "GET", url.format("acme/svc")).status_code == 200
    assert seed.call(None, "GET", url.format("alice/pub")).status_code == 401  # anonymous
    # a token without the repo scope is refused with the scope named
    seed.tokens["alice-noscope"] = seed.sb.add_user("alice", scopes=("user",))
    resp = seed.call("alice-noscope", "GET", url.format("alice/pub"))
    assert resp.status_code == 403
    assert resp.headers["X-Accepted-OAuth-Scopes"] == "repo"


def test_variables_pagination_is_clamped_to_30(seed):
    url = "/repos/alice/pub/actions/variables"
    for i in range(35):
        assert seed.call("alice", "POST", url, {"name": f"V{i:02d}", "value": str(i)}).status_code == 201

    first = seed.call("alice", "GET", url + "?per_page=100")
    body = first.json()
    assert body["total_count"] == 35
    assert len(body["variables"]) == 30
    assert last_page(first.headers["Link"]) == 2
    assert 'rel="next"' in first.headers["Link"]
    second = seed.call("alice", "GET", url + "?per_page=100&page=2").json()
    assert [v["name"] for v in second["variables"]] == [f"V{i:02d}" for i in range(30, 35)]

    default = seed.call("alice", "GET", url)
    assert len(default.json()["variables"]) == 10
    assert last_page(default.headers["Link"]) == 4

    # PyGithub asking for 100 a page still sees every variable, over two requests
    seed.ctl("POST", "/stats/reset")
    gh = seed.gh("alice", per_page=100)
    names = [v.name for v in gh.get_repo("alice/pub").get_variables()]
    assert names == [f"V{i:02d}" for i in range(35)]
    stats = seed.ctl("GET", "/stats")["by_endpoint"]
    assert stats["actions/list-repo-variables"]["requests"] == 2


# -- environments ---------------------------------------------------------------------------------
def test_environment_create_and_update_through_pygithub(seed):
    gh = seed.gh("alice")
    repo = gh.get_repo("alice/pub")
    bob = gh.get_user("bob")

    env = repo.create_environment("production")  # PyGithub sends every field, with defaults
    assert env.name == "production"
    assert env.protection_rules == []
    assert env.deployment_branch_policy is None

    env = repo.create_environment(
        "production",
        wait_timer=30,
        reviewers=[ReviewerParams("User", bob.id)],
        prevent_self_review=True,
        deployment_branch_policy=EnvironmentDeploymentBranchPolicyParams(protected_branches=True),
    )
    rules = {r.type: r for r in env.protection_rules}
    assert set(rules) == {"wait_timer", "required_reviewers", "branch_policy"}
    assert rules["wait_timer"].wait_timer == 30
    assert rules["required_reviewers"].prevent_self_review is True
    assert [(r.type, r.reviewer.login) for r in rules["required_reviewers"].reviewers] == [("User", "bob")]
    assert env.deployment_branch_policy.protected_branches is True
    assert env.deployment_branch_policy.custom_branch_policies is False

    again = repo.get_environment("PRODUCTION")  # names are case-insensitive
    assert again.id == env.id and again.name == "production"
    assert [e.name for e in repo.get_environments()] == ["production"]

    # omitted fields keep their values; an explicit null policy allows every branch again
    resp = seed.call("alice", "PUT", "/repos/alice/pub/environments/production", {"deployment_branch_policy": None})
    assert resp.status_code == 200
    body = resp.json()
    assert body["deployment_branch_policy"] is None
    assert {r["type"] for r in body["protection_rules"]} == {"wait_timer", "required_reviewers"}

    repo.delete_environment("Production")
    with pytest.raises(GithubException) as exc:
        _ = repo.get_environment("production").name
    assert exc.value.status == 404
    assert repo.get_environments().totalCount == 0


def test_environment_validation(seed):
    gh = seed.gh("alice")
    repo = gh.get_repo("alice/priv")
    carol = gh.get_user("carol")
    bob = gh.get_user("bob")
    cases = [
        dict(deployment_branch_policy=EnvironmentDeploymentBranchPolicyParams(True, True)),
        dict(deployment_branch_policy=EnvironmentDeploymentBranchPolicyParams(False, False)),
        dict(wait_timer=43201),
        dict(wait_timer=-1),
        dict(reviewers=[ReviewerParams("User", bob.id)] * 7),
        dict(reviewers=[ReviewerParams("User", carol.id)]),  # carol cannot see alice/priv
        dict(reviewers=[ReviewerParams("User", 999999)]),
        dict(reviewers=[ReviewerParams("Team", 1)]),
    ]
    for kwargs in cases:
        with pytest.raises(GithubException) as exc:
            repo.create_environment("staging", **kwargs)
        assert exc.value.status == 422, kwargs
    assert repo.get_environments().totalCount == 0  # nothing half-created
    assert repo.create_environment("staging", wait_timer=43200).protection_rules[0].wait_timer == 43200


def test_environment_permissions(seed):
    assert seed.call("alice", "PUT", "/repos/alice/pub/environments/qa", {}).status_code == 200
    # readers may look, only admins may change
    assert seed.call("carol", "GET", "/repos/alice/pub/environments").json()["total_count"] == 1
    assert seed.call("carol", "GET", "/repos/alice/pub/environments/qa").status_code == 200
    assert seed.call("carol", "PUT", "/repos/alice/pub/environments/qa", {}).status_code == 403
    assert seed.call("carol", "DELETE", "/repos/alice/pub/environments/qa").status_code == 403
    assert seed.call("carol", "GET", "/repos/alice/priv/environments").status_code == 404
    assert seed.call(None, "GET", "/repos/alice/pub/environments/qa").status_code == 200
    assert seed.call(None, "PUT", "/repos/alice/pub/environments/qa", {}).status_code == 401
    assert seed.call("bob", "PUT", "/repos/acme/svc/environments/qa", {}).status_code == 403
    assert seed.call("alice", "GET", "/repos/alice/pub/environments/" + "x" * 256).status_code == 404
    assert seed.call("alice", "PUT", "/repos/alice/pub/environments/" + "x" * 256, {}).status_code == 422


def test_environment_update_keeps_secrets_and_variables(seed):
    gh = seed.gh("alice")
    repo = gh.get_repo("alice/pub")
    env = repo.create_environment("prod")
    env.create_variable("REGION", "eu")
    # another area (environment secrets) keeps its records inside the same environment record
    world = seed.sb.app.world
    with seed.sb.app.store.lock:
        rec = world.find_repo("alice", "pub")
        rec["environments"]["prod"]["secrets"]["TOKEN"] = {"name": "TOKEN", "created_at": "2024-01-01T00:00:00Z",
                                                           "updated_at": "2024-01-01T00:00:00Z", "sha256": "0" * 64}
        world.save("repos", rec["id"], rec)
        seed.sb.app.store.commit()
    repo.create_environment("PROD", wait_timer=3)
    stored = world.find_repo("alice", "pub")["environments"]
    assert list(stored) == ["prod"]
    assert set(stored["prod"]["secrets"]) == {"TOKEN"}
    assert [v.name for v in repo.get_environment("prod").get_variables()] == ["REGION"]

    # deleting the environment drops what it held: a new one of the same name starts empty
    repo.delete_environment("prod")
    fresh = repo.create_environment("prod")
    assert list(fresh.get_variables()) == []
    assert world.find_repo("alice", "pub")["environments"]["prod"]["secrets"] == {}


def test_environment_variables_through_pygithub(seed):
    repo = seed.gh("alice").get_repo("alice/priv")
    env = repo.create_environment("staging")
    env.create_variable("api_url", "https://staging.example")
    env.create_variable("LEVEL", "debug")
    assert {v.name: v.value for v in env.get_variables()} == {"API_URL": "https://staging.example", "LEVEL": "debug"}

    var = env.get_variable("api_url")
    assert var.value == "https://staging.example"
    assert var.edit("https://stage.example") is True
    assert env.get_variable("API_URL").value == "https://stage.example"

    with pytest.raises(GithubException) as exc:
        env.create_variable("level", "info")
    assert exc.value.status == 409

    # environment variables are separate from repository variables
    assert list(repo.get_variables()) == []
    repo.create_variable("LEVEL", "repo-level")
    assert env.get_variable("LEVEL").value == "debug"

    assert env.delete_variable("LEVEL") is True
    assert env.delete_variable("LEVEL") is False
    assert [v.name for v in env.get_variables()] == ["API_URL"]
    assert repo.get_variable("LEVEL").value == "repo-level"

    # an environment that does not exist has no variables to show: 404
    resp = seed.call("alice", "GET", "/repos/alice/priv/environments/nope/variables")
    assert resp.status_code == 404
    assert seed.call("carol", "GET", "/repos/alice/priv/environments/staging/variables").status_code == 404


# -- organization variables ----------------------------------------------------------------------
def test_org_variables_through_pygithub(seed):
    gh = seed.gh("alice")
    org = gh.get_organization("acme")
    svc = gh.get_repo("acme/svc")
    web = org.create_repo("web", private=False)

    var = org.create_variable("region", "eu-west-1", "selected", [svc])
    assert var.visibility == "selected"
    got = org.get_variable("REGION")
    assert got.value == "eu-west-1" and got.visibility == "selected"
    assert got.selected_repositories_url.endswith("/orgs/acme/actions/variables/REGION/repositories")
    assert [r.full_name for r in got.selected_repositories] == ["acme/svc"]

    assert got.add_repo(web) is True
    assert sorted(r.name for r in got.selected_repositories) == ["svc", "web"]
    assert got.remove_repo(svc) is True
    assert [r.name for r in got.selected_repositories] == ["web"]

    org.create_variable("LOG_LEVEL", "info")  # visibility "all"
    org.create_variable("PRIVATE_ONLY", "p", "private")
    assert [(v.name, v.visibility) for v in org.get_variables()] == [
        ("LOG_LEVEL", "all"),
        ("PRIVATE_ONLY", "private"),
        ("REGION", "selected"),
    ]

    def shared(repo: str) -> dict[str, str]:
        resp = seed.call("alice", "GET", f"/repos/{repo}/actions/organization-variables")
        assert resp.status_code == 200, resp.text
        return {v["name"]: v["value"] for v in resp.json()["variables"]}

    assert shared("acme/svc") == {"LOG_LEVEL": "info", "PRIVATE_ONLY": "p"}  # private repo, not selected
    assert shared("acme/web") == {"LOG_LEVEL": "info", "REGION": "eu-west-1"}  # public repo, selected
    assert shared("alice/pub") == {}  # a user's repository sees no organization variables

    # edit switches the visibility; the selection is dropped and the repositories list is a 409
    assert got.edit("eu-central-1", visibility="all") is True
    after = org.get_variable("REGION")
    assert after.value == "eu-central-1" and after.visibility == "all"
    resp = seed.call("alice", "GET", "/orgs/acme/actions/variables/REGION/repositories")
    assert resp.status_code == 409
    assert after.add_repo(svc) is False  # PyGithub's own no-op for non-selected visibility

    # back to selected through PATCH with the repository ids PyGithub cannot send
    resp = seed.call(
        "alice", "PATCH", "/orgs/acme/actions/variables/REGION",
        {"visibility": "selected", "selected_repository_ids": [svc.id, svc.id]},
    )
    assert resp.status_code == 204
    assert [r.id for r in org.get_variable("REGION").selected_repositories] == [svc.id]
    resp = seed.call("alice", "PUT", "/orgs/acme/actions/variables/REGION/repositories",
                     {"selected_repository_ids": [web.id]})
    assert resp.status_code == 204
    assert shared("acme/svc") == {"LOG_LEVEL": "info", "PRIVATE_ONLY": "p"}
    assert "REGION" in shared("acme/web")

    org.get_variable("REGION").delete()
    assert [v.name for v in org.get_variables()] == ["LOG_LEVEL", "PRIVATE_ONLY"]


def test_org_variable_rules(seed):
    url = "/orgs/acme/actions/variables"
    pub_id = seed.call("alice", "GET", "/repos/alice/pub").json()["id"]
    svc_id = seed.call("alice", "GET", "/repos/acme/svc").json()["id"]
    # repository ids must be the organization's own, and only with visibility "selected"
    resp = seed.call("alice", "POST", url, {"name": "A", "value": "1", "visibility": "selected",
                                            "selected_repository_ids": [pub_id]})
    assert resp.status_code == 422
    resp = seed.call("alice", "POST", url, {"name": "A", "value": "1", "visibility": "all",
                                            "selected_repository_ids": [svc_id]})
    assert resp.status_code == 422
    assert seed.call("alice", "POST", url, {"name": "A", "value": "1"}).status_code == 422  # visibility required
    assert seed.call("alice", "GET", url).json()["total_count"] == 0

    assert seed.call("alice", "POST", url, {"name": "A", "value": "1", "visibility": "selected"}).status_code == 201
    assert seed.call("alice", "PUT", f"{url}/A/repositories/{pub_id}").status_code == 422
    assert seed.call("alice", "PUT", f"{url}/A/repositories/{svc_id}").status_code == 204
    assert seed.call("alice", "PUT", f"{url}/A/repositories/{svc_id}").status_code == 204  # idempotent
    listing = seed.call("alice", "GET", f"{url}/A/repositories").json()
    assert listing["total_count"] == 1 and listing["repositories"][0]["full_name"] == "acme/svc"

    # who may manage organization variables: owners with admin:org only
    assert seed.call("bob", "GET", url).status_code == 403
    assert seed.call("carol", "GET", url).status_code == 403
    assert seed.call(None, "GET", url).status_code == 401
    seed.tokens["alice-repo"] = seed.sb.add_user("alice", scopes=("repo",))
    resp = seed.call("alice-repo", "GET", url)
    assert resp.status_code == 403 and resp.headers["X-Accepted-OAuth-Scopes"] == "admin:org"
    assert seed.call("alice", "GET", "/orgs/nope/actions/variables").status_code == 404
    assert seed.call("alice", "GET", "/orgs/alice/actions/variables").status_code == 404  # a user, not an org


def test_org_variable_pagination(seed):
    url = "/orgs/acme/actions/variables"
    for i in range(35):
        assert seed.call("alice", "POST", url, {"name": f"O{i:02d}", "value": "v", "visibility": "all"}).status_code == 201
    resp = seed.call("alice", "GET", url + "?per_page=50")
    assert len(resp.json()["variables"]) == 30 and last_page(resp.headers["Link"]) == 2
    org = seed.gh("alice").get_organization("acme")
    assert len(list(org.get_variables())) == 35
    assert org.get_variables().totalCount == 35
    shared = seed.call("alice", "GET", "/repos/acme/svc/actions/organization-variables?per_page=100")
    assert len(shared.json()["variables"]) == 30 and shared.json()["total_count"] == 35


# -- deploy keys -----------------------------------------------------------------------------------
def test_deploy_keys_through_pygithub(seed):
    repo = seed.gh("alice").get_repo("alice/priv")
    line = fake_ed25519()
    key = repo.create_key("ci", line + " ci@example", read_only=True)
    assert key.title == "ci"
    assert key.key == line  # the comment is dropped
    assert key.read_only is True and key.verified is True and key.added_by == "alice"
    assert key.last_used is None

    rw = repo.create_key("rsa", fake_rsa())
    assert rw.read_only is False
    ec = repo.create_key("ecdsa", fake_ecdsa(), read_only=True)
    assert [k.id for k in repo.get_keys()] == [key.id, rw.id, ec.id]

    fetched = repo.get_key(key.id)
    assert fetched.key == line and fetched.title == "ci"

    fetched.delete()
    assert [k.title for k in repo.get_keys()] == ["rsa", "ecdsa"]
    with pytest.raises(GithubException) as exc:
        _ = repo.get_key(key.id).title
    assert exc.value.status == 404


def test_deploy_key_validation(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    line = fake_ed25519()
    good_b64 = line.split()[1]
    bad = [
        "not a key",
        "ssh-ed25519",
        "ssh-ed25519 !!!notbase64",
        "ssh-dss " + base64.b64encode(_wire(b"ssh-dss", b"p", b"q", b"g", b"y")).decode(),
        "ssh-rsa " + good_b64,  # type does not match the blob
        "ssh-ed25519 " + base64.b64encode(_wire(b"ssh-ed25519", os.urandom(31))).decode(),
        "ecdsa-sha2-nistp256 " + base64.b64encode(_wire(b"ecdsa-sha2-nistp256", b"nistp384", b"\x04")).decode(),
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ]
    for text in bad:
        with pytest.raises(GithubException) as exc:
            repo.create_key("bad", text)
        assert exc.value.status == 422, text
        err = exc.value.data["errors"][0]
        assert err["resource"] == "PublicKey" and err["field"] == "key"
        assert err["message"] == "key is invalid. You must supply a key in OpenSSH public key format"

    repo.create_key("first", line)
    for where, text in (("alice/pub", line + " other-comment"), ("alice/priv", line)):
        with pytest.raises(GithubException) as exc:
            seed.gh("alice").get_repo(where).create_key("dup", text)
        assert exc.value.status == 422
        assert exc.value.data["errors"][0]["message"] == "key is already in use"
    assert [k.title for k in repo.get_keys()] == ["first"]

    # without a title the key's comment names it
    resp = seed.call("alice", "POST", "/repos/alice/pub/keys", {"key": fake_ed25519() + " laptop"})
    assert resp.status_code == 201 and resp.json()["title"] == "laptop"


def test_deploy_key_permissions(seed):
    line = fake_ed25519()
    assert seed.call("carol", "GET", "/repos/alice/pub/keys").status_code == 403
    assert seed.call("carol", "POST", "/repos/alice/pub/keys", {"key": line}).status_code == 403
    assert seed.call("carol", "GET", "/repos/alice/priv/keys").status_code == 404
    assert seed.call(None, "GET", "/repos/alice/pub/keys").status_code == 401
    assert seed.call("bob", "GET", "/repos/acme/svc/keys").status_code == 403
    resp = seed.call("alice", "POST", "/repos/acme/svc/keys", {"key": line, "title": "svc"})
    assert resp.status_code == 201
    key_id = resp.json()["id"]
    assert seed.call("bob", "DELETE", f"/repos/acme/svc/keys/{key_id}").status_code == 403
    assert seed.call("alice", "GET", f"/repos/alice/pub/keys/{key_id}").status_code == 404  # another repo's key
    assert seed.call("alice", "DELETE", f"/repos/acme/svc/keys/{key_id}").status_code == 204
    # once deleted, the key may be used again
    assert seed.call("alice", "POST", "/repos/alice/pub/keys", {"key": line}).status_code == 201
