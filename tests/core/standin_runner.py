"""A stand-in for the Actions runner, for `gridctl runners run` tests.

    python standin_runner.py JIT_FILE

Reads its JIT configuration from JIT_FILE (never printing it), tells the sandbox the runner is
online (POST $GRIDCTL_SANDBOX_URL/_sandbox/runners/connect), appends "start <pid>" to
standin.log in its working folder, then idles. On demand, through files in its working folder:
``crash`` (removed, then exit 3), ``finish`` (removed, then exit 0, as a JIT runner does after
its job), ``ignore-sigint`` (SIGINT is ignored, so only SIGKILL stops it).
On SIGINT it appends "stop <pid>" and exits 0.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import requests


def log(line: str) -> None:
    with open("standin.log", "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def on_sigint(signum, frame):
    if Path("ignore-sigint").exists():
        return
    log(f"stop {os.getpid()}")
    sys.exit(0)


def main() -> int:
    signal.signal(signal.SIGINT, on_sigint)
    config = Path(sys.argv[1]).read_text(encoding="utf-8").strip()
    same_env = os.environ.get("ACTIONS_RUNNER_INPUT_JITCONFIG") == config
    url = os.environ["GRIDCTL_SANDBOX_URL"].rstrip("/") + "/_sandbox/runners/connect"
    resp = requests.post(url, json={"encoded_jit_config": config}, timeout=30)
    del config
    resp.raise_for_status()
    runner = resp.json()
    log(f"start {os.getpid()} runner {runner['id']} env_ok {same_env} name {os.environ.get('GRIDCTL_RUNNER_NAME')}")
    print(f"stand-in runner {runner['name']} online", flush=True)
    while True:
        if Path("crash").exists():
            Path("crash").unlink()
            log(f"crash {os.getpid()}")
            return 3
        if Path("finish").exists():
            Path("finish").unlink()
            log(f"finish {os.getpid()}")
            return 0
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
