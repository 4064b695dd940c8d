"""What gridctl manages: addresses, ids, secret fingerprints and ``updated_at`` — never a value.

``.gridctl/state.json`` (mode 0600, schema-versioned, written atomically) plus a lock so two
runs never share a state. Each secret entry keeps ``fingerprint`` (an HMAC of the value gridctl
last wrote, keyed by ``.gridctl/fingerprint.key`` or ``GRIDCTL_FINGERPRINT_KEY``) and GitHub's
``updated_at`` after that write: a changed value plans an update, a newer ``updated_at`` on
GitHub is drift.

Backends: :class:`LocalBackend` (the default) and, for teams, the GitHub backend in
``gridctl.state.github`` — both offer ``read()``, ``write(state)`` and ``lock(...)``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import GridctlError, StateLockedError
from ..util.files import private_dir

STATE_FORMAT = 1
#: the schema every state file must match (``schemas/state.schema.json``)
STATE_SCHEMA = "state.schema.json"
#: operations that never write the state: they take no lock (and say when one is held)
READ_ONLY_OPERATIONS = frozenset({"plan", "runners status", "import", "show"})
#: how long taking the local lock waits for a reader's probe (which holds it for an instant)
PROBE_WAIT = 2.0


Entries = Mapping[str, dict[str, Any]]
_NONE: Entries = MappingProxyType({})


@dataclass(frozen=True)
class _Index:
    """The entries of one version of ``State.resources`` by kind and by (kind, scope lower-cased),
    each in the order of ``resources``."""

    source: dict[str, dict[str, Any]]  # the dict it was built from (held: its id is never reused)
    version: int
    size: int
    by_kind: dict[str, dict[str, dict[str, Any]]]
    by_scope: dict[tuple[str, str], dict[str, dict[str, Any]]]


@dataclass
class State:
    """The managed objects, by address. ``resources`` is a plain dict for readers; change it
    through :meth:`set`, :meth:`forget`, :meth:`apply_update`, :meth:`remove`, :meth:`move` or by
    assigning a new dict, so that :meth:`of_kind` and :meth:`in_scope` — an index built once per
    version of the state, instead of a scan of every entry per question — stay right."""

    serial: int = 0
    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    _version: int = field(default=0, init=False, repr=False, compare=False)
    _index: _Index | None = field(default=None, init=False, repr=False, compare=False)
    _index_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def get(self, address: str) -> dict[str, Any] | None:
        return self.resources.get(address)

    def set(self, address: str, entry: dict[str, Any]) -> None:
        self._version += 1
        self.resources[address] = dict(entry)

    def forget(self, address: str) -> None:
        self._version += 1
        self.resources.pop(address, None)

    # -- the index ------------------------------------------------------------------------------
    def of_kind(self, kind: str) -> Entries:
        """``{address: entry}`` of every entry whose ``kind`` is ``kind``, in the order of
        :attr:`resources` (read-only; the entries are the state's own)."""
        found = self._indexed().by_kind.get(kind)
        return _NONE if found is None else MappingProxyType(found)

    def in_scope(self, kind: str, scope: str, *, ignore_case: bool = False) -> Entries:
        """``{address: entry}`` of the entries of ``kind`` whose ``scope`` is ``scope`` — exactly,
        or with ``ignore_case`` as ``str(entry.get("scope", "")).lower() == scope.lower()`` —
        in the order of :attr:`resources` (read-only)."""
        found = self._indexed().by_scope.get((kind, scope.lower()))
        if found is None:
            return _NONE
        if ignore_case:
            return MappingProxyType(found)
        return MappingProxyType({a: e for a, e in found.items() if e.get("scope") == scope})

    def _indexed(self) -> _Index:
        def current(idx: _Index | None) -> bool:
            res = self.resources
            return idx is not None and idx.source is res and idx.version == self._version and idx.size == len(res)

        idx = self._index
        if current(idx):
            assert idx is not None
            return idx
        with self._index_lock:  # planning threads ask at once: one of them builds it
            idx = self._index
            if current(idx):
                assert idx is not None
                return idx
            res, version = self.resources, self._version
            by_kind: dict[str, dict[str, dict[str, Any]]] = {}
            by_scope: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
            for address, entry in res.items():
                kind = entry.get("kind")
                if not isinstance(kind, str):  # never equal to a kind's name: no scan finds it either
                    continue
                by_kind.setdefault(kind, {})[address] = entry
                by_scope.setdefault((kind, str(entry.get("scope", "")).lower()), {})[address] = entry
            idx = _Index(res, version, len(res), by_kind, by_scope)
            self._index = idx
            return idx

    def apply_update(self, update: dict[str, Any] | None) -> list[str]:
        """``{address: entry | None}`` — None forgets the address. An entry that is not a state
        entry (as the state schema defines one) is skipped; returns the addresses skipped."""
        skipped = []
        for address, entry in (update or {}).items():
            if entry is None:
                self.forget(address)
            elif state_problem({"format_version": STATE_FORMAT, "serial": 0, "lineage": "-", "resources": {address: entry}}):
                skipped.append(str(address))
            else:
                self.set(address, entry)
        return skipped

    def addresses(self, kind: str | None = None) -> list[str]:
        return sorted(a for a, e in self.resources.items() if kind is None or e.get("kind") == kind)

    # -- state list / rm / mv -------------------------------------------------------------------
    def select(self, filters: list[str]) -> list[str]:
        """The addresses ``filters`` pick, as ``--target`` picks them: an address (or the start
        of one up to a ``:``), a kind, or a scope (a repository takes its environments and
        queues along); no filter picks everything."""
        if not filters:
            return self.addresses()
        out = []
        for address, entry in self.resources.items():
            kind, scope = str(entry.get("kind", "")), str(entry.get("scope", "")).lower()
            for f in filters:
                low = f.lower()
                if address == f or address.startswith(f + ":") or kind == f or scope == low or scope.startswith(low + " "):
                    out.append(address)
                    break
        return sorted(out)

    def repository(self, name: str) -> str | None:
        """The managed repository ``name`` names (``OWNER/NAME`` or ``repo:OWNER/NAME``, any
        case), as the state writes it; None when it is not one."""
        full = name.removeprefix("repo:")
        if full.count("/") != 1 or ":" in full:
            return None
        for entry in self.resources.values():
            if entry.get("kind") == "repo" and str(entry.get("scope", "")).lower() == full.lower():
                return str(entry["scope"])
        return None

    def in_repository(self, full: str) -> list[str]:
        """The repository's own address and every managed object inside it: entries whose scope
        is the repository or starts with it and a space (an environment, a queue)."""
        low = full.lower()
        return sorted(
            a for a, e in self.resources.items()
            if str(e.get("scope", "")).lower() == low or str(e.get("scope", "")).lower().startswith(low + " ")
        )

    def remove(self, names: list[str]) -> list[str]:
        """Forget ``names`` — addresses, a repository (its address, or ``OWNER/NAME``) with
        everything inside it — all of them or, when one is not in the state, none."""
        picked: set[str] = set()
        unknown = []
        for name in names:
            entry = self.resources.get(name)
            full = self.repository(name) if entry is None or entry.get("kind") == "repo" else None
            if full is not None:
                picked.update(self.in_repository(full))
            elif entry is not None:
                picked.add(name)
            else:
                unknown.append(name)
        if unknown:
            raise GridctlError(f"not in the state: {', '.join(unknown)} (gridctl state list shows what is)")
        for address in picked:
            self.forget(address)
        return sorted(picked)

    def move(self, old: str, new: str) -> list[tuple[str, str]]:
        """Move ``old`` to ``new``, changing nothing on GitHub.

        A repository (``OWNER/NAME`` or ``repo:OWNER/NAME``: a renamed or transferred one) moves
        with every managed object inside it: in their addresses and fields (``scope``, ``repo``)
        the old name becomes the new one. Any other address moves alone, to an address of the
        same kind and shape; the parts that differ are renamed in its fields too (a
        collaborator's ``login``, a file's ``path``). Refused, changing nothing, when a new
        address is already in the state."""
        entry = self.resources.get(old)
        full = self.repository(old) if entry is None or entry.get("kind") == "repo" else None
        if full is not None:
            target = new.removeprefix("repo:")
            if target.count("/") != 1 or ":" in target or " " in target or not all(target.split("/")):
                raise GridctlError(f"{old} is a repository: move it to OWNER/NAME (or repo:OWNER/NAME), not {new!r}")
            pairs, ignore_case = [(full, target)], True  # GitHub's names are case-insensitive
            moves = [(a, ":".join(_renamed(p, pairs, ignore_case) for p in a.split(":"))) for a in self.in_repository(full)]
        else:
            if entry is None:
                raise GridctlError(f"not in the state: {old} (gridctl state list shows what is)")
            old_parts, new_parts = old.split(":"), new.split(":")
            if len(old_parts) != len(new_parts) or old_parts[0] != new_parts[0] or not all(new_parts):
                raise GridctlError(f"{old} moves to an address of the same kind and shape ({old_parts[0]}:...), not {new!r}")
            pairs = [(a, b) for a, b in zip(old_parts[1:], new_parts[1:], strict=True) if a != b]
            ignore_case = False
            moves = [(old, new)]
        sources = {a for a, _ in moves}
        taken = sorted(b for a, b in moves if b in self.resources and b not in sources)
        if taken:
            raise GridctlError(f"already in the state: {', '.join(taken)}; gridctl state rm it first if it is stale")
        self._version += 1
        entries = {a: self.resources.pop(a) for a, _ in moves}
        for a, b in moves:
            self.resources[b] = {
                k: _renamed(v, pairs, ignore_case) if isinstance(v, str) and k not in ("kind", "account") else v
                for k, v in entries[a].items()
            }
        return moves

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": STATE_FORMAT,
            "serial": self.serial,
            "lineage": self.lineage,
            "resources": dict(sorted(self.resources.items())),
        }

    @classmethod
    def from_json(cls, d: Any, where: str, fix: str = "", *, owned: bool = False) -> State:
        """The state ``d`` (a parsed state file) holds; anything that does not match the state
        schema is refused naming ``where`` (and ``fix``, what to do) — never read as empty.
        ``owned``: ``d`` was parsed for this state alone, so its entries are taken, not copied
        (a state of 50,000 objects is about 11 MB of copies)."""
        problem = state_problem(d)
        if problem is not None:
            raise GridctlError(f"{where} is not a usable gridctl state: {problem}" + (f". {fix}" if fix else ""))
        resources = d["resources"] if owned else {a: dict(e) for a, e in d["resources"].items()}
        return cls(serial=int(d["serial"]), lineage=str(d["lineage"]), resources=resources)


def _shared_strings(obj: dict[str, Any]) -> dict[str, Any]:
    """One string object for each short value the entries repeat (an account id, a kind, a
    repository's name in each of its objects' ``scope``): a state of 50,000 objects parsed
    with a copy of each is about a third larger."""
    for k, v in obj.items():
        if type(v) is str and len(v) <= 200:
            obj[k] = sys.intern(v)
    return obj


@functools.cache
def _state_schema() -> dict[str, Any]:
    from ..manifest.schema import load_schema

    return load_schema(STATE_SCHEMA)


def state_problem(d: Any) -> str | None:
    """What is wrong with a parsed state file (None: nothing): the format version, then the first
    mismatch with ``schemas/state.schema.json`` (the shallowest), at its place in the file."""
    from ..manifest.quickcheck import accepts
    from ..manifest.schema import validator

    if not isinstance(d, dict):
        return f"the file holds {_json_kind(d)}, not a JSON object"
    if "format_version" in d and d["format_version"] != STATE_FORMAT:
        return f"state format {_short(d['format_version'])} is not {STATE_FORMAT} (written by another version of gridctl?)"
    with contextlib.suppress(RecursionError):  # (then jsonschema decides, as for any doubt)
        if accepts(_state_schema(), d):  # the common case, at a fraction of jsonschema's cost (0.13 s, not 0.8 s, for 20,000 entries); jsonschema is not even imported
            return None
    checker = validator(STATE_SCHEMA)
    try:
        errors = list(checker.iter_errors(d))
    except RecursionError:
        return "nested too deeply"
    if not errors:
        return None
    error = min(errors, key=lambda e: (len(e.absolute_path), [str(x) for x in e.absolute_path]))
    where = _place(list(error.absolute_path))
    if error.validator == "required":
        missing = [k for k in error.validator_value if isinstance(error.instance, dict) and k not in error.instance]
        return f"{where or 'the top level'} lacks {', '.join(map(repr, missing))}"
    if error.validator == "type":
        wanted = " or ".join(_JSON_KINDS.get(t, t) for t in ([error.validator_value] if isinstance(error.validator_value, str) else error.validator_value))
        return f"{where or 'the top level'} is {_json_kind(error.instance)}, not {wanted}"
    if "propertyNames" in error.absolute_schema_path:
        return f"{where} holds the key {_short(error.instance)}, which is not an address (kind:...)"
    return f"{where or 'the top level'} is {_short(error.instance)} ({error.validator} {_short(error.validator_value)})"


_JSON_KINDS = {"object": "an object", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true/false", "null": "null"}


def _place(parts: list[Any]) -> str:
    """``resources['repo:a/b'].kind``: where in the file a value is."""
    out = ""
    for p in parts:
        out += f".{p}" if isinstance(p, str) and p.isidentifier() else f"[{p!r}]"
    return out.lstrip(".")


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    for t, name in ((dict, "an object"), (list, "a list"), (str, "a string"), (int, "an integer"), (float, "a number")):
        if isinstance(value, t):
            return name
    return type(value).__name__


def _renamed(text: str, pairs: list[tuple[str, str]], ignore_case: bool) -> str:
    """``text`` (an address part or an entry's field) naming ``new`` where it named ``old``:
    the whole of it, or its first or last space-separated word — the forms scopes take
    (``alice/demo``, ``alice/demo env prod``, ``org acme``, ``user bob``). Words in between
    (``env``, ``queue``) are never renamed."""
    for old, new in pairs:
        a, b = (text.lower(), old.lower()) if ignore_case else (text, old)
        if a == b:
            return new
        if a.startswith(b + " "):
            return new + text[len(old) :]
        if a.endswith(" " + b):
            return text[: len(text) - len(old)] + new
    return text


def write_private(path: Path, text: str) -> None:
    """Write a file atomically with mode 0600 (temp file, fsync, rename)."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)


class LocalBackend:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.path = workdir / "state.json"
        #: the state as it was before the last write (like Terraform's terraform.tfstate.backup)
        self.backup_path = workdir / "state.json.backup"
        self.lock_path = workdir / "state.lock"
        self._lock_fh: Any = None
        #: set by :meth:`lock` for a read-only operation: who holds the lock it did not take
        self.busy: str | None = None

    def describe(self) -> str:
        return str(self.path)

    def fix(self) -> str:
        """What to do about a damaged state file."""
        keep = "gridctl never reads a damaged state as empty (a plan would then create everything again)"
        if self.backup_path.is_file():
            return f"{keep}; the state before the last write is in {self.backup_path}: if it looks right, copy it over {self.path}"
        return (
            f"{keep}; there is no backup ({self.backup_path}): move {self.path} away and plan again — "
            "the plan adopts what exists on GitHub and is declared (secrets plan as changed once)"
        )

    def read(self) -> State:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise GridctlError(f"{self.path}: cannot read the state ({exc.strerror or exc.__class__.__name__}); {self.fix()}") from None
        try:
            data = json.loads(raw.decode("utf-8"), object_hook=_shared_strings)
        except UnicodeDecodeError:
            problem = "not UTF-8 text"
        except RecursionError:
            problem = "not valid JSON (nested too deeply)"
        except ValueError as exc:
            problem = "the file is empty" if not raw.strip() else f"not valid JSON ({exc})"
        else:
            return State.from_json(data, str(self.path), self.fix(), owned=True)
        raise GridctlError(f"{self.path} is not a usable gridctl state: {problem}. {self.fix()}")

    def write(self, state: State) -> None:
        """Write ``state`` with the next serial; the file it replaces becomes the backup."""
        with contextlib.suppress(FileNotFoundError):
            write_private(self.backup_path, self.path.read_text(encoding="utf-8"))
        state.serial += 1
        write_private(self.path, json.dumps(state.to_json(), indent=1, sort_keys=False) + "\n")

    def _lock_file(self, flags: int) -> int | None:
        """The lock file, opened (None: it does not exist and ``flags`` do not create it)."""
        if os.path.lexists(self.lock_path) and not self.lock_path.is_file():
            raise GridctlError(f"{self.lock_path} is not a file (gridctl keeps the state's lock file there); move it away")
        try:
            return os.open(self.lock_path, flags, 0o600)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise GridctlError(f"{self.lock_path}: cannot open the state's lock file ({exc.strerror or exc.__class__.__name__})") from None

    def holder(self) -> str | None:
        """Who holds the lock now, as its holder wrote it (None: nobody). Takes a shared lock for
        an instant to find out; :meth:`lock` waits out such an instant."""
        fd = self._lock_file(os.O_RDONLY)
        if fd is None:
            return None
        with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return fh.read(500).strip() or "another gridctl run"
            fcntl.flock(fh, fcntl.LOCK_UN)
        return None

    @contextlib.contextmanager
    def lock(self, run_id: str, operation: str) -> Iterator[None]:
        """The state's lock for the run. A read-only operation takes none: it notes in
        :attr:`busy` who holds it, if anyone."""
        if operation in READ_ONLY_OPERATIONS:
            self.busy = self.holder()
            yield
            return
        private_dir(self.workdir)
        fd = self._lock_file(os.O_RDWR | os.O_CREAT)
        assert fd is not None
        fh = os.fdopen(fd, "r+", encoding="utf-8", errors="replace")
        deadline = time.monotonic() + PROBE_WAIT
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                fh.seek(0)
                holder = fh.read(500).strip()
                # no holder written: a reader probing (an instant) or a holder about to write
                if holder or time.monotonic() > deadline:
                    fh.close()
                    raise StateLockedError(f"the state {self.path} is locked by {holder or 'another gridctl run'}; wait for it to finish") from None
                time.sleep(0.02)
        fh.seek(0)
        fh.truncate()
        fh.write(f"run {run_id} ({operation}) pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()


def fingerprint_key(workdir: Path) -> bytes:
    """The HMAC key for secret fingerprints: ``GRIDCTL_FINGERPRINT_KEY`` or a 0600 file.

    It is never stored next to the fingerprints in state (that would let anyone holding the
    state test guesses of a secret).
    """
    env = os.environ.get("GRIDCTL_FINGERPRINT_KEY")
    if env:
        return env.encode()
    path = workdir / "fingerprint.key"
    try:
        stored = path.read_bytes().strip()
    except FileNotFoundError:
        stored = None
    except OSError as exc:
        raise GridctlError(
            f"{path}: cannot read the fingerprint key ({exc.strerror or exc.__class__.__name__}); put the key back there "
            "(or set GRIDCTL_FINGERPRINT_KEY), or move it away to make a new one (every secret then plans as changed once)"
        ) from None
    if stored is not None:
        if not stored:
            raise GridctlError(
                f"{path} is empty: put the key back (or set GRIDCTL_FINGERPRINT_KEY), or delete the file to make a new "
                "one (every secret then plans as changed once)"
            )
        return stored
    key = secrets.token_hex(32)
    write_private(path, key + "\n")
    return key.encode()
