"""Self-hosted runners, labels, JIT configurations and runner groups, driven through the real
PyGithub 2.10 (and its requester for what PyGithub lacks) against a strict sandbox."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest
import requests
from github import GithubException, UnknownObjectException

from gridctl.sandbox.api.runners import eligible_runners
from gridctl.sandbox.testing import strict_sandbox

from .conftest import make_seed

ORG_GROUPS = "/orgs/acme/actions/runner-groups"


def call(gh, method: str, url: str, body=None):
    """One request through PyGithub's requester; returns the parsed body (None for 204)."""
    _, data = gh.requester.requestJsonAndCheck(method, url, input=body)
    return data


def repo_jit(gh, full_name: str, name: str, labels=("gpu",), group: int = 1) -> dict:
    return call(
        gh,
        "POST",
        f"/repos/{full_name}/actions/runners/generate-jitconfig",
        {"name": name, "runner_group_id": group, "labels": list(labels)},
    )


def org_jit(gh, name: str, labels=("gpu",), group: int = 1) -> dict:
    return call(
        gh,
        "POST",
        "/orgs/acme/actions/runners/generate-jitconfig",
        {"name": name, "runner_group_id": group, "labels": list(labels)},
    )


def label_map(labels) -> dict[str, str]:
    return {lb["name"]: lb["type"] for lb in labels}


def set_state(seed, rid: int, **state) -> requests.Response:
    return requests.post(f"{seed.sb.config.public_url}/_sandbox/runners/{rid}", json=state, timeout=30)


# -- organization runners through PyGithub --------------------------------------------------------
def test_org_jit_runner_lifecycle(seed):
    gh = seed.gh("alice")
    org = gh.get_organization("acme")
    jit = org.create_self_hosted_runner_jitconfig("build-1", 1, ["gpu", "linux", "ARM64"], work_folder="w")
    runner = jit.runner
    assert (runner.name, runner.status, runner.busy, runner.ephemeral) == ("build-1", "offline", False, True)
    assert runner.runner_group_id == 1
    assert runner.os == "Linux"
    assert label_map(runner.labels) == {
        "self-hosted": "read-only",
        "Linux": "read-only",
        "ARM64": "read-only",
        "gpu": "custom",
    }

    # the configuration is an opaque base64 blob with a random secret; the sandbox keeps its hash only
    encoded = jit.encoded_jit_config
    decoded = json.loads(base64.b64decode(encoded))
    assert decoded["runner_id"] == runner.id and decoded["work_folder"] == "w"
    assert len(decoded["secret"]) >= 32
    rec = seed.sb.app.store.get("runners", runner.id)
    assert rec["jit_sha256"] == hashlib.sha256(encoded.encode()).hexdigest()
    assert encoded not in json.dumps(rec) and decoded["secret"] not in json.dumps(rec)
    # a second configuration carries a different secret
    other = org.create_self_hosted_runner_jitconfig("build-2", 1, ["gpu"])
    assert json.loads(base64.b64decode(other.encoded_jit_config))["secret"] != decoded["secret"]

    found = list(org.get_self_hosted_runners(name="build-1"))
    assert [r.id for r in found] == [runner.id]
    assert list(org.get_self_hosted_runners(name="nope")) == []
    assert {r.name for r in org.get_self_hosted_runners()} == {"build-1", "build-2"}

    # the JIT configuration (and its secret) never appears in any other response
    alice = seed.api("alice")
    for path in (
        "/orgs/acme/actions/runners",
        f"/orgs/acme/actions/runners/{runner.id}",
        f"/orgs/acme/actions/runners/{runner.id}/labels",
        f"{ORG_GROUPS}/1/runners",
    ):
        text = alice.get(seed.url + path).text
        assert runner.name in text or "labels" in text
        assert encoded not in text and decoded["secret"] not in text
    control = requests.get(f"{seed.sb.config.public_url}/_sandbox/runners", timeout=30).text
    assert encoded not in control and decoded["secret"] not in control

    # the stand-in runner process connects with its configuration and comes online
    assert seed.ctl("POST", "/runners/connect", {"encoded_jit_config": encoded}) == {"id": runner.id, "name": "build-1"}
    assert org.get_self_hosted_runner(runner.id).status == "online"
    assert org.get_self_hosted_runner(other.runner.id).status == "offline"
    bad = requests.post(
        f"{seed.sb.config.public_url}/_sandbox/runners/connect",
        json={"encoded_jit_config": base64.b64encode(b'{"secret":"guess"}').decode()},
        timeout=30,
    )
    assert bad.status_code == 404

    # a busy runner cannot be removed
    assert set_state(seed, runner.id, busy=True).status_code == 200
    with pytest.raises(GithubException) as exc:
        org.delete_self_hosted_runner(runner.id)
    assert exc.value.status == 422
    assert exc.value.data["message"] == 'Bad request - Runner "build-1" is still running a job!'
    assert org.get_self_hosted_runner(runner.id).busy is True

    assert set_state(seed, runner.id, busy=False).status_code == 200
    org.delete_self_hosted_runner(runner.id)
    with pytest.raises(UnknownObjectException):
        org.get_self_hosted_runner(runner.id)
    assert [r.name for r in org.get_self_hosted_runners()] == ["build-2"]


def test_org_jit_errors(seed):
    org = seed.gh("alice").get_organization("acme")
    org.create_self_hosted_runner_jitconfig("dup", 1, ["x"])
    with pytest.raises(GithubException) as exc:
        org.create_self_hosted_runner_jitconfig("DUP", 1, ["x"])
    assert exc.value.status == 409
    assert exc.value.data["message"] == "Already exists - A runner with the name DUP already exists."
    with pytest.raises(GithubException) as exc:
        org.create_self_hosted_runner_jitconfig("new", 77, ["x"])
    assert exc.value.status == 404
    with pytest.raises(GithubException) as exc:
        org.create_self_hosted_runner_jitconfig("new", 1, [f"l{i}" for i in range(101)])
    assert exc.value.status == 422
    with pytest.raises(GithubException) as exc:
        org.create_self_hosted_runner_jitconfig("new", 1, [])
    assert exc.value.status == 422
    # nothing was created by the failed attempts
    assert [r.name for r in org.get_self_hosted_runners()] == ["dup"]


def test_org_runner_list_paginates(seed):
    gh = seed.gh("alice", per_page=2)
    org = gh.get_organization("acme")
    for i in range(5):
        org.create_self_hosted_runner_jitconfig(f"r{i}", 1, ["x"])
    assert [r.name for r in org.get_self_hosted_runners()] == [f"r{i}" for i in range(5)]
    resp = seed.call("alice", "GET", "/orgs/acme/actions/runners?per_page=2&page=2")
    assert resp.status_code == 200
    body = resp.json()
    assert body["total_count"] == 5 and [r["name"] for r in body["runners"]] == ["r2", "r3"]
    assert 'rel="next"' in resp.headers["Link"] and 'rel="prev"' in resp.headers["Link"]


def test_org_tokens_and_downloads(seed):
    org = seed.gh("alice").get_organization("acme")
    reg = org.create_self_hosted_runner_registration_token()
    rem = org.create_self_hosted_runner_remove_token()
    assert reg.token and rem.token and reg.token != rem.token
    in_an_hour = datetime.now(UTC).timestamp() + 3600
    for tok in (reg, rem):
        assert abs(tok.expires_at.timestamp() - in_an_hour) < 120
    apps = list(org.get_self_hosted_runner_applications())
    pairs = {(a.os, a.architecture) for a in apps}
    assert {("linux", "x64"), ("linux", "arm64"), ("osx", "x64"), ("osx", "arm64"), ("win", "x64")} <= pairs
    for a in apps:
        assert a.download_url.endswith("/" + a.filename)
    repo_apps = call(seed.gh("alice"), "GET", "/repos/alice/pub/actions/runners/downloads")
    assert {(a["os"], a["architecture"]) for a in repo_apps} == pairs
    assert call(seed.gh("alice"), "POST", "/repos/alice/priv/actions/runners/registration-token")["token"]


def test_org_runner_permissions(seed):
    with pytest.raises(GithubException) as exc:
        list(seed.gh("bob").get_organization("acme").get_self_hosted_runners())
    assert exc.value.status == 403
    with pytest.raises(GithubException) as exc:
        seed.gh("carol").get_organization("acme").create_self_hosted_runner_jitconfig("x", 1, ["y"])
    assert exc.value.status == 403
    # an org admin whose token lacks admin:org
    seed.tokens["alice-repo-only"] = seed.sb.add_user("alice", scopes=("repo",))
    resp = seed.call("alice-repo-only", "GET", "/orgs/acme/actions/runners")
    assert resp.status_code == 403
    assert "admin:org" in resp.headers["X-Accepted-OAuth-Scopes"]
    assert seed.call(None, "GET", "/orgs/acme/actions/runners").status_code == 401


# -- repository runners ---------------------------------------------------------------------------
def test_repo_runners_through_pygithub(seed):
    gh = seed.gh("alice")
    repo = gh.get_repo("alice/pub")
    jit = repo_jit(gh, "alice/pub", "box", labels=("windows", "gpu"))
    rid = jit["runner"]["id"]
    assert jit["runner"]["os"] == "Windows" and jit["runner"]["runner_group_id"] == 1
    assert label_map(jit["runner"]["labels"]) == {
        "self-hosted": "read-only",
        "Windows": "read-only",
        "X64": "read-only",
        "gpu": "custom",
    }
    runners = list(repo.get_self_hosted_runners())
    assert [(r.id, r.name, r.status, r.busy) for r in runners] == [(rid, "box", "offline", False)]
    assert repo.get_self_hosted_runner(rid).labels == jit["runner"]["labels"]
    for r in seed.call("alice", "GET", "/repos/alice/pub/actions/runners").json()["runners"]:
        assert "encoded_jit_config" not in r
    assert jit["encoded_jit_config"] not in seed.call("alice", "GET", f"/repos/alice/pub/actions/runners/{rid}").text

    # a repository's runners live in that repository only
    assert list(gh.get_repo("alice/priv").get_self_hosted_runners()) == []
    with pytest.raises(UnknownObjectException):
        gh.get_repo("alice/priv").get_self_hosted_runner(rid)
    with pytest.raises(UnknownObjectException):
        gh.get_organization("acme").get_self_hosted_runner(rid)
    # names are unique per scope, not sandbox-wide
    repo_jit(gh, "alice/priv", "box")
    org_jit(gh, "box")
    with pytest.raises(GithubException) as exc:
        repo_jit(gh, "alice/pub", "box")
    assert exc.value.status == 409
    # repository runners can only join the Default group
    with pytest.raises(GithubException) as exc:
        repo_jit(gh, "alice/pub", "other", group=2)
    assert exc.value.status == 404

    seed.ctl("POST", "/runners/connect", {"encoded_jit_config": jit["encoded_jit_config"]})
    assert repo.get_self_hosted_runner(rid).status == "online"
    seed.ctl("POST", f"/runners/{rid}", {"busy": True})
    # remove_self_hosted_runner answers a bool and never raises
    assert repo.remove_self_hosted_runner(rid) is False
    assert repo.get_self_hosted_runner(rid).busy is True
    seed.ctl("POST", f"/runners/{rid}", {"status": "offline"})
    assert repo.get_self_hosted_runner(rid).busy is False
    assert repo.remove_self_hosted_runner(rid) is True
    assert list(repo.get_self_hosted_runners()) == []
    assert repo.remove_self_hosted_runner(rid) is False


def test_repo_runner_permissions(seed):
    with pytest.raises(GithubException) as exc:  # can see the repository, is not its admin
        list(seed.gh("carol").get_repo("alice/pub").get_self_hosted_runners())
    assert exc.value.status == 403
    assert exc.value.data["message"] == "Must have admin rights to Repository."
    assert seed.call("carol", "GET", "/repos/alice/priv/actions/runners").status_code == 404
    # bob is an acme member (read on acme/svc): not an admin of it
    assert seed.call("bob", "POST", "/repos/acme/svc/actions/runners/registration-token").status_code == 403
    # org admins administer the org's repositories
    assert seed.call("alice", "POST", "/repos/acme/svc/actions/runners/registration-token").status_code == 201


def test_deleting_a_repository_removes_its_runners(seed):
    gh = seed.gh("alice")
    repo_jit(gh, "alice/pub", "gone")
    repo_jit(gh, "alice/priv", "stays")
    gh.get_repo("alice/pub").delete()
    names = [r["name"] for r in seed.ctl("GET", "/runners")["runners"]]
    assert names == ["stays"]


# -- labels ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("scope", ["/orgs/acme", "/repos/alice/pub"])
def test_labels(seed, scope):
    gh = seed.gh("alice")
    base = f"{scope}/actions/runners"
    first = call(gh, "POST", f"{base}/generate-jitconfig", {"name": "a", "runner_group_id": 1, "labels": ["gpu"]})
    rid = first["runner"]["id"]
    url = f"{base}/{rid}/labels"

    got = call(gh, "GET", url)
    assert got["total_count"] == 4
    assert label_map(got["labels"]) == {
        "self-hosted": "read-only",
        "Linux": "read-only",
        "X64": "read-only",
        "gpu": "custom",
    }

    added = call(gh, "POST", url, {"labels": ["big", "GPU", "Big", "fast"]})
    assert [lb["name"] for lb in added["labels"]] == ["self-hosted", "Linux", "X64", "gpu", "big", "fast"]
    assert added["total_count"] == 6

    replaced = call(gh, "PUT", url, {"labels": ["one", "two", "linux"]})
    assert label_map(replaced["labels"]) == {
        "self-hosted": "read-only",
        "Linux": "read-only",
        "X64": "read-only",
        "one": "custom",
        "two": "custom",
    }

    after = call(gh, "DELETE", f"{url}/ONE")
    assert [lb["name"] for lb in after["labels"]] == ["self-hosted", "Linux", "X64", "two"]
    with pytest.raises(GithubException) as exc:
        call(gh, "DELETE", f"{url}/one")
    assert exc.value.status == 404
    with pytest.raises(GithubException) as exc:
        call(gh, "DELETE", f"{url}/X64")
    assert exc.value.status == 422
    assert any("read-only" in e for e in exc.value.data["errors"])

    cleared = call(gh, "DELETE", url)
    assert cleared == {
        "total_count": 3,
        "labels": [lb for lb in after["labels"] if lb["type"] == "read-only"],
    }
    assert call(gh, "GET", url)["total_count"] == 3

    # at most 100 custom labels, whichever way they arrive
    call(gh, "PUT", url, {"labels": [f"l{i}" for i in range(100)]})
    with pytest.raises(GithubException) as exc:
        call(gh, "POST", url, {"labels": ["one-too-many"]})
    assert exc.value.status == 422
    assert call(gh, "GET", url)["total_count"] == 103

    # labels are entities of their scope: the same name keeps its id across runners
    second = call(gh, "POST", f"{base}/generate-jitconfig", {"name": "b", "runner_group_id": 1, "labels": ["l7"]})
    ids_a = {lb["name"]: lb["id"] for lb in call(gh, "GET", url)["labels"]}
    ids_b = {lb["name"]: lb["id"] for lb in second["runner"]["labels"]}
    assert ids_b["l7"] == ids_a["l7"] and ids_b["self-hosted"] == ids_a["self-hosted"]
    assert len(set(ids_a.values())) == len(ids_a)


def test_labels_need_an_existing_runner_in_scope(seed):
    gh = seed.gh("alice")
    rid = org_jit(gh, "r")["runner"]["id"]
    with pytest.raises(UnknownObjectException):
        call(gh, "GET", f"/repos/alice/pub/actions/runners/{rid}/labels")
    with pytest.raises(GithubException) as exc:
        call(seed.gh("bob"), "POST", f"/orgs/acme/actions/runners/{rid}/labels", {"labels": ["x"]})
    assert exc.value.status == 403


# -- runner groups --------------------------------------------------------------------------------
def test_default_group_is_created_lazily_and_persisted(seed):
    store = seed.sb.app.store
    assert store.get("runner_groups", "acme:1") is None
    gh = seed.gh("alice")
    groups = call(gh, "GET", ORG_GROUPS)
    assert groups["total_count"] == 1
    default = groups["runner_groups"][0]
    assert (default["id"], default["name"], default["default"], default["visibility"]) == (1, "Default", True, "all")
    assert "selected_repositories_url" not in default
    assert default["runners_url"].endswith("/orgs/acme/actions/runner-groups/1/runners")
    assert store.get("runner_groups", "acme:1")["name"] == "Default"
    single = call(gh, "GET", f"{ORG_GROUPS}/1")
    single.pop("url", None)  # PyGithub's requester adds the request URL to a JSON object
    assert single == default

    with pytest.raises(GithubException) as exc:
        call(gh, "DELETE", f"{ORG_GROUPS}/1")
    assert exc.value.status == 422
    with pytest.raises(GithubException) as exc:
        call(gh, "PATCH", f"{ORG_GROUPS}/1", {"name": "Renamed"})
    assert exc.value.status == 422
    # the default group can still be configured
    patched = call(gh, "PATCH", f"{ORG_GROUPS}/1", {"name": "Default", "allows_public_repositories": True})
    assert patched["allows_public_repositories"] is True and patched["default"] is True


def test_runner_groups_lifecycle(seed):
    gh = seed.gh("alice")
    org = gh.get_organization("acme")
    svc = gh.get_repo("acme/svc")
    api = org.create_repo("api", private=True)
    r1 = org.create_self_hosted_runner_jitconfig("r1", 1, ["x"]).runner
    r2 = org.create_self_hosted_runner_jitconfig("r2", 1, ["x"]).runner

    group = call(
        gh,
        "POST",
        ORG_GROUPS,
        {
            "name": "builders",
            "visibility": "selected",
            "selected_repository_ids": [svc.id],
            "runners": [r1.id],
        },
    )
    gid = group["id"]
    assert gid != 1 and group["default"] is False and group["inherited"] is False
    assert group["selected_repositories_url"].endswith(f"/runner-groups/{gid}/repositories")
    assert org.get_self_hosted_runner(r1.id).runner_group_id == gid
    assert [r["name"] for r in call(gh, "GET", f"{ORG_GROUPS}/{gid}/runners")["runners"]] == ["r1"]
    assert [r["name"] for r in call(gh, "GET", f"{ORG_GROUPS}/1/runners")["runners"]] == ["r2"]
    with pytest.raises(GithubException) as exc:
        call(gh, "POST", ORG_GROUPS, {"name": "Builders"})
    assert exc.value.status == 409

    # repository access
    def access() -> list[str]:
        return [r["name"] for r in call(gh, "GET", f"{ORG_GROUPS}/{gid}/repositories")["repositories"]]

    assert access() == ["svc"]
    call(gh, "PUT", f"{ORG_GROUPS}/{gid}/repositories/{api.id}")
    call(gh, "PUT", f"{ORG_GROUPS}/{gid}/repositories/{api.id}")  # idempotent
    assert sorted(access()) == ["api", "svc"]
    call(gh, "DELETE", f"{ORG_GROUPS}/{gid}/repositories/{svc.id}")
    assert access() == ["api"]
    call(gh, "PUT", f"{ORG_GROUPS}/{gid}/repositories", {"selected_repository_ids": [svc.id, api.id]})
    assert sorted(access()) == ["api", "svc"]
    pub = gh.get_repo("alice/pub")
    with pytest.raises(GithubException) as exc:  # not an acme repository
        call(gh, "PUT", f"{ORG_GROUPS}/{gid}/repositories", {"selected_repository_ids": [pub.id]})
    assert exc.value.status == 422
    visible = call(gh, "GET", f"{ORG_GROUPS}?visible_to_repository=svc")["runner_groups"]
    assert [g["name"] for g in visible] == ["Default", "builders"]

    # changing visibility away from "selected" drops the selection; access is then fixed
    updated = call(gh, "PATCH", f"{ORG_GROUPS}/{gid}", {"name": "ci", "visibility": "all"})
    assert updated["name"] == "ci" and updated["visibility"] == "all"
    assert "selected_repositories_url" not in updated
    with pytest.raises(GithubException) as exc:
        call(gh, "PUT", f"{ORG_GROUPS}/{gid}/repositories/{api.id}")
    assert exc.value.status == 409
    assert access() == []

    # runners move between groups; a new JIT runner can start in the group
    r3 = org.create_self_hosted_runner_jitconfig("r3", gid, ["x"]).runner
    assert r3.runner_group_id == gid
    call(gh, "PUT", f"{ORG_GROUPS}/{gid}/runners/{r2.id}")
    assert org.get_self_hosted_runner(r2.id).runner_group_id == gid
    assert call(gh, "GET", f"{ORG_GROUPS}/1/runners")["total_count"] == 0
    call(gh, "DELETE", f"{ORG_GROUPS}/{gid}/runners/{r1.id}")
    assert org.get_self_hosted_runner(r1.id).runner_group_id == 1
    with pytest.raises(GithubException) as exc:  # r1 is no longer in the group
        call(gh, "DELETE", f"{ORG_GROUPS}/{gid}/runners/{r1.id}")
    assert exc.value.status == 404
    call(gh, "PUT", f"{ORG_GROUPS}/{gid}/runners", {"runners": [r1.id, r3.id]})
    in_group = {r["name"] for r in call(gh, "GET", f"{ORG_GROUPS}/{gid}/runners")["runners"]}
    assert in_group == {"r1", "r3"}
    assert [r["name"] for r in call(gh, "GET", f"{ORG_GROUPS}/1/runners")["runners"]] == ["r2"]
    store_group = seed.sb.app.store.get("runner_groups", f"acme:{gid}")
    assert sorted(store_group["runner_ids"]) == sorted([r1.id, r3.id])

    # deleting a group sends its runners back to Default
    call(gh, "DELETE", f"{ORG_GROUPS}/{gid}")
    with pytest.raises(UnknownObjectException):
        call(gh, "GET", f"{ORG_GROUPS}/{gid}")
    assert {r.runner_group_id for r in org.get_self_hosted_runners()} == {1}
    assert call(gh, "GET", f"{ORG_GROUPS}/1/runners")["total_count"] == 3
    assert [g["name"] for g in call(gh, "GET", ORG_GROUPS)["runner_groups"]] == ["Default"]


def test_runner_group_validation_and_permissions(seed):
    gh = seed.gh("alice")
    with pytest.raises(GithubException) as exc:
        call(gh, "POST", ORG_GROUPS, {"name": "g", "runners": [424242]})
    assert exc.value.status == 422
    repo_runner = repo_jit(gh, "alice/pub", "mine")["runner"]["id"]
    with pytest.raises(GithubException) as exc:  # a repository runner is not an org runner
        call(gh, "POST", ORG_GROUPS, {"name": "g", "runners": [repo_runner]})
    assert exc.value.status == 422
    with pytest.raises(GithubException) as exc:
        call(gh, "POST", ORG_GROUPS, {"name": "  "})
    assert exc.value.status == 422
    with pytest.raises(GithubException) as exc:
        call(gh, "POST", ORG_GROUPS, {"visibility": "all"})
    assert exc.value.status == 422
    with pytest.raises(GithubException) as exc:
        call(gh, "PUT", f"{ORG_GROUPS}/1/runners/{repo_runner}")
    assert exc.value.status == 404
    created = call(
        gh,
        "POST",
        ORG_GROUPS,
        {
            "name": "wf",
            "restricted_to_workflows": True,
            "selected_workflows": ["acme/svc/.github/workflows/deploy.yaml@v1"],
        },
    )
    assert created["restricted_to_workflows"] is True
    assert created["selected_workflows"] == ["acme/svc/.github/workflows/deploy.yaml@v1"]
    assert created["visibility"] == "all" and created["allows_public_repositories"] is False

    for login, status in (("bob", 403), ("carol", 403)):
        with pytest.raises(GithubException) as exc:
            call(seed.gh(login), "GET", ORG_GROUPS)
        assert exc.value.status == status
    assert seed.call(None, "GET", ORG_GROUPS).status_code == 401


def test_eligible_runners_follow_group_access(seed):
    gh = seed.gh("alice")
    org = gh.get_organization("acme")
    svc = gh.get_repo("acme/svc")
    other = org.create_repo("other", private=True)
    public = org.create_repo("open", private=False)
    in_default = org.create_self_hosted_runner_jitconfig("d", 1, ["x"]).runner.id
    gid = call(
        gh, "POST", ORG_GROUPS, {"name": "svc-only", "visibility": "selected", "selected_repository_ids": [svc.id]}
    )["id"]
    only_svc = org.create_self_hosted_runner_jitconfig("s", gid, ["x"]).runner.id
    own = repo_jit(gh, "acme/svc", "own")["runner"]["id"]
    world = seed.sb.app.world

    def ids(name: str) -> list[int]:
        return [r["id"] for r in eligible_runners(world, world.find_repo("acme", name))]

    assert ids("svc") == sorted([in_default, only_svc, own])
    assert ids(other.name) == [in_default]
    assert ids(public.name) == []  # the Default group does not allow public repositories
    call(gh, "PATCH", f"{ORG_GROUPS}/1", {"name": "Default", "allows_public_repositories": True})
    assert ids(public.name) == [in_default]


# -- control routes ------------------------------------------------------------------------------
def test_control_routes(seed):
    gh = seed.gh("alice")
    o = org_jit(gh, "org-r", labels=("macos", "arm64", "xl"))
    r = repo_jit(gh, "alice/pub", "repo-r")
    listing = seed.ctl("GET", "/runners")["runners"]
    assert [(x["name"], x["scope"], x["status"], x["busy"], x["group"]) for x in listing] == [
        ("org-r", "org:acme", "offline", False, "Default"),
        ("repo-r", "repo:alice/pub", "offline", False, "Default"),
    ]
    assert listing[0]["labels"] == ["self-hosted", "macOS", "ARM64", "xl"]
    assert listing[0]["os"] == "macOS"

    rid = o["runner"]["id"]
    state = seed.ctl("POST", f"/runners/{rid}", {"status": "online", "busy": True})
    assert (state["status"], state["busy"]) == ("online", True)
    assert set_state(seed, rid, status="offline", busy=True).status_code == 422
    assert set_state(seed, rid, status="sleeping").status_code == 422
    assert set_state(seed, rid, busy="yes").status_code == 422
    assert set_state(seed, 999999, status="online").status_code == 404
    # going offline ends the job
    assert seed.ctl("POST", f"/runners/{rid}", {"status": "offline"})["busy"] is False
    assert (
        requests.post(f"{seed.sb.config.public_url}/_sandbox/runners/connect", json={}, timeout=30).status_code == 422
    )  # a required field missing: 422, as GitHub answers for its own routes
    assert seed.ctl("POST", "/runners/connect", {"encoded_jit_config": r["encoded_jit_config"]})["name"] == "repo-r"
    assert (
        seed.call("alice", "GET", f"/repos/alice/pub/actions/runners/{r['runner']['id']}").json()["status"] == "online"
    )


def test_runners_and_groups_survive_a_restart(tmp_path):
    with strict_sandbox(data_dir=tmp_path) as sb:
        seed = make_seed(sb)
        gh = seed.gh("alice")
        jit = org_jit(gh, "kept")
        gid = call(gh, "POST", ORG_GROUPS, {"name": "kept-group"})["id"]
        call(gh, "PUT", f"{ORG_GROUPS}/{gid}/runners/{jit['runner']['id']}")
    with strict_sandbox(data_dir=tmp_path) as sb:
        token = sb.add_user("alice")
        s = requests.Session()
        s.headers["Authorization"] = f"token {token}"
        groups = s.get(f"{sb.url}{ORG_GROUPS}").json()["runner_groups"]
        assert [(g["id"], g["name"]) for g in groups] == [(1, "Default"), (gid, "kept-group")]
        runner = s.get(f"{sb.url}/orgs/acme/actions/runners/{jit['runner']['id']}").json()
        assert (runner["name"], runner["runner_group_id"], runner["status"]) == ("kept", gid, "offline")
        # the stored hash still recognises the configuration handed out before the restart
        resp = requests.post(
            f"{sb.config.public_url}/_sandbox/runners/connect",
            json={"encoded_jit_config": jit["encoded_jit_config"]},
            timeout=30,
        )
        assert resp.status_code == 200
        assert s.get(f"{sb.url}/orgs/acme/actions/runners/{jit['runner']['id']}").json()["status"] == "online"
        # ids are never reused after a restart
        again = s.post(
            f"{sb.url}/orgs/acme/actions/runners/generate-jitconfig",
            json={"name": "new", "runner_group_id": 1, "labels": ["x"]},
        ).json()
        assert again["runner"]["id"] > jit["runner"]["id"]
