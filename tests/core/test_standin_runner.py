"""End to end: `gridctl sandbox runner` processes (real subprocesses) take the jobs of dispatched
workflows from a strict sandbox: the right runner for each job's labels, runner groups that
keep a repository out, a runner killed mid-job (its job fails, nothing else changes, no
process left), clean stops on SIGTERM/SIGINT, and `gridctl runners run` supervising them."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..helpers import grid_yaml, wait_for

TWO_JOBS = """\
name: Two
on: workflow_dispatch
env:
  GRIDCTL_SANDBOX_JOB_SECONDS: "0.5"
jobs:
  cpu:
    runs-on: [self-hosted, linux]
    steps:
      - run: make
  gpu:
    runs-on: [self-hosted, gpu]
    steps:
      - run: make gpu
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Runner:
    """One `gridctl sandbox runner` process."""

    def __init__(self, grid, config: str, name: str, *, via_env: bool = False, env: dict | None = None):
        self.log = grid.dir / f"{name}.out"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_SANDBOX_", "ACTIONS_RUNNER_"))}
        full_env.update({"PYTHONUNBUFFERED": "1", **(env or {})})
        cmd = [sys.executable, "-m", "gridctl", "sandbox", "runner"]
        if via_env:
            full_env["ACTIONS_RUNNER_INPUT_JITCONFIG"] = config
        else:
            path = grid.dir / f"{name}.jit"
            path.write_text(config)
            cmd += ["--jit-file", str(path)]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=grid.dir, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def text(self) -> str:
        return self.log.read_text()

    def wait(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout=timeout)

    def children(self) -> list[str]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return path.read_text().split() if path.exists() else []


@pytest.fixture
def runners():
    started: list[Runner] = []

    def start(*args, **kwargs) -> Runner:
        r = Runner(*args, **kwargs)
        started.append(r)
        return r

    yield start
    for r in started:  # whatever a failed test left: stopped and reaped
        if r.proc.poll() is None:
            os.killpg(r.proc.pid, signal.SIGKILL)
            r.proc.wait(timeout=10)


def setup_repo(grid, repo: str = "alice/app", workflow: str = TWO_JOBS, name: str = "two.yml") -> None:
    owner, _, short = repo.partition("/")
    url = "/user/repos" if owner == "alice" else f"/orgs/{owner}/repos"
    resp = grid.api("alice", "POST", url, {"name": short, "private": True, "auto_init": True})
    assert resp.status_code == 201, resp.text
    body = {"message": "workflow", "content": base64.b64encode(workflow.encode()).decode()}
    resp = grid.api("alice", "PUT", f"/repos/{repo}/contents/.github/workflows/{name}", body)
    assert resp.status_code == 201, resp.text


def jit(grid, name: str, labels: list[str], *, repo: str = "alice/app", org: str | None = None, group: int = 1) -> str:
    url = f"/orgs/{org}/actions/runners/generate-jitconfig" if org else f"/repos/{repo}/actions/runners/generate-jitconfig"
    resp = grid.api("alice", "POST", url, {"name": name, "runner_group_id": group, "labels": labels})
    assert resp.status_code == 201, resp.text
    return resp.json()["encoded_jit_config"]


def dispatch(grid, repo: str = "alice/app", name: str = "two.yml") -> int:
    resp = grid.api("alice", "POST", f"/repos/{repo}/actions/workflows/{name}/dispatches",
                    {"ref": "main", "return_run_details": True})
    assert resp.status_code == 200, resp.text
    return resp.json()["workflow_run_id"]


def listening(grid) -> set[str]:
    ids = set(grid.ctl("GET", "/jobs")["listening_runners"])
    return {r["name"] for r in grid.ctl("GET", "/runners")["runners"] if r["id"] in ids}


def jobs(grid, run: int, repo: str = "alice/app") -> dict[str, dict]:
    body = grid.api("alice", "GET", f"/repos/{repo}/actions/runs/{run}/jobs").json()
    return {j["name"]: j for j in body["jobs"]}


def run_of(grid, run: int, repo: str = "alice/app") -> dict:
    return grid.api("alice", "GET", f"/repos/{repo}/actions/runs/{run}").json()


@pytest.fixture
def fast(grid):
    grid.user("alice")
    grid.ctl("PUT", "/jobs/settings", {"poll_seconds": 0.05, "tick_seconds": 0.05})
    return grid


def test_each_job_runs_on_the_runner_with_its_labels(fast, runners):
    grid = fast
    setup_repo(grid)
    linux_cfg, gpu_cfg = jit(grid, "linux-1", ["linux"]), jit(grid, "gpu-1", ["gpu"])
    linux = runners(grid, linux_cfg, "linux-1")
    gpu = runners(grid, gpu_cfg, "gpu-1", via_env=True)  # the Actions runner's environment variable
    wait_for(lambda: listening(grid) == {"linux-1", "gpu-1"}, "both runners listening")
    run = dispatch(grid)
    wait_for(lambda: run_of(grid, run)["status"] == "completed", "the run to complete")
    assert run_of(grid, run)["conclusion"] == "success"
    done = jobs(grid, run)
    assert {n: (j["runner_name"], j["conclusion"]) for n, j in done.items()} == {
        "cpu": ("linux-1", "success"), "gpu": ("gpu-1", "success")
    }
    assert [s["name"] for s in done["gpu"]["steps"]] == ["Set up job", "Run make gpu", "Complete job"]
    assert (linux.wait(), gpu.wait()) == (0, 0)  # ephemeral: one job, then exit 0
    assert grid.api("alice", "GET", "/repos/alice/app/actions/runners").json()["total_count"] == 0  # JIT runners gone
    for r, cfg in ((linux, linux_cfg), (gpu, gpu_cfg)):
        assert cfg not in r.text() and "ran its job and is removed" in r.text()

    # with no gpu runner the gpu job stays queued while the cpu job completes
    alone = runners(grid, jit(grid, "linux-2", ["linux"]), "linux-2")
    wait_for(lambda: listening(grid) == {"linux-2"}, "the runner listening")
    second = dispatch(grid)
    assert alone.wait() == 0
    after = jobs(grid, second)
    assert (after["cpu"]["status"], after["cpu"]["conclusion"], after["cpu"]["runner_name"]) == ("completed", "success", "linux-2")
    assert (after["gpu"]["status"], after["gpu"]["runner_name"]) == ("queued", None)
    assert run_of(grid, second)["status"] == "in_progress"


def test_an_org_runner_never_takes_a_job_its_group_keeps_out(fast, runners):
    grid = fast
    grid.org("acme", admins=("alice",))
    setup_repo(grid, "acme/svc", "on: workflow_dispatch\njobs:\n  a:\n    runs-on: [self-hosted, big]\n", "a.yml")
    setup_repo(grid, "acme/other", "on: workflow_dispatch\njobs:\n  a:\n    runs-on: [self-hosted, big]\n"
               "    env: {GRIDCTL_SANDBOX_JOB_SECONDS: '0'}\n", "a.yml")
    other_id = grid.api("alice", "GET", "/repos/acme/other").json()["id"]
    resp = grid.api("alice", "POST", "/orgs/acme/actions/runner-groups",
                    {"name": "other-only", "visibility": "selected", "selected_repository_ids": [other_id]})
    assert resp.status_code == 201, resp.text
    runner = runners(grid, jit(grid, "big-1", ["big"], org="acme", group=resp.json()["id"]), "big-1")
    wait_for(lambda: listening(grid) == {"big-1"}, "the runner listening")
    kept_out = dispatch(grid, "acme/svc", "a.yml")
    grid.ctl("POST", "/stats/reset")
    time.sleep(1.0)  # ~20 polls and ticks
    assert jobs(grid, kept_out, "acme/svc")["a"]["status"] == "queued"
    assert runner.proc.poll() is None and "running job" not in runner.text()
    allowed = dispatch(grid, "acme/other", "a.yml")
    assert runner.wait() == 0
    assert jobs(grid, allowed, "acme/other")["a"]["runner_name"] == "big-1"
    assert jobs(grid, kept_out, "acme/svc")["a"]["status"] == "queued"


def test_killing_a_runner_mid_job_fails_only_its_job(fast, runners):
    grid = fast
    grid.ctl("PUT", "/jobs/settings", {"lease_seconds": 1.0})
    setup_repo(grid, workflow=(
        "on: workflow_dispatch\njobs:\n  cpu:\n    runs-on: [self-hosted, linux]\n"
        "    env: {GRIDCTL_SANDBOX_JOB_SECONDS: '30'}\n  gpu:\n    runs-on: [self-hosted, gpu]\n"
    ))
    doomed = runners(grid, jit(grid, "linux-1", ["linux"]), "linux-1")
    steady = runners(grid, jit(grid, "gpu-1", ["gpu"]), "gpu-1", env={"GRIDCTL_SANDBOX_JOB_SECONDS": "3"})
    wait_for(lambda: listening(grid) == {"linux-1", "gpu-1"}, "both runners listening")
    run = dispatch(grid)
    wait_for(lambda: {j["status"] for j in jobs(grid, run).values()} == {"in_progress"}, "both jobs in progress")
    assert doomed.children() == [] and steady.children() == []  # a stand-in starts no process
    doomed.proc.send_signal(signal.SIGKILL)
    assert doomed.wait() == -signal.SIGKILL
    lost = wait_for(lambda: (j := jobs(grid, run)["cpu"])["status"] == "completed" and j, "the lost runner's job to fail")
    assert lost["conclusion"] == "failure"
    record = next(j for j in grid.ctl("GET", f"/jobs?run={run}")["jobs"] if j["name"] == "cpu")
    assert record["message"].startswith("The self-hosted runner: linux-1 lost communication with the server.")
    names = [r["name"] for r in grid.ctl("GET", "/runners")["runners"]]
    assert names == ["gpu-1"]  # the killed JIT runner is removed; the other one keeps its job
    assert jobs(grid, run)["gpu"]["status"] == "in_progress"
    assert steady.wait() == 0  # its job (3 s from its environment) completes as if nothing happened
    gpu = jobs(grid, run)["gpu"]
    assert (gpu["status"], gpu["conclusion"], gpu["runner_name"]) == ("completed", "success", "gpu-1")
    assert run_of(grid, run)["conclusion"] == "failure"
    assert not alive(doomed.proc.pid) and not alive(steady.proc.pid)


def test_sigterm_mid_job_fails_the_job_as_a_shutdown(fast, runners):
    grid = fast
    setup_repo(grid)
    r = runners(grid, jit(grid, "linux-1", ["linux"]), "linux-1", env={"GRIDCTL_SANDBOX_JOB_SECONDS": "30"})
    wait_for(lambda: listening(grid) == {"linux-1"}, "the runner listening")
    grid.api("alice", "PUT", "/repos/alice/app/contents/.github/workflows/one.yml", {
        "message": "one", "content": base64.b64encode(b"on: workflow_dispatch\njobs:\n  cpu:\n    runs-on: [self-hosted, linux]\n").decode()})
    run = dispatch(grid, name="one.yml")
    wait_for(lambda: jobs(grid, run)["cpu"]["status"] == "in_progress", "the job in progress")
    r.proc.send_signal(signal.SIGTERM)
    assert r.wait(timeout=10) == 0
    cpu = jobs(grid, run)["cpu"]
    assert (cpu["status"], cpu["conclusion"]) == ("completed", "failure")
    record = grid.ctl("GET", f"/jobs?run={run}")["jobs"][0]
    assert record["message"].startswith("The runner has received a shutdown signal.")


def test_sigterm_and_sigint_stop_an_idle_runner_cleanly(fast, runners):
    grid = fast
    setup_repo(grid)
    for sig, name in ((signal.SIGTERM, "t"), (signal.SIGINT, "i")):
        r = runners(grid, jit(grid, name, ["cpu"]), name)
        wait_for(lambda n=name: n in listening(grid), "the runner listening")
        r.proc.send_signal(sig)
        assert r.wait(timeout=10) == 0
        assert "stopping (signal)" in r.text()
        status = {x["name"]: x["status"] for x in grid.ctl("GET", "/runners")["runners"]}
        assert status[name] == "offline" and name not in listening(grid)


def test_job_seconds_and_conclusion_come_from_the_workflow_or_the_process(fast, runners):
    grid = fast
    setup_repo(grid, workflow=(
        "on: workflow_dispatch\njobs:\n  a:\n    runs-on: [self-hosted]\n"
        "    env: {GRIDCTL_SANDBOX_JOB_CONCLUSION: failure}\n  b:\n    needs: a\n    runs-on: [self-hosted]\n"
    ))
    r = runners(grid, jit(grid, "r", ["x"]), "r", env={"GRIDCTL_SANDBOX_JOB_SECONDS": "0.2"})
    wait_for(lambda: "r" in listening(grid), "the runner listening")
    run = dispatch(grid)
    assert r.wait() == 0
    got = jobs(grid, run)
    assert (got["a"]["conclusion"], got["b"]["conclusion"]) == ("failure", "skipped")
    assert "for 0.2s" in r.text()


def test_bad_configurations_are_one_line_errors(fast, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_SANDBOX_", "ACTIONS_RUNNER_"))}
    base = [sys.executable, "-m", "gridctl", "sandbox", "runner"]
    canary = base64.b64encode(b'{"server_url": "' + fast.sb.config.public_url.encode() + b'/x", "secret": "CANARY-1"}').decode()
    (tmp_path / "forged.jit").write_text(canary)
    cases = [
        ([], "no JIT configuration: give --jit-file FILE, or set ACTIONS_RUNNER_INPUT_JITCONFIG"),
        (["--jit-file", str(tmp_path / "missing.jit")], "cannot read"),
        (["--jit-file", str(tmp_path / "forged.jit")], "the sandbox refused this runner: No runner was configured"),
        (["--jitconfig", "bm90IGpzb24="], "the JIT configuration does not say where its sandbox is"),
    ]
    for args, message in cases:
        r = subprocess.run(base + args, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("error: ") and message in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert "CANARY" not in r.stdout + r.stderr


MANIFEST = grid_yaml("""\
repos:
  alice/app: {description: app}
runners:
  - scope: alice/app
    names: [ci-1, ci-2]
    labels: [linux]
""")


def test_runners_run_supervises_stand_in_runners_that_take_jobs(fast):
    grid = fast
    setup_repo(grid, workflow=TWO_JOBS.replace("[self-hosted, gpu]", "[self-hosted, linux]"))
    grid.write("grid.yaml", MANIFEST)
    grid.check(0, "apply", "--auto-approve")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_SANDBOX_", "ACTIONS_RUNNER_"))}
    env["PYTHONUNBUFFERED"] = "1"
    command = f"{sys.executable} -m gridctl sandbox runner"  # the JIT config comes through the environment
    out = grid.dir / "supervisor.out"
    with open(out, "wb") as fh:
        sup = subprocess.Popen([sys.executable, "-m", "gridctl", "runners", "run", "--dir", "runners", "--command", command],
                               cwd=grid.dir, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: listening(grid) == {"ci-1", "ci-2"}, "both runners listening")
        run = dispatch(grid)
        wait_for(lambda: run_of(grid, run)["status"] == "completed", "the run to complete")
        assert run_of(grid, run)["conclusion"] == "success"
        assert {j["runner_name"] for j in jobs(grid, run).values()} == {"ci-1", "ci-2"}
        wait_for(lambda: out.read_text().count("exited normally") == 2, "both runners to finish")
    finally:
        sup.send_signal(signal.SIGINT)
        assert sup.wait(timeout=30) == 0
    log = (grid.dir / "runners/repos/alice/app/ci-1/runner.log").read_text()
    assert "ran its job and is removed" in log
    jit_text = (grid.dir / "runners/repos/alice/app/ci-1.jit").read_text().strip()
    assert jit_text not in out.read_text() + log
