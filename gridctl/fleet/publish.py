"""A queue's public status page, with no server: ``gridctl queue publish NAME``.

The page is ONE self-contained HTML file (inline CSS, no script, no external URL) rendered from
``templates/queue_status.html`` with Jinja2, autoescaped: counts per state with the oldest
task's age, the oldest waiting task, every node with its last heartbeat, and the latest results
with their exit codes. Every value read from the queue — a node's record, a task's result, an
invalid file's reason — is untrusted: control and format characters are written as ``\\xNN``
(:func:`gridctl.util.text.printable`) and the rest is HTML-escaped. The page never shows a
task's script, command or output: GitHub Pages serves a site publicly even when its repository
is private ("About GitHub Pages",
https://docs.github.com/en/pages/getting-started-with-github-pages/about-github-pages).

**Where.** A branch (``--to``, default ``gh-pages``, created as a branch of its own — a commit
without parents — when missing) or a folder of a branch (``--folder``; alone, a folder of the
queue's own branch, such as ``docs``): the page is ``<folder>/index.html``. GitHub Pages
publishes from a branch's root or its ``/docs`` folder ("Configuring a publishing source for
your GitHub Pages site",
https://docs.github.com/en/pages/getting-started-with-github-pages/configuring-a-publishing-source-for-your-github-pages-site).

**One compare-and-swap commit.** The page is written like every queue move
(:meth:`TaskQueue.edit`): a tree on the branch head's tree, a commit whose parent is that head,
then a PATCH of the ref without ``force``, which GitHub refuses with 422 when anyone moved the
branch in between ("Update a reference", https://docs.github.com/en/rest/git/refs#update-a-reference).
The loser reads the branch AND the queue again and renders the page anew, at most
:data:`MAX_RACES` times. A missing branch is created with ``POST /git/refs``, which GitHub
refuses (422 "Reference already exists") when another publisher created it first
("Create a reference", https://docs.github.com/en/rest/git/refs#create-a-reference).

**Unchanged page, no commit.** The page carries, in ``<meta>`` tags, the queue commit it shows,
a fingerprint of everything it shows except the ages (which only say how old things were when
it was generated) and that commit, the version of its template, and the moment its first live node would turn
silent. A publish that finds the same fingerprint commits nothing. Before reading the queue it
checks the published page: when the queue's head is still the commit the page shows (or, for a
page on the queue's own branch, the head is the page's own publish commit on top of it) and no
node has turned silent since, it is done after three conditional reads — the page branch's ref,
the page (contents API at that commit) and the queue branch's ref — which cost no rate limit
when GitHub answers 304 ("Use conditional requests if appropriate",
https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate).
Otherwise it reads the queue as ``gridctl queue ls`` does (the tree, one blob per node file)
plus one blob per result shown.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import re
import time
from dataclasses import dataclass, replace
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import __version__
from ..errors import GitHubError
from ..util.text import printable
from .taskqueue import NODES, STATES, Entry, InvalidTask, QueueError, Snapshot, TaskQueue, blob_sha, format_age, iso

if TYPE_CHECKING:
    from jinja2 import Template

#: the branch a page goes to by default (the branch GitHub Pages' documentation uses)
PAGES_BRANCH = "gh-pages"
PAGE_FILE = "index.html"
DEFAULT_RESULTS = 20
MAX_RESULTS = 200
#: lost compare-and-swap races before a publish gives up
MAX_RACES = 10
#: the commit message's text (after ``gridctl queue NAME: ``)
WHAT = "publish the status page"
#: a value longer than this is cut (the page stays readable whatever a node file holds)
MAX_TEXT = 200

_ISO = "%Y-%m-%dT%H:%M:%SZ"
#: a branch name: segments of letters, digits, '.', '_' and '-', separated by '/'; stricter than
#: git's rules ("git check-ref-format", https://git-scm.com/docs/git-check-ref-format)
_BRANCH_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
#: a folder: the same segments (none starts with '.', so no '..' and no '.git')
_FOLDER_SEGMENT = _BRANCH_SEGMENT
_META = re.compile(r'<meta name="gridctl-([a-z-]+)" content="([^"<>]*)">')


@dataclass(frozen=True)
class Target:
    """Where the page goes: ``branch`` (None: the queue's own) and ``folder`` ('' : its root)."""

    branch: str | None = PAGES_BRANCH
    folder: str = ""

    @property
    def path(self) -> str:
        return f"{self.folder}/{PAGE_FILE}" if self.folder else PAGE_FILE


@dataclass
class Outcome:
    """What a publish did: ``committed`` (False: the published page was already current)."""

    committed: bool
    branch: str
    path: str
    created_branch: bool = False
    lost_races: int = 0
    #: the page as rendered (None when the published page was current without rendering)
    page: str | None = None
    why: str = ""


class PublishError(QueueError):
    """Bad ``--to`` / ``--folder`` (exit 1)."""


def target(to: str | None, folder: str | None) -> Target:
    """The target of ``--to BRANCH`` and ``--folder PATH``: a folder alone is on the queue's
    own branch; neither is the root of ``gh-pages``. Refuses names that are not plain paths."""
    branch: str | None
    if to is None:
        branch = None if folder is not None else PAGES_BRANCH
    else:
        segments = to.split("/")
        if not all(_BRANCH_SEGMENT.match(s) and not s.endswith(".lock") for s in segments) or ".." in to:
            raise PublishError(f"--to '{printable(to)}' is not a branch name gridctl publishes to: segments of letters, digits, "
                               "'.', '_' and '-' separated by '/'")
        branch = to
    clean = ""
    if folder is not None:
        clean = folder.strip("/")
        segments = clean.split("/") if clean else []
        if not all(_FOLDER_SEGMENT.match(s) for s in segments):  # so no '.', '..' nor '.git
            raise PublishError(f"--folder '{printable(folder)}' is not a folder of the repository: segments of letters, "
                               "digits, '.', '_' and '-' separated by '/', no '..'")
    return Target(branch, clean)


# -- what the page shows ------------------------------------------------------------------------


def _from_iso(text: Any) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(str(text), _ISO)))
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    """A value from a node record or a result, as text (cut at :data:`MAX_TEXT`); None stays None."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def gather(tq: TaskQueue, snap: Snapshot, now: float, results: int = DEFAULT_RESULTS) -> dict[str, Any]:
    """Everything the page shows, as of ``now``, except ages: JSON-able and deterministic (its
    digest is the page's fingerprint). Reads one blob per node file and per result shown
    (:meth:`TaskQueue.read_nodes`, :meth:`TaskQueue.read_task`; blobs are memoized)."""
    states = []
    for s in STATES:
        entries = snap.in_state(s)
        stamps = [e.stamp for e in entries if e.stamp is not None]
        states.append({"state": s, "count": len(entries), "oldest": iso(min(stamps)) if stamps else None,
                       "unstamped": sum(1 for e in entries if e.bare)})
    waiting = snap.in_state("queue")
    stamped = sorted((e for e in waiting if e.stamp is not None), key=lambda e: (e.stamp or 0.0, e.task_id))
    bare = sorted((e for e in waiting if e.bare), key=lambda e: e.task_id)
    first = stamped[0] if stamped else (bare[0] if bare else None)
    oldest = None
    if first is not None:
        oldest = {"task_id": first.task_id, "priority": first.priority,
                  "since": iso(first.stamp) if first.stamp is not None else None}
    limit = tq.spec.orphan_after
    nodes: list[dict[str, Any]] = []
    for node, rec in tq.read_nodes(snap).items():
        if rec.get("invalid"):
            nodes.append({"node_id": node, "invalid": _text(rec["invalid"])})
            continue
        beat = _from_iso(rec.get("last_heartbeat"))
        status = _text(rec.get("status"))
        nodes.append({
            "node_id": node,
            "invalid": None,
            "status": status,
            "last_heartbeat": iso(beat) if beat is not None else None,
            "silent": status != "stopped" and (beat is None or now - beat >= limit),
            "tasks_done": _count(rec.get("tasks_done")),
            "tasks_failed": _count(rec.get("tasks_failed")),
            "current_task": _text(rec.get("current_task")),
        })
    return {
        "queue": tq.spec.name,
        "where": tq.where(),
        "head": snap.head or "",
        "orphan_after": format_age(limit),
        "states": states,
        "oldest": oldest,
        "nodes": nodes,
        "results": [_result(tq, e) for e in latest(snap, results)],
    }


def latest(snap: Snapshot, n: int) -> list[Entry]:
    """The ``n`` most recently finished tasks (completed and failed), newest first."""
    done = [e for e in snap.tasks if e.state in ("completed", "failed")]
    done.sort(key=lambda e: (-(e.stamp or 0.0), e.task_id))
    return done[: max(0, n)]


def _result(tq: TaskQueue, e: Entry) -> dict[str, Any]:
    try:
        task = tq.read_task(e)
    except InvalidTask as exc:
        return {"task_id": e.task_id, "state": e.state, "invalid": _text(str(exc))}
    res = task["result"] if isinstance(task.get("result"), dict) else {}
    finished = _from_iso(res.get("finished_at"))
    if finished is None:
        finished = e.stamp
    node = res.get("finished_by") or task.get("claimed_by")
    return {
        "task_id": e.task_id,
        "state": e.state,
        "invalid": None,
        "exit_code": _text(res.get("exit_code")),
        "status": _text(res.get("status")),
        "node": _text(node),
        "finished_at": iso(finished) if finished is not None else None,
        "duration": _number(res.get("duration_seconds")),
        "reason": _text(res.get("reason")),
    }


def fingerprint(facts: dict[str, Any]) -> str:
    """The digest of what a page shows, apart from the ages, the time it was generated and the
    queue commit it was read at (a commit that changes nothing shown changes no page)."""
    shown = {k: v for k, v in facts.items() if k != "head"}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def fresh_until(facts: dict[str, Any], limit: float) -> float | None:
    """When the first node that is live now turns silent (the page then changes by itself)."""
    times = [t + limit for n in facts["nodes"] if not n.get("invalid") and not n["silent"] and n["status"] != "stopped"
             for t in [_from_iso(n["last_heartbeat"])] if t is not None]
    return min(times) if times else None


# -- the page ---------------------------------------------------------------------------------


def _template_text() -> str:
    return resources.files(__package__).joinpath("templates", "queue_status.html").read_text(encoding="utf-8")


def _finalize(value: Any) -> Any:
    """Every ``{{ value }}``: None and numbers as they are, text with control characters shown."""
    return printable(value) if isinstance(value, str) else value


_TEMPLATE: list[Template] = []


def _template() -> Template:
    if not _TEMPLATE:
        # (imported here: the queue kind imports this module, and a manifest's load needs no jinja2)
        from jinja2 import Environment, StrictUndefined

        env = Environment(autoescape=True, undefined=StrictUndefined, finalize=_finalize, trim_blocks=True, lstrip_blocks=True)
        _TEMPLATE.append(env.from_string(_template_text()))
    return _TEMPLATE[0]


def page_version() -> str:
    """The template and gridctl's version: a new one renders the page again."""
    return hashlib.sha256(f"{__version__}\n{_template_text()}".encode()).hexdigest()[:16]


def _age(since: str | None, now: float) -> str:
    t = _from_iso(since)
    return format_age(max(0.0, now - t)) if t is not None else "-"


def render(facts: dict[str, Any], now: float, limit: float) -> str:
    """The page of ``facts`` (from :func:`gather`) generated at ``now``."""
    until = fresh_until(facts, limit)
    nodes = []
    for n in facts["nodes"]:
        if n.get("invalid"):
            nodes.append(n)
            continue
        klass = {"running": "busy", "idle": "idle"}.get(n["status"] or "", "")
        nodes.append({**n, "age": _age(n["last_heartbeat"], now), "status_class": klass,
                      "tasks_done": "-" if n["tasks_done"] is None else n["tasks_done"],
                      "tasks_failed": "-" if n["tasks_failed"] is None else n["tasks_failed"]})
    results = [{**r, "duration": "-" if r.get("duration") is None else f"{r['duration']:g}s"} for r in facts["results"]]
    oldest = facts["oldest"]
    return _template().render(
        version=__version__,
        page_version=page_version(),
        fingerprint=fingerprint(facts),
        fresh_until=iso(until) if until is not None else "",
        generated=iso(now),
        queue=facts["queue"],
        where=facts["where"],
        head=facts["head"],
        orphan_after=facts["orphan_after"],
        states=[{**s, "age": _age(s["oldest"], now)} for s in facts["states"]],
        oldest={**oldest, "age": _age(oldest["since"], now)} if oldest else None,
        nodes=nodes,
        results=results,
    )


def page_meta(page: str) -> dict[str, str]:
    """The ``gridctl-*`` meta tags of a published page (its head and fingerprint...)."""
    head = page.split("</head>", 1)[0]
    return {m[1]: m[2] for m in _META.finditer(head)}


def render_page(tq: TaskQueue, results: int = DEFAULT_RESULTS) -> str:
    """The page as of now, without committing it (``--output``)."""
    snap = tq.snapshot()
    if snap.head is None:
        raise QueueError(f"queue {tq.spec.name}: {tq.repo} has no branch {tq.branch}; run gridctl apply to create the queue's layout")
    now = tq.clock()
    return render(gather(tq, snap, now, results), now, tq.spec.orphan_after)


# -- publishing ---------------------------------------------------------------------------------


def _ref_url(repo: str, branch: str) -> str:
    return f"/repos/{repo}/git/ref/heads/{quote(branch)}"


def _head(tq: TaskQueue, branch: str) -> str | None:
    """A branch's head through the ETag cache (the same request :meth:`TaskQueue.snapshot` makes)."""
    try:
        ref = tq.client.get(_ref_url(tq.repo, branch))
    except GitHubError as exc:
        if exc.status == 409:  # "Git Repository is empty."
            return None
        raise
    return str(ref["object"]["sha"]) if isinstance(ref, dict) else None


def _published(tq: TaskQueue, path: str, commit: str) -> str | None:
    """The page at ``commit``, through the ETag cache; None when there is none (or it is not text)."""
    doc = tq.client.get(f"/repos/{tq.repo}/contents/{quote(path)}", {"ref": commit})
    if not isinstance(doc, dict) or doc.get("encoding") != "base64":
        return None
    try:
        return base64.b64decode("".join(str(doc.get("content") or "").split())).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class _Published:
    """The page branch's head (None: no such branch) and the page on it (None: none)."""

    head: str | None
    page: str | None
    current: bool = False


def _current(tq: TaskQueue, branch: str, path: str, now: float) -> _Published:
    """The published page, and whether it still shows the queue as it is: conditional reads only."""
    head = _head(tq, branch)
    if head is None:
        return _Published(None, None)
    page = _published(tq, path, head)
    found = _Published(head, page)
    meta = page_meta(page) if page else {}
    if not meta.get("queue-head") or meta.get("page-version") != page_version() or meta.get("queue") != tq.spec.name:
        return found
    until = meta.get("fresh-until")
    if until and (_from_iso(until) or 0.0) <= now:
        return found
    if branch != tq.branch:
        found.current = _head(tq, tq.branch) == meta["queue-head"]
    elif head == meta["queue-head"]:
        found.current = True
    else:  # the page on the queue's own branch: is the head the commit that published it?
        commit = tq.client.get(f"/repos/{tq.repo}/git/commits/{head}")
        parents = [p.get("sha") for p in commit.get("parents") or []] if isinstance(commit, dict) else []
        found.current = (parents == [meta["queue-head"]] and isinstance(commit, dict)
                         and commit.get("message") == f"gridctl queue {tq.spec.name}: {WHAT}")
    return found


def _create_branch(tq: TaskQueue, branch: str, path: str, page: str) -> bool:
    """A new branch holding only the page: a commit without parents, then ``POST /git/refs``
    (refused when the branch exists by now: False)."""
    r = tq.repo
    tree = tq.client.raw("POST", f"/repos/{r}/git/trees", {"tree": [{"path": path, "mode": "100644", "type": "blob", "content": page}]},
                         idempotent=True)
    commit = tq.client.raw("POST", f"/repos/{r}/git/commits",
                           {"message": f"gridctl queue {tq.spec.name}: {WHAT}", "tree": tree["sha"], "parents": []}, idempotent=True)
    try:
        tq.client.raw("POST", f"/repos/{r}/git/refs", {"ref": f"refs/heads/{branch}", "sha": commit["sha"]}, idempotent=True)
    except GitHubError as exc:
        if exc.status == 422 and "already exists" in f"{exc.github_message or ''} {exc}".lower():
            return False
        raise
    return True


def _check_place(tq: TaskQueue, branch: str, t: Target) -> None:
    """A page on the queue's branch stays out of the folders gridctl moves tasks between."""
    if branch != tq.branch:
        return
    prefix = tq.prefix
    for folder in (*STATES, NODES):
        inside = f"{prefix}{folder}"
        if t.folder == inside or t.folder.startswith(inside + "/"):
            raise PublishError(f"--folder {t.folder}: the queue {tq.spec.name} keeps its tasks there; choose another folder (e.g. docs)")


def publish(tq: TaskQueue, t: Target, *, results: int = DEFAULT_RESULTS, max_races: int = MAX_RACES) -> Outcome:
    """Render the page and commit it to ``t`` in one compare-and-swap commit; nothing when the
    published page already shows the queue as it is. See the module's docstring."""
    if not 1 <= results <= MAX_RESULTS:
        raise PublishError(f"--results must be between 1 and {MAX_RESULTS}")
    branch = t.branch or tq.branch
    _check_place(tq, branch, t)
    path = t.path
    out = Outcome(False, branch, path)
    seen = _current(tq, branch, path, tq.clock())
    if seen.current:
        out.why = "the queue has not changed since the page was published"
        return out
    same = branch == tq.branch
    # the page branch as a queue of its own: TaskQueue.edit is its compare-and-swap commit
    pages = tq if same else TaskQueue(tq.client, replace(tq.spec, branch=branch), backoff=tq.backoff, max_races=max_races,
                                      clock=tq.clock)

    def build(snap: Snapshot) -> dict[str, str | None]:
        queue_snap = snap if same else tq.snapshot()
        if queue_snap.head is None:
            raise QueueError(f"queue {tq.spec.name}: {tq.repo} has no branch {tq.branch}; run gridctl apply to create the queue's layout")
        now = tq.clock()
        facts = gather(tq, queue_snap, now, results)
        old = snap.files.get(path)
        if old is not None:
            known = seen.page if seen.page is not None and blob_sha(seen.page.encode()) == old else None
            meta = page_meta(known if known is not None else pages.blob(old).decode("utf-8", errors="replace"))
            if meta.get("state") == fingerprint(facts) and meta.get("page-version") == page_version():
                out.page, out.why = None, "the page already shows the queue as it is"
                return {}
        out.page = render(facts, now, tq.spec.orphan_after)
        return {path: out.page}

    races_before = pages.lost_races
    exists = seen.head is not None
    for _ in range(max_races):
        if same or exists or _head(tq, branch) is not None:
            out.committed = pages.edit(WHAT, build)
            out.lost_races = pages.lost_races - races_before
            return out
        page = build(Snapshot(None, None))[path]  # a new branch: nothing published to compare with
        assert page is not None
        if _create_branch(tq, branch, path, page):
            out.committed = out.created_branch = True
            out.lost_races = pages.lost_races - races_before
            return out
        pages.lost_races += 1  # another publisher created the branch: publish on top of it
    raise QueueError(f"queue {tq.spec.name}: publishing to {branch} lost the race {max_races} times in a row; nothing was changed, try again")
