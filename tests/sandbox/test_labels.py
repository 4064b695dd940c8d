"""Repository labels (list, create, get, update, delete) driven through PyGithub 2.10 against a
strict in-process sandbox: what gridctl's label kind reads and writes."""

from __future__ import annotations

import pytest
from github import GithubException, UnknownObjectException

from .cases.issues import open_pr

DEFAULTS = {"bug", "documentation", "duplicate", "enhancement", "good first issue", "help wanted",
            "invalid", "question", "wontfix"}


def names(repo) -> list[str]:
    return [lb.name for lb in repo.get_labels()]


def test_a_new_repository_lists_the_default_labels(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    listed = names(repo)
    assert set(listed) == DEFAULTS and listed == sorted(listed, key=str.lower)
    bug = repo.get_label("bug")
    assert (bug.name, bug.color, bug.description, bug.default) == ("bug", "d73a4a", "Something isn't working", True)
    # names are matched case-insensitively; a name with spaces travels URL-encoded
    assert repo.get_label("BUG").id == bug.id
    assert repo.get_label("good first issue").color == "7057ff"


def test_create_get_edit_delete(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    made = repo.create_label("gridctl:destroys", "b60205", "gridctl plan destroys resources")
    assert (made.name, made.color, made.description, made.default) == (
        "gridctl:destroys", "b60205", "gridctl plan destroys resources", False)

    got = repo.get_label("gridctl:destroys")
    assert (got.id, got.color) == (made.id, "b60205")

    got.edit("gridctl:danger", "D93F0B", "renamed")
    assert (got.name, got.color, got.description) == ("gridctl:danger", "d93f0b", "renamed")
    assert got.id == made.id
    assert "gridctl:destroys" not in names(repo) and "gridctl:danger" in names(repo)
    with pytest.raises(UnknownObjectException):
        repo.get_label("gridctl:destroys").color  # noqa: B018  (the lazy label is fetched here)

    got.edit("Gridctl:Danger", "d93f0b")  # a change of case only is the same label
    assert repo.get_label("gridctl:danger").raw_data["name"] == "Gridctl:Danger"

    got.delete()
    assert "Gridctl:Danger" not in names(repo)
    with pytest.raises(UnknownObjectException):
        got.delete()


def test_names_are_unique_case_insensitively(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    with pytest.raises(GithubException) as exc:
        repo.create_label("Bug", "000000")
    assert exc.value.status == 422
    assert exc.value.data["errors"][0] == {"resource": "Label", "code": "already_exists", "field": "name"}
    with pytest.raises(GithubException) as exc:
        repo.get_label("question").edit("ENHANCEMENT", "000000")
    assert (exc.value.status, exc.value.data["errors"][0]["code"]) == (422, "already_exists")
    assert repo.get_label("question").color == "d876e3"  # unchanged


@pytest.mark.parametrize("color", ["#b60205", "b6020", "b602050", "red", ""])
def test_a_colour_is_six_hex_digits_without_a_hash(seed, color):
    repo = seed.gh("alice").get_repo("alice/pub")
    with pytest.raises(GithubException) as exc:
        repo.create_label("new", color)
    assert exc.value.status == 422
    assert exc.value.data["errors"][0]["field"] == "color"
    with pytest.raises(GithubException) as exc:
        repo.get_label("bug").edit("bug", color)
    assert exc.value.status == 422


def test_rename_and_delete_follow_onto_issues(seed):
    number = open_pr(seed)
    repo = seed.gh("alice").get_repo("alice/pub")
    pull = repo.get_pull(number)
    pull.add_to_labels("gridctl:changes", "bug")
    repo.get_label("gridctl:changes").edit("gridctl:plan", "fbca04")
    assert sorted(lb.name for lb in pull.get_labels()) == ["bug", "gridctl:plan"]
    assert [lb.color for lb in repo.get_issue(number).labels if lb.name == "gridctl:plan"] == ["fbca04"]
    repo.get_label("bug").delete()
    assert [lb.name for lb in pull.get_labels()] == ["gridctl:plan"]
    # a label of the same name made later is a new label, not attached to the pull request
    repo.create_label("bug", "d73a4a")
    assert [lb.name for lb in pull.get_labels()] == ["gridctl:plan"]


def test_writes_need_write_access_and_reads_need_visibility(seed):
    carol = seed.gh("carol")
    public = carol.get_repo("alice/pub")
    assert public.get_label("bug").color == "d73a4a"  # reading a public repository's labels is open
    with pytest.raises(UnknownObjectException):
        public.create_label("mine", "000000")
    with pytest.raises(UnknownObjectException):
        public.get_label("bug").edit("mine", "000000")
    with pytest.raises(UnknownObjectException):
        public.get_label("bug").delete()
    assert seed.call("carol", "GET", "/repos/alice/priv/labels/bug").status_code == 404
    # write (not triage) is the bar
    app = seed.sb.app
    with app.store.lock:
        rec = app.world.find_repo("alice", "pub")
        rec["collaborators"]["carol"] = "triage"
        app.world.save("repos", rec["id"], rec)
    with pytest.raises(UnknownObjectException):
        public.create_label("mine", "000000")
    with app.store.lock:
        rec["collaborators"]["carol"] = "write"
        app.world.save("repos", rec["id"], rec)
    assert public.create_label("mine", "000000").name == "mine"
    public.get_label("mine").edit("ours", "111111")
    public.get_label("ours").delete()
    assert "ours" not in names(public)


def test_the_list_is_paginated(seed):
    repo = seed.gh("alice", per_page=4).get_repo("alice/pub")
    for i in range(3):
        repo.create_label(f"extra-{i}", "ededed")
    assert len(names(repo)) == 12
    resp = seed.call("alice", "GET", "/repos/alice/pub/labels?per_page=5&page=3")
    assert resp.status_code == 200
    assert len(resp.json()) == 2
    assert 'rel="first"' in resp.headers["Link"] and 'rel="next"' not in resp.headers["Link"]


def test_an_archived_repository_refuses_label_writes(seed):
    assert seed.call("alice", "PATCH", "/repos/alice/pub", {"archived": True}).status_code == 200
    repo = seed.gh("alice").get_repo("alice/pub")
    assert repo.get_label("bug").color == "d73a4a"
    for attempt in (lambda: repo.create_label("x", "000000"), lambda: repo.get_label("bug").edit("x", "000000"),
                    lambda: repo.get_label("bug").delete()):
        with pytest.raises(GithubException) as exc:
            attempt()
        assert exc.value.status == 403
