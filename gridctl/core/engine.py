"""Orchestration: read live state, build the plan (pure per scope), apply it (the only writer).

    env = PlanEnv(manifest, state, fp_key, clients)
    plan = build_plan(env)                       # reads GitHub, diffs, checks safety
    report = execute(plan, ApplyContext(env), journal, backend)

Reading runs per account in parallel (``settings.parallelism`` reads in flight per account, each
thread with its own PyGithub instance), every kind of a repository at once; within one repository
the :class:`Reader` memoizes GETs (single-flight) so kinds sharing a repository read it once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import ApplyError, GitHubError, GridctlError, ManifestError, StalePlanError
from ..manifest.model import Manifest
from ..plan import Action, Change, Note, Plan, check_safety
from ..resources import KINDS
from ..resources.base import ApplyContext, ApplyResult, Item, Kind, PlanEnv, Reader, Scope, ScopePlan, live_fp
from ..state.local import State
from .journal import Journal

# -- planning -------------------------------------------------------------------------------------


def plan_scope(kind: Kind, env: PlanEnv, scope: Scope, desired: dict[str, Item], live: dict[str, Item]) -> ScopePlan:
    """The pure diff of one scope: create / update / delete / adopt / forget."""
    out = ScopePlan(live_count=len(live))
    prune = kind.prune(env, scope) and not env.destroy
    state = env.state
    managed_here = set(state.in_scope(kind.name, scope.name))
    seen: set[str] = set()
    for key in sorted(set(desired) | set(live)):
        address = kind.address(scope, key)
        seen.add(address)
        d, lv = desired.get(key), live.get(key)
        st = state.get(address)
        if d is not None and lv is None:
            after = dict(d.attrs)
            if d.fingerprint:
                after["fingerprint"] = d.fingerprint
            out.changes.append(
                Change(
                    address=address, kind=kind.name, action=Action.CREATE, account=scope.account, scope=scope.name,
                    order=kind.change_order(d), before=None, after=after, reason="declared, not on GitHub",
                    reversible=kind.reversible(Action.CREATE), sensitive=kind.sensitive, live_fp=live_fp(None),
                    meta={**d.meta, "key": key, "_scope": scope.to_meta()}, source=d.source,
                )
            )
        elif d is not None and lv is not None:
            diffs, reason = kind.compare(d, lv, st)
            if diffs:
                after = dict(d.attrs)
                if d.fingerprint:
                    after["fingerprint"] = d.fingerprint
                before = {k: lv.attrs.get(k) for k in d.attrs}
                # a kind whose objects GitHub cannot edit (deploy keys) replaces them
                action = Action.REPLACE if kind.replace_on_change else Action.UPDATE
                stamp = lv.meta.get("updated_at") if kind.sensitive else None
                out.changes.append(
                    Change(
                        address=address, kind=kind.name, account=scope.account, scope=scope.name,
                        action=action, order=kind.change_order(d), before=before, after=after, diffs=tuple(diffs),
                        reason=reason or "differs from the manifest", reversible=kind.reversible_change(action, tuple(diffs)),
                        sensitive=kind.sensitive, live_fp=live_fp(before, None, stamp),
                        meta={**lv.meta, **d.meta, "key": key, "_scope": scope.to_meta()}, source=d.source,
                    )
                )
            else:
                entry = kind.state_entry(scope, lv)
                if d.fingerprint:
                    entry["fingerprint"] = (st or {}).get("fingerprint", d.fingerprint)
                if st is None or any(st.get(k) != v for k, v in entry.items()):
                    out.adopt[address] = {**(st or {}), **entry}
                if reason:
                    out.notes.append(Note(address, reason))
        elif lv is not None and d is None and (st is not None or prune):
            out.changes.append(
                Change(
                    address=address, kind=kind.name, action=Action.DELETE, account=scope.account, scope=scope.name,
                    order=kind.change_order(lv), before=dict(lv.attrs), after=None,
                    reason=kind.delete_reason(lv, st) or ("no longer declared" if st is not None else "not declared, and prune is on"),
                    reversible=kind.reversible(Action.DELETE), sensitive=kind.sensitive,
                    live_fp=live_fp(lv.attrs, None, lv.meta.get("updated_at") if kind.sensitive else None),
                    meta={**lv.meta, **kind.delete_meta(env, scope, st), "key": key, "_scope": scope.to_meta()},
                )
            )
    for address in sorted(managed_here - seen):
        out.forget.append(address)  # managed, but gone from GitHub and from the manifest
    if kind.max_per_scope is not None:
        _check_limit(kind, scope, set(live), out)
    return out


def _check_limit(kind: Kind, scope: Scope, live: set[str], out: ScopePlan) -> None:
    """Objects after the apply (live, plus creates, minus deletes) against GitHub's cap."""
    after = set(live)
    for c in out.changes:
        key = str(c.meta.get("key"))
        if c.action == Action.CREATE:
            after.add(key)
        elif c.action == Action.DELETE:
            after.discard(key)
    groups: dict[str, int] = {}
    for key in after:
        g = kind.limit_group(key)
        groups[g] = groups.get(g, 0) + 1
    for g, n in sorted(groups.items()):
        if kind.max_per_scope is not None and n > kind.max_per_scope:
            what = f"{g} {kind.name}" if g else kind.name
            out.problems.append(
                f"{scope.name}: {n} {what} objects after this plan ({len(live)} there now); GitHub allows at most {kind.max_per_scope}"
            )


def _task_key(scope: Scope) -> tuple[str, str]:
    return (scope.account, scope.repo or scope.name)


Unit = Callable[[tuple[str, str], Reader, Kind, Scope], None]


def _read_all(env: PlanEnv, tasks: dict[tuple[str, str], list[tuple[Kind, Scope]]], unit: Unit) -> None:
    """``unit(task, reader, kind, scope)`` for every (kind, scope) of every task (an account's
    repository, organization or user), then the first failure (in task order) is raised.

    Each account has ``settings.parallelism`` read slots (a semaphore its Readers share): that
    many reads in flight for its token, whichever repositories they belong to. Its pool has twice
    as many threads, so a thread waiting for another's read (two kinds needing one listing) or
    comparing what came back holds no slot while the other threads keep the slots busy. A
    repository's kinds run at once, on their own threads, sharing one single-flight
    :class:`Reader`; the repository GET they all start with is read first, on its own, and only
    then are its kinds queued. An account has at most ``2 × parallelism`` tasks under way (the
    next starts as one finishes), so what their Readers hold stays bounded whatever the fleet's
    size.
    """
    total = sum(len(items) for items in tasks.values())
    if not total:
        return
    accounts = sorted({key[0] for key in tasks})
    window = 2 * max(1, env.parallelism)
    pools = {a: ThreadPoolExecutor(max_workers=window, thread_name_prefix=f"gridctl-read-{a}") for a in accounts}
    slots = {a: threading.BoundedSemaphore(max(1, env.parallelism)) for a in accounts}
    lock = threading.Lock()
    left = [total]
    done = threading.Event()
    errors: list[tuple[int, BaseException]] = []
    queued: dict[str, deque[tuple[int, tuple[str, str], list[tuple[Kind, Scope]]]]] = {a: deque() for a in accounts}
    units_left: dict[tuple[str, str], int] = {}
    first = 0
    for task, items in sorted(tasks.items()):
        ordered = sorted(items, key=lambda ks: ks[0].order)
        queued[task[0]].append((first, task, ordered))
        units_left[task] = len(ordered)
        first += len(ordered)

    def finish(index: int, task: tuple[str, str], exc: BaseException | None) -> None:
        nxt = None
        with lock:
            if exc is not None:
                errors.append((index, exc))
            left[0] -= 1
            units_left[task] -= 1
            if units_left[task] == 0 and queued[task[0]]:
                nxt = queued[task[0]].popleft()
            if left[0] == 0:
                done.set()
        if nxt is not None:
            launch(*nxt)

    def one(index: int, task: tuple[str, str], reader: Reader, kind: Kind, scope: Scope) -> None:
        try:
            unit(task, reader, kind, scope)
        except BaseException as exc:  # collected; the first is raised once every read is over
            finish(index, task, exc)
        else:
            finish(index, task, None)

    def start(first: int, task: tuple[str, str], items: list[tuple[Kind, Scope]]) -> None:
        n = 0
        try:
            reader = Reader(env.client(task[0]), slots[task[0]])
            repo = next((scope.repo for _, scope in items if scope.repo), None)
            if repo is not None:
                with contextlib.suppress(Exception):  # remembered by the Reader: its kinds raise it
                    reader.repo(repo)
            for kind, scope in items:
                pools[task[0]].submit(one, first + n, task, reader, kind, scope)
                n += 1
        except BaseException as exc:
            for i in range(n, len(items)):
                finish(first + i, task, exc)

    def launch(first: int, task: tuple[str, str], items: list[tuple[Kind, Scope]]) -> None:
        try:
            pools[task[0]].submit(start, first, task, items)
        except RuntimeError:  # the pool is shut down (an interrupt): nothing more starts
            with lock:
                for q in queued.values():
                    q.clear()

    try:
        for a in accounts:
            for _ in range(window):
                with lock:  # a task that finished meanwhile may have started the next one
                    nxt = queued[a].popleft() if queued[a] else None
                if nxt is None:
                    break
                launch(*nxt)
        done.wait()
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
    if errors:
        raise min(errors, key=lambda e: e[0])[1]


def build_plan(env: PlanEnv) -> Plan:
    """Read every scope, diff it, and assemble the plan (safety checked, targets applied)."""
    tasks: dict[tuple[str, str], list[tuple[Kind, Scope]]] = {}
    for kind in KINDS.values():
        for scope in kind.scopes(env):
            tasks.setdefault(_task_key(scope), []).append((kind, scope))
    results: list[ScopePlan] = []
    existing: dict[tuple[str, str], int] = {}
    lock = threading.Lock()
    left: dict[tuple[str, str], int] = {key: len(items) for key, items in tasks.items()}

    def run(task: tuple[str, str], reader: Reader, kind: Kind, scope: Scope) -> None:
        desired = {} if env.destroy else kind.desired(env, scope)
        live = kind.live(reader, scope)
        sp = plan_scope(kind, env, scope, desired, live)
        with lock:
            results.append(sp)
            existing[(kind.name, scope.name)] = sp.live_count
            left[task] -= 1
            finished = left[task] == 0
        if finished:
            env.say("read", scope.repo or scope.name)

    _read_all(env, tasks, run)
    problems = [p for sp in results for p in sp.problems]
    if problems:
        raise GridctlError("the plan would break GitHub's limits (nothing was written):\n  " + "\n  ".join(sorted(problems)))
    changes = [c for sp in results for c in sp.changes]
    notes = [n for sp in results for n in sp.notes]
    adopt = {a: e for sp in results for a, e in sp.adopt.items()}
    forget = sorted({a for sp in results for a in sp.forget})
    if env.targets:
        changes = _select_targets(changes, env.targets)
        adopt = {a: e for a, e in adopt.items() if _matches_any(a, None, env.targets)}
        forget = [a for a in forget if _matches_any(a, None, env.targets)]
    plan = Plan(
        changes=changes,
        notes=sorted(notes, key=lambda n: n.address),
        manifest_file=str(env.manifest.file),
        manifest_sha256=env.manifest.sha256,
        destroy=env.destroy,
        targets=list(env.targets),
        accounts={a.id: a.login for a in env.manifest.accounts.values()},
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    plan.adopt = adopt
    plan.forget = forget
    _check_unreachable(env, tasks, changes)
    plan.unsafe = check_safety(plan, existing, change_rules(env.manifest))
    _check_prevent_destroy(plan, env)
    if not env.destroy:
        from .checks import run_checks

        diags = run_checks(env, plan)
        plan.diagnostics = diags
        if any(d.severity == "error" for d in diags):
            raise ManifestError(diags)
    return plan


def _check_unreachable(env: PlanEnv, tasks: dict[tuple[str, str], list[tuple[Kind, Scope]]], changes: list[Change]) -> None:
    """Whatever state says gridctl manages is planned or reported: an object whose scope no kind
    planned (its account, repository or section left the manifest) is an error, never a silent
    "No changes" — unless a planned delete of its container (a repository) takes it along."""
    planned = {(kind.name, scope.name) for items in tasks.values() for kind, scope in items}
    containers = [c for c in changes if c.action == Action.DELETE and c.kind in KINDS and KINDS[c.kind].container]
    lost: list[tuple[str, dict[str, object]]] = []
    for address, entry in sorted(env.state.resources.items()):
        kind_name = entry.get("kind")
        if kind_name not in KINDS or (kind_name, entry.get("scope")) in planned:
            continue
        if any(KINDS[c.kind].contains(c, address, entry) for c in containers):
            continue
        if env.targets and not _matches_any(address, str(entry.get("scope")), env.targets):
            continue
        lost.append((address, entry))
    if not lost:
        return
    accounts = env.manifest.accounts
    lines = []
    for address, entry in lost[:25]:
        acc = str(entry.get("account", ""))
        why = f"account {acc} is no longer declared" if acc not in accounts else f"{entry.get('scope')} is no longer declared"
        lines.append(f"  {address}  ({why})")
    if len(lost) > 25:
        lines.append(f"  ... and {len(lost) - 25} more")
    gone = sorted({str(e.get("account")) for _, e in lost if str(e.get("account")) not in accounts})
    way = []
    if gone:
        way.append(
            f"put account(s) {', '.join(gone)} back under `accounts` with `retired: true` and their token: "
            "the plan then deletes what gridctl wrote through them"
        )
    way.append("declare the object again, or its repository/section, so the plan can delete or keep it")
    way.append("a repository renamed on GitHub: gridctl state mv repo:OLD repo:NEW moves it and everything in it")
    way.append("or forget it without touching GitHub: gridctl state rm ADDRESS")
    raise GridctlError(
        f"{len(lost)} object(s) gridctl manages can no longer be planned (nothing here can read or delete them):\n"
        + "\n".join(lines) + "\nWays out: " + "; ".join(way)
    )


def _matches_any(address: str, scope: str | None, targets: list[str]) -> bool:
    for t in targets:
        if address == t or address.startswith(t + ":") or (scope is not None and scope == t) or address.split(":", 1)[0] == t:
            return True
        if scope is not None and scope.startswith(t + " "):
            return True
    return False


def change_rules(manifest: Manifest) -> Callable[[Change], list[str]]:
    """Each kind's safety rules, for :func:`gridctl.plan.check_safety`."""
    own = {r.full_name: manifest.accounts[r.account].login for r in manifest.repos.values()}
    return lambda c: KINDS[c.kind].safety(c, own) if c.kind in KINDS else []


def _select_targets(changes: list[Change], targets: list[str]) -> list[Change]:
    picked = [c for c in changes if _matches_any(c.address, c.scope, targets)]
    # a change inside a scope that is being created (a repository) needs that creation
    scopes_needed = {c.scope.split(" ")[0] for c in picked}
    for c in changes:
        if KINDS[c.kind].container and c.action == Action.CREATE and c.scope in scopes_needed and c not in picked:
            picked.append(c)
    return picked


def _check_prevent_destroy(plan: Plan, env: PlanEnv) -> None:
    blocked = []
    for c in plan.changes:
        if c.action == Action.DELETE and c.meta.get("prevent_destroy"):
            blocked.append(c.address)
    if blocked:
        raise GridctlError(
            "lifecycle.prevent_destroy forbids destroying: " + ", ".join(blocked)
            + " (remove prevent_destroy from the manifest first, or narrow the run with --target)"
        )


# -- applying -------------------------------------------------------------------------------------


@dataclass
class ApplyReport:
    run_id: str
    applied: list[str] = field(default_factory=list)
    failed: str | None = None
    error: str | None = None


def execute(
    plan: Plan,
    ctx: ApplyContext,
    journal: Journal,
    state: State,
    *,
    stale_check: bool = False,
    on_change: Callable[[str, Change, str], None] | None = None,
) -> ApplyReport:
    """Apply ``plan``; stop at the first failure. Every write is journaled (intent, then
    done/failed) and its state update applied to ``state`` in memory; the caller saves
    ``state`` (the journal makes a kill between the two recoverable).

    Writes go out in *lanes*, one per token (:func:`lanes`): each lane is one thread that applies
    its changes in plan order, paced by its token's budget, so k tokens write k times as fast. A
    change waits for the earlier changes of other lanes it depends on (:func:`dependencies`: the
    same repository — a repository before its secrets, an invitation before its acceptance — or
    an account-wide object), so every change still runs after everything it needs. After a
    failure no lane starts another change; those in flight finish and are journaled."""
    report = ApplyReport(run_id=journal.run_id)
    changes = list(plan.changes)
    lane_of = lanes(changes, ctx)
    ctx.deferred = deferred_read_backs(changes)
    after = dependencies(changes, lane_of)
    #: containers (repositories) this run created: what is inside them was planned against
    #: nothing and is what this run made since (a repository's topics exist once it does), so
    #: it cannot be stale — the container's own create was checked
    created: set[str] = set()
    lock = threading.RLock()
    finished = threading.Condition(lock)
    done: set[int] = set()
    failures: list[BaseException] = []

    def say(event: str, change: Change, detail: str) -> None:
        if on_change:
            with lock:
                on_change(event, change, detail)

    def one(i: int) -> None:
        change = changes[i]
        kind = KINDS[change.kind]
        if stale_check and change.live_fp is not None:
            scope = kind.scope_for_change(change)
            with lock:
                fresh = (scope.repo or scope.name) in created
            if not fresh:
                _stale_check(kind, ctx, change, scope)
        say("start", change, "")
        with lock:
            journal.intent(change)
        try:
            result: ApplyResult = kind.apply(ctx, change)
        except (GitHubError, GridctlError) as exc:
            with lock:
                journal.failed(change, str(exc))
                report.failed, report.error = change.address, str(exc)
            say("failed", change, str(exc))
            raise ApplyError(f"{change.address}: {exc}", run_id=journal.run_id, address=change.address) from None
        update = {change.address: result.state, **result.more_state}
        inverse = kind.inverse(change, result)
        with lock:
            journal.done(change, update, inverse, result.result)
            state.apply_update(update)
            report.applied.append(change.address)
            if kind.container and change.action == Action.CREATE:
                created.add(change.scope)
        skipped = result.result.get("skipped")
        say("skipped" if skipped else "done", change, str(skipped or ""))

    def run_lane(indices: list[int]) -> None:
        for i in indices:
            with finished:
                while not failures and not all(j in done for j in after[i]):
                    finished.wait(1.0)
                if failures:
                    return
            try:
                one(i)
            except BaseException as exc:
                with finished:
                    failures.append(exc)
                    finished.notify_all()
                return
            with finished:
                done.add(i)
                finished.notify_all()

    by_lane: dict[object, list[int]] = {}
    for i, lane in enumerate(lane_of):
        by_lane.setdefault(lane, []).append(i)
    if len(by_lane) <= 1:
        for i in range(len(changes)):  # one token: in plan order, in this thread
            one(i)
    else:
        threads = [
            threading.Thread(target=run_lane, args=(indices,), name=f"gridctl-write-{n}", daemon=True)
            for n, indices in enumerate(by_lane.values())
        ]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.5)
        except BaseException as exc:  # an interrupt: no lane starts another change
            with finished:
                failures.append(exc)
                finished.notify_all()
            for t in threads:
                t.join()
            raise
        if failures:
            raise failures[0]
    state.apply_update(plan.adopt)
    for address in plan.forget:
        state.forget(address)
    return report


def deferred_read_backs(changes: list[Change]) -> set[str]:
    """Addresses followed, later in the plan, by a change of the same batch (the last one of a
    batch reads back for all)."""
    out: set[str] = set()
    seen: set[str] = set()
    for c in reversed(changes):
        key = KINDS[c.kind].batch(c)
        if key is None:
            continue
        if key in seen:
            out.add(c.address)
        seen.add(key)
    return out


def lanes(changes: list[Change], ctx: ApplyContext) -> list[object]:
    """Each change's lane: the token its writes go out with (accounts that share a token
    share a lane, and so one pause between writes)."""
    out: list[object] = []
    for c in changes:
        writer = KINDS[c.kind].writer(c)
        client = ctx.env.clients.get(writer)
        out.append(id(client.budget) if client is not None else writer)
    return out


#: the key of an account-wide change: it conflicts with every change of another lane
EVERYTHING = "*"


def _repos_of(change: Change, known: set[str]) -> set[str]:
    """The repositories (lower-case full names) a change touches: its scope's, and any other
    the plan changes that its declared attributes name (a template, selected repositories)."""
    kind = KINDS[change.kind]
    try:
        repo = kind.scope_for_change(change).repo
    except (KeyError, TypeError, AttributeError):  # a change without its scope recorded
        repo = None
    if not repo and kind.container:
        repo = change.scope
    out = {str(repo).lower()} if repo else set()
    for value in (change.after or {}).values():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and v.lower() in known:
                out.add(v.lower())
    return out


def dependencies(changes: list[Change], lane_of: list[object]) -> list[set[int]]:
    """For each change, the earlier changes of *other* lanes it must wait for: per lane, the
    latest one that shares a repository with it, or any one when either is account-wide
    (an organization's secret, a user's Codespaces secret: they may name any repository).
    Earlier changes of its own lane run before it anyway."""
    known: set[str] = set()
    for c in changes:
        known |= _repos_of(c, set())
    latest: dict[object, dict[str, int]] = {}
    last_any: dict[object, int] = {}
    out: list[set[int]] = []
    for i, c in enumerate(changes):
        lane = lane_of[i]
        keys = _repos_of(c, known) or {EVERYTHING}
        deps: set[int] = set()
        for other, seen in latest.items():
            if other == lane:
                continue
            if EVERYTHING in keys:
                deps.add(last_any[other])
                continue
            found = [seen[k] for k in (*keys, EVERYTHING) if k in seen]
            if found:
                deps.add(max(found))
        out.append(deps)
        mine = latest.setdefault(lane, {})
        for k in keys:
            mine[k] = i
        last_any[lane] = i
    return out


def _stale_check(kind: Kind, ctx: ApplyContext, change: Change, scope: Scope) -> None:
    if change.live_fp is None:
        return
    reader = ctx.reader(change.account)
    key = change.meta.get("key") or change.address.rsplit(":", 1)[-1]
    now = kind.refresh(reader, scope, key)
    keys = list((change.before or {}).keys()) if change.before is not None else None
    stamp = now.meta.get("updated_at") if (now is not None and kind.sensitive) else None
    current = live_fp(now.attrs if now is not None else None, keys, stamp)
    if current != change.live_fp:
        state = "gone" if now is None else "different"
        raise StalePlanError(
            f"saved plan is stale: {change.address} is {state} on GitHub since the plan was made; "
            "run gridctl plan again and review the new plan"
        )
