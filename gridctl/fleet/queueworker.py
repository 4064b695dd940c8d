"""``gridctl queue work``: a worker node of a git-backed queue (:mod:`.taskqueue`) as a command.

The loop: register ``nodes/<node_id>.json`` -> claim the best task (the node file is updated
in the claim's commit) -> run it under its timeout -> complete or fail it with its result (the
node file again in the same commit) -> claim the next; while the queue is empty, sleep
``poll`` seconds. A heartbeat rewrites the node file every ``heartbeat`` seconds, while a task
runs as while the node waits; ``gridctl queue reap`` judges the node's claims by it.

Running a task. A ``script`` runs with ``bash -c``, or ``/bin/sh -c`` in a task written in
D-GRID's form (``timeout_seconds``); a ``command`` list runs without a shell, a ``command``
string with ``/bin/sh -c``. The process starts in a fresh empty folder, in a session and
process group of its own, with ``TASK_ID`` and ``TASK_FILE`` (the task as JSON) in its
environment and without the variables the manifest reads secrets from (nor ``GRID_TOKEN*``,
``GH_TOKEN``, ``GITHUB_TOKEN``). At its timeout the group gets SIGTERM, and SIGKILL
``KILL_GRACE`` seconds later; once the task's process exits, whatever is left of its group is
killed too, so no process outlives its task (one that moved to a session of its own escapes
any process-group kill). stdout and stderr are read as they come: the first ``output_cap``
bytes of each are kept, the rest counted and dropped, so a task printing a gigabyte costs no
more memory than the cap.

Isolation (``isolate``): a command template, split like a shell line, run instead of the
shell. ``{script}`` must be one whole argument: it becomes the task's script (a command list:
its words quoted for a POSIX shell) as ONE argument, never parsed by a shell on the worker's
side. ``{task_id}``, ``{timeout}`` and ``{workdir}`` may appear inside arguments. Example::

    docker run --rm -i --network=none --read-only --user=1000:1000 --pids-limit=64
        python:3.12-alpine sh -c {script}

The result. ``<task_id>.result`` beside the finished task is a JSON document in D-GRID's shape
— ``task_id, node_id, exit_code, stdout, stderr, timestamp, status`` (``success``, ``failed`` or
``timeout``, the words D-GRID's workers write) — plus ``outcome``, ``started_at``,
``duration_seconds``, ``timeout_seconds``, ``stdout_bytes``/``stderr_bytes`` (what the task
printed), ``output_cap`` and ``truncated``. A timeout reports exit code 124, a task killed by a
signal 128 + its number. The task's own ``result`` gets ``exit_code``, ``status``,
``duration_seconds`` and ``truncated``.

Stopping. SIGTERM or SIGINT: the running task's group is killed (SIGTERM, then SIGKILL), the task
is failed with that reason, the node file says ``stopped``, and the command exits 0. A second
signal stops at once (exit 130): a task that was running stays in progress until reaped.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from ..errors import GridctlError
from ..util.text import safe
from .taskqueue import EXIT_EMPTY, TaskNotHeld, TaskQueue, blob_sha, check_node_file, holding, iso

DEFAULT_OUTPUT_CAP = 10 * 1024  # D-GRID's workers keep 10 KB of output
MAX_OUTPUT_CAP = 1024 * 1024
KILL_GRACE = 5.0
TIMEOUT_EXIT = 124  # as timeout(1)
#: the heartbeat when not given: a third of orphan_after, between these bounds (seconds)
HEARTBEAT_BOUNDS = (1.0, 300.0)
#: variables a task never sees, whatever the manifest says
HIDDEN_ENV = ("GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN")
HIDDEN_PREFIX = "GRID_TOKEN"
PLACEHOLDERS = ("{script}", "{task_id}", "{timeout}", "{workdir}")
#: finish attempts before a result is given up (the task then stays in progress until reaped)
FINISH_ATTEMPTS = 3

Session = Callable[[], AbstractContextManager[TaskQueue]]


@dataclass
class WorkOptions:
    node: str
    once: bool = False
    max_tasks: int | None = None
    idle_exit: float | None = None
    poll: float = 30.0
    output_cap: int = DEFAULT_OUTPUT_CAP
    isolate: list[str] | None = None
    heartbeat: float | None = None
    show_output: bool = False
    #: environment variables the task must not see (the manifest's secret sources)
    hidden_env: frozenset[str] = frozenset()


@dataclass
class Run:
    """What running one task gave."""

    exit_code: int | None
    status: str  # success | failed | timeout
    started: float
    duration: float
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    reason: str | None = None

    @property
    def truncated(self) -> bool:
        return self.stdout_bytes > len(self.stdout) or self.stderr_bytes > len(self.stderr)


def parse_isolate(text: str) -> list[str]:
    """The ``--isolate`` template as argv; ``{script}`` must be one whole argument."""
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise GridctlError(f"--isolate: not a command line ({exc})") from None
    if not argv:
        raise GridctlError("--isolate: the template is empty")
    if "{script}" not in argv:
        where = "inside an argument" if any("{script}" in a for a in argv) else "nowhere"
        raise GridctlError(f"--isolate: {{script}} must be one whole argument (it is {where}), e.g. 'docker run --rm -i IMAGE sh -c {{script}}'")
    return argv


def timeout_of(task: dict) -> int:
    return int(task.get("timeout") or task.get("timeout_seconds") or 0)


def shell_text(task: dict) -> str:
    """The task as one shell script (for an isolation template)."""
    if "script" in task:
        return str(task["script"])
    cmd = task["command"]
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


def program(task: dict, isolate: list[str] | None, workdir: str) -> list[str]:
    """The argv that runs ``task`` (see the module's docstring)."""
    if isolate:
        values = {"{task_id}": str(task["task_id"]), "{timeout}": str(timeout_of(task)), "{workdir}": workdir}
        out = []
        for arg in isolate:
            if arg == "{script}":
                out.append(shell_text(task))
                continue
            for k, v in values.items():
                arg = arg.replace(k, v)
            out.append(arg)
        return out
    if "script" in task:
        return ["/bin/sh" if "timeout_seconds" in task else "bash", "-c", str(task["script"])]
    cmd = task["command"]
    return ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else [str(a) for a in cmd]


def task_env(task_id: str, task_file: str, hidden: frozenset[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in hidden and k not in HIDDEN_ENV and not k.startswith(HIDDEN_PREFIX)}
    env.update(TASK_ID=task_id, TASK_FILE=task_file)
    return env


def default_heartbeat(orphan_after: float) -> float:
    low, high = HEARTBEAT_BOUNDS
    return max(low, min(high, orphan_after / 3))


class Worker:
    """One node. ``session()`` opens the queue for one step (with ``--sandbox`` each step opens
    the embedded sandbox, so several workers take turns on it); ``log`` gets one line per event."""

    def __init__(self, session: Session, opts: WorkOptions, orphan_after: float, log: Callable[[str], None],
                 clock: Callable[[], float] = time.time):
        check_node_file(opts.node)
        if not 0 < opts.output_cap <= MAX_OUTPUT_CAP:
            raise GridctlError(f"--output-cap must be between 1 and {MAX_OUTPUT_CAP} bytes, not {opts.output_cap}")
        self.heartbeat = opts.heartbeat if opts.heartbeat is not None else default_heartbeat(orphan_after)
        if not 0 < self.heartbeat < orphan_after:
            raise GridctlError(f"--heartbeat must be above 0 and below the queue's orphan_after ({orphan_after:g}s), not {self.heartbeat:g}s: "
                               "a node that heartbeats less often than that looks dead")
        self.session = session
        self.opts = opts
        self.clock = clock
        self._log = log
        self.node = opts.node
        self.record: dict[str, Any] = {}
        self.node_sha: str | None = None
        self.next_beat = 0.0
        self.stop_signal: int | None = None
        self.done = 0
        self.failed = 0
        self._signals = 0

    # -- the loop -------------------------------------------------------------------------------
    def log(self, text: str) -> None:
        self._log(f"worker {self.node}: {safe(text)}")

    def run(self) -> int:
        """Work until told to stop; the command's exit code."""
        with self._signal_handlers():
            try:
                self._register()
                code = self._loop()
            except KeyboardInterrupt:
                self.log("stopped at once (second signal); a task that was running stays in progress until reaped")
                return 130
        self._write_node("stopped")
        self.log(f"stopped: {self.done} task(s) run, {self.failed} failed")
        return code

    def _loop(self) -> int:
        idle_since: float | None = None
        while self.stop_signal is None:
            if self.opts.max_tasks is not None and self.done >= self.opts.max_tasks:
                self.log(f"ran {self.done} task(s) (--max-tasks)")
                break
            try:
                with self.session() as tq:
                    task = tq.claim(self.node, self._record())
            except GridctlError as exc:
                self.log(f"claim failed: {exc}")
                if self.opts.once:
                    return 1
                self._wait(self.opts.poll)
                continue
            if task is None:
                if self.opts.once:
                    self.log("the queue has no task to claim")
                    return EXIT_EMPTY
                now = time.monotonic()
                idle_since = idle_since if idle_since is not None else now
                left = None if self.opts.idle_exit is None else self.opts.idle_exit - (now - idle_since)
                if left is not None and left <= 0:
                    self.log(f"the queue stayed empty for {self.opts.idle_exit:g}s (--idle-exit)")
                    break
                self._wait(self.opts.poll if left is None else min(self.opts.poll, left))
                continue
            idle_since = None
            self._held(holding(self._record(), task))
            run = self._run(task)
            self._finish(task, run)
            self.done += 1
            if self.opts.once:
                break
        return 0

    # -- the node file ---------------------------------------------------------------------------
    def _record(self) -> dict[str, Any]:
        return {**self.record, "last_heartbeat": iso(self.clock())}

    def _held(self, record: dict[str, Any]) -> None:
        """``record`` was just written (by a claim or a result commit)."""
        self.record = record
        self.node_sha = blob_sha((json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode())
        self.next_beat = time.monotonic() + self.heartbeat

    def _register(self) -> None:
        now = iso(self.clock())
        self.record = {
            "node_id": self.node, "hostname": socket.gethostname(), "started_at": now, "last_heartbeat": now,
            "status": "idle", "tasks_done": 0, "tasks_failed": 0, "current_task": None, "current_file": None,
        }
        with self.session() as tq:
            self.node_sha = tq.write_node(self.record)
            where = tq.where()
        self.next_beat = time.monotonic() + self.heartbeat
        self.log(f"registered in {where} (heartbeat every {self.heartbeat:g}s)")

    def _write_node(self, status: str | None = None) -> None:
        rec = self._record()
        if status:
            rec["status"] = status
        try:
            with self.session() as tq:
                self.node_sha = tq.write_node(rec, self.node_sha)
            self.record = rec
        except GridctlError as exc:
            self.log(f"heartbeat failed: {exc}")
        self.next_beat = time.monotonic() + self.heartbeat

    def _wait(self, seconds: float) -> None:
        """Sleep (interrupted by a stop), heartbeating when one is due."""
        end = time.monotonic() + max(0.0, seconds)
        while self.stop_signal is None:
            now = time.monotonic()
            if now >= self.next_beat:
                self._write_node()
                continue
            if now >= end:
                return
            time.sleep(min(0.2, end - now, max(0.01, self.next_beat - now)))

    # -- running one task ------------------------------------------------------------------------
    def _run(self, task: dict) -> Run:
        tid = str(task["task_id"])
        timeout = timeout_of(task)
        self.log(f"running {tid} (timeout {timeout}s)")
        base = tempfile.mkdtemp(prefix=f"gridctl-task-{tid[:40]}-")
        beat = _Heartbeat(self)
        try:
            workdir = os.path.join(base, "run")
            os.mkdir(workdir, 0o700)
            task_file = os.path.join(base, "task.json")
            with open(task_file, "w", encoding="utf-8") as fh:
                json.dump(task, fh, ensure_ascii=False)
            argv = program(task, self.opts.isolate, workdir)
            beat.start()
            return self._execute(argv, workdir, task_env(tid, task_file, self.opts.hidden_env), timeout)
        finally:
            beat.stop()
            shutil.rmtree(base, ignore_errors=True)

    def _execute(self, argv: list[str], workdir: str, env: dict[str, str], timeout: int) -> Run:
        started = self.clock()
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
        except OSError as exc:
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            return Run(code, "failed", started, 0.0, reason=f"cannot start {argv[0]}: {exc.strerror or exc.__class__.__name__}")
        run = Run(None, "failed", started, 0.0)
        try:
            why = self._pump(proc, run, t0 + timeout)
        finally:
            _kill_group(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=KILL_GRACE)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        run.duration = round(time.monotonic() - t0, 3)
        rc = proc.returncode
        code = rc if rc is None or rc >= 0 else 128 - rc
        if why == "timeout":
            run.exit_code, run.status, run.reason = TIMEOUT_EXIT, "timeout", f"killed after its timeout of {timeout}s"
        elif why is not None:
            run.exit_code, run.status, run.reason = code, "failed", why
        else:
            run.exit_code, run.status = code, "success" if code == 0 else "failed"
        return run

    def _pump(self, proc: subprocess.Popen, run: Run, deadline: float) -> str | None:
        """Read the task's output until its process has exited and its pipes are done; kill it
        at the deadline or when the worker stops. Returns why it was killed (None: it ended by
        itself). Its group is killed only once the process itself is gone: a program closes its
        output before it exits, and a kill in between would turn a success into a SIGKILL."""
        sel = selectors.DefaultSelector()
        for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            sel.register(stream, selectors.EVENT_READ, name)
        why: str | None = None
        hard_kill_at: float | None = None
        drain_until: float | None = None
        try:
            while True:
                now = time.monotonic()
                if why is None and drain_until is None and (now >= deadline or self.stop_signal is not None):
                    why = "timeout" if now >= deadline else f"the worker was stopped ({signal.Signals(self.stop_signal or 15).name}) while the task ran"
                    _kill_group(proc, signal.SIGTERM)
                    hard_kill_at = now + KILL_GRACE
                if hard_kill_at is not None and drain_until is None and now >= hard_kill_at:
                    _kill_group(proc, signal.SIGKILL)
                    hard_kill_at = None
                if drain_until is None and _exited(proc):
                    # the task's process is done: what is left of its group goes too, then the
                    # pipes drain (a process that left the group may hold them: bounded)
                    _kill_group(proc, signal.SIGKILL)
                    drain_until = now + 2.0
                if drain_until is not None and (not sel.get_map() or now >= drain_until):
                    break
                if not sel.get_map():  # output closed, process still running
                    time.sleep(0.05)
                    continue
                for key, _ in sel.select(timeout=0.1):
                    self._read(key, sel, run)
        finally:
            sel.close()
        return why

    def _read(self, key: selectors.SelectorKey, sel: selectors.BaseSelector, run: Run) -> None:
        """One chunk of output: counted, and kept while under the cap."""
        try:
            chunk = os.read(key.fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            sel.unregister(key.fileobj)
            return
        if key.data == "stdout":
            buf, run.stdout_bytes = run.stdout, run.stdout_bytes + len(chunk)
        else:
            buf, run.stderr_bytes = run.stderr, run.stderr_bytes + len(chunk)
        cap = self.opts.output_cap
        if len(buf) < cap:
            buf += chunk[: cap - len(buf)]

    # -- recording the outcome -------------------------------------------------------------------
    def _finish(self, task: dict, run: Run) -> None:
        tid = str(task["task_id"])
        now = self.clock()
        outcome = "completed" if run.status == "success" else "failed"
        doc: dict[str, Any] = {
            "task_id": tid,
            "node_id": self.node,
            "exit_code": run.exit_code,
            "stdout": run.stdout.decode("utf-8", errors="replace"),
            "stderr": run.stderr.decode("utf-8", errors="replace"),
            "timestamp": iso(now),
            "status": run.status,
            "outcome": outcome,
            "started_at": iso(run.started),
            "duration_seconds": run.duration,
            "timeout_seconds": timeout_of(task),
            "stdout_bytes": run.stdout_bytes,
            "stderr_bytes": run.stderr_bytes,
            "output_cap": self.opts.output_cap,
            "truncated": run.truncated,
            "isolated": bool(self.opts.isolate),
        }
        if run.reason:
            doc["reason"] = run.reason
        data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
        extra: dict[str, Any] = {"exit_code": run.exit_code, "status": run.status, "duration_seconds": run.duration, "truncated": run.truncated}
        if run.reason:
            extra["reason"] = run.reason
        after = {
            **holding(self.record, None), "last_heartbeat": iso(now), "status": "idle",
            "tasks_done": int(self.record.get("tasks_done") or 0) + 1,
            "tasks_failed": int(self.record.get("tasks_failed") or 0) + (outcome == "failed"),
        }
        if self.opts.show_output:
            self._show(tid, "stdout", run.stdout, run.stdout_bytes)
            self._show(tid, "stderr", run.stderr, run.stderr_bytes)
        for attempt in range(FINISH_ATTEMPTS):
            try:
                with self.session() as tq:
                    tq.finish(tid, outcome, data, self.node, extra=extra, record=after)
            except TaskNotHeld as exc:
                self.log(f"{tid} is no longer ours ({exc}); its result was dropped")
                break
            except GridctlError as exc:
                self.log(f"could not record {tid} (attempt {attempt + 1} of {FINISH_ATTEMPTS}): {exc}")
                self._wait(min(30.0, 2.0 * 2**attempt) if self.stop_signal is None else 0.0)
                continue
            self._held(after)
            self.failed += outcome == "failed"
            detail = f"exit {run.exit_code}, {run.duration:g}s" + (", output truncated" if run.truncated else "")
            self.log(f"{tid}: {run.status} ({detail})" + (f": {run.reason}" if run.reason else ""))
            return
        else:
            self.log(f"gave up recording {tid}: it stays in progress until gridctl queue reap hands it back")
        # the node no longer vouches for the task: its next heartbeat says so
        self.record = {**holding(self.record, None), "status": "idle"}

    def _show(self, tid: str, name: str, data: bytearray, total: int) -> None:
        if not total:
            return
        kept = f"first {len(data)} of {total}" if total > len(data) else str(total)
        self._log(f"worker {self.node}: {tid} {name} ({kept} bytes):")
        for line in data.decode("utf-8", errors="replace").splitlines():
            self._log("  | " + safe(line))

    # -- signals ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            self._signals += 1
            if self._signals > 1:
                raise KeyboardInterrupt
            self.stop_signal = signum
            self.log(f"{signal.Signals(signum).name}: stopping (a running task is killed and failed; a second signal stops at once)")

        old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)


class _Heartbeat:
    """Heartbeats from a thread while a task runs (the main thread reads its output)."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name=f"heartbeat-{self.worker.node}", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        w = self.worker
        while not self.done.wait(max(0.05, w.next_beat - time.monotonic())):
            w._write_node()

    def stop(self) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()


def _exited(proc: subprocess.Popen) -> bool:
    """Whether the task's process ended, without reaping it (its group id stays reserved)."""
    if proc.returncode is not None:
        return True
    if not hasattr(os, "waitid"):  # no waitid on this platform: poll (reaps; the group is killed right after)
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


__all__ = ["DEFAULT_OUTPUT_CAP", "WorkOptions", "Worker", "parse_isolate", "program"]
