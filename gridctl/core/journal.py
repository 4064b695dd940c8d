"""Write-ahead journal: one JSONL file per run under ``.gridctl/journal/<run-id>.jsonl``.

Before each write to GitHub an ``intent`` entry is written and fsync'ed; after it, ``done``
(with the state update and the change that would undo it) or ``failed``. The last line of a
finished run is ``end``. A run killed part-way has no ``end``: the next run replays its
``done`` state updates (:func:`recover`) before planning, so nothing it did is forgotten, and
re-planning from live GitHub state converges whatever the kill interrupted.

Entries carry redacted before/after values and fingerprints — never a secret or a token.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..plan import Change
from ..state.local import State
from ..util.files import check_private_dir, private_dir


def new_run_id() -> str:
    """Sortable by start time (to the microsecond), unique by a random suffix."""
    now = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1_000_000):06d}Z-" + secrets.token_hex(3)


class Journal:
    def __init__(self, workdir: Path, run_id: str, plan_id: str, operation: str):
        self.dir = private_dir(workdir / "journal")
        self.run_id = run_id
        self.path = self.dir / f"{run_id}.jsonl"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._fh = os.fdopen(fd, "a", encoding="utf-8")
        self.seq = 0
        self._write({"type": "start", "run_id": run_id, "plan_id": plan_id, "operation": operation})

    def _write(self, entry: dict[str, Any]) -> None:
        self.seq += 1
        entry = {"seq": self.seq, "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entry}
        self._fh.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def intent(self, change: Change) -> None:
        self._write({"type": "intent", "address": change.address, "action": change.action.value, "change": change.to_dict()})

    def done(self, change: Change, state_update: dict[str, Any], inverse: Change | None, result: dict[str, Any] | None = None) -> None:
        self._write(
            {
                "type": "done",
                "address": change.address,
                "action": change.action.value,
                "state": state_update,
                "inverse": inverse.to_dict() if inverse else None,
                "reversible": change.reversible and inverse is not None,
                "result": result or {},
            }
        )

    def failed(self, change: Change, error: str) -> None:
        self._write({"type": "failed", "address": change.address, "action": change.action.value, "error": error})

    def end(self, status: str) -> None:
        self._write({"type": "end", "status": status})
        self._fh.close()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


@dataclass
class Reading:
    """One journal file as read: its entries, and what could not be read."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    #: 1-based numbers of lines that are not a JSON object (damaged), skipped
    damaged: list[int] = field(default_factory=list)
    #: the file ends in a fragment with no newline (a crash or a full disk mid-write)
    torn: bool = False

    @property
    def ended(self) -> bool:
        return any(e.get("type") == "end" for e in self.entries)


def read_journal(path: Path) -> Reading:
    """Every readable entry of a run. A damaged line (bad JSON, not an object, bytes that are not
    UTF-8) is skipped and reported; it never hides the lines after it."""
    out = Reading()
    data = path.read_bytes()
    out.torn = bool(data) and not data.endswith(b"\n")
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            entry = None
        if isinstance(entry, dict):
            out.entries.append(entry)
        else:
            out.damaged.append(number)
    return out


def has_ended(path: Path) -> bool:
    """Whether a run's journal holds its ``end`` entry. A finished run's last line is that entry,
    so the file's tail answers without reading the rest (a journal of a large apply holds tens of
    thousands of lines); anything else — no end there, a damaged or torn last line — is answered
    by reading every line, as :func:`read_journal` does."""
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    if tail.endswith(b"\n"):
        last = tail[:-1].rsplit(b"\n", 1)[-1]
        try:
            entry = json.loads(last.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            entry = None
        if isinstance(entry, dict) and entry.get("type") == "end":
            return True
    return read_journal(path).ended


def read_entries(path: Path) -> list[dict[str, Any]]:
    return read_journal(path).entries


def runs(workdir: Path) -> list[Path]:
    d = workdir / "journal"
    if not d.exists():
        return []
    check_private_dir(d)  # runs found here are replayed into state: only ours may be here
    return sorted(d.glob("*.jsonl"))


def run_path(workdir: Path, run_id: str | None) -> Path | None:
    all_runs = runs(workdir)
    if not all_runs:
        return None
    if run_id is None:
        return all_runs[-1]
    for p in all_runs:
        if p.stem == run_id or p.stem.startswith(run_id):
            return p
    return None


def recover(workdir: Path, state: State, warn: Callable[[str], None] | None = None) -> list[str]:
    """Close every run that has no ``end`` entry, once; returns the ids of those replayed.

    The newest such run — one with no finished run after it — was interrupted: its ``done``
    state updates are replayed (state was not saved after them). An older one cannot have been
    interrupted unnoticed (every later command recovers first), so its ``end`` was damaged
    afterwards: replaying it would put old updates over newer state, and it is closed without
    replay. Either way an ``end`` entry is appended on a line of its own, so the run is never
    taken up again; damaged lines are reported through ``warn``."""
    recovered = []
    paths = runs(workdir)
    ended = [has_ended(p) for p in paths]  # a finished run is not read whole
    for i, path in enumerate(paths):
        if ended[i]:
            continue
        reading = read_journal(path)
        superseded = any(ended[i + 1 :])
        problems = []
        if reading.damaged:
            problems.append(f"unreadable line(s) {', '.join(map(str, reading.damaged[:10]))} skipped")
        if reading.torn:
            problems.append("a torn last line ended it")
        if superseded:
            problems.append("later runs finished after it, so its updates are not replayed")
        else:
            for e in reading.entries:
                if e.get("type") == "done" and isinstance(e.get("state"), dict):
                    skipped = state.apply_update(e["state"])
                    if skipped:
                        problems.append(f"state update(s) of {', '.join(skipped[:5])} not a state entry, skipped")
            recovered.append(path.stem)
        if problems and warn is not None:
            warn(f"journal {path}: {'; '.join(problems)}")
        end = {"seq": len(reading.entries) + 1, "type": "end", "status": "recovered" if not superseded else "closed",
               "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with open(path, "ab") as fh:
            fh.write((b"\n" if reading.torn else b"") + json.dumps(end).encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
    return recovered
