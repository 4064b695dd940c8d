"""Conformance cases: contents, Git Data (blobs, trees, commits, refs), branches."""

from __future__ import annotations

import base64

from ..conformance import Case


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _ok(resp, status: int = 200):
    assert resp.status_code == status, resp.text
    return resp.json()


def _empty(seed) -> dict:
    _ok(seed.call("alice", "POST", "/user/repos", {"name": "empty"}), 201)
    return {}


def _readme(seed) -> dict:
    return {"sha": _ok(seed.call("alice", "GET", "/repos/alice/pub/contents/README.md"))["sha"]}


def _head(seed) -> dict:
    ref = _ok(seed.call("alice", "GET", "/repos/alice/pub/git/ref/heads/main"))
    commit = _ok(seed.call("alice", "GET", f"/repos/alice/pub/git/commits/{ref['object']['sha']}"))
    return {"head": commit["sha"], "tree": commit["tree"]["sha"]}


def _blob(seed) -> dict:
    out = _head(seed)
    out["blob"] = _ok(seed.call("alice", "POST", "/repos/alice/pub/git/blobs", {"content": "hi\n"}), 201)["sha"]
    return out


def _repo_scope_only(seed) -> dict:
    """A second token for alice with ``repo`` but not ``workflow``."""
    seed.tokens["alice-repo"] = seed.ctl("POST", "/tokens", {"login": "alice", "scopes": ["repo"]})["token"]
    return {}


def _side_branch(seed) -> dict:
    """``refs/heads/side``: one commit ahead of main, then main moves on (diverged)."""
    out = _head(seed)
    _ok(seed.call("alice", "POST", "/repos/alice/pub/git/refs", {"ref": "refs/heads/side", "sha": out["head"]}), 201)
    side = _ok(
        seed.call(
            "alice",
            "PUT",
            "/repos/alice/pub/contents/side.txt",
            {"message": "side", "content": b64("s"), "branch": "side"},
        ),
        201,
    )
    main = _ok(
        seed.call("alice", "PUT", "/repos/alice/pub/contents/main.txt", {"message": "main", "content": b64("m")}), 201
    )
    out.update(side=side["commit"]["sha"], main=main["commit"]["sha"])
    return out


CASES = [
    # -- contents ------------------------------------------------------------------------------
    Case("repos/get-content", 200, "GET", "/repos/alice/pub/contents/README.md", note="file"),
    Case("repos/get-content", 200, "GET", "/repos/alice/pub/contents/", note="root-dir"),
    Case(
        "repos/get-content",
        200,
        "GET",
        "/repos/alice/pub/contents/README.md?ref=main",
        login=None,
        note="anonymous-public",
    ),
    Case("repos/get-content", 404, "GET", "/repos/alice/pub/contents/nope.txt", note="missing-path"),
    Case("repos/get-content", 404, "GET", "/repos/alice/pub/contents/README.md?ref=nope", note="missing-ref"),
    Case("repos/get-content", 404, "GET", "/repos/alice/empty/contents/", setup=_empty, note="empty-repo"),
    Case("repos/get-content", 404, "GET", "/repos/alice/priv/contents/README.md", login="carol", note="private-hidden"),
    Case(
        "repos/create-or-update-file-contents",
        201,
        "PUT",
        "/repos/alice/pub/contents/docs/new.md",
        {"message": "add", "content": b64("new\n")},
        note="create",
    ),
    Case(
        "repos/create-or-update-file-contents",
        200,
        "PUT",
        "/repos/alice/pub/contents/README.md",
        {"message": "edit", "content": b64("# pub v2\n"), "sha": "{sha}"},
        setup=_readme,
        note="update",
    ),
    Case(
        "repos/create-or-update-file-contents",
        201,
        "PUT",
        "/repos/alice/empty/contents/README.md",
        {"message": "first", "content": b64("hello\n"), "committer": {"name": "Al", "email": "al@example.com"}},
        setup=_empty,
        note="empty-repo-first-commit",
    ),
    Case(
        "repos/create-or-update-file-contents",
        201,
        "PUT",
        "/repos/alice/pub/contents/.github/workflows/ci.yml",
        {"message": "ci", "content": b64("on: push\n")},
        note="workflow-with-scope",
    ),
    Case(
        "repos/create-or-update-file-contents",
        422,
        "PUT",
        "/repos/alice/pub/contents/README.md",
        {"message": "edit", "content": b64("x")},
        note="sha-not-supplied",
    ),
    Case(
        "repos/create-or-update-file-contents",
        409,
        "PUT",
        "/repos/alice/pub/contents/README.md",
        {"message": "edit", "content": b64("x"), "sha": "0" * 40},
        note="stale-sha",
    ),
    Case(
        "repos/create-or-update-file-contents",
        422,
        "PUT",
        "/repos/alice/pub/contents/x.txt",
        {"message": "bad", "content": "@@not base64@@"},
        note="bad-base64",
    ),
    Case(
        "repos/create-or-update-file-contents",
        422,
        "PUT",
        "/repos/alice/pub/contents/x.txt",
        {"content": b64("x")},
        note="schema-no-message",
    ),
    Case(
        "repos/create-or-update-file-contents",
        404,
        "PUT",
        "/repos/alice/pub/contents/x.txt",
        {"message": "m", "content": b64("x"), "branch": "nope"},
        note="missing-branch",
    ),
    Case(
        "repos/create-or-update-file-contents",
        404,
        "PUT",
        "/repos/alice/pub/contents/x.txt",
        {"message": "m", "content": b64("x")},
        login="carol",
        note="read-only-caller",
    ),
    Case(
        "repos/create-or-update-file-contents",
        404,
        "PUT",
        "/repos/alice/pub/contents/.github/workflows/ci.yml",
        {"message": "ci", "content": b64("on: push\n")},
        login="alice-repo",
        setup=_repo_scope_only,
        note="workflow-without-scope",
    ),
    Case(
        "repos/delete-file",
        200,
        "DELETE",
        "/repos/alice/pub/contents/README.md",
        {"message": "rm", "sha": "{sha}"},
        setup=_readme,
    ),
    Case(
        "repos/delete-file",
        409,
        "DELETE",
        "/repos/alice/pub/contents/README.md",
        {"message": "rm", "sha": "1" * 40},
        note="stale-sha",
    ),
    Case(
        "repos/delete-file",
        404,
        "DELETE",
        "/repos/alice/pub/contents/nope.txt",
        {"message": "rm", "sha": "1" * 40},
        note="missing",
    ),
    Case(
        "repos/delete-file",
        422,
        "DELETE",
        "/repos/alice/pub/contents/README.md",
        {"message": "rm"},
        note="schema-no-sha",
    ),
    # -- branches --------------------------------------------------------------------------------------
    Case("repos/list-branches", 200, "GET", "/repos/alice/pub/branches"),
    Case("repos/list-branches", 200, "GET", "/repos/alice/empty/branches", setup=_empty, note="empty-repo"),
    Case("repos/list-branches", 404, "GET", "/repos/alice/nope/branches"),
    Case("repos/get-branch", 200, "GET", "/repos/alice/pub/branches/main"),
    Case("repos/get-branch", 200, "GET", "/repos/alice/pub/branches/side", setup=_side_branch, note="other-branch"),
    Case("repos/get-branch", 404, "GET", "/repos/alice/pub/branches/nope"),
    # -- blobs -------------------------------------------------------------------------------------------------
    Case("git/create-blob", 201, "POST", "/repos/alice/pub/git/blobs", {"content": "hello", "encoding": "utf-8"}),
    Case(
        "git/create-blob",
        201,
        "POST",
        "/repos/alice/pub/git/blobs",
        {"content": b64("hello"), "encoding": "base64"},
        note="base64",
    ),
    Case(
        "git/create-blob",
        422,
        "POST",
        "/repos/alice/pub/git/blobs",
        {"content": "x", "encoding": "latin-1"},
        note="bad-encoding",
    ),
    Case(
        "git/create-blob",
        409,
        "POST",
        "/repos/alice/empty/git/blobs",
        {"content": "x"},
        setup=_empty,
        note="empty-repo",
    ),
    Case(
        "git/create-blob", 404, "POST", "/repos/alice/pub/git/blobs", {"content": "x"}, login="carol", note="read-only"
    ),
    Case("git/get-blob", 200, "GET", "/repos/alice/pub/git/blobs/{sha}", setup=_readme),
    Case("git/get-blob", 404, "GET", "/repos/alice/pub/git/blobs/" + "0" * 40),
    # -- trees ---------------------------------------------------------------------------------------------------
    Case(
        "git/create-tree",
        201,
        "POST",
        "/repos/alice/pub/git/trees",
        {
            "base_tree": "{tree}",
            "tree": [
                {"path": "a/b.txt", "mode": "100644", "type": "blob", "sha": "{blob}"},
                {"path": "c.sh", "mode": "100755", "type": "blob", "content": "echo\n"},
            ],
        },
        setup=_blob,
    ),
    Case(
        "git/create-tree",
        201,
        "POST",
        "/repos/alice/pub/git/trees",
        {"base_tree": "{tree}", "tree": [{"path": "README.md", "mode": "100644", "type": "blob", "sha": None}]},
        setup=_head,
        note="delete-entry",
    ),
    Case(
        "git/create-tree",
        422,
        "POST",
        "/repos/alice/pub/git/trees",
        {"base_tree": "f" * 40, "tree": [{"path": "x", "mode": "100644", "type": "blob", "content": "x"}]},
        note="bad-base-tree",
    ),
    Case(
        "git/create-tree",
        422,
        "POST",
        "/repos/alice/pub/git/trees",
        {"tree": [{"path": "x", "mode": "100644", "type": "blob", "content": "x", "sha": "{blob}"}]},
        setup=_blob,
        note="sha-and-content",
    ),
    Case(
        "git/create-tree",
        422,
        "POST",
        "/repos/alice/pub/git/trees",
        {"tree": [{"path": "x", "mode": "100644", "type": "blob", "sha": "e" * 40}]},
        note="unknown-blob",
    ),
    Case(
        "git/create-tree",
        409,
        "POST",
        "/repos/alice/empty/git/trees",
        {"tree": [{"path": "x", "mode": "100644", "type": "blob", "content": "x"}]},
        setup=_empty,
        note="empty-repo",
    ),
    Case(
        "git/create-tree",
        404,
        "POST",
        "/repos/alice/pub/git/trees",
        {"tree": [{"path": ".github/workflows/x.yml", "mode": "100644", "type": "blob", "content": "on: push\n"}]},
        login="alice-repo",
        setup=_repo_scope_only,
        note="workflow-without-scope",
    ),
    Case("git/get-tree", 200, "GET", "/repos/alice/pub/git/trees/{tree}", setup=_head),
    Case("git/get-tree", 200, "GET", "/repos/alice/pub/git/trees/main?recursive=1", note="recursive-by-branch"),
    Case("git/get-tree", 404, "GET", "/repos/alice/pub/git/trees/" + "0" * 40),
    # -- commits --------------------------------------------------------------------------------------------------
    Case(
        "git/create-commit",
        201,
        "POST",
        "/repos/alice/pub/git/commits",
        {
            "message": "m",
            "tree": "{tree}",
            "parents": ["{head}"],
            "author": {"name": "A", "email": "a@example.com", "date": "2024-01-02T03:04:05+02:00"},
        },
        setup=_head,
    ),
    Case(
        "git/create-commit",
        422,
        "POST",
        "/repos/alice/pub/git/commits",
        {"message": "m", "tree": "0" * 40},
        note="unknown-tree",
    ),
    Case(
        "git/create-commit",
        422,
        "POST",
        "/repos/alice/pub/git/commits",
        {"message": "m", "tree": "{tree}", "parents": ["{tree}"]},
        setup=_head,
        note="parent-not-commit",
    ),
    Case(
        "git/create-commit",
        422,
        "POST",
        "/repos/alice/pub/git/commits",
        {"message": "m", "tree": "{tree}", "author": {"name": "A"}},
        setup=_head,
        note="schema-author-email",
    ),
    Case("git/get-commit", 200, "GET", "/repos/alice/pub/git/commits/{head}", setup=_head),
    Case("git/get-commit", 404, "GET", "/repos/alice/pub/git/commits/" + "0" * 40),
    Case("git/get-commit", 409, "GET", "/repos/alice/empty/git/commits/" + "0" * 40, setup=_empty, note="empty-repo"),
    # -- refs -----------------------------------------------------------------------------------------------------
    Case("git/get-ref", 200, "GET", "/repos/alice/pub/git/ref/heads/main"),
    Case("git/get-ref", 404, "GET", "/repos/alice/pub/git/ref/heads/nope"),
    Case("git/get-ref", 409, "GET", "/repos/alice/empty/git/ref/heads/main", setup=_empty, note="empty-repo"),
    Case("git/list-matching-refs", 200, "GET", "/repos/alice/pub/git/matching-refs/heads/"),
    Case("git/list-matching-refs", 200, "GET", "/repos/alice/pub/git/matching-refs/tags", note="none"),
    Case(
        "git/list-matching-refs",
        409,
        "GET",
        "/repos/alice/empty/git/matching-refs/heads",
        setup=_empty,
        note="empty-repo",
    ),
    Case(
        "git/create-ref",
        201,
        "POST",
        "/repos/alice/pub/git/refs",
        {"ref": "refs/heads/feature/x", "sha": "{head}"},
        setup=_head,
    ),
    Case(
        "git/create-ref",
        201,
        "POST",
        "/repos/alice/pub/git/refs",
        {"ref": "refs/tags/v1", "sha": "{head}"},
        setup=_head,
        note="tag",
    ),
    Case(
        "git/create-ref",
        422,
        "POST",
        "/repos/alice/pub/git/refs",
        {"ref": "refs/heads/main", "sha": "{head}"},
        setup=_head,
        note="exists",
    ),
    Case(
        "git/create-ref",
        422,
        "POST",
        "/repos/alice/pub/git/refs",
        {"ref": "refs/heads/x", "sha": "0" * 40},
        note="unknown-sha",
    ),
    Case(
        "git/create-ref",
        422,
        "POST",
        "/repos/alice/pub/git/refs",
        {"ref": "heads/x", "sha": "{head}"},
        setup=_head,
        note="not-fully-qualified",
    ),
    Case(
        "git/create-ref",
        409,
        "POST",
        "/repos/alice/empty/git/refs",
        {"ref": "refs/heads/x", "sha": "0" * 40},
        setup=_empty,
        note="empty-repo",
    ),
    Case(
        "git/update-ref",
        200,
        "PATCH",
        "/repos/alice/pub/git/refs/heads/side",
        {"sha": "{main}", "force": True},
        setup=_side_branch,
        note="forced",
    ),
    Case(
        "git/update-ref",
        200,
        "PATCH",
        "/repos/alice/pub/git/refs/heads/main",
        {"sha": "{main}"},
        setup=_side_branch,
        note="same-sha",
    ),
    Case(
        "git/update-ref",
        422,
        "PATCH",
        "/repos/alice/pub/git/refs/heads/side",
        {"sha": "{main}"},
        setup=_side_branch,
        note="not-fast-forward",
    ),
    Case(
        "git/update-ref",
        422,
        "PATCH",
        "/repos/alice/pub/git/refs/heads/nope",
        {"sha": "{head}"},
        setup=_head,
        note="missing-ref",
    ),
    Case("git/update-ref", 422, "PATCH", "/repos/alice/pub/git/refs/heads/main", {"force": True}, note="schema-no-sha"),
    Case("git/delete-ref", 204, "DELETE", "/repos/alice/pub/git/refs/heads/side", setup=_side_branch),
    Case("git/delete-ref", 422, "DELETE", "/repos/alice/pub/git/refs/heads/nope", note="missing"),
    Case("git/delete-ref", 422, "DELETE", "/repos/alice/pub/git/refs/heads/main", note="default-branch"),
    Case("git/delete-ref", 404, "DELETE", "/repos/alice/pub/git/refs/heads/main", login="carol", note="read-only"),
]
