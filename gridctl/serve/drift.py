"""Drift: the controller plans the manifest on a schedule and shows what differs from GitHub.

Every ``serve.drift_interval`` (default 15 minutes; ``0`` turns it off) the leader runs the same
plan ``gridctl plan`` would — conditional reads, so an unchanged fleet costs almost no rate-limit
point — in a thread of its own, so a long plan never delays scaling or dispatching. It **never
applies**: the dashboard shows the differences per account and kind, the plan in markdown one
click away (what a pull request comment would show: never a secret value, since a plan holds
none), and the last applies and destroys from the journal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.journal import read_journal, runs
from ..errors import GridctlError
from ..plan import Plan
from ..review import render


@dataclass
class DriftView:
    checked_at: float | None = None
    seconds: float | None = None
    error: str | None = None
    #: (account, kind) -> {"create": n, "update": n, "delete": n}
    rows: list[dict[str, Any]] = field(default_factory=list)
    changes: int = 0
    markdown: str = ""


class Drift:
    def __init__(self, plan: Callable[[], Plan], workdir: Path, interval: float, *, leading: Callable[[], bool],
                 say: Callable[..., None]):
        self.plan = plan
        self.workdir = workdir
        self.interval = interval
        self.leading = leading
        self.say = say
        self.view = DriftView()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._now = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="gridctl-drift", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._now.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def check_now(self) -> None:
        self._now.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.leading():
                self.run_once()
            self._now.wait(self.interval)
            self._now.clear()

    def run_once(self) -> DriftView:
        started = time.monotonic()
        view = DriftView(checked_at=time.time())
        try:
            plan = self.plan()
        except GridctlError as exc:
            view.error = str(exc)[:500]
        except Exception as exc:  # noqa: BLE001 - reported on the page; the controller goes on
            view.error = f"the plan failed ({type(exc).__name__})"
        else:
            counts: dict[tuple[str, str], dict[str, int]] = {}
            for c in plan.changes:
                row = counts.setdefault((c.account, c.kind), {"create": 0, "update": 0, "delete": 0, "replace": 0})
                row[c.action.value] = row.get(c.action.value, 0) + 1
            view.rows = [{"account": a, "kind": k, **n} for (a, k), n in sorted(counts.items())]
            view.changes = len(plan.changes)
            view.markdown = render(plan, "markdown")
        view.seconds = time.monotonic() - started
        with self._lock:
            self.view = view
        if view.error:
            self.say(f"drift check failed: {view.error}", level="warning")
        elif view.changes:
            self.say(f"drift: {view.changes} difference(s) between the manifest and GitHub", changes=view.changes)
        return view

    def current(self) -> DriftView:
        with self._lock:
            return self.view

    def applies(self, limit: int = 10) -> list[dict[str, Any]]:
        """The last runs of the journal (apply, destroy, rollback): when, what, how it ended."""
        out = []
        try:
            paths = runs(self.workdir)
        except GridctlError:
            return []
        for path in sorted(paths, reverse=True)[:limit]:
            reading = read_journal(path)
            start = next((e for e in reading.entries if e.get("type") == "start"), {})
            end = next((e for e in reading.entries if e.get("type") == "end"), None)
            out.append({
                "run_id": str(start.get("run_id") or path.stem), "operation": start.get("operation", "?"),
                "started": start.get("ts"), "ended": end.get("ts") if end else None,
                "status": end.get("status") if end else "interrupted",
                "done": sum(1 for e in reading.entries if e.get("type") == "done"),
                "failed": sum(1 for e in reading.entries if e.get("type") == "failed"),
            })
        return out
