"""The controller's decision: (declared pools and groups, what was observed, now) -> actions.

Pure and deterministic — frozen dataclasses in, a tuple of frozen dataclasses out, no I/O, no
clock, no randomness — so it is tested without GitHub, a database or a process, the way
``plan_scope`` is. The loop around it observes (runners, queued jobs, the dispatch queue),
calls :func:`decide`, and carries out the actions **in the order given** (removals before
launches, so a pool never holds more than ``max`` runners at once). It is level-triggered: a
webhook only wakes the loop; every decision reads the whole picture again.

Matching, as GitHub does it: a job goes to a self-hosted runner that has **every** label of the
job's ``runs-on``, labels compared without regard to case ("Choosing the runner for a job",
https://docs.github.com/en/actions/using-jobs/choosing-the-runner-for-a-job; "labels are
case-insensitive", https://docs.github.com/en/actions/hosting-your-own-runners/managing-self-hosted-runners/using-labels-with-self-hosted-runners),
and a repository's jobs go to its own runners or to its organization's. A runner whose scope is
unknown (``""``) is taken to serve any repository.

The rules, in the order they are applied:

1. **Entries that are over.** An in-flight entry (``dispatching``/``dispatched``) whose run
   completed is finished with the run's conclusion (:class:`Finish`). A queued entry whose group
   is no longer declared, or whose template is no longer in its group, fails (:class:`Fail`).
2. **Cleanup** (:class:`Cleanup`, never a busy runner). A pool's runner registered
   ``online_timeout`` ago or more that never came online is removed — its launcher failed. One
   that was online and has been offline for ``offline_timeout`` or more is an offline leftover
   of a crashed launcher, removed too. An online, idle runner of a pool that is no longer
   declared is removed (:class:`Remove`). Runners not launched by the controller
   (``pool=None``) are never removed; they still take jobs and dispatches.
3. **Queued jobs claim runners.** Oldest job first, each queued job claims one available
   runner that matches it: an idle runner before a starting one (registered by a declared pool,
   not yet online, within its ``online_timeout``), the one idle longest (or registered first),
   then a pool declared earlier before a later one. A job that finds none is *unserved*: it is
   demand for the first declared pool whose runners would match it and that has room under
   ``max`` (else it waits).
4. **Dispatched entries keep their runner.** An in-flight entry whose run has not been seen yet
   keeps the idle runner its dispatch counted on (:attr:`Entry.runner`), so that runner is
   neither given to another entry nor removed while the run is on its way.
5. **Dispatch.** Per group, queued entries in order: highest priority first, then queue position
   (FIFO, as reordered), then id. Across groups the head entry with the highest priority goes
   first (then the oldest). An entry fires (:class:`Dispatch`) only when its group is under
   ``max_concurrent`` (counting entries in flight and those fired in this decision) and an idle
   runner with all the group's labels is unclaimed; it claims that runner. When either fails,
   the group stops for this decision: a lower entry never jumps ahead of a higher one.
6. **Scale up** (:class:`Launch`), per pool in declared order. The pool's *need* is the
   unserved jobs it was given, plus the queued entries of the groups it serves (``pool:``)
   that are allowed to fire (under ``max_concurrent``): queued entries pre-warm their pool
   before they are dispatched. The pool's *spare* runners are its idle and starting runners
   nothing claimed. It launches ``need - spare`` runners for the demand, plus what keeps
   ``min`` runners spare on top of it — never beyond ``max`` runners in all (busy, idle,
   starting and offline ones counted; the ones removed in this decision not). A pool whose
   shortfall is below ``scale_up.threshold``, or whose last scale-up is less than
   ``scale_up.cooldown`` ago, *holds back*: it launches nothing, not even for ``min``, and
   its jobs wait. Nor does any pool top up ``min`` while such a waiting job could run on its
   runners: the job would take that runner — a scale-up by another name. Without waiting
   work, ``min`` is always kept.
7. **Scale down** (:class:`Remove`, never a busy runner, only in a pool that launches nothing in
   this decision). A pool above ``max`` (a reload lowered it) removes spare idle runners, idle
   longest first, down to ``max``. Then idle runners idle for ``idle_timeout`` or more are
   removed, idle longest first, as long as the pool keeps its need plus ``min`` spare — and not
   within ``scale_down.cooldown`` of the last scale-down.

Applying the actions to what was observed and deciding again at the same moment yields no
action when no queued job could run on the runners of two pools (the tests check it), so a loop
that wakes twice does not act twice. When pools overlap so, a job may take the warm runner of a
pool other than the one that launched for it; that pool tops its ``min`` up at the next
decision, and the decisions settle within one step per waiting job, never beyond ``max``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .declare import DEFAULT_OFFLINE_TIMEOUT, DEFAULT_ONLINE_TIMEOUT, GroupSpec, PoolSpec

#: entry states in which a dispatch counts against its group's ``max_concurrent``
IN_FLIGHT = ("dispatching", "dispatched")


# -- what was observed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Runner:
    """A self-hosted runner as last observed. Times are seconds on the loop's clock."""

    #: unique in the snapshot (the controller names its runners uniquely)
    id: str
    #: the runner's labels as GitHub lists them (compared lower-cased)
    labels: frozenset[str]
    online: bool
    busy: bool
    #: when it was registered (a JIT registration)
    launched_at: float
    #: the pool that launched it; None for a runner the controller did not launch
    pool: str | None = None
    #: ``owner/repo`` or ``org:<login>``; "" when unknown (then it serves any repository)
    scope: str = ""
    #: it was online at least once
    seen_online: bool = False
    #: online and not busy since (None: just now)
    idle_since: float | None = None
    #: offline since (None: since it was registered)
    offline_since: float | None = None


@dataclass(frozen=True)
class Job:
    """A queued workflow job waiting for a self-hosted runner."""

    id: int
    #: ``owner/repo``
    repo: str
    #: its ``runs-on`` labels (compared lower-cased)
    labels: frozenset[str]
    queued_at: float


@dataclass(frozen=True)
class Entry:
    """A dispatch queue entry that is not over yet."""

    id: int
    group: str
    template: str
    priority: int
    #: queue position in its group (FIFO; a reorder rewrites it)
    position: int
    #: ``queued``, ``dispatching`` or ``dispatched``
    state: str
    #: the status of its workflow run once seen (``queued``, ``in_progress``, ``completed``)
    run_status: str | None = None
    conclusion: str | None = None
    #: the idle runner its dispatch counted on (set from :attr:`Dispatch.runner`)
    runner: str | None = None


@dataclass(frozen=True)
class PoolHistory:
    """When a pool last scaled, for the cool-downs (the loop records it from the actions)."""

    #: the last decision that launched runners in the pool
    scaled_up_at: float | None = None
    #: the last decision that removed idle runners from it (cleanups do not count)
    scaled_down_at: float | None = None


@dataclass(frozen=True)
class Snapshot:
    runners: tuple[Runner, ...] = ()
    jobs: tuple[Job, ...] = ()
    #: queued and in-flight entries (finished ones need not be given)
    entries: tuple[Entry, ...] = ()
    history: Mapping[str, PoolHistory] = field(default_factory=dict)


# -- what to do -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finish:
    """The entry's run completed: record its conclusion."""

    entry: int
    conclusion: str


@dataclass(frozen=True)
class Fail:
    """The entry can no longer be dispatched."""

    entry: int
    reason: str


@dataclass(frozen=True)
class Cleanup:
    """Delete a registration that is not running: never online, or offline for good."""

    runner: str
    pool: str | None
    reason: str


@dataclass(frozen=True)
class Remove:
    """Unregister an idle runner and stop its launcher (never a busy one)."""

    runner: str
    pool: str | None
    reason: str


@dataclass(frozen=True)
class Dispatch:
    """Fire the entry (record it first, then the ``workflow_dispatch`` POST)."""

    entry: int
    group: str
    template: str
    #: the idle runner this dispatch counts on
    runner: str


@dataclass(frozen=True)
class Launch:
    """Register one ephemeral JIT runner in the pool and start its launcher."""

    pool: str
    #: ``jobs`` (queued jobs), ``queue`` (pre-warming for queued entries) or ``min``
    reason: str


Action = Finish | Fail | Cleanup | Remove | Dispatch | Launch


# -- the decision ---------------------------------------------------------------------------------


def labels_of(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.lower() for n in names)


def serves(runner_scope: str, repo: str) -> bool:
    """Whether a runner registered at ``runner_scope`` may take jobs of ``repo``."""
    if not runner_scope:
        return True
    if runner_scope.startswith("org:"):
        return repo.split("/", 1)[0].lower() == runner_scope[4:].lower()
    return runner_scope.lower() == repo.lower()


def entry_order(e: Entry) -> tuple[int, int, int]:
    """Dispatch order inside a group: highest priority, then queue position, then id."""
    return (-e.priority, e.position, e.id)


class _Picture:
    """The decision's working state: which runners are gone, which are claimed."""

    def __init__(self, pools: Sequence[PoolSpec], snap: Snapshot, now: float):
        self.now = now
        self.pools = {p.name: p for p in pools}
        self.index = {p.name: i for i, p in enumerate(pools)}
        self.runners = sorted(snap.runners, key=lambda r: r.id)
        self.labels = {r.id: labels_of(r.labels) for r in self.runners}
        self.gone: set[str] = set()
        self.claimed: set[str] = set()

    def starting(self, r: Runner) -> bool:
        """Registered by a declared pool, not online yet, within its ``online_timeout``."""
        spec = self.pools.get(r.pool or "")
        if r.online or r.busy or r.seen_online or spec is None:
            return False
        return self.now - r.launched_at < spec.online_timeout

    def idle(self, r: Runner) -> bool:
        return r.online and not r.busy

    def free(self, r: Runner) -> bool:
        return r.id not in self.gone and r.id not in self.claimed and (self.idle(r) or self.starting(r))

    def since(self, r: Runner) -> float:
        return self.now if r.idle_since is None else r.idle_since

    def key(self, r: Runner, prefer: str | None = None) -> tuple[int, int, float, int, str]:
        """Which free runner to take first: idle before starting, ``prefer``'s pool first, the
        one idle longest (or registered first), pools in declared order (others last), then id.
        A runner launched now sorts after every other: deciding again after the launches takes
        the same runners as before."""
        pool_rank = self.index.get(r.pool or "", len(self.index))
        when = self.since(r) if self.idle(r) else r.launched_at
        return (0 if self.idle(r) else 1, 0 if prefer is not None and r.pool == prefer else 1, when, pool_rank, r.id)

    def mine(self, pool: str) -> list[Runner]:
        return [r for r in self.runners if r.pool == pool and r.id not in self.gone]


def decide(pools: Sequence[PoolSpec], groups: Sequence[GroupSpec], snap: Snapshot, now: float) -> tuple[Action, ...]:
    """The actions that bring the fleet and the queue toward what is declared (see the module
    docstring for the rules), in the order the loop must carry them out."""
    pic = _Picture(pools, snap, now)
    by_group = {g.name: g for g in groups}
    over: list[Action] = []
    entries = _entries_over(snap.entries, by_group, over)
    cleanups = _cleanups(pic)
    unserved = _claim_for_jobs(pic, snap.jobs)
    _keep_dispatch_runners(pic, entries)
    dispatches, in_flight = _dispatch(pic, groups, entries)
    demand = _assign(pic, pools, unserved)
    queued = {g.name: sum(1 for e in entries if e.group == g.name and e.state == "queued") - sum(1 for d in dispatches if d.group == g.name) for g in groups}
    # first pass: what each pool needs, and whether it holds back (threshold, cool-down)
    needs: dict[str, tuple[int, int, bool]] = {}
    waiting: list[Job] = []
    for p in pools:
        mine = demand.get(p.name, [])
        prewarm = 0
        for g in groups:
            if g.pool == p.name and g.runner_labels <= p.runner_labels:
                prewarm += queued[g.name] if g.max_concurrent is None else max(0, min(queued[g.name], g.max_concurrent - in_flight[g.name]))
        lacking = len(mine) + prewarm - len(_spare(pic, p))
        hist = snap.history.get(p.name, PoolHistory())
        cooling = hist.scaled_up_at is not None and now - hist.scaled_up_at < p.scale_up_cooldown
        held = lacking > 0 and (lacking < p.scale_up_threshold or cooling)
        if held:
            waiting.extend(mine)
        needs[p.name] = (len(mine), prewarm, held)
    # second pass: launches, else removals
    launches: list[Action] = []
    removals: list[Action] = []
    for p in pools:
        jobs, prewarm, held = needs[p.name]
        starved = any(labels_of(j.labels) <= p.runner_labels and p.covers(j.repo) for j in waiting)
        reasons = [] if held else _scale_up(pic, p, jobs, prewarm, keep_min=not starved)
        launches.extend(Launch(p.name, reason) for reason in reasons)
        if not reasons:
            removals.extend(_scale_down(pic, p, jobs + prewarm, snap.history.get(p.name, PoolHistory())))
    return (*over, *cleanups, *removals, *dispatches, *launches)


def _entries_over(entries: Iterable[Entry], by_group: Mapping[str, GroupSpec], out: list[Action]) -> list[Entry]:
    """Rule 1; returns the entries still active."""
    active = []
    for e in sorted(entries, key=lambda x: x.id):
        if e.state in IN_FLIGHT and e.run_status == "completed":
            out.append(Finish(e.id, e.conclusion or "unknown"))
            continue
        if e.state == "queued":
            g = by_group.get(e.group)
            if g is None:
                out.append(Fail(e.id, f"dispatch group {e.group} is no longer declared"))
                continue
            if e.template not in g.templates:
                out.append(Fail(e.id, f"template {e.template} is no longer in dispatch group {e.group}"))
                continue
        elif e.state not in IN_FLIGHT:
            continue  # over already (completed, failed, cancelled): nothing to decide
        active.append(e)
    return active


def _cleanups(pic: _Picture) -> list[Action]:
    """Rule 2."""
    out: list[Action] = []
    for r in pic.runners:
        if r.busy or r.pool is None:
            continue
        spec = pic.pools.get(r.pool)
        if not r.online:
            if not r.seen_online:
                timeout = spec.online_timeout if spec else DEFAULT_ONLINE_TIMEOUT
                if pic.now - r.launched_at >= timeout:
                    out.append(Cleanup(r.id, r.pool, f"registered {timeout:g}s ago or more and never online"))
                    pic.gone.add(r.id)
            else:
                timeout = spec.offline_timeout if spec else DEFAULT_OFFLINE_TIMEOUT
                since = r.launched_at if r.offline_since is None else r.offline_since
                if pic.now - since >= timeout:
                    out.append(Cleanup(r.id, r.pool, f"offline for {timeout:g}s or more (its launcher stopped)"))
                    pic.gone.add(r.id)
        elif spec is None:
            out.append(Remove(r.id, r.pool, f"pool {r.pool} is no longer declared"))
            pic.gone.add(r.id)
    return out


def _matches(pic: _Picture, r: Runner, labels: frozenset[str], repo: str | None) -> bool:
    return labels <= pic.labels[r.id] and (repo is None or serves(r.scope, repo))


def _claim_for_jobs(pic: _Picture, jobs: Iterable[Job]) -> list[Job]:
    """Rule 3; returns the unserved jobs, oldest first."""
    unserved = []
    for job in sorted(jobs, key=lambda j: (j.queued_at, j.id)):
        want = labels_of(job.labels)
        found = [r for r in pic.runners if pic.free(r) and _matches(pic, r, want, job.repo)]
        if found:
            pic.claimed.add(min(found, key=pic.key).id)
        else:
            unserved.append(job)
    return unserved


def _keep_dispatch_runners(pic: _Picture, entries: Iterable[Entry]) -> None:
    """Rule 4."""
    by_id = {r.id: r for r in pic.runners}
    for e in entries:
        if e.state in IN_FLIGHT and e.run_status is None and e.runner is not None:
            r = by_id.get(e.runner)
            if r is not None and pic.idle(r) and pic.free(r):
                pic.claimed.add(r.id)


def _dispatch(pic: _Picture, groups: Sequence[GroupSpec], entries: list[Entry]) -> tuple[list[Dispatch], dict[str, int]]:
    """Rule 5; returns the dispatches and each group's in-flight count after them."""
    in_flight = {g.name: sum(1 for e in entries if e.group == g.name and e.state in IN_FLIGHT) for g in groups}
    queues = {g.name: sorted((e for e in entries if e.group == g.name and e.state == "queued"), key=entry_order) for g in groups}
    spec = {g.name: g for g in groups}
    out: list[Dispatch] = []
    open_groups = [g.name for g in groups if queues[g.name]]
    while open_groups:
        name = min(open_groups, key=lambda n: (-queues[n][0].priority, queues[n][0].id))
        g = spec[name]
        head = queues[name][0]
        if g.max_concurrent is not None and in_flight[name] >= g.max_concurrent:
            open_groups.remove(name)
            continue
        want = g.runner_labels
        found = [r for r in pic.runners if pic.idle(r) and pic.free(r) and _matches(pic, r, want, None)]
        if not found:
            open_groups.remove(name)
            continue
        runner = min(found, key=lambda r: pic.key(r, g.pool))
        pic.claimed.add(runner.id)
        out.append(Dispatch(head.id, name, head.template, runner.id))
        in_flight[name] += 1
        queues[name].pop(0)
        if not queues[name]:
            open_groups.remove(name)
    return out, in_flight


def _assign(pic: _Picture, pools: Sequence[PoolSpec], unserved: list[Job]) -> dict[str, list[Job]]:
    """Unserved jobs -> the first declared pool that would match them and has room."""
    room = {p.name: p.max - len(pic.mine(p.name)) for p in pools}
    out: dict[str, list[Job]] = {}
    for job in unserved:
        want = labels_of(job.labels)
        for p in pools:
            if want <= p.runner_labels and p.covers(job.repo) and room[p.name] > 0:
                room[p.name] -= 1
                out.setdefault(p.name, []).append(job)
                break
    return out


def _spare(pic: _Picture, p: PoolSpec) -> list[Runner]:
    return [r for r in pic.mine(p.name) if pic.free(r)]


def _scale_up(pic: _Picture, p: PoolSpec, jobs: int, prewarm: int, *, keep_min: bool) -> list[str]:
    """Rule 6 for a pool that does not hold back: the reason of each runner to launch."""
    room = p.max - len(pic.mine(p.name))
    if room <= 0:
        return []
    spare = len(_spare(pic, p))
    need = jobs + prewarm
    keep = min(p.min, p.max) if keep_min else 0
    if need > spare:
        # spare runners go to the oldest demand first: jobs, then queued entries
        for_jobs = max(0, jobs - spare)
        reasons = ["jobs"] * for_jobs + ["queue"] * (need - spare - for_jobs) + ["min"] * keep
    else:
        reasons = ["min"] * max(0, keep - (spare - need))
    return reasons[:room]


def _scale_down(pic: _Picture, p: PoolSpec, need: int, hist: PoolHistory) -> list[Action]:
    """Rule 7."""
    out: list[Action] = []
    idle = sorted((r for r in _spare(pic, p) if pic.idle(r)), key=lambda r: (pic.since(r), r.id))
    excess = len(pic.mine(p.name)) - p.max
    while excess > 0 and idle:
        r = idle.pop(0)
        out.append(Remove(r.id, p.name, f"pool {p.name} is above its max of {p.max}"))
        pic.gone.add(r.id)
        excess -= 1
    cooling = hist.scaled_down_at is not None and pic.now - hist.scaled_down_at < p.scale_down_cooldown
    if cooling:
        return out
    removable = len(_spare(pic, p)) - need - min(p.min, p.max)
    for r in idle:
        if removable <= 0:
            break
        if pic.now - pic.since(r) >= p.idle_timeout:
            out.append(Remove(r.id, p.name, f"idle for {p.idle_timeout:g}s or more"))
            pic.gone.add(r.id)
            removable -= 1
    return out
