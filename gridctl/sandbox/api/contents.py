"""Repository contents: read a file or a directory, create/update a file, delete a file.

Every write is one commit on a branch, made through :class:`~gridctl.sandbox.gitobjects.Git`,
so SHAs are real git SHAs and the Git Data API, branches and workflows see the same history.

The helpers at the top (base64 the way GitHub prints it, signatures, the ``workflow`` scope
rule, content shapes) are shared with :mod:`.git` and :mod:`.workflows`.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ..errors import ApiError, not_found
from ..gitobjects import FILE_MODE, LINK_MODE, Git, commit_shape
from ..http import Ctx, Reply, json_reply
from ..inputs import path_problem, shown
from ..routing import route
from ..shapes import web_root

WORKFLOW_DIR = ".github/workflows/"


# -- helpers shared by the git-backed areas ----------------------------------------------------
def b64_lines(data: bytes) -> str:
    """Base64 as GitHub returns file and blob content: a line break after every 60 characters
    (and after the last line), like Ruby's ``Base64.encode64``."""
    if not data:
        return ""
    text = base64.b64encode(data).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def decode_b64(value: str) -> bytes:
    """Decode client base64 (line breaks and missing padding tolerated) or answer 422."""
    cleaned = "".join(value.split())
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "content is not valid Base64") from None


def git_date(value: str | None, field: str = "date") -> str | None:
    """A client date (ISO 8601, any offset) as the UTC ``...Z`` form git objects are stored in."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ApiError(422, f"Invalid request.\n\n{value!r} is not a valid {field}.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signature(ctx: Ctx, given: dict | None) -> dict:
    """A git signature: the one the client gave, or the authenticated user's (with GitHub's
    ``ID+login@users.noreply.github.com`` address when the user has no public email)."""
    if given and given.get("name") and given.get("email"):
        return {
            "name": given["name"],
            "email": given["email"],
            "date": git_date(given.get("date")) or ctx.world.now_iso(),
        }
    user = ctx.user or {"login": "ghost", "id": 10137}
    login = user["login"]
    return {
        "name": user.get("name") or login,
        "email": user.get("email") or f"{user['id']}+{login}@users.noreply.github.com",
        "date": ctx.world.now_iso(),
    }


def workflow_paths_changed(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> list[str]:
    """Paths under ``.github/workflows/`` added, removed or changed between two file maps."""
    paths = {p for p in set(before) | set(after) if p.startswith(WORKFLOW_DIR)}
    return sorted(p for p in paths if before.get(p) != after.get(p))


def require_workflow_scope(ctx: Ctx, paths: list[str] | bool) -> None:
    """Refuse a change to ``.github/workflows/`` unless the token has the ``workflow`` scope.

    GitHub documents that "the workflow scope is also required in order to modify files in the
    .github/workflows directory", and what it answers without it is a plain **404 Not Found**
    (the same as for a repository the caller cannot see), not a 403: that is what users of the
    contents API, of git trees/commits and of every client library report (octokit.rb #1184,
    octokit rest.js #368, PyGithub #2414, terraform-provider-github #633). We do the same.
    """
    if paths and "workflow" not in ctx.scopes:
        raise not_found()


def api_root(ctx: Ctx, repo: dict) -> str:
    return ctx.url(f"/repos/{repo['owner']}/{repo['name']}")


def html_root(ctx: Ctx, repo: dict) -> str:
    return f"{web_root(ctx)}/{repo['owner']}/{repo['name']}"


def content_item(ctx: Ctx, repo: dict, git: Git, entry: dict, path: str, ref: str) -> dict[str, Any]:
    """One entry as the contents API shows it (without ``content``)."""
    api = api_root(ctx, repo)
    html = html_root(ctx, repo)
    qpath = quote(path)
    qref = quote(ref, safe="")
    mode = entry["mode"]
    if entry["type"] == "tree":
        kind, size = "dir", 0
        git_url: str | None = f"{api}/git/trees/{entry['sha']}"
        html_url: str | None = f"{html}/tree/{quote(ref)}/{qpath}"
        download_url: str | None = None
    elif entry["type"] == "commit":
        kind, size = "submodule", 0
        git_url = f"{api}/git/trees/{entry['sha']}"
        html_url = None
        download_url = None
    else:
        obj = git.get(entry["sha"]) or {"size": 0}
        kind = "symlink" if mode == LINK_MODE else "file"
        size = obj["size"]
        git_url = f"{api}/git/blobs/{entry['sha']}"
        html_url = f"{html}/blob/{quote(ref)}/{qpath}"
        download_url = f"{html}/raw/{quote(ref)}/{qpath}"
    self_url = f"{api}/contents/{qpath}?ref={qref}"
    return {
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": entry["sha"],
        "size": size,
        "url": self_url,
        "html_url": html_url,
        "git_url": git_url,
        "download_url": download_url,
        "type": kind,
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }


def _file_body(ctx: Ctx, repo: dict, git: Git, entry: dict, path: str, ref: str) -> dict[str, Any]:
    out = content_item(ctx, repo, git, entry, path, ref)
    if out["type"] == "submodule":
        out["submodule_git_url"] = f"{web_root(ctx)}/{repo['owner']}/{repo['name']}.git"
        return out
    data = git.blob_data(entry["sha"])
    if out["type"] == "symlink":
        out["target"] = data.decode(errors="replace")
        return out
    out["content"] = b64_lines(data)
    out["encoding"] = "base64"
    return out


def _clean_path(raw: str) -> str:
    return raw.strip("/")


def _default_branch_ref(repo: dict, branch: str | None) -> str:
    return branch or repo["default_branch"]


# -- routes ------------------------------------------------------------------------------------------
@route("GET", "/repos/{owner}/{repo}/contents/{path:path}", "repos/get-content")
def get_content(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    git = Git(ctx.world, repo)
    if git.is_empty():
        raise ApiError(404, "This repository is empty.")
    ref = ctx.query.get("ref") or repo["default_branch"]
    sha = git.resolve(ref)
    if sha is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    path = _clean_path(ctx.params.get("path", ""))
    entry = git.lookup(sha, path)
    if entry is None:
        raise not_found()
    param, as_json = requested_media(ctx.headers.get("accept", ""))
    media = {"X-GitHub-Media-Type": f"github.v3; param={param}" + ("; format=json" if as_json else "")} if param else {}
    if entry["type"] == "tree":
        tree = git.get(entry["sha"]) or {"entries": []}
        prefix = f"{path}/" if path else ""
        items = [content_item(ctx, repo, git, e, prefix + e["path"], ref) for e in tree["entries"]]
        if param == "object":
            root_entry = {"type": "tree", "mode": "040000", "sha": entry["sha"], "path": path}
            whole = content_item(ctx, repo, git, root_entry, path, ref) if path else _root_item(ctx, repo, entry["sha"], ref)
            return Reply(body={**whole, "entries": items}, headers=media, media_type=OBJECT_MEDIA)
        return json_reply(items, headers=media)  # raw and html describe files: a directory stays a list
    if param in ("raw", "html") and entry["type"] == "blob":
        data = git.blob_data(entry["sha"])
        if param == "raw":
            return Reply(raw=data, headers={**media, "Content-Type": "application/vnd.github.raw; charset=utf-8"})
        page = render_html(path, data).encode()
        return Reply(raw=page, headers={**media, "Content-Type": "application/vnd.github.html; charset=utf-8"})
    body = _file_body(ctx, repo, git, entry, path, ref)
    return Reply(body=body, headers=media, media_type=OBJECT_MEDIA if param == "object" else None)


#: the media type of answers in the object format (documented with a schema of its own)
OBJECT_MEDIA = "application/vnd.github.object"
_MEDIA = re.compile(r"application/vnd\.github(?:\.v3)?\.(raw|html|object)(\+json)?", re.IGNORECASE)


def requested_media(accept: str) -> tuple[str | None, bool]:
    """``(param, +json)`` of the contents media type the ``Accept`` header asks for
    (``application/vnd.github.raw+json`` -> ``("raw", True)``), ``(None, False)`` for plain JSON.

    GitHub Docs, "Repository contents" and "Media types"
    (https://docs.github.com/en/rest/repos/contents#get-repository-content,
    https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api#media-types):
    ``raw`` returns a file's (or symlink's) bytes, ``html`` the file rendered to HTML, ``object``
    the contents as one object whatever they are (a directory gets ``entries``); the versioned
    spelling ``application/vnd.github.v3.raw`` means the same.
    """
    m = _MEDIA.search(accept)
    if m is None:
        return None, False
    return m.group(1).lower(), bool(m.group(2))


def _root_item(ctx: Ctx, repo: dict, tree_sha: str, ref: str) -> dict[str, Any]:
    api = api_root(ctx, repo)
    self_url = f"{api}/contents/?ref={quote(ref, safe='')}"
    html_url = f"{html_root(ctx, repo)}/tree/{quote(ref)}"
    git_url = f"{api}/git/trees/{tree_sha}"
    return {
        "name": "", "path": "", "sha": tree_sha, "size": 0, "url": self_url, "html_url": html_url,
        "git_url": git_url, "download_url": None, "type": "dir",
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }


_MARKDOWN = (".md", ".markdown", ".mdown", ".mkdn", ".mkd")


def render_html(path: str, data: bytes) -> str:
    """A file as HTML. GitHub renders markup with its Markup library; the sandbox renders the
    common Markdown blocks (headings, fenced code, paragraphs) and shows any other file as
    escaped preformatted text, in the wrapper github.com uses for rendered files."""
    text = data.decode(errors="replace")
    if not path.lower().endswith(_MARKDOWN):
        return f'<div id="file" class="blob"><pre>{html.escape(text)}</pre></div>'
    out: list[str] = []
    para: list[str] = []
    code: list[str] | None = None

    def flush() -> None:
        if para:
            out.append("<p>" + html.escape(" ".join(para)) + "</p>")
            para.clear()

    for line in text.splitlines():
        if code is not None:
            if line.startswith("```"):
                out.append("<pre><code>" + html.escape("\n".join(code)) + "</code></pre>")
                code = None
            else:
                code.append(line)
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if line.startswith("```"):
            flush()
            code = []
        elif heading:
            flush()
            level = len(heading.group(1))
            out.append(f"<h{level}>{html.escape(heading.group(2).strip())}</h{level}>")
        elif not line.strip():
            flush()
        else:
            para.append(line.strip())
    flush()
    if code is not None:
        out.append("<pre><code>" + html.escape("\n".join(code)) + "</code></pre>")
    body = "\n".join(out)
    return f'<div id="file" class="md" data-path="{html.escape(path)}"><article class="markdown-body entry-content container-lg" itemprop="text">{body}</article></div>'


def _check_branch(git: Git, repo: dict, branch: str) -> str | None:
    """The head of ``branch`` (None in an empty repository); 404 for an unknown branch."""
    if git.is_empty():
        return None
    head = git.refs.get(f"refs/heads/{branch}")
    if head is None:
        raise ApiError(404, f"Branch {branch} not found")
    return head


def _file_commit(ctx: Ctx, repo: dict, git: Git, commit_sha: str, path: str | None, branch: str) -> dict:
    obj = git.get(commit_sha)
    assert obj is not None
    commit = commit_shape(ctx, repo, commit_sha, obj)
    content = None
    if path is not None:
        entry = git.lookup(commit_sha, path)
        assert entry is not None
        content = content_item(ctx, repo, git, entry, path, branch)
    return {"content": content, "commit": commit}


def _signatures(ctx: Ctx, body: dict) -> tuple[dict, dict]:
    """(author, committer): the committer defaults to the caller, the author to the committer."""
    committer = signature(ctx, body.get("committer"))
    author = signature(ctx, body.get("author")) if body.get("author") else dict(committer)
    return author, committer


@route("PUT", "/repos/{owner}/{repo}/contents/{path:path}", "repos/create-or-update-file-contents", content=True)
def put_content(ctx: Ctx) -> Reply:
    repo = ctx.repo("write")
    body = ctx.body
    path = _clean_path(ctx.params.get("path", ""))
    problem = path_problem(path)
    if problem:
        raise ApiError(422, f"Invalid request.\n\npath {shown(path)} {problem}: it is not a valid file path.")
    require_workflow_scope(ctx, path.startswith(WORKFLOW_DIR))
    data = decode_b64(body["content"])
    git = Git(ctx.world, repo)
    empty_repo = git.is_empty()
    branch = _default_branch_ref(repo, body.get("branch"))
    head = _check_branch(git, repo, branch)
    before = git.flatten(git.commit_tree(head)) if head else {}
    existing = git.lookup(head, path) if head else None
    if existing is not None and existing["type"] != "blob":
        raise ApiError(422, f"Invalid request.\n\n{path} is a directory, not a file.")
    for i in range(1, path.count("/") + 1):
        parent = "/".join(path.split("/")[:i])
        if parent in before:
            raise ApiError(422, f"Invalid request.\n\n{parent} is a file, not a directory.")
    given_sha = body.get("sha")
    if existing is not None:
        if not given_sha:
            raise ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if given_sha != existing["sha"]:
            raise ApiError(409, f"{path} does not match {given_sha}")
    elif given_sha:
        # compare-and-swap on a file that is not there (any more): refuse rather than create
        raise ApiError(409, f"{path} does not match {given_sha}")
    author, committer = _signatures(ctx, body)
    files = dict(before)
    # an update keeps the file's mode (an executable stays executable)
    files[path] = (existing["mode"] if existing else FILE_MODE, git.put_blob(data))
    commit_sha = git.put_commit(git.build_tree(files), [head] if head else [], body["message"], author, committer)
    git.set_ref(f"refs/heads/{branch}", commit_sha)
    if empty_repo and branch != repo["default_branch"]:
        # the first branch pushed to an empty repository becomes its default branch
        repo["default_branch"] = branch
    ctx.world.touch(repo)
    answer = _file_commit(ctx, repo, git, commit_sha, path, branch)
    if existing:
        return json_reply(answer)
    # a created file: 201 with ``Location`` naming it, as github.com answers every creation
    return json_reply(answer, status=201, headers={"Location": answer["content"]["url"]})


@route("DELETE", "/repos/{owner}/{repo}/contents/{path:path}", "repos/delete-file", content=True)
def delete_content(ctx: Ctx) -> Reply:
    repo = ctx.repo("write")
    body = ctx.body
    path = _clean_path(ctx.params.get("path", ""))
    require_workflow_scope(ctx, path.startswith(WORKFLOW_DIR))
    git = Git(ctx.world, repo)
    if git.is_empty():
        raise not_found()
    branch = _default_branch_ref(repo, body.get("branch"))
    head = _check_branch(git, repo, branch)
    assert head is not None
    existing = git.lookup(head, path) if path else None
    if existing is None or existing["type"] == "tree":
        raise not_found()
    if body["sha"] != existing["sha"]:
        raise ApiError(409, f"{path} does not match {body['sha']}")
    author, committer = _signatures(ctx, body)
    commit_sha = git.commit_changes(branch, {path: None}, body["message"], author, committer, expect_parent=head)
    ctx.world.touch(repo)
    return json_reply(_file_commit(ctx, repo, git, commit_sha, None, branch))


__all__ = [
    "WORKFLOW_DIR",
    "api_root",
    "b64_lines",
    "content_item",
    "decode_b64",
    "git_date",
    "html_root",
    "require_workflow_scope",
    "signature",
    "workflow_paths_changed",
]
