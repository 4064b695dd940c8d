"""One gridctl run: the manifest, the working folder, a client per account, the state.

    with Session.open("grid.yaml", sandbox=True) as s:
        plan = s.plan()
        s.apply(plan, auto_approve=True)

``open`` loads and validates the manifest (no API call for a bad one), builds one client per
account, and checks each token once (``GET /user``: the login matches the account, and the
token's scopes cover what this manifest needs). The state is locked for the whole run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AuthError, GitHubError, GridctlError, UnsafePlanError
from ..github.client import AccountClient, EtagCache, api_url_from_env
from ..github.retry import RetryPolicy
from ..manifest.load import load_manifest
from ..manifest.model import Manifest
from ..plan import Plan
from ..resources.base import ApplyContext, PlanEnv
from ..state.local import LocalBackend, State, fingerprint_key
from .engine import ApplyReport, build_plan, execute
from .journal import Journal, new_run_id, recover


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


def workdir_for(manifest_file: Path, explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get("GRIDCTL_WORKDIR")
    if env:
        return Path(env)
    return manifest_file.resolve().parent / ".gridctl"


def required_scopes(m: Manifest) -> dict[str, dict[str, str]]:
    """For each account: scope -> the manifest section that needs it."""
    need: dict[str, dict[str, str]] = {a: {} for a in m.accounts}
    for r in m.repos.values():
        private = r.settings.get("visibility", "public") != "public"
        need[r.account].setdefault("repo" if private else "public_repo", f"repos.{r.full_name}")
        if any(p.startswith(".github/workflows/") for p in r.files):
            need[r.account].setdefault("workflow", f"repos.{r.full_name}.files")
        for acc in r.collaborator_accounts.values():
            need[acc].setdefault("repo", f"repos.{r.full_name}.collaborators.{acc} (accepting the invitation)")
    for cs in m.codespaces_secrets:
        need[cs.account].setdefault("codespace", f"codespaces_secrets.{cs.account}")
    for os_ in m.org_secrets:
        need[os_.account].setdefault("admin:org", f"org_secrets.{os_.account}")
    for v in m.org_variables:
        need[v.account].setdefault("admin:org", f"org_variables.{v.account}")
    for g in m.runner_groups:
        need[g.account].setdefault("admin:org", f"runner_groups.{g.account}")
    for rn in m.runners:
        if rn.is_org:
            need[rn.account].setdefault("admin:org", f"runners (scope {rn.scope})")
    if m.state.backend == "github" and m.state.repo:
        state_repo = m.repo(m.state.repo)
        state_acc = m.state.account or (state_repo.account if state_repo else None)
        if state_acc is None:
            owner = m.account_for_owner(m.state.repo.split("/")[0])
            state_acc = owner.id if owner else None
        if state_acc in need:
            need[state_acc].setdefault("repo", "state (backend github)")
    for q in m.queues.values():
        if q.validate_pull_requests:
            need[q.account].setdefault("workflow", f"queues.{q.name}.validate_pull_requests")
    return need


#: a required scope is also satisfied by these broader ones
SCOPE_IMPLIED_BY = {
    "public_repo": {"repo"},
    "codespace": {"codespace:secrets"},
    "read:org": {"admin:org", "write:org"},
}


@dataclass
class Session:
    manifest: Manifest
    options: Options
    workdir: Path
    clients: dict[str, AccountClient] = field(default_factory=dict)
    backend: LocalBackend | Any = None
    state: State | None = None
    run_id: str = ""
    _sandbox: Any = None
    _lock: Any = None

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
            with session.backend.lock(session.run_id, operation):
                session.state = session.backend.read()
                recovered = recover(workdir, session.state)
                if recovered:
                    session.backend.write(session.state)
                    session.say("recovered", f"state updates from interrupted run(s) {', '.join(recovered)}")
                session._sticky_spread()
                yield session
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
                if acc.id in wanted:
                    try:
                        acc.token = Sensitive(read_source(acc.token_source, manifest.root, allow_outside=True).strip())
                    except SourceError as exc:
                        raise AuthError(f"account {acc.id}: token source unavailable: {exc}") from None
        session = cls(manifest, options, workdir_for(path, options.workdir))
        try:
            session._connect(only=wanted)
            yield session
        finally:
            session.close()

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
            base_url = api_url_from_env(self.options.api_url)
            tokens = {a.id: a.token for a in m.accounts.values()}
            write_interval = float(m.settings.get("write_interval", 1.0))
        if os.environ.get("GRIDCTL_WRITE_INTERVAL"):
            write_interval = float(os.environ["GRIDCTL_WRITE_INTERVAL"])
        if self.options.write_interval is not None:
            write_interval = self.options.write_interval
        cache_dir = self.workdir / "cache"
        for acc in m.accounts.values():
            if only is not None and acc.id not in only:
                continue
            token = tokens[acc.id]
            if token is None:
                raise AuthError(f"account {acc.id}: no token")
            self.clients[acc.id] = AccountClient(
                acc.id,
                token,
                base_url,
                policy=self.options.policy or RetryPolicy.from_env(),
                cache=EtagCache(cache_dir / f"{acc.id}.json"),
                write_interval=write_interval,
            )
        if self.options.check_tokens:
            self._check_tokens()

    def _check_tokens(self) -> None:
        needs = required_scopes(self.manifest)
        problems = []
        for acc in self.manifest.accounts.values():
            if acc.id not in self.clients:
                continue
            client = self.clients[acc.id]
            login, scopes = client.whoami()
            if not acc.is_org and login.lower() != acc.login.lower():
                problems.append(f"account {acc.id}: the token belongs to {login}, not {acc.login}")
                continue
            if acc.is_org:
                try:
                    membership = client.get(f"/orgs/{acc.login}/memberships/{login}")
                except GitHubError as exc:
                    if exc.status != 403:
                        raise
                    membership = None  # GitHub answers 403 to a non-member
                if not membership or membership.get("role") != "admin":
                    problems.append(f"account {acc.id}: {login} (the token's user) is not an owner of the organization {acc.login}")
                    continue
            if scopes is None:
                continue  # fine-grained tokens and apps do not report scopes
            for scope, why in sorted(needs.get(acc.id, {}).items()):
                if scope in scopes or SCOPE_IMPLIED_BY.get(scope, set()) & scopes:
                    continue
                problems.append(f"account {acc.id}: token lacks scope {scope}, needed by {why}")
        if problems:
            raise AuthError("\n".join(problems))

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
        return build_plan(self.env(destroy=destroy, targets=targets))

    def apply(self, plan: Plan, *, force: bool = False, stale_check: bool = False, on_change: Any = None) -> ApplyReport:
        assert self.state is not None
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
        return {a: c.stats.as_dict() for a, c in self.clients.items()}
