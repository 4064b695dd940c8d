"""Contents, Git Data and branches driven through the real PyGithub against a strict sandbox."""

from __future__ import annotations

import base64
import hashlib

import pytest
from github import GithubException, InputGitAuthor, InputGitTreeElement, UnknownObjectException


def git_blob_sha(data: bytes) -> str:
    """What ``git hash-object`` prints for ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def test_file_create_update_delete_with_compare_and_swap(seed):
    repo = seed.gh("alice").get_repo("alice/pub")

    created = repo.create_file("docs/hello.txt", "add hello", "hello\n")
    first_sha = created["content"].sha
    assert first_sha == git_blob_sha(b"hello\n")
    assert created["commit"].sha == repo.get_branch("main").commit.sha

    got = repo.get_contents("docs/hello.txt")
    assert got.decoded_content == b"hello\n"
    assert got.sha == first_sha and got.encoding == "base64" and got.size == 6

    # creating over an existing file without its sha: GitHub's 422
    with pytest.raises(GithubException) as err:
        repo.create_file("docs/hello.txt", "again", "other\n")
    assert err.value.status == 422
    assert '"sha" wasn\'t supplied.' in err.value.data["message"]

    updated = repo.update_file("docs/hello.txt", "edit", "hello, world\n", first_sha)
    second_sha = updated["content"].sha
    assert second_sha == git_blob_sha(b"hello, world\n")
    assert updated["commit"].parents[0].sha == created["commit"].sha

    # a writer that still holds the old sha loses the compare-and-swap
    with pytest.raises(GithubException) as err:
        repo.update_file("docs/hello.txt", "stale edit", "lost update\n", first_sha)
    assert err.value.status == 409
    assert "does not match" in err.value.data["message"]
    with pytest.raises(GithubException) as err:
        repo.delete_file("docs/hello.txt", "stale delete", first_sha)
    assert err.value.status == 409
    assert repo.get_contents("docs/hello.txt").decoded_content == b"hello, world\n"

    deleted = repo.delete_file("docs/hello.txt", "remove", second_sha)
    assert deleted["commit"].sha == repo.get_branch("main").commit.sha
    with pytest.raises(UnknownObjectException):
        repo.get_contents("docs/hello.txt")
    # the directory went with its only file
    assert [c.path for c in repo.get_contents("")] == ["README.md"]


def test_contents_honour_branch_committer_author_and_ref(seed):
    gh = seed.gh("alice")
    repo = gh.get_repo("alice/pub")
    main_sha = repo.get_branch("main").commit.sha
    repo.create_git_ref("refs/heads/dev", main_sha)
    author = InputGitAuthor("Ada", "ada@example.com", "2024-05-06T07:08:09+02:00")
    committer = InputGitAuthor("Bot", "bot@example.com")
    out = repo.create_file("dev.txt", "on dev", b"\x00\x01binary", branch="dev", author=author, committer=committer)
    commit = repo.get_git_commit(out["commit"].sha)
    assert (commit.author.name, commit.author.email) == ("Ada", "ada@example.com")
    assert commit.author.date.isoformat() == "2024-05-06T05:08:09+00:00"
    assert (commit.committer.name, commit.committer.email) == ("Bot", "bot@example.com")
    assert repo.get_branch("main").commit.sha == main_sha  # main untouched
    assert repo.get_contents("dev.txt", ref="dev").decoded_content == b"\x00\x01binary"
    assert repo.get_contents("dev.txt", ref=out["commit"].sha).sha == git_blob_sha(b"\x00\x01binary")
    with pytest.raises(UnknownObjectException):
        repo.get_contents("dev.txt")  # not on the default branch
    with pytest.raises(GithubException) as err:
        repo.get_contents("README.md", ref="no-such-branch")
    assert (err.value.status, err.value.data["message"]) == (404, "No commit found for the ref no-such-branch")

    # without author/committer the authenticated user is both
    plain = repo.get_git_commit(repo.create_file("plain.txt", "plain", "x")["commit"].sha)
    me = gh.get_user()
    assert plain.author.name == plain.committer.name == "alice"
    assert plain.author.email == f"{me.id}+alice@users.noreply.github.com"


def test_directory_listing_and_base64_line_breaks(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    big = bytes(range(256)) * 2
    repo.create_file("data/big.bin", "big", big)
    repo.create_file("data/sub/small.txt", "small", "s")
    listing = repo.get_contents("data")
    assert sorted((c.name, c.type) for c in listing) == [("big.bin", "file"), ("sub", "dir")]
    raw = seed.call("alice", "GET", "/repos/alice/pub/contents/data/big.bin").json()
    lines = raw["content"].split("\n")
    assert raw["content"].endswith("\n") and all(len(line) == 60 for line in lines[:-2]) and lines[-1] == ""
    assert base64.b64decode(raw["content"]) == big
    # a listed file completes lazily through its url
    big_entry = next(c for c in listing if c.name == "big.bin")
    assert big_entry.decoded_content == big


def test_blob_shas_are_git_hash_object(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    text = "héllo wörld\n"
    blob = repo.create_git_blob(text, "utf-8")
    assert blob.sha == git_blob_sha(text.encode())
    data = bytes(range(200))
    blob2 = repo.create_git_blob(base64.b64encode(data).decode(), "base64")
    assert blob2.sha == git_blob_sha(data)
    fetched = repo.get_git_blob(blob2.sha)
    assert fetched.encoding == "base64" and fetched.size == 200
    assert base64.b64decode(fetched.content) == data
    readme = repo.get_contents("README.md")
    assert readme.sha == git_blob_sha(readme.decoded_content)


def test_git_data_commit_is_a_compare_and_swap(seed):
    gh = seed.gh("alice")
    repo = gh.get_repo("alice/pub")
    other = seed.gh("alice").get_repo("alice/pub")  # a second, concurrent writer

    ref = repo.get_git_ref("heads/main")
    parent_sha = ref.object.sha
    parent = repo.get_git_commit(parent_sha)
    blob = repo.create_git_blob("from git data\n", "utf-8")
    tree = repo.create_git_tree(
        [InputGitTreeElement("gitdata.txt", "100644", "blob", sha=blob.sha)], base_tree=parent.tree
    )
    assert sorted(e.path for e in tree.tree) == ["README.md", "gitdata.txt"]
    commit = repo.create_git_commit("via git data", tree, [parent])
    assert commit.parents[0].sha == parent_sha

    # meanwhile somebody else moves main
    moved = other.create_file("concurrent.txt", "concurrent", "c\n")["commit"].sha

    with pytest.raises(GithubException) as err:
        ref.edit(commit.sha)  # not forced: must fail, main moved since we read it
    assert err.value.status == 422
    assert err.value.data["message"] == "Update is not a fast forward"
    assert repo.get_git_ref("heads/main").object.sha == moved  # nothing lost

    # redo on top of the new head: now it is a fast forward
    head = repo.get_git_commit(moved)
    tree2 = repo.create_git_tree(
        [InputGitTreeElement("gitdata.txt", "100644", "blob", sha=blob.sha)], base_tree=head.tree
    )
    commit2 = repo.create_git_commit("via git data, rebased", tree2, [head])
    ref.edit(commit2.sha)
    assert repo.get_git_ref("heads/main").object.sha == commit2.sha
    names = sorted(c.path for c in repo.get_contents(""))
    assert names == ["README.md", "concurrent.txt", "gitdata.txt"]

    # force moves a branch anywhere
    ref.edit(commit.sha, force=True)
    assert repo.get_branch("main").commit.sha == commit.sha


def test_tree_entries_delete_nest_and_list_recursively(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    base = repo.get_git_commit(repo.get_branch("main").commit.sha)
    tree = repo.create_git_tree(
        [
            InputGitTreeElement("src/app/main.py", "100644", "blob", content="print(1)\n"),
            InputGitTreeElement("run.sh", "100755", "blob", content="#!/bin/sh\n"),
            InputGitTreeElement("README.md", "100644", "blob", sha=None),
        ],
        base_tree=base.tree,
    )
    assert sorted((e.path, e.type) for e in tree.tree) == [("run.sh", "blob"), ("src", "tree")]
    deep = repo.get_git_tree(tree.sha, recursive=True)
    assert [(e.path, e.mode) for e in deep.tree] == [
        ("run.sh", "100755"),
        ("src", "040000"),
        ("src/app", "040000"),
        ("src/app/main.py", "100644"),
    ]
    py = next(e for e in deep.tree if e.path == "src/app/main.py")
    assert py.sha == git_blob_sha(b"print(1)\n") and py.size == 9

    # a tree entry can graft a whole existing tree under a new name
    src = next(e for e in tree.tree if e.path == "src")
    grafted = repo.create_git_tree([InputGitTreeElement("lib", "040000", "tree", sha=src.sha)], base_tree=tree)
    paths = [e.path for e in repo.get_git_tree(grafted.sha, recursive=True).tree]
    assert "lib/app/main.py" in paths and "src/app/main.py" in paths

    with pytest.raises(GithubException) as err:
        repo.create_git_tree([InputGitTreeElement("nope.txt", "100644", "blob", sha=None)], base_tree=base.tree)
    assert err.value.status == 422
    resp = seed.call(
        "alice",
        "POST",
        "/repos/alice/pub/git/trees",
        {"base_tree": base.sha, "tree": [{"path": "x", "mode": "100644", "type": "blob", "content": "x"}]},
    )
    assert (resp.status_code, resp.json()["message"]) == (422, "base_tree is not a valid tree oid")  # a commit


def test_refs_branches_and_tags(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    head = repo.get_branch("main").commit.sha
    feature = repo.create_git_ref("refs/heads/feature/x", head)
    assert feature.ref == "refs/heads/feature/x" and feature.object.sha == head
    repo.create_git_ref("refs/tags/v1.0", head)
    assert sorted(b.name for b in repo.get_branches()) == ["feature/x", "main"]
    branch = repo.get_branch("feature/x")
    assert branch.commit.sha == head and branch.protected is False
    assert [r.ref for r in repo.get_git_matching_refs("heads/")] == ["refs/heads/feature/x", "refs/heads/main"]
    assert [r.ref for r in repo.get_git_matching_refs("tags")] == ["refs/tags/v1.0"]

    with pytest.raises(GithubException) as err:
        repo.create_git_ref("refs/heads/feature/x", head)
    assert (err.value.status, err.value.data["message"]) == (422, "Reference already exists")
    with pytest.raises(GithubException) as err:
        repo.create_git_ref("refs/heads/y", "0" * 40)
    assert (err.value.status, err.value.data["message"]) == (422, "Object does not exist")
    with pytest.raises(GithubException) as err:
        repo.create_git_ref("heads/y", head)
    assert err.value.status == 422

    repo.get_git_ref("heads/feature/x").delete()
    with pytest.raises(UnknownObjectException):
        repo.get_branch("feature/x")
    with pytest.raises(UnknownObjectException):
        repo.get_git_ref("heads/feature/x")
    with pytest.raises(GithubException) as err:
        repo.get_git_ref("heads/main").delete()
    assert err.value.status == 422  # the default branch stays


def test_empty_repository(seed):
    gh = seed.gh("alice")
    repo = gh.get_user().create_repo("blank")
    with pytest.raises(GithubException) as err:
        repo.get_contents("")
    assert (err.value.status, err.value.data["message"]) == (404, "This repository is empty.")
    for call in (lambda: repo.get_git_ref("heads/main"), lambda: repo.create_git_blob("x", "utf-8")):
        with pytest.raises(GithubException) as err:
            call()
        assert (err.value.status, err.value.data["message"]) == (409, "Git Repository is empty.")
    assert list(repo.get_branches()) == []

    first = repo.create_file("README.md", "first commit", "hi\n")
    assert first["commit"].parents == []
    assert [b.name for b in repo.get_branches()] == ["main"]
    assert repo.get_git_ref("heads/main").object.sha == first["commit"].sha


def test_workflow_files_need_the_workflow_scope(seed):
    token = seed.ctl("POST", "/tokens", {"login": "alice", "scopes": ["repo"]})["token"]
    seed.tokens["alice-repo"] = token
    limited = seed.gh("alice-repo").get_repo("alice/pub")
    full = seed.gh("alice").get_repo("alice/pub")

    with pytest.raises(UnknownObjectException):
        limited.create_file(".github/workflows/ci.yml", "ci", "on: push\n")
    limited.create_file(".github/CODEOWNERS", "owners", "* @alice\n")  # elsewhere under .github: fine
    base = limited.get_git_commit(limited.get_branch("main").commit.sha)
    with pytest.raises(UnknownObjectException):
        limited.create_git_tree(
            [InputGitTreeElement(".github/workflows/x.yml", "100644", "blob", content="on: push\n")],
            base_tree=base.tree,
        )

    made = full.create_file(".github/workflows/ci.yml", "ci", "on: push\n")
    # reading is fine without the scope; changing or deleting is not
    assert limited.get_contents(".github/workflows/ci.yml").sha == made["content"].sha
    with pytest.raises(UnknownObjectException):
        limited.update_file(".github/workflows/ci.yml", "edit", "on: pull_request\n", made["content"].sha)
    with pytest.raises(UnknownObjectException):
        limited.delete_file(".github/workflows/ci.yml", "rm", made["content"].sha)
    full.delete_file(".github/workflows/ci.yml", "rm", made["content"].sha)


def test_permissions_follow_repository_visibility(seed):
    carol = seed.gh("carol")
    pub = carol.get_repo("alice/pub")
    assert pub.get_contents("README.md").decoded_content  # public: readable
    with pytest.raises(UnknownObjectException):
        pub.create_file("x.txt", "m", "x")  # but not writable: 404, like github.com
    with pytest.raises(UnknownObjectException):
        carol.get_repo("alice/priv")
    resp = seed.call("carol", "GET", "/repos/alice/priv/git/ref/heads/main")
    assert resp.status_code == 404
    # bob is a member of acme (default read): he can read acme/svc but not write it
    bob_svc = seed.gh("bob").get_repo("acme/svc")
    assert bob_svc.get_branch("main").name == "main"
    with pytest.raises(UnknownObjectException):
        bob_svc.create_git_blob("x", "utf-8")


def test_update_keeps_the_file_mode(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    base = repo.get_git_commit(repo.get_branch("main").commit.sha)
    tree = repo.create_git_tree([InputGitTreeElement("run.sh", "100755", "blob", content="v1\n")], base_tree=base.tree)
    commit = repo.create_git_commit("exec", tree, [base])
    repo.get_git_ref("heads/main").edit(commit.sha)
    current = repo.get_contents("run.sh")
    out = repo.update_file("run.sh", "v2", "v2\n", current.sha)
    entries = {e.path: e for e in repo.get_git_tree(out["commit"].sha).tree}
    assert entries["run.sh"].mode == "100755" and entries["run.sh"].sha == git_blob_sha(b"v2\n")
