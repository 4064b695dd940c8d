"""One gridctl run: the manifest, the working folder, a client per account, the state.

    with Session.open("grid.yaml", sandbox=True) as s:
        plan = s.plan()
        s.apply(plan, auto_approve=True)

``open`` loads and validates the manifest (no API call for a bad one), builds one client per
account, and checks each token once (``GET /user``: the login matches the account, and the
token's scopes cover what this manifest needs). The state is locked for the whole run, except
by a read-only one such as ``plan`` (see :meth:`Session._load_state`).

The token checks run in the background (:class:`TokenChecks`) while the run goes on: an
account's client sends nothing before its own token passed, no client writes before every token
passed, and ``plan``, ``apply`` and the end of ``open`` wait for all of them — so a plan's reads
start one round trip after the start (its own token's check), not after the slowest account's,
and a refused token still fails the run before anything is written, with the same message.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import (
    AuthError,
    Diagnostic,
    GitHubError,
    GridctlError,
    PermissionsError,
    StateLockedError,
    UnsafePlanError,
)
from ..fleet.taskqueue import QueueError, TaskQueue, find_queue
from ..github.app import AppCredentials, InstallationTokens
from ..github.budget import Budget
from ..github.client import AccountClient, EtagCache, api_url_and_origin, api_url_from_env
from ..github.retry import RetryPolicy
from ..github.scopes import APP_PERMISSIONS, permission_covers, satisfied
from ..manifest.model import Account, Manifest
from ..manifest.sources import Sensitive
from ..plan import Plan
from ..resources import KINDS, load_manifest
from ..resources.base import ApplyContext, PlanEnv
from ..state.github import token_scopes as state_token_scopes
from ..state.local import READ_ONLY_OPERATIONS, LocalBackend, State, fingerprint_key
from .engine import ApplyReport, build_plan, execute
from .journal import Journal, has_ended, new_run_id, recover, runs

log = logging.getLogger("gridctl.session")


@dataclass
class Options:
    api_url: str | None = None
    sandbox: bool = False
    workdir: Path | None = None
    parallelism: int | None = None
    write_interval: float | None = None
    policy: RetryPolicy | None = None
    progress: Callable[[str, str], None] | None = None
    #: skip the token/scope check (the embedded sandbox's tokens are known good)
    check_tokens: bool = True


#: operations whose reads go on while the tokens are checked (:meth:`Session.plan` and
#: :meth:`Session.apply` wait for the checks); any other waits for them before it starts
OVERLAPPED_CHECKS = frozenset({"plan", "apply", "destroy"})
_CHECKING = threading.local()


class TokenChecks:
    """The token checks of one session, one background thread per account (at most 16).

    :meth:`gate` is each client's gate (``AccountClient.gate``), asked before every request: a
    read of an account waits for that account's check, a write for every check, and a failed
    check raises the run's token error (:meth:`join`) instead of sending anything; so does any
    request once a problem was found without a request (an app installation lacking a
    permission). Requests made by a check itself (``GET /user``, an organization membership)
    pass the gate."""

    def __init__(self, accounts: list[Account], check: Callable[[Account], list[str]], earlier: list[str | Diagnostic]):
        self._order = [acc.id for acc in accounts]
        self._earlier = earlier  # problems found without a request (app accounts)
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(16, len(accounts))), thread_name_prefix="gridctl-token")

        def run(acc: Account) -> list[str]:
            _CHECKING.active = True
            try:
                return check(acc)
            finally:
                _CHECKING.active = False

        self._futures: dict[str, Future[list[str]]] = {acc.id: self._pool.submit(run, acc) for acc in accounts}
        self._outcome: BaseException | None = None
        self._joined = False
        self._lock = threading.Lock()

    def gate(self, account_id: str, verb: str) -> None:
        if getattr(_CHECKING, "active", False):
            return
        if verb != "GET" or self._earlier:
            self.join()
            return
        future = self._futures.get(account_id)
        if future is None:
            return
        if future.exception() is not None or future.result():
            self.join()  # raises this run's token error

    def join(self) -> None:
        """Wait for every check, then raise what the checks found, as one error (the first
        check to fail in manifest order raises its own error, as a check run alone would)."""
        with self._lock:
            if not self._joined:
                self._joined = True
                self._outcome = self._collect()
                self._pool.shutdown(wait=False)
        if self._outcome is not None:
            raise self._outcome

    def _collect(self) -> BaseException | None:
        problems: list[str | Diagnostic] = list(self._earlier)
        for account_id in self._order:
            future = self._futures[account_id]
            exc = future.exception()
            if exc is not None:
                return exc
            problems.extend(future.result())
        if any(isinstance(p, Diagnostic) for p in problems):
            return PermissionsError([p if isinstance(p, Diagnostic) else Diagnostic("error", p) for p in problems])
        if problems:
            return AuthError("\n".join(str(p) for p in problems))
        return None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def workdir_for(manifest_file: Path, explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get("GRIDCTL_WORKDIR")
    if env:
        return Path(env)
    return manifest_file.resolve().parent / ".gridctl"


def required_scopes(m: Manifest) -> dict[str, dict[str, str]]:
    """For each account: scope -> the manifest entry that needs it (the first one asking)."""
    need: dict[str, dict[str, str]] = {a: {} for a in m.accounts}
    for kind in KINDS.values():
        for account, scope, why in kind.token_scopes(m):
            if account in need:
                need[account].setdefault(scope, why)
    for account, scope, why in state_token_scopes(m):
        if account in need:
            need[account].setdefault(scope, why)
    return need


def required_permissions(m: Manifest) -> dict[str, dict[tuple[str, str], str]]:
    """For each account: (GitHub App permission, level) -> the manifest entry that needs it."""
    need: dict[str, dict[tuple[str, str], str]] = {a: {} for a in m.accounts}
    for kind in KINDS.values():
        for account, permission, level, why in kind.app_permissions(m):
            if account in need:
                need[account].setdefault((permission, level), why)
    for account, scope, why in state_token_scopes(m):
        for permission, level in APP_PERMISSIONS.get(scope, ()):
            if account in need:
                need[account].setdefault((permission, level), why)
    return need


def app_key(m: Manifest, acc: Account) -> Sensitive:
    """An app account's private key, read from its source now (load_manifest without tokens
    leaves it unread)."""
    from ..errors import SourceError
    from ..manifest.sources import read_source

    assert acc.app is not None
    if acc.app.private_key is None:
        try:
            acc.app.private_key = Sensitive(read_source(acc.app.key_source, m.root, allow_outside=True).strip())
        except SourceError as exc:
            raise AuthError(f"account {acc.id}: the app's private key is unavailable: {exc}") from None
    return acc.app.private_key


def installation_tokens(acc: Account, base_url: str, policy: RetryPolicy) -> InstallationTokens:
    """The token provider of an app account, connected: the installation found (and checked to
    be on the account's user or organization) and a first token minted."""
    app = acc.app
    assert app is not None and app.private_key is not None
    creds = AppCredentials(app.app_id, app.private_key, app.installation, app.repositories, app.permissions)
    provider = InstallationTokens(acc.id, creds, base_url, policy=policy)
    inst = provider.connect()
    owner = str((inst.get("account") or {}).get("login", ""))
    if owner.lower() != acc.login.lower():
        raise AuthError(f"account {acc.id}: the app's installation {inst.get('id')} is on {owner or 'another account'}, not {acc.login}")
    return provider


def bot_of(installation: dict[str, Any]) -> str:
    """The login an installation's changes are made by (``<app slug>[bot]``)."""
    slug = installation.get("app_slug")
    return f"{slug}[bot]" if slug else "app[bot]"


def app_problems(m: Manifest, acc: Account, provider: InstallationTokens, needs: dict[tuple[str, str], str]) -> list[Diagnostic]:
    """What the installation's permissions (as its token has them) do not cover, each at the
    manifest entry that needs it."""
    out = []
    granted = provider.permissions
    for (permission, level), why in sorted(needs.items()):
        if permission_covers(granted.get(permission), level):
            continue
        has = granted.get(permission)
        summary = (f"account {acc.id}: the GitHub App installation lacks the permission {permission}: {level} "
                   f"(it has {permission}: {has})" if has else
                   f"account {acc.id}: the GitHub App installation lacks the permission {permission}: {level}")
        out.append(locate(m, why, summary + f", needed by {why}",
                          "grant it in the app's settings (Permissions), then accept the new permissions on the installation"))
    return out


def locate(m: Manifest, why: str, summary: str, detail: str = "") -> Diagnostic:
    """A diagnostic at the manifest entry a kind names (``repos.acme/x.secrets``...)."""
    head = why.split(" (", 1)[0]
    best: tuple[Any, ...] | None = None
    for path in m.positions.keys:
        dotted = ".".join(str(p) for p in path)
        if (head == dotted or head.startswith(dotted + ".")) and (best is None or len(path) > len(best)):
            best = path
    return m.positions.diag(best, summary, detail, key=True) if best is not None else Diagnostic("error", summary, detail)


@dataclass
class Session:
    manifest: Manifest
    options: Options
    workdir: Path
    clients: dict[str, AccountClient] = field(default_factory=dict)
    #: the installation tokens of the accounts that are GitHub Apps
    providers: dict[str, InstallationTokens] = field(default_factory=dict)
    backend: LocalBackend | Any = None
    state: State | None = None
    run_id: str = ""
    _sandbox: Any = None
    _lock: Any = None
    _checks: TokenChecks | None = None

    @classmethod
    @contextlib.contextmanager
    def open(cls, manifest_file: str | Path, options: Options | None = None, *, operation: str = "plan") -> Iterator[Session]:
        options = options or Options()
        path = Path(manifest_file)
        manifest = load_manifest(path, tokens=not options.sandbox)
        workdir = workdir_for(path, options.workdir)
        session = cls(manifest, options, workdir)
        session.run_id = new_run_id()
        try:
            session._connect()
            session.backend = session._backend()
            if operation not in OVERLAPPED_CHECKS:
                session.tokens_checked()
            with session.backend.lock(session.run_id, operation):
                session._load_state(operation)
                session._sticky_spread()
                yield session
                session.tokens_checked()
        finally:
            session.close()

    @classmethod
    @contextlib.contextmanager
    def connect(cls, manifest_file: str | Path, options: Options | None = None, *, accounts: list[str] | None = None) -> Iterator[Session]:
        """Clients without the state lock, for commands that change no gridctl state
        (dispatch, runners status): a cron pass or a long ``--wait`` never blocks an apply.
        With ``accounts``, only those accounts' tokens are read and checked."""
        from ..errors import SourceError
        from ..manifest.sources import Sensitive, read_source

        options = options or Options()
        path = Path(manifest_file)
        manifest = load_manifest(path, tokens=False)
        wanted = set(accounts) if accounts is not None else set(manifest.accounts)
        if not options.sandbox:
            for acc in manifest.accounts.values():
                if acc.id in wanted and acc.app is not None:
                    app_key(manifest, acc)
                elif acc.id in wanted:
                    try:
                        acc.token = Sensitive(read_source(acc.token_source, manifest.root, allow_outside=True).strip())
                    except SourceError as exc:
                        raise AuthError(f"account {acc.id}: token source unavailable: {exc}") from None
        session = cls(manifest, options, workdir_for(path, options.workdir))
        try:
            session._connect(only=wanted)
            session.tokens_checked()
            yield session
        finally:
            session.close()

    def _load_state(self, operation: str) -> None:
        """Read the state and replay what interrupted runs left in the journal.

        A read-only operation (``plan``) holds no lock. When another run holds it (an apply in
        progress) it reads the state as last written and replays nothing: that run's journal is
        open, not interrupted. Otherwise the local backend's lock is taken for the replay only."""
        backend = self.backend
        if backend.busy is not None:
            self.say(
                "warning",
                f"the state is locked by {backend.busy}: an apply is in progress; this {operation} reads the state "
                "as last written and replays no journal",
            )
            self.state = backend.read()
            return
        if operation in READ_ONLY_OPERATIONS and isinstance(backend, LocalBackend):
            if all(has_ended(p) for p in runs(self.workdir)):
                self.state = backend.read()
                return
            try:
                with backend.lock(self.run_id, f"{operation}: journal replay"):
                    self._replay()
            except StateLockedError:  # an apply took the lock in between
                backend.busy = backend.holder() or "another gridctl run"
                self._load_state(operation)
            return
        self._replay()

    def _replay(self) -> None:
        self.state = self.backend.read()
        recovered = recover(self.workdir, self.state, lambda m: self.say("warning", m))
        if recovered:
            self.backend.write(self.state)
            self.say("recovered", f"state updates from interrupted run(s) {', '.join(recovered)}")

    def say(self, event: str, detail: str) -> None:
        if self.options.progress:
            self.options.progress(event, detail)

    # -- connecting -------------------------------------------------------------------------------
    def _connect(self, only: set[str] | None = None) -> None:
        m = self.manifest
        tokens: dict[str, Any]
        if self.options.sandbox:
            from ..sandbox.embedded import EmbeddedSandbox

            self._sandbox = EmbeddedSandbox(self.workdir)
            base_url, tokens = self._sandbox.start(m)
            write_interval = 0.0
        else:
            base_url, origin = api_url_and_origin(self.options.api_url)
            log.debug("GitHub API at %s (from %s)", base_url, origin)
            tokens = {a.id: a.token for a in m.accounts.values()}
            write_interval = float(m.settings.get("write_interval", 1.0))
        if os.environ.get("GRIDCTL_WRITE_INTERVAL"):
            write_interval = float(os.environ["GRIDCTL_WRITE_INTERVAL"])
        if self.options.write_interval is not None:
            write_interval = self.options.write_interval
        cache_dir = self.workdir / "cache"
        # GitHub's limits are the token's: accounts driven by one token share one budget
        budgets: dict[str, Budget] = {}
        policy = self.options.policy or RetryPolicy.from_env()
        # a policy that sleeps in its own way (tests move a sandbox's clock) paces the budget too
        budget_sleep = None if policy.sleep is time.sleep else policy.sleep
        for acc in m.accounts.values():
            if only is not None and acc.id not in only:
                continue
            policy = self.options.policy or RetryPolicy.from_env()
            token = tokens[acc.id]
            if acc.app is not None and not self.options.sandbox:
                # the embedded sandbox drives an app account with its organization owner's token
                token = self.providers[acc.id] = installation_tokens(acc, base_url, policy)
            if token is None:
                raise AuthError(f"account {acc.id}: no token")
            # an installation's limits are the installation's, whichever of its tokens is current
            budget_key = f"app:{acc.id}" if acc.id in self.providers else hashlib.sha256(token.reveal().encode()).hexdigest()
            client = self.clients[acc.id] = AccountClient(
                acc.id,
                token,
                base_url,
                policy=policy,
                cache=EtagCache(cache_dir / f"{acc.id}.json"),
                write_interval=write_interval,
                budget=budgets.setdefault(budget_key, Budget(sleep=budget_sleep)),
            )
            if acc.id in self.providers:
                client.login = bot_of(self.providers[acc.id].installation or {})
        if self.options.check_tokens:
            self._start_token_checks()

    def _start_token_checks(self) -> None:
        """Start checking every token (one round trip for all of them, in the background); each
        client's gate waits for what it needs (:class:`TokenChecks`)."""
        needs = required_scopes(self.manifest)
        needs_app = required_permissions(self.manifest) if self.providers else {}
        earlier: list[str | Diagnostic] = []
        present = [acc for acc in self.manifest.accounts.values() if acc.id in self.clients]
        for acc in present:
            if acc.id in self.providers:
                earlier.extend(app_problems(self.manifest, acc, self.providers[acc.id], needs_app.get(acc.id, {})))
        checked = [acc for acc in present if acc.id not in self.providers]

        def check(acc: Account) -> list[str]:
            client = self.clients[acc.id]
            login, scopes = client.whoami()
            if not acc.is_org and login.lower() != acc.login.lower():
                return [f"account {acc.id}: the token belongs to {login}, not {acc.login}"]
            if acc.is_org:
                try:
                    membership = client.get(f"/orgs/{acc.login}/memberships/{login}")
                except GitHubError as exc:
                    if exc.status != 403:
                        raise
                    membership = None  # GitHub answers 403 to a non-member
                if not membership or membership.get("role") != "admin":
                    return [f"account {acc.id}: {login} (the token's user) is not an owner of the organization {acc.login}"]
            if scopes is None:
                return []  # fine-grained tokens and apps do not report scopes
            return [f"account {acc.id}: token lacks scope {scope}, needed by {why}"
                    for scope, why in sorted(needs.get(acc.id, {}).items()) if not satisfied(scope, scopes)]

        self._checks = checks = TokenChecks(checked, check, earlier)
        for acc in present:
            self.clients[acc.id].gate = lambda verb, a=acc.id: checks.gate(a, verb)

    def _check_tokens(self) -> None:
        """Check every token now (what ``open`` does in the background)."""
        self._start_token_checks()
        self.tokens_checked()

    def tokens_checked(self) -> None:
        """Wait for the token checks; raise what they found (again, if asked again)."""
        if self._checks is not None:
            self._checks.join()

    def _backend(self) -> Any:
        st = self.manifest.state
        if st.backend == "github":
            from ..state.github import GitHubBackend  # issue: shared state on GitHub

            return GitHubBackend(self, st)
        return LocalBackend(self.workdir)

    # -- key spread ---------------------------------------------------------------------------------
    def _sticky_spread(self) -> None:
        """Re-spread keys keeping each where the last apply put it (state holds each account's
        share as HMAC fingerprints, never values), so a replaced key moves alone."""
        from ..manifest.keys import spread

        assert self.state is not None
        key = fingerprint_key(self.workdir)
        for ks in self.manifest.keys.values():
            if not ks.spread_over or not ks.values:
                continue
            entry = self.state.get(f"keyspread:{ks.id}") or {}
            previous = {a: set(fps) for a, fps in (entry.get("shares") or {}).items()}
            ks.shares, _ = spread(ks.values, ks.spread_over, ks.per_account, previous, lambda v: v.fingerprint(key))

    def _record_spread(self) -> None:
        assert self.state is not None
        key = fingerprint_key(self.workdir)
        for ks in self.manifest.keys.values():
            if not ks.spread_over or not ks.values:
                continue
            shares = {a: sorted(v.fingerprint(key) for v in vs) for a, vs in sorted(ks.shares.items())}
            self.state.set(f"keyspread:{ks.id}", {"kind": "keyspread", "shares": shares})

    def close(self) -> None:
        if self._checks is not None:
            self._checks.close()
        for c in self.clients.values():
            with contextlib.suppress(Exception):
                c.close()
        if self._sandbox is not None:
            self._sandbox.stop()
            self._sandbox = None

    # -- operations -------------------------------------------------------------------------------
    def env(self, *, destroy: bool = False, targets: list[str] | None = None) -> PlanEnv:
        assert self.state is not None
        parallelism = self.options.parallelism or int(self.manifest.settings.get("parallelism", 4))
        return PlanEnv(
            self.manifest,
            self.state,
            fingerprint_key(self.workdir),
            self.clients,
            destroy=destroy,
            targets=list(targets or []),
            parallelism=parallelism,
            progress=self.options.progress,
        )

    def plan(self, *, destroy: bool = False, targets: list[str] | None = None) -> Plan:
        try:
            plan = build_plan(self.env(destroy=destroy, targets=targets))
        except BaseException:
            self.tokens_checked()  # a refused token explains a failed read better than the read
            raise
        self.tokens_checked()
        if not destroy and plan.changes:
            from .spreads import spread_notes

            assert self.state is not None
            plan.notes = spread_notes(self.manifest, self.state, fingerprint_key(self.workdir)) + plan.notes
        return plan

    def apply(self, plan: Plan, *, force: bool = False, stale_check: bool = False, on_change: Any = None) -> ApplyReport:
        assert self.state is not None
        self.tokens_checked()
        if plan.unsafe and not force:
            raise UnsafePlanError(plan.unsafe)
        journal = Journal(self.workdir, self.run_id, plan.plan_id, "destroy" if plan.destroy else "apply")
        env = self.env(destroy=plan.destroy, targets=plan.targets)
        try:
            report = execute(plan, ApplyContext(env), journal, self.state, stale_check=stale_check, on_change=on_change)
        except GridctlError:
            self.backend.write(self.state)
            journal.end("failed")
            raise
        except BaseException:
            # an unexpected error or an interrupt: keep what was done, leave the journal open
            self.backend.write(self.state)
            journal.close()
            raise
        if plan.destroy:
            for address in self.state.addresses("keyspread"):
                self.state.forget(address)
        else:
            self._record_spread()
        self.backend.write(self.state)
        journal.end("ok")
        return report

    def stats(self) -> dict[str, dict[str, Any]]:
        return {a: {**c.stats.as_dict(), "budget": c.budget.as_dict()} for a, c in self.clients.items()}


# -- queues: a client for one account, no state lock ----------------------------------------------


@contextlib.contextmanager
def open_queue(manifest_file: str | Path, name: str, *, sandbox: bool = False, api_url: str | None = None,
               workdir: Path | None = None, account: str | None = None, sandbox_wait: float = 120.0) -> Iterator[TaskQueue]:
    """A :class:`TaskQueue` with one client for the queue's account (or ``account``).

    Unlike :class:`Session` this takes no state lock (a queue operation
    changes no gridctl state, and workers on one machine must not wait for each other), reads
    only that account's token, checks no token scopes (GitHub's answers say enough) and keeps
    its ETag cache in memory (concurrent workers would fight over the file). ``--sandbox``
    shares the embedded sandbox's folder, which one process at a time may serve: commands wait
    for it (up to ``sandbox_wait`` seconds), so sandboxed workers take turns.
    """
    from ..manifest.sources import Sensitive, read_source

    path = Path(manifest_file)
    m = load_manifest(path, resolve=False)
    spec = find_queue(m, name)
    acc_id = account or spec.account
    if acc_id not in m.accounts:
        raise QueueError(f"unknown account {acc_id!r}; accounts are: {', '.join(m.accounts)}")
    acc = m.accounts[acc_id]
    embedded = None
    try:
        if sandbox:
            embedded, base_url, tokens = _start_embedded(workdir_for(path, workdir), m, sandbox_wait)
            token = tokens[acc_id]
            write_interval = 0.0
        else:
            base_url = api_url_from_env(api_url)
            token = (installation_tokens(acc, base_url, RetryPolicy.from_env()) if acc.app is not None and app_key(m, acc)
                     else Sensitive(read_source(acc.token_source, m.root, allow_outside=True).strip()))
            write_interval = float(m.settings.get("write_interval", 1.0))
        if os.environ.get("GRIDCTL_WRITE_INTERVAL"):
            write_interval = float(os.environ["GRIDCTL_WRITE_INTERVAL"])
        client = AccountClient(acc.id, token, base_url, policy=RetryPolicy.from_env(), cache=EtagCache(), write_interval=write_interval)
        try:
            yield TaskQueue(client, spec)
        finally:
            client.close()
    finally:
        if embedded is not None:
            embedded.stop()


def _start_embedded(workdir: Path, m: Manifest, wait: float) -> tuple[Any, str, dict[str, Any]]:
    from ..sandbox.embedded import EmbeddedSandbox
    from ..sandbox.store import StoreError

    deadline = time.monotonic() + wait
    while True:
        embedded = EmbeddedSandbox(workdir)
        try:
            url, tokens = embedded.start(m)
            return embedded, url, tokens
        except StoreError:
            embedded.stop()
            if time.monotonic() > deadline:
                raise QueueError(f"the embedded sandbox in {workdir / 'sandbox'} stayed busy for {int(wait)}s (another gridctl --sandbox is running)") from None
            time.sleep(random.uniform(0.05, 0.25))
