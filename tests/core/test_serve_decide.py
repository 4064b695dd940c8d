"""The controller's decision (:func:`gridctl.serve.decide.decide`) is pure: these tests give it
declared pools and groups, an observed snapshot and a moment, and compare the actions it returns
— no GitHub, no database, no process, nothing to mock.

A table of cases shows each rule of the module's docstring on a small picture. A Hypothesis
property test then draws many pictures (bounded and derandomized, so CI sees the same ones) and
checks what must hold for all of them: never more than ``max`` runners in a pool, never a busy
runner removed, never more than ``max_concurrent`` in flight, dispatch in priority order onto an
idle matching runner, the same answer for the same input in any order, and — applying the
actions and deciding again at the same moment — nothing more to do.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gridctl.serve.decide import (
    IN_FLIGHT,
    Action,
    Cleanup,
    Dispatch,
    Entry,
    Fail,
    Finish,
    Job,
    Launch,
    PoolHistory,
    Remove,
    Runner,
    Snapshot,
    decide,
    entry_order,
)
from gridctl.serve.declare import DEFAULT_LAUNCHER, GroupSpec, PoolSpec

NOW = 10_000.0


def pool(name: str = "p", **kw: Any) -> PoolSpec:
    base: dict[str, Any] = dict(
        name=name, account="main", scope="org:acme", group=None, labels=("linux",), min=0, max=5, idle_timeout=300.0,
        online_timeout=300.0, offline_timeout=60.0, scale_up_threshold=1, scale_up_cooldown=0.0, scale_down_cooldown=0.0,
        launcher=DEFAULT_LAUNCHER,
    )
    base.update(kw)
    return PoolSpec(**base)


def group(name: str = "g", **kw: Any) -> GroupSpec:
    base: dict[str, Any] = dict(name=name, labels=("linux",), templates=("t",), max_concurrent=None, pool="p")
    base.update(kw)
    return GroupSpec(**base)


def runner(rid: str, pool: str | None = "p", *, online: bool = True, busy: bool = False, labels: tuple[str, ...] = ("self-hosted", "linux"),
           launched_at: float = 0.0, seen_online: bool | None = None, idle_since: float | None = 0.0,
           offline_since: float | None = None, scope: str = "org:acme") -> Runner:
    return Runner(rid, frozenset(labels), online, busy, launched_at, pool, scope,
                  online if seen_online is None else seen_online, idle_since if online and not busy else None, offline_since)


def job(jid: int, labels: tuple[str, ...] = ("self-hosted", "linux"), repo: str = "acme/app", queued_at: float | None = None) -> Job:
    return Job(jid, repo, frozenset(labels), float(jid) if queued_at is None else queued_at)


def entry(eid: int, priority: int = 0, *, position: int | None = None, state: str = "queued", group: str = "g", template: str = "t",
          run_status: str | None = None, conclusion: str | None = None, runner: str | None = None) -> Entry:
    return Entry(eid, group, template, priority, eid if position is None else position, state, run_status, conclusion, runner)


def snap(runners: tuple[Runner, ...] = (), jobs: tuple[Job, ...] = (), entries: tuple[Entry, ...] = (), history: dict | None = None) -> Snapshot:
    return Snapshot(tuple(runners), tuple(jobs), tuple(entries), history or {})


CASES: list[tuple[str, list[PoolSpec], list[GroupSpec], Snapshot, list[Action]]] = [
    ("an empty pool with min 0 stays empty", [pool()], [], snap(), []),
    ("min idle runners are launched", [pool(min=2)], [], snap(), [Launch("p", "min"), Launch("p", "min")]),
    ("min is met by an idle runner", [pool(min=1)], [], snap((runner("r1"),)), []),
    ("min is met by a starting runner", [pool(min=1)], [], snap((runner("r1", online=False, launched_at=NOW - 10),)), []),
    ("a busy runner is not spare: min launches another", [pool(min=1)], [], snap((runner("r1", busy=True),)), [Launch("p", "min")]),
    (
        "queued jobs take the idle runner, the rest are launched for, plus min on top",
        [pool(min=1)], [],
        snap((runner("r1"),), (job(1), job(2), job(3))),
        [Launch("p", "jobs"), Launch("p", "jobs"), Launch("p", "min")],
    ),
    (
        "never beyond max: busy runners count",
        [pool(max=5)], [],
        snap((runner("r1", busy=True), runner("r2", busy=True)), tuple(job(i) for i in range(10))),
        [Launch("p", "jobs")] * 3,
    ),
    ("below the scale-up threshold nothing is launched, not even for min", [pool(min=1, scale_up_threshold=3)], [], snap((), (job(1), job(2))), []),
    ("a job its pool holds back keeps other pools it fits from topping min up (it would take the runner)",
     [pool("p", scale_up_threshold=3), pool("q", min=1)], [], snap((), (job(1),)), []),
    ("at the threshold the shortfall and min are launched", [pool(min=1, scale_up_threshold=2)], [], snap((), (job(1), job(2))),
     [Launch("p", "jobs"), Launch("p", "jobs"), Launch("p", "min")]),
    ("within the scale-up cool-down nothing is launched", [pool(scale_up_cooldown=30.0)], [],
     snap((), (job(1),), history={"p": PoolHistory(scaled_up_at=NOW - 10)}), []),
    ("after the scale-up cool-down runners are launched", [pool(scale_up_cooldown=30.0)], [],
     snap((), (job(1),), history={"p": PoolHistory(scaled_up_at=NOW - 40)}), [Launch("p", "jobs")]),
    (
        "idle runners past idle_timeout are removed, idle longest first, keeping min",
        [pool(min=1, idle_timeout=60.0)], [],
        snap((runner("a", idle_since=NOW - 500), runner("b", idle_since=NOW - 900), runner("c", idle_since=NOW - 200))),
        [Remove("b", "p", "idle for 60s or more"), Remove("a", "p", "idle for 60s or more")],
    ),
    ("an idle runner within idle_timeout stays", [pool(idle_timeout=600.0)], [], snap((runner("a", idle_since=NOW - 500),)), []),
    ("within the scale-down cool-down idle runners stay", [pool(idle_timeout=60.0, scale_down_cooldown=120.0)], [],
     snap((runner("a", idle_since=NOW - 500),), history={"p": PoolHistory(scaled_down_at=NOW - 60)}), []),
    ("an idle runner a queued job will take is not removed", [pool(idle_timeout=60.0)], [],
     snap((runner("a", idle_since=NOW - 500),), (job(1),)), []),
    (
        "above max (a reload lowered it) idle runners go, busy ones never",
        [pool(max=1)], [],
        snap((runner("a", busy=True), runner("b", busy=True), runner("c", idle_since=NOW - 5))),
        [Remove("c", "p", "pool p is above its max of 1")],
    ),
    (
        "a runner never online past online_timeout is cleaned up; min launches again",
        [pool(min=1, online_timeout=120.0)], [],
        snap((runner("dead", online=False, launched_at=NOW - 121),)),
        [Cleanup("dead", "p", "registered 120s ago or more and never online"), Launch("p", "min")],
    ),
    (
        "an offline leftover is cleaned up; a busy offline runner is left alone",
        [pool(offline_timeout=60.0)], [],
        snap((runner("x", online=False, seen_online=True, offline_since=NOW - 61), runner("y", online=False, busy=True, seen_online=True, offline_since=NOW - 900),
              runner("z", online=False, seen_online=True, offline_since=NOW - 30))),
        [Cleanup("x", "p", "offline for 60s or more (its launcher stopped)")],
    ),
    (
        "runners of a pool no longer declared: idle removed, offline cleaned, busy left",
        [pool()], [],
        snap((runner("o1", "old"), runner("o2", "old", busy=True), runner("o3", "old", online=False, seen_online=True, offline_since=NOW - 3600))),
        [Remove("o1", "old", "pool old is no longer declared"), Cleanup("o3", "old", "offline for 60s or more (its launcher stopped)")],
    ),
    (
        "a runner the controller did not launch takes a job and is never removed",
        [pool(idle_timeout=1.0)], [],
        snap((runner("static", None, idle_since=0.0), runner("static-2", None, online=False, seen_online=True)), (job(1),)),
        [],
    ),
    (
        "labels compare without case; a job needing a label no pool has waits",
        [pool(labels=("GPU",))], [],
        snap((), (job(1, ("Self-Hosted", "gpu")), job(2, ("self-hosted", "arm64")))),
        [Launch("p", "jobs")],
    ),
    (
        "a job of another organization's repository is not this pool's demand",
        [pool(), pool("r", scope="acme/app")], [],
        snap((), (job(1, repo="other/app"), job(2, repo="ACME/App"))),
        [Launch("p", "jobs")],
    ),
    (
        "the first declared pool with room takes the demand; then the next",
        [pool("p", max=1), pool("q", max=3)], [],
        snap((), (job(1), job(2), job(3))),
        [Launch("p", "jobs"), Launch("q", "jobs"), Launch("q", "jobs")],
    ),
    (
        "dispatch: highest priority first, then queue position; max_concurrent holds the rest",
        [pool()], [group(max_concurrent=2)],
        snap((runner("r1", idle_since=NOW - 1), runner("r2", idle_since=NOW - 2), runner("r3", idle_since=NOW - 3)),
             (), (entry(1, 0), entry(2, 5, position=9), entry(3, 5, position=4), entry(4, 1))),
        [Dispatch(3, "g", "t", "r3"), Dispatch(2, "g", "t", "r2")],
    ),
    (
        "no idle runner: nothing fires, queued entries pre-warm the pool up to max_concurrent",
        [pool()], [group(max_concurrent=2)],
        snap((runner("busy", busy=True),), (), (entry(1), entry(2), entry(3))),
        [Launch("p", "queue"), Launch("p", "queue")],
    ),
    (
        "a group at max_concurrent neither fires nor pre-warms",
        [pool()], [group(max_concurrent=1)],
        snap((runner("r1", idle_since=NOW - 5),), (), (entry(1, state="dispatched", run_status="in_progress"), entry(2))),
        [],
    ),
    (
        "a starting runner is counted for pre-warming; the entry fires once it is idle",
        [pool()], [group()],
        snap((runner("s1", online=False, launched_at=NOW - 5),), (), (entry(1),)),
        [],
    ),
    (
        "a queued job takes the idle runner before a queued entry can",
        [pool()], [group()],
        snap((runner("r1"),), (job(1),), (entry(1),)),
        [Launch("p", "queue")],
    ),
    (
        "a dispatched entry keeps its runner until its run is seen",
        [pool(idle_timeout=1.0)], [group()],
        snap((runner("r1", idle_since=0.0),), (), (entry(1, state="dispatched", runner="r1"), entry(2))),
        [Launch("p", "queue")],
    ),
    (
        "across groups, the head with the highest priority goes first",
        [pool()], [group("a"), group("b")],
        snap((runner("r1"),), (), (entry(1, 1, group="a"), entry(2, 7, group="b"))),
        [Dispatch(2, "b", "t", "r1"), Launch("p", "queue")],
    ),
    (
        "a group dispatches only onto runners with all its labels",
        [pool(labels=("linux", "gpu"))], [group(labels=("GPU",))],
        snap((runner("cpu", None), runner("gpu", labels=("self-hosted", "linux", "gpu"))), (), (entry(1),)),
        [Dispatch(1, "g", "t", "gpu")],
    ),
    (
        "entries that are over: finished with their run's conclusion, or failed",
        [pool()], [group(templates=("t",))],
        snap((), (), (entry(1, state="dispatched", run_status="completed", conclusion="success"), entry(2, group="gone"),
                      entry(3, template="old"), entry(4, state="dispatching", run_status="completed"))),
        [Finish(1, "success"), Fail(2, "dispatch group gone is no longer declared"), Fail(3, "template old is no longer in dispatch group g"),
         Finish(4, "unknown")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_decide(case):
    _, pools, groups, picture, expected = case
    assert list(decide(pools, groups, picture, NOW)) == expected


def test_removals_come_before_launches_so_max_holds_while_acting():
    """A pool at max with a dead registration: the cleanup is listed before the launch that
    replaces it, and the loop acts in that order."""
    pools = [pool(max=2, min=1, online_timeout=60.0)]
    picture = snap((runner("dead", online=False, launched_at=NOW - 61), runner("b", busy=True)))
    assert decide(pools, [], picture, NOW) == (Cleanup("dead", "p", "registered 60s ago or more and never online"), Launch("p", "min"))


# -- properties -----------------------------------------------------------------------------------

LABELS = ("linux", "gpu", "arm64")
REPOS = ("acme/app", "acme/lib", "other/x")


#: names of launched runners, unique across decisions (the controller names its runners uniquely)
NEW_IDS = itertools.count()


def apply(pools: list[PoolSpec], picture: Snapshot, actions: tuple[Action, ...], now: float) -> Snapshot:
    """What the loop leaves behind when every action succeeded at ``now``."""
    spec = {p.name: p for p in pools}
    gone = {a.runner for a in actions if isinstance(a, (Remove, Cleanup))}
    runners = [r for r in picture.runners if r.id not in gone]
    history = dict(picture.history)
    for a in actions:
        if isinstance(a, Launch):
            p = spec[a.pool]
            runners.append(Runner(f"~new-{next(NEW_IDS)}", p.runner_labels, False, False, now, p.name, p.scope, False, None, None))
            history[p.name] = dataclasses.replace(history.get(p.name, PoolHistory()), scaled_up_at=now)
        elif isinstance(a, Remove) and a.pool in spec:
            history[a.pool] = dataclasses.replace(history.get(a.pool, PoolHistory()), scaled_down_at=now)
    over = {a.entry for a in actions if isinstance(a, (Finish, Fail))}
    fired = {a.entry: a.runner for a in actions if isinstance(a, Dispatch)}
    entries = []
    for e in picture.entries:
        if e.id in over:
            continue
        if e.id in fired:
            e = dataclasses.replace(e, state="dispatching", run_status=None, runner=fired[e.id])
        entries.append(e)
    return Snapshot(tuple(runners), picture.jobs, tuple(entries), history)


@st.composite
def pictures(draw: st.DrawFn) -> tuple[list[PoolSpec], list[GroupSpec], Snapshot]:
    n_pools = draw(st.integers(1, 3))
    pools = []
    for i in range(n_pools):
        hi = draw(st.integers(1, 5))
        pools.append(pool(
            f"p{i}", scope=draw(st.sampled_from(("org:acme", "acme/app"))),
            labels=tuple(draw(st.sets(st.sampled_from(LABELS), min_size=1, max_size=2))),
            min=draw(st.integers(0, hi)), max=hi, idle_timeout=draw(st.sampled_from((0.0, 60.0, 600.0))),
            online_timeout=draw(st.sampled_from((30.0, 600.0))), offline_timeout=draw(st.sampled_from((0.0, 60.0))),
            scale_up_threshold=draw(st.integers(1, 3)), scale_up_cooldown=draw(st.sampled_from((0.0, 30.0))),
            scale_down_cooldown=draw(st.sampled_from((0.0, 30.0))),
        ))
    groups = []
    for i in range(draw(st.integers(0, 3))):
        p = draw(st.sampled_from([*pools, None]))
        labels = tuple(draw(st.sets(st.sampled_from(sorted(p.runner_labels) if p else LABELS), min_size=1, max_size=2)))
        groups.append(group(f"g{i}", labels=labels, templates=("t1", "t2"), max_concurrent=draw(st.sampled_from((None, 1, 2, 3))),
                            pool=p.name if p else None))
    runners = []
    for i in range(draw(st.integers(0, 10))):
        owner = draw(st.sampled_from([*pools, None, "gone"]))
        online = draw(st.booleans())
        busy = draw(st.booleans()) if online else draw(st.sampled_from((False, False, False, True)))
        if isinstance(owner, PoolSpec):
            labels, name, scope = owner.runner_labels | frozenset(draw(st.sets(st.sampled_from(("x64", "linux")), max_size=1))), owner.name, owner.scope
        else:
            labels = frozenset({"self-hosted", *draw(st.sets(st.sampled_from(LABELS), max_size=2))})
            name, scope = (None if owner is None else "gone"), draw(st.sampled_from(("org:acme", "acme/lib", "")))
        launched = draw(st.floats(NOW - 2000, NOW - 1, allow_nan=False))
        runners.append(Runner(
            f"r{i}", labels, online, busy, launched, name, scope, online or draw(st.booleans()),
            draw(st.floats(launched, NOW, allow_nan=False)) if online and not busy else None,
            draw(st.one_of(st.none(), st.floats(launched, NOW, allow_nan=False))) if not online else None,
        ))
    jobs = tuple(Job(i, draw(st.sampled_from(REPOS)), frozenset({"self-hosted", *draw(st.sets(st.sampled_from(LABELS), max_size=2))}),
                     draw(st.floats(NOW - 500, NOW, allow_nan=False))) for i in range(draw(st.integers(0, 8))))
    entries = []
    names = [g.name for g in groups] + ["gone"]
    for i in range(draw(st.integers(0, 10))):
        state = draw(st.sampled_from(("queued", "queued", "dispatching", "dispatched")))
        entries.append(Entry(
            i, draw(st.sampled_from(names)), draw(st.sampled_from(("t1", "t2", "t3"))), draw(st.integers(-2, 2)),
            draw(st.integers(0, 20)), state,
            draw(st.sampled_from((None, "queued", "in_progress", "completed"))) if state != "queued" else None,
            draw(st.sampled_from((None, "success", "failure"))),
            draw(st.sampled_from((None, *[r.id for r in runners]))) if state != "queued" else None,
        ))
    history = {p.name: PoolHistory(draw(st.one_of(st.none(), st.floats(NOW - 100, NOW))), draw(st.one_of(st.none(), st.floats(NOW - 100, NOW))))
               for p in pools}
    return pools, groups, Snapshot(tuple(runners), jobs, tuple(entries), history)


PROPERTY_SETTINGS = settings(max_examples=400, deadline=None, database=None, derandomize=True, phases=[Phase.generate, Phase.shrink],
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check_safety(pools: list[PoolSpec], groups: list[GroupSpec], picture: Snapshot, actions: tuple[Action, ...]) -> Snapshot:
    """What must hold for any decision; returns the picture after it."""
    after = apply(pools, picture, actions, NOW)
    by_id = {r.id: r for r in picture.runners}
    # never more than max runners in a pool it launches for
    for p in pools:
        if any(isinstance(a, Launch) and a.pool == p.name for a in actions):
            assert sum(1 for r in after.runners if r.pool == p.name) <= p.max
    # never a busy runner removed, never one the controller did not launch, none twice
    gone = [a.runner for a in actions if isinstance(a, (Remove, Cleanup))]
    assert len(set(gone)) == len(gone)
    for rid in gone:
        assert not by_id[rid].busy and by_id[rid].pool is not None
    # dispatch onto distinct idle runners with the group's labels, not removed at the same time
    dispatches = [a for a in actions if isinstance(a, Dispatch)]
    spec = {g.name: g for g in groups}
    assert len({d.runner for d in dispatches}) == len(dispatches)
    for d in dispatches:
        r = by_id[d.runner]
        assert r.online and not r.busy and d.runner not in gone
        assert spec[d.group].runner_labels <= {lb.lower() for lb in r.labels}
    for g in groups:
        mine = [d.entry for d in dispatches if d.group == g.name]
        in_flight = sum(1 for e in picture.entries if e.group == g.name and e.state in IN_FLIGHT and e.run_status != "completed")
        # never more than max_concurrent in flight
        if g.max_concurrent is not None and mine:
            assert in_flight + len(mine) <= g.max_concurrent
        # priority order: what fires is the head of the group's queue, in order
        queue = sorted((e for e in picture.entries if e.group == g.name and e.state == "queued" and e.template in g.templates), key=entry_order)
        assert mine == [e.id for e in queue[: len(mine)]]
    return after


def one_pool_per_job(pools: list[PoolSpec], picture: Snapshot) -> bool:
    return all(sum(1 for p in pools if j.labels <= p.runner_labels and p.covers(j.repo)) <= 1 for j in picture.jobs)


@PROPERTY_SETTINGS
@given(pictures())
def test_properties_hold_for_any_picture(drawn):
    pools, groups, picture = drawn
    actions = decide(pools, groups, picture, NOW)
    after = check_safety(pools, groups, picture, actions)
    # deterministic, whatever order things were observed in
    shuffled = Snapshot(*(tuple(random.Random(7).sample(list(x), len(x))) for x in (picture.runners, picture.jobs, picture.entries)), picture.history)
    assert decide(pools, groups, shuffled, NOW) == actions
    if one_pool_per_job(pools, picture):
        # idempotent: once done, there is nothing more to do
        assert decide(pools, groups, after, NOW) == ()
    else:
        # a job two pools could run may take the warm runner of the pool that did not launch
        # for it (the other held back, or had no room): that pool tops its min up on the next
        # decision; at most one decision per waiting job settles it
        for _ in range(len(picture.jobs) + 2):
            actions = decide(pools, groups, after, NOW)
            if not actions:
                break
            assert not any(isinstance(a, (Remove, Cleanup, Dispatch, Finish, Fail)) for a in actions), actions
            after = check_safety(pools, groups, after, actions)
        assert actions == ()


def test_launch_pace_lets_a_burst_through_then_paces_it() -> None:
    """Runner registrations: LAUNCH_BURST at once, then one per interval; the bucket refills with time."""
    from gridctl.serve.controller import LaunchPace

    now = [100.0]
    pace = LaunchPace(0.01, burst=3, clock=lambda: now[0])
    assert [pace.wait() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pace.wait() == pytest.approx(0.01)
    assert pace.wait() == pytest.approx(0.02)
    now[0] += 0.08  # eight intervals later: refilled, never beyond the burst
    assert [pace.wait() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pace.wait() == pytest.approx(0.01)
    assert LaunchPace(0.0, burst=1).wait() == 0.0  # no interval (the sandbox, the tests): never waits
