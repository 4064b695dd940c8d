"""``gridctl serve`` (preview) as a real process on the serve example: the API answers with the
manifest's groups and users, the queue lives in the database across restarts, and SIGTERM stops
it cleanly (exit 0, no process left)."""

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
        [sys.executable, "-c", "from gridctl.cli import main; main()", "serve", "--listen", f"127.0.0.1:{port}"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_healthy(base: str, proc: subprocess.Popen[str]) -> dict:
    deadline, tries = time.monotonic() + 60, 0
    while time.monotonic() < deadline and tries < 600:
        tries += 1
        assert proc.poll() is None, proc.communicate(timeout=10)
        try:
            return requests.get(base + "/health", timeout=2).json()
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("the controller never answered /health")


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_serve_runs_the_api_keeps_the_queue_and_stops_on_sigterm(tmp_path):
    work = tmp_path / "serve"
    shutil.copytree(ROOT / "examples" / "serve", work, ignore=shutil.ignore_patterns(".gridctl"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_", "GITHUB_"))}
    env.update({"GRID_API_ADMIN_TOKEN": ADMIN, "GRID_API_READONLY_TOKEN": VIEWER})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(work, port, env)
    try:
        health = wait_healthy(base, proc)
        assert health["status"] == "ok" and health["leader"] is True
        groups = requests.get(base + "/api/v1/groups", headers={"Authorization": f"Bearer {VIEWER}"}, timeout=10).json()
        assert groups and all(g["templates"] for g in groups)
        g = groups[0]
        r = requests.post(f"{base}/api/v1/groups/{g['id']}/queue", json={"template": g["templates"][0], "priority": 3},
                          headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert r.status_code == 201 and r.json()["created_by"] == "admin", r.text
        r = requests.post(f"{base}/api/v1/groups/{g['id']}/queue", json={"template": g["templates"][0]},
                          headers={"Authorization": f"Bearer {VIEWER}"}, timeout=10)
        assert r.status_code == 403
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert ADMIN not in err and VIEWER not in err and "Traceback" not in err
    assert f"serving the controller API on {base}" in err
    # the queue is in the database: a restarted controller still has the entry
    proc = start(work, port, env)
    try:
        wait_healthy(base, proc)
        q = requests.get(f"{base}/api/v1/groups/{g['id']}/queue", headers={"Authorization": f"Bearer {VIEWER}"}, timeout=10).json()
        assert [e["priority"] for e in q] == [3]
    finally:
        code, _ = stop(proc)
    assert code == 0
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
