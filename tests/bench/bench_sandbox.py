"""Benchmark: how many simple authenticated GETs a second one sandbox process serves.

    python tests/bench/bench_sandbox.py [--duration 5] [--clients 2] [--no-pin]
    nox -s bench -- sandbox

Starts the real ``gridctl sandbox serve`` as a subprocess pinned to one core (where the OS
allows), then drives ``GET /repos/{owner}/{repo}`` over loopback from client processes that
each keep one HTTP/1.1 keep-alive connection (``http.client``), first plain (200) and then
conditional (``If-None-Match`` -> 304). Latency and faults are off; the primary and secondary
limits are lifted so every request is served. Prints requests/s, p50/p99 latency and the
server's own request count (``/_sandbox/stats``). The target is 500 requests/s on one core;
this script reports figures and never fails on timing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

TARGET = 500.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(conn: http.client.HTTPConnection, method: str, path: str, headers: dict, body: object = None) -> tuple[int, dict, bytes]:
    payload = None if body is None else json.dumps(body).encode()
    hdrs = dict(headers)
    if payload is not None:
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=payload, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def start_server(port: int, pin: bool) -> tuple[subprocess.Popen, int | None]:
    gridctl = shutil.which("gridctl")
    cmd = [gridctl] if gridctl else [sys.executable, "-c", "from gridctl.cli import main; main()"]
    cmd += ["sandbox", "serve", "--port", str(port), "--rate-limit", "100000000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    core = None
    if pin and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        core = cores[0]
        try:
            os.sched_setaffinity(proc.pid, {core})
        except OSError:
            core = None
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the sandbox did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, core


def client(port: int, token: str, path: str, etag: str | None, duration: float, core: int | None, out: mp.Queue) -> None:
    if core is not None:
        try:
            os.sched_setaffinity(0, {core})
        except OSError:
            pass
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}
    if etag:
        headers["If-None-Match"] = etag
    want = 304 if etag else 200
    lat: list[float] = []
    bad = 0
    end = time.perf_counter() + duration
    while True:
        t0 = time.perf_counter()
        if t0 >= end:
            break
        status, _, _ = request(conn, "GET", path, headers)
        lat.append(time.perf_counter() - t0)
        if status != want:
            bad += 1
    conn.close()
    out.put((lat, bad))


def phase(name: str, port: int, token: str, path: str, etag: str | None, duration: float, clients: int, cores: list[int | None]) -> dict:
    q: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=client, args=(port, token, path, etag, duration, cores[i % len(cores)], q))
        for i in range(clients)
    ]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    lat = sorted(x for r, _ in results for x in r)
    bad = sum(b for _, b in results)
    n = len(lat)
    rate = n / duration
    p50 = statistics.median(lat) * 1000 if lat else 0.0
    p99 = lat[min(n - 1, int(n * 0.99))] * 1000 if lat else 0.0
    print(f"{name:<28} {n:>7} requests  {rate:>8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
          f"  unexpected statuses: {bad}  (wall {wall:.1f}s)")
    return {"name": name, "requests": n, "rate": rate, "p50_ms": p50, "p99_ms": p99, "bad": bad}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--clients", type=int, default=2, help="client processes (one connection each)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server to one core")
    args = parser.parse_args()

    port = free_port()
    proc, core = start_server(port, not args.no_pin)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        st, _, data = request(conn, "POST", "/_sandbox/users", {}, {"login": "bench"})
        token = json.loads(data)["token"]
        auth = {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}  # as the clients send
        st, _, _ = request(conn, "PUT", "/_sandbox/limits", {},
                           {"endpoint_points_per_minute": 10**9, "max_concurrent": 10**6, "content_per_minute": 10**6})
        st, _, data = request(conn, "POST", "/user/repos", auth, {"name": "bench", "auto_init": True})
        assert st == 201, data
        path = "/repos/bench/bench"
        st, hdrs, data = request(conn, "GET", path, auth)
        assert st == 200, data
        etag = hdrs["etag"]
        request(conn, "POST", "/_sandbox/stats/reset", {})

        others = sorted(os.sched_getaffinity(0) - {core}) if hasattr(os, "sched_getaffinity") and core is not None else []
        cores: list[int | None] = list(others) or [None]
        print(f"sandbox pid {proc.pid} on {'core ' + str(core) if core is not None else 'any core'}; "
              f"{args.clients} client process(es) on {others or 'any core'}; {len(data)} byte body; "
              f"{os.cpu_count()} CPUs")
        phase("warm-up", port, token, path, None, 1.0, 1, cores)
        request(conn, "POST", "/_sandbox/stats/reset", {})
        results = [
            phase("GET 200 (1 client)", port, token, path, None, args.duration, 1, cores),
            phase(f"GET 200 ({args.clients} clients)", port, token, path, None, args.duration, args.clients, cores),
            phase(f"GET 304 ({args.clients} clients)", port, token, path, etag, args.duration, args.clients, cores),
        ]
        st, _, data = request(conn, "GET", "/_sandbox/stats", {})
        stats = json.loads(data)
        ops = stats["by_endpoint"].get("repos/get", {})
        sent = sum(r["requests"] for r in results)
        print(f"server counted {ops.get('requests', 0)} repos/get requests "
              f"({ops.get('not_modified', 0)} answered 304, {ops.get('points', 0)} rate-limit points); clients sent {sent}")
        best = max(r["rate"] for r in results[:2])
        verdict = "meets" if best >= TARGET else "is BELOW"
        print(f"plain GET throughput {best:.0f} req/s {verdict} the {TARGET:.0f} req/s one-core target")
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
