"""The bounded wait before deleting a runner that is running a job.

gridctl never cancels a job: a managed runner removed from the manifest that is online and
busy is deleted only once it is idle. ``apply`` polls it every ``GRIDCTL_RUNNER_POLL`` seconds
(default 5) for at most ``GRIDCTL_RUNNER_WAIT`` seconds (default 300; 0 skips at once) and,
if it is still busy, leaves it (and its state) alone with a message — the next apply tries
again. This is a wait on GitHub's state, not a retry: requests are still retried only by the
client layer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

DEFAULT_WAIT = 300.0
DEFAULT_POLL = 5.0


def wait_settings() -> tuple[float, float]:
    """``(timeout, interval)`` from the environment."""

    def num(name: str, default: float) -> float:
        raw = os.environ.get(name)
        if raw is None or not raw.strip():
            return default
        try:
            return max(0.0, float(raw))
        except ValueError:
            return default

    timeout = num("GRIDCTL_RUNNER_WAIT", DEFAULT_WAIT)
    interval = num("GRIDCTL_RUNNER_POLL", DEFAULT_POLL) or DEFAULT_POLL
    return timeout, interval


def wait_until_idle(
    fetch: Callable[[], dict[str, Any] | None],
    *,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any] | None:
    """Poll ``fetch()`` (the runner now, or None when it is gone) until it is gone or not
    busy, or ``timeout`` seconds have passed; returns what it saw last."""
    deadline = clock() + timeout
    runner = fetch()
    while runner is not None and runner.get("busy"):
        left = deadline - clock()
        if left <= 0:
            break
        sleep(min(interval, left))
        runner = fetch()
    return runner
