"""``gridctl serve``: the controller process — its loop, its HTTP API, its database.

The main thread runs the loop (:class:`~gridctl.serve.controller.Controller`) and takes the
signals; the API (uvicorn) serves from a second thread. What a signal does:

* **SIGTERM / SIGINT**: stop taking work, finish the step in hand, unregister idle and starting
  runners (busy runners finish their job; being ephemeral, they then go by themselves), stop
  the API, release leadership, exit 0. A restart resumes from the database.
* **SIGHUP** (or a change of the manifest file, noticed at each step): read the manifest again
  and take its pools and groups without a restart; a manifest with errors is reported and the
  running configuration kept.

``--sandbox`` runs everything on the embedded sandbox: the manifest is applied there first (its
repositories and workflows exist), a webhook is registered on every repository a pool or a
group uses, pools without a launcher start the sandbox's stand-in runner, API users whose token
source is not set get a generated token (written to a 0600 file whose path is printed, never the
token), and an empty queue gets one entry per template, so the loop has work to show.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import GridctlError, SourceError
from ..manifest.model import Manifest
from ..manifest.sources import Source, read_source
from ..plan import Plan
from ..util.log import event, json_lines
from ..util.text import safe
from . import web
from .api import ApiConfig, ApiError, GroupView, create_app, token_digest
from .controller import Controller, Metrics, Request, record_view
from .declare import database_url, groups_of, pools_of, serve_of
from .drift import Drift
from .launch import Launchers
from .store import Leadership, Store, default_url
from .web import OAuthLogin, Views, WebConfig, WebUser, hash_password

log = logging.getLogger("gridctl.serve")

#: where ``--sandbox`` keeps the credentials it made for users whose sources are not set
DEMO_CREDENTIALS = "demo-credentials.json"
#: the events a sandbox webhook subscribes to
HOOK_EVENTS = ["workflow_job", "workflow_run"]


def _generated(workdir: Path, key: str, prefix: str = "gridapi_") -> str:
    """A credential for a sandbox demo user, kept in a 0600 file so it stays the same across runs."""
    folder = workdir / "sandbox"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / DEMO_CREDENTIALS
    known: dict[str, str] = {}
    if path.exists():
        with contextlib.suppress(ValueError, OSError):
            known = dict(json.loads(path.read_text()))
    if key not in known:
        known[key] = prefix + secrets.token_hex(20)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(known, fh, indent=1)
    return known[key]


def api_users(m: Manifest, generate_in: Path | None = None) -> dict[str, tuple[str, str]]:
    """``serve.api.users`` with a token, as the API takes them: sha256(token) -> (name, role). A
    user whose token source is unavailable is an error naming the user, never what the source
    holds (with ``generate_in``, the sandbox demo, such a user gets a generated token instead)."""
    out: dict[str, tuple[str, str]] = {}
    for user in serve_of(m).users:
        if user.token is None:
            continue
        token = _secret_of(m, user.token, f"serve.api.users.{user.name}: token", generate_in, user.name, "gridapi_")
        out[token_digest(token)] = (user.name, user.role)
    return out


def web_users(m: Manifest, generate_in: Path | None = None) -> dict[str, WebUser]:
    """``serve.api.users`` with a password: name -> user with the password's argon2 hash."""
    out: dict[str, WebUser] = {}
    for user in serve_of(m).users:
        if user.password is None:
            continue
        password = _secret_of(m, user.password, f"serve.api.users.{user.name}: password", generate_in, f"{user.name}/password", "pw-")
        out[user.name] = WebUser(user.name, user.role, hash_password(password))
    return out


def _secret_of(m: Manifest, src: Source, what: str, generate_in: Path | None, key: str, prefix: str) -> str:
    try:
        value = read_source(src, m.root, allow_outside=True).strip()
    except SourceError as exc:
        if generate_in is None:
            raise GridctlError(f"{what} source unavailable: {exc}") from None
        value = _generated(generate_in, key, prefix)
    if not value:
        raise GridctlError(f"{what} source is empty")
    return value


def oauth_login(m: Manifest, api_base: str) -> OAuthLogin | None:
    """``serve.oauth`` as the dashboard takes it (the client secret read from its source)."""
    o = serve_of(m).oauth
    if o is None:
        return None
    try:
        secret = read_source(o.client_secret, m.root, allow_outside=True).strip()
    except SourceError as exc:
        raise GridctlError(f"serve.oauth.client_secret: source unavailable: {exc}") from None
    if not secret:
        raise GridctlError("serve.oauth.client_secret: the source is empty")
    api = api_base.rstrip("/")
    if o.url:
        web_url = o.url.rstrip("/")
    elif api == "https://api.github.com":
        web_url = "https://github.com"
    else:  # GitHub Enterprise Server and the sandbox: the web host is the API's without /api/v3
        web_url = api.removesuffix("/api/v3")
    return OAuthLogin(o.client_id, secret, web_url, api, frozenset(u.lower() for u in o.admin_users), o.admin_orgs,
                      frozenset(u.lower() for u in o.readonly_users), o.readonly_orgs)


def webhook_secret(m: Manifest, generate: bool) -> bytes | None:
    src = serve_of(m).webhook_secret
    if src is None:
        return secrets.token_hex(20).encode() if generate else None
    try:
        value = read_source(src, m.root, allow_outside=True).strip()
    except SourceError as exc:
        if generate:
            return secrets.token_hex(20).encode()
        raise GridctlError(f"serve.webhook_secret: source unavailable: {exc}") from None
    if not value:
        raise GridctlError("serve.webhook_secret: the source is empty")
    return value.encode()


def store_url(m: Manifest, workdir: Path) -> str:
    db = serve_of(m).database
    if db is None:
        return default_url(workdir)
    if isinstance(db, Source):
        try:
            return database_url(read_source(db, m.root, allow_outside=True).strip(), m.root)
        except SourceError as exc:
            raise GridctlError(f"serve.database: source unavailable: {exc}") from None
    return database_url(db, m.root)


def secret_env_names(node: Any, depth: int = 0, seen: set[int] | None = None) -> set[str]:
    """Every environment variable the manifest names as a source (of a token or a secret)."""
    seen = set() if seen is None else seen
    if depth > 12 or id(node) in seen:
        return set()
    seen.add(id(node))
    if isinstance(node, Source):
        return {str(node.target)} if node.kind == "env" else set()
    out: set[str] = set()
    if isinstance(node, dict):
        for v in node.values():
            out |= secret_env_names(v, depth + 1, seen)
    elif isinstance(node, (list, tuple)):
        for v in node:
            out |= secret_env_names(v, depth + 1, seen)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            out |= secret_env_names(getattr(node, f.name, None), depth + 1, seen)
    return out


@contextlib.contextmanager
def _github(manifest_file: Path, workdir: Path, *, sandbox: bool, api_url: str | None, say: Callable[[str], None]) -> Iterator[Any]:
    """A session whose clients the controller uses; with ``sandbox``, on the embedded sandbox
    with the manifest applied."""
    from ..core.session import Options, Session

    if not sandbox:
        with Session.connect(manifest_file, Options(api_url=api_url, workdir=workdir)) as s:
            yield s
        return
    with Session.open(manifest_file, Options(sandbox=True, check_tokens=False, workdir=workdir, write_interval=0.0), operation="apply") as s:
        plan = s.plan()
        if plan.changes:
            s.apply(plan)
            say(f"gridctl: applied the manifest to the embedded sandbox ({len(plan.changes)} change(s))")
        yield s


def _hooks(ctl: Controller, url: str, secret: bytes, say: Callable[[str], None]) -> None:
    """The sandbox demo: a webhook on every repository a pool or a group uses."""
    repos: dict[str, str] = {}
    for p in ctl.pools:
        if not p.is_org:
            repos.setdefault(p.scope, p.account)
    for g in ctl.groups:
        for name in g.templates:
            t = ctl.template(name)
            if t is not None:
                repos.setdefault(t.repo, t.account)
    for repo, account in repos.items():
        client = ctl.clients[account]
        hooks = client.get_list(f"/repos/{repo}/hooks") or []
        if any((h.get("config") or {}).get("url") == url for h in hooks):
            continue
        client.raw("POST", f"/repos/{repo}/hooks", {"name": "web", "active": True, "events": HOOK_EVENTS,
                                                   "config": {"url": url, "content_type": "json", "secret": secret.decode()}})
        say(f"gridctl: webhook {url} registered on {repo}")


def _seed(store: Store, ctl: Controller, say: Callable[[str], None]) -> None:
    if store.counts():
        return
    n = 0
    for g in ctl.groups:
        for i, name in enumerate(g.templates):
            store.add_entry(g.name, name, {}, priority=i, created_by="sandbox-demo")
            n += 1
    if n:
        say(f"gridctl: queued {n} demo entr{'y' if n == 1 else 'ies'} (one per template) in the empty queue")


def serve(
    m: Manifest,
    manifest_file: Path,
    workdir: Path,
    listen: tuple[str, int] | None = None,
    say: Callable[[str], None] = print,
    *,
    sandbox: bool = False,
    api_url: str | None = None,
    reload: Callable[[], Manifest] | None = None,
) -> int:
    import uvicorn

    say = _reporter(say)
    spec = serve_of(m)
    host, port = listen or (spec.host, spec.port)
    users = api_users(m, generate_in=workdir if sandbox else None)
    logins = web_users(m, generate_in=workdir if sandbox else None)
    if sandbox and any(src is not None and not _source_set(src, m) for u in spec.users for src in (u.token, u.password)):
        say(f"gridctl: credentials of users whose sources are not set are in {workdir / 'sandbox' / DEMO_CREDENTIALS}")
    secret = webhook_secret(m, generate=sandbox)
    store = Store.open(store_url(m, workdir))
    lead = Leadership(store)
    stop = threading.Event()
    hup = threading.Event()
    try:
        with _github(manifest_file, workdir, sandbox=sandbox, api_url=api_url, say=say) as session:
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry()
            metrics = Metrics(registry)
            launchers = Launchers(workdir, strip_env=secret_env_names(m), standin_default=sandbox)
            ctl = Controller(m, session.clients, store, lead, launchers, metrics=metrics, poll_interval=spec.poll_interval,
                             launch_interval=spec.launch_interval,
                             say=say)
            groups: dict[str, GroupView] = {}

            def set_groups(man: Manifest) -> None:
                groups.clear()
                groups.update({g.name: GroupView(g.name, tuple(g.templates), tuple(g.labels), g.max_concurrent) for g in groups_of(man).values()})

            set_groups(m)

            def configure(man: Manifest) -> None:
                ctl.configure(man)
                set_groups(man)
            config = ApiConfig(
                groups=groups, users=users, is_leader=lambda: lead.held, webhook_secret=secret,
                on_webhook=lambda event, payload: _on_webhook(ctl, event, payload),
                count_webhook=lambda event, result: metrics.webhooks.labels(event, result).inc(),
                pools=lambda: _pools_view(ctl),
                runners=lambda include_removed: [_runner_view(ctl, r) for r in store.runners(include_removed=include_removed)],
                runner_log=lambda name: launchers.log_tail(name) if (launchers.folder(name)).exists() else None,
                request=lambda kind, pool, count, runner: _request(ctl, kind, pool, count, runner),
                extra_status=lambda: {"pools": _pools_view(ctl), "last_step": ctl.last_step},
            )
            app = create_app(store, config, registry)
            drift = Drift(_planner(session, manifest_file, workdir, sandbox=sandbox, api_url=api_url), workdir, spec.drift_interval,
                          leading=lambda: lead.held, say=say)
            views = Views(
                groups=groups, pools=config.pools, runners=config.runners, status=lambda: {"leader": lead.held, **config.extra_status()}, rate=ctl.rate_history,
                check_entry=lambda template, inputs: _check_entry(ctl, template, inputs), request=config.request,
                fingerprint=ctl.fingerprint, task_queues=ctl.task_queues,
                drift=drift.current, applies=drift.applies, drift_now=drift.check_now,
            )
            api_base = next(iter(session.clients.values())).base_url if session.clients else "https://api.github.com"
            web.install(app, store, views, WebConfig(logins, store.setting("session_key", lambda: secrets.token_urlsafe(32)),
                                                     oauth_login(m, api_base)))
            server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False))
            thread = threading.Thread(target=server.run, name="gridctl-api", daemon=True)

            def on_stop(signum: int, _frame: Any) -> None:
                stop.set()
                ctl.wake.set()

            def on_hup(signum: int, _frame: Any) -> None:
                hup.set()
                ctl.wake.set()

            previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
            previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
            try:
                lead.try_acquire()  # before the API answers: /health tells the truth from the first request
                thread.start()
                for _ in range(600):
                    if server.started or not thread.is_alive():
                        break
                    time.sleep(0.05)
                if not server.started:
                    raise GridctlError(f"the API could not listen on {host}:{port} (is the address in use?)")
                say(f"gridctl: serving the controller API and dashboard on http://{host}:{port} "
                    f"({'leader' if lead.held else 'follower'}; {len(ctl.pools)} pool(s), {len(groups)} group(s), "
                    f"{len(users)} API user(s), {len(logins)} dashboard login(s))")
                if sandbox and secret is not None:
                    hook_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - a bind-all address is not a URL
                    _hooks(ctl, f"http://{hook_host}:{port}/webhooks", secret, say)
                    _seed(store, ctl, say)
                drift.start()
                _loop(ctl, manifest_file, stop, hup, reload, configure, say)
                drift.stop()
                removed = ctl.drain()
                if removed:
                    say(f"gridctl: unregistered {removed} idle runner(s); busy runners finish their job")
            finally:
                server.should_exit = True
                thread.join(timeout=15)
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
    finally:
        lead.release()
        store.close()
    say("gridctl: the controller stopped")
    return 0


def _reporter(say: Callable[[str], None]) -> Callable[..., None]:
    """What the controller reports, with its correlation ids: JSON lines with ``--log-format
    json``, else ``say``'s text lines (``gridctl: ...``)."""

    def report(text: str, level: str = "info", **fields: Any) -> None:
        text = safe(text.removeprefix("gridctl: "))
        if json_lines():
            event(text, level, **fields)
        else:
            say(f"gridctl: {text}" if level == "info" else f"gridctl: {level}: {text}")

    return report


def _planner(session: Any, manifest_file: Path, workdir: Path, *, sandbox: bool, api_url: str | None) -> Callable[[], Plan]:
    """What a drift check runs: the plan ``gridctl plan`` would make. On the embedded sandbox,
    with the controller's own session (a second one would start a second sandbox); against
    GitHub, a fresh read-only session each time (it takes no state lock and re-checks no token)."""
    if sandbox:
        return lambda: session.plan()

    def fresh() -> Plan:
        from ..core.session import Options, Session

        with Session.open(manifest_file, Options(api_url=api_url, workdir=workdir, check_tokens=False), operation="plan") as s:
            return s.plan()

    return fresh


def _check_entry(ctl: Controller, template: str, inputs: dict[str, str]) -> list[str]:
    """What GitHub would refuse about a queue entry: its inputs against the template's workflow
    as GitHub has it now (one conditional read of the workflow file)."""
    from ..fleet import dispatch as fd

    t = ctl.template(template)
    if t is None:
        return [f"template {template!r} is not declared"]
    try:
        problems = fd.Dispatcher(ctl.m, ctl.clients).validate(t, {**t.inputs, **inputs})
    except GridctlError as exc:
        return [f"the workflow could not be read to check the inputs: {exc}"]
    return [p.message for p in problems if p.severity == "error"]


def _source_set(src: Source, m: Manifest) -> bool:
    try:
        return bool(read_source(src, m.root, allow_outside=True).strip())
    except SourceError:
        return False


def _on_webhook(ctl: Controller, event: str, payload: dict[str, Any]) -> None:
    repo = (payload.get("repository") or {}).get("full_name")
    if event == "workflow_job" and isinstance(repo, str):
        ctl.hint(repo)
    else:
        ctl.wake.set()


def _request(ctl: Controller, kind: str, pool: str | None, count: int, runner: str | None) -> None:
    if pool is not None and pool not in ctl.pool_by_name:
        raise ApiError(404, f"no pool {pool[:200]!r}" + (f" (pools: {', '.join(sorted(ctl.pool_by_name))})" if ctl.pool_by_name else ""))
    ctl.requests.put(Request(kind, pool, count, runner))
    ctl.wake.set()


def _runner_view(ctl: Controller, rec: Any) -> dict[str, Any]:
    pool = ctl.pool_by_name.get(rec.pool)
    return record_view(rec, ctl.last_seen.get(rec.name), ctl.current_jobs.get(rec.name), pool.group if pool else None)


def _pools_view(ctl: Controller) -> list[dict[str, Any]]:
    out = []
    records = ctl.store.runners()
    for p in ctl.pools:
        mine = [record_view(r, ctl.last_seen.get(r.name)) for r in records if r.pool == p.name]
        states: dict[str, int] = {}
        for r in mine:
            states[r["status"]] = states.get(r["status"], 0) + 1
        out.append({"name": p.name, "scope": p.scope, "labels": list(p.labels), "min": p.min, "max": p.max, "runners": states})
    return out


def _loop(ctl: Controller, manifest_file: Path, stop: threading.Event, hup: threading.Event,
          reload: Callable[[], Manifest] | None, configure: Callable[[Manifest], None], say: Callable[..., None]) -> None:
    def mtime() -> float:
        try:
            return manifest_file.stat().st_mtime
        except OSError:
            return 0.0

    seen = mtime()
    while not stop.is_set():
        if reload is not None and (hup.is_set() or mtime() != seen):
            hup.clear()
            seen = mtime()
            try:
                fresh = reload()
            except GridctlError as exc:
                say(f"the manifest was not reloaded (the running configuration stays): {exc}", level="warning")
            else:
                configure(fresh)
                say(f"gridctl: reloaded the manifest: {len(pools_of(fresh))} pool(s), {len(groups_of(fresh))} group(s)")
        try:
            ctl.step()
        except GridctlError as exc:
            say(f"this step stopped early: {exc}", level="warning")
        except Exception as exc:  # noqa: BLE001 - the loop keeps going; the log has the details
            log.debug("step failed", exc_info=True)
            say(f"this step failed ({type(exc).__name__}); retrying at the next poll", level="warning")
        if stop.is_set():
            break
        ctl.wake.wait(ctl.next_wait())
        ctl.wake.clear()
