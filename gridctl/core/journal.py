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
from pathlib import Path
from typing import Any

from ..plan import Change
from ..state.local import State


def new_run_id() -> str:
    """Sortable by start time (to the microsecond), unique by a random suffix."""
    now = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1_000_000):06d}Z-" + secrets.token_hex(3)


class Journal:
    def __init__(self, workdir: Path, run_id: str, plan_id: str, operation: str):
        self.dir = workdir / "journal"
        self.dir.mkdir(parents=True, exist_ok=True)
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


def read_entries(path: Path) -> list[dict[str, Any]]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                break  # a torn last line from a kill: everything before it stands
    return out


def runs(workdir: Path) -> list[Path]:
    d = workdir / "journal"
    return sorted(d.glob("*.jsonl")) if d.exists() else []


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


def recover(workdir: Path, state: State) -> list[str]:
    """Replay the state updates of runs that ended without an ``end`` entry; returns their ids."""
    recovered = []
    for path in runs(workdir):
        entries = read_entries(path)
        if not entries or any(e.get("type") == "end" for e in entries):
            continue
        for e in entries:
            if e.get("type") == "done":
                state.apply_update(e.get("state"))
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"seq": len(entries) + 1, "type": "end", "status": "recovered", "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        recovered.append(path.stem)
    return recovered
