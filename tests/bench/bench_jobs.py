"""Benchmark: workflow jobs end to end — dispatch, scheduler, stand-in runners, webhooks.

    python tests/bench/bench_jobs.py [--runs 50] [--jobs 2] [--labels cpu,gpu] [--runners 2]
                                     [--job-seconds 0.2] [--burst] [--poll-seconds S] [--tick-seconds S]
    nox -s bench -- jobs

Starts the real ``gridctl sandbox serve`` as its own process, registers a repository whose
workflow has ``--jobs`` independent jobs (job i runs on ``[self-hosted, LABEL]``, the labels of
``--labels`` in turn), a repository hook with a secret pointing at a local HTTP receiver
(``http.server`` in a thread of this process) for ``workflow_job`` and ``workflow_run``, and
keeps ``--runners`` real ``gridctl sandbox runner`` processes per label listening, as an
autoscaler would: every runner is a JIT runner made through the REST API
(``generate-jitconfig``), started with ``--jit-file``; being ephemeral it exits after its one
job and a new one takes its place until every job has had its runner. Then ``--runs``
workflow runs are dispatched, each once an idle runner listens for each of its jobs, at a
random moment of the runners' poll interval (so queued -> in_progress is the scheduler's
latency, not a wait for a free runner), or all at once with ``--burst`` (a queue that the
runners drain).

Timings come from this process's clock: the dispatch request (the sandbox queues the jobs
inside it), the lines each runner prints when its job started and completed (read as they
come), and the receipt of each webhook delivery. Printed: dispatch -> queued,
queued -> in_progress and job total (p50/p95/max); webhook latency, both from the payload's
own timestamps (whole seconds, so up to 1 s too high) and from the moment this process saw the
event; deliveries received vs expected, every signature checked (HMAC-SHA256 of the body with
the hook secret) and the order queued -> in_progress -> completed per job; REST requests per
job (``/_sandbox/stats``); CPU seconds of the sandbox and of the runners; peak RSS of the
sandbox. It never fails on timing; it exits 1 when something is wrong (a bad signature, a job
that did not succeed, a runner that did not exit 0).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import queue
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from calendar import timegm
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import procs
from procs import GRIDCTL, Stop, pct, stop_on_sigterm, stop_process

try:
    import resource
except ImportError:  # not on Windows: the runners' CPU is then not reported
    resource = None  # type: ignore[assignment]

try:
    import psutil  # optional: CPU and memory of the sandbox without /proc
except ImportError:
    psutil = None

OWNER, REPO, WORKFLOW = "bench", "jobs", "bench.yml"
#: what `gridctl sandbox runner` prints (gridctl/sandbox/standin.py)
ONLINE = re.compile(r"^runner (\S+) \(id (\d+)\) is online")
RUNNING = re.compile(r"^running job (\d+) ")
COMPLETED = re.compile(r"^job (\d+) completed: (\w+)")
MAX_RUNNER_LINES = 200


def line(name: str, values: list[float], unit: str = "ms", note: str = "") -> None:
    if not values:
        print(f"  {name:<40} (no samples){note}")
        return
    k = 1000.0 if unit == "ms" else 1.0
    print(f"  {name:<40} p50 {pct(values, 0.5) * k:8.1f}  p95 {pct(values, 0.95) * k:8.1f}  "
          f"max {max(values) * k:8.1f} {unit}  (n={len(values)}){note}")


def iso_epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


# -- the sandbox process -------------------------------------------------------------------------------
class Sandbox(procs.Sandbox):
    """The sandbox (tests/bench/procs.py), its REST API called with the owner's token, and its own CPU and memory."""

    def __init__(self, workdir: Path, strict: bool):
        super().__init__(workdir / "sandbox.log", "--rate-limit", "100000000", *(["--strict"] if strict else []))
        self.token = ""
        self.rss_max = 0
        self._sampling = threading.Event()

    def owner_api(self, method: str, path: str, body: Any = None, want: tuple[int, ...] = (200, 201, 204)) -> Any:
        return self.api(self.token, method, path, body, want)

    # -- resources of the process -------------------------------------------------------------------
    def cpu_seconds(self) -> float | None:
        if psutil is not None:
            try:
                t = psutil.Process(self.proc.pid).cpu_times()
                return float(t.user + t.system)
            except psutil.Error:
                return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def rss(self) -> int | None:
        if psutil is not None:
            try:
                return int(psutil.Process(self.proc.pid).memory_info().rss)
            except psutil.Error:
                return None
        try:
            return int(Path(f"/proc/{self.proc.pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            return None

    def peak_rss(self) -> tuple[int | None, str]:
        """The kernel's high-water mark when /proc has it, else the highest sample."""
        try:
            for text in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if text.startswith("VmHWM:"):
                    return int(text.split()[1]) * 1024, "VmHWM"
        except (OSError, ValueError):
            pass
        return (self.rss_max or None), "highest sample"

    def sample(self, every: float = 0.25, limit: float = 3600.0) -> None:
        def loop() -> None:
            for _ in range(int(limit / every)):
                value = self.rss()
                if value:
                    self.rss_max = max(self.rss_max, value)
                if self._sampling.wait(every):
                    return

        threading.Thread(target=loop, name="bench-rss", daemon=True).start()

    def stop(self) -> None:
        self._sampling.set()
        super().stop()


# -- the webhook receiver -----------------------------------------------------------------------------
class Receiver:
    """Records (receipt time, headers, body, signature ok) of every POST."""

    def __init__(self, secret: str):
        self.got: list[tuple[float, dict[str, str], bytes, bool]] = []
        self.lock = threading.Lock()
        key = secret.encode()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.time()
                headers = {k.lower(): v for k, v in self.headers.items()}
                expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(headers.get("x-hub-signature-256", ""), expected)
                with outer.lock:
                    outer.got.append((now, headers, body, ok))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, name="bench-receiver", daemon=True)
        self.thread.start()

    def count(self) -> int:
        with self.lock:
            return len(self.got)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


# -- the runners ----------------------------------------------------------------------------------------
class Runner:
    """One `gridctl sandbox runner` process and what it printed (with this process's clock)."""

    def __init__(self, sbx: Sandbox, workdir: Path, label: str, serial: int, env: dict[str, str],
                 events: queue.Queue, started: list[Runner]):
        self.label = label
        self.name = f"{label}-{serial}"
        config = sbx.owner_api("POST", f"/repos/{OWNER}/{REPO}/actions/runners/generate-jitconfig",
                               {"name": self.name, "runner_group_id": 1, "labels": [label]}, want=(201,))
        jit = workdir / f"{self.name}.jit"
        jit.write_text(config["encoded_jit_config"])
        jit.chmod(0o600)
        self.spawned = time.time()
        self.exited: float | None = None
        self.code: int | None = None
        self.proc = subprocess.Popen([*GRIDCTL, "sandbox", "runner", "--jit-file", str(jit)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        started.append(self)  # at once: an interrupt from here on still stops it
        self.reader = threading.Thread(target=self._read, args=(events,), name=f"bench-{self.name}", daemon=True)
        self.reader.start()

    def _read(self, events: queue.Queue) -> None:
        assert self.proc.stdout is not None
        for _ in range(MAX_RUNNER_LINES):
            text = self.proc.stdout.readline()
            if not text:
                return
            events.put((time.time(), self, text.rstrip("\n")))

    def stop(self) -> None:
        stop_process(self.proc, 10.0, group=True)  # on SIGTERM it closes its session and exits 0
        if self.reader.is_alive():
            self.reader.join(5)


class Fleet:
    """Keeps up to ``per_label`` runners per label alive until every job has had its runner."""

    def __init__(self, sbx: Sandbox, workdir: Path, labels: list[str], per_label: int, budget: dict[str, int],
                 job_seconds: float):
        self.sbx, self.workdir, self.labels, self.per_label = sbx, workdir, labels, per_label
        self.budget = dict(budget)  # runners still to start, per label (one per job)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GRIDCTL_SANDBOX_", "ACTIONS_RUNNER_"))}
        self.env.update({"PYTHONUNBUFFERED": "1", "GRIDCTL_SANDBOX_JOB_SECONDS": str(job_seconds)})
        self.events: queue.Queue = queue.Queue()
        self.live: list[Runner] = []
        self.all: list[Runner] = []
        self.serial = 0
        self.idle = dict.fromkeys(labels, 0)  # online, no job started yet
        self.started = dict.fromkeys(labels, 0)  # jobs started, per label
        self.job_start: dict[int, float] = {}
        self.job_done: dict[int, float] = {}
        self.job_runner: dict[int, str] = {}
        self.conclusions: dict[int, str] = {}
        self.online_after: list[float] = []  # spawn -> online

    def top_up(self) -> None:
        for r in list(self.live):
            if r.proc.poll() is not None:
                r.exited, r.code = time.time(), r.proc.returncode
                self.live.remove(r)
        for label in self.labels:
            alive = sum(1 for r in self.live if r.label == label)
            for _ in range(min(self.per_label - alive, self.budget[label])):
                self.serial += 1
                runner = Runner(self.sbx, self.workdir, label, self.serial, self.env, self.events, self.all)
                self.live.append(runner)
                self.budget[label] -= 1

    def drain(self, limit: int = 10_000) -> None:
        for _ in range(limit):
            try:
                when, runner, text = self.events.get_nowait()
            except queue.Empty:
                return
            if ONLINE.match(text):
                self.idle[runner.label] += 1
                self.online_after.append(when - runner.spawned)
            elif m := RUNNING.match(text):
                jid = int(m.group(1))
                self.idle[runner.label] -= 1
                self.started[runner.label] += 1
                self.job_start[jid], self.job_runner[jid] = when, runner.name
            elif m := COMPLETED.match(text):
                jid = int(m.group(1))
                self.job_done[jid], self.conclusions[jid] = when, m.group(2)

    def stop(self) -> None:
        for r in self.all:
            r.stop()
            if r.code is None:
                r.exited, r.code = time.time(), r.proc.returncode
        self.live = []


# -- the benchmark ------------------------------------------------------------------------------------------
def workflow(jobs: int, labels: list[str]) -> tuple[str, dict[str, int]]:
    lines = ["name: Bench", "on: workflow_dispatch", "jobs:"]
    need = dict.fromkeys(labels, 0)
    for i in range(jobs):
        label = labels[i % len(labels)]
        need[label] += 1
        lines += [f"  j{i}:", f"    runs-on: [self-hosted, {label}]", "    steps:", f"      - run: echo {i}"]
    return "\n".join(lines) + "\n", need


def setup(sbx: Sandbox, args: argparse.Namespace, hook_url: str, secret: str, text: str) -> int:
    sbx.token = sbx.ctl("POST", "/users", {"login": OWNER})["token"]
    sbx.ctl("PUT", "/limits", {"endpoint_points_per_minute": 10**9, "max_concurrent": 10**6,
                               "content_per_minute": 10**6, "content_per_hour": 10**7})
    settings = {k: v for k, v in (("poll_seconds", args.poll_seconds), ("tick_seconds", args.tick_seconds)) if v is not None}
    if settings:
        sbx.ctl("PUT", "/jobs/settings", settings)
    sbx.owner_api("POST", "/user/repos", {"name": REPO, "auto_init": True, "private": True})
    sbx.owner_api("PUT", f"/repos/{OWNER}/{REPO}/contents/.github/workflows/{WORKFLOW}",
                  {"message": "bench workflow", "content": base64.b64encode(text.encode()).decode()})
    hook = sbx.owner_api("POST", f"/repos/{OWNER}/{REPO}/hooks", {
        "config": {"url": hook_url, "content_type": "json", "secret": secret},
        "events": ["workflow_job", "workflow_run"],
    })
    return int(hook["id"])


def dispatch(sbx: Sandbox) -> tuple[int, float, float]:
    t0 = time.time()
    body = sbx.owner_api("POST", f"/repos/{OWNER}/{REPO}/actions/workflows/{WORKFLOW}/dispatches",
                         {"ref": "main", "return_run_details": True}, want=(200,))
    return int(body["workflow_run_id"]), t0, time.time()


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--runs", type=int, default=50, help="workflow runs to dispatch (default 50)")
    p.add_argument("--jobs", type=int, default=2, help="independent jobs per run (default 2)")
    p.add_argument("--labels", default="cpu,gpu", help="runner labels, given to the jobs in turn (default cpu,gpu)")
    p.add_argument("--runners", type=int, default=2, help="runner processes kept listening per label (default 2)")
    p.add_argument("--job-seconds", type=float, default=0.2, help="how long a stand-in runner 'runs' a job (default 0.2)")
    p.add_argument("--burst", action="store_true", help="dispatch every run at once instead of when runners are idle")
    p.add_argument("--poll-seconds", type=float, help="the sandbox's runner poll interval (default: the sandbox's)")
    p.add_argument("--tick-seconds", type=float, help="the sandbox's scheduler tick (default: the sandbox's)")
    p.add_argument("--seed", type=int, default=1, help="seed of the paced dispatch moments (default 1)")
    p.add_argument("--strict", action="store_true", help="serve in strict mode (payloads validated: slower)")
    p.add_argument("--timeout", type=float, default=240.0, help="most seconds for the measured phase (default 240)")
    args = p.parse_args()
    labels = [x.strip() for x in args.labels.split(",") if x.strip()]
    if not labels or any(not re.fullmatch(r"[A-Za-z0-9._-]+", x) for x in labels):
        p.error("--labels: a comma-separated list of label names")
    if len({x.lower() for x in labels}) != len(labels) or {x.lower() for x in labels} & {"self-hosted", "linux", "x64"}:
        p.error("--labels: distinct labels, none of the labels every runner has (self-hosted, Linux, X64)")
    if args.runs < 1 or args.jobs < 1 or args.runners < 1 or args.jobs > 256:
        p.error("--runs, --jobs (at most 256) and --runners must be at least 1")
    if not 0 <= args.job_seconds <= 3600 or not 1 <= args.timeout <= 86400:
        p.error("--job-seconds 0..3600, --timeout 1..86400")
    args.label_list = labels[: args.jobs]
    per_run = {x: len(range(i, args.jobs, len(labels))) for i, x in enumerate(args.label_list)}
    if not args.burst and any(n > args.runners for n in per_run.values()):
        p.error(f"a run needs {max(per_run.values())} runners of one label at once: give --runners that many, or --burst")
    return args


def main() -> int:
    args = parse_args()
    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="gridctl-bench-jobs-"))
    secret = secrets.token_hex(16)
    text, need = workflow(args.jobs, args.label_list)
    labels = args.label_list
    sbx = Sandbox(workdir, args.strict)
    receiver: Receiver | None = None
    fleet: Fleet | None = None
    try:
        sbx.ready(30.0)
        receiver = Receiver(secret)
        hook_id = setup(sbx, args, receiver.url, secret, text)
        settle = time.monotonic() + 10
        for _ in range(500):  # the ping
            if receiver.count() >= 1 or time.monotonic() > settle:
                break
            time.sleep(0.02)
        pings = receiver.count()
        settings = sbx.ctl("GET", "/jobs/settings")
        print(f"sandbox pid {sbx.proc.pid}{' (strict)' if args.strict else ''}; {os.cpu_count()} CPUs; "
              f"{args.runs} runs x {args.jobs} jobs on labels {', '.join(f'{x} ({need[x]}/run)' for x in labels)}; "
              f"{args.runners} runner(s) listening per label; job {args.job_seconds:g} s; "
              f"{'burst' if args.burst else 'paced (a run is dispatched once its runners listen, at a random moment of their poll interval)'}; "
              f"poll {settings['poll_seconds']:g} s, tick {settings['tick_seconds']:g} s")

        sbx.ctl("POST", "/stats/reset")
        cpu0 = sbx.cpu_seconds()
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN) if resource else None
        sbx.sample()
        fleet = Fleet(sbx, workdir, labels, args.runners, {x: need[x] * args.runs for x in labels}, args.job_seconds)
        total_jobs = args.runs * args.jobs
        runs: dict[int, tuple[float, float]] = {}  # run id -> (dispatch sent, dispatch answered)
        dispatched = {x: 0 for x in labels}  # jobs dispatched per label
        t_start = time.time()
        deadline = time.monotonic() + args.timeout
        timed_out = False
        rng, poll = random.Random(args.seed), float(settings["poll_seconds"])
        not_before: float | None = None
        for _ in range(int(args.timeout / 0.005) + 10_000):
            if time.monotonic() > deadline:
                timed_out = True
                break
            fleet.drain()
            fleet.top_up()
            if len(runs) < args.runs:
                ready = args.burst or all(fleet.idle[x] - (dispatched[x] - fleet.started[x]) >= need[x] for x in labels)
                if ready and not_before is None:  # a random moment of the runners' poll interval
                    not_before = time.monotonic() + (0.0 if args.burst else rng.uniform(0, poll))
                if ready and time.monotonic() >= not_before:
                    not_before = None
                    for _ in range(args.runs if args.burst else 1):
                        run_id, t0, t1 = dispatch(sbx)
                        runs[run_id] = (t0, t1)
                        for x in labels:
                            dispatched[x] += need[x]
                    continue
            if len(fleet.job_done) >= total_jobs and not fleet.live:
                break
            time.sleep(0.005)
        wall = time.time() - t_start
        fleet.drain()
        expected = pings + args.runs * (3 + 3 * args.jobs)
        settle = time.monotonic() + 15
        for _ in range(1500):  # deliveries still on their way
            if receiver.count() >= expected or time.monotonic() > settle:
                break
            time.sleep(0.01)
        cpu1 = sbx.cpu_seconds()
        stats = sbx.ctl("GET", "/stats")
        fleet.stop()  # every runner reaped: their CPU is in RUSAGE_CHILDREN, the sandbox's is not yet
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN) if resource else None
        peak, how = sbx.peak_rss()
        problems = report(args, sbx, fleet, receiver, runs, stats, hook_id, expected, pings, wall,
                          (cpu0, cpu1), (kids0, kids1), (peak, how), timed_out)
        return 1 if problems else 0
    except (KeyboardInterrupt, Stop):
        print("interrupted: stopping the runners and the sandbox", file=sys.stderr)
        return 130
    finally:
        if fleet is not None:
            fleet.stop()
        if receiver is not None:
            receiver.close()
        sbx.stop()
        for f in workdir.glob("*"):
            f.unlink()
        workdir.rmdir()


def report(args: argparse.Namespace, sbx: Sandbox, fleet: Fleet, receiver: Receiver, runs: dict[int, tuple[float, float]],
           stats: dict, hook_id: int, expected: int, pings: int, wall: float, cpu: tuple, kids: tuple,
           peak: tuple, timed_out: bool) -> list[str]:
    problems: list[str] = []
    warnings: list[str] = []
    # the jobs of every run, as the REST API lists them (after the stats were read)
    job_run: dict[int, int] = {}
    conclusions: dict[str, int] = {}
    for run_id in runs:
        body = sbx.owner_api("GET", f"/repos/{OWNER}/{REPO}/actions/runs/{run_id}/jobs?per_page=100")
        for j in body["jobs"]:
            job_run[j["id"]] = run_id
            conclusions[str(j["conclusion"])] = conclusions.get(str(j["conclusion"]), 0) + 1
    left = sbx.owner_api("GET", f"/repos/{OWNER}/{REPO}/actions/runners")["total_count"]
    total_jobs = args.runs * args.jobs

    dispatch_rt = [t1 - t0 for t0, t1 in runs.values()]
    to_progress = [fleet.job_start[j] - runs[r][1] for j, r in job_run.items() if j in fleet.job_start]
    total = [fleet.job_done[j] - runs[r][0] for j, r in job_run.items() if j in fleet.job_done]
    print(f"{len(runs)} runs dispatched, {len(fleet.job_done)}/{total_jobs} jobs completed in {wall:.1f} s "
          f"({len(fleet.job_done) / wall:.1f} jobs/s); conclusions {conclusions}; {len(fleet.all)} runner processes")
    poll = float(sbx.ctl("GET", "/jobs/settings")["poll_seconds"])
    print("jobs (this process's clock):")
    line("dispatch -> queued (dispatch round trip)", dispatch_rt)
    if args.burst:
        line("queued -> in_progress (waits for a runner)", to_progress, note="  [burst: the queue drains]")
    else:
        line("queued -> in_progress (scheduler)", to_progress,
             note=f"  [a runner learns of its job on its next poll: every {poll:g} s]")
    line("job total (dispatch -> completed)", total, note=f"  [job itself {args.job_seconds:g} s]")
    line("runner process start -> online", fleet.online_after)

    # webhooks
    seen: dict[int, list[str]] = {}
    run_seen: dict[int, list[str]] = {}
    from_payload: list[float] = []
    from_observed: list[float] = []
    bad_sig = 0
    guids: set[str] = set()
    dup = 0
    with receiver.lock:
        got = list(receiver.got)
    for when, headers, body, ok in got:
        bad_sig += not ok
        guid = headers.get("x-github-delivery", "")
        dup += guid in guids
        guids.add(guid)
        if headers.get("x-github-hook-id") != str(hook_id):
            problems.append(f"a delivery names hook {headers.get('x-github-hook-id')!r}, not {hook_id}")
        event = headers.get("x-github-event")
        if event not in ("workflow_job", "workflow_run"):
            continue
        payload = json.loads(body)
        action = payload.get("action")
        stamp: float | None
        observed: float | None = None
        if event == "workflow_job":
            job = payload["workflow_job"]
            seen.setdefault(job["id"], []).append(action)
            field = {"queued": "created_at", "in_progress": "started_at", "completed": "completed_at"}.get(action, "created_at")
            stamp = iso_epoch(job.get(field))
            rid = job_run.get(job["id"], job["run_id"])
            observed = {"queued": runs.get(rid, (None, None))[1], "in_progress": fleet.job_start.get(job["id"]),
                        "completed": fleet.job_done.get(job["id"])}.get(action)
        else:
            run = payload["workflow_run"]
            run_seen.setdefault(run["id"], []).append(action)
            stamp = iso_epoch(run.get("created_at" if action == "requested" else "updated_at"))
            mine = [j for j, r in job_run.items() if r == run["id"]]
            starts = [fleet.job_start[j] for j in mine if j in fleet.job_start]
            dones = [fleet.job_done[j] for j in mine if j in fleet.job_done]
            observed = {"requested": runs.get(run["id"], (None, None))[1],
                        "in_progress": min(starts) if starts else None,
                        "completed": max(dones) if len(dones) == len(mine) and dones else None}.get(action)
        if stamp is not None:
            from_payload.append(when - stamp)
        if observed is not None:
            from_observed.append(when - observed)
    workflow_deliveries = len(got) - pings
    print(f"webhooks: {len(got)}/{expected} deliveries received (1 ping + {workflow_deliveries} workflow_job/workflow_run), "
          f"{len(got) - bad_sig} signatures verified, {bad_sig} bad, {dup} duplicate delivery ids")
    line("latency from payload timestamp", from_payload,
         note="  [timestamps are whole seconds: up to 1 s too high]")
    line("latency from the event seen here", from_observed,
         note="  [event = dispatch answer / runner's line: can read < 0]")
    out_of_order = [j for j, acts in seen.items() if acts != ["queued", "in_progress", "completed"]]
    runs_bad = [r for r, acts in run_seen.items() if acts != ["requested", "in_progress", "completed"]]
    print(f"  order queued -> in_progress -> completed: {len(seen) - len(out_of_order)}/{len(seen)} jobs; "
          f"requested -> in_progress -> completed: {len(run_seen) - len(runs_bad)}/{len(run_seen)} runs")

    # requests and resources
    st_total = stats.get("total", {}).get("requests", 0)
    per_op = ", ".join(f"{op} {c.get('requests', 0)}" for op, c in sorted(stats.get("by_endpoint", {}).items()))
    print(f"sandbox REST requests while measuring: {st_total} ({st_total / max(1, total_jobs):.2f}/job: {per_op}); "
          f"the runners' broker calls (/_sandbox/broker/...) are control routes, not counted there")
    cpu0, cpu1 = cpu
    if cpu0 is not None and cpu1 is not None:
        print(f"sandbox CPU {cpu1 - cpu0:.2f} s while measuring ({(cpu1 - cpu0) / wall:.0%} of one core; "
              f"{(cpu1 - cpu0) / max(1, total_jobs) * 1000:.1f} ms/job)")
    k0, k1 = kids
    if k0 is not None and k1 is not None:
        used = (k1.ru_utime + k1.ru_stime) - (k0.ru_utime + k0.ru_stime)
        print(f"runners CPU {used:.2f} s for {len(fleet.all)} processes ({used / max(1, len(fleet.all)) * 1000:.0f} ms each; "
              f"largest runner RSS {k1.ru_maxrss / 1024:.0f} MiB)")
    me = resource.getrusage(resource.RUSAGE_SELF) if resource else None
    if me is not None:
        print(f"this script (receiver, dispatcher) CPU {me.ru_utime + me.ru_stime:.2f} s")
    rss, how = peak
    if rss:
        print(f"sandbox peak RSS {rss / 1024 / 1024:.0f} MiB ({how})")

    codes = [r.code for r in fleet.all]
    if any(c != 0 for c in codes):
        problems.append(f"runner exit codes other than 0: {sorted({c for c in codes if c != 0}, key=str)}")
    if bad_sig:
        problems.append(f"{bad_sig} deliveries with a bad signature")
    if dup:
        problems.append(f"{dup} duplicate delivery ids")
    if out_of_order or runs_bad:
        problems.append(f"deliveries out of order: {len(out_of_order)} jobs, {len(runs_bad)} runs")
    if set(conclusions) - {"success"}:
        problems.append(f"jobs that did not succeed: {conclusions}")
    if left and not timed_out:
        problems.append(f"{left} runners still registered after every job")
    if timed_out:
        warnings.append(f"the measured phase hit --timeout {args.timeout:g} s: figures are partial")
    if len(got) < expected:
        warnings.append(f"{expected - len(got)} deliveries did not arrive within 15 s of the last job")
    for w in warnings:
        print(f"WARNING: {w}")
    for p in problems:
        print(f"PROBLEM: {p}")
    result = {
        "runs": len(runs), "jobs": total_jobs, "completed": len(fleet.job_done), "wall_s": round(wall, 2),
        "queued_to_in_progress_p50_ms": round(pct(to_progress, 0.5) * 1000, 1) if to_progress else None,
        "webhook_p50_ms": round(pct(from_observed, 0.5) * 1000, 1) if from_observed else None,
        "deliveries": len(got), "expected": expected, "bad_signatures": bad_sig,
        "sandbox_cpu_s": round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 is not None else None,
    }
    print("RESULT " + json.dumps(result))
    return problems


if __name__ == "__main__":
    sys.exit(main())
