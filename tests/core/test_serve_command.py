"""``gridctl serve`` as a real process on the serve example and the embedded sandbox: the one
command the README shows, the queue kept across restarts, SIGTERM stopping it cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.pgserver import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "adm-" + "c3" * 16
VIEWER = "ro-" + "d4" * 16



def start(work: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from gridctl.cli import main; main()", "serve", "--sandbox", "--listen", f"127.0.0.1:{port}"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for(what: str, cond, proc: subprocess.Popen[str], timeout: float = 90):
    deadline, tries = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and tries < 2000:
        tries += 1
        assert proc.poll() is None, proc.communicate(timeout=10)
        try:
            value = cond()
        except requests.ConnectionError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_the_serve_example_works_its_queue_on_the_embedded_sandbox_in_one_command(tmp_path):
    """README: `gridctl serve --sandbox -f examples/serve/grid.yaml` — the manifest applied to the
    embedded sandbox, stand-in runners launched, demo entries dispatched and completed, the API
    and /metrics answering; SIGTERM stops it (exit 0) and a restart keeps the queue."""
    work = tmp_path / "serve"
    shutil.copytree(ROOT / "examples" / "serve", work, ignore=shutil.ignore_patterns(".gridctl"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_", "GITHUB_"))}
    env.update({"GRID_API_ADMIN_TOKEN": ADMIN, "GRID_API_READONLY_TOKEN": VIEWER})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {VIEWER}"}
    proc = start(work, port, env)
    try:
        health = wait_for("/health", lambda: requests.get(base + "/health", timeout=2).json(), proc)
        assert health["status"] == "ok" and health["leader"] is True
        done = wait_for("the demo entries to complete", lambda: [
            e for e in requests.get(base + "/api/v1/history", headers=auth, timeout=5).json() if e["state"] == "completed"
        ] if len(requests.get(base + "/api/v1/history", headers=auth, timeout=5).json()) >= 2 else None, proc)
        assert {e["conclusion"] for e in done} == {"success"} and {e["created_by"] for e in done} == {"sandbox-demo"}
        metrics = requests.get(base + "/metrics", timeout=5).text
        assert 'gridctl_dispatches_total{group="batch",result="completed"} 2.0' in metrics
        assert "gridctl_runners{" in metrics and "gridctl_github_rate_remaining{" in metrics
        groups = requests.get(base + "/api/v1/groups", headers=auth, timeout=10).json()
        g = groups[0]
        r = requests.post(f"{base}/api/v1/groups/{g['id']}/queue", json={"template": g["templates"][0], "priority": 3, "inputs": {"size": "tiny"}},
                          headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert r.status_code == 201 and r.json()["created_by"] == "admin", r.text
        r = requests.post(f"{base}/api/v1/groups/{g['id']}/queue", json={"template": g["templates"][0]},
                          headers={"Authorization": f"Bearer {VIEWER}"}, timeout=10)
        assert r.status_code == 403
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert ADMIN not in err and VIEWER not in err and "Traceback" not in err
    assert f"serving the controller API and dashboard on {base}" in err
    assert "queued 2 demo entries" in err and "dispatched run" in err and "concluded success" in err
    # the queue is in the database: a restarted controller has every entry, and seeds none again
    proc = start(work, port, env)
    try:
        wait_for("/health", lambda: requests.get(base + "/health", timeout=2).json(), proc)
        entries = wait_for("the third entry to finish", lambda: (h := requests.get(base + "/api/v1/history", headers=auth, timeout=5).json())
                           and len(h) == 3 and h, proc)
        assert sorted(e["created_by"] for e in entries) == ["admin", "sandbox-demo", "sandbox-demo"]
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert "demo entr" not in err
    assert not (work / ".gridctl" / "controller.db").stat().st_mode & 0o077


def test_serve_without_a_users_token_is_a_clear_error(tmp_path):
    work = tmp_path / "serve"
    shutil.copytree(ROOT / "examples" / "serve", work, ignore=shutil.ignore_patterns(".gridctl"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_", "GITHUB_", "GRID_API_"))}
    r = subprocess.run([sys.executable, "-c", "from gridctl.cli import main; main()", "serve", "--listen", "127.0.0.1:9"],
                       cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "serve.api.users.admin: token source unavailable: env GRID_API_ADMIN_TOKEN is not set" in r.stderr
    assert "Traceback" not in r.stderr
