"""Conformance cases: issues, issue comments, labels and pull requests.

Also home of the helpers that set up pull requests (test_issues.py uses them too): a head
branch is made straight in the sandbox's world with :class:`~gridctl.sandbox.gitobjects.Git`,
since the Git Data API is not this area's.
"""

from __future__ import annotations

from typing import Any

from gridctl.sandbox.gitobjects import Git

from ..conformance import Case


def make_branch(seed: Any, full_name: str = "alice/pub", branch: str = "feature",
                files: dict[str, bytes] | None = None, base: str = "main") -> str:
    """Create ``branch`` from ``base`` (if missing) and commit ``files`` on it; returns the new head SHA."""
    owner, name = full_name.split("/")
    app = seed.sb.app
    with app.store.lock:
        world = app.world
        repo = world.find_repo(owner, name)
        git = Git(world, repo)
        ref = f"refs/heads/{branch}"
        if ref not in git.refs:
            git.refs[ref] = git.refs[f"refs/heads/{base}"]
        author = git.signature(world.find_user("alice"))
        sha = git.commit_changes(branch, files if files is not None else {"plan.txt": b"one\ntwo\n"}, f"change on {branch}", author)
        app.store.commit()
    return sha


def open_pr(seed: Any, full_name: str = "alice/pub", branch: str = "feature", login: str = "alice",
            title: str = "Plan") -> int:
    make_branch(seed, full_name, branch)
    resp = seed.call(login, "POST", f"/repos/{full_name}/pulls", {"title": title, "head": branch, "base": "main"})
    assert resp.status_code == 201, resp.text
    return resp.json()["number"]


def comment(seed: Any, full_name: str, number: int, body: str, login: str = "alice") -> int:
    resp = seed.call(login, "POST", f"/repos/{full_name}/issues/{number}/comments", {"body": body})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def seed_issue(seed: Any, full_name: str = "alice/pub", title: str = "A plain issue", user: str | None = None) -> int:
    body: dict[str, Any] = {"title": title}
    if user:
        body["user"] = user
    return seed.ctl("POST", f"/repos/{full_name}/issues", body)["number"]


# -- setups ---------------------------------------------------------------------------------------
def _pr(seed: Any) -> dict:
    return {"n": open_pr(seed)}


def _priv_pr(seed: Any) -> dict:
    return {"n": open_pr(seed, "alice/priv")}


def _pr_comment(seed: Any) -> dict:
    n = open_pr(seed)
    return {"n": n, "cid": comment(seed, "alice/pub", n, "<!-- gridctl-plan -->\nplan")}


def _pr_labelled(seed: Any) -> dict:
    n = open_pr(seed)
    resp = seed.call("alice", "POST", f"/repos/alice/pub/issues/{n}/labels", {"labels": ["gridctl:changes"]})
    assert resp.status_code == 200, resp.text
    return {"n": n}


def _issues_disabled(seed: Any) -> dict:
    n = seed_issue(seed)
    resp = seed.call("alice", "PATCH", "/repos/alice/pub", {"has_issues": False})
    assert resp.status_code == 200, resp.text
    return {"n": n}


def _plain_issue(seed: Any) -> dict:
    return {"n": seed_issue(seed)}


def _branch(seed: Any) -> dict:
    make_branch(seed)
    return {}


def _branch_archived(seed: Any) -> dict:
    make_branch(seed)
    resp = seed.call("alice", "PATCH", "/repos/alice/pub", {"archived": True})
    assert resp.status_code == 200, resp.text
    return {}


LONG = "x" * 65537
P = "/repos/alice/pub"

CASES = [
    # issues/get
    Case("issues/get", 200, "GET", P + "/issues/{n}", setup=_pr, note="pull-request"),
    Case("issues/get", 200, "GET", P + "/issues/{n}", setup=_plain_issue, login=None, note="plain-anonymous"),
    Case("issues/get", 404, "GET", P + "/issues/99"),
    Case("issues/get", 404, "GET", "/repos/alice/priv/issues/{n}", setup=_priv_pr, login="carol", note="private-hidden"),
    Case("issues/get", 410, "GET", P + "/issues/{n}", setup=_issues_disabled, note="issues-disabled"),
    # comments
    Case("issues/list-comments", 200, "GET", P + "/issues/{n}/comments?since=2000-01-01T00:00:00Z&per_page=1",
         setup=_pr_comment),
    Case("issues/list-comments", 404, "GET", P + "/issues/42/comments"),
    Case("issues/list-comments", 422, "GET", P + "/issues/{n}/comments?since=yesterday", setup=_pr_comment,
         note="bad-since"),
    Case("issues/create-comment", 201, "POST", P + "/issues/{n}/comments", {"body": "plan"}, login="carol",
         setup=_pr, note="any-reader"),
    Case("issues/create-comment", 422, "POST", P + "/issues/{n}/comments", {"body": LONG}, setup=_pr,
         note="too-long"),
    Case("issues/create-comment", 404, "POST", "/repos/alice/priv/issues/{n}/comments", {"body": "x"},
         login="carol", setup=_priv_pr, note="private-hidden"),
    Case("issues/create-comment", 401, "POST", P + "/issues/{n}/comments", {"body": "x"}, login=None,
         setup=_pr, note="anonymous"),
    Case("issues/create-comment", 422, "POST", P + "/issues/{n}/comments", {"text": "x"}, setup=_pr,
         note="schema"),
    Case("issues/get-comment", 200, "GET", P + "/issues/comments/{cid}", setup=_pr_comment),
    Case("issues/get-comment", 404, "GET", P + "/issues/comments/999999"),
    Case("issues/update-comment", 200, "PATCH", P + "/issues/comments/{cid}", {"body": "new plan"},
         setup=_pr_comment),
    Case("issues/update-comment", 403, "PATCH", P + "/issues/comments/{cid}", {"body": "mine now"},
         login="carol", setup=_pr_comment, note="not-author"),
    Case("issues/update-comment", 422, "PATCH", P + "/issues/comments/{cid}", {"body": LONG},
         setup=_pr_comment, note="too-long"),
    Case("issues/delete-comment", 204, "DELETE", P + "/issues/comments/{cid}", setup=_pr_comment),
    Case("issues/delete-comment", 403, "DELETE", P + "/issues/comments/{cid}", login="carol",
         setup=_pr_comment, note="not-author"),
    Case("issues/delete-comment", 404, "DELETE", P + "/issues/comments/999999", note="missing"),
    # labels on an issue
    Case("issues/list-labels-on-issue", 200, "GET", P + "/issues/{n}/labels", setup=_pr_labelled),
    Case("issues/list-labels-on-issue", 404, "GET", P + "/issues/77/labels"),
    Case("issues/add-labels", 200, "POST", P + "/issues/{n}/labels", {"labels": ["gridctl:changes", "bug"]},
         setup=_pr),
    Case("issues/add-labels", 200, "POST", P + "/issues/{n}/labels", ["gridctl:changes"], setup=_pr,
         note="bare-array"),
    Case("issues/add-labels", 422, "POST", P + "/issues/{n}/labels", {"labels": ["  "]}, setup=_pr,
         note="blank-name"),
    Case("issues/add-labels", 404, "POST", P + "/issues/{n}/labels", {"labels": ["bug"]}, login="carol",
         setup=_pr, note="reader"),
    Case("issues/set-labels", 200, "PUT", P + "/issues/{n}/labels", {"labels": ["gridctl:no-changes"]},
         setup=_pr_labelled),
    Case("issues/set-labels", 200, "PUT", P + "/issues/{n}/labels", {"labels": []}, setup=_pr_labelled,
         note="clear"),
    Case("issues/set-labels", 422, "PUT", P + "/issues/{n}/labels", {"labels": [7]}, setup=_pr,
         note="schema"),
    Case("issues/remove-label", 200, "DELETE", P + "/issues/{n}/labels/gridctl:changes", setup=_pr_labelled),
    Case("issues/remove-label", 404, "DELETE", P + "/issues/{n}/labels/bug", setup=_pr_labelled,
         note="not-on-issue"),
    # repository labels
    Case("issues/list-labels-for-repo", 200, "GET", P + "/labels?per_page=5"),
    Case("issues/list-labels-for-repo", 404, "GET", "/repos/alice/priv/labels", login="carol"),
    Case("issues/create-label", 201, "POST", P + "/labels",
         {"name": "gridctl:destroys", "color": "b60205", "description": "gridctl plan destroys resources"}),
    Case("issues/create-label", 422, "POST", P + "/labels", {"name": "Bug"}, note="exists"),
    Case("issues/create-label", 422, "POST", P + "/labels", {"name": "x", "color": "red"}, note="bad-color"),
    Case("issues/create-label", 404, "POST", P + "/labels", {"name": "x"}, login="carol", note="reader"),
    Case("issues/create-label", 422, "POST", P + "/labels", {"name": "x", "color": "#b60205"}, note="hash-color"),
    Case("issues/get-label", 200, "GET", P + "/labels/good%20first%20issue"),
    Case("issues/get-label", 200, "GET", P + "/labels/BUG", login=None, note="any-case-anonymous"),
    Case("issues/get-label", 404, "GET", P + "/labels/nope"),
    Case("issues/get-label", 404, "GET", "/repos/alice/priv/labels/bug", login="carol", note="private-hidden"),
    Case("issues/update-label", 200, "PATCH", P + "/labels/bug",
         {"new_name": "defect", "color": "B60205", "description": "Something is broken"}),
    Case("issues/update-label", 200, "PATCH", P + "/labels/gridctl:changes", {"new_name": "area/plan"},
         setup=_pr_labelled, note="rename-applied"),
    Case("issues/update-label", 422, "PATCH", P + "/labels/bug", {"new_name": "Enhancement"}, note="exists"),
    Case("issues/update-label", 422, "PATCH", P + "/labels/bug", {"color": "#ff0000"}, note="bad-color"),
    Case("issues/update-label", 404, "PATCH", P + "/labels/nope", {"color": "ff0000"}, note="missing"),
    Case("issues/update-label", 404, "PATCH", P + "/labels/bug", {"color": "ff0000"}, login="carol",
         note="reader"),
    Case("issues/delete-label", 204, "DELETE", P + "/labels/wontfix"),
    Case("issues/delete-label", 204, "DELETE", P + "/labels/gridctl:changes", setup=_pr_labelled,
         note="applied"),
    Case("issues/delete-label", 404, "DELETE", P + "/labels/nope", note="missing"),
    Case("issues/delete-label", 404, "DELETE", P + "/labels/bug", login="carol", note="reader"),
    # pull requests
    Case("pulls/create", 201, "POST", P + "/pulls", {"title": "Plan", "head": "feature", "base": "main",
                                                      "body": "b"}, setup=_branch),
    Case("pulls/create", 201, "POST", P + "/pulls", {"title": "Plan", "head": "alice:feature", "base": "main",
                                                      "draft": True}, setup=_branch, note="owner-prefix-draft"),
    Case("pulls/create", 422, "POST", P + "/pulls", {"title": "t", "head": "main", "base": "main"},
         note="no-commits"),
    Case("pulls/create", 422, "POST", P + "/pulls", {"title": "t", "head": "nope", "base": "main"},
         note="no-head"),
    Case("pulls/create", 422, "POST", P + "/pulls", {"title": "t", "head": "feature", "base": "nope"},
         setup=_branch, note="no-base"),
    Case("pulls/create", 422, "POST", P + "/pulls", {"title": "t", "head": "feature", "base": "main"},
         setup=_pr, note="exists"),
    Case("pulls/create", 422, "POST", P + "/pulls", {"head": "feature", "base": "main"}, setup=_branch,
         note="no-title"),
    Case("pulls/create", 403, "POST", P + "/pulls", {"title": "t", "head": "feature", "base": "main"},
         setup=_branch_archived, note="archived"),
    Case("pulls/get", 200, "GET", P + "/pulls/{n}", setup=_pr),
    Case("pulls/get", 404, "GET", P + "/pulls/{n}", setup=_plain_issue, note="plain-issue"),
    Case("pulls/list", 200, "GET", P + "/pulls?state=all&base=main&head=alice:feature", setup=_pr),
    Case("pulls/list", 422, "GET", P + "/pulls?state=merged"),
]
