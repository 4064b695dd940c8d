"""Screenshots of the dashboard for the README: ``nox -s screenshots``.

Copies ``examples/serve`` to a temporary folder, starts ``gridctl serve --sandbox`` there (the
README's one command), queues a few entries through the API, logs in with Debian's Chromium
under Playwright and writes ``examples/serve/screenshots/overview.png`` and ``queue.png``.
Every child process is stopped at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import wait_for  # noqa: E402
from tests.pgserver import free_port  # noqa: E402

OUT = ROOT / "examples" / "serve" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def wait(cond, what: str, timeout: float = 90.0):
    def attempt():
        try:
            return cond()
        except requests.ConnectionError:
            return None

    return wait_for(attempt, what, timeout=timeout, interval=0.1)


def main() -> int:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gridctl-shots-") as tmp:
        work = Path(tmp) / "serve"
        shutil.copytree(ROOT / "examples" / "serve", work, ignore=shutil.ignore_patterns(".gridctl", "screenshots"))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_", "GITHUB_", "GRID_"))}
        proc = subprocess.Popen([sys.executable, "-m", "gridctl", "serve", "--sandbox", "--listen", f"127.0.0.1:{port}"],
                                cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait(lambda: requests.get(base + "/health", timeout=2).ok, "the controller")
            creds = json.loads((work / ".gridctl" / "sandbox" / "demo-credentials.json").read_text())
            auth = {"Authorization": f"Bearer {creds['admin']}"}
            for template, priority, size in (("batch-large", 5, "large"), ("batch-small", 1, "small"), ("batch-small", 3, "small"),
                                             ("batch-large", 0, "large"), ("batch-small", 2, "small"), ("batch-small", 4, "small"),
                                             ("batch-large", 1, "large"), ("batch-small", 0, "small")):
                r = requests.post(base + "/api/v1/groups/batch/queue", json={"template": template, "priority": priority, "inputs": {"size": size}},
                                  headers=auth, timeout=10)
                r.raise_for_status()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1200, "height": 820})
                page.goto(base + "/login")
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", creds["admin/password"])
                page.click("button[type=submit]")
                page.wait_for_url(base + "/")
                wait(lambda: len(requests.get(base + "/api/v1/history", headers=auth, timeout=5).json()) >= 2, "a few finished entries")
                page.goto(base + "/groups/batch")
                page.screenshot(path=str(OUT / "queue.png"), full_page=True)
                wait(lambda: len(requests.get(base + "/api/v1/history", headers=auth, timeout=5).json()) >= 6, "more finished entries")
                page.goto(base + "/")
                page.screenshot(path=str(OUT / "overview.png"), full_page=True)
                browser.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    print(f"wrote {OUT / 'overview.png'} and {OUT / 'queue.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
