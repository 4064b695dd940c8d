"""Issues, issue comments, labels and pull requests: what a sticky PR plan comment needs.

Records (LAYOUT.md): table ``issues`` (one record per issue *or* pull request: a pull request is
an issue with a ``pull`` sub-record), table ``comments``, and ``repo["labels"]``. Issues and
pull requests share one number sequence per repository (the store sequence
``issue-number:{repo_id}``). ``issue["labels"]`` holds lower-case label names, keys of
``repo["labels"]``.

GitHub behaviours emulated here:

* a repository's default labels (bug, documentation, ...) appear on first use (the first time
  anything reads or writes its labels), not when the repository is created;
* label names are unique case-insensitively and looked up that way; a colour is six hex digits
  without ``#``; renaming or deleting a label carries over to the issues that have it;
* adding a label the repository does not have creates it (colour ``ededed``);
* anyone who can read a repository may comment; editing or deleting a comment needs its author
  or write access (github.com: "anyone with write access to a repository can edit/delete
  comments"); applying labels needs triage, creating, editing and deleting labels write;
* a pull request needs existing head and base branches and at least one commit between them.
"""

from __future__ import annotations

import datetime as _dt
import difflib
from typing import Any
from urllib.parse import quote

from ..errors import ApiError, not_found, role_at_least
from ..gitobjects import Git
from ..http import Ctx, Reply, empty, json_reply
from ..inputs import str_field
from ..routing import control, route
from ..shapes import repository, simple_user, web_root
from ..world import World, node_id

#: GitHub's limit on an issue or comment body, in characters
MAX_BODY = 65536
#: GitHub's limit on labels per issue
MAX_LABELS_PER_ISSUE = 100
MAX_LABEL_NAME = 50
MAX_LABEL_DESCRIPTION = 100
#: the colour GitHub gives a label created implicitly (added to an issue by name)
NEW_LABEL_COLOR = "ededed"

#: the labels github.com puts in every new repository: (name, colour, description)
DEFAULT_LABELS: tuple[tuple[str, str, str], ...] = (
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
)

_GHOST = {"login": "ghost", "id": 10137891, "type": "User"}




# -- records ---------------------------------------------------------------------------------------
def _issues_of(world: World, repo: dict) -> list[dict]:
    return sorted((i for i in world.store.values("issues") if i["repo_id"] == repo["id"]), key=lambda i: i["number"])


def _find_issue(world: World, repo: dict, number: int) -> dict | None:
    for issue in world.store.values("issues"):
        if issue["repo_id"] == repo["id"] and issue["number"] == number:
            return issue
    return None


def _comments_of(world: World, repo: dict, number: int) -> list[dict]:
    return sorted(
        (c for c in world.store.values("comments") if c["repo_id"] == repo["id"] and c["issue_number"] == number),
        key=lambda c: c["id"],
    )


def _new_issue(world: World, repo: dict, login: str, title: str, body: str | None, pull: dict | None = None) -> dict:
    now = world.now_iso()
    issue = {
        "id": world.next_id("issues"),
        "repo_id": repo["id"],
        "number": world.next_id(f"issue-number:{repo['id']}"),
        "title": title,
        "body": body,
        "state": "open",
        "user": login,
        "labels": [],
        "pull": pull,
        "created_at": now,
        "updated_at": now,
    }
    return world.save("issues", issue["id"], issue)


def _touch_issue(world: World, issue: dict) -> None:
    issue["updated_at"] = world.now_iso()
    world.save("issues", issue["id"], issue)


def _repo_labels(world: World, repo: dict) -> dict[str, dict]:
    """``repo["labels"]``, with GitHub's default labels created on first use."""
    labels = repo.get("labels")
    if labels is None:
        labels = {}
        for name, color, description in DEFAULT_LABELS:
            labels[name.lower()] = {
                "id": world.next_id("labels"),
                "name": name,
                "color": color,
                "description": description,
                "default": True,
            }
        repo["labels"] = labels
        world.save("repos", repo["id"], repo)
    return labels


def _new_label(world: World, repo: dict, name: str, color: str, description: str | None) -> dict:
    labels = _repo_labels(world, repo)
    rec = {"id": world.next_id("labels"), "name": name, "color": color, "description": description, "default": False}
    labels[name.lower()] = rec
    world.save("repos", repo["id"], repo)
    return rec


# -- shapes ----------------------------------------------------------------------------------------
def _user(ctx: Ctx, login: str | None) -> dict:
    rec = ctx.world.find_user(login) if login else None
    return simple_user(ctx, rec or _GHOST)


def _association(world: World, repo: dict, login: str | None) -> str:
    if not login:
        return "NONE"
    low = login.lower()
    if repo["owner"].lower() == low:
        return "OWNER"
    owner = world.find_user(repo["owner"])
    if owner and owner.get("type") == "Organization" and low in owner.get("members", {}):
        return "MEMBER"
    if low in repo.get("collaborators", {}):
        return "COLLABORATOR"
    return "NONE"


def _api(ctx: Ctx, repo: dict) -> str:
    return ctx.url(f"/repos/{repo['owner']}/{repo['name']}")


def _html(ctx: Ctx, repo: dict) -> str:
    return f"{web_root(ctx)}/{repo['owner']}/{repo['name']}"


def _label_shape(ctx: Ctx, repo: dict, rec: dict) -> dict:
    return {
        "id": rec["id"],
        "node_id": node_id("Label", rec["id"]),
        "url": f"{_api(ctx, repo)}/labels/{quote(rec['name'], safe='')}",
        "name": rec["name"],
        "description": rec.get("description"),
        "color": rec["color"],
        "default": bool(rec.get("default")),
    }


def _issue_labels(ctx: Ctx, repo: dict, issue: dict) -> list[dict]:
    labels = _repo_labels(ctx.world, repo)
    recs = [labels[key] for key in issue["labels"] if key in labels]
    return [_label_shape(ctx, repo, r) for r in sorted(recs, key=lambda r: r["name"].lower())]


def _reactions(url: str) -> dict:
    out: dict[str, Any] = {"url": url, "total_count": 0}
    for key in ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket"):
        out[key] = 0
    return out


def _issue_html(ctx: Ctx, repo: dict, issue: dict) -> str:
    kind = "pull" if issue.get("pull") else "issues"
    return f"{_html(ctx, repo)}/{kind}/{issue['number']}"


def _issue_shape(ctx: Ctx, repo: dict, issue: dict) -> dict:
    api = f"{_api(ctx, repo)}/issues/{issue['number']}"
    out: dict[str, Any] = {
        "id": issue["id"],
        "node_id": node_id("PullRequest" if issue.get("pull") else "Issue", issue["id"]),
        "url": api,
        "repository_url": _api(ctx, repo),
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": _issue_html(ctx, repo, issue),
        "number": issue["number"],
        "state": issue["state"],
        "state_reason": None,
        "title": issue["title"],
        "body": issue.get("body"),
        "user": _user(ctx, issue["user"]),
        "labels": _issue_labels(ctx, repo, issue),
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": len(_comments_of(ctx.world, repo, issue["number"])),
        "closed_at": None,
        "created_at": issue["created_at"],
        "updated_at": issue["updated_at"],
        "closed_by": None,
        "timeline_url": f"{api}/timeline",
        "performed_via_github_app": None,
        "author_association": _association(ctx.world, repo, issue["user"]),
        "reactions": _reactions(f"{api}/reactions"),
        # the sandbox has no sub-issues or issue dependencies: every count is zero
        "sub_issues_summary": {"total": 0, "completed": 0, "percent_completed": 0},
        "issue_dependencies_summary": {"blocked_by": 0, "blocking": 0, "total_blocked_by": 0, "total_blocking": 0},
    }
    pull = issue.get("pull")
    if pull:
        html = out["html_url"]
        out["draft"] = bool(pull.get("draft"))
        out["pull_request"] = {
            "url": f"{_api(ctx, repo)}/pulls/{issue['number']}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": None,
        }
    return out


def _comment_shape(ctx: Ctx, repo: dict, comment: dict, issue: dict | None) -> dict:
    api = _api(ctx, repo)
    if issue is not None:
        html = f"{_issue_html(ctx, repo, issue)}#issuecomment-{comment['id']}"
    else:
        html = f"{_html(ctx, repo)}/issues/{comment['issue_number']}#issuecomment-{comment['id']}"
    url = f"{api}/issues/comments/{comment['id']}"
    return {
        "id": comment["id"],
        "node_id": node_id("IssueComment", comment["id"]),
        "url": url,
        "html_url": html,
        "body": comment["body"],
        "user": _user(ctx, comment["user"]),
        "created_at": comment["created_at"],
        "updated_at": comment["updated_at"],
        "issue_url": f"{api}/issues/{comment['issue_number']}",
        "author_association": _association(ctx.world, repo, comment["user"]),
        "performed_via_github_app": None,
        "reactions": _reactions(f"{url}/reactions"),
    }


# -- git helpers for pull requests -------------------------------------------------------------------
def _ancestors(git: Git, sha: str | None) -> list[str]:
    """Every commit reachable from ``sha`` (itself included), nearest first."""
    out: list[str] = []
    seen: set[str] = set()
    queue = [sha] if sha else []
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        out.append(current)
        obj = git.get(current)
        if obj and obj.get("type") == "commit":
            queue.extend(obj.get("parents", []))
    return out


def _line_count_changes(old: bytes | None, new: bytes | None) -> tuple[int, int]:
    try:
        a = old.decode().splitlines() if old is not None else []
        b = new.decode().splitlines() if new is not None else []
    except UnicodeDecodeError:
        return 0, 0  # binary files count as changed, with no lines
    added = removed = 0
    for line in difflib.unified_diff(a, b, lineterm="", n=0):
        if line.startswith("+++") or line.startswith("---"):
            continue
        if line.startswith("+"):
            added += 1
        elif line.startswith("-"):
            removed += 1
    return added, removed


def _pull_stats(git: Git, base_sha: str, head_sha: str) -> dict[str, int]:
    base_set = set(_ancestors(git, base_sha))
    head_line = _ancestors(git, head_sha)
    commits = [c for c in head_line if c not in base_set]
    merge_base = next((c for c in head_line if c in base_set), None)
    try:
        old_files = git.flatten(git.commit_tree(merge_base)) if merge_base else {}
        new_files = git.flatten(git.commit_tree(head_sha))
    except KeyError:
        return {"commits": len(commits), "additions": 0, "deletions": 0, "changed_files": 0}
    additions = deletions = changed = 0
    for path in sorted(set(old_files) | set(new_files)):
        before, after = old_files.get(path), new_files.get(path)
        if before == after:
            continue
        changed += 1

        def data(entry: tuple[str, str] | None) -> bytes | None:
            if entry is None:
                return None
            try:
                return git.blob_data(entry[1])
            except KeyError:
                return None

        a, d = _line_count_changes(data(before), data(after))
        additions += a
        deletions += d
    return {"commits": len(commits), "additions": additions, "deletions": deletions, "changed_files": changed}


def _branch_sha(repo: dict, branch: str) -> str | None:
    sha: str | None = repo.get("refs", {}).get(f"refs/heads/{branch}")
    return sha


def _pull_shape(ctx: Ctx, repo: dict, issue: dict, *, full: bool = True) -> dict:
    pull = issue["pull"]
    n = issue["number"]
    api = _api(ctx, repo)
    html = f"{_html(ctx, repo)}/pull/{n}"
    owner = ctx.world.find_user(repo["owner"]) or _GHOST
    head_sha = _branch_sha(repo, pull["head"]) or pull["head_sha"]
    base_sha = _branch_sha(repo, pull["base"]) or pull["base_sha"]
    repo_shape = repository(ctx, repo, level="repository")

    def side(branch: str, sha: str) -> dict:
        return {
            "label": f"{repo['owner']}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": simple_user(ctx, owner),
            "repo": repo_shape,
        }

    out: dict[str, Any] = {
        "url": f"{api}/pulls/{n}",
        "id": pull["id"],
        "node_id": node_id("PullRequest", pull["id"]),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": f"{api}/issues/{n}",
        "commits_url": f"{api}/pulls/{n}/commits",
        "review_comments_url": f"{api}/pulls/{n}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": f"{api}/issues/{n}/comments",
        "statuses_url": f"{api}/statuses/{head_sha}",
        "number": n,
        "state": issue["state"],
        "locked": False,
        "title": issue["title"],
        "user": _user(ctx, issue["user"]),
        "body": issue.get("body"),
        "labels": _issue_labels(ctx, repo, issue),
        "milestone": None,
        "active_lock_reason": None,
        "created_at": issue["created_at"],
        "updated_at": issue["updated_at"],
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": side(pull["head"], head_sha),
        "base": side(pull["base"], base_sha),
        "_links": {
            "self": {"href": f"{api}/pulls/{n}"},
            "html": {"href": html},
            "issue": {"href": f"{api}/issues/{n}"},
            "comments": {"href": f"{api}/issues/{n}/comments"},
            "review_comments": {"href": f"{api}/pulls/{n}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{n}/commits"},
            "statuses": {"href": f"{api}/statuses/{head_sha}"},
        },
        "author_association": _association(ctx.world, repo, issue["user"]),
        "auto_merge": None,
        "draft": bool(pull.get("draft")),
    }
    if full:
        stats = _pull_stats(Git(ctx.world, repo), base_sha, head_sha)
        out.update(
            {
                "merged": False,
                "mergeable": True,
                "rebaseable": True,
                "mergeable_state": "draft" if pull.get("draft") else "clean",
                "merged_by": None,
                "comments": len(_comments_of(ctx.world, repo, n)),
                "review_comments": 0,
                "maintainer_can_modify": bool(pull.get("maintainer_can_modify", False)),
                **stats,
            }
        )
    return out


# -- permissions -------------------------------------------------------------------------------------
def _writable(ctx: Ctx, repo: dict) -> None:
    if repo.get("archived"):
        raise ApiError(403, "Repository was archived so is read-only.")


def _role(ctx: Ctx, repo: dict) -> str | None:
    return ctx.world.role(ctx.login, repo, ctx.scopes)


def _issue_or_404(ctx: Ctx, repo: dict, *, plain_needs_issues: bool = True) -> dict:
    issue = _find_issue(ctx.world, repo, int(ctx.params["issue_number"]))
    if issue is None:
        raise not_found()
    if plain_needs_issues and not issue.get("pull") and not repo.get("has_issues", True):
        raise ApiError(410, "Issues are disabled for this repo")
    return issue


def _check_body(body: str, resource: str) -> None:
    if len(body) > MAX_BODY:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{
                "resource": resource,
                "code": "unprocessable",
                "field": "data",
                "message": f"Body is too long (maximum is {MAX_BODY} characters)",
            }],
        )


def _since(ctx: Ctx) -> str | None:
    raw = ctx.query.get("since")
    if raw is None:
        return None
    try:
        when = _dt.datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "IssueComment", "code": "invalid", "field": "since", "value": raw}],
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return when.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- issues ------------------------------------------------------------------------------------------
@route("GET", "/repos/{owner}/{repo}/issues/{issue_number:int}", "issues/get")
def get_issue(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    issue = _issue_or_404(ctx, repo)
    return json_reply(_issue_shape(ctx, repo, issue))


# -- comments ----------------------------------------------------------------------------------------
def _comment_or_404(ctx: Ctx, repo: dict) -> dict:
    comment = ctx.world.store.get("comments", ctx.params["comment_id"])
    if comment is None or comment["repo_id"] != repo["id"]:
        raise not_found()
    return comment


def _may_moderate(ctx: Ctx, repo: dict, comment: dict) -> None:
    """The comment's author, or anyone with write access (github.com's rule), may change it."""
    if ctx.login and ctx.login.lower() == str(comment["user"]).lower():
        return
    if role_at_least(_role(ctx, repo), "write"):
        return
    raise ApiError(403, "You must be the author of this comment or have write access to the repository.")


@route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id:int}", "issues/get-comment")
def get_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    comment = _comment_or_404(ctx, repo)
    issue = _find_issue(ctx.world, repo, comment["issue_number"])
    return json_reply(_comment_shape(ctx, repo, comment, issue))


@route("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id:int}", "issues/update-comment", scopes=("repo", "public_repo"))
def update_comment(ctx: Ctx) -> Reply:
    ctx.require_auth()
    repo = ctx.repo("read")
    comment = _comment_or_404(ctx, repo)
    _may_moderate(ctx, repo, comment)
    _writable(ctx, repo)
    body = ctx.body["body"]
    _check_body(body, "IssueComment")
    comment["body"] = body
    comment["updated_at"] = ctx.world.now_iso()
    ctx.world.save("comments", comment["id"], comment)
    issue = _find_issue(ctx.world, repo, comment["issue_number"])
    return json_reply(_comment_shape(ctx, repo, comment, issue))


@route("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id:int}", "issues/delete-comment", scopes=("repo", "public_repo"))
def delete_comment(ctx: Ctx) -> Reply:
    ctx.require_auth()
    repo = ctx.repo("read")
    comment = _comment_or_404(ctx, repo)
    _may_moderate(ctx, repo, comment)
    _writable(ctx, repo)
    ctx.world.store.delete("comments", comment["id"])
    return empty()


@route("GET", "/repos/{owner}/{repo}/issues/{issue_number:int}/comments", "issues/list-comments")
def list_comments(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    issue = _issue_or_404(ctx, repo)
    since = _since(ctx)
    comments = _comments_of(ctx.world, repo, issue["number"])
    if since is not None:
        comments = [c for c in comments if c["updated_at"] >= since]
    return ctx.paginate([_comment_shape(ctx, repo, c, issue) for c in comments])


@route(
    "POST",
    "/repos/{owner}/{repo}/issues/{issue_number:int}/comments",
    "issues/create-comment",
    content=True,
    scopes=("repo", "public_repo"),
)
def create_comment(ctx: Ctx) -> Reply:
    user = ctx.require_auth()
    repo = ctx.repo("read")
    issue = _issue_or_404(ctx, repo)
    _writable(ctx, repo)
    body = ctx.body["body"]
    _check_body(body, "IssueComment")
    if not body.strip():
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
        )
    now = ctx.world.now_iso()
    comment = {
        "id": ctx.world.next_id("comments"),
        "repo_id": repo["id"],
        "issue_number": issue["number"],
        "body": body,
        "user": user["login"],
        "created_at": now,
        "updated_at": now,
    }
    ctx.world.save("comments", comment["id"], comment)
    _touch_issue(ctx.world, issue)
    shape = _comment_shape(ctx, repo, comment, issue)
    return json_reply(shape, status=201, headers={"Location": shape["url"]})


# -- labels ------------------------------------------------------------------------------------------
def _label_error(field: str, code: str = "invalid", message: str | None = None) -> ApiError:
    err: dict[str, Any] = {"resource": "Label", "code": code, "field": field}
    if message:
        err["message"] = message
    return ApiError(422, "Validation Failed", errors=[err])


def _clean_label_name(raw: Any) -> str:
    name = str(raw).strip() if raw is not None else ""
    if not name:
        raise _label_error("name", "missing_field")
    if len(name) > MAX_LABEL_NAME:
        raise _label_error("name", "custom", f"name is too long (maximum is {MAX_LABEL_NAME} characters)")
    return name


def _requested_labels(body: Any) -> list[str]:
    """The label names of an add/set body: ``{"labels": [...]}``, a bare array, or one string."""
    if isinstance(body, dict):
        items = body.get("labels", [])
    elif isinstance(body, list):
        items = body
    elif isinstance(body, str):
        items = [body]
    else:
        items = []
    names: list[str] = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        name = _clean_label_name(name)
        if name.lower() not in {n.lower() for n in names}:
            names.append(name)
    return names


def _apply_labels(ctx: Ctx, repo: dict, issue: dict, names: list[str], *, replace: bool) -> None:
    labels = _repo_labels(ctx.world, repo)
    keys = [] if replace else list(issue["labels"])
    for name in names:
        key = name.lower()
        if key not in labels:
            _new_label(ctx.world, repo, name, NEW_LABEL_COLOR, None)
        if key not in keys:
            keys.append(key)
    if len(keys) > MAX_LABELS_PER_ISSUE:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{
                "resource": "Issue",
                "code": "custom",
                "field": "labels",
                "message": f"An issue can have at most {MAX_LABELS_PER_ISSUE} labels.",
            }],
        )
    issue["labels"] = keys
    _touch_issue(ctx.world, issue)


@route("GET", "/repos/{owner}/{repo}/issues/{issue_number:int}/labels", "issues/list-labels-on-issue")
def list_issue_labels(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    issue = _issue_or_404(ctx, repo)
    return ctx.paginate(_issue_labels(ctx, repo, issue))


@route("POST", "/repos/{owner}/{repo}/issues/{issue_number:int}/labels", "issues/add-labels", scopes=("repo", "public_repo"))
def add_labels(ctx: Ctx) -> Reply:
    ctx.require_auth()
    repo = ctx.repo("triage")
    issue = _issue_or_404(ctx, repo)
    names = _requested_labels(ctx.body)
    if not names:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "Label", "code": "missing_field", "field": "labels"}],
        )
    _apply_labels(ctx, repo, issue, names, replace=False)
    return json_reply(_issue_labels(ctx, repo, issue))


@route("PUT", "/repos/{owner}/{repo}/issues/{issue_number:int}/labels", "issues/set-labels", scopes=("repo", "public_repo"))
def set_labels(ctx: Ctx) -> Reply:
    ctx.require_auth()
    repo = ctx.repo("triage")
    issue = _issue_or_404(ctx, repo)
    _apply_labels(ctx, repo, issue, _requested_labels(ctx.body), replace=True)
    return json_reply(_issue_labels(ctx, repo, issue))


@route(
    "DELETE",
    "/repos/{owner}/{repo}/issues/{issue_number:int}/labels/{name:path}",
    "issues/remove-label",
    scopes=("repo", "public_repo"),
)
def remove_label(ctx: Ctx) -> Reply:
    ctx.require_auth()
    repo = ctx.repo("triage")
    issue = _issue_or_404(ctx, repo)
    key = ctx.params["name"].strip().lower()
    if key not in issue["labels"]:
        raise ApiError(404, "Label does not exist")
    issue["labels"] = [k for k in issue["labels"] if k != key]
    _touch_issue(ctx.world, issue)
    return json_reply(_issue_labels(ctx, repo, issue))


@route("GET", "/repos/{owner}/{repo}/labels", "issues/list-labels-for-repo")
def list_repo_labels(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    recs = sorted(_repo_labels(ctx.world, repo).values(), key=lambda r: r["name"].lower())
    return ctx.paginate([_label_shape(ctx, repo, r) for r in recs])


def _label_color(raw: Any) -> str:
    """A colour as GitHub takes it: six hexadecimal digits, no leading ``#`` (github.com
    refuses ``#b60205``); stored lower-case."""
    color = str(raw)
    if len(color) != 6 or any(c not in "0123456789abcdefABCDEF" for c in color):
        raise _label_error("color")
    return color.lower()


def _label_description(raw: Any) -> str | None:
    if raw is not None and len(raw) > MAX_LABEL_DESCRIPTION:
        raise _label_error("description", "custom", f"description is too long (maximum is {MAX_LABEL_DESCRIPTION} characters)")
    return None if raw is None else str(raw)


def _label_or_404(ctx: Ctx, repo: dict) -> dict:
    """The label ``{name}`` of ``repo`` (names are matched case-insensitively)."""
    rec = _repo_labels(ctx.world, repo).get(ctx.params["name"].strip().lower())
    if rec is None:
        raise not_found()
    return rec


def _relabel_issues(world: World, repo: dict, old_key: str, new_key: str | None) -> None:
    """Issues carry label keys: follow a rename (``new_key``) or a delete (None)."""
    for issue in _issues_of(world, repo):
        if old_key in issue["labels"]:
            keys = [new_key if k == old_key else k for k in issue["labels"]]
            issue["labels"] = [k for k in keys if k is not None]
            world.save("issues", issue["id"], issue)


@route("POST", "/repos/{owner}/{repo}/labels", "issues/create-label", scopes=("repo", "public_repo"))
def create_label(ctx: Ctx) -> Reply:
    ctx.require_auth()
    repo = ctx.repo("write")
    body = ctx.body
    name = _clean_label_name(body["name"])
    color = _label_color(body["color"]) if body.get("color") is not None else NEW_LABEL_COLOR
    description = _label_description(body.get("description"))
    if name.lower() in _repo_labels(ctx.world, repo):
        raise _label_error("name", "already_exists")
    rec = _new_label(ctx.world, repo, name, color, description)
    shape = _label_shape(ctx, repo, rec)
    return json_reply(shape, status=201, headers={"Location": shape["url"]})


@route("GET", "/repos/{owner}/{repo}/labels/{name:path}", "issues/get-label")
def get_label(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    return json_reply(_label_shape(ctx, repo, _label_or_404(ctx, repo)))


@route("PATCH", "/repos/{owner}/{repo}/labels/{name:path}", "issues/update-label", scopes=("repo", "public_repo"))
def update_label(ctx: Ctx) -> Reply:
    """``new_name`` renames (a change of case only is allowed; another label's name is a 422
    ``already_exists``), ``color`` and ``description`` replace; absent fields stay."""
    ctx.require_auth()
    repo = ctx.repo("write")
    rec = _label_or_404(ctx, repo)
    body = ctx.body or {}
    labels = _repo_labels(ctx.world, repo)
    old_key = rec["name"].lower()
    name = _clean_label_name(body["new_name"]) if "new_name" in body else rec["name"]
    color = _label_color(body["color"]) if "color" in body else rec["color"]
    description = _label_description(body["description"]) if "description" in body else rec.get("description")
    new_key = name.lower()
    if new_key != old_key and new_key in labels:
        raise _label_error("name", "already_exists")
    rec.update({"name": name, "color": color, "description": description})
    if new_key != old_key:
        del labels[old_key]
        labels[new_key] = rec
        _relabel_issues(ctx.world, repo, old_key, new_key)
    ctx.world.save("repos", repo["id"], repo)
    return json_reply(_label_shape(ctx, repo, rec))


@route("DELETE", "/repos/{owner}/{repo}/labels/{name:path}", "issues/delete-label", scopes=("repo", "public_repo"))
def delete_label(ctx: Ctx) -> Reply:
    """The label goes from the repository and from every issue and pull request carrying it."""
    ctx.require_auth()
    repo = ctx.repo("write")
    key = _label_or_404(ctx, repo)["name"].lower()
    del _repo_labels(ctx.world, repo)[key]
    _relabel_issues(ctx.world, repo, key, None)
    ctx.world.save("repos", repo["id"], repo)
    return empty()


# -- pull requests -------------------------------------------------------------------------------------
def _pr_error(*errors: dict) -> ApiError:
    return ApiError(422, "Validation Failed", errors=list(errors))


def _head_branch(repo: dict, head: str, head_repo: str | None) -> str | None:
    """The branch named by ``head`` (``branch`` or ``owner:branch``) in this repository, or None
    when it names another repository (the sandbox has no forks)."""
    full_name = f"{repo['owner']}/{repo['name']}".lower()
    if head_repo is not None and head_repo.lower() not in (full_name, repo["name"].lower()):
        return None
    owner, sep, branch = head.partition(":")
    if not sep:
        return head
    if owner.lower() != repo["owner"].lower():
        return None
    return branch


@route("POST", "/repos/{owner}/{repo}/pulls", "pulls/create", content=True, scopes=("repo", "public_repo"))
def create_pull(ctx: Ctx) -> Reply:
    user = ctx.require_auth()
    repo = ctx.repo("read")
    _writable(ctx, repo)
    world = ctx.world
    body = ctx.body
    head, base = body["head"], body["base"]
    branch = _head_branch(repo, head, body.get("head_repo"))
    base_sha = _branch_sha(repo, base)
    head_sha = _branch_sha(repo, branch) if branch is not None else None
    errors = []
    if base_sha is None:
        errors.append({"resource": "PullRequest", "field": "base", "code": "invalid"})
    if head_sha is None:
        errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
    if errors:
        raise _pr_error(*errors)
    assert branch is not None and head_sha is not None and base_sha is not None
    for other in _issues_of(world, repo):
        pull = other.get("pull")
        if pull and other["state"] == "open" and pull["head"] == branch and pull["base"] == base:
            raise _pr_error({
                "resource": "PullRequest",
                "code": "custom",
                "message": f"A pull request already exists for {repo['owner']}:{branch}.",
            })
    if head_sha in set(_ancestors(Git(world, repo), base_sha)):
        raise _pr_error({"resource": "PullRequest", "code": "custom", "message": f"No commits between {base} and {head}"})
    pull = {
        "id": world.next_id("pulls"),
        "head": branch,
        "head_sha": head_sha,
        "base": base,
        "base_sha": base_sha,
        "draft": bool(body.get("draft", False)),
        "maintainer_can_modify": bool(body.get("maintainer_can_modify", False)),
    }
    if body.get("issue") is not None:
        issue = _find_issue(world, repo, int(body["issue"]))
        if issue is None or issue.get("pull"):
            raise _pr_error({"resource": "PullRequest", "field": "issue", "code": "invalid"})
        if issue["user"].lower() != user["login"].lower() and not role_at_least(_role(ctx, repo), "write"):
            raise ApiError(403, "You must be the issue author or have write access to convert it to a pull request.")
        issue["pull"] = pull
        _touch_issue(world, issue)
    else:
        title = body.get("title")
        if title is None or not str(title).strip():
            raise _pr_error({"resource": "Issue", "code": "missing_field", "field": "title"})
        text = body.get("body")
        if text is not None:
            _check_body(text, "Issue")
        issue = _new_issue(world, repo, user["login"], str(title).strip(), text, pull)
    shape = _pull_shape(ctx, repo, issue)
    return json_reply(shape, status=201, headers={"Location": shape["url"]})


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number:int}", "pulls/get")
def get_pull(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    issue = _find_issue(ctx.world, repo, int(ctx.params["pull_number"]))
    if issue is None or not issue.get("pull"):
        raise not_found()
    return json_reply(_pull_shape(ctx, repo, issue))


_LIST_ENUMS = {
    "state": ("open", "closed", "all"),
    "sort": ("created", "updated", "popularity", "long-running"),
    "direction": ("asc", "desc"),
}


@route("GET", "/repos/{owner}/{repo}/pulls", "pulls/list")
def list_pulls(ctx: Ctx) -> Reply:
    repo = ctx.repo("read")
    q = ctx.query
    for name, allowed in _LIST_ENUMS.items():
        if name in q and q[name] not in allowed:
            raise ApiError(
                422,
                "Validation Failed",
                errors=[{"resource": "PullRequest", "field": name, "code": "invalid", "value": q[name]}],
            )
    state = q.get("state", "open")
    sort = q.get("sort", "created")
    direction = q.get("direction", "desc" if sort == "created" else "asc")
    out = [i for i in _issues_of(ctx.world, repo) if i.get("pull")]
    if state != "all":
        out = [i for i in out if i["state"] == state]
    if "base" in q:
        out = [i for i in out if i["pull"]["base"] == q["base"]]
    if "head" in q:
        owner, sep, branch = q["head"].partition(":")
        if sep:
            out = [i for i in out if owner.lower() == repo["owner"].lower() and i["pull"]["head"] == branch]
        else:
            out = [i for i in out if owner.lower() == repo["owner"].lower()]
    if sort == "updated":
        out.sort(key=lambda i: (i["updated_at"], i["number"]))
    elif sort == "popularity":
        counts = {i["number"]: len(_comments_of(ctx.world, repo, i["number"])) for i in out}
        out.sort(key=lambda i: (counts[i["number"]], i["number"]))
    else:
        out.sort(key=lambda i: (i["created_at"], i["number"]))
    if direction == "desc":
        out.reverse()
    return ctx.paginate([_pull_shape(ctx, repo, i, full=False) for i in out])


# -- control routes ------------------------------------------------------------------------------------
@control("POST", "/repos/{owner}/{repo}/issues")
def seed_issue(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Open a plain issue (the sandbox has no issue-creation API): ``{title, body?, user?}``.

    ``user`` defaults to the repository owner (an organization's first admin for org repos).
    """
    world: World = app.world
    repo = world.find_repo(params["owner"], params["repo"])
    if repo is None:
        raise ApiError(404, "no such repository")
    login = str_field(body, "user", None, max_length=39)
    if login is None:
        owner = world.find_user(repo["owner"])
        if owner and owner["type"] == "Organization":
            admins = [m for m, r in owner.get("members", {}).items() if r == "admin"]
            login = admins[0] if admins else owner["login"]
        else:
            login = repo["owner"]
    author = world.find_user(login)
    if author is None or author["type"] != "User":
        raise ApiError(422, f"{login} is not a sandbox user")
    title = str_field(body, "title", "", max_length=1024).strip()
    if not title:
        raise ApiError(422, "title is required")
    issue = _new_issue(world, repo, author["login"], title, str_field(body, "body", None, max_length=MAX_BODY))
    return 201, {"id": issue["id"], "number": issue["number"]}


@control("GET", "/repos/{owner}/{repo}/issues/{number}")
def issue_record(app: Any, body: dict, params: dict, query: dict) -> Any:
    """The stored issue record, with its comments (tests inspect what arrived)."""
    world: World = app.world
    repo = world.find_repo(params["owner"], params["repo"])
    if repo is None:
        raise ApiError(404, "no such repository")
    issue = _find_issue(world, repo, int(params["number"]))
    if issue is None:
        raise ApiError(404, "no such issue")
    return {**issue, "comments": _comments_of(world, repo, issue["number"])}
