"""GitHub-wide behaviours of the sandbox, each observed over real HTTP (``requests`` and PyGithub
with retries and throttles off): rate limits, conditional requests, secondary limits,
pagination, faults, latency, the ``/api/v3`` prefix, error bodies and persistence."""

from __future__ import annotations

import base64
import math
import re
import sqlite3
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from github import BadCredentialsException, GithubException, RateLimitExceededException

from gridctl.sandbox.config import SandboxConfig
from gridctl.sandbox.server import Sandbox
from gridctl.sandbox.store import FILE_NAME, StoreError
from gridctl.sandbox.testing import pygithub, strict_sandbox

from .conftest import make_seed

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset", "x-ratelimit-resource")
SECONDARY = "You have exceeded a secondary rate limit"


def remaining(resp: requests.Response) -> int:
    return int(resp.headers["x-ratelimit-remaining"])


def ctl_url(seed) -> str:
    return f"{seed.sb.config.public_url}/_sandbox"


# -- primary rate limit ----------------------------------------------------------------------------
def test_rate_limit_headers_on_every_response_and_one_bucket_per_user(seed):
    alice = seed.api("alice")
    responses = [
        alice.get(seed.url + "/user"),
        alice.get(seed.url + "/repos/alice/pub"),
        alice.get(seed.url + "/repos/alice/nope"),  # an error counts too
        alice.get(seed.url + "/no/such/path"),
        alice.post(seed.url + "/user/repos", json={"name": "counted"}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 404, 201]
    for r in responses:
        for h in RATE_HEADERS:
            assert h in r.headers, (r.request.url, h)
        assert r.headers["x-ratelimit-resource"] == "core"
        assert r.headers["x-ratelimit-limit"] == "5000"
        assert int(r.headers["x-ratelimit-used"]) + remaining(r) == 5000
    rem = [remaining(r) for r in responses]
    assert rem == list(range(rem[0], rem[0] - len(rem), -1)), rem  # one point per request
    used = [int(r.headers["x-ratelimit-used"]) for r in responses]
    assert used == list(range(used[0], used[0] + len(used)))

    bob_before = remaining(seed.call("bob", "GET", "/user"))
    for _ in range(3):
        alice.get(seed.url + "/user")
    assert remaining(seed.call("bob", "GET", "/user")) == bob_before - 1  # alice's requests are not bob's
    anonymous = seed.call(None, "GET", "/repos/alice/pub")
    assert anonymous.headers["x-ratelimit-limit"] == "60"


def test_primary_rate_limit_exhausted_then_reset(seed):
    alice = seed.api("alice")
    out = seed.ctl("PUT", "/ratelimit/alice", {"remaining": 2})
    assert out["remaining"] == 2
    assert alice.get(seed.url + "/repos/alice/pub").status_code == 200
    r = alice.get(seed.url + "/repos/alice/pub")
    assert r.status_code == 200 and remaining(r) == 0
    before = time.time()
    r = alice.get(seed.url + "/repos/alice/pub")
    assert r.status_code == 403
    assert remaining(r) == 0
    body = r.json()
    user_id = seed.call("bob", "GET", "/users/alice").json()["id"]
    assert body["message"] == f"API rate limit exceeded for user ID {user_id}."
    assert body["documentation_url"].startswith("https://docs.github.com/")
    reset = r.headers["x-ratelimit-reset"]
    assert reset.isdigit() and before - 5 < int(reset) <= before + 3600 + 5  # epoch seconds
    # writes are refused as well, and nothing happens
    assert alice.post(seed.url + "/user/repos", json={"name": "blocked"}).status_code == 403
    assert seed.call("bob", "GET", "/repos/alice/blocked").status_code == 404

    # GET /rate_limit still answers, and does not count
    rl = alice.get(seed.url + "/rate_limit")
    assert rl.status_code == 200
    assert rl.json()["rate"]["remaining"] == 0 and rl.json()["resources"]["core"]["reset"] == int(reset)

    # PyGithub (retry=None) raises RateLimitExceededException on the 403
    gh = seed.gh("alice")
    with pytest.raises(RateLimitExceededException) as exc:
        gh.get_repo("alice/pub")
    assert exc.value.status == 403
    assert gh.rate_limiting[0] == 0

    # moving the clock past the reset opens a new window
    now = seed.ctl("POST", "/clock", {"advance": 0})["now"]
    seed.ctl("POST", "/clock", {"advance": int(reset) - now + 1})
    r = alice.get(seed.url + "/repos/alice/pub")
    assert r.status_code == 200
    assert remaining(r) == 4999
    assert int(r.headers["x-ratelimit-reset"]) > int(reset)
    assert gh.get_repo("alice/pub").name == "pub"


def test_primary_rate_limit_as_429(seed):
    seed.ctl("PUT", "/limits", {"primary_status": "429"})
    seed.ctl("PUT", "/ratelimit/bob", {"remaining": 0})
    r = seed.call("bob", "GET", "/repos/alice/pub")
    assert r.status_code == 429
    assert remaining(r) == 0
    assert r.json()["message"].startswith("API rate limit exceeded for user ID ")
    # PyGithub only recognises rate limits on 403: a 429 is a plain GithubException
    with pytest.raises(GithubException) as exc:
        seed.gh("bob").get_repo("alice/pub")
    assert exc.value.status == 429
    assert seed.call("alice", "GET", "/repos/alice/pub").status_code == 200  # alice has her own bucket


def test_rate_limit_endpoint_is_free(seed):
    alice = seed.api("alice")
    first = alice.get(seed.url + "/rate_limit")
    again = [alice.get(seed.url + "/rate_limit") for _ in range(3)]
    assert {remaining(r) for r in [first, *again]} == {remaining(first)}
    assert first.json()["rate"]["remaining"] == remaining(first)
    assert first.json()["rate"]["used"] == int(first.headers["x-ratelimit-used"])
    assert remaining(alice.get(seed.url + "/user")) == remaining(first) - 1
    assert seed.gh("alice").get_rate_limit().resources.core.remaining == remaining(first) - 1


# -- conditional requests --------------------------------------------------------------------------
def test_etag_304_is_free_and_bodiless(seed):
    alice = seed.api("alice")
    r1 = alice.get(seed.url + "/repos/alice/pub")
    etag = r1.headers["ETag"]
    assert re.fullmatch(r'W/"[0-9a-f]+"', etag)
    r2 = alice.get(seed.url + "/repos/alice/pub", headers={"If-None-Match": etag})
    assert r2.status_code == 304
    assert r2.content == b""
    assert remaining(r2) == remaining(r1)  # not charged
    assert r2.headers["ETag"] == etag
    r3 = alice.get(seed.url + "/repos/alice/pub", headers={"If-None-Match": 'W/"0000"'})
    assert r3.status_code == 200 and remaining(r3) == remaining(r1) - 1
    stats = seed.ctl("GET", "/stats")["by_endpoint"]["repos/get"]
    assert stats["not_modified"] == 1


def test_an_anonymous_304_is_charged(seed):
    # only a conditional request "made while correctly authorized with an Authorization header"
    # is free of the primary limit (GitHub Docs, "Best practices for using the REST API")
    r1 = requests.get(seed.url + "/repos/alice/pub", timeout=30)
    r2 = requests.get(seed.url + "/repos/alice/pub", headers={"If-None-Match": r1.headers["ETag"]}, timeout=30)
    assert r2.status_code == 304 and remaining(r2) == remaining(r1) - 1


def test_stats_count_what_each_limit_refused(seed):
    alice = seed.api("alice")
    seed.ctl("PUT", "/limits", {"endpoint_points_per_minute": 2, "reset": True})
    seed.ctl("POST", "/stats/reset")
    assert [alice.get(seed.url + "/repos/alice/pub").status_code for _ in range(3)] == [200, 200, 403]
    seed.ctl("PUT", "/limits", {"endpoint_points_per_minute": 900, "reset": True})
    seed.ctl("PUT", "/ratelimit/alice", {"remaining": 1, "reset_in": 60})
    assert [alice.get(seed.url + "/user").status_code for _ in range(2)] == [200, 403]
    total = seed.ctl("GET", "/stats")["total"]
    assert total["secondary_limited"] == 1 and total["primary_limited"] == 1, total


def test_etag_differs_per_token_and_per_content(seed):
    a = seed.call("alice", "GET", "/users/carol")
    b = seed.call("bob", "GET", "/users/carol")
    assert a.json() == b.json()
    assert a.headers["ETag"] != b.headers["ETag"]
    # bob's ETag is no good for alice
    assert seed.call("alice", "GET", "/users/carol", headers={"If-None-Match": b.headers["ETag"]}).status_code == 200

    before = seed.call("alice", "GET", "/repos/alice/pub")
    assert seed.call("alice", "PATCH", "/repos/alice/pub", {"description": "changed"}).status_code == 200
    after = seed.call("alice", "GET", "/repos/alice/pub", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.json()["description"] == "changed"


def test_pygithub_update_uses_conditional_requests(seed):
    gh = seed.gh("alice")
    repo = gh.get_repo("alice/pub")
    left = gh.rate_limiting[0]
    assert repo.update() is False  # 304: nothing changed
    assert gh.rate_limiting[0] == left  # and it was free
    seed.call("alice", "PATCH", "/repos/alice/pub", {"description": "new words"})
    assert repo.update() is True
    assert repo.description == "new words"
    assert gh.rate_limiting[0] == left - 2  # the PATCH and the 200


# -- secondary rate limits -------------------------------------------------------------------------
def test_secondary_limit_on_content_creation(seed):
    alice = seed.api("alice")
    seed.ctl("PUT", "/limits", {"content_per_minute": 3, "retry_after_probability": 1.0, "reset": True})
    for i in range(3):
        assert alice.post(seed.url + "/user/repos", json={"name": f"c{i}"}).status_code == 201
    r = alice.post(seed.url + "/user/repos", json={"name": "c3"})
    assert r.status_code == 403
    assert r.json()["message"].startswith(SECONDARY)
    assert "x-ratelimit-remaining" in r.headers and remaining(r) > 0  # not the primary limit
    assert int(r.headers["retry-after"]) == 60
    assert seed.call("bob", "GET", "/repos/alice/c3").status_code == 404  # refused before the handler
    # while blocked, reads are refused too; other users are not affected
    assert alice.get(seed.url + "/user").status_code == 403
    assert seed.call("bob", "GET", "/user").status_code == 200
    # PyGithub (retry=None) recognises the secondary limit
    with pytest.raises(RateLimitExceededException):
        seed.gh("alice").get_user().create_repo("c4")

    # the block lifts after secondary_block_seconds (and the minute window moves on)
    seed.ctl("POST", "/clock", {"advance": 61})
    assert alice.post(seed.url + "/user/repos", json={"name": "c3"}).status_code == 201


def test_secondary_limit_without_retry_after_and_short_block(seed):
    alice = seed.api("alice")
    seed.ctl(
        "PUT",
        "/limits",
        {"content_per_minute": 1, "retry_after_probability": 0.0, "secondary_block_seconds": 0.3, "reset": True},
    )
    assert alice.post(seed.url + "/user/repos", json={"name": "d0"}).status_code == 201
    r = alice.post(seed.url + "/user/repos", json={"name": "d1"})
    assert r.status_code == 403 and r.json()["message"].startswith(SECONDARY)
    assert "retry-after" not in r.headers
    assert alice.get(seed.url + "/user").status_code == 403
    time.sleep(0.35)
    assert alice.get(seed.url + "/user").status_code == 200


def test_secondary_limit_on_concurrency(seed):
    seed.ctl("PUT", "/limits", {"max_concurrent": 3, "retry_after_probability": 1.0, "reset": True})
    seed.ctl("PUT", "/latency", {"latency": "200ms"})
    token = seed.tokens["alice"]
    results: list[requests.Response] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def one() -> None:
        barrier.wait()
        r = requests.get(seed.url + "/repos/alice/pub", headers={"Authorization": f"token {token}"}, timeout=30)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seed.ctl("PUT", "/latency", {"latency": "off"})
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) >= 1 and statuses.count(403) >= 1, statuses
    assert statuses.count(200) <= 3
    for r in results:
        if r.status_code == 403:
            assert r.json()["message"].startswith(SECONDARY)
            assert "retry-after" in r.headers
            assert all(h in r.headers for h in RATE_HEADERS)
    assert seed.ctl("GET", "/stats")["by_endpoint"]["(concurrency)"]["status_403"] == statuses.count(403)
    # bob was never over the limit
    assert seed.call("bob", "GET", "/user").status_code == 200


# -- pagination --------------------------------------------------------------------------------------
LINK = re.compile(r'<([^>]+)>; rel="(next|last|prev|first)"')


def links(resp: requests.Response) -> dict[str, str]:
    header = resp.headers.get("Link", "")
    parts = header.split(", ") if header else []
    out = {}
    for part in parts:
        m = LINK.fullmatch(part)
        assert m, f"not GitHub's Link format: {header!r}"
        out[m.group(2)] = m.group(1)
    return out


def page_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.fixture
def many_repos(seed):
    """alice sees 105 repositories in GET /user/repos (3 seeded + 102 created)."""
    seed.ctl("PUT", "/limits", {"content_per_minute": 10**6, "content_per_hour": 10**6})
    alice = seed.api("alice")
    for i in range(102):
        r = alice.post(seed.url + "/user/repos", json={"name": f"r{i:03d}"})
        assert r.status_code == 201, r.text
    return 105


def test_pagination_links_and_sizes(seed, many_repos):
    alice = seed.api("alice")
    first = alice.get(seed.url + "/user/repos")
    assert len(first.json()) == 30  # default per_page
    assert first.headers["Link"] == (
        f'<{seed.url}/user/repos?page=2>; rel="next", <{seed.url}/user/repos?page=4>; rel="last"'
    )
    middle = alice.get(seed.url + "/user/repos?per_page=10&page=3")
    assert len(middle.json()) == 10
    assert list(links(middle)) == ["prev", "next", "last", "first"]  # GitHub's order
    assert middle.headers["Link"] == ", ".join(
        [
            f'<{seed.url}/user/repos?per_page=10&page=2>; rel="prev"',
            f'<{seed.url}/user/repos?per_page=10&page=4>; rel="next"',
            f'<{seed.url}/user/repos?per_page=10&page=11>; rel="last"',
            f'<{seed.url}/user/repos?per_page=10&page=1>; rel="first"',
        ]
    )
    last = alice.get(links(middle)["last"])
    assert len(last.json()) == 5 and set(links(last)) == {"prev", "first"}
    big = alice.get(seed.url + "/user/repos?per_page=500")
    assert len(big.json()) == 100  # per_page is capped at 100
    assert page_of(links(big)["last"])["page"] == ["2"]
    beyond = alice.get(seed.url + "/user/repos?page=50")
    assert beyond.status_code == 200 and beyond.json() == []
    assert "next" not in links(beyond)

    # walking next links visits every repository exactly once
    seen: list[str] = []
    url: str | None = seed.url + "/user/repos?per_page=40"
    while url:
        r = alice.get(url)
        seen += [x["full_name"] for x in r.json()]
        url = links(r).get("next")
    assert len(seen) == len(set(seen)) == many_repos


def test_pagination_through_pygithub(seed, many_repos):
    repos = seed.gh("alice").get_user().get_repos()
    assert repos.totalCount == many_repos
    names = [r.full_name for r in repos]
    assert len(names) == len(set(names)) == many_repos
    small = seed.gh("alice", per_page=7).get_user().get_repos()
    assert small.totalCount == many_repos
    assert [r.full_name for r in small] == names


# -- faults ------------------------------------------------------------------------------------------
def test_random_fault_502_has_a_json_body(seed):
    seed.ctl("PUT", "/faults", {"specs": ["rate=1.0,statuses=502"]})
    r = seed.call("alice", "GET", "/repos/alice/pub")
    assert r.status_code == 502
    body = r.json()
    assert body["message"] and body["documentation_url"]
    seed.ctl("PUT", "/faults", {"specs": []})
    assert seed.call("alice", "GET", "/repos/alice/pub").status_code == 200


def test_reset_fault_is_a_connection_error(seed):
    seed.ctl("PUT", "/faults", {"specs": ["rate=1.0,statuses=reset"]})
    with pytest.raises(requests.exceptions.ConnectionError):
        seed.call("alice", "GET", "/repos/alice/pub")
    with pytest.raises(requests.exceptions.ConnectionError):
        seed.gh("alice").get_repo("alice/pub")
    seed.ctl("PUT", "/faults", {"specs": []})
    assert seed.call("alice", "GET", "/repos/alice/pub").status_code == 200


def test_nth_fault_fails_exactly_that_request(seed):
    seed.ctl("PUT", "/faults", {"specs": ["nth=3,op=repos/get,status=503"]})
    alice = seed.api("alice")
    statuses = []
    for _ in range(5):
        statuses.append(alice.get(seed.url + "/repos/alice/pub").status_code)
        assert alice.get(seed.url + "/user").status_code == 200  # another operation: not counted
    assert statuses == [200, 200, 503, 200, 200]
    rule = seed.ctl("GET", "/faults")["rules"][0]
    assert rule["fired"] is True and rule["seen"] >= 3


def test_fault_after_the_write(seed):
    seed.ctl("PUT", "/faults", {"specs": ["nth=1,op=repos/create-for-authenticated-user,status=502,after=1"]})
    r = seed.call("alice", "POST", "/user/repos", {"name": "ghost"})
    assert r.status_code == 502
    # the client never saw a 201, but the repository exists
    assert seed.call("alice", "GET", "/repos/alice/ghost").status_code == 200
    assert seed.call("alice", "POST", "/user/repos", {"name": "ghost"}).status_code == 422


def test_fault_reset_after_the_write(seed):
    seed.ctl("PUT", "/faults", {"specs": ["nth=1,op=repos/create-for-authenticated-user,status=reset,after=1"]})
    with pytest.raises(requests.exceptions.ConnectionError):
        seed.call("alice", "POST", "/user/repos", {"name": "ghost2"})
    assert seed.call("alice", "GET", "/repos/alice/ghost2").status_code == 200


# -- latency ------------------------------------------------------------------------------------------
def test_fixed_latency(seed):
    alice = seed.api("alice")
    alice.get(seed.url + "/user")  # open the connection first
    seed.ctl("PUT", "/latency", {"latency": "150ms"})
    for _ in range(2):
        t0 = time.perf_counter()
        assert alice.get(seed.url + "/user").status_code == 200
        assert time.perf_counter() - t0 >= 0.15
    seed.ctl("PUT", "/latency", {"latency": "off"})
    t0 = time.perf_counter()
    alice.get(seed.url + "/user")
    assert time.perf_counter() - t0 < 0.15


@pytest.fixture
def seeded_sandbox():
    with strict_sandbox(config=SandboxConfig(seed=7)) as sandbox:
        yield make_seed(sandbox)


def test_lognormal_latency_varies(seeded_sandbox):
    seed = seeded_sandbox
    import random

    alice = seed.api("alice")
    alice.get(seed.url + "/user")
    seed.ctl("PUT", "/latency", {"latency": "lognormal:median=20ms,sigma=0.8"})
    # the sandbox draws from random.Random(seed): these are the delays it will add
    rng = random.Random(7)
    expected = [rng.lognormvariate(math.log(0.02), 0.8) for _ in range(8)]
    observed = []
    for _ in range(8):
        t0 = time.perf_counter()
        alice.get(seed.url + "/user")
        observed.append(time.perf_counter() - t0)
    for want, got in zip(expected, observed, strict=True):
        assert got >= want * 0.999, (want, got)
    assert max(expected) - min(expected) > 0.005  # samples vary
    assert max(observed) - min(observed) > 0.004


# -- /api/v3 ---------------------------------------------------------------------------------------------
def test_served_under_api_v3_prefix(seed):
    base = seed.url + "/api/v3"
    r = seed.api("alice").get(base + "/repos/alice/pub")
    assert r.status_code == 200
    assert r.json()["url"] == base + "/repos/alice/pub"
    assert r.json()["owner"]["url"] == base + "/users/alice"
    plain = seed.call("alice", "GET", "/repos/alice/pub").json()
    assert plain["url"] == seed.url + "/repos/alice/pub"
    page = seed.api("alice").get(base + "/user/repos?per_page=1")
    assert all(u.startswith(base + "/user/repos?") for u in links(page).values())

    gh = pygithub(seed.sb, seed.tokens["alice"], base_url=base)
    repo = gh.get_repo("alice/pub")
    assert repo.url == base + "/repos/alice/pub"
    listed = gh.get_user().get_repos()
    assert listed.totalCount == 3
    assert sorted(r.name for r in listed) == ["priv", "pub", "svc"]
    with pytest.raises(GithubException) as exc:
        gh.get_repo("alice/missing")
    assert exc.value.status == 404


# -- errors -----------------------------------------------------------------------------------------------
def test_error_bodies(seed):
    alice = seed.api("alice")
    bad_json = alice.post(seed.url + "/user/repos", data=b"{nope", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["message"] == "Problems parsing JSON"
    invalid = alice.post(seed.url + "/user/repos", json={"name": 5})
    assert invalid.status_code == 422
    assert "name" in invalid.json()["message"]
    bad_token = seed.call("bogus", "GET", "/user")
    assert bad_token.status_code == 401 and bad_token.json()["message"] == "Bad credentials"
    bad_token_unknown_path = seed.call("bogus", "GET", "/no/such/thing")
    assert bad_token_unknown_path.status_code == 401
    unknown = alice.get(seed.url + "/no/such/thing")
    assert unknown.status_code == 404 and unknown.headers["Content-Type"].startswith("application/json")
    assert unknown.json()["message"] == "Not Found"
    wrong_method = alice.request("PATCH", seed.url + "/user/repos", json={})
    assert wrong_method.status_code == 404
    anonymous = seed.call(None, "GET", "/user")
    assert anonymous.status_code == 401 and anonymous.json()["message"] == "Requires authentication"
    for r in (bad_json, invalid, bad_token, bad_token_unknown_path, unknown, wrong_method, anonymous):
        body = r.json()
        assert set(body) >= {"message", "documentation_url"}, body
        assert body["documentation_url"].startswith("https://docs.github.com/")
    with pytest.raises(BadCredentialsException):
        seed.gh("bogus").get_user().login  # noqa: B018


def test_trailing_slash_and_head(seed):
    alice = seed.api("alice")
    assert alice.get(seed.url + "/repos/alice/pub/").json()["name"] == "pub"
    head = alice.head(seed.url + "/repos/alice/pub")
    assert head.status_code == 200 and head.content == b"" and "ETag" in head.headers


# -- persistence --------------------------------------------------------------------------------------------
def test_persistence_across_restart(tmp_path):
    data = tmp_path / "sbx"
    with strict_sandbox(data_dir=data) as sb:
        seed = make_seed(sb)
        gh = seed.gh("alice")
        priv = gh.get_repo("alice/priv")
        key_before = seed.call("alice", "GET", "/repos/alice/priv/actions/secrets/public-key").json()
        priv.create_secret("DB_PASSWORD", "hunter2")
        priv.create_file("docs/notes.md", "add notes", "persist me\n")
        ref_before = seed.call("alice", "GET", "/repos/alice/priv/git/ref/heads/main").json()
        secrets_before = requests.get(ctl_url(seed) + "/secrets", params={"repo": "alice/priv"}, timeout=10).json()
        ids_before = {r.full_name: r.id for r in gh.get_user().get_repos()}
        tokens = dict(seed.tokens)
    assert not sb.app.violations

    with strict_sandbox(data_dir=data) as sb2:
        seed2 = make_seed_view(sb2, tokens)
        me = seed2.call("alice", "GET", "/user")
        assert me.status_code == 200 and me.json()["login"] == "alice"  # the old token still works
        assert seed2.call("bob", "GET", "/orgs/acme/memberships/bob").json()["role"] == "member"
        gh2 = pygithub(sb2, tokens["alice"])
        assert {r.full_name: r.id for r in gh2.get_user().get_repos()} == ids_before
        key_after = seed2.call("alice", "GET", "/repos/alice/priv/actions/secrets/public-key").json()
        assert key_after == key_before  # same sealed-box key pair, same key_id
        secrets_after = requests.get(f"{sb2.config.public_url}/_sandbox/secrets", params={"repo": "alice/priv"}, timeout=10).json()
        assert secrets_after == secrets_before
        assert any(s["name"] == "DB_PASSWORD" for s in _secret_rows(secrets_after))
        assert gh2.get_repo("alice/priv").get_secret("DB_PASSWORD").name == "DB_PASSWORD"
        ref_after = seed2.call("alice", "GET", "/repos/alice/priv/git/ref/heads/main").json()
        assert ref_after["object"]["sha"] == ref_before["object"]["sha"]  # (the port, in urls, is new)
        commit = seed2.call("alice", "GET", f"/repos/alice/priv/git/commits/{ref_after['object']['sha']}")
        assert commit.status_code == 200 and commit.json()["message"] == "add notes"
        content = gh2.get_repo("alice/priv").get_contents("docs/notes.md")
        assert base64.b64decode(content.content) == b"persist me\n"
        # ids keep counting from where they were, never reused
        new = seed2.call("alice", "POST", "/user/repos", {"name": "after-restart"}).json()
        assert new["id"] > max(ids_before.values())
        # a token issued now is persisted too
        extra = requests.post(f"{sb2.config.public_url}/_sandbox/tokens", json={"login": "carol"}, timeout=10).json()
    with strict_sandbox(data_dir=data) as sb3:
        r = requests.get(sb3.url + "/user", headers={"Authorization": f"token {extra['token']}"}, timeout=10)
        assert r.json()["login"] == "carol"
        assert requests.get(sb3.url + "/repos/alice/after-restart", headers={"Authorization": f"token {tokens['alice']}"}, timeout=10).status_code == 200


def _secret_rows(payload):
    return payload["secrets"] if isinstance(payload, dict) and "secrets" in payload else payload


class _View:
    """Requests as the seed's users against a restarted sandbox (no re-seeding)."""

    def __init__(self, sb: Sandbox, tokens: dict[str, str]):
        self.sb = sb
        self.tokens = tokens

    def call(self, login: str, method: str, path: str, body=None) -> requests.Response:
        return requests.request(
            method, self.sb.url + path, json=body, headers={"Authorization": f"token {self.tokens[login]}"}, timeout=30
        )


def make_seed_view(sb: Sandbox, tokens: dict[str, str]) -> _View:
    return _View(sb, tokens)


def test_corrupt_store_is_refused_with_its_path(tmp_path):
    data = tmp_path / "broken"
    data.mkdir()
    (data / FILE_NAME).write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError) as exc:
        Sandbox(data_dir=data).start()
    assert str(data / FILE_NAME) in str(exc.value)
    assert (data / FILE_NAME).read_bytes().startswith(b"this is not sqlite")  # never reset
    # the lock is released: fixing the file makes the folder usable again
    (data / FILE_NAME).unlink()
    with Sandbox(data_dir=data) as sb:
        assert requests.get(f"{sb.config.public_url}/_sandbox/health", timeout=10).json()["users"] == 0


def test_foreign_sqlite_and_bad_records_are_refused(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    db = sqlite3.connect(foreign / FILE_NAME)
    db.execute("CREATE TABLE something (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a gridctl sandbox store"):
        Sandbox(data_dir=foreign).start()
    db = sqlite3.connect(foreign / FILE_NAME)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # left exactly as it was
    assert {r[0] for r in db.execute("SELECT name FROM sqlite_master")} == {"something"}
    db.close()

    damaged = tmp_path / "damaged"
    with Sandbox(data_dir=damaged) as sb:
        sb.add_user("alice")
    db = sqlite3.connect(damaged / FILE_NAME)
    db.execute("UPDATE records SET value = '{broken' WHERE tbl = 'users'")
    db.commit()
    db.close()
    with pytest.raises(StoreError) as exc:
        Sandbox(data_dir=damaged).start()
    assert str(damaged / FILE_NAME) in str(exc.value) and "JSON" in str(exc.value)


def test_locked_data_dir_is_refused(tmp_path):
    data = tmp_path / "shared"
    with Sandbox(data_dir=data) as sb:
        token = sb.add_user("alice")
        with pytest.raises(StoreError, match="in use by a running sandbox"):
            Sandbox(data_dir=data).start()
        # the first sandbox is unharmed
        assert requests.get(sb.url + "/user", headers={"Authorization": f"token {token}"}, timeout=10).status_code == 200
    with Sandbox(data_dir=data) as again:  # released on stop
        assert requests.get(again.url + "/user", headers={"Authorization": f"token {token}"}, timeout=10).status_code == 200
