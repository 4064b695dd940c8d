"""Issues, comments, labels and pull requests, driven through PyGithub 2.10 (and a few raw
requests) against a strict in-process sandbox: the sticky plan comment and the plan labels."""

from __future__ import annotations

import datetime as dt

import pytest
from github import GithubException, UnknownObjectException

from .cases.issues import comment, make_branch, open_pr, seed_issue

MARKER = "<!-- gridctl:plan -->"


def upsert_plan_comment(pr, body: str):
    """The sticky-comment pattern gridctl uses: edit the comment carrying the marker, or post one."""
    text = f"{MARKER}\n{body}"
    for c in pr.get_issue_comments():
        if MARKER in c.body:
            c.edit(text)
            return c
    return pr.create_issue_comment(text)


@pytest.fixture
def pr(seed):
    make_branch(seed, files={"plan.txt": b"alpha\nbeta\n", "other.txt": b"x\n"})
    repo = seed.gh("alice").get_repo("alice/pub")
    return repo.create_pull(base="main", head="feature", title="Apply grid", body="Please review")


# -- pull requests -----------------------------------------------------------------------------------
def test_create_pull_and_read_it_back(seed, pr):
    assert pr.number == 1
    assert (pr.state, pr.title, pr.body) == ("open", "Apply grid", "Please review")
    assert pr.head.ref == "feature" and pr.base.ref == "main"
    assert pr.head.label == "alice:feature"
    assert pr.head.repo.full_name == "alice/pub"
    assert pr.user.login == "alice"
    assert pr.merged is False
    assert (pr.commits, pr.changed_files, pr.additions, pr.deletions) == (1, 2, 3, 0)

    repo = seed.gh("bob").get_repo("alice/pub")
    again = repo.get_pull(1)
    assert again.id == pr.id and again.head.sha == pr.head.sha
    issue = repo.get_issue(1)
    assert issue.pull_request is not None
    assert issue.pull_request.html_url.endswith("/alice/pub/pull/1")
    assert issue.title == "Apply grid"
    assert [p.number for p in repo.get_pulls(state="open", base="main")] == [1]
    assert [p.number for p in repo.get_pulls(head="alice:feature")] == [1]
    assert list(repo.get_pulls(head="alice:other")) == []
    assert list(repo.get_pulls(state="closed")) == []


def test_head_sha_follows_the_branch(seed, pr):
    new_sha = make_branch(seed, files={"plan.txt": b"alpha\ngamma\n"})
    fresh = seed.gh("alice").get_repo("alice/pub").get_pull(pr.number)
    assert fresh.head.sha == new_sha != pr.head.sha
    assert fresh.commits == 2
    assert (fresh.additions, fresh.deletions, fresh.changed_files) == (3, 0, 2)


def test_issues_and_pulls_share_one_number_sequence(seed):
    first = seed_issue(seed)
    second = open_pr(seed)
    third = seed_issue(seed, title="another")
    assert (first, second, third) == (1, 2, 3)
    repo = seed.gh("alice").get_repo("alice/pub")
    assert repo.get_issue(1).pull_request is None
    assert repo.get_issue(2).pull_request is not None
    with pytest.raises(UnknownObjectException):
        repo.get_pull(1)
    assert repo.get_pull(2).number == 2


def test_pull_request_refusals(seed, pr):
    repo = seed.gh("alice").get_repo("alice/pub")
    with pytest.raises(GithubException) as exc:
        repo.create_pull(base="main", head="feature", title="again")
    assert exc.value.status == 422
    assert exc.value.data["errors"][0]["message"] == "A pull request already exists for alice:feature."

    make_branch(seed, branch="empty", files={})  # a commit with no change is still a commit...
    with pytest.raises(GithubException) as exc:
        repo.create_pull(base="empty", head="main", title="backwards")
    assert exc.value.status == 422
    assert exc.value.data["errors"][0]["message"] == "No commits between empty and main"

    with pytest.raises(GithubException) as exc:
        repo.create_pull(base="main", head="missing", title="t")
    assert exc.value.status == 422
    assert exc.value.data["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]

    with pytest.raises(GithubException) as exc:
        repo.create_pull(base="nope", head="feature", title="t")
    assert exc.value.data["errors"][0]["field"] == "base"

    with pytest.raises(GithubException) as exc:
        repo.create_pull(base="main", head="bob:feature", title="t")
    assert exc.value.data["errors"][0]["field"] == "head"


def test_private_pulls_are_hidden(seed):
    n = open_pr(seed, "alice/priv")
    resp = seed.call("carol", "GET", f"/repos/alice/priv/pulls/{n}")
    assert resp.status_code == 404
    resp = seed.call("carol", "GET", "/repos/alice/priv/pulls")
    assert resp.status_code == 404
    resp = seed.call("alice", "GET", "/repos/alice/priv/pulls")
    assert [p["number"] for p in resp.json()] == [n]


def test_convert_issue_to_pull_request(seed):
    n = seed_issue(seed, title="Track the rollout")
    make_branch(seed)
    resp = seed.call("alice", "POST", "/repos/alice/pub/pulls", {"issue": n, "head": "feature", "base": "main"})
    assert resp.status_code == 201, resp.text
    assert (resp.json()["number"], resp.json()["title"]) == (n, "Track the rollout")
    assert seed.call("alice", "GET", f"/repos/alice/pub/issues/{n}").json()["pull_request"]["url"].endswith(f"/pulls/{n}")


# -- comments ----------------------------------------------------------------------------------------
def test_comment_get_edit_delete(seed, pr):
    c = pr.create_issue_comment("first plan")
    assert c.user.login == "alice" and c.body == "first plan"
    assert c.html_url.endswith(f"/alice/pub/pull/{pr.number}#issuecomment-{c.id}")
    repo = seed.gh("bob").get_repo("alice/pub")
    listed = list(repo.get_issue(pr.number).get_comments())
    assert [(x.id, x.body) for x in listed] == [(c.id, "first plan")]

    c.edit("second plan")
    assert c.body == "second plan"
    assert repo.get_issue(pr.number).get_comment(c.id).body == "second plan"
    assert repo.get_issue(pr.number).comments == 1

    c.delete()
    assert list(repo.get_issue(pr.number).get_comments()) == []
    with pytest.raises(UnknownObjectException):
        repo.get_issue(pr.number).get_comment(c.id)


def test_comment_body_limit(seed, pr):
    with pytest.raises(GithubException) as exc:
        pr.create_issue_comment("x" * 70_000)
    assert exc.value.status == 422
    assert exc.value.data["errors"][0]["message"] == "Body is too long (maximum is 65536 characters)"
    assert list(pr.get_issue_comments()) == []
    # exactly at the limit is fine, and an edit is held to the same limit
    c = pr.create_issue_comment("y" * 65536)
    with pytest.raises(GithubException) as exc:
        c.edit("z" * 65537)
    assert exc.value.status == 422
    assert seed.ctl("GET", f"/repos/alice/pub/issues/{pr.number}")["comments"][0]["body"] == "y" * 65536


def test_sticky_comment_keeps_exactly_one(seed, pr):
    carol_pr = seed.gh("carol").get_repo("alice/pub").get_pull(pr.number)
    carol_pr.create_issue_comment("looks good")
    first = upsert_plan_comment(pr, "plan v1: 3 to add")
    second = upsert_plan_comment(pr, "plan v2: 2 to add")
    third = upsert_plan_comment(pr, "plan v3: no changes")
    assert first.id == second.id == third.id
    bodies = [c.body for c in seed.gh("bob").get_repo("alice/pub").get_issue(pr.number).get_comments()]
    assert bodies == ["looks good", f"{MARKER}\nplan v3: no changes"]
    assert sum(MARKER in b for b in bodies) == 1


def test_who_may_comment_edit_and_delete(seed, pr):
    carol = seed.gh("carol").get_repo("alice/pub").get_pull(pr.number)
    mine = carol.create_issue_comment("from an outsider")  # any reader of a public repo may comment
    alices = pr.create_issue_comment(f"{MARKER}\nplan")
    as_carol = seed.gh("carol").get_repo("alice/pub").get_issue(pr.number).get_comment(alices.id)
    with pytest.raises(GithubException) as exc:
        as_carol.edit("hijacked")
    assert exc.value.status == 403
    with pytest.raises(GithubException) as exc:
        as_carol.delete()
    assert exc.value.status == 403
    mine.edit("edited by its author")
    # bob can read (org member elsewhere) but has no role here: not a moderator
    as_bob = seed.gh("bob").get_repo("alice/pub").get_issue(pr.number).get_comment(mine.id)
    with pytest.raises(GithubException) as exc:
        as_bob.edit("nope")
    assert exc.value.status == 403
    # with write access bob may moderate, as on github.com
    app = seed.sb.app
    with app.store.lock:
        repo = app.world.find_repo("alice", "pub")
        repo["collaborators"]["bob"] = "write"
        app.world.save("repos", repo["id"], repo)
    as_bob.edit("tidied by a maintainer")
    # the owner (admin) may delete anybody's comment
    pr.get_issue_comment(mine.id).delete()
    assert [c.id for c in pr.get_issue_comments()] == [alices.id]
    # nobody can comment on a private repo they cannot see
    n = open_pr(seed, "alice/priv", branch="feature")
    assert seed.call("carol", "POST", f"/repos/alice/priv/issues/{n}/comments", {"body": "x"}).status_code == 404


def test_comments_pagination_and_since(seed, pr):
    for i in range(32):
        comment(seed, "alice/pub", pr.number, f"c{i}")
    resp = seed.call("alice", "GET", f"/repos/alice/pub/issues/{pr.number}/comments")
    assert len(resp.json()) == 30
    assert 'rel="next"' in resp.headers["Link"]
    assert [c.body for c in pr.get_issue_comments()] == [f"c{i}" for i in range(32)]

    seed.ctl("POST", "/clock", {"advance": 3600})
    later = comment(seed, "alice/pub", pr.number, "after an hour")
    cutoff = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    issue = seed.gh("alice").get_repo("alice/pub").get_issue(pr.number)
    assert [c.id for c in issue.get_comments(since=cutoff)] == [later]
    # editing an old comment brings it back into a `since` window
    first = next(iter(issue.get_comments()))
    first.edit("c0, revised")
    assert [c.body for c in issue.get_comments(since=cutoff)] == ["c0, revised", "after an hour"]


def test_comment_on_archived_repo_is_refused(seed, pr):
    assert seed.call("alice", "PATCH", "/repos/alice/pub", {"archived": True}).status_code == 200
    with pytest.raises(GithubException) as exc:
        pr.create_issue_comment("late")
    assert exc.value.status == 403


# -- labels ------------------------------------------------------------------------------------------
def test_plan_labels_follow_the_plan(seed, pr):
    pr.add_to_labels("gridctl:changes")
    assert [lb.name for lb in pr.get_labels()] == ["gridctl:changes"]
    created = next(lb for lb in seed.gh("alice").get_repo("alice/pub").get_labels() if lb.name == "gridctl:changes")
    assert (created.color, created.default) == ("ededed", False)

    pr.add_to_labels("gridctl:destroys", "gridctl:changes")
    assert sorted(lb.name for lb in pr.get_labels()) == ["gridctl:changes", "gridctl:destroys"]

    pr.set_labels("gridctl:no-changes")
    assert [lb.name for lb in pr.get_labels()] == ["gridctl:no-changes"]

    pr.remove_from_labels("gridctl:no-changes")
    assert list(pr.get_labels()) == []

    with pytest.raises(GithubException) as exc:
        pr.remove_from_labels("gridctl:no-changes")
    assert (exc.value.status, exc.value.data["message"]) == (404, "Label does not exist")

    pr.set_labels("bug", "area/ci")
    assert sorted(lb.name for lb in pr.get_labels()) == ["area/ci", "bug"]
    pr.remove_from_labels("area/ci")
    pr.set_labels()
    assert list(pr.get_labels()) == []
    # the issue view of the pull request carries the same labels
    pr.add_to_labels("BUG")  # case-insensitive: the existing default label, not a new one
    issue = seed.gh("bob").get_repo("alice/pub").get_issue(pr.number)
    assert [(lb.name, lb.color) for lb in issue.labels] == [("bug", "d73a4a")]


def test_default_labels_and_create_label(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    names = [lb.name for lb in repo.get_labels()]
    assert names == sorted(names, key=str.lower)
    assert {"bug", "documentation", "duplicate", "enhancement", "good first issue", "help wanted",
            "invalid", "question", "wontfix"} == set(names)
    made = repo.create_label("gridctl:destroys", "b60205", "gridctl plan destroys resources")
    assert (made.name, made.color, made.description) == ("gridctl:destroys", "b60205", "gridctl plan destroys resources")
    assert "gridctl:destroys" in [lb.name for lb in repo.get_labels()]
    with pytest.raises(GithubException) as exc:
        repo.create_label("Gridctl:Destroys", "000000")
    assert exc.value.status == 422
    assert exc.value.data["errors"][0]["code"] == "already_exists"


def test_labels_need_triage(seed, pr):
    outsider = seed.gh("carol").get_repo("alice/pub").get_pull(pr.number)
    with pytest.raises(UnknownObjectException):
        outsider.add_to_labels("gridctl:changes")
    app = seed.sb.app
    with app.store.lock:
        repo = app.world.find_repo("alice", "pub")
        repo["collaborators"]["carol"] = "triage"
        app.world.save("repos", repo["id"], repo)
    outsider.add_to_labels("gridctl:changes")
    assert [lb.name for lb in pr.get_labels()] == ["gridctl:changes"]
    # creating a repository label outright needs write
    resp = seed.call("carol", "POST", "/repos/alice/pub/labels", {"name": "triaged"})
    assert resp.status_code == 404


def test_label_bodies_github_accepts(seed, pr):
    path = f"/repos/alice/pub/issues/{pr.number}/labels"
    resp = seed.call("alice", "POST", path, [{"name": "one"}, "two"])
    assert resp.status_code == 200, resp.text
    assert [lb["name"] for lb in resp.json()] == ["one", "two"]
    resp = seed.call("alice", "PUT", path, {"labels": [{"name": "three"}]})
    assert [lb["name"] for lb in resp.json()] == ["three"]
    resp = seed.call("alice", "PUT", path, {"labels": []})
    assert (resp.status_code, resp.json()) == (200, [])
    assert seed.call("alice", "POST", path, []).status_code == 422
    assert seed.call("alice", "POST", path, {"labels": "bug"}).status_code == 422


def test_issues_disabled_still_serves_pull_requests(seed, pr):
    plain = seed_issue(seed)
    assert seed.call("alice", "PATCH", "/repos/alice/pub", {"has_issues": False}).status_code == 200
    assert seed.call("alice", "GET", f"/repos/alice/pub/issues/{plain}").status_code == 410
    pr.create_issue_comment("still works")
    assert seed.call("alice", "GET", f"/repos/alice/pub/issues/{pr.number}").status_code == 200


def test_deleting_the_repo_forgets_its_issues(seed, pr):
    pr.create_issue_comment("bye")
    assert seed.call("alice", "DELETE", "/repos/alice/pub").status_code == 204
    assert seed.call("alice", "POST", "/user/repos", {"name": "pub", "auto_init": True}).status_code == 201
    assert seed.call("alice", "GET", "/repos/alice/pub/issues/1").status_code == 404
    assert open_pr(seed) == 1
    assert seed.call("alice", "GET", "/repos/alice/pub/issues/1/comments").json() == []
