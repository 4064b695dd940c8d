"""Shared state in a GitHub repository: ``state: {backend: github, repo: OWNER/NAME}``.

    state:
      backend: github
      repo: acme/gridctl-state     # a private repository
      path: gridctl/state.json     # the default
      branch: main                 # default: the repository's default branch
      account: ops                 # default: the account managing that repo, else its owner's

The state file is the JSON :class:`~gridctl.state.local.LocalBackend` writes (addresses, ids, HMAC
fingerprints — never a secret value). Every update is a compare-and-swap commit through the Git
Data API, as its own client would do it with git: a blob, a tree on the head's tree, a commit
whose parent is the head that was read, then a *non-forced* ``PATCH`` of the branch. When the
branch moved in between GitHub answers 422 "Update is not a fast forward": gridctl re-reads the
file and

* when the state file itself did not change (another file of the branch did), commits again on
  the new head;
* when it changed, merges if that is safe — the same lineage, and the addresses the other
  writer changed are not ones this run changed differently — and commits the merge with the
  next serial;
* otherwise stops with an error and overwrites nothing (the run's updates stay in its journal
  and are replayed by the next run from the same working folder; objects that exist and are
  declared are adopted by a later plan anyway).

It never force-pushes. A run that changed nothing commits nothing.

**The lock** is a ref, ``refs/gridctl/lock/<branch>-<path>``, created with ``POST /git/refs``,
which GitHub does atomically (a second create answers 422 "Reference already exists"). It
points at an orphan commit whose message holds who/when/run id/operation (as JSON after the
first line). It is deleted at the end of the run, also on errors; a run killed hard leaves it,
and ``gridctl state unlock --force`` breaks it. Read-only operations (``plan``, ``runners
status``) do not lock: they read the state as last committed (a consistent snapshot) and warn
when a lock is held, so plans of pull requests never queue behind each other or behind an apply.
A held lock stops the run at once (no waiting; serialize CI applies with a concurrency group).
GitHub cannot delete a ref conditionally, so a run checks that the ref still points at its own
lock commit before deleting it: after an ``unlock --force`` it leaves the next holder's lock alone.

An empty repository has no object database for the Git Data API (409): the first run that locks
gives it its first commit (an empty state file) with the contents API. A ``branch`` that does not
exist yet is created as an orphan branch holding only the state, by creating its ref (atomic too).

**The fingerprint key** (``GRIDCTL_FINGERPRINT_KEY``, or ``.gridctl/fingerprint.key``) never
goes to the state repository. In CI set ``GRIDCTL_FINGERPRINT_KEY`` from a secret, the same
value on every machine that plans or applies, or every secret would plan as changed.

Calls: a read is ``GET /repos/{o}/{r}`` + ``GET …/git/ref/heads/{branch}`` + ``GET
…/contents/{path}?ref={head}`` (conditional requests: unchanged answers cost no rate-limit point);
a plan adds ``GET …/git/ref/gridctl/lock/…`` (to warn about a held lock). Taking the lock is three
writes (tree, commit, ref), releasing it a read and a delete; a state write that changes something
is ``GET …/git/commits/{head}`` (the base tree) and four writes (blob, tree, commit, ref).
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..errors import GitHubError, GridctlError, StateLockedError
from .local import READ_ONLY_OPERATIONS, STATE_FORMAT, State

DEFAULT_PATH = "gridctl/state.json"
LOCK_NAMESPACE = "refs/gridctl/lock/"
#: commit attempts of one state write (each non-fast-forward re-reads and merges once)
MAX_ATTEMPTS = 5
UNLOCK_HINT = "gridctl state unlock --force to break a stale lock"
HISTORY_FIX = "restore an earlier version from the repository's history"


class _Moved(Exception):
    """The branch moved since it was read (the compare-and-swap lost)."""


@dataclass
class Snapshot:
    """The state file as read at one commit of the branch."""

    head: str | None  # the branch's head commit (None: no branch yet, or an empty repository)
    blob: str | None  # the state file's blob SHA at head (None: no state file yet)
    data: dict[str, Any] | None  # the parsed file
    tree: str | None = None  # head's tree SHA, fetched when a write needs it


@dataclass
class LockInfo:
    """Who holds the lock (what the lock commit's message says)."""

    sha: str
    run_id: str = "?"
    operation: str = "?"
    host: str = "?"
    pid: int | None = None
    user: str = "?"
    since: str = "?"

    def describe(self) -> str:
        return f"run {self.run_id} ({self.operation}) on host {self.host} since {self.since}{_age(self.since)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "operation": self.operation,
            "host": self.host,
            "pid": self.pid,
            "user": self.user,
            "since": self.since,
            "commit": self.sha,
        }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _age(since: str) -> str:
    try:
        then = calendar.timegm(time.strptime(since, "%Y-%m-%dT%H:%M:%SZ"))
    except (ValueError, OverflowError):
        return ""
    secs = max(0, int(time.time() - then))
    if secs < 120:
        return f" ({secs}s ago)"
    if secs < 7200:
        return f" ({secs // 60} min ago)"
    return f" ({secs // 3600} h ago)"


def _slug(text: str) -> str:
    """A ref-name-safe component (no dots, so never ``..``, ``.lock`` or a trailing dot)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "state"


def state_account(manifest: Any, spec: Any) -> str:
    """The account that reads and writes the state repository."""
    if spec.account:
        return str(spec.account)
    declared = manifest.repo(spec.repo)
    if declared is not None:
        return str(declared.account)
    owner = spec.repo.split("/", 1)[0]
    acc = manifest.account_for_owner(owner)
    if acc is not None:
        return str(acc.id)
    raise GridctlError(
        f"state: no account of the manifest reaches {spec.repo} (it is not declared and no account's login is {owner}); "
        f"set state.account to one of: {', '.join(sorted(manifest.accounts))}"
    )


def token_scopes(manifest: Any) -> list[tuple[str, str, str]]:
    """The state repository is private and written through the Git Data API: its account's
    token needs the ``repo`` scope."""
    spec = manifest.state
    if spec.backend != "github" or not spec.repo:
        return []
    try:
        account = state_account(manifest, spec)
    except GridctlError:
        return []
    return [(account, "repo", "state (backend github)")]


def _check_path(path: str) -> str:
    path = path.strip()
    parts = path.split("/")
    if not path or path.startswith("/") or path.endswith("/") or any(p in ("", ".", "..", ".git") for p in parts):
        raise GridctlError(f"state.path {path!r} is not a file path inside the repository (e.g. gridctl/state.json)")
    if path.startswith(".github/workflows/"):
        raise GridctlError(f"state.path {path!r}: keep the state out of .github/workflows/")
    return path


class GitHubBackend:
    """The state as a file in a GitHub repository, with a ref as its lock (see the module doc)."""

    def __init__(self, session: Any, spec: Any):
        if not spec.repo or spec.repo.count("/") != 1:
            raise GridctlError(f"state.repo {spec.repo!r} must be OWNER/NAME")
        self.spec = spec
        self.full_name = spec.repo
        self.owner, self.name = spec.repo.split("/")
        self.path = _check_path(spec.path or DEFAULT_PATH)
        self.account = state_account(session.manifest, spec)
        if self.account not in session.clients:
            raise GridctlError(f"state.account {self.account!r}: no such account in the manifest")
        self.client = session.clients[self.account]
        acc = session.manifest.accounts.get(self.account)
        self.login = getattr(acc, "login", self.account)
        self._say = session.say
        self.api = f"/repos/{quote(self.owner)}/{quote(self.name)}"
        self.branch: str | None = spec.branch
        self.private: bool | None = None
        self._checked = False
        self._empty = False
        self._base: Snapshot | None = None
        self._run = ("?", "?")
        #: set by :meth:`lock` for a read-only operation: who holds the lock it did not take
        self.busy: str | None = None
        self.merges = 0  # merges made by write() (for tests and messages)

    # -- where ----------------------------------------------------------------------------------------
    def describe(self) -> str:
        return f"{self.full_name}:{self.path} (branch {self.branch or 'default'})"

    @property
    def lock_ref(self) -> str:
        self._repo()
        return LOCK_NAMESPACE + _slug(f"{self.branch}-{self.path}")

    def _ref_url(self, full_ref: str) -> str:
        return f"{self.api}/git/refs/{quote(full_ref[len('refs/') :], safe='/')}"

    def _get_ref_url(self, full_ref: str) -> str:
        return f"{self.api}/git/ref/{quote(full_ref[len('refs/') :], safe='/')}"

    def _repo(self) -> None:
        """Check the repository once per run: it exists, and which branch holds the state."""
        if self._checked:
            return
        data = self.client.get(self.api)
        if data is None:
            raise GridctlError(
                f"the state repository {self.full_name} was not found, or account {self.account}'s token cannot see it "
                "(a private repository needs the repo scope); create it (private) first"
            )
        self.private = bool(data.get("private"))
        if not self.private:
            self._say(
                "warning",
                f"the state repository {self.full_name} is public: anyone can read what gridctl manages; make it private",
            )
        self.branch = self.spec.branch or data.get("default_branch") or "main"
        self._checked = True

    # -- reading --------------------------------------------------------------------------------------
    def _head(self) -> str | None:
        """The branch's head commit; None when the branch (or any commit) does not exist yet."""
        try:
            ref = self.client.get(self._get_ref_url(f"refs/heads/{self.branch}"))
        except GitHubError as exc:
            if exc.status == 409:  # "Git Repository is empty."
                self._empty = True
                return None
            raise
        self._empty = False
        if ref is None:
            return None
        if isinstance(ref, list) or not isinstance(ref.get("object"), dict):
            raise GridctlError(f"{self.describe()}: the branch ref did not resolve to a single commit")
        return str(ref["object"]["sha"])

    def _snapshot(self) -> Snapshot:
        self._repo()
        head = self._head()
        if head is None:
            return Snapshot(None, None, None)
        item = self.client.get(f"{self.api}/contents/{quote(self.path)}", params={"ref": head})
        if item is None:
            return Snapshot(head, None, None)
        if isinstance(item, list) or item.get("type") != "file":
            raise GridctlError(
                f"{self.describe()}: {self.path} is a {'directory' if isinstance(item, list) else item.get('type')}, not a file"
            )
        blob = str(item["sha"])
        if item.get("encoding") == "base64" and item.get("content"):
            raw = base64.b64decode(item["content"])
        else:  # over 1 MB the contents API leaves the content out: read the blob
            got = self.client.get(f"{self.api}/git/blobs/{blob}", missing_ok=False)
            raw = base64.b64decode(got["content"]) if got.get("encoding") == "base64" else str(got["content"]).encode()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise GridctlError(
                f"{self.describe()} is not valid JSON ({exc}) at commit {head[:12]}; restore an earlier version from the repository's history"
            ) from None
        if not isinstance(data, dict):
            raise GridctlError(f"{self.describe()} at commit {head[:12]} is not a gridctl state (not a JSON object)")
        State.from_json(data, f"{self.describe()} at commit {head[:12]}", HISTORY_FIX)  # checks it matches the state schema
        return Snapshot(head, blob, data)

    def read(self) -> State:
        snap = self._snapshot()
        self._base = snap
        if snap.data is None:
            return State()
        return State.from_json(snap.data, self.describe(), HISTORY_FIX)

    def location(self) -> dict[str, Any]:
        """Where the state lives and the commit last read (for ``gridctl state show``)."""
        self._repo()
        base = self._base
        return {
            "backend": "github",
            "repo": self.full_name,
            "path": self.path,
            "branch": self.branch,
            "account": self.account,
            "private": self.private,
            "commit": base.head if base else None,
            "lock_ref": self.lock_ref,
        }

    # -- writing --------------------------------------------------------------------------------------
    def write(self, state: State) -> None:
        """Commit ``state`` (compare-and-swap on the branch; merge or refuse when it moved)."""
        base = self._base if self._base is not None else self._snapshot()
        for _attempt in range(MAX_ATTEMPTS):
            if _same(state, base.data):
                self._base = base
                return  # nothing changed: no commit (and the serial stays)
            serial = max(state.serial, int(base.data.get("serial", 0)) if base.data else 0) + 1
            doc = {**state.to_json(), "serial": serial}
            text = json.dumps(doc, indent=1, sort_keys=False) + "\n"
            try:
                self._base = self._commit(base, text, serial)
            except _Moved:
                remote = self._snapshot()
                self._merge(state, base, remote)
                base = remote
                continue
            state.serial = serial
            return
        raise GridctlError(
            f"could not commit the state to {self.describe()}: the branch kept moving ({MAX_ATTEMPTS} attempts); nothing was "
            "overwritten. This run's updates stay in its journal and the next run from this working folder replays them."
        )

    def _merge(self, state: State, base: Snapshot, remote: Snapshot) -> None:
        """Fold another writer's commit into ``state``, or refuse (never a lost update)."""
        where = self.describe()
        at = f"commit {remote.head[:12]}" if remote.head else "a deleted branch"
        if remote.blob == base.blob:
            # another file of the branch changed: commit again on the new head
            self._say("state", f"the branch {self.branch} of {self.full_name} moved ({at}); committing again on it")
            return
        keep = (
            "nothing was overwritten. This run's updates stay in its journal (the next run from this working folder replays "
            "them onto the state); a later plan adopts what exists and is declared."
        )
        if remote.data is None:
            raise GridctlError(f"the state file {where} was deleted by another writer ({at}) during this run; {keep}")
        r_lineage = str(remote.data.get("lineage"))
        if base.data is not None and r_lineage != str(base.data.get("lineage")):
            raise GridctlError(
                f"the state {where} was replaced by another writer ({at}) with a different lineage ({r_lineage}, not "
                f"{base.data.get('lineage')}); refusing to merge two different states: {keep}"
            )
        base_res: dict[str, Any] = dict(base.data.get("resources", {})) if base.data else {}
        theirs: dict[str, Any] = dict(remote.data.get("resources", {}))
        ours_delta = {
            a: state.resources.get(a)
            for a in set(base_res) | set(state.resources)
            if state.resources.get(a) != base_res.get(a)
        }
        theirs_changed = {a for a in set(base_res) | set(theirs) if theirs.get(a) != base_res.get(a)}
        conflicts = sorted(a for a, entry in ours_delta.items() if a in theirs_changed and theirs.get(a) != entry)
        if conflicts:
            shown = ", ".join(conflicts[:5]) + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
            raise GridctlError(
                f"the state {where} changed during this run ({at}) at address(es) this run also changed: {shown}; {keep}"
            )
        merged = dict(theirs)
        for address, entry in ours_delta.items():
            if entry is None:
                merged.pop(address, None)
            else:
                merged[address] = entry
        state.resources = merged
        state.lineage = r_lineage
        state.serial = max(state.serial, int(remote.data.get("serial", 0)))
        self.merges += 1
        self._say(
            "state",
            f"merged a concurrent update of {where} ({at}): {len(theirs_changed)} address(es) from the other writer, {len(ours_delta)} from this run",
        )

    def _tree_of(self, snap: Snapshot) -> str:
        if snap.tree is None:
            assert snap.head is not None
            commit = self.client.get(f"{self.api}/git/commits/{snap.head}", missing_ok=False)
            snap.tree = str(commit["tree"]["sha"])
        return snap.tree

    def _commit(self, base: Snapshot, text: str, serial: int) -> Snapshot:
        """blob -> tree on base's tree -> commit (parent: base's head) -> move the branch without force."""
        if base.head is None and self._empty:
            return self._bootstrap(text, serial)
        run_id, operation = self._run
        blob = self.client.raw(
            "POST", f"{self.api}/git/blobs", {"content": text, "encoding": "utf-8"}, idempotent=True
        )["sha"]
        body: dict[str, Any] = {"tree": [{"path": self.path, "mode": "100644", "type": "blob", "sha": blob}]}
        if base.head is not None:
            body["base_tree"] = self._tree_of(base)
        tree = self.client.raw("POST", f"{self.api}/git/trees", body, idempotent=True)["sha"]
        message = f"gridctl: state serial {serial} (run {run_id}, {operation})"
        parents = [base.head] if base.head else []
        commit = self.client.raw(
            "POST", f"{self.api}/git/commits", {"message": message, "tree": tree, "parents": parents}, idempotent=True
        )["sha"]
        branch_ref = f"refs/heads/{self.branch}"
        try:
            if base.head is not None:
                self.client.raw("PATCH", self._ref_url(branch_ref), {"sha": commit, "force": False})
            else:
                self.client.raw(
                    "POST",
                    f"{self.api}/git/refs",
                    {"ref": branch_ref, "sha": commit},
                    verify=lambda: self._points_at(branch_ref, commit),
                )
        except GitHubError as exc:
            msg = (exc.github_message or str(exc)).lower()
            if exc.status == 422 and ("fast forward" in msg or "already exists" in msg or "does not exist" in msg):
                raise _Moved() from None
            raise GridctlError(
                f"could not move {self.full_name} branch {self.branch} to the new state commit: {exc}"
            ) from None
        return Snapshot(commit, blob, json.loads(text), tree)

    def _points_at(self, full_ref: str, sha: str) -> Any:
        """For a retried ref create: did the first attempt (whose answer was lost) land?"""
        try:
            ref = self.client.raw("GET", self._get_ref_url(full_ref))
        except GitHubError:
            return None
        return ref if isinstance(ref, dict) and (ref.get("object") or {}).get("sha") == sha else None

    def _bootstrap(self, text: str, serial: int) -> Snapshot:
        """An empty repository has no object database for the Git Data API yet: create the
        first commit with the contents API (it refuses if someone created the file first)."""
        run_id, operation = self._run
        body = {
            "message": f"gridctl: state serial {serial} (run {run_id}, {operation})",
            "content": base64.b64encode(text.encode()).decode(),
            "branch": self.branch,
        }
        try:
            out = self.client.raw("PUT", f"{self.api}/contents/{quote(self.path)}", body)
        except GitHubError as exc:
            if exc.status in (409, 422):
                raise _Moved() from None
            raise
        return Snapshot(
            str(out["commit"]["sha"]), str(out["content"]["sha"]), json.loads(text), str(out["commit"]["tree"]["sha"])
        )

    # -- the lock -------------------------------------------------------------------------------------
    def _lock_sha(self) -> str | None:
        """The lock commit the lock ref points at (None: not locked)."""
        try:
            ref = self.client.get(self._get_ref_url(self.lock_ref))
        except GitHubError as exc:
            if exc.status == 409:  # an empty repository holds no lock
                return None
            raise
        if ref is None or isinstance(ref, list):
            return None
        return str(ref["object"]["sha"])

    def holder(self) -> LockInfo | None:
        """Who holds the lock now (None: free)."""
        sha = self._lock_sha()
        if sha is None:
            return None
        info = LockInfo(sha)
        commit = self.client.get(f"{self.api}/git/commits/{sha}")
        message = str((commit or {}).get("message") or "")
        _, _, body = message.partition("\n\n")
        try:
            meta = json.loads(body)
        except ValueError:
            meta = {}
        if isinstance(meta, dict):
            for key in ("run_id", "operation", "host", "user", "since"):
                if meta.get(key):
                    setattr(info, key, str(meta[key]))
            if isinstance(meta.get("pid"), int):
                info.pid = meta["pid"]
        return info

    def _locked_error(self, info: LockInfo) -> StateLockedError:
        return StateLockedError(
            f"state locked by {info.describe()}; {UNLOCK_HINT}\n    (lock {self.lock_ref} in {self.full_name}, taken by {info.user})"
        )

    @contextlib.contextmanager
    def lock(self, run_id: str, operation: str) -> Iterator[None]:
        self._run = (run_id, operation)
        self._repo()
        if operation in READ_ONLY_OPERATIONS:
            info = self.holder()
            self.busy = info.describe() if info is not None else None  # the session says so
            yield
            return
        mine = self._acquire(run_id, operation)
        try:
            yield
        finally:
            self._release(mine)

    def _lock_commit(self, meta: dict[str, Any]) -> str:
        """An orphan commit describing the lock (its tree holds the same JSON as lock.json)."""
        text = json.dumps(meta, indent=1, sort_keys=True) + "\n"
        body = {"tree": [{"path": "lock.json", "mode": "100644", "type": "blob", "content": text}]}
        try:
            tree = self.client.raw("POST", f"{self.api}/git/trees", body, idempotent=True)["sha"]
        except GitHubError as exc:
            if exc.status != 409:  # "Git Repository is empty."
                raise
            self._bootstrap_empty()
            tree = self.client.raw("POST", f"{self.api}/git/trees", body, idempotent=True)["sha"]
        summary = f"gridctl state lock: run {meta['run_id']} ({meta['operation']}) on host {meta['host']} since {meta['since']}"
        commit = self.client.raw(
            "POST",
            f"{self.api}/git/commits",
            {"message": f"{summary}\n\n{text}", "tree": tree, "parents": []},
            idempotent=True,
        )
        return str(commit["sha"])

    def _bootstrap_empty(self) -> None:
        """Give an empty repository its first commit (an empty state file) so refs can exist."""
        text = json.dumps(State().to_json(), indent=1) + "\n"
        with contextlib.suppress(_Moved):
            self._bootstrap(text, 0)
        self._say("state", f"initialized the empty repository {self.full_name} with {self.path}")

    def _acquire(self, run_id: str, operation: str) -> LockInfo:
        mine = LockInfo(
            "", run_id, operation, socket.gethostname(), os.getpid(), str(self.client.login or self.login), _now()
        )
        meta: dict[str, Any] = {
            "run_id": run_id,
            "operation": operation,
            "host": mine.host,
            "pid": mine.pid,
            "user": mine.user,
            "since": mine.since,
            "state": f"{self.full_name}:{self.path}@{self.branch}",
            "gridctl": __version__,
        }
        commit = self._lock_commit(meta)
        ref = self.lock_ref
        for _ in range(3):
            try:
                self.client.raw(
                    "POST",
                    f"{self.api}/git/refs",
                    {"ref": ref, "sha": commit},
                    verify=lambda: self._points_at(ref, commit),
                )
            except GitHubError as exc:
                if exc.status == 422 and "already exists" in (exc.github_message or str(exc)).lower():
                    info = self.holder()
                    if info is None:
                        continue  # released in between: try again
                    raise self._locked_error(info) from None
                raise GridctlError(f"could not take the state lock {ref} in {self.full_name}: {exc}") from None
            mine.sha = commit
            return mine
        raise StateLockedError(f"the state lock {ref} in {self.full_name} kept changing hands; try again")

    def _delete_ref(self, full_ref: str) -> bool:
        """Delete a ref; False when it was already gone."""
        try:
            self.client.raw("DELETE", self._ref_url(full_ref))
        except GitHubError as exc:
            if exc.status == 404 or (exc.status == 422 and "does not exist" in (exc.github_message or "").lower()):
                return False
            raise
        return True

    def _release(self, mine: LockInfo) -> None:
        ref = self.lock_ref
        try:
            now = self._lock_sha()
            if now is None:
                self._say(
                    "warning", f"the state lock {ref} was removed during this run (gridctl state unlock --force?)"
                )
                return
            if now != mine.sha:
                other = self.holder()
                held = other.describe() if other else "another run"
                self._say("warning", f"the state lock {ref} is now held by {held}; left in place")
                return
            self._delete_ref(ref)
        except GridctlError as exc:
            self._say("warning", f"could not release the state lock {ref} ({exc}); {UNLOCK_HINT}")

    def unlock(self, force: bool) -> LockInfo | None:
        """Break the lock (``force``); without it, say who holds it and refuse."""
        info = self.holder()
        if info is None:
            return None
        if not force:
            raise StateLockedError(
                f"state locked by {info.describe()} (user {info.user}); if that run is no longer running, "
                "gridctl state unlock --force removes the lock"
            )
        self._delete_ref(self.lock_ref)
        return info


def _same(state: State, data: dict[str, Any] | None) -> bool:
    """Whether ``state`` says what the file ``data`` already says (serial aside)."""
    if data is None:
        return not state.resources
    return (
        data.get("format_version") == STATE_FORMAT
        and str(data.get("lineage")) == state.lineage
        and dict(data.get("resources", {})) == state.resources
    )
