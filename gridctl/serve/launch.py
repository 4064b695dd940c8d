"""Launcher processes: one per runner the controller registers.

A pool's ``launcher`` is a command template (see :mod:`gridctl.serve.declare`). Each runner gets
its own folder, ``<workdir>/runners/<name>/`` (0700), where the launcher starts and where its
output goes (``launcher.log``, 0600). The runner's JIT configuration reaches the launcher through
its environment only — ``ACTIONS_RUNNER_INPUT_JITCONFIG``, the variable the Actions runner reads
its ``--jitconfig`` argument from — plus a 0600 file when the template asks for one
(``{jitconfig_file}`` or ``GRIDCTL_JIT_FILE``), deleted as soon as the runner is online. It is
never on a command line, in a log line of ours, in the database or in an API answer.

Launchers run in their own session (process group), so a signal meant for the controller does
not reach them, and the controller can stop a launcher with everything it started (SIGTERM to
the group, SIGKILL after a grace period). A launcher outlives a killed controller; the restarted
controller finds it again by the pid and the process start time it recorded (a reused pid is
not mistaken for it).

The environment a launcher gets is the controller's minus every variable the manifest names as
a source of a secret (account tokens, API user tokens, the webhook secret) and minus
``GITHUB_TOKEN``/``GH_TOKEN``: a runner never holds the controller's credentials.

Without a launcher a pool starts the Actions runner's ``./run.sh``: install it once with
``gridctl runners install --dir <workdir>/runners`` and every runner the controller launches gets
its own folder of hard links to that one unpack (its own ``_work`` and ``_diag``).

``gridctl`` as a launcher's program means this gridctl (``python -m gridctl`` of the running
interpreter), so ``gridctl sandbox runner`` — the sandbox's stand-in runner, which reads
``ACTIONS_RUNNER_INPUT_JITCONFIG`` itself — works from any environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..fleet.install import link_tree
from ..util.files import private_dir
from .declare import DEFAULT_LAUNCHER, JIT_ENV, JIT_FILE_ENV

#: the launcher's output kept per runner (the API serves its tail)
LOG_NAME = "launcher.log"
JIT_NAME = ".jitconfig"
#: what ``GET /api/v1/runners/{id}/logs`` returns at most
LOG_TAIL_BYTES = 64 * 1024
#: seconds a launcher gets between SIGTERM and SIGKILL
STOP_GRACE = 10.0
#: the stand-in runner, used by ``gridctl serve --sandbox`` for pools without a launcher
STANDIN: tuple[str, ...] = ("gridctl", "sandbox", "runner")
#: long base64 runs (a JIT configuration is one) are masked in served logs whatever they are
_BLOB = re.compile(r"[A-Za-z0-9+/=_-]{120,}")


class LaunchError(Exception):
    """A launcher that could not be started (the message names the pool and the reason)."""


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of ``/proc/<pid>/stat``),
    None when there is no such process (or no /proc)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    rest = raw[raw.rfind(")") + 2 :].split()
    try:
        if rest[0] == "Z":
            return None  # a zombie has ended
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def alive(pid: int | None, start: int | None) -> bool:
    """Whether the launcher ``pid`` started at ``start`` still runs."""
    if not pid:
        return False
    now_start = process_start(pid)
    if now_start is None:
        return False
    return start is None or now_start == start


@dataclass
class Started:
    pid: int
    start: int | None
    proc: subprocess.Popen[bytes]


class Launchers:
    def __init__(self, workdir: Path, *, strip_env: Iterable[str] = (), standin_default: bool = False):
        self.root = workdir / "runners"
        self.strip_env = {*strip_env, "GITHUB_TOKEN", "GH_TOKEN"}
        self.standin_default = standin_default
        self.children: dict[str, Started] = {}
        #: JIT configurations handed out by this process, masked in served logs
        self._secrets: dict[str, str] = {}

    def folder(self, name: str) -> Path:
        return self.root / name

    def argv(self, template: tuple[str, ...], *, name: str, pool: str, jit_file: Path) -> list[str]:
        if self.standin_default and template == ("./run.sh",):
            template = STANDIN
        values = {"{jitconfig_file}": str(jit_file), "{name}": name, "{workdir}": str(self.folder(name)), "{pool}": pool}
        out = []
        for arg in template:
            for k, v in values.items():
                arg = arg.replace(k, v)
            out.append(arg)
        if out and out[0] == "gridctl":
            out[:1] = [sys.executable, "-m", "gridctl"]
        return out

    def installed_runner(self) -> Path | None:
        """The Actions runner unpacked by ``gridctl runners install --dir <workdir>/runners``
        (``.runner/<version>/``, the newest), or None."""
        found = [p.parent for p in (self.root / ".runner").glob("*/run.sh") if p.is_file()]
        return max(found, key=lambda p: p.stat().st_mtime) if found else None

    def start(self, template: tuple[str, ...], *, name: str, pool: str, jit: str) -> Started:
        shared = self.installed_runner() if template == DEFAULT_LAUNCHER and not self.standin_default else None
        if shared is not None and not self.folder(name).exists():
            # each runner its own folder (its _work and _diag), the runner's files hard-linked from one unpack
            private_dir(self.root)
            link_tree(shared, self.folder(name))
        folder = private_dir(self.folder(name))
        jit_file = folder / JIT_NAME
        argv = self.argv(template, name=name, pool=pool, jit_file=jit_file)
        wants_file = any("{jitconfig_file}" in a or JIT_FILE_ENV in a for a in template)
        env = {k: v for k, v in os.environ.items() if k not in self.strip_env}
        env.update({JIT_ENV: jit, "GRIDCTL_RUNNER_NAME": name, "GRIDCTL_RUNNER_DIR": str(folder), "GRIDCTL_POOL": pool})
        if wants_file:
            fd = os.open(jit_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(jit)
            env[JIT_FILE_ENV] = str(jit_file)
        program = argv[0]
        if program.startswith("./") and not (folder / program[2:]).exists():
            self.forget_file(name)
            raise LaunchError(
                f"pool {pool}: {program} is not in the runner's folder {folder}: install the Actions runner once "
                f"(gridctl runners install --dir {self.root}) or declare the pool's launcher"
            )
        log_fd = os.open(folder / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = subprocess.Popen(
                argv, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self.forget_file(name)
            raise LaunchError(f"pool {pool}: cannot start the launcher {program!r}: {exc.strerror or exc}") from None
        finally:
            os.close(log_fd)
        started = Started(proc.pid, process_start(proc.pid), proc)
        self.children[name] = started
        self._secrets[name] = jit
        return started

    def forget_file(self, name: str) -> None:
        """The JIT file is needed only until the runner is online."""
        with contextlib.suppress(OSError):
            (self.folder(name) / JIT_NAME).unlink()

    def reap(self) -> list[tuple[str, int]]:
        """Launchers of this process that ended since the last call: (runner name, exit code)."""
        out = []
        for name, st in list(self.children.items()):
            code = st.proc.poll()
            if code is not None:
                out.append((name, code))
                del self.children[name]
                self._secrets.pop(name, None)
                self.forget_file(name)
        return out

    def running(self, name: str, pid: int | None, start: int | None) -> bool:
        st = self.children.get(name)
        if st is not None:
            return st.proc.poll() is None
        return alive(pid, start)

    def stop(self, name: str, pid: int | None, start: int | None, *, grace: float = STOP_GRACE) -> None:
        """SIGTERM to the launcher's process group, SIGKILL after ``grace`` seconds."""
        self.forget_file(name)
        st = self.children.get(name)
        if st is not None:
            pid, start = st.pid, st.start
        if not alive(pid, start):
            self._done(name)
            return
        assert pid is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.running(name, pid, start):
            time.sleep(0.05)
        if self.running(name, pid, start):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            if st is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    st.proc.wait(timeout=5)
        self._done(name)

    def _done(self, name: str) -> None:
        st = self.children.pop(name, None)
        if st is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                st.proc.wait(timeout=1)
        self._secrets.pop(name, None)

    def log_tail(self, name: str) -> str:
        """The end of a launcher's output, with JIT configurations masked."""
        path = self.folder(name) / LOG_NAME
        try:
            with open(path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - LOG_TAIL_BYTES))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        for secret in self._secrets.values():
            text = text.replace(secret, "***")
        return _BLOB.sub("***", text)
