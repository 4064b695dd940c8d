"""End to end: `gridctl runners run` supervising stand-in runner processes registered by a real
apply against a strict sandbox: restart with backoff on crash, follow apply (new / removed JIT
files), SIGINT then SIGKILL on shutdown, no process left behind, no JIT config in any output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..helpers import grid_yaml, wait_for

STANDIN = Path(__file__).with_name("standin_runner.py")

MANIFEST = grid_yaml("""\
repos:
  alice/app: {description: app}
runners:
  - scope: alice/app
    names: [NAMES]
    labels: [build]
""")


def manifest(*names: str) -> str:
    return MANIFEST.replace("NAMES", ", ".join(names))


def workdir(grid, name: str) -> Path:
    return grid.dir / "runners/repos/alice/app" / name


def starts(grid, name: str) -> list[int]:
    log = workdir(grid, name) / "standin.log"
    if not log.exists():
        return []
    return [int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("start ")]


def status(grid) -> dict[str, str]:
    return {r["name"]: r["status"] for r in grid.ctl("GET", "/runners")["runners"]}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie nobody reaped would still answer kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Supervisor:
    def __init__(self, grid, *extra: str):
        self.out = grid.dir / "supervisor.out"
        self.err = grid.dir / "supervisor.err"
        env = {**os.environ, "GRIDCTL_SANDBOX_URL": grid.sb.config.public_url, "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "gridctl", "runners", "run", "--dir", "runners", "--command", f"{sys.executable} {STANDIN} {{jitconfig_file}}", *extra]
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.proc = subprocess.Popen(cmd, cwd=grid.dir, env=env, stdout=o, stderr=e)

    def text(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self, timeout: float = 20.0) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """Teardown after a failed test: SIGTERM (the supervisor stops its runners), then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def supervised(grid):
    started: list[Supervisor] = []

    def start(*extra: str) -> Supervisor:
        sup = Supervisor(grid, *extra)
        started.append(sup)
        return sup

    yield start
    for sup in started:
        sup.kill()
    for log in (grid.dir / "runners").rglob("standin.log"):  # nothing may outlive the test
        for line in log.read_text().splitlines():
            if line.startswith("start ") and alive(int(line.split()[1])):
                os.kill(int(line.split()[1]), signal.SIGKILL)


def test_restart_on_crash_and_clean_shutdown(grid, supervised):
    grid.user("alice")
    grid.write("grid.yaml", manifest("app-1", "app-2"))
    grid.check(0, "apply", "--auto-approve")
    configs = [(grid.dir / f"runners/repos/alice/app/{n}.jit").read_text() for n in ("app-1", "app-2")]
    workdir(grid, "app-2").mkdir(parents=True)
    (workdir(grid, "app-2") / "ignore-sigint").write_text("")  # this one only dies by SIGKILL

    sup = supervised("--grace", "1", "--backoff", "0.2")
    wait_for(lambda: status(grid) == {"app-1": "online", "app-2": "online"}, "both runners online")
    (first,) = wait_for(lambda: starts(grid, "app-1"), "app-1 started")
    log = (workdir(grid, "app-1") / "standin.log").read_text()
    assert "env_ok True" in log and "name app-1" in log  # the config also reached it via the environment

    # a crash: restarted after the backoff, by a new process
    (workdir(grid, "app-1") / "crash").write_text("")
    pids = wait_for(lambda: (p := starts(grid, "app-1")) and len(p) == 2 and p, "app-1 restarted")
    assert pids[0] == first and pids[1] != first and not alive(first)
    assert "app-1: exited with code 3; restarting in 0.2s (crash 1)" in sup.text()
    # a second crash backs off twice as long
    (workdir(grid, "app-1") / "crash").write_text("")
    pids = wait_for(lambda: (p := starts(grid, "app-1")) and len(p) == 3 and p, "app-1 restarted again")
    assert "restarting in 0.4s (crash 2)" in sup.text()
    (app2,) = starts(grid, "app-2")

    # SIGINT: app-1 stops on SIGINT, app-2 ignores it and is killed after the grace period
    t0 = time.monotonic()
    assert sup.stop() == 0
    took = time.monotonic() - t0
    assert 1.0 <= took < 10, took
    text = sup.text()
    assert "app-2: still running after 1s; sending SIGKILL" in text and "all runners stopped" in text
    assert f"stop {pids[2]}" in (workdir(grid, "app-1") / "standin.log").read_text()
    assert "stop" not in (workdir(grid, "app-2") / "standin.log").read_text()
    for pid in [*pids, app2]:
        assert not alive(pid), pid
    # each runner ran in its own folder; the JIT configuration was printed nowhere
    assert (workdir(grid, "app-1") / "runner.log").exists() and (workdir(grid, "app-2") / "runner.log").exists()
    outputs = text + "".join(p.read_text() for p in (grid.dir / "runners").rglob("*.log"))
    for config in configs:
        assert config not in outputs


def test_supervisor_follows_apply_and_waits_after_a_finished_job(grid, supervised):
    grid.user("alice")
    grid.write("grid.yaml", manifest("app-1"))
    assert grid.run("apply", "--auto-approve").code == 0
    sup = supervised("--grace", "2", "--backoff", "0.2")
    wait_for(lambda: status(grid) == {"app-1": "online"}, "app-1 online")

    # a runner added to the manifest: apply writes its JIT file, the supervisor starts it
    grid.write("grid.yaml", manifest("app-1", "app-2"))
    assert grid.run("apply", "--auto-approve").code == 0
    wait_for(lambda: status(grid).get("app-2") == "online", "app-2 online")
    # a .jit file inside a runner's folder (a job's checkout) is not a runner
    stray = workdir(grid, "app-2") / "_work/app/app/x.jit"
    stray.parent.mkdir(parents=True)
    stray.write_text("not a runner")

    # a runner removed from the manifest: online and idle, so apply deletes it and its file;
    # the supervisor stops its process
    (app1,) = starts(grid, "app-1")
    grid.write("grid.yaml", manifest("app-2"))
    r = grid.run("apply", "--auto-approve")
    assert r.code == 0 and "- runner alice/app app-1" in r.out, r.all
    assert "app-1" not in status(grid)
    wait_for(lambda: not alive(app1), "app-1 stopped")
    assert "app-1: its JIT file is gone (the runner was removed); stopping it" in sup.text()
    assert f"stop {app1}" in (workdir(grid, "app-1") / "standin.log").read_text()

    # a runner that finished its job (exit 0) is not restarted until a new JIT file arrives
    (workdir(grid, "app-2") / "finish").write_text("")
    wait_for(lambda: "app-2: exited normally" in sup.text(), "app-2 finished")
    time.sleep(0.8)
    assert len(starts(grid, "app-2")) == 1
    jit = grid.dir / "runners/repos/alice/app/app-2.jit"
    jit.write_text(jit.read_text() + "\n")  # a new registration (same stand-in config)
    wait_for(lambda: len(starts(grid, "app-2")) == 2, "app-2 restarted")
    assert sup.stop() == 0
    assert not any(alive(p) for p in starts(grid, "app-2"))
    assert "x.jit" not in sup.text() and "_work" not in sup.text()
