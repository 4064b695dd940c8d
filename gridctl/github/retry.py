"""The one retry policy (tenacity), used only by the client layer.

What is retried, and how long to wait (GitHub's documented algorithm):

* primary rate limit (403/429 with ``x-ratelimit-remaining: 0``): until ``x-ratelimit-reset``;
* secondary rate limit (403/429 whose message says so): ``retry-after`` when present, otherwise
  at least ``secondary_floor`` seconds (60 on github.com), growing exponentially;
* 500/502/503/504 and connection errors: exponential backoff with full jitter.

Everything else (a 4xx validation error, a 404...) is raised at once. The sleep function is
injectable so tests run instantly while still asserting the waits that would have happened.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from github.GithubException import GithubException, RateLimitExceededException
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

TRANSIENT_STATUSES = {500, 502, 503, 504}


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    return str(data.get("message") or "")


def _header(exc: GithubException, name: str) -> str | None:
    headers = exc.headers or {}
    for k, v in headers.items():
        if k.lower() == name:
            return str(v)
    return None


def classify(exc: BaseException) -> str | None:
    """``primary`` | ``secondary`` | ``transient`` | None (not retryable)."""
    if isinstance(exc, GithubException):
        status = exc.status
        msg = _message(exc).lower()
        if isinstance(exc, RateLimitExceededException) or status in (403, 429):
            if _header(exc, "x-ratelimit-remaining") == "0" and "secondary" not in msg:
                return "primary"
            if "secondary rate limit" in msg or (status == 429) or "abuse" in msg or _header(exc, "retry-after"):
                return "secondary"
            if msg.startswith("api rate limit exceeded"):
                return "primary"
            return None
        if status in TRANSIENT_STATUSES:
            return "transient"
        return None
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError)):
        return "transient"
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return "transient"
    return None


def _env_float(name: str, default: float) -> float:
    import os

    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base: float = 1.0
    cap: float = 60.0
    secondary_floor: float = 60.0
    max_wait: float = 3600.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    jitter: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """Defaults, tunable for tests and impatient CI: ``GRIDCTL_SECONDARY_FLOOR`` (seconds,
        default 60), ``GRIDCTL_BACKOFF_BASE`` (default 1), ``GRIDCTL_MAX_ATTEMPTS`` (default 6)."""
        return cls(
            max_attempts=int(_env_float("GRIDCTL_MAX_ATTEMPTS", 6)),
            base=_env_float("GRIDCTL_BACKOFF_BASE", 1.0),
            secondary_floor=_env_float("GRIDCTL_SECONDARY_FLOOR", 60.0),
        )
    #: every wait decided, as (kind, seconds): for tests and progress output
    waits: list[tuple[str, float]] = field(default_factory=list)

    def wait_for(self, exc: BaseException, attempt: int) -> float:
        kind = classify(exc)
        backoff: float = min(self.cap, self.base * (2 ** (attempt - 1)))
        if kind == "primary" and isinstance(exc, GithubException):
            reset = _header(exc, "x-ratelimit-reset")
            if reset and reset.isdigit():
                return min(self.max_wait, max(1.0, float(reset) - self.clock() + 1.0))
            return max(self.secondary_floor, backoff)
        if kind == "secondary" and isinstance(exc, GithubException):
            after = _header(exc, "retry-after")
            if after and after.strip().isdigit():
                return float(after)
            if _header(exc, "x-ratelimit-remaining") == "0":
                reset = _header(exc, "x-ratelimit-reset")
                if reset and reset.isdigit():
                    return min(self.max_wait, max(1.0, float(reset) - self.clock() + 1.0))
            doubled: float = self.secondary_floor * (2 ** (attempt - 1))
            return doubled
        # transient: full jitter
        return self.jitter.uniform(0, backoff)

    def retrying(self, retry_if: Callable[[BaseException], bool] | None = None) -> Retrying:
        def should_retry(exc: BaseException) -> bool:
            if classify(exc) is None:
                return False
            return retry_if(exc) if retry_if else True

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if exc is None:
                return 0.0
            seconds = self.wait_for(exc, state.attempt_number)
            self.waits.append((classify(exc) or "?", seconds))
            return seconds

        return Retrying(
            retry=retry_if_exception(should_retry),
            stop=stop_after_attempt(self.max_attempts),
            wait=wait,
            sleep=self.sleep,
            reraise=True,
        )

    def call(self, fn: Callable[[], Any], retry_if: Callable[[BaseException], bool] | None = None) -> Any:
        return self.retrying(retry_if)(fn)
