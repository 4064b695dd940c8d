"""A renamed repository's old name redirects, as on github.com: 301 for GET, 307 for other
methods, to the same request under ``/repositories/{id}``, which the sandbox serves (GET and
PATCH of the repository and every route below it)."""

from __future__ import annotations

from gridctl.sandbox.testing import session, strict_sandbox


def _rename(seed, full: str, new: str, login: str = "alice") -> dict:
    resp = seed.call(login, "PATCH", f"/repos/{full}", {"name": new})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_pygithub_follows_the_old_name_to_the_renamed_repository(seed):
    gh = seed.gh("alice")
    gh.get_repo("alice/pub").edit(name="renamed")
    repo = gh.get_repo("alice/pub")  # PyGithub follows the 301
    assert repo.full_name == "alice/renamed"
    assert repo.get_topics() == []


def test_get_is_a_301_and_other_methods_a_307_to_repositories_id(seed):
    rid = _rename(seed, "alice/pub", "renamed")["id"]
    s = seed.api("alice")
    got = s.get(f"{seed.url}/repos/alice/pub", allow_redirects=False, timeout=30)
    assert got.status_code == 301
    assert got.headers["Location"] == f"{seed.url}/repositories/{rid}"
    assert got.json()["url"] == got.headers["Location"] and got.json()["message"] == "Moved Permanently"
    below = s.get(f"{seed.url}/repos/alice/pub/contents/README.md?ref=main", allow_redirects=False, timeout=30)
    assert below.status_code == 301
    assert below.headers["Location"] == f"{seed.url}/repositories/{rid}/contents/README.md?ref=main"
    patched = s.patch(f"{seed.url}/repos/alice/pub", json={"description": "moved"}, allow_redirects=False, timeout=30)
    assert patched.status_code == 307 and patched.headers["Location"] == f"{seed.url}/repositories/{rid}"
    # a client that follows (requests keeps PATCH and its body on a 307) lands on the repository
    followed = s.patch(f"{seed.url}/repos/alice/pub", json={"description": "moved"}, timeout=30)
    assert followed.status_code == 200 and followed.json()["description"] == "moved"
    assert followed.json()["full_name"] == "alice/renamed"


def test_repositories_id_is_served_for_get_patch_and_routes_below(seed):
    rid = seed.call("alice", "GET", "/repos/alice/pub").json()["id"]
    assert seed.call("alice", "GET", f"/repositories/{rid}").json()["full_name"] == "alice/pub"
    patched = seed.call("alice", "PATCH", f"/repositories/{rid}", {"has_wiki": False})
    assert patched.status_code == 200 and patched.json()["has_wiki"] is False
    topics = seed.call("alice", "PUT", f"/repositories/{rid}/topics", {"names": ["grid"]})
    assert topics.status_code == 200 and topics.json()["names"] == ["grid"]
    assert seed.call("alice", "GET", "/repos/alice/pub/topics").json()["names"] == ["grid"]
    assert seed.call("alice", "GET", "/repositories/999999999").status_code == 404
    # access rules are the repository's: carol cannot see alice/priv by id either
    priv = seed.call("alice", "GET", "/repos/alice/priv").json()["id"]
    assert seed.call("carol", "GET", f"/repositories/{priv}").status_code == 404


def test_only_callers_who_see_the_repository_are_redirected(seed):
    _rename(seed, "alice/priv", "hidden")
    assert seed.api("carol").get(f"{seed.url}/repos/alice/priv", allow_redirects=False, timeout=30).status_code == 404
    assert seed.api("alice").get(f"{seed.url}/repos/alice/priv", allow_redirects=False, timeout=30).status_code == 301


def test_a_new_repository_takes_the_old_name_back_and_deletion_ends_redirects(seed):
    _rename(seed, "alice/pub", "renamed")
    assert seed.api("alice").get(f"{seed.url}/repos/alice/pub", allow_redirects=False, timeout=30).status_code == 301
    made = seed.call("alice", "POST", "/user/repos", {"name": "pub"})
    assert made.status_code == 201
    assert seed.call("alice", "GET", "/repos/alice/pub").json()["id"] == made.json()["id"]
    _rename(seed, "alice/renamed", "again")
    assert seed.call("alice", "DELETE", "/repos/alice/again").status_code == 204
    assert seed.api("alice").get(f"{seed.url}/repos/alice/renamed", allow_redirects=False, timeout=30).status_code == 404


def test_redirects_keep_an_enterprise_prefix():
    with strict_sandbox(api_prefix="/api/v3") as sb:
        token = sb.add_user("dora")
        s = session(sb, token)
        assert s.post(f"{sb.url}/user/repos", json={"name": "a"}, timeout=30).status_code == 201
        rid = s.patch(f"{sb.url}/repos/dora/a", json={"name": "b"}, timeout=30).json()["id"]
        got = s.get(f"{sb.url}/repos/dora/a", allow_redirects=False, timeout=30)
        assert got.headers["Location"] == f"{sb.config.public_url}/api/v3/repositories/{rid}"
