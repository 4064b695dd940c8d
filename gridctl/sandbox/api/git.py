"""The Git Data API (blobs, trees, commits, refs) and branches.

Objects are real git objects (see :mod:`..gitobjects`), so a client can build a commit the way
it would with git: create blobs, a tree (on a ``base_tree``), a commit with parent P, then move
``refs/heads/X`` to it with a non-forced PATCH. That last step is a compare-and-swap: when the
branch moved since P was read, the update is not a fast forward and GitHub (and the sandbox)
answer 422 "Update is not a fast forward".

An empty repository (no commits) has no object database on github.com yet: every Git Data call
answers 409 "Git Repository is empty.".
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from ..errors import ApiError, not_found
from ..gitobjects import EXEC_MODE, FILE_MODE, LINK_MODE, TREE_MODE, Git, commit_shape
from ..http import Ctx, Reply, empty, json_reply
from ..inputs import path_problem, shown
from ..routing import route
from ..shapes import simple_user
from ..world import node_id
from .branch_protection import protections
from .contents import (
    api_root,
    b64_lines,
    decode_b64,
    html_root,
    require_workflow_scope,
    signature,
    workflow_paths_changed,
)

_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
_BAD_REF = re.compile(r"(\.\.|[\x00-\x20~^:?*\[\\\x7f]|@\{|//|/\.|\.lock/|\.lock$|\.$|/$)")


def _git(ctx: Ctx, needed: str = "read") -> tuple[dict, Git]:
    repo = ctx.repo(needed)
    git = Git(ctx.world, repo)
    if git.is_empty():
        raise ApiError(409, "Git Repository is empty.")
    return repo, git


def _obj(git: Git, sha: str, kind: str) -> dict | None:
    if not _HEX40.match(sha or ""):
        return None
    obj = git.get(sha)
    return obj if obj is not None and obj["type"] == kind else None


def _location(reply: Reply, url: str) -> Reply:
    reply.headers["Location"] = url
    return reply


# -- blobs ---------------------------------------------------------------------------------------------
@route("POST", "/repos/{owner}/{repo}/git/blobs", "git/create-blob", content=True)
def create_blob(ctx: Ctx) -> Reply:
    repo, git = _git(ctx, "write")
    encoding = (ctx.body.get("encoding") or "utf-8").lower()
    content = ctx.body["content"]
    if encoding in ("utf-8", "utf8"):
        data = content.encode()
    elif encoding == "base64":
        try:
            data = decode_b64(content)
        except ApiError as err:
            raise ApiError(422, err.message) from None
    else:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[
                {
                    "resource": "Blob",
                    "field": "encoding",
                    "code": "invalid",
                    "message": f"encoding must be utf-8 or base64, not {encoding!r}",
                }
            ],
        )
    sha = git.put_blob(data)
    url = f"{api_root(ctx, repo)}/git/blobs/{sha}"
    return _location(json_reply({"sha": sha, "url": url}, status=201), url)


@route("GET", "/repos/{owner}/{repo}/git/blobs/{file_sha}", "git/get-blob")
def get_blob(ctx: Ctx) -> Reply:
    repo, git = _git(ctx, "read")
    sha = ctx.params["file_sha"].lower()
    obj = _obj(git, sha, "blob")
    if obj is None:
        raise not_found()
    data = git.blob_data(sha)
    return json_reply(
        {
            "sha": sha,
            "node_id": node_id("Blob", f"{repo['id']}:{sha}"),
            "size": len(data),
            "url": f"{api_root(ctx, repo)}/git/blobs/{sha}",
            "content": b64_lines(data),
            "encoding": "base64",
        }
    )


# -- trees ---------------------------------------------------------------------------------------------
def _tree_entries(ctx: Ctx, repo: dict, git: Git, tree_sha: str, recursive: bool, prefix: str = "") -> list[dict]:
    api = api_root(ctx, repo)
    tree = git.get(tree_sha) or {"entries": []}
    out: list[dict] = []
    for e in tree["entries"]:
        path = prefix + e["path"]
        item: dict[str, Any] = {"path": path, "mode": e["mode"], "type": e["type"], "sha": e["sha"]}
        if e["type"] == "blob":
            blob = git.get(e["sha"]) or {"size": 0}
            item["size"] = blob["size"]
            item["url"] = f"{api}/git/blobs/{e['sha']}"
        elif e["type"] == "tree":
            item["url"] = f"{api}/git/trees/{e['sha']}"
        out.append(item)
        if recursive and e["type"] == "tree":
            out.extend(_tree_entries(ctx, repo, git, e["sha"], True, path + "/"))
    return out


def _tree_body(ctx: Ctx, repo: dict, git: Git, tree_sha: str, recursive: bool) -> dict:
    entries = _tree_entries(ctx, repo, git, tree_sha, recursive)
    limits = getattr(ctx.world.config, "limits", None)
    cap = int(getattr(limits, "tree_max_entries", 100_000))
    return {
        "sha": tree_sha,
        "url": f"{api_root(ctx, repo)}/git/trees/{tree_sha}",
        "tree": entries[:cap],
        "truncated": len(entries) > cap,
    }


_MODE_TYPES = {FILE_MODE: "blob", EXEC_MODE: "blob", LINK_MODE: "blob", TREE_MODE: "tree", "160000": "commit"}


def _drop(files: dict[str, tuple[str, str]], path: str) -> bool:
    """Remove the file or the whole directory at ``path``; True when something was there."""
    hit = files.pop(path, None) is not None
    for p in [p for p in files if p.startswith(path + "/")]:
        del files[p]
        hit = True
    return hit


def _place(files: dict[str, tuple[str, str]], path: str) -> None:
    """Make room for a new entry at ``path``: a file in the way of its directories goes."""
    _drop(files, path)
    parts = path.split("/")
    for i in range(1, len(parts)):
        files.pop("/".join(parts[:i]), None)


@route("POST", "/repos/{owner}/{repo}/git/trees", "git/create-tree", content=True)
def create_tree(ctx: Ctx) -> Reply:
    repo, git = _git(ctx, "write")
    body = ctx.body
    base: dict[str, tuple[str, str]] = {}
    if body.get("base_tree"):
        base_sha = body["base_tree"].lower()
        if _obj(git, base_sha, "tree") is None:
            raise ApiError(422, "base_tree is not a valid tree oid")
        base = git.flatten(base_sha)
    files = dict(base)
    for index, entry in enumerate(body["tree"]):
        path = (entry.get("path") or "").strip()
        problem = "starts with '/'" if path.startswith("/") else path_problem(path.rstrip("/"))
        if problem:
            raise ApiError(422, f"tree.path {shown(path)} contains a malformed path component ({problem})")
        path = path.rstrip("/")
        mode = entry.get("mode")
        kind = entry.get("type")
        if mode is None or kind is None:
            raise ApiError(422, f"Must supply a valid tree.mode and tree.type (entry {index})")
        if _MODE_TYPES[mode] != kind:
            raise ApiError(422, f"tree.mode {mode} does not match tree.type {kind} for {path}")
        has_sha = "sha" in entry
        has_content = "content" in entry
        if has_sha and has_content:
            raise ApiError(422, "Must supply either tree.sha or tree.content, not both.")
        if not has_sha and not has_content:
            raise ApiError(422, "Must supply either tree.sha or tree.content.")
        if has_sha and entry["sha"] is None:
            if not _drop(files, path):
                raise ApiError(422, f"tree.path {path} cannot be deleted: it does not exist in base_tree")
            continue
        if has_content:
            if kind != "blob":
                raise ApiError(422, f"tree.content can only be given for blobs ({path})")
            _place(files, path)
            files[path] = (mode, git.put_blob(entry["content"].encode()))
            continue
        sha = entry["sha"].lower()
        if kind == "blob":
            if _obj(git, sha, "blob") is None:
                raise ApiError(422, f"tree.sha {entry['sha']} is not a valid blob")
            _place(files, path)
            files[path] = (mode, sha)
        elif kind == "tree":
            if _obj(git, sha, "tree") is None:
                raise ApiError(422, f"tree.sha {entry['sha']} is not a valid tree")
            _place(files, path)
            files.update({f"{path}/{p}": v for p, v in git.flatten(sha).items()})
        else:
            if not _HEX40.match(sha):
                raise ApiError(422, f"tree.sha {entry['sha']} is not a valid commit")
            _place(files, path)
            files[path] = ("160000", sha)
    require_workflow_scope(ctx, workflow_paths_changed(base, files))
    tree_sha = git.build_tree(files)
    reply = json_reply(_tree_body(ctx, repo, git, tree_sha, False), status=201)
    return _location(reply, f"{api_root(ctx, repo)}/git/trees/{tree_sha}")


def _tree_ish(git: Git, ref: str) -> str | None:
    """A tree SHA, a commit SHA or a branch/tag name -> the tree SHA."""
    low = ref.lower()
    if _obj(git, low, "tree") is not None:
        return low
    commit = git.resolve(ref)
    if commit is not None:
        return git.commit_tree(commit)
    return None


@route("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha:path}", "git/get-tree")
def get_tree(ctx: Ctx) -> Reply:
    repo, git = _git(ctx, "read")
    tree_sha = _tree_ish(git, ctx.params["tree_sha"])
    if tree_sha is None:
        raise not_found()
    # GitHub: "Setting this parameter to any value returns the objects or subtrees referenced
    # by the tree" -- even 0 or "false"; only leaving it out is non-recursive.
    recursive = "recursive" in ctx.query
    return json_reply(_tree_body(ctx, repo, git, tree_sha, recursive))


# -- commits ---------------------------------------------------------------------------------------------
@route("POST", "/repos/{owner}/{repo}/git/commits", "git/create-commit", content=True)
def create_commit(ctx: Ctx) -> Reply:
    repo, git = _git(ctx, "write")
    body = ctx.body
    tree = body["tree"].lower()
    if _obj(git, tree, "tree") is None:
        raise ApiError(422, "Tree SHA does not exist")
    parents = [p.lower() for p in body.get("parents") or []]
    for p in parents:
        if _obj(git, p, "commit") is None:
            raise ApiError(422, "Parent SHA does not exist or is not a commit object")
    before = git.flatten(git.commit_tree(parents[0])) if parents else {}
    require_workflow_scope(ctx, workflow_paths_changed(before, git.flatten(tree)))
    author = signature(ctx, body.get("author"))
    committer = signature(ctx, body.get("committer")) if body.get("committer") else dict(author)
    sha = git.put_commit(tree, parents, body["message"], author, committer)
    reply = json_reply(commit_shape(ctx, repo, sha, git.get(sha) or {}), status=201)
    return _location(reply, f"{api_root(ctx, repo)}/git/commits/{sha}")


@route("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}", "git/get-commit")
def get_commit(ctx: Ctx) -> Reply:
    repo, git = _git(ctx, "read")
    sha = ctx.params["commit_sha"].lower()
    obj = _obj(git, sha, "commit")
    if obj is None:
        raise not_found()
    return json_reply(commit_shape(ctx, repo, sha, obj))


# -- refs ------------------------------------------------------------------------------------------------
def ref_shape(ctx: Ctx, repo: dict, full: str, sha: str) -> dict:
    api = api_root(ctx, repo)
    return {
        "ref": full,
        "node_id": node_id("Ref", f"{repo['id']}:{full}"),
        "url": f"{api}/git/{quote(full)}",
        "object": {"type": "commit", "sha": sha, "url": f"{api}/git/commits/{sha}"},
    }


def _full_ref(raw: str) -> str:
    raw = raw.strip("/")
    return raw if raw.startswith("refs/") else f"refs/{raw}"


def _is_ancestor(git: Git, ancestor: str, descendant: str) -> bool:
    seen: set[str] = set()
    todo = [descendant]
    while todo:
        sha = todo.pop()
        if sha == ancestor:
            return True
        if sha in seen:
            continue
        seen.add(sha)
        obj = git.get(sha)
        if obj is not None and obj["type"] == "commit":
            todo.extend(obj["parents"])
    return False


def _commit_or_422(git: Git, sha: str) -> str:
    low = (sha or "").lower()
    if _obj(git, low, "commit") is None:
        raise ApiError(422, "Object does not exist")
    return low


def _files(git: Git, commit: str | None) -> dict[str, tuple[str, str]]:
    return git.flatten(git.commit_tree(commit)) if commit else {}


@route("GET", "/repos/{owner}/{repo}/git/ref/{ref:path}", "git/get-ref")
def get_ref(ctx: Ctx) -> Reply:
    repo, git = _git(ctx, "read")
    full = _full_ref(ctx.params["ref"])
    sha = git.refs.get(full)
    if sha is None:
        raise not_found()
    return json_reply(ref_shape(ctx, repo, full, sha))


@route("GET", "/repos/{owner}/{repo}/git/matching-refs/{ref:path}", "git/list-matching-refs")
def list_matching_refs(ctx: Ctx) -> Reply:
    repo, git = _git(ctx, "read")
    raw = ctx.params.get("ref", "").strip("/")
    prefix = f"refs/{raw}" if raw else "refs/"
    items = [ref_shape(ctx, repo, name, sha) for name, sha in sorted(git.refs.items()) if name.startswith(prefix)]
    return ctx.paginate(items)


@route("GET", "/repos/{owner}/{repo}/git/refs", "git/list-matching-refs", alias=True)
def list_all_refs(ctx: Ctx) -> Reply:
    """Every ref: undocumented, but github.com serves it (octokit's recorded ``git-refs``
    scenario) and PyGithub's ``get_git_refs`` calls it."""
    ctx.params["ref"] = ""
    return list_matching_refs(ctx)


@route("POST", "/repos/{owner}/{repo}/git/refs", "git/create-ref", content=True)
def create_ref(ctx: Ctx) -> Reply:
    repo, git = _git(ctx, "write")
    full = ctx.body["ref"]
    if not full.startswith("refs/") or full.count("/") < 2:
        raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    if _BAD_REF.search(full) or full.endswith("/"):
        raise ApiError(422, f"{full} is not a valid ref name.")
    sha = _commit_or_422(git, ctx.body["sha"])
    if full in git.refs or any(r.startswith(full + "/") or full.startswith(r + "/") for r in git.refs):
        raise ApiError(422, "Reference already exists")
    git.set_ref(full, sha)
    reply = json_reply(ref_shape(ctx, repo, full, sha), status=201)
    return _location(reply, f"{api_root(ctx, repo)}/git/{quote(full)}")


@route("PATCH", "/repos/{owner}/{repo}/git/refs/{ref:path}", "git/update-ref")
def update_ref(ctx: Ctx) -> Reply:
    repo, git = _git(ctx, "write")
    full = _full_ref(ctx.params["ref"])
    old = git.refs.get(full)
    if old is None:
        raise ApiError(422, "Reference does not exist")
    new = _commit_or_422(git, ctx.body["sha"])
    if not ctx.body.get("force") and not _is_ancestor(git, old, new):
        raise ApiError(422, "Update is not a fast forward")
    if full.startswith("refs/heads/"):
        require_workflow_scope(ctx, workflow_paths_changed(_files(git, old), _files(git, new)))
    git.set_ref(full, new)
    return json_reply(ref_shape(ctx, repo, full, new))


@route("DELETE", "/repos/{owner}/{repo}/git/refs/{ref:path}", "git/delete-ref")
def delete_ref(ctx: Ctx) -> Reply:
    repo, git = _git(ctx, "write")
    full = _full_ref(ctx.params["ref"])
    if full not in git.refs:
        raise ApiError(422, "Reference does not exist")
    if full == f"refs/heads/{repo['default_branch']}":
        # github.com does not let the default branch go away under the repository's feet
        raise ApiError(422, "Cannot delete the default branch of a repository.")
    del git.refs[full]
    ctx.world.save("repos", repo["id"], repo)
    return empty()


# -- branches ------------------------------------------------------------------------------------------------
def _branch_names(git: Git) -> list[str]:
    return sorted(r[len("refs/heads/") :] for r in git.refs if r.startswith("refs/heads/"))


@route("GET", "/repos/{owner}/{repo}/branches", "repos/list-branches")
def list_branches(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    git = Git(ctx.world, repo)
    api = api_root(ctx, repo)
    protected = protections(repo)
    names = _branch_names(git)
    if ctx.query.get("protected", "").lower() == "true":
        names = [n for n in names if n in protected]
    items = [
        {
            "name": name,
            "commit": {"sha": git.refs[f"refs/heads/{name}"], "url": f"{api}/commits/{git.refs[f'refs/heads/{name}']}"},
            "protected": name in protected,
        }
        for name in names
    ]
    return ctx.paginate(items)


def _gh_user_for(ctx: Ctx, sig: dict) -> dict | None:
    """The account a commit signature belongs to (by its email), as GitHub links them."""
    email = (sig.get("email") or "").lower()
    local = email.split("@", 1)[0]
    for user in ctx.world.store.values("users"):
        if user["type"] != "User":
            continue
        if (user.get("email") or "").lower() == email or local == f"{user['id']}+{user['login'].lower()}":
            return simple_user(ctx, user)
    return None


def commit_resource(ctx: Ctx, repo: dict, git: Git, sha: str) -> dict:
    """A commit as ``GET /repos/{o}/{r}/commits/{sha}`` renders it (the ``commit`` schema)."""
    api = api_root(ctx, repo)
    html = html_root(ctx, repo)
    obj = git.get(sha)
    assert obj is not None
    return {
        "url": f"{api}/commits/{sha}",
        "sha": sha,
        "node_id": node_id("Commit", f"{repo['id']}:{sha}"),
        "html_url": f"{html}/commit/{sha}",
        "comments_url": f"{api}/commits/{sha}/comments",
        "commit": {
            "url": f"{api}/git/commits/{sha}",
            "author": dict(obj["author"]),
            "committer": dict(obj["committer"]),
            "message": obj["message"],
            "comment_count": 0,
            "tree": {"sha": obj["tree"], "url": f"{api}/git/trees/{obj['tree']}"},
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "payload": None,
                "signature": None,
                "verified_at": None,
            },
        },
        "author": _gh_user_for(ctx, obj["author"]),
        "committer": _gh_user_for(ctx, obj["committer"]),
        "parents": [{"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{html}/commit/{p}"} for p in obj["parents"]],
    }


def _status_check_summary(rec: dict | None) -> dict:
    """``protection.required_status_checks`` of a branch: off, or who it binds and which."""
    checks = (rec or {}).get("required_status_checks")
    if checks is None:
        return {"enforcement_level": "off", "contexts": [], "checks": []}
    level = "everyone" if rec and rec.get("enforce_admins") else "non_admins"
    return {"enforcement_level": level, "contexts": list(checks["contexts"]), "checks": [dict(c) for c in checks["checks"]]}


@route("GET", "/repos/{owner}/{repo}/branches/{branch:path}", "repos/get-branch")
def get_branch(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    git = Git(ctx.world, repo)
    name = ctx.params["branch"]
    sha = git.refs.get(f"refs/heads/{name}")
    if sha is None:
        raise ApiError(404, "Branch not found")
    api = api_root(ctx, repo)
    return json_reply(
        {
            "name": name,
            "commit": commit_resource(ctx, repo, git, sha),
            "_links": {"self": f"{api}/branches/{quote(name)}", "html": f"{html_root(ctx, repo)}/tree/{quote(name)}"},
            "protected": name in protections(repo),
            "protection": {
                "enabled": name in protections(repo),
                "required_status_checks": _status_check_summary(protections(repo).get(name)),
            },
            "protection_url": f"{api}/branches/{quote(name)}/protection",
        }
    )
