"""One token's share of GitHub's rate limits, spent by every thread that uses the token.

GitHub's documented limits (GitHub Docs, "Rate limits for the REST API",
https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):

* primary: a number of requests an hour (5,000 for a user token); every answer says how many
  are left (``x-ratelimit-remaining``) and when the window resets (``x-ratelimit-reset``, epoch
  seconds). With nothing left, "you should not retry your request until after the time
  specified by the ``x-ratelimit-reset`` header";
* secondary: no more than 100 concurrent requests; no more than 900 points a minute on one REST
  endpoint (GET, HEAD and OPTIONS cost 1 point, POST, PATCH, PUT and DELETE 5 — "Calculating
  points for the secondary rate limit"); no more than 80 content-generating requests a minute
  and 500 an hour. Exceeding one answers 403 or 429 and blocks the client for a while, and
  "continuing to make requests while you are rate limited may result in the banning of your
  integration".

A :class:`Budget` keeps under all of these *before* sending: each request asks
:meth:`Budget.acquire` for a slot and hands it back with the answer's headers
(:meth:`Budget.release`). A request waits while

* the token's known ``remaining`` minus the requests in flight is 0, until the reset — so no
  request is sent after an answer said ``remaining: 0`` (an answer of the window's first
  request is awaited before any other is sent, so a fresh run learns ``remaining`` first);
* its endpoint's points in the last minute, plus those in flight, would pass 900. A point is
  counted from the moment its answer came back, which is after GitHub received the request, so
  GitHub's minute never holds more than ours;
* it creates content and 80 such requests were answered in the last minute (500 in the hour);
* 100 requests of the token are in flight;
* a secondary-limit answer came back anyway (another program sharing the token): every thread
  of the token stops for the wait GitHub asks (``retry-after``, else at least a minute).

The pause between mutations (``write_interval``, "wait at least one second between each
request" for mutations: GitHub Docs, "Best practices for using the REST API") is kept here too
(:meth:`Budget.pace`), so accounts driven by one token pace their writes together.

GitHub names no list of content-generating requests; the ones counted here are a superset of
the usual ones (commits and file contents, git objects, repositories, issues, pull requests,
comments, releases, invitations).

``GRIDCTL_CLIENT_LIMITS`` tunes the numbers (``endpoint_points=900,content_per_minute=80,
content_per_hour=500,concurrent=100``) or turns the secondary budget off (``off``: a GitHub
Enterprise Server whose limits are off); the primary limit is always honoured.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("gridctl.budget")

#: GitHub's documented secondary limits (see the module's docstring)
ENDPOINT_POINTS_PER_MINUTE = 900
CONTENT_PER_MINUTE = 80
CONTENT_PER_HOUR = 500
MAX_CONCURRENT = 100
WINDOW = 60.0
#: a margin on GitHub's minute, for clocks that do not tick alike
WINDOW_MARGIN = 0.25
#: waited after ``x-ratelimit-reset`` before a new window's first request
RESET_MARGIN = 1.0
#: the longest wait for an answer in flight (it notifies when it comes)
POLL = 5.0

#: path segments that are words of GitHub's REST paths (everything else is a parameter)
STATIC = frozenset((
    "access", "actions", "app", "assets", "attempts", "blobs", "branches", "cancel", "codespaces",
    "collaborators", "comments", "commits", "config", "contents", "default-workflow-permissions",
    "deliveries", "dependabot", "deployments", "disable", "dispatches", "downloads", "enable",
    "environments", "forks", "generate", "generate-jitconfig", "git", "heads", "hooks", "installation",
    "installations", "invitations", "issues", "jobs", "keys", "labels", "latest", "logs",
    "matching-refs", "members", "memberships", "merges", "organization-secrets",
    "organization-variables", "orgs", "pages", "permission", "permissions", "pings", "protection",
    "public-key", "pulls", "rate_limit", "ref", "refs", "registration-token", "releases",
    "remove-token", "repos", "repositories", "repository_invitations", "rerun", "reviews",
    "runner-groups", "runners", "runs", "secrets", "selected-actions", "tags", "teams", "topics",
    "trees", "user", "users", "variables", "workflow", "workflows",
))
#: after these words (first in the path; ``environments`` anywhere) come that many parameters
FIXED_PARAMS = {"repos": 2, "orgs": 1, "users": 1, "environments": 1}
#: after these words the rest of the path is one parameter (a file path, a ref name)
REST_IS_PARAM = frozenset({"contents", "refs", "ref", "matching-refs"})
MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def endpoint(method: str, url: str) -> str:
    """``"PUT /repos/*/actions/secrets/*"``: the endpoint a request is counted against.
    Parameters become ``*``; a run of them collapses to one, so a file path of any depth is
    one endpoint. Two endpoints may share a key (more careful), one never gets two."""
    path = urlsplit(url).path
    if path.startswith("/api/v3/"):
        path = path[len("/api/v3"):]
    out: list[str] = []
    parts = [p for p in path.split("/") if p]
    i = 0
    while i < len(parts):
        word = parts[i]
        fixed = FIXED_PARAMS.get(word, 0) if (i == 0 or word == "environments") else 0
        if fixed:
            out.append(word)
            out.extend("*" * min(fixed, len(parts) - i - 1))
            i += 1 + fixed
            continue
        if word in REST_IS_PARAM and word in STATIC and out and i + 1 < len(parts):
            out.extend((word, "*"))
            break
        out.append(word if word in STATIC else "*")
        i += 1
    collapsed: list[str] = []
    for seg in out:
        if seg == "*" and collapsed and collapsed[-1] == "*":
            continue
        collapsed.append(seg)
    return f"{method.upper()} /" + "/".join(collapsed)


def content_creating(method: str, key: str) -> bool:
    """Whether a request counts against the content-creation limit (see the module)."""
    method = method.upper()
    if method not in MUTATIONS:
        return False
    path = key.split(" ", 1)[1]
    if "/contents/" in path + "/":
        return method in ("PUT", "DELETE")
    if method == "PUT" and path.startswith("/repos/*/collaborators/"):
        return True  # an invitation
    if method != "POST":
        return False
    last = path.rsplit("/", 1)[-1]
    return last in ("blobs", "trees", "commits", "refs", "repos", "generate", "forks", "pulls", "issues", "comments", "releases")


@dataclass
class Settings:
    endpoint_points: int = ENDPOINT_POINTS_PER_MINUTE
    content_per_minute: int = CONTENT_PER_MINUTE
    content_per_hour: int = CONTENT_PER_HOUR
    concurrent: int = MAX_CONCURRENT
    secondary: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        text = os.environ.get("GRIDCTL_CLIENT_LIMITS", "").strip()
        out = cls()
        if not text:
            return out
        if text.lower() == "off":
            out.secondary = False
            return out
        for part in text.split(","):
            key, _, value = part.partition("=")
            key = key.strip()
            if key in ("endpoint_points", "content_per_minute", "content_per_hour", "concurrent") and value.strip().isdigit():
                setattr(out, key, max(1, int(value)))
            else:
                log.warning("GRIDCTL_CLIENT_LIMITS: %r ignored (expected off, or endpoint_points=, content_per_minute=, content_per_hour=, concurrent= with whole numbers)", part.strip())
        return out


@dataclass
class Ticket:
    key: str
    cost: int
    content: bool
    sent_at: float


@dataclass
class _Endpoint:
    events: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0
    inflight: int = 0

    def expire(self, now: float, span: float) -> None:
        while self.events and self.events[0][0] <= now - span:
            self.total -= self.events.popleft()[1]


class Budget:
    """A token's limits, shared by every thread (and every client) that uses the token."""

    def __init__(self, settings: Settings | None = None, *, sleep: Callable[[float], None] | None = None):
        """``sleep`` (tests): waits longer than a poll go through it instead of passing in real
        time, and the budget's clocks move on by what it slept."""
        self.settings = settings or Settings.from_env()
        self._sleep = sleep
        self._offset = 0.0
        self.cond = threading.Condition()
        self.inflight = 0
        #: primary limit: left in the window (None: not known), its reset (epoch seconds)
        self.remaining: int | None = None
        self.reset: float | None = None
        #: a window's first answer is awaited before a second request goes out
        self.probe = True
        self.endpoints: dict[str, _Endpoint] = {}
        self.content_minute: deque[float] = deque()
        self.content_hour: deque[float] = deque()
        self.content_inflight = 0
        self.blocked_until = 0.0  # monotonic
        self._primary_held = False
        self._pacers: dict[str, threading.Lock] = {}
        self._last_write: dict[str, float] = {}
        #: what the budget did, for statistics: waits, seconds waited, secondary answers seen
        self.counts: dict[str, float] = {"waits": 0, "waited": 0.0, "secondary_answers": 0, "primary_waits": 0}

    def clock(self) -> float:
        return time.monotonic() + self._offset

    def wall(self) -> float:
        return time.time() + self._offset

    # -- asking -------------------------------------------------------------------------------
    def acquire(self, method: str, url: str) -> Ticket:
        """Wait until a request may go out under every limit; count it in flight."""
        key = endpoint(method, url)
        cost = 5 if method.upper() in MUTATIONS else 1
        content = content_creating(method, key)
        waited = 0.0
        held = False
        with self.cond:
            while True:
                self._primary_held = False
                wait = self._wait_for(key, cost, content)
                held = held or self._primary_held
                if wait <= 0:
                    break
                if waited == 0.0:
                    self.counts["waits"] += 1
                if wait > 5:
                    log.info("pausing %.0f s for GitHub's rate limits (%s)", wait, key)
                start = self.clock()
                if self._sleep is not None and wait != POLL:
                    self.cond.release()
                    try:
                        self._sleep(wait)
                    finally:
                        self.cond.acquire()
                    self._offset += wait
                else:
                    self.cond.wait(min(wait, POLL))
                waited += self.clock() - start
            self.counts["waited"] += waited
            if held:
                self.counts["primary_waits"] += 1  # requests held for a primary reset
            self.inflight += 1
            ep = self.endpoints.setdefault(key, _Endpoint())
            if self.settings.secondary:
                ep.inflight += cost
                if content:
                    self.content_inflight += 1
            return Ticket(key, cost, content, self.clock())

    def _wait_for(self, key: str, cost: int, content: bool) -> float:
        """Seconds to wait before ``key`` may be sent (0: now); the caller holds the lock.
        Where the wait ends with another request's answer, a short poll (the answer notifies)."""
        now = self.clock()
        if self.blocked_until > now:
            return self.blocked_until - now
        # primary: nothing is sent past remaining 0 until the reset
        if self.remaining is not None and self.reset is not None:
            if self.wall() >= self.reset + RESET_MARGIN:
                self.remaining, self.reset, self.probe = None, None, True  # a new window
            elif self.remaining - self.inflight <= 0:
                if self.inflight:
                    return POLL  # an answer in flight may tell more (a 304 costs nothing)
                self._primary_held = True
                return self.reset + RESET_MARGIN - self.wall()
        if self.probe and self.inflight:
            return POLL
        if self.inflight >= self.settings.concurrent:
            return POLL
        if not self.settings.secondary:
            return 0.0
        span = WINDOW + WINDOW_MARGIN
        ep = self.endpoints.get(key)
        if ep is not None:
            ep.expire(now, span)
            if ep.total + ep.inflight + cost > self.settings.endpoint_points:
                if not ep.events:
                    return POLL  # only requests in flight fill it
                # the oldest answered points leave the window first
                need = ep.total + ep.inflight + cost - self.settings.endpoint_points
                freed = 0
                for at, points in ep.events:
                    freed += points
                    if freed >= need:
                        return at + span - now
                return POLL
        if content:
            for q, s in ((self.content_minute, span), (self.content_hour, 3600.0 + WINDOW_MARGIN)):
                while q and q[0] <= now - s:
                    q.popleft()
            if len(self.content_minute) + self.content_inflight + 1 > self.settings.content_per_minute:
                return self.content_minute[0] + span - now if self.content_minute else 5.0
            if len(self.content_hour) + self.content_inflight + 1 > self.settings.content_per_hour:
                return self.content_hour[0] + 3600.0 + WINDOW_MARGIN - now if self.content_hour else 5.0
        return 0.0

    # -- answering ----------------------------------------------------------------------------
    def release(self, ticket: Ticket, headers: dict[str, Any] | None, *, secondary_wait: float | None = None) -> None:
        """The request's answer came back (``headers`` None: no answer): count its points from
        now, learn the primary window, and stop every thread after a secondary-limit answer."""
        h = {str(k).lower(): v for k, v in (headers or {}).items()}
        with self.cond:
            now = self.clock()
            self.inflight -= 1
            ep = self.endpoints.setdefault(ticket.key, _Endpoint())
            if self.settings.secondary:
                ep.inflight -= ticket.cost
                ep.events.append((now, ticket.cost))
                ep.total += ticket.cost
                if ticket.content:
                    self.content_inflight -= 1
                    self.content_minute.append(now)
                    self.content_hour.append(now)
            self._learn(h, headers is not None)
            if secondary_wait is not None:
                self.counts["secondary_answers"] += 1
                self.blocked_until = max(self.blocked_until, now + max(1.0, secondary_wait))
                log.warning("GitHub answered with a secondary rate limit: every request of this token waits %.0f s", secondary_wait)
            self.cond.notify_all()

    def _learn(self, h: dict[str, Any], answered: bool) -> None:
        rem, reset = h.get("x-ratelimit-remaining"), h.get("x-ratelimit-reset")
        resource = str(h.get("x-ratelimit-resource") or "core")
        if resource != "core" or rem is None or reset is None or not str(rem).isdigit() or not str(reset).isdigit():
            if answered and self.remaining is None:
                self.probe = False  # an answer without the headers: no primary limit is told
            return
        remaining, reset_at = int(rem), float(reset)
        if reset_at == self.reset and self.remaining is not None:
            self.remaining = min(self.remaining, remaining)  # answers come back out of order
        elif self.reset is None or reset_at > self.wall():
            self.remaining, self.reset = remaining, reset_at  # another window (not a past one)
        self.probe = False

    # -- pacing mutations -------------------------------------------------------------------
    def pace(self, interval: float, key: str = "writes") -> None:
        """Wait until ``interval`` seconds have passed since the token's last mutation paced
        under ``key`` (writes paced apart, such as runner registrations, use their own key)."""
        if interval <= 0:
            return
        with self.cond:
            lock = self._pacers.setdefault(key, threading.Lock())
        with lock:
            last = self._last_write.get(key, float("-inf"))
            wait = last + interval - self.clock()
            if wait > 0:
                time.sleep(wait)
            self._last_write[key] = self.clock()

    def as_dict(self) -> dict[str, Any]:
        with self.cond:
            return {**self.counts, "waited": round(self.counts["waited"], 3)}
