"""``gridctl runners run``: supervise the runner processes of this host, one per JIT file.

Every JIT file of the folder's layout (``repos/<owner>/<repo>/<name>.jit`` and
``orgs/<org>/<name>.jit``, see :mod:`.jitfile`; nothing deeper) is one runner. Its process runs in
its own working folder (the folder next to the file, ``<name>/``, created 0700), with its
output appended to ``<name>/runner.log``. Each pass of the loop (every ``tick`` seconds):

* health check — a process that exited is looked at: exit code 0 means the runner finished
  (a JIT runner is ephemeral: it ends after one job) and it waits for a new JIT file (the next
  ``gridctl apply`` registers it again); any other exit (or a signal) is a crash and the
  runner is restarted after an exponential backoff (``backoff`` doubling up to
  ``max_backoff``; the count resets once a process stayed up ``stable_after`` seconds);
* a new JIT file starts a runner; a changed one (a new registration) restarts it; a removed
  one (the runner was deleted) stops it;
* SIGINT or SIGTERM to the supervisor stops every runner: SIGINT to its process group, then
  SIGKILL to whatever is left after ``grace`` seconds; every child is reaped before exiting.

The command is a template (``--command`` / ``GRIDCTL_RUNNER_COMMAND``), split like a shell
line, with placeholders ``{jitconfig_file}``, ``{name}``, ``{workdir}`` and ``{jitconfig}``.
The default is the Actions runner, ``./run.sh``, started in the runner's folder: the JIT
configuration reaches it through ``ACTIONS_RUNNER_INPUT_JITCONFIG`` (the runner reads every
``--arg`` from ``ACTIONS_RUNNER_INPUT_<ARG>``; actions-runner-controller starts runners the
same way), which is what ``run.sh --jitconfig ...`` does without putting the credential on a
command line that ``ps`` shows to every user. ``{jitconfig}`` still works, with a warning.
Every child also gets ``GRIDCTL_JIT_FILE``, ``GRIDCTL_RUNNER_NAME`` and ``GRIDCTL_RUNNER_DIR``.
The supervisor never prints a JIT configuration.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .jitfile import SUFFIX

DEFAULT_COMMAND = "./run.sh"
JIT_ENV = "ACTIONS_RUNNER_INPUT_JITCONFIG"
#: where JIT files are (see jitfile.py): repository runners, organization runners
LAYOUT = ("repos/*/*/*" + SUFFIX, "orgs/*/*" + SUFFIX)


@dataclass
class Child:
    key: str  # path of the JIT file relative to the folder, without the suffix
    jit: Path
    workdir: Path
    digest: str = ""  # sha256 of the JIT file the process was started with (memory only)
    proc: subprocess.Popen | None = None
    state: str = "new"  # new | running | backoff | finished | stopping | removed
    crashes: int = 0
    started: float = 0.0
    next_start: float = 0.0
    stop_deadline: float | None = None
    restart_after_stop: bool = False
    killed: bool = False
    log: Any = None
    history: list[str] = field(default_factory=list)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class Supervisor:
    def __init__(
        self,
        folder: Path,
        command: str | None = None,
        *,
        grace: float = 30.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        stable_after: float = 60.0,
        tick: float = 0.5,
        say: Callable[[str], None] | None = None,
    ):
        self.folder = folder
        self.command = command or DEFAULT_COMMAND
        self.argv = shlex.split(self.command)
        if not self.argv:
            raise ValueError("the runner command is empty")
        self.grace = grace
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stable_after = stable_after
        self.tick = tick
        self.children: dict[str, Child] = {}
        self.stopping = False
        self._say = say or (lambda text: (sys.stderr.write(text + "\n"), sys.stderr.flush()))
        if any("{jitconfig}" in a for a in self.argv):
            self.say("warning: the command puts the JIT configuration on its command line, where ps shows it to every user of this host; prefer {jitconfig_file} or the ACTIONS_RUNNER_INPUT_JITCONFIG environment variable")

    def say(self, text: str) -> None:
        self._say(f"gridctl runners: {text}")

    # -- discovery ----------------------------------------------------------------------------
    def scan(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        if not self.folder.is_dir():
            return out
        # only the layout's own places: a job's checkout inside a runner's folder is not a runner
        for pattern in LAYOUT:
            for p in sorted(self.folder.glob(pattern)):
                if p.is_file() and not p.name.startswith("."):
                    out[str(p.relative_to(self.folder))[: -len(SUFFIX)]] = p
        return out

    # -- processes ------------------------------------------------------------------------------
    def _start(self, c: Child, now: float) -> None:
        digest = _digest(c.jit)
        if digest is None:
            c.state = "removed"
            return
        c.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        config = c.jit.read_text(encoding="utf-8").strip()
        values = {"{jitconfig_file}": str(c.jit.resolve()), "{name}": c.jit.stem, "{workdir}": str(c.workdir.resolve()), "{jitconfig}": config}
        argv = []
        for arg in self.argv:
            for ph, val in values.items():
                arg = arg.replace(ph, val)
            argv.append(arg)
        env = dict(os.environ)
        env.update({JIT_ENV: config, "GRIDCTL_JIT_FILE": values["{jitconfig_file}"], "GRIDCTL_RUNNER_NAME": c.jit.stem, "GRIDCTL_RUNNER_DIR": values["{workdir}"]})
        del config, values
        if c.log is None:
            fd = os.open(c.workdir / "runner.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            c.log = os.fdopen(fd, "ab", buffering=0)
        c.digest = digest
        c.killed = False
        try:
            c.proc = subprocess.Popen(argv, cwd=c.workdir, env=env, stdin=subprocess.DEVNULL, stdout=c.log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        except OSError as exc:
            c.proc = None
            self._crashed(c, now, f"could not start ({exc.strerror or exc.__class__.__name__})")
            return
        finally:
            del env, argv
        c.state, c.started = "running", now
        c.history.append(f"start {c.proc.pid}")
        self.say(f"{c.key}: started (pid {c.proc.pid})")

    def _crashed(self, c: Child, now: float, why: str) -> None:
        if c.started and now - c.started >= self.stable_after:
            c.crashes = 0
        c.crashes += 1
        delay = min(self.max_backoff, self.backoff * (2 ** (c.crashes - 1)))
        c.state, c.next_start = "backoff", now + delay
        self.say(f"{c.key}: {why}; restarting in {delay:g}s (crash {c.crashes})")

    def _signal(self, c: Child, sig: int) -> None:
        if c.proc is None or c.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(c.proc.pid, sig)

    def _stop(self, c: Child, now: float, *, restart: bool) -> None:
        if c.proc is None or c.proc.poll() is not None:
            return
        c.state, c.stop_deadline, c.restart_after_stop = "stopping", now + self.grace, restart
        self._signal(c, signal.SIGINT)

    # -- one pass ------------------------------------------------------------------------------
    def step(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        files = self.scan()
        for key, path in files.items():
            if key not in self.children:
                self.children[key] = Child(key, path, path.with_suffix(""))
                self.say(f"{key}: found {path.name}")
        for key, c in list(self.children.items()):
            present = key in files
            code = c.proc.poll() if c.proc is not None else None
            if c.state == "stopping":
                if code is None and c.stop_deadline is not None and now >= c.stop_deadline and not c.killed:
                    self.say(f"{key}: still running {self.grace:g}s after SIGINT; sending SIGKILL")
                    self._signal(c, signal.SIGKILL)
                    c.killed = True
                if code is None:
                    continue
                self.say(f"{key}: stopped (exit code {code})")
                c.proc = None
                if not present:
                    self._forget(key)
                    continue
                c.state = "new" if c.restart_after_stop else "finished"
                code = None
            if not present:
                if c.proc is not None and code is None:
                    self.say(f"{key}: its JIT file is gone (the runner was removed); stopping it")
                    self._stop(c, now, restart=False)
                else:
                    self._forget(key)
                continue
            if c.state == "running" and code is not None:
                c.proc = None
                if code == 0:
                    c.state = "finished"
                    self.say(f"{key}: exited normally (a JIT runner ends after its job); waiting for a new JIT file from gridctl apply")
                else:
                    why = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
                    self._crashed(c, now, why)
                continue
            if c.state in ("running", "finished", "backoff"):
                digest = _digest(c.jit)
                if digest is not None and digest != c.digest:
                    self.say(f"{key}: its JIT file changed (a new registration); restarting")
                    c.crashes = 0
                    if c.state == "running":
                        self._stop(c, now, restart=True)
                        continue
                    c.state = "new"
            if c.state == "new" or (c.state == "backoff" and now >= c.next_start):
                self._start(c, now)

    def _forget(self, key: str) -> None:
        c = self.children.pop(key)
        if c.log is not None:
            c.log.close()

    # -- main loop ----------------------------------------------------------------------------
    def request_stop(self, signum: int = signal.SIGINT, frame: Any = None) -> None:
        self.stopping = True

    def run(self) -> int:
        old = {s: signal.signal(s, self.request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.say(f"supervising runners from {self.folder} (command: {self.argv[0]} ...); SIGINT or SIGTERM stops them")
            while not self.stopping:
                self.step()
                deadline = time.monotonic() + self.tick
                while not self.stopping and time.monotonic() < deadline:
                    time.sleep(min(0.05, self.tick))
            self.shutdown()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        return 0

    def running(self) -> list[Child]:
        return [c for c in self.children.values() if c.proc is not None and c.proc.poll() is None]

    def shutdown(self) -> None:
        live = self.running()
        self.say(f"stopping {len(live)} runner(s): SIGINT, then SIGKILL after {self.grace:g}s")
        for c in live:
            self._signal(c, signal.SIGINT)
        deadline = time.monotonic() + self.grace
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        for c in self.running():
            self.say(f"{c.key}: still running after {self.grace:g}s; sending SIGKILL")
            self._signal(c, signal.SIGKILL)
        for c in self.children.values():
            if c.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    c.proc.wait(timeout=10)
                if c.proc.returncode is not None:
                    self.say(f"{c.key}: stopped (exit code {c.proc.returncode})")
            if c.log is not None:
                c.log.close()
                c.log = None
        self.say("all runners stopped")
