"""The controller's loop: observe GitHub and the database, decide (:mod:`.decide`), act.

One *step* reads the whole picture — the runners of every scope a pool or a dispatch group
uses, the queued jobs of the repositories the pools serve, the runs of in-flight queue
entries — turns it into a :class:`~gridctl.serve.decide.Snapshot`, asks :func:`decide` what
to do and carries the actions out in the order given. It is level-triggered: a webhook, an API
write or a manual scale request only wakes the loop early; what it does next is decided from
what it reads, never from the event. Between wake-ups it sleeps ``serve.poll_interval``.

Reads go through the accounts' clients, which send ``If-None-Match`` with the ETag of the
last answer: GitHub answers an unchanged list with 304, which costs no primary rate-limit
point ("Best practices for using the REST API": conditional requests,
https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api),
so an idle fleet polls for almost nothing.

Only the leader acts (:class:`~gridctl.serve.store.Leadership`); other instances serve the API
and try to take the lead at every step.

What must never happen rests on the database:

* **A queue entry fires once.** :meth:`Store.begin_dispatch` moves it to ``dispatching``
  (atomically, one winner) *before* the ``workflow_dispatch`` POST; the run id from GitHub's
  answer is recorded after. An entry found ``dispatching`` with no run (the controller died
  between the two) is reconciled: the earliest ``workflow_dispatch`` run of its workflow
  created since its dispatch began that no other entry holds is its run; when none shows within
  :data:`DISPATCH_GRACE` seconds the POST never took effect and the entry is queued again.
  A POST GitHub refused (4xx) fails the entry with GitHub's message; a POST whose answer was
  lost (5xx, network) is left to that reconciliation — never sent again blindly.
* **A runner is never lost.** A runner is recorded (``launching``) before its JIT
  registration, its GitHub id and launcher pid after. At every step records are matched with
  what GitHub lists: a record GitHub no longer lists (an ephemeral runner removed after its
  job, or by hand) is closed and its launcher stopped; a registration never seen online within
  the pool's ``online_timeout``, or offline for ``offline_timeout``, is deleted (the decision's
  cleanup); a launcher that died leaves an offline runner that the same rule removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..errors import GitHubError, GridctlError
from ..fleet import dispatch as fd
from ..github.client import AccountClient
from ..manifest.model import DispatchTemplate, Manifest
from . import decide as d
from .declare import SELF_HOSTED, GroupSpec, PoolSpec, groups_of, pools_of
from .launch import LaunchError, Launchers
from .store import IN_FLIGHT, Leadership, RunnerRecord, Store

log = logging.getLogger("gridctl.serve")

#: seconds after a dispatch began before "no run appeared for it" means the POST never took
#: effect (GitHub creates the run within seconds of accepting the dispatch)
DISPATCH_GRACE = 60.0
#: seconds between steps while something is on its way (runners starting, runs in flight)
BUSY_POLL = 2.0
#: reads of one step sent at once (GitHub: "avoid concurrent requests" beyond a few,
#: https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api)
READERS = 4
#: runs listed per page when looking for queued jobs (every page is read)
RUNS_PER_PAGE = 100
#: runner registrations of one account sent back to back before ``serve.launch_interval``
#: paces them: GitHub allows "no more than 900 points per minute" for one REST endpoint, a POST
#: costing 5 (GitHub Docs, "Rate limits for the REST API", secondary rate limits,
#: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api), so any
#: minute holds at most 20 + 60 / 0.4 = 170 registrations = 850 points at the default interval
LAUNCH_BURST = 20


class LaunchPace:
    """A token bucket per account for runner registrations: a burst of :data:`LAUNCH_BURST`
    goes out at once (the jobs of a burst should not wait for each other), then one every
    ``interval`` seconds."""

    def __init__(self, interval: float, burst: int = LAUNCH_BURST, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Take a token, sleeping until one is there; returns the seconds slept."""
        if self.interval <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) / self.interval)
            self._at = now
            self._tokens -= 1.0
            pause = 0.0 if self._tokens >= 0 else -self._tokens * self.interval
        if pause > 0:
            time.sleep(pause)
        return pause


def ts(value: Any) -> float:
    """An ISO 8601 time (GitHub's ``2024-01-01T00:00:00Z``) or a datetime as epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return time.time()


class Metrics:
    """The controller's Prometheus metrics (named ``gridctl_…``), on the API's registry."""

    def __init__(self, registry: CollectorRegistry):
        r = registry
        self.runners = Gauge("gridctl_runners", "Runners of each pool by state", ["pool", "state"], registry=r)
        self.scale_events = Counter("gridctl_scale_events", "Runners launched (up) and removed (down) by pool", ["pool", "direction", "reason"], registry=r)
        self.queued_jobs = Gauge("gridctl_queued_jobs", "Queued workflow jobs no runner has taken, by the pool that would serve them", ["pool"], registry=r)
        self.dispatches = Counter("gridctl_dispatches", "Queue entries dispatched, completed and failed, by group", ["group", "result"], registry=r)
        self.queue_wait = Histogram("gridctl_queue_wait_seconds", "From entering the queue to the dispatch", ["group"], registry=r,
                                    buckets=(1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 7200))
        self.dispatch_to_start = Histogram("gridctl_dispatch_to_start_seconds", "From the dispatch to its run starting", ["group"], registry=r,
                                           buckets=(1, 2, 5, 10, 30, 60, 120, 300, 900))
        self.webhooks = Counter("gridctl_webhook_deliveries", "Webhook deliveries by event and result", ["event", "result"], registry=r)
        self.rate_remaining = Gauge("gridctl_github_rate_remaining", "GitHub rate-limit points left, per account", ["account"], registry=r)
        self.api_calls = Gauge("gridctl_github_requests", "GitHub requests sent since start, per account", ["account"], registry=r)
        self.reconcile = Histogram("gridctl_reconcile_seconds", "Duration of one controller step", registry=r,
                                   buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
        self.launch_failures = Counter("gridctl_launch_failures", "Runners whose registration or launcher failed", ["pool"], registry=r)


@dataclass
class Request:
    """A hand-made request from the API, carried out by the loop."""

    kind: str  # "scale-up" | "scale-down" | "remove"
    pool: str | None = None
    count: int = 1
    runner: str | None = None


@dataclass
class Observed:
    """One step's reading of GitHub."""

    #: decision runner id -> (scope, account, GitHub's runner object)
    runners: dict[str, tuple[str, str, dict[str, Any]]] = field(default_factory=dict)
    jobs: list[d.Job] = field(default_factory=list)
    #: run id -> run object, for in-flight entries
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: scopes whose runner list could not be read (records there are left as they are)
    unreadable: set[str] = field(default_factory=set)


class Controller:
    def __init__(
        self,
        manifest: Manifest,
        clients: dict[str, AccountClient],
        store: Store,
        lead: Leadership,
        launchers: Launchers,
        *,
        metrics: Metrics,
        poll_interval: float,
        launch_interval: float | None = None,
        say: Callable[..., None] = lambda text, **fields: print(text),
        clock: Callable[[], float] = time.time,
    ):
        self.clients = clients
        self.store = store
        self.lead = lead
        self.launchers = launchers
        self.metrics = metrics
        self.poll_interval = poll_interval
        #: runner registrations paced on their own (their endpoint's budget: :class:`LaunchPace`),
        # not by every write's pause (never slower than the account's own pause: the sandbox and
        # the tests lift every pause)
        self.launch_clients = {acc: c.paced(0.0) for acc, c in clients.items()} if launch_interval is not None else dict(clients)
        self.launch_pace = {
            acc: LaunchPace(min(launch_interval, c.write_interval) if launch_interval is not None else 0.0) for acc, c in clients.items()
        }
        self.say = say
        self.clock = clock
        self.wake = threading.Event()
        self.requests: queue.SimpleQueue[Request] = queue.SimpleQueue()
        #: repositories named by accepted workflow_job deliveries (watched from then on)
        self.hinted: set[str] = set()
        self._hint_lock = threading.Lock()
        #: the last observation, for the API (runner name -> state), and each busy runner's job
        self.last_seen: dict[str, dict[str, Any]] = {}
        self.current_jobs: dict[str, dict[str, Any]] = {}
        self._jobs_seen: dict[str, dict[str, Any]] = {}
        self.last_step: dict[str, Any] = {}
        self._group_ids: dict[tuple[str, str], int] = {}
        #: account -> (time, rate-limit points left), the last hour (the dashboard's chart)
        self._rate: dict[str, list[tuple[float, int]]] = {}
        #: the task queues' overview, cached for a poll interval (the dashboard's page)
        self._queues: list[dict[str, Any]] = []
        self._queues_at: float | None = None
        self._queues_lock = threading.Lock()
        #: entries whose run start was measured (dispatch-to-start histogram)
        self._started_seen: set[int] = set()
        self.configure(manifest)

    def task_queues(self) -> list[dict[str, Any]]:
        """The git-backed task queues (``queues:``): states, nodes, orphans — read at most once per
        poll interval (conditional requests: an unchanged queue costs no rate-limit point), never
        on every page load."""
        from ..fleet.taskqueue import TaskQueue

        with self._queues_lock:
            if self._queues_at is not None and time.monotonic() - self._queues_at < self.poll_interval:
                return self._queues
            out = []
            for name, spec in sorted(self.m.queues.items()):
                row: dict[str, Any] = {"name": name, "repo": spec.repo, "orphan_after": spec.orphan_after}
                client = self.clients.get(spec.account)
                if client is None:
                    row["error"] = f"account {spec.account} is not connected"
                else:
                    try:
                        ov = TaskQueue(client, spec, backoff=False).overview()
                    except GridctlError as exc:
                        row["error"] = str(exc)[:300]
                    else:
                        row["states"] = ov["states"]
                        row["nodes"] = sorted(ov["nodes"], key=lambda n: str(n.get("node_id")))
                        row["orphans"] = sum(1 for n in ov["nodes"] if n.get("silent") and n.get("current_file"))
                out.append(row)
            self._queues, self._queues_at = out, time.monotonic()
            return out

    def rate_history(self) -> dict[str, list[tuple[float, int]]]:
        return {acc: list(samples) for acc, samples in self._rate.items()}

    def fingerprint(self) -> str:
        """Changes whenever a page would show something new (not with time alone)."""
        events = self.store.events(limit=1)
        parts = [
            json.dumps(sorted((f"{g}/{st}", n) for (g, st), n in self.store.counts().items())),
            str(events[0]["id"] if events else 0),
            json.dumps(sorted((k, v.get("status"), v.get("busy")) for k, v in self.last_seen.items())),
            str(bool(self.last_step.get("leader"))),
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    # -- configuration ------------------------------------------------------------------------------
    def configure(self, manifest: Manifest) -> None:
        """Take (or reload) the declarations; the next step works with them."""
        self.m = manifest
        self.pools: list[PoolSpec] = list(pools_of(manifest).values())
        self.groups: list[GroupSpec] = list(groups_of(manifest).values())
        self.pool_by_name = {p.name: p for p in self.pools}

    def template(self, name: str) -> DispatchTemplate | None:
        return self.m.dispatch.get(name)

    def hint(self, repo: str) -> None:
        """A webhook named a repository with a queued job: watch it, and wake the loop."""
        if any(p.covers(repo) for p in self.pools):
            with self._hint_lock:
                self.hinted.add(repo)
        self.wake.set()

    def next_wait(self) -> float:
        """Seconds until the next step: the poll interval when nothing is on its way; while
        runners are starting, entries are in flight or the last step acted, :data:`BUSY_POLL`
        (a runner coming online sends no webhook)."""
        busy = bool(self.last_step.get("actions")) or bool(self.last_step.get("pending"))
        return min(self.poll_interval, BUSY_POLL) if busy else self.poll_interval

    # -- one step -------------------------------------------------------------------------------
    def step(self) -> tuple[d.Action, ...]:
        """Observe, decide, act (only the leader acts). Returns the actions carried out."""
        started = time.monotonic()
        try:
            if not self.lead.check() and not self.lead.try_acquire():
                self.last_step = {"leader": False, "at": self.clock()}
                return ()
            obs = self.observe()
            self._reconcile_records(obs)
            self._reconcile_dispatching(obs)
            manual = self._manual(obs)
            snap = self.snapshot(obs)
            actions = d.decide(self.pools, self.groups, snap, self.clock())
            done = self.act((*manual, *actions), obs)
            self._gauges(obs, snap)
            pending = sum(1 for r in snap.runners if r.pool is not None and not r.online and not r.seen_online)
            pending += sum(1 for e in snap.entries if e.state != "queued")
            self.last_step = {"leader": True, "at": self.clock(), "actions": len(done), "pending": pending}
            return done
        finally:
            self.metrics.reconcile.observe(time.monotonic() - started)
            now = self.clock()
            for acc, client in self.clients.items():
                stats = client.stats.as_dict()
                if stats.get("rate_remaining") is not None:
                    self.metrics.rate_remaining.labels(acc).set(stats["rate_remaining"])
                    samples = self._rate.setdefault(acc, [])
                    if not samples or now - samples[-1][0] >= 30 or samples[-1][1] != stats["rate_remaining"]:
                        samples.append((now, int(stats["rate_remaining"])))
                    while samples and now - samples[0][0] > 3600:
                        samples.pop(0)
                self.metrics.api_calls.labels(acc).set(stats.get("requests", 0))

    # -- observing ------------------------------------------------------------------------------
    def _runner_scopes(self) -> dict[str, str]:
        """scope -> the account that reads its runners: the pools' scopes, and for each
        dispatch group the repositories of its templates and their organizations."""
        scopes: dict[str, str] = {}
        for p in self.pools:
            scopes.setdefault(p.scope, p.account)
        for g in self.groups:
            for name in g.templates:
                t = self.template(name)
                if t is None:
                    continue
                scopes.setdefault(t.repo, t.account)
                owner = t.repo.split("/", 1)[0]
                acc = self.m.account_for_owner(owner)
                if acc is not None and acc.is_org and acc.id in self.clients:
                    scopes.setdefault(f"org:{acc.login}", acc.id)
        return scopes

    def _job_repos(self) -> dict[str, str]:
        """Repositories whose queued jobs the pools may serve -> the account that reads them."""
        repos: dict[str, str] = {}
        for p in self.pools:
            if not p.is_org:
                repos.setdefault(p.scope, p.account)
                continue
            for spec in self.m.repos.values():
                if p.covers(spec.full_name):
                    repos.setdefault(spec.full_name, p.account)
        with self._hint_lock:
            hinted = sorted(self.hinted)
        for repo in hinted:
            pool = next((p for p in self.pools if p.covers(repo)), None)
            if pool is not None:
                repos.setdefault(repo, pool.account)
        return repos

    def observe(self) -> Observed:
        """Every read of a step, at most :data:`READERS` at a time, in two rounds: the runner
        lists, the queued and in-progress runs of each repository and the in-flight entries'
        runs all at once; then the jobs of every run found, all at once (the reads are
        independent; one after another they would add up to seconds of latency before the
        decision, and each round waits only for its slowest answer)."""
        obs = Observed()
        records = {r.name: r for r in self.store.runners()}
        scopes = [(scope, account) for scope, account in self._runner_scopes().items() if account in self.clients]
        repos = list(self._job_repos().items())
        flight: list[tuple[Any, DispatchTemplate]] = []
        for e in self.store.queue(None, states=IN_FLIGHT):
            t = self.template(e.template)
            if e.run_id is not None and t is not None and t.account in self.clients:
                flight.append((e, t))
        listings = [(repo, account, status) for repo, account in repos for status in ("queued", "in_progress")]
        with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="gridctl-read") as pool:
            runner_futures = [pool.submit(self._runners_of, *sa) for sa in scopes]
            run_list_futures = [pool.submit(self._runs_of, repo, self.clients[acc], status) for repo, acc, status in listings]
            run_futures = [pool.submit(self._run_of, e, t) for e, t in flight]
            found = [(repo, acc, run) for (repo, acc, _), f in zip(listings, run_list_futures, strict=True) for run in f.result()]
            job_futures = [pool.submit(self._jobs_of, repo, self.clients[acc], run) for repo, acc, run in found]
            runner_lists = [f.result() for f in runner_futures]
            runs = [f.result() for f in run_futures]
            job_lists = [f.result() for f in job_futures]
        seen_jobs: set[int] = set()
        self._jobs_seen = {}
        for (repo, _, _), jobs in zip(found, job_lists, strict=True):
            for j in jobs:
                if not isinstance(j.get("id"), int) or j["id"] in seen_jobs:
                    continue  # a run that moved from queued to in progress between two listings
                seen_jobs.add(j["id"])
                if j.get("status") == "queued" and not j.get("runner_name"):
                    obs.jobs.append(d.Job(int(j["id"]), repo, d.labels_of(j.get("labels") or ()), ts(j.get("created_at"))))
                elif j.get("status") == "in_progress" and j.get("runner_name"):
                    # what each runner is doing, for the dashboard (GitHub's runner list does not say)
                    self._jobs_seen[str(j["runner_name"])] = {
                        "name": str(j.get("name") or ""), "repo": repo, "run_id": j.get("run_id"),
                        "url": j.get("html_url") if str(j.get("html_url") or "").startswith("http") else None,
                    }
        self.current_jobs = self._jobs_seen
        for (scope, account), items in zip(scopes, runner_lists, strict=True):
            if items is None:
                obs.unreadable.add(scope)
                continue
            for item in items:
                name = str(item.get("name"))
                rec = records.get(name)
                rid = name if rec is not None and rec.scope == scope else f"{scope}#{name}"
                obs.runners.setdefault(rid, (scope, account, item))
        for (e, _), run in zip(flight, runs, strict=True):
            if run is None or e.run_id is None:
                continue
            obs.runs[e.run_id] = run
            if e.id not in self._started_seen and run.get("status") != "queued" and e.dispatched_at is not None:
                self._started_seen.add(e.id)
                began = ts(run.get("run_started_at") or run.get("updated_at"))
                self.metrics.dispatch_to_start.labels(e.group).observe(max(0.0, began - e.dispatched_at.timestamp()))
        return obs

    def _runners_of(self, scope: str, account: str) -> list[dict[str, Any]] | None:
        url = f"/orgs/{scope[4:]}/actions/runners" if scope.startswith("org:") else f"/repos/{scope}/actions/runners"
        try:
            return self.clients[account].get_list(url, key="runners") or []
        except GitHubError as exc:
            log.warning("cannot list the runners of %s as %s: %s", scope, account, exc)
            return None

    def _run_of(self, e: Any, t: DispatchTemplate) -> dict[str, Any] | None:
        try:
            run = self.clients[t.account].get(f"/repos/{t.repo}/actions/runs/{e.run_id}")
        except GitHubError as exc:
            log.warning("cannot read run %s of entry %s: %s", e.run_id, e.id, exc)
            return None
        return run if isinstance(run, dict) else None

    def _runs_of(self, repo: str, client: AccountClient, status: str) -> list[dict[str, Any]]:
        try:
            listed = client.get_list(f"/repos/{repo}/actions/runs", {"status": status}, key="workflow_runs", per_page=RUNS_PER_PAGE)
        except GitHubError as exc:
            log.warning("cannot list the %s runs of %s: %s", status, repo, exc)
            return []
        return [run for run in listed or [] if isinstance(run, dict) and isinstance(run.get("id"), int)]

    def _jobs_of(self, repo: str, client: AccountClient, run: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            jobs = client.get_list(f"/repos/{repo}/actions/runs/{run['id']}/jobs", key="jobs") or []
        except GitHubError as exc:
            log.warning("cannot list the jobs of run %s in %s: %s", run.get("id"), repo, exc)
            return []
        return [j for j in jobs if isinstance(j, dict)]

    # -- matching records with GitHub -------------------------------------------------------------
    def _reconcile_records(self, obs: Observed) -> None:
        """Close records GitHub no longer lists; keep the clocks of the others."""
        listed = {rid: item for rid, (_, _, item) in obs.runners.items()}
        for rec in self.store.runners():
            item = listed.get(rec.name)
            if item is not None:
                online = item.get("status") == "online"
                self.store.runner_seen(rec.name, online=online, busy=bool(item.get("busy")), github_id=item.get("id"))
                if online:
                    self.launchers.forget_file(rec.name)
                self.last_seen[rec.name] = {"status": item.get("status"), "busy": bool(item.get("busy"))}
                continue
            if rec.scope in obs.unreadable:
                continue
            if rec.state == "launching" and self.clock() - rec.launched_at.timestamp() < 30:
                continue  # being registered by this very step's caller, or a moment ago
            why = "no longer listed by GitHub (an ephemeral runner is removed after its job)" if rec.state == "registered" else "never registered"
            self.launchers.stop(rec.name, rec.launcher_pid, rec.launcher_start, grace=2.0)
            if self.store.runner_removed(rec.name, why):
                self.store.event("runner-gone", rec.pool, runner=rec.name, why=why)
            self.last_seen.pop(rec.name, None)
        for name, code in self.launchers.reap():
            log.info("launcher of %s exited with %s", name, code)

    def _reconcile_dispatching(self, obs: Observed) -> None:
        """Entries left ``dispatching`` without a run by a controller that died mid-dispatch."""
        stuck = [e for e in self.store.queue(None, states=("dispatching",)) if e.run_id is None]
        if not stuck:
            return
        held = {e.run_id for e in self.store.queue(None, states=IN_FLIGHT) if e.run_id is not None}
        held |= {e.run_id for e in self.store.history(None, limit=1000) if e.run_id is not None}
        for e in sorted(stuck, key=lambda x: (x.dispatch_started_at or x.created_at, x.id)):
            t = self.template(e.template)
            if t is None or t.account not in self.clients or e.dispatch_key is None:
                continue
            began = (e.dispatch_started_at or e.created_at).timestamp()
            try:
                page = self.clients[t.account].get(
                    f"/repos/{t.repo}/actions/workflows/{fd.workflow_key(t.workflow)}/runs",
                    {"event": "workflow_dispatch", "per_page": 100},
                )
            except GitHubError as exc:
                log.warning("cannot list the runs of %s to reconcile entry %s: %s", t.workflow, e.id, exc)
                continue
            runs = sorted(
                (r for r in (page or {}).get("workflow_runs") or [] if r.get("id") not in held and ts(r.get("created_at")) >= began - 2),
                key=lambda r: (ts(r.get("created_at")), r.get("id") or 0),
            )
            if runs:
                run = runs[0]
                held.add(run["id"])
                self.store.dispatched(e.id, e.dispatch_key, run_id=int(run["id"]), run_url=str(run.get("html_url") or ""))
                self.store.event("dispatch-reconciled", e.group, entry=e.id, run=run["id"])
                self.say(f"entry {e.id}: its interrupted dispatch had started run {run['id']}", entry=e.id, group=e.group, run=run["id"])
            elif self.clock() - began >= DISPATCH_GRACE:
                self.store.requeue(e.id, e.dispatch_key, "the dispatch was interrupted before GitHub took it; queued again")
                self.store.event("dispatch-requeued", e.group, entry=e.id)
                self.say(f"entry {e.id}: its interrupted dispatch never started a run; queued again", entry=e.id, group=e.group)

    # -- the picture ----------------------------------------------------------------------------
    def snapshot(self, obs: Observed) -> d.Snapshot:
        records = {r.name: r for r in self.store.runners()}
        runners = []
        for rid, (scope, _, item) in obs.runners.items():
            rec = records.get(rid)
            online = item.get("status") == "online"
            labels = frozenset(lb.get("name", "") if isinstance(lb, dict) else str(lb) for lb in item.get("labels") or ())
            if rec is None:
                runners.append(d.Runner(rid, labels, online, bool(item.get("busy")), 0.0, None, scope, seen_online=online))
                continue
            runners.append(d.Runner(
                rid, labels, online, bool(item.get("busy")), rec.launched_at.timestamp(), rec.pool, scope,
                seen_online=rec.online_at is not None or online,
                idle_since=rec.idle_since.timestamp() if rec.idle_since else None,
                offline_since=rec.offline_since.timestamp() if rec.offline_since else None,
            ))
        # registered or launching records GitHub does not list yet: starting runners
        for rec in records.values():
            if rec.name not in obs.runners and rec.state == "launching":
                runners.append(d.Runner(rec.name, frozenset(rec.labels), False, False, rec.launched_at.timestamp(), rec.pool, rec.scope))
        entries = []
        for e in self.store.active():
            run = obs.runs.get(e.run_id) if e.run_id is not None else None
            entries.append(d.Entry(
                e.id, e.group, e.template, e.priority, e.position, e.state,
                run_status=run.get("status") if run else None, conclusion=run.get("conclusion") if run else None,
                runner=e.runner,
            ))
        history = {}
        for p in self.pools:
            up = self.store.last_event("scale-up", p.name)
            down = self.store.last_event("scale-down", p.name)
            history[p.name] = d.PoolHistory(up.timestamp() if up else None, down.timestamp() if down else None)
        return d.Snapshot(tuple(runners), tuple(obs.jobs), tuple(entries), history)

    # -- hand-made requests ---------------------------------------------------------------------
    def _manual(self, obs: Observed) -> list[d.Action]:
        out: list[d.Action] = []
        records = {r.name: r for r in self.store.runners()}
        while True:
            try:
                req = self.requests.get_nowait()
            except queue.Empty:
                break
            if req.kind == "scale-up" and req.pool in self.pool_by_name:
                p = self.pool_by_name[req.pool]
                room = p.max - sum(1 for r in records.values() if r.pool == p.name)
                out.extend(d.Launch(p.name, "manual") for _ in range(max(0, min(req.count, room))))
            elif req.kind == "scale-down" and req.pool in self.pool_by_name:
                idle = [r for r in records.values() if r.pool == req.pool and self._idle(obs, r.name)]
                idle.sort(key=lambda r: r.idle_since or r.launched_at)
                out.extend(d.Remove(r.name, r.pool, "scaled down by hand") for r in idle[: req.count])
            elif req.kind == "remove" and req.runner in records and self._idle(obs, req.runner):
                rec = records[req.runner]
                out.append(d.Remove(rec.name, rec.pool, "removed by hand"))
        return out

    @staticmethod
    def _idle(obs: Observed, name: str) -> bool:
        seen = obs.runners.get(name)
        return seen is not None and seen[2].get("status") == "online" and not seen[2].get("busy")

    # -- acting ---------------------------------------------------------------------------------
    def act(self, actions: tuple[d.Action, ...], obs: Observed) -> tuple[d.Action, ...]:
        done: list[d.Action] = []
        launched: dict[str, int] = {}
        removed: dict[str, int] = {}
        dispatcher = fd.Dispatcher(self.m, self.clients)
        for a in actions:
            try:
                ok = self._do(a, obs, dispatcher)
            except GridctlError as exc:
                log.debug("%s failed", type(a).__name__, exc_info=True)
                self.say(f"{type(a).__name__.lower()} failed: {exc}", level="warning", action=type(a).__name__.lower(), **_ids(a))
                ok = False
            if not ok:
                continue
            done.append(a)
            if isinstance(a, d.Launch):
                launched[a.pool] = launched.get(a.pool, 0) + 1
            elif isinstance(a, d.Remove) and a.pool is not None:
                removed[a.pool] = removed.get(a.pool, 0) + 1
        for pool, n in launched.items():
            self.store.event("scale-up", pool, count=n)
        for pool, n in removed.items():
            self.store.event("scale-down", pool, count=n)
        return tuple(done)

    def _do(self, a: d.Action, obs: Observed, dispatcher: fd.Dispatcher) -> bool:
        if isinstance(a, d.Finish):
            e = self.store.get(a.entry)
            if e is not None and self.store.finish(a.entry, conclusion=a.conclusion):
                self.metrics.dispatches.labels(e.group, "failed" if a.conclusion not in ("success", "neutral", "skipped") else "completed").inc()
                self.store.event("entry-finished", e.group, entry=e.id, conclusion=a.conclusion)
                self.say(f"entry {e.id} ({e.group}/{e.template}): run {e.run_id} concluded {a.conclusion}", entry=e.id, group=e.group, run=e.run_id, conclusion=a.conclusion)
            return True
        if isinstance(a, d.Fail):
            e = self.store.get(a.entry)
            if e is not None and self.store.fail_queued(a.entry, a.reason):
                self.metrics.dispatches.labels(e.group, "failed").inc()
                self.say(f"entry {a.entry}: failed: {a.reason}", entry=a.entry, group=e.group)
            return True
        if isinstance(a, (d.Cleanup, d.Remove)):
            return self._remove(a, obs)
        if isinstance(a, d.Dispatch):
            return self._dispatch(a, dispatcher)
        if isinstance(a, d.Launch):
            return self._launch(a)
        raise AssertionError(a)

    def _remove(self, a: d.Cleanup | d.Remove, obs: Observed) -> bool:
        rec = self.store.runner(a.runner)
        seen = obs.runners.get(a.runner)
        scope, account = (seen[0], seen[1]) if seen else ((rec.scope, rec.account) if rec else ("", ""))
        github_id = (seen[2].get("id") if seen else None) or (rec.github_id if rec else None)
        client = self.clients.get(account)
        if github_id is not None and client is not None and scope:
            url = f"/orgs/{scope[4:]}/actions/runners/{github_id}" if scope.startswith("org:") else f"/repos/{scope}/actions/runners/{github_id}"
            try:
                client.delete(url, f"runner {a.runner}")
            except GitHubError as exc:
                if exc.status == 422:  # it took a job since it was read: leave it
                    return False
                raise
        if rec is not None:
            self.launchers.stop(rec.name, rec.launcher_pid, rec.launcher_start)
            self.store.runner_removed(rec.name, a.reason)
        self.last_seen.pop(a.runner, None)
        if isinstance(a, d.Remove) and a.pool is not None:
            self.metrics.scale_events.labels(a.pool, "down", "idle").inc()
        self.say(f"runner {a.runner} removed: {a.reason}", runner=a.runner, pool=a.pool)
        return True

    def _dispatch(self, a: d.Dispatch, dispatcher: fd.Dispatcher) -> bool:
        e = self.store.get(a.entry)
        t = self.template(a.template)
        if e is None or t is None:
            return False
        key = self.store.begin_dispatch(a.entry, runner=a.runner)
        if key is None:
            return False  # another controller, or an earlier step, took it
        self.metrics.queue_wait.labels(e.group).observe(max(0.0, self.clock() - e.created_at.timestamp()))
        try:
            fired = dispatcher.fire(t, {**t.inputs, **e.inputs})
        except fd.DispatchError as exc:
            cause = exc.__cause__ or exc.__context__
            status = getattr(cause, "status", None)
            if isinstance(status, int) and 400 <= status < 500 and status != 429:
                self.store.finish(a.entry, error=str(exc))
                self.metrics.dispatches.labels(e.group, "failed").inc()
                self.say(f"entry {e.id}: {exc}", entry=e.id, group=e.group)
                return True
            raise  # the answer was lost: reconciled from the runs later
        self.store.dispatched(a.entry, key, run_id=fired.run_id, run_url=fired.html_url)
        self.metrics.dispatches.labels(e.group, "created").inc()
        self.store.event("dispatched", e.group, entry=e.id, run=fired.run_id, runner=a.runner)
        self.say(f"entry {e.id} ({e.group}/{e.template}, priority {e.priority}): dispatched run {fired.run_id}", entry=e.id, group=e.group, run=fired.run_id, runner=a.runner)
        return True

    def _group_id(self, p: PoolSpec) -> int:
        """The runner group a pool registers in: 1 (Default) for repositories and for
        organizations without ``group:``; else the group's id, looked up by name once."""
        if not p.is_org or p.group is None:
            return 1
        key = (p.scope, p.group)
        if key not in self._group_ids:
            groups = self.clients[p.account].get_list(f"/orgs/{p.scope[4:]}/actions/runner-groups", key="runner_groups") or []
            found = next((g for g in groups if str(g.get("name")) == p.group), None)
            if found is None:
                raise GridctlError(f"pool {p.name}: runner group {p.group!r} does not exist in {p.scope[4:]} (apply the manifest first)")
            self._group_ids[key] = int(found["id"])
        return self._group_ids[key]

    def _launch(self, a: d.Launch) -> bool:
        p = self.pool_by_name.get(a.pool)
        if p is None:
            return False
        client = self.launch_clients.get(p.account) or self.clients[p.account]
        name = f"{p.name}-{secrets.token_hex(4)}"
        labels = [SELF_HOSTED, *p.labels]
        self.store.add_runner(p.name, name, scope=p.scope, account=p.account, labels=labels, reason=a.reason)
        url = f"/orgs/{p.scope[4:]}/actions/runners/generate-jitconfig" if p.is_org else f"/repos/{p.scope}/actions/runners/generate-jitconfig"
        pace = self.launch_pace.get(p.account)
        if pace is not None:
            pace.wait()
        try:
            answer = client.raw("POST", url, {"name": name, "runner_group_id": self._group_id(p), "labels": labels, "work_folder": "_work"})
        except GitHubError as exc:
            self.metrics.launch_failures.labels(p.name).inc()
            if exc.status is not None and 400 <= exc.status < 500:
                self.store.runner_removed(name, "GitHub refused the JIT registration")
            # else the answer was lost and GitHub may have registered it: the record stays
            # ``launching``; the next steps find it listed (then clean it up, never online) or not
            raise
        self.store.runner_registered(name, int(answer["runner"]["id"]))
        try:
            started = self.launchers.start(p.launcher, name=name, pool=p.name, jit=str(answer["encoded_jit_config"]))
        except LaunchError as exc:
            self.metrics.launch_failures.labels(p.name).inc()
            with contextlib.suppress(GridctlError):
                scope_url = url.rsplit("/", 1)[0]
                client.delete(f"{scope_url}/{answer['runner']['id']}", f"runner {name}")
            self.store.runner_removed(name, "its launcher could not start")
            raise GridctlError(str(exc)) from None
        self.store.runner_started(name, started.pid, started.start)
        self.metrics.scale_events.labels(p.name, "up", a.reason).inc()
        self.say(f"runner {name} launched in pool {p.name} ({a.reason})", runner=name, pool=p.name, reason=a.reason)
        return True

    # -- metrics --------------------------------------------------------------------------------
    def _gauges(self, obs: Observed, snap: d.Snapshot) -> None:
        self.metrics.runners.clear()
        counts: dict[tuple[str, str], int] = {}
        for r in snap.runners:
            if r.pool is None:
                continue
            state = "busy" if r.busy else "idle" if r.online else ("offline" if r.seen_online else "starting")
            counts[(r.pool, state)] = counts.get((r.pool, state), 0) + 1
        for p in self.pools:
            for state in ("busy", "idle", "starting", "offline"):
                self.metrics.runners.labels(p.name, state).set(counts.get((p.name, state), 0))
            waiting = sum(1 for j in snap.jobs if d.labels_of(j.labels) <= p.runner_labels and p.covers(j.repo))
            self.metrics.queued_jobs.labels(p.name).set(waiting)

    # -- the loop -------------------------------------------------------------------------------
    def drain(self) -> int:
        """On shutdown: unregister the idle and starting runners of the pools (busy ones finish
        their job; an ephemeral runner then goes by itself). Returns how many were removed."""
        if not self.lead.held:
            return 0
        try:
            obs = self.observe()
        except GridctlError as exc:
            self.say(f"could not read the runners before stopping: {exc}", level="warning")
            return 0
        removed = 0
        for rec in self.store.runners():
            seen = obs.runners.get(rec.name)
            if seen is not None and seen[2].get("busy"):
                continue
            try:
                if self._remove(d.Cleanup(rec.name, rec.pool, "the controller stopped"), obs):
                    removed += 1
            except GridctlError as exc:
                self.say(f"could not remove runner {rec.name}: {exc}", level="warning", runner=rec.name)
        return removed


def _ids(a: d.Action) -> dict[str, Any]:
    """The correlation ids an action carries (for structured log lines)."""
    out: dict[str, Any] = {}
    for name in ("entry", "runner", "pool", "group"):
        value = getattr(a, name, None)
        if value is not None:
            out[name] = value
    return out


def record_view(rec: RunnerRecord, seen: dict[str, Any] | None, job: dict[str, Any] | None = None, group: str | None = None) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        return v.isoformat() if v else None

    if rec.state == "removed":
        status = "removed"
    elif seen is None:
        status = "starting" if rec.online_at is None else "offline"
    else:
        status = "busy" if seen.get("busy") else ("idle" if seen.get("status") == "online" else ("offline" if rec.online_at else "starting"))
    return {
        "id": rec.id, "name": rec.name, "pool": rec.pool, "scope": rec.scope, "github_id": rec.github_id,
        "labels": list(rec.labels), "status": status, "reason": rec.reason, "launched_at": iso(rec.launched_at),
        "online_at": iso(rec.online_at), "idle_since": iso(rec.idle_since), "removed_at": iso(rec.removed_at),
        "removed_why": rec.removed_why, "group": group or "Default", "job": job if status == "busy" else None,
    }

