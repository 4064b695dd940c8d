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
import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GridctlError, StateLockedError

STATE_FORMAT = 1


@dataclass
class State:
    serial: int = 0
    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, address: str) -> dict[str, Any] | None:
        return self.resources.get(address)

    def set(self, address: str, entry: dict[str, Any]) -> None:
        self.resources[address] = dict(entry)

    def forget(self, address: str) -> None:
        self.resources.pop(address, None)

    def apply_update(self, update: dict[str, Any] | None) -> None:
        """``{address: entry | None}`` — None forgets the address."""
        for address, entry in (update or {}).items():
            if entry is None:
                self.forget(address)
            else:
                self.set(address, entry)

    def addresses(self, kind: str | None = None) -> list[str]:
        return sorted(a for a, e in self.resources.items() if kind is None or e.get("kind") == kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": STATE_FORMAT,
            "serial": self.serial,
            "lineage": self.lineage,
            "resources": dict(sorted(self.resources.items())),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str) -> State:
        if d.get("format_version") != STATE_FORMAT:
            raise GridctlError(f"{where}: state format {d.get('format_version')!r} is not {STATE_FORMAT}")
        return cls(serial=int(d.get("serial", 0)), lineage=str(d.get("lineage")), resources=dict(d.get("resources", {})))


def write_private(path: Path, text: str) -> None:
    """Write a file atomically with mode 0600 (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
        self.lock_path = workdir / "state.lock"
        self._lock_fh: Any = None

    def describe(self) -> str:
        return str(self.path)

    def read(self) -> State:
        if not self.path.exists():
            return State()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise GridctlError(f"{self.path} is not valid JSON ({exc}); restore it from a backup or the last journal") from None
        return State.from_json(data, str(self.path))

    def write(self, state: State) -> None:
        state.serial += 1
        write_private(self.path, json.dumps(state.to_json(), indent=1, sort_keys=False) + "\n")

    @contextlib.contextmanager
    def lock(self, run_id: str, operation: str) -> Iterator[None]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fh = os.fdopen(fd, "r+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another gridctl run"
            fh.close()
            raise StateLockedError(f"the state {self.path} is locked by {holder}; wait for it to finish") from None
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
    if path.exists():
        return path.read_bytes().strip()
    key = secrets.token_hex(32)
    write_private(path, key + "\n")
    return key.encode()
