"""The controller's dashboard: server-rendered pages (Jinja2), live by Server-Sent Events.

Pages: the overview (pools and their runners, dispatch groups, the GitHub rate budget per account
over the last hour, leadership and health, recent events), a dispatch group's queue (add an
entry from a template, reorder by drag and drop or "to top", change a priority, cancel) with its
history (filters, pages, a link to each run), the runners (remove an idle one), and the user's
API tokens (made for scripts, shown once, stored as SHA-256, revocable).

**Live.** ``GET /events`` is an event stream: one ``change`` event whenever what the pages show
changed (the controller's step, a queue write). ``static/app.js`` listens and asks htmx to
reload the page's live region; drag and drop sends the new order. Without JavaScript every page
still works: forms post and redirect, and a ``<noscript>`` refresh reloads the page every 10 s.

**Logins.** Users are the manifest's ``serve.api.users`` that have a ``password`` source; the
password is read once at start and kept only as an argon2 hash (argon2-cffi's defaults, RFC
9106's second recommended option). A session is a signed cookie (itsdangerous, with a key kept in
the database so every instance and every restart accepts it) that holds the user, the role and a
CSRF token; it is ``HttpOnly`` and ``SameSite=Strict``, and ``Secure`` unless the page is served
over plain HTTP on a loopback address (where a browser would otherwise drop it). Every POST
needs the session's CSRF token (a form field or the ``X-CSRF-Token`` header); the login form
uses a double-submit cookie. After :data:`LOCK_AFTER` failed logins a user is locked out for
:data:`LOCK_SECONDS`. Every write needs the ``admin`` role; a readonly user sees no write control
and gets 403 from a forged POST.

Nothing secret is rendered: tokens, JIT configurations and secret values never reach a page
(a new API token is shown once, to its owner, right after it is made).
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoints' annotations at run time
import asyncio
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import requests
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ... import __version__
from ..store import Entry, Store

HERE = Path(__file__).parent
SESSION_COOKIE = "gridctl_session"
OAUTH_COOKIE = "gridctl_oauth"
ROLES = ("admin", "readonly")
LOGIN_COOKIE = "gridctl_login"
SESSION_SECONDS = 12 * 3600
#: failed logins in a row before a lockout, and how long it lasts
LOCK_AFTER = 5
LOCK_SECONDS = 300.0
#: the largest form body read
MAX_FORM_BYTES = 64 * 1024
HISTORY_PAGE = 50
OUTCOMES = ("success", "failure", "cancelled", "failed")
#: how long one event stream stays open (the browser reconnects by itself)
STREAM_SECONDS = 600.0


@dataclass(frozen=True)
class WebUser:
    name: str
    role: str
    #: argon2 hash of the password (the password itself is never kept)
    hash: str


@dataclass
class Views:
    """What the pages show, from the controller (callables, so the pages stay live)."""

    groups: Mapping[str, Any]
    pools: Callable[[], list[dict[str, Any]]] = lambda: []
    runners: Callable[[bool], list[dict[str, Any]]] = lambda include_removed: []
    status: Callable[[], dict[str, Any]] = lambda: {}
    #: account -> [(epoch seconds, rate-limit points left)] over the last hour
    rate: Callable[[], dict[str, list[tuple[float, int]]]] = lambda: {}
    #: (template, inputs) -> problems (an empty list: the entry may be queued)
    check_entry: Callable[[str, dict[str, str]], list[str]] = lambda template, inputs: []
    #: (kind, pool, count, runner) -> None; raises when it cannot be done
    request: Callable[[str, str | None, int, str | None], None] | None = None
    #: the git-backed task queues: states, nodes with heartbeats, orphans (cached by the controller)
    task_queues: Callable[[], list[dict[str, Any]]] = lambda: []
    #: the last drift check (a DriftView), the journal's last runs, and "check now"
    drift: Callable[[], Any] = lambda: None
    applies: Callable[[], list[dict[str, Any]]] = lambda: []
    drift_now: Callable[[], None] = lambda: None
    #: what changed since: any value that differs when the pages would show something new
    fingerprint: Callable[[], str] = lambda: ""


@dataclass(frozen=True)
class OAuthLogin:
    """Dashboard logins through a GitHub OAuth app (the web application flow,
    https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps)."""

    client_id: str
    #: the client secret: sent to GitHub's token endpoint, never rendered or logged
    client_secret: str
    #: GitHub's web address (https://github.com) and API address (https://api.github.com)
    web_url: str
    api_url: str
    admin_users: frozenset[str] = frozenset()
    admin_orgs: tuple[str, ...] = ()
    readonly_users: frozenset[str] = frozenset()
    readonly_orgs: tuple[str, ...] = ()


@dataclass
class WebConfig:
    users: Mapping[str, WebUser]
    session_key: str
    oauth: OAuthLogin | None = None
    #: attempts per user: (failures in a row, locked until)
    failures: dict[str, tuple[int, float]] = field(default_factory=dict)


class Forbidden(Exception):
    pass


PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
}


def hash_password(password: str) -> str:
    return PasswordHasher().hash(password)


def _secure(request: Request) -> bool:
    """``Secure`` cookies, except over plain HTTP on a loopback address."""
    if request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https":
        return True
    host = (request.url.hostname or "").strip("[]")
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def _iso(v: Any) -> str:
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return "" if v is None else str(v)


def _ago(v: Any) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = datetime.fromtimestamp(v, UTC)
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            return ""
    if not isinstance(v, datetime):
        return ""
    s = max(0, int(time.time() - v.timestamp()))
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


def spark(samples: list[tuple[float, int]], width: int = 240, height: int = 40) -> str:
    """An SVG polyline's points for (time, value) samples over the last hour."""
    if not samples:
        return ""
    now = time.time()
    if len(samples) == 1:  # one reading so far: flat from then to now
        samples = [samples[0], (now, samples[0][1])]
    top = max(v for _, v in samples) or 1
    pts = []
    for at, v in samples:
        x = width * max(0.0, 1 - (now - at) / 3600)
        y = height - height * v / top
        pts.append(f"{x:.1f},{y:.1f}")
    return " ".join(pts)


def install(app: FastAPI, store: Store, views: Views, web: WebConfig) -> None:
    """Serve the dashboard's pages on ``app``."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def _timing(request: Request, call_next: Callable[[Request], Any]) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        # the server's own time, for browsers' devtools and the benchmark (W3C Server Timing)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    d = Dashboard(store, views, web)
    for method, path, endpoint in (
        ("GET", "/login", d.login_page), ("POST", "/login", d.login), ("POST", "/logout", d.logout),
        ("GET", "/login/github", d.github_login), ("GET", "/login/github/callback", d.github_callback),
        ("GET", "/", d.overview), ("GET", "/groups/{name}", d.group_page), ("POST", "/groups/{name}/queue", d.add_entry),
        ("POST", "/groups/{name}/reorder", d.reorder), ("POST", "/entries/{entry_id}/{action}", d.entry_action),
        ("GET", "/runners", d.runners_page), ("POST", "/runners/{name}/remove", d.remove_runner),
        ("GET", "/queues", d.queues_page),
        ("GET", "/drift", d.drift_page), ("GET", "/drift/plan.md", d.drift_plan), ("POST", "/drift/check", d.drift_check),
        ("GET", "/tokens", d.tokens_page), ("POST", "/tokens", d.make_token), ("POST", "/tokens/{token_id}/revoke", d.revoke),
        ("GET", "/events", d.events),
    ):
        app.add_api_route(path, endpoint, methods=[method], include_in_schema=False)


class Dashboard:
    def __init__(self, store: Store, views: Views, web: WebConfig):
        self.store = store
        self.views = views
        self.web = web
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
        self.env.filters["iso"] = _iso
        self.env.filters["ago"] = _ago
        self.env.filters["seconds"] = _seconds
        self.env.globals["version"] = __version__
        self.signer = URLSafeTimedSerializer(web.session_key, salt="gridctl-session")
        self.hasher = PasswordHasher()

    # -- helpers --------------------------------------------------------------------------------
    def session(self, request: Request) -> dict[str, str] | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self.signer.loads(raw, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        if data.get("g") in ROLES and self.web.oauth is not None:  # a GitHub login: its role was decided at login
            return {"user": str(data.get("u", "")), "role": str(data["g"]), "csrf": str(data.get("c", ""))}
        if data.get("u") not in self.web.users:
            return None
        user = self.web.users[str(data["u"])]
        return {"user": user.name, "role": user.role, "csrf": str(data.get("c", ""))}

    def page(self, request: Request, template_name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        who = ctx.pop("who", None) or self.session(request)
        version = self.views.fingerprint() if who and who.get("user") else ""
        html = self.env.get_template(template_name).render(request=request, who=who, admin=bool(who and who.get("role") == "admin"),
                                                           version_seen=version, **ctx)
        return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)

    def error(self, request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
        return self.page(request, "error.html", status_code, title=title, message=message)

    def forbidden(self, request: Request, exc: Forbidden) -> HTMLResponse:
        return self.error(request, 403, "Not allowed", str(exc))

    @staticmethod
    def to_login(request: Request) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(_local(request.url.path))}", status_code=303)

    @staticmethod
    async def form(request: Request) -> dict[str, str]:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise Forbidden("the form is too large")
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        except (UnicodeDecodeError, ValueError):
            raise Forbidden("the form is not readable") from None
        return {k: v[-1] for k, v in parsed.items()}

    async def signed_form(self, request: Request, *, admin: bool = True) -> tuple[dict[str, str], dict[str, str]]:
        """The session (of an admin, unless ``admin`` is False) and the form; Forbidden when
        there is no session, the CSRF token is missing or wrong, or the role is readonly."""
        who = self.session(request)
        if who is None:
            raise Forbidden("log in first")
        data = await self.form(request)
        given = request.headers.get("x-csrf-token") or data.get("csrf") or ""
        if not who["csrf"] or not hmac.compare_digest(given.encode(), who["csrf"].encode()):
            raise Forbidden("the form's CSRF token is missing or wrong: reload the page and try again")
        if admin and who["role"] != "admin":
            raise Forbidden(f"user {who['user']} is readonly; this needs an admin")
        return who, data

    def _login_form(self, request: Request, status_code: int, nxt: str, error: str | None, username: str = "") -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        resp = self.page(request, "login.html", status_code, who={}, title="Log in", login_csrf=token, next=nxt, error=error,
                         username=username, github=self.web.oauth is not None)
        resp.set_cookie(LOGIN_COOKIE, token, max_age=600, httponly=True, samesite="strict", secure=_secure(request), path="/login")
        return resp

    # -- login ----------------------------------------------------------------------------------
    def login_page(self, request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002 - the query's name
        return self._login_form(request, 200, _local(next), None)

    async def login(self, request: Request) -> Response:
        try:
            data = await self.form(request)
        except Forbidden as exc:
            return self.forbidden(request, exc)
        given, cookie = data.get("csrf", ""), request.cookies.get(LOGIN_COOKIE, "")
        nxt = _local(data.get("next", "/"))
        if not given or not cookie or not hmac.compare_digest(given.encode(), cookie.encode()):
            return self.forbidden(request, Forbidden("the login form expired: reload it and try again"))
        name = data.get("username", "").strip()[:200]
        user = self.web.users.get(name)
        count, until = self.web.failures.get(name, (0, 0.0))
        if until > time.time():
            return self._login_form(request, 429, nxt, "too many failed logins: try again in a few minutes", name)
        if user is None or not _verify(self.hasher, user.hash, data.get("password", "")):
            count += 1
            self.web.failures[name] = (0, time.time() + LOCK_SECONDS) if count >= LOCK_AFTER else (count, 0.0)
            return self._login_form(request, 401, nxt, "unknown user or wrong password", name)
        self.web.failures.pop(name, None)
        return self._signed_in(request, nxt, {"u": user.name})

    def _signed_in(self, request: Request, nxt: str, who: dict[str, str]) -> RedirectResponse:
        resp = RedirectResponse(nxt, status_code=303)
        value = self.signer.dumps({**who, "c": secrets.token_urlsafe(24)})
        # SameSite=Lax for a session made at the end of GitHub's redirect: a Strict cookie set on a
        # cross-site navigation is not sent on the redirect that follows it
        resp.set_cookie(SESSION_COOKIE, value, max_age=SESSION_SECONDS, httponly=True,
                        samesite="lax" if "g" in who else "strict", secure=_secure(request))
        resp.delete_cookie(LOGIN_COOKIE, path="/login")
        return resp

    # -- GitHub OAuth ---------------------------------------------------------------------------
    def _callback_url(self, request: Request) -> str:
        return str(request.url_for("github_callback"))

    def github_login(self, request: Request, next: str = "/") -> Response:  # noqa: A002 - the query's name
        o = self.web.oauth
        if o is None:
            return self.error(request, 404, "Not found", "GitHub logins are not configured (serve.oauth)")
        state = secrets.token_urlsafe(24)
        query = urlencode({"client_id": o.client_id, "redirect_uri": self._callback_url(request), "scope": "read:org", "state": state})
        resp = RedirectResponse(f"{o.web_url}/login/oauth/authorize?{query}", status_code=303)
        # the state ties the callback to this browser (GitHub Docs: "an unguessable random string ... to protect against
        # cross-site request forgery attacks"); Lax, so it comes back on GitHub's top-level redirect
        cookie = self.signer.dumps({"s": state, "n": _local(next)})
        resp.set_cookie(OAUTH_COOKIE, cookie, max_age=600, httponly=True, samesite="lax", secure=_secure(request), path="/login/github")
        return resp

    def github_callback(self, request: Request, code: str = "", state: str = "", error: str = "") -> Response:
        o = self.web.oauth
        if o is None:
            return self.error(request, 404, "Not found", "GitHub logins are not configured (serve.oauth)")
        try:
            saved = self.signer.loads(request.cookies.get(OAUTH_COOKIE, ""), max_age=600)
        except BadSignature:
            saved = None
        if not isinstance(saved, dict) or not state or not hmac.compare_digest(str(saved.get("s", "")).encode(), state.encode()):
            return self.forbidden(request, Forbidden("the GitHub login expired or did not start here: try again"))
        if error or not code:
            return self.error(request, 403, "Not logged in", "GitHub did not authorize the login" + (f" ({error[:60]})" if error else ""))
        try:
            login, role = _github_role(o, code, self._callback_url(request))
        except Forbidden as exc:
            return self.forbidden(request, exc)
        resp = self._signed_in(request, _local(str(saved.get("n", "/"))), {"u": login, "g": role})
        resp.delete_cookie(OAUTH_COOKIE, path="/login/github")
        return resp

    async def logout(self, request: Request) -> Response:
        try:
            await self.signed_form(request, admin=False)
        except Forbidden as exc:
            if self.session(request) is not None:
                return self.forbidden(request, exc)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    # -- pages ----------------------------------------------------------------------------------
    def overview(self, request: Request, fragment: int = 0) -> Response:
        who = self.session(request)
        if who is None:
            return self.to_login(request)
        rate = {acc: {"points": spark(samples), "last": samples[-1][1] if samples else None} for acc, samples in sorted(self.views.rate().items())}
        groups = [{"name": n, "queued": len(self.store.queue(n)), "in_flight": self.store.in_flight(n), "max_concurrent": getattr(g, "max_concurrent", None)}
                  for n, g in sorted(self.views.groups.items())]
        return self.page(request, "overview_live.html" if fragment else "overview.html", who=who, title="Overview",
                         status=self.views.status(), pools=self.views.pools(), groups=groups, rate=rate, events=self.store.events(limit=15))

    def group_page(self, request: Request, name: str, outcome: str = "", since: str = "", page_no: int = 1, fragment: int = 0) -> Response:
        who = self.session(request)
        if who is None:
            return self.to_login(request)
        g = self.views.groups.get(name)
        if g is None:
            return self.error(request, 404, "Not found", f"no dispatch group {name[:200]!r}")
        return self._group(request, who, name, g, outcome, since, page_no, fragment=bool(fragment))

    def _group(self, request: Request, who: dict[str, str], name: str, g: Any, outcome: str, since: str, page_no: int, *,
               fragment: bool = False, status_code: int = 200, errors: list[str] | None = None, values: dict[str, str] | None = None) -> HTMLResponse:
        outcome = outcome if outcome in OUTCOMES else ""
        since_at = _date(since)
        page_no = max(1, min(int(page_no or 1), 10_000))
        history, total = self.store.history_page(name, outcome=outcome or None, since=since_at, limit=HISTORY_PAGE, offset=(page_no - 1) * HISTORY_PAGE)
        queue = self.store.queue(name, states=("queued", "dispatching", "dispatched"))
        return self.page(request, "group_live.html" if fragment else "group.html", status_code, who=who, title=f"Queue {name}",
                         group=g, name=name, queue=[_row(e) for e in queue], history=[_row(e) for e in history], total=total,
                         page_no=page_no, pages=max(1, (total + HISTORY_PAGE - 1) // HISTORY_PAGE), outcome=outcome,
                         since=since if since_at else "", outcomes=OUTCOMES, errors=errors or [], values=values or {})

    async def add_entry(self, request: Request, name: str) -> Response:
        try:
            who, data = await self.signed_form(request)
        except Forbidden as exc:
            return self.forbidden(request, exc)
        g = self.views.groups.get(name)
        if g is None:
            return self.error(request, 404, "Not found", f"no dispatch group {name[:200]!r}")
        template = data.get("template", "")
        inputs, errors = _inputs(data.get("inputs", ""))
        priority = _priority(data.get("priority", "0") or "0")
        if priority is None:
            errors.append("priority: a whole number from -1000 to 1000")
        if template not in g.templates:
            errors.append(f"template: {template[:100]!r} is not in group {name}")
        elif not errors:
            errors += self.views.check_entry(template, inputs)
        if errors or priority is None:
            return self._group(request, who, name, g, "", "", 1, status_code=422, errors=errors, values=data)
        self.store.add_entry(name, template, inputs, priority=priority, created_by=who["user"])
        return RedirectResponse(f"/groups/{quote(name)}", status_code=303)

    async def reorder(self, request: Request, name: str) -> Response:
        try:
            _, data = await self.signed_form(request)
        except Forbidden as exc:
            return self.forbidden(request, exc)
        if name not in self.views.groups:
            return self.error(request, 404, "Not found", f"no dispatch group {name[:200]!r}")
        try:
            ids = [int(x) for x in data.get("ids", "").split(",") if x.strip()][:10_000]
            if data.get("moved", "").strip():
                self.store.place(name, ids, int(data["moved"]))
            else:
                self.store.reorder(name, ids)
        except Exception as exc:  # noqa: BLE001 - the store names what is not queued
            return self.error(request, 422, "Not reordered", str(exc)[:500])
        if request.headers.get("hx-request"):
            return Response(status_code=204)
        return RedirectResponse(f"/groups/{quote(name)}", status_code=303)

    async def entry_action(self, request: Request, entry_id: int, action: str) -> Response:
        try:
            _, data = await self.signed_form(request)
        except Forbidden as exc:
            return self.forbidden(request, exc)
        e = self.store.get(entry_id)
        if e is None or action not in ("cancel", "priority", "top"):
            return self.error(request, 404, "Not found", f"no queue entry {entry_id}")
        if action == "cancel":
            ok = self.store.cancel(entry_id)
        elif action == "top":
            queued = [x.id for x in self.store.queue(e.group)]
            ok = entry_id in queued
            if ok:
                self.store.place(e.group, [entry_id] + [i for i in queued if i != entry_id], entry_id)
        else:
            priority = _priority(data.get("priority", ""))
            if priority is None:
                return self.error(request, 422, "Not changed", "priority: a whole number from -1000 to 1000")
            ok = self.store.set_priority(entry_id, priority)
        if not ok:
            return self.error(request, 409, "Not changed", f"entry {entry_id} is {e.state}: only a queued entry can change")
        return RedirectResponse(f"/groups/{quote(e.group)}", status_code=303)

    def runners_page(self, request: Request, fragment: int = 0) -> Response:
        who = self.session(request)
        if who is None:
            return self.to_login(request)
        return self.page(request, "runners_live.html" if fragment else "runners.html", who=who, title="Runners", runners=self.views.runners(False))

    async def remove_runner(self, request: Request, name: str) -> Response:
        try:
            await self.signed_form(request)
        except Forbidden as exc:
            return self.forbidden(request, exc)
        row = next((r for r in self.views.runners(False) if r["name"] == name), None)
        if row is None:
            return self.error(request, 404, "Not found", f"no runner {name[:200]!r}")
        if row["status"] == "busy" or self.views.request is None:
            return self.error(request, 409, "Not removed", f"runner {name} is busy: it goes after its job")
        try:
            self.views.request("remove", row["pool"], 1, name)
        except Exception as exc:  # noqa: BLE001 - e.g. this instance does not lead
            return self.error(request, 409, "Not removed", str(getattr(exc, "message", exc))[:300])
        return RedirectResponse("/runners", status_code=303)

    def queues_page(self, request: Request) -> Response:
        who = self.session(request)
        if who is None:
            return self.to_login(request)
        rows = self.views.task_queues()
        return self.page(request, "queues.html", who=who, title="Task queues", queues=rows, now=time.time())

    def drift_page(self, request: Request) -> Response:
        who = self.session(request)
        if who is None:
            return self.to_login(request)
        return self.page(request, "drift.html", who=who, title="Drift", drift=self.views.drift(), applies=self.views.applies())

    def drift_plan(self, request: Request) -> Response:
        if self.session(request) is None:
            return self.to_login(request)
        view = self.views.drift()
        if view is None or not getattr(view, "markdown", ""):
            return Response("no plan yet\n", status_code=404, media_type="text/plain; charset=utf-8")
        return Response(view.markdown, media_type="text/plain; charset=utf-8", headers={"Content-Disposition": "inline; filename=plan.md"})

    async def drift_check(self, request: Request) -> Response:
        try:
            await self.signed_form(request)
        except Forbidden as exc:
            return self.forbidden(request, exc)
        self.views.drift_now()
        return RedirectResponse("/drift", status_code=303)

    # -- API tokens -----------------------------------------------------------------------------
    def tokens_page(self, request: Request) -> Response:
        who = self.session(request)
        if who is None:
            return self.to_login(request)
        return self.page(request, "tokens.html", who=who, title="API tokens", tokens=self.store.tokens(who["user"]), new_token=None)

    async def make_token(self, request: Request) -> Response:
        try:
            who, data = await self.signed_form(request, admin=False)
        except Forbidden as exc:
            return self.forbidden(request, exc)
        token = "gridctl_" + secrets.token_hex(24)
        self.store.add_token(who["user"], data.get("label", "").strip()[:200] or "script", hashlib.sha256(token.encode()).hexdigest(), who["role"])
        return self.page(request, "tokens.html", who=who, title="API tokens", tokens=self.store.tokens(who["user"]), new_token=token)

    async def revoke(self, request: Request, token_id: int) -> Response:
        try:
            who, _ = await self.signed_form(request, admin=False)
        except Forbidden as exc:
            return self.forbidden(request, exc)
        self.store.revoke_token(who["user"], token_id)
        return RedirectResponse("/tokens", status_code=303)

    # -- live -----------------------------------------------------------------------------------
    async def events(self, request: Request, since: str = "") -> Response:
        if self.session(request) is None:
            return Response("log in first", status_code=401)
        return StreamingResponse(self._stream(request, since[:100] or None), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _stream(self, request: Request, since: str | None) -> AsyncIterator[bytes]:
        # ``since``: the version the page was rendered at, so a change between the render and
        # this stream's start is not missed
        last = since
        started = beat = time.monotonic()
        yield b"retry: 2000\n\n"
        while time.monotonic() - started < STREAM_SECONDS:
            if await request.is_disconnected():
                return
            now = await asyncio.to_thread(self.views.fingerprint)
            if now != last:
                if last is not None:
                    yield b"event: change\ndata: {}\n\n"
                last = now
            if time.monotonic() - beat > 15:
                beat = time.monotonic()
                yield b": keep-alive\n\n"
            await asyncio.sleep(0.5)


def _github_role(o: OAuthLogin, code: str, redirect_uri: str) -> tuple[str, str]:
    """Exchange the code for the user's token, find who it is and which role they get. The token
    is used for these reads only and then dropped: it is kept nowhere."""
    try:
        answer = requests.post(f"{o.web_url}/login/oauth/access_token", timeout=15, headers={"Accept": "application/json"},
                               data={"client_id": o.client_id, "client_secret": o.client_secret, "code": code, "redirect_uri": redirect_uri})
        body = answer.json() if answer.ok else {}
    except (requests.RequestException, ValueError):
        raise Forbidden("GitHub could not be reached to finish the login") from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        why = body.get("error") if isinstance(body, dict) else None
        raise Forbidden("GitHub refused the login" + (f" ({str(why)[:60]})" if why else ""))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    try:
        me = requests.get(f"{o.api_url}/user", headers=headers, timeout=15)
        login = str(me.json().get("login") or "") if me.ok else ""
        if not login:
            raise Forbidden("GitHub did not say who logged in")

        def member(org: str) -> bool:
            # "Get organization membership for a user", asked with the user's own token: a member
            # sees their membership (state active), anyone else gets 403/404 (needs read:org).
            # https://docs.github.com/en/rest/orgs/members#get-organization-membership-for-a-user
            r = requests.get(f"{o.api_url}/orgs/{quote(org)}/memberships/{quote(login)}", headers=headers, timeout=15)
            return r.ok and r.json().get("state") == "active"

        low = login.lower()
        if low in o.admin_users or any(member(org) for org in o.admin_orgs):
            return login, "admin"
        if low in o.readonly_users or any(member(org) for org in o.readonly_orgs):
            return login, "readonly"
    except (requests.RequestException, ValueError):
        raise Forbidden("GitHub could not be reached to finish the login") from None
    raise Forbidden(f"GitHub user {login[:39]} may not use this dashboard")


def _verify(hasher: PasswordHasher, digest: str, password: str) -> bool:
    try:
        return bool(hasher.verify(digest, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _local(target: str) -> str:
    """A redirect target on this site only (no scheme, no host, no ``//``)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target[:500]


def _seconds(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return ""
    s = int(v)
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


def _priority(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if -1000 <= value <= 1000 else None


def _date(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC) if text else None
    except ValueError:
        return None


def _inputs(text: str) -> tuple[dict[str, str], list[str]]:
    """``key=value`` lines (a workflow_dispatch takes at most 10 inputs,
    https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event)."""
    out: dict[str, str] = {}
    problems = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            problems.append(f"inputs, line {n}: write key=value")
            continue
        out[key.strip()[:100]] = value.strip()
    if len(out) > 10:
        problems.append(f"inputs: {len(out)} given; a workflow_dispatch takes at most 10")
    return out, problems


def _row(e: Entry) -> dict[str, Any]:
    took = None
    if e.completed_at and e.dispatched_at:
        took = int((e.completed_at - e.dispatched_at).total_seconds())
    return {"id": e.id, "template": e.template, "inputs": e.inputs, "priority": e.priority, "state": e.state,
            "created_by": e.created_by, "created_at": e.created_at, "dispatched_at": e.dispatched_at,
            "completed_at": e.completed_at, "run_id": e.run_id, "run_url": e.run_url if (e.run_url or "").startswith("http") else None,
            "conclusion": e.conclusion or ("failed" if e.state == "failed" else e.state), "error": e.error, "took": took}
