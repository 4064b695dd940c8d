"""The controller's store on a real PostgreSQL and on SQLite: migrations, the dispatch queue's
order and its one-winner dispatch claim, replayed deliveries, and one leader at a time — a
SIGKILLed leader's lock passes to another instance."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import sqlalchemy as sa

from gridctl.serve.store import Leadership, Store, migrate


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / '.gridctl' / 'controller.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(url):
    s = Store.open(url)
    yield s
    s.close()


def test_migrations_create_the_schema_and_are_idempotent(store):
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"entries", "runners", "events", "deliveries", "alembic_version"} <= tables
    assert migrate(store.engine) == "r0003"  # a second upgrade changes nothing
    assert migrate(store.engine) == "r0003"
    cols = {c["name"] for c in sa.inspect(store.engine).get_columns("runners")}
    assert {"scope", "account", "offline_since", "busy", "launcher_start"} <= cols


def test_queue_order_is_priority_then_fifo_and_reorder_and_cancel(store):
    a = store.add_entry("gpu", "train", {"size": "s"}, priority=0, created_by="ann")
    b = store.add_entry("gpu", "train", {"size": "m"}, priority=5, created_by="ann")
    c = store.add_entry("gpu", "train", {"size": "l"}, priority=0, created_by="bob")
    store.add_entry("cpu", "lint", {}, created_by="bob")
    assert [e.id for e in store.queue("gpu")] == [b.id, a.id, c.id]
    store.reorder("gpu", [c.id])
    assert [e.id for e in store.queue("gpu")] == [b.id, c.id, a.id]
    with pytest.raises(Exception, match="not queued in group gpu"):
        store.reorder("gpu", [999999])
    assert store.cancel(a.id) is True
    assert store.cancel(a.id) is False  # already cancelled
    assert [e.id for e in store.queue("gpu")] == [b.id, c.id]
    assert [e.id for e in store.history("gpu")] == [a.id]
    assert store.get(b.id).inputs == {"size": "m"} and store.get(b.id).created_by == "ann"


def test_a_dispatch_is_claimed_before_the_post_and_followed_to_its_conclusion(store):
    e = store.add_entry("gpu", "train", {})
    key = store.begin_dispatch(e.id)
    assert key and store.get(e.id).state == "dispatching"
    assert store.begin_dispatch(e.id) is None  # never twice
    assert store.cancel(e.id) is False  # too late to cancel
    assert store.in_flight("gpu") == 1
    assert store.dispatched(e.id, "wrong-key") is False
    assert store.dispatched(e.id, key, run_id=42, run_url="http://x/runs/42") is True
    assert store.finish(e.id, conclusion="success") is True
    done = store.get(e.id)
    assert (done.state, done.run_id, done.conclusion) == ("completed", 42, "success")
    assert done.completed_at is not None and done.completed_at.tzinfo is not None
    assert store.in_flight("gpu") == 0


def test_concurrent_claims_have_exactly_one_winner(url):
    stores = [Store.open(url) for _ in range(4)]
    try:
        entry = stores[0].add_entry("g", "t", {})
        wins: list[str] = []
        barrier = threading.Barrier(len(stores))

        def claim(s: Store) -> None:
            barrier.wait(timeout=30)
            key = s.begin_dispatch(entry.id)
            if key:
                wins.append(key)

        threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(wins) == 1
    finally:
        for s in stores:
            s.close()


def test_a_replayed_delivery_is_recognised(store):
    assert store.remember_delivery("72d3162e-cc78-11e3-81ab-4c9367dc0958", "workflow_job") is True
    assert store.remember_delivery("72d3162e-cc78-11e3-81ab-4c9367dc0958", "workflow_job") is False


def test_one_leader_at_a_time(url):
    a, b = Store.open(url), Store.open(url)
    la, lb = Leadership(a), Leadership(b)
    try:
        assert la.try_acquire() is True
        assert lb.try_acquire() is False
        assert la.check() is True
        la.release()
        assert lb.try_acquire() is True
        assert la.try_acquire() is False
    finally:
        la.release()
        lb.release()
        a.close()
        b.close()


LEADER = textwrap.dedent("""
    import sys, time
    from gridctl.serve.store import Leadership, Store
    lead = Leadership(Store.open(sys.argv[1]))
    assert lead.try_acquire()
    print("leading", flush=True)
    time.sleep(300)
""")


def test_a_killed_leaders_lock_passes_on(url):
    proc = subprocess.Popen([sys.executable, "-c", LEADER, url], stdout=subprocess.PIPE, text=True)
    other = Store.open(url)
    lead = Leadership(other)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "leading"
        assert lead.try_acquire() is False
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline, tries = time.monotonic() + 20, 0
        while not lead.try_acquire() and time.monotonic() < deadline and tries < 400:
            tries += 1
            time.sleep(0.05)
        assert lead.held, "the lock of a killed leader was never released"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        lead.release()
        other.close()


OPENER = textwrap.dedent("""
    import os, sys, time
    import alembic.command, alembic.config  # imported before the start, as a running controller has them
    from gridctl.serve.store import Store
    deadline = time.monotonic() + 60
    while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:  # start together
        time.sleep(0.002)
    Store.open(sys.argv[1]).close()
    print("opened", flush=True)
""")


def test_processes_opening_a_new_database_at_once_all_open_it(url, tmp_path):
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, url, str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    time.sleep(3)  # let each import gridctl; then all four open the database at the same moment
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [(p.returncode, out.strip()) for p, (out, _err) in zip(procs, outs, strict=True)] == [(0, "opened")] * 4, \
        [err[-400:] for _out, err in outs]
    s = Store.open(url)
    try:
        assert {"entries", "runners"} <= set(sa.inspect(s.engine).get_table_names())
    finally:
        s.close()


def test_sqlite_files_are_private_under_umask_000(tmp_path):
    old = os.umask(0)
    try:
        s = Store.open(f"sqlite:///{tmp_path / 'w' / 'controller.db'}")
        s.add_entry("g", "t", {})
        s.close()
    finally:
        os.umask(old)
    for p in [tmp_path / "w", *(tmp_path / "w").iterdir()]:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, (p, oct(p.stat().st_mode))


def test_a_bad_database_url_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="database URL must be sqlite"):
        Store.open("mysql://x")
    with pytest.raises(Exception, match="cannot open the controller database"):
        Store.open("postgresql://nobody@127.0.0.1:9/none")
