"""A controller (``gridctl serve``) as a real process against a strict in-process sandbox, with
stand-in runners as real processes: what the controller tests share.

    fleet = Fleet(grid, pool={...}, group={...})
    fleet.start()                       # gridctl serve, its webhook registered on the repository
    fleet.add("small", priority=3)      # a queue entry through the API, as an admin
    fleet.until(lambda: ..., "what")    # bounded waiting
    fleet.stop()                        # SIGTERM; returns (exit code, stderr)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.pgserver import free_port

ADMIN = "adm-" + "e5" * 16
VIEWER = "ro-" + "f6" * 16
SECRET = "whsec-" + "a7" * 12
ADMIN_PASSWORD = "pw-admin-" + "b8" * 8
VIEWER_PASSWORD = "pw-viewer-" + "c9" * 8
OWNER = "grid-ops"
REPO = f"{OWNER}/batch"

WORKFLOW = """\
name: batch
on:
  workflow_dispatch:
    inputs:
      size: {required: true, type: string}
env:
  GRIDCTL_SANDBOX_JOB_SECONDS: "%s"
jobs:
  work:
    runs-on: [self-hosted, batch]
    steps:
      - run: echo "${{ inputs.size }}"
"""


def manifest(pool: dict[str, Any] | None, group: dict[str, Any] | None, serve: dict[str, Any] | None = None,
             extra: dict[str, Any] | None = None) -> str:
    doc: dict[str, Any] = {
        "version": 1,
        "accounts": {"ops": {"login": OWNER, "token": {"env": "GRID_TOKEN_GRID_OPS"}}},
        "repos": {REPO: {"visibility": "private", "auto_init": True,
                         "files": {".github/workflows/batch.yml": {"source": "workflows/batch.yml"}}}},
        "dispatch": {
            "small": {"repo": REPO, "workflow": "batch.yml", "inputs": {"size": "small"}},
            "large": {"repo": REPO, "workflow": "batch.yml", "inputs": {"size": "large"}},
        },
        "serve": {
            "poll_interval": "1s",
            "webhook_secret": {"env": "GRID_WEBHOOK_SECRET"},
            "api": {"users": {"admin": {"role": "admin", "token": {"env": "GRID_API_ADMIN"}, "password": {"env": "GRID_PW_ADMIN"}},
                              "viewer": {"role": "readonly", "token": {"env": "GRID_API_VIEWER"}, "password": {"env": "GRID_PW_VIEWER"}}}},
            **(serve or {}),
        },
    }
    doc.update(extra or {})
    if pool is not None:
        doc["pools"] = {"batch": {"scope": REPO, "labels": ["batch"], "launcher": {"command": "gridctl sandbox runner"}, **pool}}
        if doc["pools"]["batch"]["launcher"] is None:  # the default: the Actions runner's ./run.sh
            del doc["pools"]["batch"]["launcher"]
    if group is not None:
        doc["groups"] = {"batch": {"labels": ["batch"], "templates": ["small", "large"], **group}}
    return yaml.safe_dump(doc, sort_keys=False)


class Fleet:
    def __init__(self, grid: Any, *, pool: dict[str, Any] | None = None, group: dict[str, Any] | None = None,
                 serve: dict[str, Any] | None = None, job_seconds: float = 1.0, extra: dict[str, Any] | None = None):
        self.grid = grid
        grid.user(OWNER)
        grid.write("workflows/batch.yml", WORKFLOW % job_seconds)
        grid.write("grid.yaml", manifest(pool, group, serve, extra))
        r = grid.run("apply", "--auto-approve")
        assert r.code == 0, r.all
        self.procs: list[subprocess.Popen[str]] = []
        self.logs: list[str] = []
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    # -- the process ----------------------------------------------------------------------------
    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_", "GITHUB_", "GRID_"))}
        env.update(self.grid.env)
        env.update({
            "GRIDCTL_API_URL": self.grid.sb.url, "GRIDCTL_WRITE_INTERVAL": "0", "GRIDCTL_BACKOFF_BASE": "0.01",
            "GRIDCTL_SECONDARY_FLOOR": "0.01", "GRID_API_ADMIN": ADMIN, "GRID_API_VIEWER": VIEWER,
            "GRID_WEBHOOK_SECRET": SECRET, "NO_COLOR": "1", "GRID_PW_ADMIN": ADMIN_PASSWORD, "GRID_PW_VIEWER": VIEWER_PASSWORD,
        })
        env.update(extra or {})
        return env

    def start(self, *, port: int | None = None, extra_env: dict[str, str] | None = None, hook: bool = True,
              wait: bool = True, global_args: tuple[str, ...] = ()) -> subprocess.Popen[str]:
        port = port or self.port
        log = open(self.grid.dir / f"serve-{len(self.procs)}.log", "w")  # noqa: SIM115 - closed in collect()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridctl", *global_args, "serve", "-f", "grid.yaml", "--listen", f"127.0.0.1:{port}"],
            cwd=self.grid.dir, env=self.env(extra_env), stdout=log, stderr=subprocess.STDOUT, text=True,
        )
        log.close()
        self.procs.append(proc)
        if wait:
            self.healthy(f"http://127.0.0.1:{port}", proc)
        if hook and len(self.procs) == 1:
            r = self.grid.api(OWNER, "POST", f"/repos/{REPO}/hooks", {
                "name": "web", "active": True, "events": ["workflow_job", "workflow_run"],
                "config": {"url": f"{self.base}/webhooks", "content_type": "json", "secret": SECRET}})
            assert r.status_code == 201, r.text
        return proc

    def healthy(self, base: str, proc: subprocess.Popen[str]) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        for _ in range(1200):
            if time.monotonic() > deadline:
                break
            assert proc.poll() is None, self.output()
            with contextlib.suppress(requests.ConnectionError):
                return dict(requests.get(base + "/health", timeout=2).json())
            time.sleep(0.05)
        raise AssertionError("the controller never answered /health:\n" + self.output())

    def output(self) -> str:
        return "\n".join((p.read_text() if p.exists() else "") for p in sorted(self.grid.dir.glob("serve-*.log")))

    def stop(self, proc: subprocess.Popen[str] | None = None, sig: int = signal.SIGTERM) -> int:
        proc = proc or self.procs[-1]
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise AssertionError("the controller did not stop within 60 s:\n" + self.output()) from None

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        kill_launchers(self.grid.dir)

    # -- the API --------------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, *, token: str = ADMIN, base: str | None = None) -> requests.Response:
        return requests.request(method, (base or self.base) + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def add(self, template: str, priority: int = 0) -> dict[str, Any]:
        r = self.call("POST", "/api/v1/groups/batch/queue", {"template": template, "priority": priority})
        assert r.status_code == 201, r.text
        return dict(r.json())

    # -- GitHub as the sandbox sees it ----------------------------------------------------------
    def runners(self) -> list[dict[str, Any]]:
        r = self.grid.api(OWNER, "GET", f"/repos/{REPO}/actions/runners?per_page=100")
        assert r.status_code == 200, r.text
        return list(r.json()["runners"])

    def runs(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in range(1, 20):
            r = self.grid.api(OWNER, "GET", f"/repos/{REPO}/actions/runs?per_page=100&page={page}")
            assert r.status_code == 200, r.text
            got = r.json()["workflow_runs"]
            out += got
            if len(got) < 100:
                break
        return out

    def dispatch(self, size: str = "direct") -> None:
        r = self.grid.api(OWNER, "POST", f"/repos/{REPO}/actions/workflows/batch.yml/dispatches", {"ref": "main", "inputs": {"size": size}})
        assert r.status_code in (200, 204), r.text

    def until(self, cond: Callable[[], Any], what: str, timeout: float = 120, every: float = 0.25,
              on_tick: Callable[[], None] | None = None) -> Any:
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / every) + 2):
            value = cond()
            if value:
                return value
            if on_tick is not None:
                on_tick()
            if time.monotonic() > deadline:
                break
            time.sleep(every)
        raise AssertionError(f"timed out waiting for {what}\n--- controller output ---\n{self.output()[-6000:]}")


def launcher_pids(folder: Path) -> list[int]:
    """Stand-in runner processes started for this test (found by their runner folder)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cwd = os.readlink(proc / "cwd")
            ours = cwd.startswith(str(folder)) and "sandbox" in (proc / "cmdline").read_bytes().decode(errors="replace")
            if ours and (proc / "stat").read_text().split(")")[-1].split()[0] != "Z":
                out.append(int(proc.name))
    return out


def kill_launchers(folder: Path) -> None:
    for pid in launcher_pids(folder):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
