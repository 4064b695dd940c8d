"""Benchmark: a simulated day of the fleet controller (``gridctl serve``), with webhooks and polling-only.

    python tests/bench/bench_serve.py                # --quick: 3 bursts, idle 1 min per mode (about 5 minutes)
    python tests/bench/bench_serve.py --full         # 6 bursts of 30-80 jobs, idle 2 min per mode (about 20 minutes)
    python tests/bench/bench_serve.py --bursts 6 --burst-jobs 30-80 --idle-minutes 2 --modes webhook
    nox -s bench -- serve

For each mode (``webhook``, then ``polling``) a fresh world is built, every part its own process:

* ``gridctl sandbox serve`` with latency on (``--latency``, default lognormal, median 60 ms) and
  GitHub's own limits, the sandbox's defaults kept as they are: 5,000 points an hour per user, a
  304 answer to a conditional request free, 900 points a minute per endpoint, 100 requests in
  flight, 80 content writes a minute (GitHub Docs, "Rate limits for the REST API",
  https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api); nothing is
  lifted, this script keeps its own dispatches under the per-endpoint limit;
* an organization ``day-org`` with two admins: ``day-ops``, whose token the controller uses (the
  manifest's one account), and ``day-bench``, the identity of this script (the setup apply, the
  jobs it dispatches and its measuring hooks), so the controller's rate-limit window holds the
  controller's requests only;
* a manifest with 3 repositories, 3 pools of ephemeral JIT runners scoped to the organization
  with different labels (``cpu``, ``gpu``, ``arm``; different ``min``/``max``/``idle_timeout``;
  launcher ``gridctl sandbox runner``, the sandbox's stand-in runner), a dispatch queue group and
  ``serve.poll_interval`` (``--poll-interval``, default 10s), applied with ``gridctl apply``
  (GRIDCTL_API_URL), then ``gridctl serve`` on it. In the webhook mode each repository gets a hook
  to the controller's ``/webhooks`` with the manifest's secret (``workflow_job``, ``workflow_run``);
  in the polling mode it gets none. The controller paces its own writes as it does against
  GitHub (``write_interval``, 1 s: "wait at least one second between each" POST, PATCH, PUT or
  DELETE, GitHub Docs, "Best practices for using the REST API",
  https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api)
  unless ``--write-interval`` says otherwise. The setup apply is not paced (it is not measured).

The day: ``--bursts`` bursts of ``--burst-jobs`` workflow runs (one job each, 0.5-3 s via the
workflow's ``GRIDCTL_SANDBOX_JOB_SECONDS``), spread over the 3 pools and repositories and
dispatched within about a second, with ``--gap`` seconds of quiet between bursts, plus
``--entries`` queue entries per burst added through the controller's API. Then the fleet is left
alone: first until it has shrunk back to ``min``, then ``--idle-minutes`` more, measured.

How it measures (this script's clock; every loop is bounded in count and time):

* a second hook per repository, to a receiver in this script, gives when each job was queued
  and started (``workflow_job`` ``queued`` / ``in_progress``, signature checked), in both modes
  (the polling-only controller gets no webhook; the measuring hook is the bench's);
* ``/_sandbox/runners`` (a control route: no latency, not counted) is sampled 4 times a second:
  when each runner was registered, came online, took a job, went; idle runner time is what it
  shows online and not busy. The controller's ``gridctl_runners{state="idle"}`` gauge is sampled
  once a second as well (it moves only at the controller's steps);
* the controller's ``gridctl_github_requests`` and ``gridctl_github_rate_remaining`` and
  ``/_sandbox/stats`` for the controller's identity, read before and after each phase.

Printed per mode: job queue-wait (queued -> started) p50/p95; webhook-to-launch and
webhook-to-online p50/p95 — from a job queued to the registration (the JIT runner appearing) and
to the online of the runner launched for it, registrations paired with the waiting jobs in order,
for the jobs that found a free slot of their pool when queued (the controller's reaction: the
target) and for every job that needed a new runner (waits behind earlier launches included); the
first launch of each pool after a burst's first job; idle runner-minutes; REST calls and rate
points per job; the idle fleet's requests and rate points per hour per account (extrapolated
from the idle minutes). Then a table comparing the modes, with the targets: webhook-to-launch
p95 <= 2 s, an idle fleet <= 60 points per hour per account.

It never fails on timing. It exits 1 when something is wrong: a job never served or not
successful, more runners in a pool than its ``max``, a runner left registered or a launcher left
running after the controller stopped, the controller not exiting 0. Every child (the sandbox,
the controller, the stand-in runners it launched) is stopped at the end, also on Ctrl-C, SIGTERM
or an exception.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import procs
import requests
import yaml
from procs import (
    GRIDCTL,
    Stop,
    free_port,
    kill_strays,
    pct,
    quiet_session,
    start_logged,
    stop_on_sigterm,
    stop_process,
    stray_pids,
    wait_for,
)

ORG, OPS, BENCH = "day-org", "day-ops", "day-bench"
REPOS = ("svc-api", "svc-web", "svc-data")
GROUP = "nightly"
#: pool -> (labels, min, max, idle_timeout seconds, share of the day's jobs)
POOLS: dict[str, tuple[list[str], int, int, int, float]] = {
    "cpu": (["cpu", "linux"], 1, 6, 15, 0.5),
    "gpu": (["gpu"], 0, 4, 10, 0.2),
    "arm": (["arm"], 1, 5, 20, 0.3),
}
WORKFLOW = """\
name: {pool}
on:
  workflow_dispatch:
    inputs:
      seconds: {{required: false, type: string, default: "1"}}
env:
  GRIDCTL_SANDBOX_JOB_SECONDS: "${{{{ inputs.seconds }}}}"
jobs:
  work:
    runs-on: [self-hosted, {label}]
    steps:
      - run: echo "{pool} work for ${{{{ inputs.seconds }}}} s"
"""
#: GitHub's limit is 900 points a minute per endpoint, a workflow_dispatch costs 5 (GitHub Docs,
#: "Rate limits for the REST API", secondary rate limits,
#: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits):
#: this script dispatches at most this many a minute, so its own traffic is never blocked
DISPATCH_PER_MINUTE = 160
SAMPLE_EVERY = 0.25
METRICS_EVERY = 1.0
METRIC_LINE = re.compile(r'^(gridctl_[a-z_]+)\{([^}]*)\}\s+([-+0-9.eE]+|NaN)$')


class Problem(Exception):
    """The world could not be set up (a process did not start, a request was refused)."""


def line(name: str, values: list[float], note: str = "") -> None:
    if not values:
        print(f"  {name:<46} (no samples){note}")
        return
    print(f"  {name:<46} p50 {pct(values, 0.5):7.2f}  p95 {pct(values, 0.95):7.2f}  max {max(values):7.2f} s  (n={len(values)}){note}")


# -- processes (tests/bench/procs.py) ------------------------------------------------------------------
class Sandbox(procs.Sandbox):
    def __init__(self, root: Path, latency: str, seed: int):
        super().__init__(root / "sandbox.log", "--latency", latency, "--seed", str(seed), error=Problem)


class Controller:
    """``gridctl serve`` as its own process, in its own session (Ctrl-C reaches it through us)."""

    def __init__(self, ws: Path, env: dict[str, str]):
        self.ws = ws
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = ws / "serve.log"
        self.proc = start_logged([*GRIDCTL, "serve", "-f", "grid.yaml", "--listen", f"127.0.0.1:{self.port}"], self.log,
                                 cwd=ws, env=env)
        self.http = quiet_session()
        self.code: int | None = None

    def ready(self) -> None:
        if not wait_for(lambda: self.http.get(self.base + "/health", timeout=2).ok, 90, 0.1, self.proc):
            raise Problem(f"the controller did not answer /health:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def call(self, method: str, path: str, token: str, body: Any = None) -> Any:
        resp = self.http.request(method, self.base + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if resp.status_code >= 400:
            raise Problem(f"controller {method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (it unregisters idle runners and exits 0), SIGKILL after ``timeout``."""
        if not stop_process(self.proc, timeout):
            self.code = None
            return None
        self.http.close()
        if self.code is None:
            self.code = self.proc.returncode
        return self.code


# -- the measuring webhook receiver --------------------------------------------------------------------
@dataclass
class JobSeen:
    pool: str | None
    repo: str
    run_id: int
    queued: float | None = None
    started: float | None = None
    completed: float | None = None
    runner: str | None = None
    conclusion: str | None = None


class Receiver:
    """This script's own hook: when each workflow job was queued, started and completed."""

    def __init__(self, secret: str, label_pool: dict[str, str]):
        self.jobs: dict[int, JobSeen] = {}
        self.bad_signatures = 0
        self.lock = threading.Lock()
        key = secret.encode()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(min(int(self.headers.get("Content-Length", 0)), 4 << 20))
                now = time.time()
                expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(self.headers.get("X-Hub-Signature-256", ""), expected)
                event = self.headers.get("X-GitHub-Event", "")
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if not ok:
                    with outer.lock:
                        outer.bad_signatures += 1
                    return
                if event == "workflow_job":
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        outer.record(now, json.loads(body), label_pool)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, name="bench-receiver", daemon=True)
        self.thread.start()

    def record(self, now: float, payload: dict, label_pool: dict[str, str]) -> None:
        job, action = payload["workflow_job"], payload["action"]
        labels = {str(x).lower() for x in job.get("labels") or ()}
        pool = next((p for lb, p in label_pool.items() if lb in labels), None)
        with self.lock:
            seen = self.jobs.setdefault(int(job["id"]), JobSeen(pool, payload["repository"]["full_name"], int(job["run_id"])))
            if action == "queued" and seen.queued is None:
                seen.queued = now
            elif action == "in_progress" and seen.started is None:
                seen.started, seen.runner = now, job.get("runner_name")
            elif action == "completed" and seen.completed is None:
                seen.completed, seen.conclusion = now, job.get("conclusion")
                seen.runner = seen.runner or job.get("runner_name")

    def snapshot(self) -> dict[int, JobSeen]:
        with self.lock:
            return {k: JobSeen(**v.__dict__) for k, v in self.jobs.items()}

    def completed(self) -> int:
        with self.lock:
            return sum(1 for j in self.jobs.values() if j.completed is not None)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


# -- sampling the fleet ---------------------------------------------------------------------------------
@dataclass
class RunnerSeen:
    pool: str
    registered: float
    online: float | None = None
    busy: float | None = None
    gone: float | None = None
    last: float = 0.0


@dataclass
class Samples:
    runners: dict[str, RunnerSeen] = field(default_factory=dict)
    #: (time, idle runners per pool) from the sandbox, 4 a second
    idle: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    #: (time, idle runners per pool) from the controller's gridctl_runners gauge, 1 a second
    gauge: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    #: the most runners (any state) seen at once per pool
    peak: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    last_error: str = ""


class Sampler:
    def __init__(self, sbx: Sandbox, pools: list[str], limit: float):
        self.sbx, self.pools = sbx, pools
        self.controller: Controller | None = None
        self.data = Samples()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.limit = limit
        self.http = quiet_session()
        self.thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _pool(self, name: str) -> str | None:
        prefix = name.rsplit("-", 1)[0]
        return prefix if prefix in self.pools else None

    def _sample_runners(self) -> None:
        now = time.time()
        got = self.http.get(f"{self.sbx.url}/_sandbox/runners", timeout=5).json()["runners"]
        idle = dict.fromkeys(self.pools, 0)
        count = dict.fromkeys(self.pools, 0)
        names = set()
        with self.lock:
            d = self.data
            for r in got:
                pool = self._pool(str(r["name"]))
                if pool is None:
                    continue
                names.add(r["name"])
                seen = d.runners.setdefault(r["name"], RunnerSeen(pool, now))
                seen.last = now
                count[pool] += 1
                if r["status"] == "online":
                    seen.online = seen.online or now
                    if r["busy"]:
                        seen.busy = seen.busy or now
                    else:
                        idle[pool] += 1
            for name, seen in d.runners.items():
                if name not in names and seen.gone is None:
                    seen.gone = now
            d.idle.append((now, idle))
            for p, n in count.items():
                d.peak[p] = max(d.peak.get(p, 0), n)

    def _sample_gauge(self) -> None:
        ctl = self.controller
        if ctl is None or ctl.proc.poll() is not None:
            return
        text = self.http.get(ctl.base + "/metrics", timeout=5).text
        idle = dict.fromkeys(self.pools, 0)
        for name, labels, value in parse_metrics(text):
            if name == "gridctl_runners" and labels.get("state") == "idle" and labels.get("pool") in idle:
                idle[labels["pool"]] = int(float(value))
        with self.lock:
            self.data.gauge.append((time.time(), idle))

    def _loop(self) -> None:
        next_gauge = 0.0
        deadline = time.monotonic() + self.limit
        for _ in range(int(self.limit / SAMPLE_EVERY) + 1):
            if time.monotonic() > deadline:
                return
            try:
                self._sample_runners()
                if time.monotonic() >= next_gauge:
                    next_gauge = time.monotonic() + METRICS_EVERY
                    self._sample_gauge()
            except (requests.RequestException, ValueError, KeyError) as exc:
                with self.lock:
                    self.data.errors += 1
                    self.data.last_error = type(exc).__name__
            if self.stop_event.wait(SAMPLE_EVERY):
                return

    def snapshot(self) -> Samples:
        with self.lock:
            d = self.data
            return Samples({k: RunnerSeen(**v.__dict__) for k, v in d.runners.items()}, list(d.idle), list(d.gauge), dict(d.peak), d.errors, d.last_error)

    def counts(self) -> dict[str, int]:
        """Runners per pool in the last sample (registered, any state)."""
        with self.lock:
            out = dict.fromkeys(self.pools, 0)
            for r in self.data.runners.values():
                if r.gone is None:
                    out[r.pool] += 1
            return out

    def close(self) -> None:
        self.stop_event.set()
        self.thread.join(10)
        self.http.close()


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], str]]:
    out = []
    for raw in text.splitlines()[:20_000]:
        m = METRIC_LINE.match(raw.strip())
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            out.append((m.group(1), labels, m.group(3)))
    return out


def controller_counters(ctl: Controller) -> dict[str, dict[str, float]]:
    """gridctl_github_requests and gridctl_github_rate_remaining per account, scale events by
    direction and reason, and the count and total time of the controller's steps."""
    out: dict[str, dict[str, float]] = {"requests": {}, "remaining": {}, "scale": {}, "steps": {}}
    with contextlib.suppress(requests.RequestException):
        for name, labels, value in parse_metrics(ctl.http.get(ctl.base + "/metrics", timeout=10).text):
            if name == "gridctl_github_requests":
                out["requests"][labels.get("account", "?")] = float(value)
            elif name == "gridctl_github_rate_remaining":
                out["remaining"][labels.get("account", "?")] = float(value)
            elif name == "gridctl_scale_events_total":
                key = f"{labels.get('direction')}:{labels.get('reason')}"
                out["scale"][key] = out["scale"].get(key, 0.0) + float(value)
    with contextlib.suppress(requests.RequestException):
        for raw in ctl.http.get(ctl.base + "/metrics", timeout=10).text.splitlines()[:20_000]:
            if raw.startswith(("gridctl_reconcile_seconds_sum ", "gridctl_reconcile_seconds_count ")):
                out["steps"][raw.split()[0].rsplit("_", 1)[1]] = float(raw.split()[1])
    return out


def integrate(samples: list[tuple[float, dict[str, int]]], t0: float, t1: float, cap: float = 5.0) -> float:
    """Runner-seconds idle between t0 and t1 (each sample holds until the next, at most ``cap`` s)."""
    total = 0.0
    inside = [(t, v) for t, v in samples if t0 <= t <= t1]
    for (t, v), (t_next, _) in zip(inside, [*inside[1:], (t1, {})], strict=True):
        total += sum(v.values()) * min(cap, max(0.0, t_next - t))
    return total


# -- what the numbers mean ------------------------------------------------------------------------------
@dataclass
class Latencies:
    """Job queued -> the registration (and the online) of the runner launched for it."""

    #: every job of the pool that needed a new runner (waiting behind other launches included)
    registered: list[float] = field(default_factory=list)
    online: list[float] = field(default_factory=list)
    #: only the jobs that found a free slot when queued: the controller's reaction
    room_registered: list[float] = field(default_factory=list)
    room_online: list[float] = field(default_factory=list)


def launch_latencies(jobs: dict[int, JobSeen], runners: dict[str, RunnerSeen], pool: str, cap: int, out: Latencies) -> None:
    """Pair the jobs of ``pool`` that needed a new runner with the pool's registrations, in order.

    A job needs one when no runner registered before it was queued ran it. Registrations go to
    the oldest job waiting (as the controller serves them); one with no job waiting (keeping
    ``min``) is left out. A job *found a free slot* when, at the moment it was queued, the jobs
    waiting before it were fewer than ``cap`` minus the pool's registered runners (sandbox view)."""
    events: list[tuple[float, int, str, Any]] = []
    for name, r in runners.items():
        if r.pool != pool:
            continue
        events.append((r.registered, 1, "launch", name))
        if r.gone is not None:
            events.append((r.gone, 0, "free", name))
    for jid, j in jobs.items():
        if j.pool != pool or j.queued is None:
            continue
        ran_on = runners.get(j.runner or "")
        if ran_on is not None and ran_on.registered < j.queued:
            continue  # a runner that was there already took it
        events.append((j.queued, 2, "job", jid))
    events.sort(key=lambda e: (e[0], e[1]))
    occupied = 0
    waiting: deque[tuple[float, bool]] = deque()  # (queued at, found a free slot)
    for t, _, kind, ref in events:
        if kind == "free":
            occupied = max(0, occupied - 1)
        elif kind == "launch":
            occupied += 1
            if not waiting:
                continue
            queued, room = waiting.popleft()
            online = runners[ref].online
            out.registered.append(max(0.0, t - queued))
            if room:
                out.room_registered.append(max(0.0, t - queued))
            if online is not None:
                out.online.append(max(0.0, online - queued))
                if room:
                    out.room_online.append(max(0.0, online - queued))
        else:
            waiting.append((t, len(waiting) < cap - occupied))


def first_launches(jobs: dict[int, JobSeen], runners: dict[str, RunnerSeen], bursts: list[tuple[float, float]]) -> list[float]:
    """Per burst and pool: its first job queued -> the pool's first registration after it."""
    out = []
    for start, end in bursts:
        for pool in POOLS:
            queued = [j.queued for j in jobs.values() if j.pool == pool and j.queued is not None and start <= j.queued <= end + 5]
            if not queued:
                continue
            t0 = min(queued)
            regs = [r.registered for r in runners.values() if r.pool == pool and r.registered >= t0]
            if regs:
                out.append(min(regs) - t0)
    return out


# -- one world, one mode --------------------------------------------------------------------------------
def manifest(poll: str) -> str:
    files = {f".github/workflows/{p}.yml": {"source": f"workflows/{p}.yml"} for p in POOLS}
    doc: dict[str, Any] = {
        "version": 1,
        "accounts": {"ops": {"org": ORG, "token": {"env": "GRID_TOKEN_OPS"}}},
        "repos": {f"{ORG}/{r}": {"visibility": "private", "auto_init": True, "files": files} for r in REPOS},
        "dispatch": {f"nightly-{r}": {"repo": f"{ORG}/{r}", "workflow": "cpu.yml", "inputs": {"seconds": "1"}} for r in REPOS},
        "pools": {
            name: {"scope": "org:ops", "labels": labels, "min": lo, "max": hi, "idle_timeout": f"{idle}s",
                   "online_timeout": "60s", "offline_timeout": "20s", "launcher": {"command": "gridctl sandbox runner"}}
            for name, (labels, lo, hi, idle, _) in POOLS.items()
        },
        "groups": {GROUP: {"labels": ["cpu"], "templates": [f"nightly-{r}" for r in REPOS], "max_concurrent": 2, "pool": "cpu"}},
        "serve": {
            "poll_interval": poll,
            "webhook_secret": {"env": "GRID_WEBHOOK_SECRET"},
            "api": {"users": {"admin": {"role": "admin", "token": {"env": "GRID_API_ADMIN"}}}},
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_", "GITHUB_", "GRID_", "GH_"))}
    env.update({"NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    return env


@dataclass
class Plan:
    """The day's bursts: per burst, (pool, repo, seconds) per job and the entries' (seconds, priority)."""

    bursts: list[tuple[list[tuple[str, str, float]], list[tuple[float, int]]]]

    @classmethod
    def make(cls, args: argparse.Namespace) -> Plan:
        rng = random.Random(args.seed)
        pools = list(POOLS)
        weights = [POOLS[p][4] for p in pools]
        bursts = []
        for _ in range(args.bursts):
            n = rng.randint(args.burst_lo, args.burst_hi)
            jobs = [(rng.choices(pools, weights)[0], rng.choice(REPOS), round(rng.uniform(0.5, 3.0), 2)) for _ in range(n)]
            entries = [(round(rng.uniform(0.5, 3.0), 2), rng.randint(0, 5)) for _ in range(args.entries)]
            bursts.append((jobs, entries))
        return cls(bursts)

    @property
    def jobs(self) -> int:
        return sum(len(j) + len(e) for j, e in self.bursts)

    @property
    def entries_total(self) -> int:
        return sum(len(e) for _, e in self.bursts)


class Day:
    def __init__(self, args: argparse.Namespace, mode: str, root: Path, plan: Plan):
        self.args, self.mode, self.root, self.plan = args, mode, root, plan
        self.ws = root / "ws"
        self.secret = "whsec-" + secrets.token_hex(16)
        self.measure_secret = secrets.token_hex(16)
        self.admin = "adm-" + secrets.token_hex(16)
        self.sbx: Sandbox | None = None
        self.ctl: Controller | None = None
        self.receiver: Receiver | None = None
        self.sampler: Sampler | None = None
        self.tokens: dict[str, str] = {}
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.out: dict[str, Any] = {"mode": mode}

    # -- the world ------------------------------------------------------------------------------------
    def setup(self) -> None:
        a = self.args
        self.ws.mkdir(parents=True)
        (self.ws / "workflows").mkdir()
        for pool, (labels, *_rest) in POOLS.items():
            (self.ws / "workflows" / f"{pool}.yml").write_text(WORKFLOW.format(pool=pool, label=labels[0]))
        (self.ws / "grid.yaml").write_text(manifest(a.poll_interval))
        self.sbx = sbx = Sandbox(self.root, a.latency, a.seed)
        sbx.ready()
        for login in (OPS, BENCH):
            self.tokens[login] = sbx.ctl("POST", "/users", {"login": login})["token"]
        sbx.ctl("POST", "/users", {"login": ORG, "org": True, "admins": [OPS, BENCH]})
        # the setup apply, as this script's identity (the controller's window starts clean); not
        # paced: it is the setup, not what is measured
        env = {**base_env(), "GRIDCTL_API_URL": sbx.url, "GRID_TOKEN_OPS": self.tokens[BENCH], "GRIDCTL_WRITE_INTERVAL": "0"}
        proc = subprocess.run([*GRIDCTL, "apply", "--auto-approve", "-f", "grid.yaml"], cwd=self.ws, env=env,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise Problem(f"gridctl apply failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        label_pool = {labels[0]: pool for pool, (labels, *_r) in POOLS.items()}
        self.receiver = Receiver(self.measure_secret, label_pool)
        for repo in REPOS:
            sbx.api(self.tokens[BENCH], "POST", f"/repos/{ORG}/{repo}/hooks", {
                "name": "web", "active": True, "events": ["workflow_job"],
                "config": {"url": self.receiver.url, "content_type": "json", "secret": self.measure_secret}})
        self.sampler = Sampler(sbx, list(POOLS), limit=a.timeout + a.idle_minutes * 60 + 600)
        self.sampler.start()
        cenv = {**base_env(), "GRIDCTL_API_URL": sbx.url, "GRID_TOKEN_OPS": self.tokens[OPS],
                "GRID_WEBHOOK_SECRET": self.secret, "GRID_API_ADMIN": self.admin}
        if a.write_interval is not None:
            cenv["GRIDCTL_WRITE_INTERVAL"] = str(a.write_interval)
        self.ctl = Controller(self.ws, cenv)
        self.sampler.controller = self.ctl
        self.ctl.ready()
        if self.mode == "webhook":
            for repo in REPOS:
                sbx.api(self.tokens[BENCH], "POST", f"/repos/{ORG}/{repo}/hooks", {
                    "name": "web", "active": True, "events": ["workflow_job", "workflow_run"],
                    "config": {"url": f"{self.ctl.base}/webhooks", "content_type": "json", "secret": self.secret}})
        # warm: every pool holds its min idle before the day starts
        want = {p: spec[1] for p, spec in POOLS.items()}
        if not wait_for(lambda: all(self._idle_now().get(p, 0) >= n for p, n in want.items()), 90, 0.5, self.ctl.proc):
            self.warnings.append(f"the pools did not reach min before the day: {self._idle_now()} (want {want})")

    def _idle_now(self) -> dict[str, int]:
        assert self.sampler is not None
        snap = self.sampler.snapshot()
        return snap.idle[-1][1] if snap.idle else {}

    def _stats(self) -> dict[str, Any]:
        """The controller identity's counters, and every endpoint's (``_endpoints``)."""
        assert self.sbx is not None
        got = self.sbx.ctl("GET", "/stats")
        return {**got["by_identity"].get(OPS, {}), "_endpoints": got["by_endpoint"]}

    # -- the day ---------------------------------------------------------------------------------------
    def drive(self) -> None:
        a, sbx, ctl, rec = self.args, self.sbx, self.ctl, self.receiver
        assert sbx is not None and ctl is not None and rec is not None
        local = threading.local()

        def session() -> requests.Session:
            if not hasattr(local, "s"):
                local.s = quiet_session()
            return local.s

        sent: deque[float] = deque()
        errors: list[str] = []

        def fire(job: tuple[str, str, float]) -> None:
            pool, repo, seconds = job
            try:
                sbx.api(self.tokens[BENCH], "POST", f"/repos/{ORG}/{repo}/actions/workflows/{pool}.yml/dispatches",
                        {"ref": "main", "inputs": {"seconds": str(seconds)}, "return_run_details": True}, want=(200, 204), http=session())
            except (Problem, requests.RequestException) as exc:
                errors.append(str(exc)[:200])

        self.c0 = controller_counters(ctl)
        self.s0 = self._stats()
        self.t_day = time.time()
        bursts: list[tuple[float, float]] = []
        dispatched = 0
        entries = 0
        with ThreadPoolExecutor(max_workers=6, thread_name_prefix="bench-dispatch") as pool:
            for i, (jobs, queue_entries) in enumerate(self.plan.bursts):
                if i:
                    time.sleep(a.gap)
                # GitHub's per-endpoint limit: at most DISPATCH_PER_MINUTE dispatches a minute
                for _ in range(600):
                    while sent and sent[0] < time.monotonic() - 60:
                        sent.popleft()
                    if len(sent) + len(jobs) <= DISPATCH_PER_MINUTE:
                        break
                    time.sleep(0.1)
                start = time.time()
                list(pool.map(fire, jobs))
                sent.extend([time.monotonic()] * len(jobs))
                dispatched += len(jobs)
                for seconds, priority in queue_entries:
                    template = f"nightly-{random.Random(entries).choice(REPOS)}"
                    ctl.call("POST", f"/api/v1/groups/{GROUP}/queue", self.admin,
                             {"template": template, "inputs": {"seconds": str(seconds)}, "priority": priority})
                    entries += 1
                bursts.append((start, time.time()))
                print(f"    burst {i + 1}/{len(self.plan.bursts)}: {len(jobs)} jobs dispatched in {time.time() - start:.1f} s"
                      f" + {len(queue_entries)} queue entries; {rec.completed()} jobs completed so far", flush=True)
        self.bursts = bursts
        if errors:
            self.problems.append(f"{len(errors)} dispatches refused: {errors[0]}")
        total = dispatched - len(errors) + entries
        done = wait_for(lambda: rec.completed() >= total, a.timeout, 0.5, ctl.proc)
        self.t_done = time.time()
        if not done:
            self.problems.append(f"only {rec.completed()}/{total} jobs completed within --timeout {a.timeout:g} s"
                                 + (" (the controller exited)" if ctl.proc.poll() is not None else ""))
        self.c1 = controller_counters(ctl)
        self.s1 = self._stats()
        self.expected = total

    def settle(self) -> None:
        """Until every pool is back to min (idle runners only), bounded by the longest idle timeout."""
        assert self.ctl is not None
        want = {p: spec[1] for p, spec in POOLS.items()}
        limit = max(spec[3] for spec in POOLS.values()) + 2 * float(self.args.poll_interval.rstrip("s")) + 30

        def back() -> bool:
            assert self.sampler is not None
            counts = self.sampler.counts()
            return counts == want and self._idle_now() == want

        def entries_done() -> bool:
            assert self.ctl is not None
            return len(self.ctl.call("GET", f"/api/v1/groups/{GROUP}/queue", self.admin)) == 0

        if not wait_for(entries_done, limit, 0.5, self.ctl.proc):
            self.warnings.append(f"queue entries still in the queue or in flight {limit:.0f} s after the last job completed")
        if not wait_for(back, limit, 0.5, self.ctl.proc):
            self.warnings.append(f"the pools were not back to min {want} within {limit:.0f} s: {self.sampler.counts() if self.sampler else {}}")
        self.t_settled = time.time()
        # and a step of the controller has seen it so, with nothing left to do: the idle phase
        # starts with no change on its way

        def quiet() -> bool:
            assert self.ctl is not None
            last = self.ctl.call("GET", "/api/v1/status", self.admin).get("last_step") or {}
            return float(last.get("at") or 0) > self.t_settled and not last.get("actions") and not last.get("pending")

        if not wait_for(quiet, limit, 0.5, self.ctl.proc):
            self.warnings.append(f"no quiet step of the controller (no action, nothing pending) within {limit:.0f} s of the pools being back to min")

    def idle(self) -> None:
        assert self.ctl is not None
        minutes = self.args.idle_minutes
        self.c2 = controller_counters(self.ctl)
        self.s2 = self._stats()
        self.t_idle = time.time()
        deadline = time.monotonic() + minutes * 60
        for _ in range(int(minutes * 60) + 5):
            if time.monotonic() >= deadline or self.ctl.proc.poll() is not None:
                break
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        self.t_idle_end = time.time()
        self.c3 = controller_counters(self.ctl)
        self.s3 = self._stats()
        self.history = self.ctl.call("GET", "/api/v1/history?limit=1000", self.admin)
        self.records = self.ctl.call("GET", "/api/v1/runners?all=true", self.admin)

    def shutdown(self) -> None:
        """Stop the controller (SIGTERM) and check what it leaves: runners, launchers."""
        assert self.ctl is not None and self.sbx is not None
        if self.sampler is not None:
            self.sampler.controller = None  # its /metrics goes away now
        code = self.ctl.stop()
        self.out["exit_code"] = code
        if code != 0:
            self.problems.append(f"the controller exited with {code} on SIGTERM" if code is not None else "the controller did not stop within 60 s of SIGTERM")
        runners_root = self.ws / ".gridctl" / "runners"
        # a busy runner finishes its job and goes; none should be busy now
        left = wait_for(lambda: not stray_pids(runners_root), 20, 0.2)
        if not left:
            self.problems.append(f"{len(stray_pids(runners_root))} launcher process(es) still running 20 s after the controller stopped")
        ours = [r for r in self.sbx.ctl("GET", "/runners")["runners"] if str(r["name"]).rsplit("-", 1)[0] in POOLS]
        if ours:
            self.problems.append(f"{len(ours)} runner(s) still registered after the controller stopped: "
                                 + ", ".join(f"{r['name']} ({r['status']}{', busy' if r['busy'] else ''})" for r in ours[:5]))

    # -- the figures ------------------------------------------------------------------------------------
    def report(self) -> None:  # noqa: C901 - one printed section after another
        assert self.receiver is not None and self.sampler is not None and self.ctl is not None and self.sbx is not None
        out = self.out
        jobs = self.receiver.snapshot()
        snap = self.sampler.snapshot()
        day_jobs = {k: j for k, j in jobs.items() if j.queued is not None and j.queued >= self.t_day - 1}
        n = len(day_jobs)
        entry_runs = {e["run_id"]: e for e in self.history if e.get("run_id")}
        print(f"  {n} jobs queued ({self.expected} expected: {self.expected - self.plan.entries_total} dispatched by the bench, "
              f"{self.plan.entries_total} through the controller's queue); day {self.t_done - self.t_day:.0f} s, "
              f"back to min after {self.t_settled - self.t_done:.0f} s more")
        waits = [j.started - j.queued for j in day_jobs.values() if j.started is not None and j.queued is not None]
        line("job queue-wait (queued -> started)", waits)
        for pool in POOLS:
            line(f"  pool {pool}", [j.started - j.queued for j in day_jobs.values() if j.pool == pool and j.started and j.queued])
        entry_waits = []
        for j in day_jobs.values():
            e = entry_runs.get(j.run_id)
            if e and j.started and e.get("created_at"):
                entry_waits.append(j.started - iso_ts(e["created_at"]))
        line("queue entries (added to the queue -> started)", entry_waits)
        lat = Latencies()
        for pool, (_, _, hi, _, _) in POOLS.items():
            launch_latencies(day_jobs, snap.runners, pool, hi, lat)
        reg, onl = lat.room_registered, lat.room_online
        line("webhook-to-launch (queued -> registered)", reg, "  [jobs that found a free slot of their pool]")
        line("webhook-to-online (queued -> runner online)", onl, "  [same jobs]")
        line("  any job needing a new runner -> registered", lat.registered, "  [waits behind earlier launches]")
        line("  any job needing a new runner -> online", lat.online)
        firsts = first_launches(day_jobs, snap.runners, self.bursts)
        line("burst's first job -> its pool's first launch", firsts)
        idle_day = integrate(snap.idle, self.t_day, self.t_settled) / 60
        floor = sum(spec[1] for spec in POOLS.values()) * (self.t_settled - self.t_day) / 60
        gauge_day = integrate(snap.gauge, self.t_day, self.t_settled) / 60
        print(f"  idle runner-minutes, day until back to min   {idle_day:7.2f}  (sandbox, 4/s; the pools' min alone: {floor:.2f}; "
              f"gridctl_runners gauge, 1/s: {gauge_day:.2f})")
        calls = self.s1.get("requests", 0) - self.s0.get("requests", 0)
        points = self.s1.get("points", 0) - self.s0.get("points", 0)
        n304 = self.s1.get("not_modified", 0) - self.s0.get("not_modified", 0)
        creq = sum(self.c1["requests"].values()) - sum(self.c0["requests"].values())
        crate = sum(self.c0["remaining"].values()) - sum(self.c1["remaining"].values())
        per = max(1, n)
        print(f"  REST calls, day (queued jobs -> all completed)  {calls} ({calls / per:.2f}/job; {n304} answered 304), "
              f"rate points {points} ({points / per:.2f}/job)  [sandbox stats, {OPS}]")
        print(f"    controller's own view: gridctl_github_requests +{creq:.0f}, gridctl_github_rate_remaining -{crate:.0f}")
        steps = self.c1["steps"].get("count", 0) - self.c0["steps"].get("count", 0)
        step_s = self.c1["steps"].get("sum", 0) - self.c0["steps"].get("sum", 0)
        scale = {k: v - self.c0["scale"].get(k, 0) for k, v in self.c1["scale"].items() if v - self.c0["scale"].get(k, 0)}
        print(f"    controller steps, day: {steps:.0f}, {step_s / max(1, steps):.2f} s each on average, "
              f"{step_s / max(1e-9, self.t_done - self.t_day):.0%} of the day in steps; scale events "
              + (", ".join(f"{k} {v:.0f}" for k, v in sorted(scale.items())) or "none"))
        minutes = max(1e-9, (self.t_idle_end - self.t_idle) / 60)
        ireq = self.s3.get("requests", 0) - self.s2.get("requests", 0)
        ipts = self.s3.get("points", 0) - self.s2.get("points", 0)
        ireq_c = sum(self.c3["requests"].values()) - sum(self.c2["requests"].values())
        irate_c = sum(self.c2["remaining"].values()) - sum(self.c3["remaining"].values())
        idle_idle = integrate(snap.idle, self.t_idle, self.t_idle_end) / 60
        print(f"  idle fleet, {minutes:.1f} min measured, account ops: {ireq} requests ({ireq / minutes * 60:.0f}/hour), "
              f"{ipts} rate points ({ipts / minutes * 60:.0f}/hour)  [sandbox stats]; {idle_idle:.2f} idle runner-minutes")
        print(f"    controller's own view: requests +{ireq_c:.0f} ({ireq_c / minutes * 60:.0f}/hour), "
              f"rate_remaining -{irate_c:.0f} ({irate_c / minutes * 60:.0f}/hour)")
        print("  requests by endpoint, day (create-workflow-dispatch: the bench's and the controller's): " + endpoint_delta(self.s0, self.s1))
        print("  requests by endpoint, idle (the controller's alone): " + endpoint_delta(self.s2, self.s3))
        why: dict[str, int] = {}
        for r in self.records:
            key = str(r.get("removed_why") or r.get("status"))
            why[key] = why.get(key, 0) + 1
        print(f"  the controller's {len(self.records)} runner records, by why they went (or their state): "
              + "; ".join(f"{k}: {v}" for k, v in sorted(why.items(), key=lambda kv: -kv[1])))
        print("  peak runners per pool: " + ", ".join(f"{p} {snap.peak.get(p, 0)}/{spec[2]}" for p, spec in POOLS.items()))
        for p, spec in POOLS.items():
            if snap.peak.get(p, 0) > spec[2]:
                self.problems.append(f"pool {p} had {snap.peak[p]} runners at once (max {spec[2]})")
        not_served = [j for j in day_jobs.values() if j.started is None]
        failed = [j for j in day_jobs.values() if j.conclusion not in (None, "success")]
        if not_served:
            self.problems.append(f"{len(not_served)} job(s) never started (e.g. pool {not_served[0].pool}, run {not_served[0].run_id})")
        if failed:
            self.problems.append(f"{len(failed)} job(s) did not succeed: {sorted({str(j.conclusion) for j in failed})}")
        if self.receiver.bad_signatures:
            self.problems.append(f"{self.receiver.bad_signatures} deliveries to the measuring hook had a bad signature")
        warnings = [ln for ln in self.ctl.output().splitlines() if "warning" in ln.lower() or "traceback" in ln.lower()]
        if warnings:
            print(f"  controller warnings: {len(warnings)}, e.g. {warnings[0][:200]!r}")
        if snap.errors:
            print(f"  sampler: {snap.errors} failed samples (the last: {snap.last_error})")
        out.update({
            "jobs": n, "queue_wait_p50": pct(waits, 0.5) if waits else None, "queue_wait_p95": pct(waits, 0.95) if waits else None,
            "launch_p50": pct(reg, 0.5) if reg else None, "launch_p95": pct(reg, 0.95) if reg else None,
            "online_p50": pct(onl, 0.5) if onl else None, "online_p95": pct(onl, 0.95) if onl else None,
            "launch_all_p50": pct(lat.registered, 0.5) if lat.registered else None,
            "launch_all_p95": pct(lat.registered, 0.95) if lat.registered else None,
            "first_launch_p95": pct(firsts, 0.95) if firsts else None,
            "idle_runner_minutes": round(idle_day, 2), "idle_gauge_minutes": round(gauge_day, 2),
            "calls_per_job": round(calls / per, 2), "points_per_job": round(points / per, 2),
            "idle_points_per_hour": round(ipts / minutes * 60, 1), "idle_requests_per_hour": round(ireq / minutes * 60, 1),
            "warnings": len(warnings),
        })

    def close(self) -> None:
        """Stop everything this world started, whatever state it is in."""
        if self.ctl is not None and self.ctl.proc.poll() is None:
            self.ctl.stop(timeout=30)
        if self.sampler is not None:
            self.sampler.close()
        kill_strays(self.ws / ".gridctl" / "runners")
        if self.receiver is not None:
            self.receiver.close()
        if self.sbx is not None:
            self.sbx.stop()


def endpoint_delta(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Requests (points, 304s) per endpoint between two stats readings, busiest first (every
    identity: while measuring, this script only dispatches workflows)."""
    rows = []
    for op, c in after["_endpoints"].items():
        b = before["_endpoints"].get(op, {})
        n = c.get("requests", 0) - b.get("requests", 0)
        if n:
            rows.append((n, op, c.get("points", 0) - b.get("points", 0), c.get("not_modified", 0) - b.get("not_modified", 0)))
    rows.sort(reverse=True)
    return "; ".join(f"{op} {n} ({pts} pts, {nm} 304)" for n, op, pts, nm in rows[:8]) or "none"


def iso_ts(text: str) -> float:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def run_mode(args: argparse.Namespace, mode: str, root: Path, plan: Plan) -> tuple[dict[str, Any], list[str]]:
    day = Day(args, mode, root, plan)
    print(f"\n== {mode}: {'a hook per repository to the controller' if mode == 'webhook' else 'no webhook, polling only'}; "
          f"poll_interval {args.poll_interval}", flush=True)
    took: list[str] = []
    try:
        for name, step in (("setup", day.setup), ("day", day.drive), ("back to min", day.settle), ("idle", day.idle),
                           ("stop", day.shutdown)):
            t0 = time.monotonic()
            step()
            took.append(f"{name} {time.monotonic() - t0:.0f} s")
        day.report()
        print("  wall time: " + ", ".join(took))
    finally:
        day.close()
    for w in day.warnings:
        print(f"  WARNING: {w}")
    for p in day.problems:
        print(f"  PROBLEM: {p}")
    return day.out, day.problems


def table(results: list[dict[str, Any]]) -> None:
    def f(v: Any, digits: int = 2) -> str:
        return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    rows = [
        ("jobs", "jobs", 0), ("queue-wait p50 (s)", "queue_wait_p50", 2), ("queue-wait p95 (s)", "queue_wait_p95", 2),
        ("webhook-to-launch p50 (s) [a]", "launch_p50", 2), ("webhook-to-launch p95 (s) [a]", "launch_p95", 2),
        ("webhook-to-online p50 (s) [a]", "online_p50", 2), ("webhook-to-online p95 (s) [a]", "online_p95", 2),
        ("any job -> launch p50 (s)", "launch_all_p50", 2), ("any job -> launch p95 (s)", "launch_all_p95", 2),
        ("burst -> first launch p95 (s)", "first_launch_p95", 2),
        ("idle runner-minutes (day)", "idle_runner_minutes", 2), ("REST calls per job", "calls_per_job", 2),
        ("rate points per job", "points_per_job", 2), ("idle: points/hour/account", "idle_points_per_hour", 1),
        ("idle: requests/hour/account", "idle_requests_per_hour", 1),
    ]
    print("\n" + f"{'':<32}" + "".join(f"{r['mode']:>12}" for r in results))
    for label, key, digits in rows:
        print(f"{label:<32}" + "".join(f"{f(r.get(key), digits):>12}" for r in results))
    print("[a] jobs that found a free slot of their pool when queued (the controller's reaction); "
          "'any job': every job that needed a new runner, waits behind earlier launches included")
    for r in results:
        launch, idle = r.get("launch_p95"), r.get("idle_points_per_hour")
        verdict = [
            f"webhook-to-launch p95 {f(launch)} s {'<=' if launch is not None and launch <= 2 else '>'} 2 s",
            f"idle {f(idle, 1)} points/hour/account {'<=' if idle is not None and idle <= 60 else '>'} 60",
        ]
        print(f"targets ({r['mode']}): " + "; ".join(verdict))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the default: 3 bursts of 10-16 jobs, gaps of 10 s, 1 queue entry a burst, idle 1 min")
    size.add_argument("--full", action="store_true", help="6 bursts of 30-80 jobs, gaps of 20 s, idle 2 min")
    p.add_argument("--bursts", type=int, help="bursts in the day")
    p.add_argument("--burst-jobs", help="jobs per burst, LO-HI (drawn per burst)")
    p.add_argument("--gap", type=float, help="seconds of quiet between bursts")
    p.add_argument("--entries", type=int, help="queue entries added through the controller's API per burst (quick 1, full 3)")
    p.add_argument("--idle-minutes", type=float, help="minutes the idle fleet is measured after the day (quick 1, full 2)")
    p.add_argument("--modes", default="webhook,polling", help="webhook, polling or both (default webhook,polling)")
    p.add_argument("--poll-interval", default="10s", help="serve.poll_interval of the manifest (default 10s)")
    p.add_argument("--latency", default="lognormal:median=60ms,sigma=0.5", help="the sandbox's added latency")
    p.add_argument("--write-interval", type=float, help="the controller's pause between writes (default: its own, 1 s as against GitHub)")
    p.add_argument("--timeout", type=float, help="most seconds for the day's jobs to complete, per mode (default: 120 + 2.5 per job, at least 600)")
    p.add_argument("--seed", type=int, default=7, help="seed of the day's plan and of the sandbox (default 7)")
    args = p.parse_args()
    quick = not args.full
    args.bursts = args.bursts if args.bursts is not None else (3 if quick else 6)
    args.gap = args.gap if args.gap is not None else (10.0 if quick else 20.0)
    args.entries = args.entries if args.entries is not None else (1 if quick else 3)
    args.idle_minutes = args.idle_minutes if args.idle_minutes is not None else (1.0 if quick else 2.0)
    spec = args.burst_jobs or ("10-16" if quick else "30-80")
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", spec)
    if not m:
        p.error("--burst-jobs: N or LO-HI")
    args.burst_lo, args.burst_hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if not (1 <= args.bursts <= 100 and 1 <= args.burst_lo <= args.burst_hi <= DISPATCH_PER_MINUTE and 0 <= args.entries <= 100):
        p.error(f"--bursts 1..100, --burst-jobs within 1..{DISPATCH_PER_MINUTE}, --entries 0..100")
    if args.timeout is None:
        expected = args.bursts * (args.burst_lo + args.burst_hi + 2 * args.entries) / 2
        args.timeout = max(600.0, 120 + 2.5 * expected)
    if not (0 <= args.gap <= 3600 and 0 < args.idle_minutes <= 120 and 10 <= args.timeout <= 86400):
        p.error("--gap 0..3600, --idle-minutes 0..120 (not 0), --timeout 10..86400")
    if not re.fullmatch(r"\d+s", args.poll_interval):
        p.error("--poll-interval: whole seconds, like 10s")
    args.mode_list = [x.strip() for x in args.modes.split(",") if x.strip()]
    if not args.mode_list or set(args.mode_list) - {"webhook", "polling"}:
        p.error("--modes: webhook, polling or webhook,polling")
    if args.write_interval is not None and not 0 <= args.write_interval <= 10:
        p.error("--write-interval 0..10")
    return args


def main() -> int:
    args = parse_args()
    stop_on_sigterm()
    plan = Plan.make(args)
    root = Path(tempfile.mkdtemp(prefix="gridctl-bench-serve-"))
    print(f"gridctl serve benchmark: a day of {len(plan.bursts)} bursts ({', '.join(str(len(j)) for j, _ in plan.bursts)} jobs) "
          f"+ {args.entries} queue entries per burst = {plan.jobs} jobs over pools "
          + ", ".join(f"{p} (min {s[1]}, max {s[2]}, idle_timeout {s[3]}s)" for p, s in POOLS.items())
          + f"; gaps {args.gap:g} s; jobs 0.5-3 s; sandbox latency {args.latency}, GitHub's rate limits; "
          f"controller write interval {'1 s (its default)' if args.write_interval is None else f'{args.write_interval:g} s'}; "
          f"{os.cpu_count()} CPUs", flush=True)
    results: list[dict[str, Any]] = []
    problems: list[str] = []
    keep = False
    try:
        for mode in args.mode_list:
            out, found = run_mode(args, mode, root / mode, plan)
            results.append(out)
            problems += [f"{mode}: {p}" for p in found]
        table(results)
        print("RESULT " + json.dumps(results))
    except (KeyboardInterrupt, Stop):
        print("interrupted: every process this benchmark started was stopped", file=sys.stderr)
        return 130
    except Problem as exc:
        print(f"error: {exc}", file=sys.stderr)
        keep = True
        return 1
    finally:
        left = kill_strays(root)
        if left:
            print(f"stopped {left} stray process(es) under {root}", file=sys.stderr)
        if problems or keep:
            print(f"logs kept in {root} (sandbox.log, ws/serve.log, ws/.gridctl/runners/*/launcher.log)", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
