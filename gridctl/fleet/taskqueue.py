"""Git-backed task queues: a folder of a repository whose files are tasks, moved between state
folders by commits whose only lock is the branch ref itself.

    <path>/queue/        waiting; claimed highest priority first, then oldest
    <path>/in_progress/  claimed by a node
    <path>/completed/    finished; the output, when given, is <task_id>.result beside the task
    <path>/failed/
    <path>/nodes/        one file per worker node: <node_id>.json, its registration and heartbeat

Every move is ONE commit through the Git Data API: a tree on the head's tree (the new path
added, the old one deleted with ``sha: null``), a commit whose parent is the head that was
read, then a PATCH of the branch ref *without* force. GitHub refuses that PATCH with 422
"Update is not a fast forward" when anyone moved the branch in between: that is the
compare-and-swap. The loser reads again and retries (bounded, with jitter), so two claimers
can never take the same task and no move is ever lost.

File names carry what choosing a task needs, so a claim never reads the other tasks:
``<task_id>@<YYYYmmddTHHMMSSZ>@p<priority>.json`` — the UTC second the task entered its state
(for queue/: its submission, kept when it is reaped) and its priority. A file a pull request
adds as ``queue/<task_id>.json|.yaml|.yml`` ("bare") is read to learn its priority, sorts
before stamped tasks of the same priority (its age is unknown), and gets a stamped name when
it is claimed. Tasks are stored as JSON; submissions may be JSON or YAML, in gridctl's form
(``timeout``) or D-GRID's (``timeout_seconds``; its ``script`` runs with ``/bin/sh -c``, as
D-GRID's workers run it).

Nodes (``gridctl queue work``, :mod:`.queueworker`): a worker writes ``nodes/<node_id>.json``
(``node_id, hostname, started_at, last_heartbeat, status, tasks_done, tasks_failed,
current_task, current_file``) when it starts, in the same commit as each of its claims and
results, and as a heartbeat while it works or waits. A heartbeat is one
``PUT /repos/{r}/contents/{path}`` carrying the blob SHA the node last wrote: GitHub refuses it
(409) when the file is no longer that blob ("Create or update file contents",
https://docs.github.com/en/rest/repos/contents#create-or-update-file-contents), and the node then
writes through the branch compare-and-swap instead.

Reaping (``orphan_after``): a task in progress whose claim a node file names (``current_file``)
is judged by that node's heartbeat — orphaned once the heartbeat is ``orphan_after`` old, however
young the claim; alive while the node heartbeats, however old the claim. A claim no node file
names (``gridctl queue claim`` from a script) is judged by its age.

API calls: ``ls`` 1 + 1 per node file (+ with ``--tasks``, 1 per task whose node it reads);
``submit`` 5 (any number of files, one commit); ``claim`` 6 — ref, tree, the chosen task's blob,
POST tree, POST commit, PATCH ref — plus 5 per lost race; ``complete``/``fail`` 6; ``reap`` 5 +
one blob per node file and per orphan; a heartbeat 1. Add 1 (``GET /repos/{r}``) when the
queue names no branch. Ages use the local clock (UTC): keep ``orphan_after`` far above the skew
between worker clocks.

Queue commands open one client for the queue's account without gridctl's state lock (see
:func:`open_queue`), so any number of workers on one machine run side by side.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import Diagnostic, GitHubError, GridctlError, ManifestError
from ..manifest.model import Manifest, QueueSpec

if TYPE_CHECKING:  # (the queue kind imports this module: a manifest's load need not import the clients)
    from ..github.client import AccountClient

STATES = ("queue", "in_progress", "completed", "failed")
KEEP = ".gitkeep"
FILE_MODE = "100644"
#: the output of a finished task, beside it: ``<state>/<task_id>.result``
RESULT_SUFFIX = ".result"
MAX_RESULT_BYTES = 25 * 1024 * 1024
#: `gridctl queue claim`: the queue has nothing to claim
EXIT_EMPTY = 3
#: `gridctl queue complete|fail`: the task is not (any more) held by this node
EXIT_NOT_HELD = 4

NODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$")
#: a node with a file (``nodes/<node_id>.json``, ``gridctl queue work``): a portable file name, so no ':'
NODE_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
NODES = "nodes"
#: ``queue ls --tasks`` reads at most this many task files to name their nodes
MAX_TASK_READS = 200
_STAMPED = re.compile(r"^(?P<id>[A-Za-z0-9][A-Za-z0-9_.-]{0,99})@(?P<ts>[0-9]{8}T[0-9]{6}Z)@p(?P<prio>-?[0-9]{1,4})\.json$")
_BARE = re.compile(r"^(?P<id>[A-Za-z0-9][A-Za-z0-9_.-]{0,99})\.(?:json|ya?ml)$")
_STAMP = "%Y%m%dT%H%M%SZ"
_ISO = "%Y-%m-%dT%H:%M:%SZ"


class QueueError(GridctlError):
    """A queue operation cannot be done (exit 1)."""


class TaskNotHeld(QueueError):
    """complete/fail of a task that is not in progress, or held by another node (exit 4)."""

    exit_code = EXIT_NOT_HELD


class InvalidTask(QueueError):
    """A task file in the repository that does not follow the task schema."""


# -- task files -----------------------------------------------------------------------------------


def _schema() -> dict:
    from ..manifest.schema import load_schema

    return load_schema("task.schema.json")


def read_only_fields() -> list[str]:
    """The fields gridctl sets as a task moves (``readOnly`` in the task schema)."""
    return [k for k, v in _schema()["properties"].items() if v.get("readOnly")]


def check_task(data: Any, pos: Any) -> list[Diagnostic]:
    """Every problem of a task to submit, positioned with ``pos`` (a :class:`Positions`):
    schema errors, and the read-only fields only gridctl may set."""
    from ..manifest.schema import translate, validator

    if not isinstance(data, dict):
        return [pos.diag((), "a task file must hold a mapping: task_id, script or command, timeout...")]
    out: list[Diagnostic] = []
    for err in sorted(validator("task.schema.json").iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        for d in translate(err, pos):
            out.append(replace(d, summary=_reword(d.summary), detail=_reword(d.detail)))
    for name in read_only_fields():
        if name in data:
            out.append(pos.diag((name,), f"'{name}' is set by gridctl as the task moves; a submitted task must not have it", key=True))
    unique: dict[tuple, Diagnostic] = {}
    for d in sorted(out, key=lambda d: (d.line or 0, d.col or 0, d.summary)):
        unique.setdefault((d.line, d.col, d.summary), d)
    return list(unique.values())


def _reword(text: str) -> str:
    """The manifest validator's words, said of a task file."""
    for a, b in (("(top level)", "the task"), ("the manifest", "the task"), ("at the top level", "in the task")):
        text = text.replace(a, b)
    return text


def load_task_file(path: Path) -> dict:
    """A task file (JSON or YAML) read and checked; a :class:`ManifestError` carries every
    problem at its ``file:line:col``."""
    from ..manifest.yamlpos import Pos, Positions, YamlLoadError, load_yaml

    display = str(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ManifestError([Diagnostic("error", f"JSON syntax error: {exc.msg}", "", display, exc.lineno, exc.colno)]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError([Diagnostic("error", f"cannot read the task file ({exc.__class__.__name__})", "", display)]) from None
        try:
            _, pos = load_yaml(path, display)  # JSON is YAML: the same loader knows every line
        except YamlLoadError:
            pos = Positions(values={(): Pos(display, 1, 1)})
    else:
        try:
            data, pos = load_yaml(path, display)
        except YamlLoadError as exc:
            raise ManifestError([exc.diagnostic]) from None
    diags = check_task(data, pos)
    if diags:
        raise ManifestError(diags)
    task: dict = data  # check_task passed: the top level is a mapping
    return task


def parse_task(raw: bytes, name: str) -> dict:
    """A task file from the repository, checked against the schema (read-only fields allowed)."""
    from ..manifest.schema import validator

    try:
        text = raw.decode("utf-8")
        if name.endswith((".yaml", ".yml")):
            from ruamel.yaml import YAML

            data = YAML(typ="safe", pure=True).load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # any parse failure makes the file invalid, whatever the parser
        raise InvalidTask(f"not valid {'YAML' if name.endswith(('.yaml', '.yml')) else 'JSON'} ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise InvalidTask("not a mapping")
    errors = sorted(validator("task.schema.json").iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        where = "/".join(map(str, first.absolute_path)) or "task"
        raise InvalidTask(f"{where}: {first.message[:200]}")
    return data


def _dump(task: dict) -> str:
    return json.dumps(task, indent=2, ensure_ascii=False) + "\n"


def _iso(t: float) -> str:
    return time.strftime(_ISO, time.gmtime(t))


#: UTC, to the second: ``2026-01-05T10:15:00Z`` (the times tasks and node files carry)
iso = _iso


def _from_iso(text: Any) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(str(text), _ISO)))
    except (TypeError, ValueError):
        return None


def file_name(task_id: str, t: float, priority: int) -> str:
    return f"{task_id}@{time.strftime(_STAMP, time.gmtime(t))}@p{int(priority)}.json"


def blob_sha(data: bytes) -> str:
    """Git's blob id of ``data`` (what a tree lists), computed without a call."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


# -- what the repository holds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One task file as the tree lists it."""

    state: str
    task_id: str
    name: str  # file name inside its state folder
    path: str  # path in the repository
    sha: str  # blob
    stamp: float | None = None  # None for a bare (pull request) file
    priority: int | None = None

    @property
    def bare(self) -> bool:
        return self.stamp is None


def parse_entry(state: str, name: str, path: str, sha: str) -> Entry | None:
    m = _STAMPED.match(name)
    if m:
        stamp = float(calendar.timegm(time.strptime(m["ts"], _STAMP)))
        return Entry(state, m["id"], name, path, sha, stamp, int(m["prio"]))
    m = _BARE.match(name)
    if m:
        return Entry(state, m["id"], name, path, sha)
    return None


@dataclass
class Snapshot:
    head: str | None  # the commit the branch points at (None: no such branch)
    tree: str | None  # its root tree
    tasks: list[Entry] = field(default_factory=list)
    #: every file of the repository -> blob sha
    files: dict[str, str] = field(default_factory=dict)
    empty_repo: bool = False
    #: node id -> (path, blob sha) of ``nodes/<node_id>.json``
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def in_state(self, state: str) -> list[Entry]:
        return [e for e in self.tasks if e.state == state]

    def find(self, task_id: str) -> list[Entry]:
        return [e for e in self.tasks if e.task_id == task_id]


@dataclass
class _Commit:
    """What one transaction writes: tree entries (``content``, ``sha`` or ``sha: None`` to
    delete), the commit message, and what the operation returns once it lands."""

    entries: list[dict[str, Any]]
    message: str
    result: Any = None


def _text(path: str, content: str) -> dict[str, Any]:
    return {"path": path, "mode": FILE_MODE, "type": "blob", "content": content}


def _delete(path: str) -> dict[str, Any]:
    return {"path": path, "mode": FILE_MODE, "type": "blob", "sha": None}


def _keep(path: str, sha: str) -> dict[str, Any]:
    return {"path": path, "mode": FILE_MODE, "type": "blob", "sha": sha}


def _present(snap: Snapshot, op: _Commit) -> bool:
    """Whether ``snap`` already holds everything ``op`` writes (so it landed)."""
    for e in op.entries:
        have = snap.files.get(e["path"])
        if "content" in e:
            if have != blob_sha(e["content"].encode()):
                return False
        elif e["sha"] is None:
            if have is not None:
                return False
        elif have != e["sha"]:
            return False
    return True


# -- the queue ----------------------------------------------------------------------------------------


class TaskQueue:
    """One queue, driven through one account's client.

    ``backoff`` sleeps a jittered, growing delay between lost races (workers); without it a
    lost race re-reads at once (``gridctl apply``, where kinds never sleep).
    """

    def __init__(self, client: AccountClient, spec: QueueSpec, *, backoff: bool = True, max_races: int = 30,
                 clock: Callable[[], float] = time.time):
        self.client = client
        self.spec = spec
        self.repo = spec.repo
        self.prefix = f"{spec.path_in_repo}/" if spec.path_in_repo else ""
        self.backoff = backoff
        self.max_races = max_races
        self.clock = clock
        self.rng = random.Random()
        #: races lost so far (for measurements)
        self.lost_races = 0
        self._branch = spec.branch
        self._default_branch: str | None = None
        self._blobs: dict[str, bytes] = {}

    # -- reading --------------------------------------------------------------------------------
    @property
    def default_branch(self) -> str:
        if self._default_branch is None:
            data = self.client.get(f"/repos/{self.repo}")
            if data is None:
                raise QueueError(f"queue {self.spec.name}: repository {self.repo} not found (or not visible to account {self.client.account_id})")
            self._default_branch = str(data.get("default_branch") or "main")
        return self._default_branch

    @property
    def branch(self) -> str:
        if self._branch is None:
            self._branch = self.default_branch
        return self._branch

    def where(self) -> str:
        return f"{self.repo}@{self.branch}:{self.prefix.rstrip('/') or '/'}"

    def state_path(self, state: str, name: str) -> str:
        return f"{self.prefix}{state}/{name}"

    def node_path(self, node: str) -> str:
        return f"{self.prefix}{NODES}/{node}.json"

    def snapshot(self, branch: str | None = None) -> Snapshot:
        """The branch head and every file of the queue folder: 2 calls."""
        branch = branch or self.branch
        try:
            ref = self.client.get(f"/repos/{self.repo}/git/ref/heads/{quote(branch)}")
        except GitHubError as exc:
            if exc.status == 409:  # "Git Repository is empty."
                return Snapshot(None, None, empty_repo=True)
            raise
        if not ref:
            return Snapshot(None, None)
        head = ref["object"]["sha"]
        return self._parse(head, self._tree(head))

    def listing(self) -> Snapshot:
        """The queue folder at the branch head in one call (the tree by branch name)."""
        try:
            tree = self._tree(self.branch)
        except GitHubError as exc:
            if exc.status in (404, 409):
                raise QueueError(self._no_branch(exc.status == 409)) from None
            raise
        return self._parse(None, tree)

    def _tree(self, ish: str) -> dict:
        # uncached: trees are read once per head, and a whole tree has no place in the ETag cache
        tree: dict = self.client.raw("GET", f"/repos/{self.repo}/git/trees/{quote(ish)}", params={"recursive": "1"})
        if tree.get("truncated"):
            raise QueueError(
                f"queue {self.spec.name}: {self.repo} has more files than GitHub lists in one tree; "
                f"move old tasks out of {self.prefix}completed/ and {self.prefix}failed/ (or give the queue its own repository)"
            )
        return tree

    def _parse(self, head: str | None, tree: dict) -> Snapshot:
        snap = Snapshot(head, tree.get("sha"))
        for item in tree.get("tree") or []:
            path = item.get("path") or ""
            if item.get("type") != "blob":
                continue
            snap.files[path] = item["sha"]
            if not path.startswith(self.prefix):
                continue
            parts = path[len(self.prefix):].split("/")
            if len(parts) == 2 and parts[0] in STATES:
                e = parse_entry(parts[0], parts[1], path, item["sha"])
                if e is not None:
                    snap.tasks.append(e)
            elif len(parts) == 2 and parts[0] == NODES and parts[1].endswith(".json") and NODE_FILE_RE.match(parts[1][:-5]):
                snap.nodes[parts[1][:-5]] = (path, item["sha"])
        return snap

    def blob(self, sha: str) -> bytes:
        """A blob's bytes (memoized: a blob never changes)."""
        if sha not in self._blobs:
            data = self.client.raw("GET", f"/repos/{self.repo}/git/blobs/{sha}")
            content = str(data.get("content") or "")
            raw = base64.b64decode("".join(content.split())) if data.get("encoding", "base64") == "base64" else content.encode()
            self._blobs[sha] = raw
        return self._blobs[sha]

    def read_task(self, e: Entry) -> dict:
        data = parse_task(self.blob(e.sha), e.name)
        if data.get("task_id") != e.task_id:
            raise InvalidTask(f"task_id {data.get('task_id')!r} does not match the file name {e.name}")
        return data

    def read_nodes(self, snap: Snapshot) -> dict[str, dict]:
        """Every node file of ``snap``, parsed (one blob each, memoized). A file that is not a
        node record reads as ``{"node_id": id, "invalid": why}``: it vouches for no task."""
        out: dict[str, dict] = {}
        for node, (_, sha) in sorted(snap.nodes.items()):
            out[node] = parse_node(self.blob(sha), node)
        return out

    # -- writing --------------------------------------------------------------------------------
    def _land(self, snap: Snapshot, op: _Commit, *, create_branch: str | None = None) -> bool:
        """Tree, commit, then the compare-and-swap on the branch; False when the race was lost."""
        r = self.repo
        body: dict[str, Any] = {"tree": op.entries}
        if snap.tree:
            body["base_tree"] = snap.tree
        # git objects are content-addressed: creating one twice (a retried POST) is harmless
        tree = self.client.raw("POST", f"/repos/{r}/git/trees", body, idempotent=True)
        commit = self.client.raw(
            "POST", f"/repos/{r}/git/commits", {"message": op.message, "tree": tree["sha"], "parents": [snap.head]}, idempotent=True
        )
        try:
            if create_branch:
                self.client.raw("POST", f"/repos/{r}/git/refs", {"ref": f"refs/heads/{create_branch}", "sha": commit["sha"]}, idempotent=True)
            else:
                self.client.raw("PATCH", f"/repos/{r}/git/refs/heads/{quote(self.branch)}", {"sha": commit["sha"], "force": False})
        except GitHubError as exc:
            text = f"{exc.github_message or ''} {exc}".lower()
            if exc.status == 422 and ("fast forward" in text or "already exists" in text):
                return False
            raise
        return True

    def _transact(self, what: str, build: Callable[[Snapshot], _Commit | None], *, bootstrap: bool = False) -> Any:
        """Read, build, land; after a lost race read again and rebuild (bounded).

        A race looks lost when the PATCH's answer was lost and its retry found the branch
        moved on: the next read then shows our files, and the operation is done. ``bootstrap``
        (``gridctl apply``): a missing branch starts from the default branch's head, and an
        empty repository gets its first file through the contents API (the Git Data API
        refuses empty repositories).
        """
        previous: _Commit | None = None
        for attempt in range(self.max_races):
            snap, create = self.snapshot(), None
            if snap.head is None and not snap.empty_repo and bootstrap and self.branch != self.default_branch:
                snap, create = self.snapshot(self.default_branch), self.branch
            if previous is not None and _present(snap, previous):
                return previous.result
            if snap.head is None:
                if not (snap.empty_repo and bootstrap):
                    raise QueueError(self._no_branch(snap.empty_repo))
                self._first_file(build(snap), what)
                continue
            op = build(snap)
            if op is None:
                return None
            if not op.entries or self._land(snap, op, create_branch=create):
                return op.result
            previous = op
            self.lost_races += 1
            if self.backoff:
                time.sleep(self.rng.uniform(0, min(2.0, 0.05 * 2**attempt)))
        raise QueueError(
            f"queue {self.spec.name}: {what} lost the race for {self.where()} {self.max_races} times in a row "
            "(other writers keep moving the branch); nothing was changed, try again"
        )

    def _no_branch(self, empty: bool) -> str:
        why = "is empty" if empty else f"has no branch {self.branch}"
        return f"queue {self.spec.name}: {self.repo} {why}; run gridctl apply to create the queue's layout"

    def _msg(self, text: str) -> str:
        return f"gridctl queue {self.spec.name}: {text}"

    # -- operations -----------------------------------------------------------------------------
    def submit(self, tasks: list[dict]) -> list[str]:
        """Add tasks to queue/ in one commit; refuses a task_id that exists in any state."""
        ids = [t["task_id"] for t in tasks]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise QueueError(f"task_id {', '.join(twice)} is given twice")

        def build(snap: Snapshot) -> _Commit:
            for tid in ids:
                for e in snap.find(tid):
                    raise QueueError(f"task {tid} already exists in {e.state}/ of queue {self.spec.name} ({e.path}); task ids are unique in a queue, in every state, forever")
            now = self.clock()
            entries, paths = [], []
            for t in tasks:
                body = {**t, "submitted_at": _iso(now), "attempts": 0}
                path = self.state_path("queue", file_name(t["task_id"], now, t.get("priority", 0)))
                entries.append(_text(path, _dump(body)))
                paths.append(path)
            shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            return _Commit(entries, self._msg(f"submit {shown}"), paths)

        submitted: list[str] = self._transact("submit", build)
        return submitted

    def status(self) -> dict[str, dict[str, Any]]:
        """Per state: how many tasks, the oldest one's age in seconds, how many have no stamp."""
        return self._states(self.listing(), self.clock())

    def overview(self, *, tasks: bool = False, max_reads: int = MAX_TASK_READS) -> dict[str, Any]:
        """``gridctl queue ls``: the states, the nodes with their heartbeat's age and, with
        ``tasks``, every task with its state, age and node. One listing, one blob per node file;
        with ``tasks`` also the files of the tasks whose node no node file names (in progress
        first, then the most recently finished), at most ``max_reads``."""
        snap = self.listing()
        now = self.clock()
        nodes = []
        for node, rec in self.read_nodes(snap).items():
            beat = _from_iso(rec.get("last_heartbeat"))
            age = max(0.0, now - beat) if beat is not None else None
            nodes.append({**rec, "node_id": node, "heartbeat_age": age,
                          "silent": age is None or age >= self.spec.orphan_after})
        out: dict[str, Any] = {"states": self._states(snap, now), "nodes": nodes}
        if tasks:
            out["tasks"] = self._task_rows(snap, nodes, now, max_reads)
        return out

    def _task_rows(self, snap: Snapshot, nodes: list[dict], now: float, max_reads: int) -> list[dict[str, Any]]:
        holder = {str(n["current_file"]): n["node_id"] for n in nodes if isinstance(n.get("current_file"), str)}
        unknown = [e for e in snap.tasks if e.state != "queue" and not (e.state == "in_progress" and e.name in holder)]
        unknown.sort(key=lambda e: (e.state != "in_progress", -(e.stamp or 0.0), e.task_id))
        read: dict[str, str | None] = {}
        for e in unknown[: max(0, max_reads)]:
            try:
                task = self.read_task(e)
            except InvalidTask:
                read[e.path] = None
                continue
            res = task["result"] if isinstance(task.get("result"), dict) else {}
            who = task.get("claimed_by") if e.state == "in_progress" else (res.get("finished_by") or task.get("claimed_by"))
            read[e.path] = who if isinstance(who, str) else None
        rows = []
        for e in sorted(snap.tasks, key=lambda e: (STATES.index(e.state), e.stamp or 0.0, e.task_id)):
            known = e.state == "queue" or (e.state == "in_progress" and e.name in holder) or e.path in read
            node = holder.get(e.name) if e.state == "in_progress" and e.name in holder else read.get(e.path)
            rows.append({
                "task_id": e.task_id, "state": e.state, "priority": e.priority,
                "age": max(0.0, now - e.stamp) if e.stamp is not None else None,
                "node": node, "node_known": known,
            })
        return rows

    def _states(self, snap: Snapshot, now: float) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for s in STATES:
            tasks = snap.in_state(s)
            stamps = [e.stamp for e in tasks if e.stamp is not None]
            out[s] = {
                "count": len(tasks),
                "oldest_age": max(0.0, now - min(stamps)) if stamps else None,
                "unstamped": sum(1 for e in tasks if e.bare),
            }
        return out

    def claim(self, node: str, record: dict | None = None) -> dict | None:
        """Move the best task queue/ -> in_progress/ for ``node``; None when there is none.

        A queued file that is not a valid task (a pull request that skipped validation) is
        moved to failed/ with the reason, in the same commit, and the next task is taken.
        With ``record`` (a node's record, ``gridctl queue work``) the same commit writes
        ``nodes/<node>.json`` as :func:`holding` makes it: the node holds the task from the
        instant it claims it.
        """
        _check_node(node)
        if record is not None:
            check_node_file(node)

        def build(snap: Snapshot) -> _Commit | None:
            now = self.clock()
            invalid: list[tuple[Entry, str]] = []
            for e in self._ordered(snap):
                try:
                    task = self._valid(snap, e)
                except InvalidTask as exc:
                    invalid.append((e, str(exc)))
                    continue
                body = {**task, "claimed_by": node, "claimed_at": _iso(now)}
                body.setdefault("attempts", 0)
                target = self.state_path("in_progress", file_name(e.task_id, now, task.get("priority", 0)))
                entries = [_text(target, _dump(body)), _delete(e.path), *self._fail_invalid(invalid, now)]
                if record is not None:
                    entries.append(_text(self.node_path(node), _dump(holding(record, body))))
                return _Commit(entries, self._msg(f"claim {e.task_id} for {node}"), body)
            if invalid:
                return _Commit(self._fail_invalid(invalid, now), self._msg("move invalid task files to failed/"), None)
            return None

        claimed: dict | None = self._transact("claim", build)
        return claimed

    def finish(self, task_id: str, outcome: str, result: bytes | None = None, node: str | None = None, *,
               extra: dict[str, Any] | None = None, record: dict | None = None) -> dict:
        """Move an in-progress task to completed/ or failed/, with ``result`` as its sibling
        ``<task_id>.result`` (recorded in the task by size and SHA-256, never copied into it).
        ``extra``: more fields of the task's ``result`` (exit_code, status...); ``record``: the
        node's record, written as is in the same commit (``gridctl queue work``)."""
        assert outcome in ("completed", "failed")
        if node is not None:
            _check_node(node)
        if record is not None:
            check_node_file(str(record.get("node_id")))
        ref: dict[str, Any] = {}
        if result is not None:
            if len(result) > MAX_RESULT_BYTES:
                raise QueueError(f"the result is {len(result)} bytes; a result may have at most {MAX_RESULT_BYTES} (keep large outputs elsewhere and put a link in the result)")
            try:
                ref = {"content": result.decode("utf-8")}
            except UnicodeDecodeError:  # binary: a blob of its own (once, whatever the races)
                blob = self.client.raw("POST", f"/repos/{self.repo}/git/blobs", {"content": base64.b64encode(result).decode(), "encoding": "base64"}, idempotent=True)
                ref = {"sha": blob["sha"]}

        def build(snap: Snapshot) -> _Commit:
            found = snap.find(task_id)
            if not found:
                raise QueueError(f"queue {self.spec.name} has no task {task_id}")
            e = next((x for x in found if x.state == "in_progress"), None)
            if e is None:
                where = ", ".join(f"{x.state}/" for x in found)
                raise TaskNotHeld(f"task {task_id} is in {where}, not in_progress/ (reaped back to the queue, or already finished); nothing was recorded")
            try:
                task = self.read_task(e)
            except InvalidTask as exc:
                raise QueueError(f"{e.path} is not a valid task file ({exc})") from None
            holder = task.get("claimed_by")
            if node is not None and holder != node:
                raise TaskNotHeld(f"task {task_id} is held by {holder}, not by {node}; nothing was recorded")
            now = self.clock()
            res: dict[str, Any] = {"outcome": outcome, "finished_at": _iso(now), "finished_by": node, **(extra or {})}
            entries = []
            if result is not None:
                name = f"{task_id}{RESULT_SUFFIX}"
                res.update(file=name, size=len(result), sha256=hashlib.sha256(result).hexdigest())
                entries.append({"path": self.state_path(outcome, name), "mode": FILE_MODE, "type": "blob", **ref})
            body = {**task, "result": res}
            target = self.state_path(outcome, file_name(task_id, now, task.get("priority", 0)))
            entries += [_text(target, _dump(body)), _delete(e.path)]
            if record is not None:
                entries.append(_text(self.node_path(str(record["node_id"])), _dump(record)))
            verb = "complete" if outcome == "completed" else "fail"
            return _Commit(entries, self._msg(f"{verb} {task_id}" + (f" ({node})" if node else "")), body)

        finished: dict = self._transact(outcome, build)
        return finished

    def reap(self) -> list[tuple[str, str, str]]:
        """Orphaned tasks go back to the queue (attempts + 1), or to failed/ once
        ``max_attempts`` claims were abandoned. One commit; returns ``[(task_id, new state, why)]``.

        A claim a node file names (``current_file``) is orphaned when that node's heartbeat is
        ``orphan_after`` old or older, whatever the claim's age; while the node heartbeats it is
        alive, whatever its age. A claim no node file names is orphaned at ``orphan_after``.
        """
        limit = self.spec.orphan_after

        def orphaned(e: Entry, beats: dict[str, list[tuple[str, float | None]]], now: float) -> str | None:
            held = beats.get(e.name)
            if held:
                if any(b is not None and now - b < limit for _, b in held):
                    return None
                return f"node {held[0][0]} sent no heartbeat for orphan_after ({int(limit)}s)"
            if e.stamp is not None and now - e.stamp < limit:
                return None
            return f"in progress for orphan_after ({int(limit)}s)"

        def build(snap: Snapshot) -> _Commit:
            now = self.clock()
            beats: dict[str, list[tuple[str, float | None]]] = {}
            for node, rec in self.read_nodes(snap).items():
                if isinstance(rec.get("current_file"), str):
                    beats.setdefault(rec["current_file"], []).append((node, _from_iso(rec.get("last_heartbeat"))))
            entries: list[dict[str, Any]] = []
            moved: list[tuple[str, str, str]] = []
            invalid: list[tuple[Entry, str]] = []
            for e in sorted(snap.in_state("in_progress"), key=lambda x: (x.stamp or 0.0, x.task_id)):
                why = orphaned(e, beats, now)
                if why is None:
                    continue
                try:
                    task = self.read_task(e)
                except InvalidTask as exc:
                    invalid.append((e, str(exc)))
                    moved.append((e.task_id, "failed", str(exc)))
                    continue
                attempts = int(task.get("attempts") or 0) + 1
                body = {**task, "attempts": attempts, "claimed_by": None, "claimed_at": None}
                prio = task.get("priority", 0)
                cap = task.get("max_attempts")
                if cap and attempts >= cap:
                    body["result"] = {
                        "outcome": "failed",
                        "finished_at": _iso(now),
                        "finished_by": None,
                        "reason": f"abandoned {attempts} time(s) (last: {why}); max_attempts is {cap}",
                    }
                    state, since = "failed", now
                else:
                    state, since = "queue", _from_iso(task.get("submitted_at")) or now
                entries += [_text(self.state_path(state, file_name(e.task_id, since, prio)), _dump(body)), _delete(e.path)]
                moved.append((e.task_id, state, why))
            entries += self._fail_invalid(invalid, now)
            shown = ", ".join(t for t, _, _ in moved[:5]) + (f" and {len(moved) - 5} more" if len(moved) > 5 else "")
            return _Commit(entries, self._msg(f"reap {shown}"), moved)

        return self._transact("reap", build) or []

    def edit(self, what: str, build: Callable[[Snapshot], dict[str, str | None]], *, bootstrap: bool = False) -> bool:
        """One commit of files (``path -> text``, or None to delete) computed from the current
        snapshot; nothing (False) when ``build`` returns nothing. For ``gridctl apply``."""

        def op(snap: Snapshot) -> _Commit:
            changes = build(snap)
            entries = [_delete(p) if text is None else _text(p, text) for p, text in sorted(changes.items())]
            return _Commit(entries, self._msg(what), bool(entries))

        return bool(self._transact(what, op, bootstrap=bootstrap))

    def write_node(self, record: dict, known_sha: str | None = None) -> str:
        """Write ``nodes/<node_id>.json`` (registration, heartbeat, stop); returns its blob SHA.

        With ``known_sha`` (the blob this node last wrote) one contents-API PUT, refused by
        GitHub when the file is another blob by now; then, or without it, one commit through
        the compare-and-swap on the branch.
        """
        node = str(record.get("node_id"))
        check_node_file(node)
        path, text = self.node_path(node), _dump(record)
        sha = blob_sha(text.encode())
        if known_sha:
            body = {"message": self._msg(f"heartbeat {node}"), "content": base64.b64encode(text.encode()).decode(),
                    "sha": known_sha, "branch": self.branch}
            try:
                self.client.raw("PUT", f"/repos/{self.repo}/contents/{quote(path)}", body)
                return sha
            except GitHubError as exc:
                if exc.status not in (409, 422):
                    raise

        def build(snap: Snapshot) -> _Commit:
            if snap.files.get(path) == sha:
                return _Commit([], "", sha)
            return _Commit([_text(path, text)], self._msg(f"node {node}: {record.get('status') or 'heartbeat'}"), sha)

        written: str = self._transact("node", build)
        return written

    def _first_file(self, op: _Commit | None, what: str) -> None:
        first = next((e for e in (op.entries if op else []) if "content" in e), None)
        if first is None:
            raise QueueError(self._no_branch(True))
        self.client.raw(
            "PUT",
            f"/repos/{self.repo}/contents/{quote(first['path'])}",
            {"message": self._msg(f"{what} (first commit)"), "content": base64.b64encode(first["content"].encode()).decode()},
        )  # on the default branch; a queue on another branch then starts from it

    # -- helpers --------------------------------------------------------------------------------
    def _ordered(self, snap: Snapshot) -> list[Entry]:
        """Queued tasks, best first: highest priority, then oldest (bare files first), then id.
        A bare file is read to learn its priority; an invalid one sorts first, to be cleared."""

        def key(e: Entry) -> tuple:
            if not e.bare:
                return (-(e.priority or 0), 0, e.stamp, e.task_id)
            try:
                prio = int(self._valid(snap, e).get("priority", 0))
            except InvalidTask:
                return (-(10**6), 0, 0.0, e.task_id)
            return (-prio, -1, 0.0, e.task_id)

        return sorted(snap.in_state("queue"), key=key)

    def _valid(self, snap: Snapshot, e: Entry) -> dict:
        task = self.read_task(e)
        if e.bare:
            others = [x for x in snap.find(e.task_id) if x.path != e.path]
            if others:
                raise InvalidTask(f"task {e.task_id} already exists in {others[0].state}/ ({others[0].path})")
        return task

    def _fail_invalid(self, invalid: list[tuple[Entry, str]], now: float) -> list[dict[str, Any]]:
        """Invalid files go to failed/ unchanged, with the reason as ``<task_id>.result``."""
        out: list[dict[str, Any]] = []
        for e, why in invalid:
            out += [
                _keep(self.state_path("failed", e.name), e.sha),
                _delete(e.path),
                _text(self.state_path("failed", f"{e.task_id}{RESULT_SUFFIX}"), f"gridctl: invalid task file {e.path}: {why}\n"),
            ]
        return out


def check_node_file(node: str) -> None:
    """A node that writes ``nodes/<node>.json``: its id is also a portable file name."""
    if not NODE_FILE_RE.match(node or ""):
        raise QueueError(f"node id {node!r} is not valid for a node file: letters, digits, '_', '.', '@' and '-', starting with a letter or digit (at most 100)")


def holding(record: dict, task: dict | None) -> dict:
    """A node's record once it claimed ``task`` (the claimed task's body: the same fields the
    claim commit wrote), or holding nothing."""
    if task is None:
        return {**record, "current_task": None, "current_file": None}
    at = str(task["claimed_at"])
    when = _from_iso(at)
    assert when is not None
    name = file_name(str(task["task_id"]), when, int(task.get("priority", 0)))
    return {**record, "current_task": task["task_id"], "current_file": name, "last_heartbeat": at, "status": "running"}


def parse_node(raw: bytes, node: str) -> dict:
    """A node file's record; ``{"node_id", "invalid": why}`` when it is not one."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"node_id": node, "invalid": "not JSON"}
    if not isinstance(data, dict):
        return {"node_id": node, "invalid": "not a JSON object"}
    if data.get("node_id") != node:
        return {"node_id": node, "invalid": "its node_id is not its file name"}
    return data


def _check_node(node: str) -> None:
    if not NODE_RE.match(node or ""):
        raise QueueError(f"node id {node!r} is not valid: letters, digits, '_', '.', ':', '@' and '-', starting with a letter or digit (at most 100)")


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


# -- connecting -------------------------------------------------------------------------------------


def find_queue(m: Manifest, name: str) -> QueueSpec:
    spec = m.queues.get(name)
    if spec is None:
        known = ", ".join(sorted(m.queues)) or "none declared"
        raise QueueError(f"{m.file}: no queue named {name!r} (queues: {known})")
    return spec
