"""Process helpers of the benches that build a world of processes (bench_serve.py, bench_jobs.py).

* ``Sandbox``: ``gridctl sandbox serve`` on a free port as its own process, in its own session,
  its output in a file; ``ready`` waits for its health route, ``ctl`` calls a control route
  (``/_sandbox/...``), ``api`` the REST API with a token; a failure raises the ``error`` it was
  given (bench_serve's ``Problem``, ``SystemExit`` by default);
* ``start_logged``: any child the same way (``gridctl serve``), ``stop_process``: SIGTERM, then
  SIGKILL to the child or to its whole process group;
* ``stray_pids`` / ``kill_strays``: the processes left running under a folder (launchers, runners);
* ``Stop`` and ``stop_on_sigterm``: SIGTERM to the bench raises ``Stop``, so it goes through the
  same cleanup as Ctrl-C;
* ``free_port``, ``quiet_session`` (no proxy from the environment), ``wait_for`` (a bounded poll),
  ``pct`` (nearest-rank percentile).

Imported by name (``from procs import ...``): the benches run as scripts, their folder first on
``sys.path``. Not a bench itself (no ``bench_`` prefix: ``nox -s bench`` does not run it).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

GRIDCTL = [sys.executable, "-m", "gridctl"]


class Stop(Exception):
    """SIGTERM to this script: stop like Ctrl-C, through the cleanup."""


def stop_on_sigterm() -> None:
    """From now on SIGTERM raises ``Stop`` in the main thread."""

    def on_term(signum: int, frame: Any) -> None:
        raise Stop()

    signal.signal(signal.SIGTERM, on_term)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def quiet_session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def wait_for(cond: Any, timeout: float, every: float = 0.1, proc: subprocess.Popen | None = None) -> Any:
    """Call ``cond`` until it returns something true, at most ``timeout`` seconds (None once ``proc`` has exited)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / every) + 2):
        if proc is not None and proc.poll() is not None:
            return None
        with contextlib.suppress(requests.RequestException):
            value = cond()
            if value:
                return value
        if time.monotonic() > deadline:
            return None
        time.sleep(every)
    return None


# -- children -------------------------------------------------------------------------------------------
def start_logged(cmd: list[str], log: Path, **popen: Any) -> subprocess.Popen:
    """``cmd`` in a session of its own (Ctrl-C reaches it through us), its output in ``log``: a file, not
    a pipe nobody drains."""
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **popen)


def stop_process(proc: subprocess.Popen, timeout: float = 15.0, group: bool = False) -> bool:
    """SIGTERM, then SIGKILL (to its whole process group with ``group``) if it has not exited within
    ``timeout`` seconds. Whether it exited by itself (or had already)."""
    if proc.poll() is not None:
        return True
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        if group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait(timeout=10)
        return False


def stray_pids(folder: Path) -> list[int]:
    """Live processes whose working folder is under ``folder`` (the launchers and their runners)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if not os.readlink(proc / "cwd").startswith(str(folder)):
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
                out.append(int(proc.name))
    return out


def kill_strays(folder: Path, grace: float = 5.0) -> int:
    """SIGTERM, then SIGKILL, every process started under ``folder``; how many there were."""
    pids = stray_pids(folder)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for _ in range(int(grace / 0.1) + 1):
        if not stray_pids(folder) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for pid in stray_pids(folder):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


# -- the sandbox ----------------------------------------------------------------------------------------
class Sandbox:
    """``gridctl sandbox serve --port PORT ARGS...`` as its own process, its output in ``log``."""

    def __init__(self, log: Path, *args: str, error: type[Exception] = SystemExit):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.error = error
        self.proc = start_logged([*GRIDCTL, "sandbox", "serve", "--port", str(self.port), *args], log)
        self.http = quiet_session()

    def ready(self, timeout: float = 60.0) -> None:
        if not wait_for(lambda: self.http.get(f"{self.url}/_sandbox/health", timeout=2).ok, timeout, 0.1, self.proc):
            raise self.error(f"the sandbox did not start:\n{self.log.read_text(errors='replace')[-2000:]}")

    def ctl(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.http.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=30)
        if resp.status_code >= 400:
            raise self.error(f"{method} /_sandbox{path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def api(self, token: str, method: str, path: str, body: Any = None, want: tuple[int, ...] = (200, 201, 204),
            http: requests.Session | None = None) -> Any:
        headers = {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}
        resp = (http or self.http).request(method, self.url + path, json=body, headers=headers, timeout=30)
        if resp.status_code not in want:
            raise self.error(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    def stop(self) -> None:
        self.http.close()
        stop_process(self.proc, 15.0)
