"""GitHub's primary and secondary rate limits, per identity (a user, or an IP when anonymous).

Primary: a fixed window of an hour that opens at the first counted request; every response
counts except ``GET /rate_limit`` and a 304 to a conditional request made with an
``Authorization`` header (GitHub Docs, "Best practices for using the REST API"). The answer that
spends the last request still succeeds, with ``x-ratelimit-remaining: 0``; after it, until
``x-ratelimit-reset``, the answer is a 403 (or 429) with GitHub's message.

Secondary (GitHub Docs, "Rate limits for the REST API", secondary rate limits): more than ``max_concurrent`` requests in flight, more than
``content_per_minute`` / ``content_per_hour`` content-creating requests, or more than
``endpoint_points_per_minute`` points on one endpoint (GET 1, mutation 5) block the identity
for ``secondary_block_seconds``. The answer carries ``retry-after`` only sometimes
(``retry_after_probability``), as github.com does. A request's points count on the endpoint
(the operation) it was sent to, for the minute after it arrived (one refused while the identity
is blocked does not count). GitHub's limit on CPU time (90 s per minute of real time) is not
emulated. The app's statistics count the requests each limit refused (``primary_limited``,
``secondary_limited``).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from .config import Limits
from .errors import ApiError

PRIMARY_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/"
    "rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
WINDOW = 3600.0


@dataclass
class Bucket:
    limit: int
    used: int = 0
    reset: float = 0.0

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


class _Window:
    """Points spent on one endpoint in the last minute, with a running total (O(1) a request)."""

    __slots__ = ("events", "total")

    def __init__(self) -> None:
        self.events: deque[tuple[float, int]] = deque()
        self.total = 0

    def add(self, now: float, cost: int) -> int:
        events = self.events
        while events and events[0][0] <= now - 60:
            self.total -= events.popleft()[1]
        events.append((now, cost))
        self.total += cost
        return self.total


class RateLimiter:
    def __init__(self, limits: Limits, clock: Callable[[], float], rng: random.Random):
        self.limits = limits
        self.clock = clock
        self.rng = rng
        self.buckets: dict[str, Bucket] = {}
        self.limit_overrides: dict[str, int] = {}
        self.inflight: dict[str, int] = defaultdict(int)
        self.content: dict[str, deque[float]] = defaultdict(deque)  # the last hour
        self.content_minute: dict[str, deque[float]] = defaultdict(deque)  # the last minute
        self.points: dict[tuple[str, str], _Window] = defaultdict(_Window)
        self.blocked_until: dict[str, float] = {}

    # -- primary ------------------------------------------------------------------------------
    def bucket(self, identity: str, anonymous: bool) -> Bucket:
        now = self.clock()
        b = self.buckets.get(identity)
        limit = self.limit_overrides.get(
            identity, self.limits.anonymous_per_hour if anonymous else self.limits.primary_per_hour
        )
        if b is None or now >= b.reset:
            b = self.buckets[identity] = Bucket(limit=limit, used=0, reset=math.floor(now) + WINDOW)
        b.limit = limit
        return b

    def check_primary(self, identity: str, anonymous: bool, user_id: int | None, ip: str) -> None:
        b = self.bucket(identity, anonymous)
        if b.remaining > 0:
            return
        who = f"for user ID {user_id}." if user_id is not None else f"for {ip}."
        message = f"API rate limit exceeded {who}"
        if anonymous:
            message += (
                " (But here's the good news: Authenticated requests get a higher rate limit."
                " Check out the documentation for more details.)"
            )
        raise ApiError(self._status(self.limits.primary_status), message, doc_url=PRIMARY_DOCS)

    def charge(self, identity: str, anonymous: bool) -> None:
        self.bucket(identity, anonymous).used += 1

    def headers(self, identity: str, anonymous: bool) -> dict[str, str]:
        b = self.bucket(identity, anonymous)
        return {
            "x-ratelimit-limit": str(b.limit),
            "x-ratelimit-remaining": str(b.remaining),
            "x-ratelimit-reset": str(int(b.reset)),
            "x-ratelimit-used": str(min(b.used, b.limit)),
            "x-ratelimit-resource": "core",
        }

    # -- secondary ----------------------------------------------------------------------------
    def enter(self, identity: str) -> bool:
        """Count one more request in flight; False when that makes too many."""
        self.inflight[identity] += 1
        return self.inflight[identity] <= self.limits.max_concurrent

    def leave(self, identity: str) -> None:
        self.inflight[identity] -= 1
        if self.inflight[identity] <= 0:
            del self.inflight[identity]

    def check_secondary(self, identity: str, endpoint: str, method: str, content_creating: bool, request_id: str) -> None:
        now = self.clock()
        until = self.blocked_until.get(identity)
        if until is not None and now < until:
            raise self.secondary_error(until - now, request_id)
        lim = self.limits
        cost = 1 if method in ("GET", "HEAD", "OPTIONS") else 5
        if self.points[(identity, endpoint)].add(now, cost) > lim.endpoint_points_per_minute:
            self.block(identity)
            raise self.secondary_error(lim.secondary_block_seconds, request_id)
        counted = content_creating or (lim.content_mode == "all" and cost == 5)
        if not counted:
            return
        events = self.content[identity]
        minute = self.content_minute[identity]
        for q, span in ((events, 3600), (minute, 60)):
            while q and q[0] <= now - span:
                q.popleft()
            q.append(now)
        if len(minute) > lim.content_per_minute or len(events) > lim.content_per_hour:
            self.block(identity)
            raise self.secondary_error(lim.secondary_block_seconds, request_id)

    def block(self, identity: str) -> None:
        self.blocked_until[identity] = self.clock() + self.limits.secondary_block_seconds

    def secondary_error(self, wait: float, request_id: str) -> ApiError:
        headers = {}
        if self.rng.random() < self.limits.retry_after_probability:
            headers["retry-after"] = str(max(1, math.ceil(wait)))
        return ApiError(
            self._status(self.limits.secondary_status),
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
            f"If you reach out to GitHub Support for help, please include the request ID {request_id}.",
            doc_url=SECONDARY_DOCS,
            headers=headers,
        )

    def _status(self, setting: str) -> int:
        if setting == "random":
            return self.rng.choice((403, 429))
        return int(setting)

    def reset_all(self) -> None:
        self.buckets.clear()
        self.content.clear()
        self.content_minute.clear()
        self.points.clear()
        self.blocked_until.clear()
