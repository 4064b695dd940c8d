"""Orchestration: read live state, build the plan (pure per scope), apply it (the only writer).

    env = PlanEnv(manifest, state, fp_key, clients)
    plan = build_plan(env)                       # reads GitHub, diffs, checks safety
    report = execute(plan, ApplyContext(env), journal, backend)

Reading runs per account in parallel (``settings.parallelism`` readers per account, each thread
with its own PyGithub instance); within one task the :class:`Reader` memoizes GETs so kinds
sharing a repository read it once.
"""

from __future__ import annotations

import threading
import time
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
    managed_here = {
        a for a, e in state.resources.items() if e.get("kind") == kind.name and e.get("scope") == scope.name
    }
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
                    order=kind.order, before=None, after=after, reason="declared, not on GitHub",
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
                        action=action, order=kind.order, before=before, after=after, diffs=tuple(diffs),
                        reason=reason or "differs from the manifest", reversible=kind.reversible(action),
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
                    order=kind.order, before=dict(lv.attrs), after=None,
                    reason=kind.delete_reason(lv, st) or ("no longer declared" if st is not None else "not declared, and prune is on"),
                    reversible=kind.reversible(Action.DELETE), sensitive=kind.sensitive,
                    live_fp=live_fp(lv.attrs, None, lv.meta.get("updated_at") if kind.sensitive else None),
                    meta={**lv.meta, **kind.delete_meta(env, scope, st), "key": key, "_scope": scope.to_meta()},
                )
            )
    for address in sorted(managed_here - seen):
        out.forget.append(address)  # managed, but gone from GitHub and from the manifest
    return out


def _task_key(scope: Scope) -> tuple[str, str]:
    return (scope.account, scope.repo or scope.name)


def build_plan(env: PlanEnv) -> Plan:
    """Read every scope, diff it, and assemble the plan (safety checked, targets applied)."""
    tasks: dict[tuple[str, str], list[tuple[Kind, Scope]]] = {}
    for kind in KINDS.values():
        for scope in kind.scopes(env):
            tasks.setdefault(_task_key(scope), []).append((kind, scope))
    semaphores = {a: threading.Semaphore(env.parallelism) for a in env.clients}
    results: list[ScopePlan] = []
    existing: dict[tuple[str, str], int] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run(items: list[tuple[Kind, Scope]]) -> None:
        account = items[0][1].account
        with semaphores[account]:
            reader = Reader(env.client(account))
            for kind, scope in sorted(items, key=lambda ks: ks[0].order):
                desired = {} if env.destroy else kind.desired(env, scope)
                live = kind.live(reader, scope)
                sp = plan_scope(kind, env, scope, desired, live)
                with lock:
                    results.append(sp)
                    existing[(kind.name, scope.name)] = sp.live_count
            env.say("read", items[0][1].repo or items[0][1].name)

    workers = max(1, min(64, env.parallelism * max(1, len(env.clients))))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gridctl-read") as pool:
        futures = [pool.submit(run, items) for _, items in sorted(tasks.items())]
        for f in futures:
            try:
                f.result()
            except BaseException as exc:  # collect, then raise the first
                errors.append(exc)
    if errors:
        raise errors[0]
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
    plan.unsafe = check_safety(plan, existing, change_rules(env.manifest))
    _check_prevent_destroy(plan, env)
    if not env.destroy:
        from .checks import run_checks

        diags = run_checks(env, plan)
        plan.diagnostics = diags
        if any(d.severity == "error" for d in diags):
            raise ManifestError(diags)
    return plan


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
    """Apply ``plan`` in order; stop at the first failure. Every write is journaled (intent,
    then done/failed) and its state update applied to ``state`` in memory; the caller saves
    ``state`` (the journal makes a kill between the two recoverable)."""
    report = ApplyReport(run_id=journal.run_id)
    for change in plan.changes:
        kind = KINDS[change.kind]
        if stale_check:
            _stale_check(kind, ctx, change)
        if on_change:
            on_change("start", change, "")
        journal.intent(change)
        try:
            result: ApplyResult = kind.apply(ctx, change)
        except (GitHubError, GridctlError) as exc:
            journal.failed(change, str(exc))
            report.failed, report.error = change.address, str(exc)
            if on_change:
                on_change("failed", change, str(exc))
            raise ApplyError(f"{change.address}: {exc}", run_id=journal.run_id, address=change.address) from None
        update = {change.address: result.state, **result.more_state}
        inverse = kind.inverse(change, result)
        journal.done(change, update, inverse, result.result)
        state.apply_update(update)
        report.applied.append(change.address)
        if on_change:
            skipped = result.result.get("skipped")
            on_change("skipped" if skipped else "done", change, str(skipped or ""))
    state.apply_update(plan.adopt)
    for address in plan.forget:
        state.forget(address)
    return report


def _stale_check(kind: Kind, ctx: ApplyContext, change: Change) -> None:
    if change.live_fp is None:
        return
    scope = kind.scope_for_change(change)
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
