"""Plans reviewed in pull requests: one sticky comment per manifest, and labels kept in step.

    result = post_plan(client, "acme/infra", 42, plan, key="grid.yaml")

The comment is found by a hidden first line, ``<!-- gridctl:plan key=grid.yaml result=changes -->``:
``key`` is the manifest path (two manifests in one repository get two comments), ``result`` what
that plan does (``no-changes``, ``changes``, ``destroys``). The comment is updated in place
(PATCH), created when absent, and left alone when its text is already right (no write). Older
duplicates with the same key (two runs that raced) by the same author are deleted.

Labels: a pull request carries exactly one of ``gridctl:no-changes``, ``gridctl:changes`` and
``gridctl:destroys`` — the most severe result among the gridctl comments on it (so two manifests
in one pull request label it by the worse of the two). Labels the repository lacks are created
with their colours; the others are removed.

Calls, for a comment whose text and label are already right: one comments list (paginated,
100 per page) and one issue-labels list; no write. Each further write is one call (a label the
repository lacks costs one list of its labels and one create, once). The body is rendered by
:mod:`gridctl.review.markdown` and never holds a secret; as a last net, anything shaped like a
token is masked before it is sent.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import GitHubError, GridctlError
from ..plan import Action, Plan
from .markdown import DEFAULT_LIMIT, render_markdown

RESULTS = ("no-changes", "changes", "destroys")  # least to most severe
LABELS: dict[str, tuple[str, str]] = {
    "gridctl:no-changes": ("0e8a16", "gridctl plan: GitHub already matches the manifest"),
    "gridctl:changes": ("fbca04", "gridctl plan: merging changes GitHub"),
    "gridctl:destroys": ("b60205", "gridctl plan: merging deletes something on GitHub"),
}
PER_PAGE = 100
MARKER_RE = re.compile(r"^<!-- gridctl:plan(?: key=(?P<key>\S+?))?(?: result=(?P<result>[a-z-]+))? -->")


@dataclass
class PostResult:
    comment: str  # created | updated | unchanged
    comment_id: int
    url: str
    label: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    duplicates_deleted: int = 0


def result_of(plan: Plan) -> str:
    if any(c.action == Action.DELETE for c in plan.changes):
        return "destroys"
    return "changes" if plan.changes else "no-changes"


def comment_key(manifest_file: str | Path | None) -> str:
    """The sticky key of a manifest: its path relative to the working folder, made safe for an
    HTML comment (the same in ``plan --comment-pr`` and ``comment`` run from the same folder)."""
    if not manifest_file:
        return ""
    p = Path(manifest_file)
    if p.is_absolute():
        try:
            p = p.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            p = Path(p.name)
    return safe_key(p.as_posix().removeprefix("./"))


def safe_key(text: str) -> str:
    """A key that cannot end or break the HTML comment it lives in."""
    return re.sub(r"[^A-Za-z0-9._/-]", "_", text).replace("--", "__")


def marker(key: str, result: str) -> str:
    key = safe_key(key)
    return "<!-- gridctl:plan" + (f" key={key}" if key else "") + f" result={result} -->"


def parse_marker(body: str | None) -> tuple[str, str] | None:
    """``(key, result)`` of a gridctl comment, or None for any other comment."""
    m = MARKER_RE.match((body or "").lstrip())
    if not m:
        return None
    result = m.group("result") if m.group("result") in RESULTS else "changes"
    return m.group("key") or "", result


def full_plan_pointer(plan_file: str | Path | None = None) -> str:
    """Where the reviewer finds the complete JSON plan: the saved file and, inside GitHub
    Actions, the workflow run that keeps it as an artifact (``GRIDCTL_PLAN_ARTIFACT`` names it)."""
    name = f"`{Path(plan_file).name}`" if plan_file else "the JSON plan (`gridctl plan --out plan.json`)"
    artifact = os.environ.get("GRIDCTL_PLAN_ARTIFACT")
    server, repo, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if server and repo and run:
        where = f"[workflow run {run}]({server}/{repo}/actions/runs/{run})"
        return f"{name}, artifact `{artifact or 'gridctl-plan'}` of {where}"
    if artifact:
        return f"{name}, CI artifact `{artifact}`"
    return f"{name} (kept as a CI artifact)"


def comment_body(plan: Plan, *, key: str, diagnostics: list[Any] | None = None, full_plan: str | None = None) -> str:
    head = marker(key, result_of(plan))
    text = render_markdown(plan, limit=DEFAULT_LIMIT - len(head) - 1, diagnostics=diagnostics, full_plan=full_plan)
    return head + "\n" + text


# -- GitHub ------------------------------------------------------------------------------------------


def post_plan(
    client: Any,
    repo: str,
    number: int,
    plan: Plan,
    *,
    key: str,
    diagnostics: list[Any] | None = None,
    full_plan: str | None = None,
) -> PostResult:
    """Create or update the sticky comment for ``key`` on pull request ``number`` of ``repo``,
    then set its gridctl label. ``client`` is an :class:`~gridctl.github.client.AccountClient`."""
    key = safe_key(key)
    body = comment_body(plan, key=key, diagnostics=diagnostics, full_plan=full_plan)
    comments = _comments(client, repo, number)
    mine = sorted((c for c in comments if (parse_marker(c.get("body")) or (None,))[0] == key), key=lambda c: c["id"])
    others = [parse_marker(c.get("body")) for c in comments if c not in mine]
    if mine:
        keep = mine[0]
        if (keep.get("body") or "").replace("\r\n", "\n") == body:
            action = "unchanged"
        else:
            client.raw("PATCH", f"/repos/{repo}/issues/comments/{keep['id']}", {"body": body})
            action = "updated"
        comment_id, url = int(keep["id"]), str(keep.get("html_url", ""))
        author = (keep.get("user") or {}).get("login")
        deleted = 0
        for dup in mine[1:]:
            if (dup.get("user") or {}).get("login") == author:
                client.raw("DELETE", f"/repos/{repo}/issues/comments/{dup['id']}")
                deleted += 1
    else:

        def find() -> Any:
            for c in _comments(client, repo, number):
                if (parse_marker(c.get("body")) or (None,))[0] == key:
                    return c
            return None

        # https://docs.github.com/en/rest/issues/comments#create-an-issue-comment
        created = client.raw(
            "POST", f"/repos/{repo}/issues/{number}/comments", {"body": body}, idempotent=False, verify=find
        )
        comment_id = int(created["id"])
        url = str(created.get("html_url", ""))
        action, deleted = "created", 0
    worst = max([result_of(plan), *(r for _, r in (o for o in others if o))], key=RESULTS.index)
    label = f"gridctl:{worst}"
    added, removed = sync_labels(client, repo, number, label)
    return PostResult(action, comment_id, url, label, added, removed, deleted)


def sync_labels(client: Any, repo: str, number: int, want: str) -> tuple[list[str], list[str]]:
    """Give the pull request the label ``want`` and remove the other gridctl labels.

    Adding takes a JSON array of names and leaves the labels already there alone, so sending it
    again is harmless (GitHub Docs, "Add labels to an issue":
    https://docs.github.com/en/rest/issues/labels#add-labels-to-an-issue); removing answers 404
    for a label the issue no longer has
    (https://docs.github.com/en/rest/issues/labels#remove-a-label-from-an-issue)."""
    current = {
        str(lb["name"]).lower(): str(lb["name"])
        for lb in (_pages(client, f"/repos/{repo}/issues/{number}/labels") or [])
    }
    added: list[str] = []
    removed: list[str] = []
    if want.lower() not in current:
        _ensure_label(client, repo, want)
        client.raw("POST", f"/repos/{repo}/issues/{number}/labels", [want], idempotent=True)
        added.append(want)
    for name in LABELS:
        if name != want and name.lower() in current:
            try:
                client.raw("DELETE", f"/repos/{repo}/issues/{number}/labels/{quote(current[name.lower()], safe='')}")
            except GitHubError as exc:
                if exc.status != 404:  # already gone: that is what we wanted
                    raise
            removed.append(name)
    return added, removed


def _ensure_label(client: Any, repo: str, name: str) -> None:
    def exists() -> bool:
        labels = _pages(client, f"/repos/{repo}/labels") or []
        return any(str(lb["name"]).lower() == name.lower() for lb in labels)

    if exists():
        return
    color, description = LABELS[name]
    body = {"name": name, "color": color, "description": description}
    try:  # https://docs.github.com/en/rest/issues/labels#create-a-label
        client.raw("POST", f"/repos/{repo}/labels", body, idempotent=False, verify=exists)
    except GitHubError as exc:
        if not (
            exc.status == 422 and any(isinstance(e, dict) and e.get("code") == "already_exists" for e in exc.errors)
        ):
            raise


def _pages(client: Any, url: str) -> list[dict[str, Any]] | None:
    """Every item of a bare-array list, by page number (``None`` for a 404).

    Not ``client.get_list``: its conditional GETs answer 304 for a first page whose items did
    not change and then trust the cached ``Link`` header, so a list that grew past one page (a
    101st comment) would be read without its second page. These reads are uncached instead.
    """
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        try:
            batch = client.raw("GET", url, params={"per_page": PER_PAGE, "page": page})
        except GitHubError as exc:
            if exc.status == 404 and page == 1:
                return None
            raise
        batch = batch if isinstance(batch, list) else []
        out.extend(batch)
        if len(batch) < PER_PAGE:
            return out
        page += 1


def _comments(client: Any, repo: str, number: int) -> list[dict[str, Any]]:
    items = _pages(client, f"/repos/{repo}/issues/{number}/comments")
    if items is None:
        raise GridctlError(f"{repo}#{number}: no such pull request (or the token cannot see it)")
    return items
