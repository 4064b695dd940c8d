"""The controller's HTTP API (FastAPI; its OpenAPI description at ``/docs`` and ``/openapi.json``).

``/health`` and ``/metrics`` (Prometheus text) are open; everything under ``/api/v1`` needs a
bearer token of a declared API user. Users are ``admin`` (may change the queue) or ``readonly``;
tokens are looked up by SHA-256 (never kept or logged in clear) and compared in constant time.

The shapes follow what our users' own dispatcher exposes, so their scripts carry over:
``GET /api/v1/status``, ``GET /api/v1/groups``, ``GET|POST /api/v1/groups/{id}/queue``,
``PUT /api/v1/groups/{id}/queue/reorder``, ``DELETE /api/v1/jobs/{id}``, plus
``GET /api/v1/history``; runners: ``GET /api/v1/runners``, ``POST /api/v1/runners/scale-up|scale-down``,
``DELETE /api/v1/runners/{id}``, ``GET /api/v1/runners/{id}/logs``, and ``GET /api/v1/pools``.
Every error is JSON with a ``message``.

``POST /webhooks`` takes GitHub's webhook deliveries. Each must carry ``X-Hub-Signature-256``,
the HMAC-SHA256 of the exact body with the webhook secret, checked in constant time ("Validating
webhook deliveries", https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries);
a delivery whose ``X-GitHub-Delivery`` GUID was seen before is a replay and refused. Deliveries
only wake the controller's loop (it reads the truth from the REST API); each is counted by
event and result in ``gridctl_webhook_deliveries``.
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoints' annotations at run time,
# and they name dependencies defined inside create_app
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .store import Entry, Store

ROLES = ("admin", "readonly")
#: bounds on what a queue entry may carry (GitHub allows at most 10 workflow_dispatch inputs;
#: https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event)
MAX_INPUTS = 10
MAX_INPUT_LENGTH = 65_535


@dataclass(frozen=True)
class GroupView:
    """A dispatch group as the API shows it (built from the manifest's declarations)."""

    name: str
    templates: tuple[str, ...]
    labels: tuple[str, ...] = ()
    max_concurrent: int | None = None


@dataclass
class ApiConfig:
    groups: Mapping[str, GroupView]
    #: sha256(token) -> (user name, role)
    users: Mapping[str, tuple[str, str]]
    #: whether this instance leads (scales and dispatches); others only serve the API
    is_leader: Callable[[], bool] = lambda: False
    extra_status: Callable[[], dict[str, Any]] = field(default=lambda: {})
    #: the webhook secret (None: deliveries are refused)
    webhook_secret: bytes | None = None
    #: an accepted delivery: (event, payload) — wakes the loop
    on_webhook: Callable[[str, dict[str, Any]], None] = lambda event, payload: None
    #: counts a delivery: (event, result)
    count_webhook: Callable[[str, str], None] = lambda event, result: None
    #: the pools and runners as the controller sees them, and what it is asked to do
    pools: Callable[[], list[dict[str, Any]]] = field(default=lambda: [])
    runners: Callable[[bool], list[dict[str, Any]]] = field(default=lambda include_removed: [])
    runner_log: Callable[[str], str | None] = lambda key: None
    #: (kind, pool, count, runner) -> None; raises ApiError when it cannot be done
    request: Callable[[str, str | None, int, str | None], None] | None = None


#: the largest delivery accepted (GitHub caps payloads at 25 MB,
#: https://docs.github.com/en/webhooks/webhook-events-and-payloads#payload-cap)
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class User:
    name: str
    role: str


class NewEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(min_length=1, max_length=200)
    inputs: dict[str, str | int | float | bool] = Field(default_factory=dict)
    priority: int = Field(default=0, ge=-1000, le=1000)


class Reorder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int] = Field(min_length=1, max_length=10_000)


def _entry(e: Entry) -> dict[str, Any]:
    def iso(v: Any) -> str | None:
        return v.isoformat() if v is not None else None

    return {
        "id": e.id, "group": e.group, "template": e.template, "inputs": e.inputs, "priority": e.priority,
        "position": e.position, "state": e.state, "created_by": e.created_by, "created_at": iso(e.created_at),
        "dispatch_started_at": iso(e.dispatch_started_at), "dispatched_at": iso(e.dispatched_at), "run_id": e.run_id, "run_url": e.run_url,
        "conclusion": e.conclusion, "completed_at": iso(e.completed_at), "error": e.error,
    }


def create_app(store: Store, config: ApiConfig, registry: CollectorRegistry | None = None) -> FastAPI:
    app = FastAPI(title="gridctl controller", version=__version__, docs_url="/docs", redoc_url=None)
    registry = registry or CollectorRegistry()
    requests_total = Counter("gridctl_api_requests", "API requests by route and status", ["route", "status"], registry=registry)
    _install_errors(app, requests_total)
    user, admin = _auth(config, store)
    _ops_routes(app, store, config, registry)
    _queue_routes(app, store, config, user, admin)
    _runner_routes(app, config, user, admin)
    _webhook_route(app, store, config)
    return app


def _install_errors(app: FastAPI, requests_total: Counter) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"message": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}" for e in exc.errors()[:10]]
        return JSONResponse({"message": "invalid request: " + "; ".join(problems), "errors": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code)

    @app.middleware("http")
    async def _count(request: Request, call_next: Callable[[Request], Any]) -> Any:
        try:
            response = await call_next(request)
        except Exception:  # answered as JSON, never a traceback
            requests_total.labels("?", "500").inc()
            return JSONResponse({"message": "internal error (the controller's log has the details)"}, status_code=500)
        route = request.scope.get("route")
        requests_total.labels(getattr(route, "path", "?"), str(response.status_code)).inc()
        return response


def _auth(config: ApiConfig, store: Store) -> tuple[Callable[..., User], Callable[..., User]]:
    def user(authorization: Annotated[str | None, Header()] = None) -> User:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token.strip():
            raise ApiError(401, "authentication required: send Authorization: Bearer <token>")
        digest = token_digest(token.strip())
        found = None
        for known, who in config.users.items():  # constant time per entry: no early exit on a prefix
            if hmac.compare_digest(known, digest):
                found = who
        if found is None:
            found = store.token_user(digest)  # a token a user made for a script (dashboard, /tokens)
        if found is None:
            raise ApiError(401, "bad credentials")
        return User(found[0], found[1])

    def admin(who: Annotated[User, Depends(user)]) -> User:
        if who.role != "admin":
            raise ApiError(403, f"user {who.name} is readonly; this needs an admin")
        return who

    return user, admin


def _ops_routes(app: FastAPI, store: Store, config: ApiConfig, registry: CollectorRegistry) -> None:
    queue_size = Gauge("gridctl_queue_entries", "Dispatch queue entries by group and state", ["group", "state"], registry=registry)
    leader = Gauge("gridctl_leader", "1 when this instance leads (scales and dispatches)", registry=registry)

    @app.get("/health")
    def health() -> dict[str, Any]:
        try:
            store.in_flight("")
            db = "ok"
        except Exception:  # reported, not raised
            db = "unreachable"
        return {"status": "ok" if db == "ok" else "degraded", "database": db, "leader": config.is_leader(), "version": __version__}

    @app.get("/metrics")
    def metrics() -> Response:
        queue_size.clear()
        for g in config.groups:
            counts: dict[str, int] = {}
            for e in store.queue(g, states=("queued", "dispatching", "dispatched")):
                counts[e.state] = counts.get(e.state, 0) + 1
            for state in ("queued", "dispatching", "dispatched"):
                queue_size.labels(g, state).set(counts.get(state, 0))
        leader.set(1 if config.is_leader() else 0)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _queue_routes(app: FastAPI, store: Store, config: ApiConfig, user: Callable[..., User], admin: Callable[..., User]) -> None:
    def group(name: str) -> GroupView:
        g = config.groups.get(name)
        if g is None:
            raise ApiError(404, f"no dispatch group {name!r}" + (f" (groups: {', '.join(sorted(config.groups))})" if config.groups else ""))
        return g

    @app.get("/api/v1/status")
    def status(_: Annotated[User, Depends(user)]) -> dict[str, Any]:
        groups = {}
        for name in sorted(config.groups):
            groups[name] = {"queued": len(store.queue(name)), "in_flight": store.in_flight(name),
                            "max_concurrent": config.groups[name].max_concurrent}
        return {"version": __version__, "leader": config.is_leader(), "groups": groups, **config.extra_status()}

    @app.get("/api/v1/groups")
    def groups(_: Annotated[User, Depends(user)]) -> list[dict[str, Any]]:
        return [
            {"id": g.name, "templates": list(g.templates), "labels": list(g.labels), "max_concurrent": g.max_concurrent,
             "queued": len(store.queue(g.name)), "in_flight": store.in_flight(g.name)}
            for g in sorted(config.groups.values(), key=lambda g: g.name)
        ]

    @app.get("/api/v1/groups/{group_id}/queue")
    def list_queue(group_id: str, _: Annotated[User, Depends(user)]) -> list[dict[str, Any]]:
        g = group(group_id)
        return [_entry(e) for e in store.queue(g.name, states=("queued", "dispatching", "dispatched"))]

    @app.post("/api/v1/groups/{group_id}/queue", status_code=201)
    def add(group_id: str, body: NewEntry, who: Annotated[User, Depends(admin)]) -> dict[str, Any]:
        g = group(group_id)
        if body.template not in g.templates:
            raise ApiError(422, f"template {body.template!r} is not in group {g.name} (templates: {', '.join(g.templates) or 'none'})")
        if len(body.inputs) > MAX_INPUTS:
            raise ApiError(422, f"{len(body.inputs)} inputs; a workflow_dispatch takes at most {MAX_INPUTS}")
        for k, v in body.inputs.items():
            if not k or len(k) > 100 or len(str(v)) > MAX_INPUT_LENGTH:
                raise ApiError(422, f"input {k[:100]!r} is empty or too long")
        e = store.add_entry(g.name, body.template, dict(body.inputs), priority=body.priority, created_by=who.name)
        return _entry(e)

    @app.put("/api/v1/groups/{group_id}/queue/reorder")
    def reorder(group_id: str, body: Reorder, _: Annotated[User, Depends(admin)]) -> list[dict[str, Any]]:
        g = group(group_id)
        try:
            store.reorder(g.name, body.ids)
        except Exception as exc:  # noqa: BLE001 - the store names the ids that are not queued
            raise ApiError(422, str(exc)) from None
        return [_entry(e) for e in store.queue(g.name)]

    @app.delete("/api/v1/jobs/{entry_id}")
    def cancel(entry_id: int, _: Annotated[User, Depends(admin)]) -> dict[str, Any]:
        e = store.get(entry_id)
        if e is None:
            raise ApiError(404, f"no queue entry {entry_id}")
        if not store.cancel(entry_id):
            raise ApiError(409, f"entry {entry_id} is {e.state}: only a queued entry can be cancelled")
        done = store.get(entry_id)
        assert done is not None
        return _entry(done)

    @app.get("/api/v1/history")
    def history(_: Annotated[User, Depends(user)], group_id: Annotated[str | None, Query(alias="group")] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        if group_id is not None:
            group(group_id)
        return [_entry(e) for e in store.history(group_id, limit)]



class Scale(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pool: str = Field(min_length=1, max_length=200)
    count: int = Field(default=1, ge=1, le=1000)


def _runner_routes(app: FastAPI, config: ApiConfig, user: Callable[..., User], admin: Callable[..., User]) -> None:
    def find(key: str) -> dict[str, Any]:
        for r in config.runners(True):
            if str(r.get("id")) == key or r.get("name") == key or str(r.get("github_id")) == key:
                return r
        raise ApiError(404, f"no runner {key[:200]!r} launched by this controller")

    def ask(kind: str, pool: str | None, count: int, runner: str | None) -> None:
        if config.request is None or not config.is_leader():
            raise ApiError(409, "this instance does not lead: ask the leader (see /health)")
        config.request(kind, pool, count, runner)

    @app.get("/api/v1/pools")
    def pools(_: Annotated[User, Depends(user)]) -> list[dict[str, Any]]:
        return config.pools()

    @app.get("/api/v1/runners")
    def runners(_: Annotated[User, Depends(user)], include_removed: Annotated[bool, Query(alias="all")] = False) -> list[dict[str, Any]]:
        return config.runners(include_removed)

    @app.post("/api/v1/runners/scale-up", status_code=202)
    def scale_up(body: Scale, _: Annotated[User, Depends(admin)]) -> dict[str, Any]:
        ask("scale-up", body.pool, body.count, None)
        return {"message": f"launching up to {body.count} runner(s) in pool {body.pool} (never beyond its max)"}

    @app.post("/api/v1/runners/scale-down", status_code=202)
    def scale_down(body: Scale, _: Annotated[User, Depends(admin)]) -> dict[str, Any]:
        ask("scale-down", body.pool, body.count, None)
        return {"message": f"removing up to {body.count} idle runner(s) of pool {body.pool} (never a busy one)"}

    @app.delete("/api/v1/runners/{runner_id}", status_code=202)
    def remove(runner_id: str, _: Annotated[User, Depends(admin)]) -> dict[str, Any]:
        r = find(runner_id)
        if r["status"] == "removed":
            raise ApiError(409, f"runner {r['name']} was removed already")
        if r["status"] == "busy":
            raise ApiError(409, f"runner {r['name']} is running a job: it goes by itself after the job")
        ask("remove", r["pool"], 1, r["name"])
        return {"message": f"removing runner {r['name']}"}

    @app.get("/api/v1/runners/{runner_id}/logs")
    def logs(runner_id: str, _: Annotated[User, Depends(user)]) -> Response:
        r = find(runner_id)
        text = config.runner_log(r["name"])
        if text is None:
            raise ApiError(404, f"no launcher output for runner {r['name']} on this instance")
        return Response(text, media_type="text/plain; charset=utf-8")


def _webhook_route(app: FastAPI, store: Store, config: ApiConfig) -> None:
    @app.post("/webhooks")
    async def webhook(request: Request) -> JSONResponse:
        event = (request.headers.get("x-github-event") or "")[:60]
        label = event if event in ("workflow_job", "workflow_run", "ping") else "other"
        guid = request.headers.get("x-github-delivery") or ""
        signature = request.headers.get("x-hub-signature-256") or ""

        def refuse(status: int, result: str, message: str) -> JSONResponse:
            config.count_webhook(label, result)
            return JSONResponse({"message": message}, status_code=status)

        if config.webhook_secret is None:
            return refuse(503, "not_configured", "webhooks are not configured: set serve.webhook_secret")
        size = int(request.headers.get("content-length") or 0) if (request.headers.get("content-length") or "").isdigit() else 0
        if size > MAX_WEBHOOK_BYTES:
            return refuse(413, "too_large", f"a delivery is at most {MAX_WEBHOOK_BYTES} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_WEBHOOK_BYTES:
                return refuse(413, "too_large", f"a delivery is at most {MAX_WEBHOOK_BYTES} bytes")
        if not signature.startswith("sha256="):
            return refuse(401, "unsigned", "X-Hub-Signature-256 is missing")
        expected = "sha256=" + hmac.new(config.webhook_secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return refuse(401, "bad_signature", "X-Hub-Signature-256 does not match the body")
        if not guid or len(guid) > 100:
            return refuse(400, "malformed", "X-GitHub-Delivery is missing")
        try:
            payload = json.loads(body)
        except ValueError:
            return refuse(400, "malformed", "the body is not JSON")
        if not isinstance(payload, dict):
            return refuse(400, "malformed", "the body is not a JSON object")
        if not store.remember_delivery(guid, event):
            return refuse(409, "replayed", "this delivery was received before")
        config.count_webhook(label, "accepted")
        if event == "ping":
            return JSONResponse({"message": "pong"})
        config.on_webhook(event, payload)
        return JSONResponse({"message": "accepted"}, status_code=202)
