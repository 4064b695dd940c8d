"""Benchmark: the dashboard's page weight and server time.

    python tests/bench/bench_dashboard.py [--history 1000] [--queued 50] [--requests 200]
    nox -s bench -- dashboard

Builds the controller's app (API + dashboard) on a SQLite store holding ``--history`` finished
entries and ``--queued`` queued ones in one group, serves it with uvicorn on loopback, logs in
through the login form, then prints:

* the weight of the overview as a browser loads it: HTML + htmx + app.js + app.css, raw and
  gzip-compressed (target: under 150 kB raw);
* the server time (the ``Server-Timing`` header) and the wall time of the group page, paged
  50 entries a page, over ``--requests`` requests spread across the pages, p50/p95/max
  (target: under 100 ms server time), and of the overview.

It never fails on timing; it exits 1 only when a page does not answer 200.
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gridctl.serve.api import ApiConfig, GroupView, create_app  # noqa: E402
from gridctl.serve.store import Store  # noqa: E402
from gridctl.serve.web import Views, WebConfig, WebUser, hash_password, install  # noqa: E402
from tests.pgserver import free_port  # noqa: E402

PASSWORD = "bench-" + "x" * 10


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--history", type=int, default=1000)
    ap.add_argument("--queued", type=int, default=50)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gridctl-bench-dash-") as tmp:
        store = Store.open(f"sqlite:///{tmp}/controller.db")
        t0 = time.perf_counter()
        for i in range(args.history):
            e = store.add_entry("batch", "small" if i % 2 else "large", {"size": "small"}, priority=i % 5, created_by="bench")
            key = store.begin_dispatch(e.id)
            assert key is not None
            store.dispatched(e.id, key, run_id=5_000_000_000 + i, run_url=f"https://github.com/o/r/actions/runs/{5_000_000_000 + i}")
            store.finish(e.id, conclusion="success" if i % 7 else "failure")
        for i in range(args.queued):
            store.add_entry("batch", "small", {"size": "small"}, priority=i % 3, created_by="bench")
        filled = time.perf_counter() - t0
        groups = {"batch": GroupView("batch", ("small", "large"), ("batch",), 2)}
        app = create_app(store, ApiConfig(groups=groups, users={}, is_leader=lambda: True))
        pools = [{"name": "batch", "scope": "o/r", "labels": ["batch"], "min": 1, "max": 5, "runners": {"busy": 3, "idle": 1}}]
        now = time.time()
        rate = {"ops": [(now - 3600 + 60 * i, 5000 - 3 * i) for i in range(60)]}
        views = Views(groups=groups, pools=lambda: pools, runners=lambda _all: [], status=lambda: {"leader": True}, rate=lambda: rate)
        install(app, store, views, WebConfig({"admin": WebUser("admin", "admin", hash_password(PASSWORD))}, "bench-session-key"))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                if server.started:
                    break
                time.sleep(0.05)
            s = requests.Session()
            page = s.get(base + "/login", timeout=10)
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            r = s.post(base + "/login", data={"csrf": csrf.group(1), "username": "admin", "password": PASSWORD, "next": "/"}, timeout=10)
            if r.status_code != 200 or "Overview" not in r.text:
                print(f"login failed: {r.status_code}", file=sys.stderr)
                return 1
            # weight of the overview
            parts = {"overview HTML": s.get(base + "/", timeout=10).content}
            for asset in ("/static/htmx.min.js", "/static/app.js", "/static/app.css"):
                parts[asset] = s.get(base + asset, timeout=10).content
            total = sum(len(b) for b in parts.values())
            zipped = sum(len(gzip.compress(b)) for b in parts.values())
            print(f"filled the store: {args.history} finished + {args.queued} queued entries in {filled:.1f}s")
            print("overview weight:")
            for name, body in parts.items():
                print(f"  {name:22} {len(body) / 1024:7.1f} kB  ({len(gzip.compress(body)) / 1024:5.1f} kB gzip)")
            print(f"  {'total':22} {total / 1024:7.1f} kB  ({zipped / 1024:5.1f} kB gzip)   target < 150 kB")
            pages = max(1, (args.history + 49) // 50)
            for label, paths in (("group page (50 a page)", [f"/groups/batch?page_no={1 + i % pages}" for i in range(args.requests)]),
                                 ("group page, filtered", [f"/groups/batch?outcome=failure&page_no={1 + i % 3}" for i in range(args.requests // 2)]),
                                 ("overview", ["/"] * (args.requests // 2))):
                server_ms, wall_ms = [], []
                for path in paths:
                    t = time.perf_counter()
                    r = s.get(base + path, timeout=30)
                    wall_ms.append((time.perf_counter() - t) * 1000)
                    if r.status_code != 200:
                        print(f"{path}: {r.status_code}", file=sys.stderr)
                        return 1
                    m = re.search(r"dur=([0-9.]+)", r.headers.get("server-timing", ""))
                    server_ms.append(float(m.group(1)) if m else float("nan"))
                print(f"{label:24} n={len(paths):4}  server p50 {statistics.median(server_ms):6.1f} ms  p95 {pct(server_ms, 95):6.1f} ms  "
                      f"max {max(server_ms):6.1f} ms   wall p50 {statistics.median(wall_ms):6.1f} ms")
            print("target: the group page under 100 ms of server time")
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
