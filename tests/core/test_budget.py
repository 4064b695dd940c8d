"""The client's budget: which endpoint a request counts against, which requests create content,
and the waits it decides (its sleep is injected, so a minute passes at once)."""

from __future__ import annotations

import pytest

from gridctl.github.budget import Budget, Settings, content_creating, endpoint


@pytest.mark.parametrize(("method", "url", "key"), [
    ("GET", "/repos/alice/demo/actions/secrets", "GET /repos/*/actions/secrets"),
    # a repository or an organization named like a word of GitHub's paths is still a parameter
    ("GET", "/repos/actions/secrets/actions/secrets/X", "GET /repos/*/actions/secrets/*"),
    ("GET", "/orgs/secrets/actions/variables", "GET /orgs/*/actions/variables"),
    # a file path of any depth is one endpoint, whatever its folders are called
    ("PUT", "http://127.0.0.1:1/repos/a/b/contents/x.md", "PUT /repos/*/contents/*"),
    ("PUT", "http://127.0.0.1:1/api/v3/repos/a/b/contents/secrets/deep/x.md?ref=main", "PUT /repos/*/contents/*"),
    ("GET", "/repos/a/b/environments/public-key/secrets/public-key", "GET /repos/*/environments/*/secrets/public-key"),
    ("PATCH", "/user/repository_invitations/7", "PATCH /user/repository_invitations/*"),
])
def test_endpoint_keys(method, url, key):
    assert endpoint(method, url) == key


@pytest.mark.parametrize(("method", "url", "content"), [
    ("POST", "/user/repos", True),
    ("POST", "/orgs/acme/repos", True),
    ("PUT", "/repos/a/b/contents/x.md", True),
    ("PUT", "/repos/a/b/collaborators/bob", True),  # an invitation
    ("POST", "/repos/a/b/git/commits", True),
    ("PUT", "/repos/a/b/actions/secrets/X", False),
    ("GET", "/repos/a/b/contents/x.md", False),
    ("PATCH", "/user/repository_invitations/7", False),
])
def test_content_creating(method, url, content):
    assert content_creating(method, endpoint(method, url)) is content


class FakeTime:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_points_of_one_endpoint_wait_for_the_minute_to_move_on():
    t = FakeTime()
    b = Budget(Settings(endpoint_points=20), sleep=t.sleep)
    b.probe = False
    for _ in range(4):  # 4 PUTs of 5 points fill the minute
        b.release(b.acquire("PUT", "/repos/a/b/actions/secrets/X"), {})
    assert t.slept == []
    b.release(b.acquire("GET", "/repos/a/b/actions/secrets/X"), {})  # another endpoint: no wait
    assert t.slept == []
    b.release(b.acquire("PUT", "/repos/a/b/actions/secrets/Y"), {})
    assert len(t.slept) == 1 and 60 <= t.slept[0] <= 61


def test_nothing_is_sent_after_remaining_zero_until_the_reset():
    t = FakeTime()
    b = Budget(Settings(), sleep=t.sleep)
    reset = int(b.wall()) + 30
    b.release(b.acquire("GET", "/user"), {"x-ratelimit-remaining": "1", "x-ratelimit-reset": str(reset)})
    b.release(b.acquire("GET", "/user"), {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
    assert t.slept == []
    b.acquire("GET", "/user")
    assert len(t.slept) == 1 and 29 <= t.slept[0] <= 32  # until the reset, and a second more
    assert b.remaining is None and b.probe  # a new window: its first answer is awaited


def test_a_secondary_limit_answer_stops_every_request_of_the_token():
    t = FakeTime()
    b = Budget(Settings(), sleep=t.sleep)
    b.release(b.acquire("GET", "/user"), {}, secondary_wait=60)
    b.acquire("GET", "/repos/a/b")
    assert len(t.slept) == 1 and 59 <= t.slept[0] <= 60
    assert b.as_dict()["secondary_answers"] == 1


def test_content_creation_per_minute():
    t = FakeTime()
    b = Budget(Settings(content_per_minute=3), sleep=t.sleep)
    b.probe = False
    for i in range(3):
        b.release(b.acquire("POST", "/user/repos"), {})
        b.release(b.acquire("PUT", f"/repos/a/r{i}/actions/variables/X"), {})  # not content
    assert t.slept == []
    b.acquire("PUT", "/repos/a/b/contents/x.md")
    assert len(t.slept) == 1 and 59 <= t.slept[0] <= 61


def test_off_keeps_only_the_primary_limit(monkeypatch):
    monkeypatch.setenv("GRIDCTL_CLIENT_LIMITS", "off")
    t = FakeTime()
    b = Budget(sleep=t.sleep)
    b.probe = False
    for _ in range(50):
        b.release(b.acquire("PUT", "/repos/a/b/contents/x.md"), {})
    assert t.slept == []
