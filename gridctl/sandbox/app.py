"""The sandbox's ASGI application: one pipeline in front of every GitHub route.

For each request, in order (the same order github.com appears to apply):

1. strip an ``/api/v3`` prefix (GitHub Enterprise style base URLs work too);
2. ``/_sandbox/...`` goes to the control routes, never to GitHub's;
3. authenticate (``Authorization: token|Bearer``): an unknown token is a 401;
4. count the request in flight (secondary limit on concurrency), add latency, maybe inject
   a random fault (502 / 503 / connection reset);
5. route (:class:`RouteIndex`, Starlette path syntax); no route is GitHub's 404;
6. per operation: nth-request faults, secondary limits, the primary limit;
7. parse and schema-check the JSON body against the operation's request schema (400 / 422);
8. run the handler; commit the store;
9. ETag / ``If-None-Match`` -> 304 (not charged when authorized), rate-limit headers, scope headers;
10. in strict mode, validate the response against the documented schema and keep a record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import secrets
import socket
import struct
import traceback
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, compile_path

from . import api  # noqa: F401  (registers every area's routes)
from .api import apps as _apps
from .api.hooks import Deliverer
from .api.jobs import Scheduler
from .config import ConfigError, FaultRule, SandboxConfig
from .errors import ApiError
from .http import Ctx, Reply
from .inputs import json_object, parse_json
from .limits import RateLimiter
from .routing import CONTROL_ROUTES, ROUTES, ControlHandler, RouteSpec, web_asgi, web_prefixes
from .spec import describe_error, load_spec
from .store import Store
from .world import ACTING, World

log = logging.getLogger("gridctl.sandbox")

API_VERSION = "2022-11-28"
EXPOSE = (
    "ETag, Link, Location, Retry-After, X-GitHub-OTP, X-RateLimit-Limit, X-RateLimit-Remaining, "
    "X-RateLimit-Used, X-RateLimit-Resource, X-RateLimit-Reset, X-OAuth-Scopes, "
    "X-Accepted-OAuth-Scopes, X-Poll-Interval, X-GitHub-Media-Type, X-GitHub-SSO, "
    "X-GitHub-Request-Id, Deprecation, Sunset"
)
FREE_OPS = {"rate-limit/get"}


@dataclass
class RequestState:
    user: dict | None
    scopes: frozenset[str]
    identity: str
    anonymous: bool
    prefix: str
    request_id: str
    authorization: str
    bad_token: bool = False
    #: a GitHub App's JWT: the app, or GitHub's 401 message for a JWT that does not verify
    app: dict | None = None
    jwt_error: str | None = None
    #: an installation token: the installation it reaches (see api/apps.py)
    installation: dict | None = None
    #: "primary" | "secondary" when a rate limit refused the request
    limited: str | None = None


class Stats:
    """Request counters per identity and per operation, for benchmarks and tests."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.by_identity: dict[str, Counter[str]] = defaultdict(Counter)
        self.by_op: dict[str, Counter[str]] = defaultdict(Counter)
        self.total: Counter[str] = Counter()

    def record(self, identity: str, op: str, status: int, charged: bool, limited: str | None = None) -> None:
        for c in (self.by_identity[identity], self.by_op[op], self.total):
            c["requests"] += 1
            c[f"status_{status}"] += 1
            if status == 304:
                c["not_modified"] += 1
            if charged:
                c["points"] += 1
            if limited:  # refused by a rate limit: "primary_limited" / "secondary_limited"
                c[f"{limited}_limited"] += 1

    def in_flight(self, identity: str, count: int) -> None:
        """Note ``count`` requests of ``identity`` in flight (its peak is ``peak_in_flight``)."""
        c = self.by_identity[identity]
        if count > c["peak_in_flight"]:
            c["peak_in_flight"] = count

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": dict(self.total),
            "by_identity": {k: dict(v) for k, v in sorted(self.by_identity.items())},
            "by_endpoint": {k: dict(v) for k, v in sorted(self.by_op.items())},
        }


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class SandboxApp:
    """The whole emulator as one ASGI callable."""

    def __init__(self, store: Store | None = None, config: SandboxConfig | None = None):
        self.store = store or Store()
        self.config = config or SandboxConfig()
        self.world = World(self.store)
        self.spec = load_spec()
        self.rng = random.Random(self.config.seed)
        self.limiter = RateLimiter(self.config.limits, self.world.now, self.rng)
        self.world.limiter = self.limiter
        self.world.config = self.config
        self.stats = Stats()
        self.validated: Counter[tuple[str, int]] = Counter()
        self.violations: list[str] = []
        #: requests that sent a body to an operation whose description defines none, per operation
        self.stray_bodies: Counter[str] = Counter()
        self.routes_by_op: dict[str, RouteSpec] = {r.op_id: r for r in ROUTES if not r.alias}
        for r in ROUTES:
            if r.op_id not in self.spec.operations:
                raise RuntimeError(f"route {r.method} {r.path} names unknown operation {r.op_id}")
        self.routes = RouteIndex(ROUTES)
        self.control = Starlette(
            routes=[Route(path, self._control_endpoint(fn), methods=[m]) for m, path, fn in CONTROL_ROUTES],
            exception_handlers={404: _control_no_route, 405: _control_no_route},
        )
        #: pages of the web host (the OAuth web flow, signed download links), outside the API pipeline
        self.web = web_asgi(self)
        self.web_prefixes = web_prefixes()
        #: background work: the job scheduler (leases, queue timeouts, assignments) and the
        #: webhook delivery workers (strict mode adds payload problems to the violations)
        self.scheduler = Scheduler(self.world, self.store.lock, self.violations)
        self.deliverer = Deliverer(self.world, self.store.lock, self.violations)

    def start_services(self) -> None:
        """Start the background threads (the server calls this once it serves)."""
        self.scheduler.start()
        self.deliverer.start()

    def stop_services(self) -> None:
        """Stop the background threads; called before the store is closed."""
        self.scheduler.stop()
        self.deliverer.stop()

    # -- ASGI entry --------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if self.web_prefixes and path.startswith(self.web_prefixes):
            await self.web(scope, receive, send)
            return
        prefix = ""
        if path == "/api/v3" or path.startswith("/api/v3/"):
            prefix = "/api/v3"
            scope = dict(scope)
            scope["path"] = path[len(prefix) :] or "/"
            scope["raw_path"] = scope["path"].encode()
            path = scope["path"]
        if path.startswith("/_sandbox/"):
            await self.control(scope, receive, send)
            return

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = self._request_id()
        auth = headers.get("authorization", "")
        token = _token_from_header(auth)
        ip = (scope.get("client") or ("127.0.0.1", 0))[0]
        user = None
        scopes: frozenset[str] = frozenset()
        bad_token = False
        app_rec = installation = None
        jwt_error = None
        if token is not None and _apps.looks_like_jwt(token):
            app_rec, jwt_error = _apps.verify_jwt(self.world, token)
        elif token is not None:
            info = self.world.token_info(token)
            if info is None or self.world.find_user(info["login"]) is None:
                bad_token = True
            elif info.get("installation_id") is not None:
                installation = _apps.token_installation(self.world, info)
                if installation is None:  # expired, or the installation is gone or suspended
                    bad_token = True
                else:
                    user = self.world.find_user(info["login"])
                    scopes = frozenset(info["scopes"])
                    installation["bot"] = info["login"]
            else:
                user = self.world.find_user(info["login"])
                scopes = frozenset(info["scopes"])
        identity = user["login"].lower() if user else f"ip:{ip}"
        if installation is not None:
            identity = f"installation:{installation['id']}"
            self.limiter.limit_overrides.setdefault(identity, _apps.rate_limit(self.world, installation))
        elif app_rec is not None:
            identity = f"app:{app_rec['id']}"
        state = RequestState(
            user=user,
            scopes=scopes,
            identity=identity,
            anonymous=user is None and app_rec is None,
            prefix=prefix,
            request_id=request_id,
            authorization=auth,
            bad_token=bad_token,
            app=app_rec,
            jwt_error=jwt_error,
            installation=installation,
        )
        scope = dict(scope)
        scope["gridctl"] = state
        within = self.limiter.enter(identity)
        self.stats.in_flight(identity, self.limiter.inflight[identity])
        try:
            delay = self.config.latency.sample(self.rng)
            if delay > 0:
                await asyncio.sleep(delay)
            if not within:
                self.limiter.block(identity)
                err = self.limiter.secondary_error(self.config.limits.secondary_block_seconds, request_id)
                self.stats.record(identity, "(concurrency)", err.status, False, "secondary")
                await self._send_raw(send, err.status, _json_bytes(err.body()), {**self._common_headers(state), **err.headers})
                return
            faults = self.config.faults
            if faults.rate > 0 and self.rng.random() < faults.rate:
                await self._fault(scope, send, self.rng.choice(faults.statuses), state)
                return
            found = self.routes.match(scope["method"], path)
            if found is None:
                response = await self._no_route(Request(scope, receive), None)
            else:
                route, params = found
                scope["path_params"] = params
                response = await self._handle(Request(scope, receive), route)
            await response(scope, receive, send)
        finally:
            self.limiter.leave(identity)

    # -- GitHub routes ----------------------------------------------------------------------

    async def _handle(self, request: Request, r: RouteSpec) -> Response:
        state: RequestState = request.scope["gridctl"]
        op = self.spec.operation(r.op_id)
        rule = self._nth_fault(r)
        if rule is not None and not rule.after:
            return await self._fault_response(request.scope, rule.status, state, r.op_id)
        try:
            if state.bad_token:
                raise ApiError(401, "Bad credentials", doc_url="https://docs.github.com/rest")
            if state.jwt_error:
                raise ApiError(401, state.jwt_error, doc_url="https://docs.github.com/rest")
            _apps.gate(r.method, r.path, r.op_id, state.app, state.installation)
            state.limited = "secondary"
            self.limiter.check_secondary(state.identity, r.op_id, r.method, r.content, state.request_id)
            state.limited = "primary"
            if r.op_id not in FREE_OPS:  # GET /rate_limit answers even when nothing is left
                self.limiter.check_primary(
                    state.identity, state.anonymous, state.user["id"] if state.user else None, request.scope["client"][0]
                )
            state.limited = None
            body = await self._body(request, op.op_id, r.method)
            query = {k: v for k, v in request.query_params.items()}
            ctx = Ctx(
                world=self.world,
                op=op,
                method=r.method,
                params=dict(request.path_params),
                query=query,
                body=body,
                headers={k.lower(): v for k, v in request.headers.items()},
                user=state.user,
                scopes=state.scopes,
                base_url=self._base_url(state),
                path=request.scope["path"],
                request_id=state.request_id,
                identity=state.identity,
                app=state.app,
                installation=state.installation,
            )
            if r.scopes and state.user is not None:
                ctx.require_scope(*r.scopes)
            with self.store.lock:
                acting = ACTING.set(state.installation)
                try:
                    reply: Reply | ApiError = r.handler(ctx)
                finally:
                    ACTING.reset(acting)
                    self.store.commit()
        except ApiError as err:
            reply = err
        except ClientDisconnect:
            # the client went away mid-request (killed, timed out): nobody to answer, no bug
            return Response(status_code=499)
        except Exception:  # a bug in a handler: answer 500 and keep the evidence
            log.error("handler %s crashed:\n%s", r.op_id, traceback.format_exc())
            self.violations.append(f"{r.op_id}: handler raised {traceback.format_exc(limit=3)}")
            reply = ApiError(500, "Server Error")
        if rule is not None and rule.after:
            return await self._fault_response(request.scope, rule.status, state, r.op_id)
        return self._finish(request, r, op.doc_url, state, reply)

    async def _body(self, request: Request, op_id: str, method: str) -> Any:
        raw = await request.body()
        if method in ("GET", "HEAD"):
            return None
        validator = self.spec.request_validator(op_id)
        if raw.strip() and not self.spec.operation(op_id).raw.get("requestBody"):
            # github.com ignores it; counted so tests can hold a client (gridctl) to the description
            self.stray_bodies[op_id] += 1
        body: Any = parse_json(raw) if raw.strip() else {}
        if validator is not None:
            if not isinstance(body, dict) and validator.schema.get("type") == "object":
                raise ApiError(400, "Body should be a JSON object")
            errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
            if errors:
                raise ApiError(422, "Invalid request.\n\n" + "\n".join(describe_error(e) for e in errors[:5]))
        return body

    def _finish(self, request: Request, r: RouteSpec, doc_url: str, state: RequestState, reply: Reply | ApiError) -> Response:
        headers: dict[str, str] = {}
        if isinstance(reply, ApiError):
            status = reply.status
            payload: bytes = _json_bytes(reply.body(doc_url))
            headers.update(reply.headers)
        else:
            status = reply.status
            payload = reply.raw if reply.raw is not None else b"" if reply.body is None else _json_bytes(reply.body)
            headers.update(reply.headers)
        charged = r.op_id not in FREE_OPS
        if request.method in ("GET", "HEAD") and status == 200:
            etag = 'W/"' + hashlib.sha256(
                state.authorization.encode() + b"\0" + request.headers.get("accept", "").encode() + b"\0" + payload
            ).hexdigest() + '"'
            headers["ETag"] = etag
            headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
            inm = request.headers.get("if-none-match")
            if inm and _etag_matches(inm, etag):
                # "does not count against your primary rate limit if ... the request was made
                # while correctly authorized with an Authorization header" (GitHub Docs, "Best
                # practices for using the REST API", conditional requests): anonymous 304s count
                status, payload, charged = 304, b"", charged and state.anonymous
                headers.pop("Link", None)
        elif status in (200, 201) and payload:
            # a write's answer carries a (strong) validator of its body, as github.com's do
            headers.setdefault("ETag", '"' + hashlib.sha256(payload).hexdigest() + '"')
        if charged:
            self.limiter.charge(state.identity, state.anonymous)
        limited = state.limited if isinstance(reply, ApiError) else None
        self.stats.record(state.identity, r.op_id, status, charged, limited)
        if self.config.strict:
            if isinstance(reply, ApiError):
                self._validate(r.op_id, status, payload)
            elif reply.raw is None:  # a raw body (a file's bytes, HTML) has no schema to meet
                self._validate(r.op_id, status, payload, reply.media_type)
        return self._response(status, payload, headers, state, r)

    def _response(self, status: int, payload: bytes, headers: dict[str, str], state: RequestState, r: RouteSpec | None) -> Response:
        out = self._common_headers(state)
        if r is not None and r.scopes:
            out["X-Accepted-OAuth-Scopes"] = ", ".join(r.scopes)
        out.update(headers)
        if status == 204 or status == 304:
            return Response(status_code=status, headers=out)
        out.setdefault("Content-Type", "application/json; charset=utf-8")
        return Response(payload, status_code=status, headers=out)

    def _common_headers(self, state: RequestState) -> dict[str, str]:
        out = {
            "Server": "github.com",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": API_VERSION,
            "X-GitHub-Request-Id": state.request_id,
            "Access-Control-Expose-Headers": EXPOSE,
            "Access-Control-Allow-Origin": "*",
            "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
            # the security headers every github.com API response carries
            "Content-Security-Policy": "default-src 'none'",
            "Referrer-Policy": "origin-when-cross-origin, strict-origin-when-cross-origin",
            "Strict-Transport-Security": "max-age=31536000; includeSubdomains; preload",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "deny",
            "X-XSS-Protection": "0",
        }
        if state.user is not None and state.installation is None:  # installation tokens have no scopes
            out["X-OAuth-Scopes"] = ", ".join(sorted(state.scopes))
            out["X-Accepted-OAuth-Scopes"] = ""
        out.update(self._rate_headers(state))
        return out

    def _rate_headers(self, state: RequestState) -> dict[str, str]:
        return self.limiter.headers(state.identity, state.anonymous)

    async def _no_route(self, request: Request, exc: Exception | None) -> Response:
        state: RequestState = request.scope["gridctl"]
        err = ApiError(401, "Bad credentials") if state.bad_token else ApiError(404, "Not Found")
        self.limiter.charge(state.identity, state.anonymous)
        self.stats.record(state.identity, "(no route)", err.status, True)
        return self._response(err.status, _json_bytes(err.body()), {}, state, None)

    # -- faults ----------------------------------------------------------------------------------
    def _nth_fault(self, r: RouteSpec) -> FaultRule | None:
        for rule in self.config.faults.rules:
            if rule.fired or rule.op != r.op_id:
                continue
            rule.seen += 1
            if rule.seen == rule.nth:
                rule.fired = True
                return rule
        return None

    async def _fault_response(self, scope: Any, status: int | str, state: RequestState, op_id: str) -> Response:
        self.stats.record(state.identity, op_id, 0 if status == "reset" else int(status), False)
        if status == "reset":
            _reset_connection(scope)
            await asyncio.sleep(0)  # let the server notice the disconnect before we "answer"
            return Response(status_code=502)  # never reaches the client: the socket is gone
        message = {502: "Server Error", 503: "Service Unavailable", 504: "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists."}.get(int(status), "Server Error")
        body = ApiError(int(status), message).body()
        return self._response(int(status), _json_bytes(body), {}, state, None)

    async def _fault(self, scope: dict, send: Any, status: int | str, state: RequestState) -> None:
        self.stats.record(state.identity, "(fault)", 0 if status == "reset" else int(status), False)
        if status == "reset":
            _reset_connection(scope)
            await asyncio.sleep(0)
            return
        body = ApiError(int(status), "Server Error" if status == 502 else "Service Unavailable").body()
        await self._send_raw(send, int(status), _json_bytes(body), self._common_headers(state))

    # -- helpers ---------------------------------------------------------------------------------
    def _base_url(self, state: RequestState) -> str:
        return (self.config.public_url or "http://127.0.0.1").rstrip("/") + state.prefix

    def _request_id(self) -> str:
        h = secrets.token_hex(10).upper()
        return f"{h[:4]}:{h[4:8]}:{h[8:14]}:{h[14:20]}:{secrets.token_hex(4).upper()}"

    def _validate(self, op_id: str, status: int, payload: bytes, media_type: str | None = None) -> None:
        problems = self.spec.check_response(op_id, status, payload, media_type)
        if problems:
            self.violations.extend(problems)
        else:
            self.validated[(op_id, status)] += 1

    async def _send_raw(self, send: Any, status: int, payload: bytes, headers: dict[str, str]) -> None:
        hdrs = [(k.lower().encode(), str(v).encode()) for k, v in headers.items()]
        hdrs.append((b"content-type", b"application/json; charset=utf-8"))
        hdrs.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": hdrs})
        await send({"type": "http.response.body", "body": payload})

    # -- control routes ------------------------------------------------------------------------
    def _control_endpoint(self, fn: ControlHandler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                raw = await request.body()
                body = json_object(parse_json(raw) if raw.strip() else {})
                with self.store.lock:
                    try:
                        result = fn(self, body, dict(request.path_params), dict(request.query_params))
                    finally:
                        self.store.commit()
            except ApiError as err:
                return Response(_json_bytes(err.body()), status_code=err.status, media_type="application/json")
            except ConfigError as exc:  # a knob's value (limits, faults, latency) out of its range
                return Response(_json_bytes({"message": str(exc)}), status_code=422, media_type="application/json")
            except (ValueError, KeyError, TypeError) as exc:
                return Response(_json_bytes({"message": f"bad control request: {exc}"}), status_code=400, media_type="application/json")
            except ClientDisconnect:
                return Response(status_code=499)
            except Exception:  # a bug in a control route: answer 500 and keep the evidence
                log.error("control route %s crashed:\n%s", request.url.path, traceback.format_exc())
                self.violations.append(f"control {request.method} {request.url.path}: raised {traceback.format_exc(limit=3)}")
                return Response(_json_bytes({"message": "Server Error"}), status_code=500, media_type="application/json")
            status = 200
            if isinstance(result, tuple):
                status, result = result
            return Response(_json_bytes(result), status_code=status, media_type="application/json")

        return endpoint


class RouteIndex:
    """Finds the route of a request like Starlette's router (same path syntax and converters,
    first registered match wins) without trying every route in turn: routes sit in a tree of
    path segments, so a request only regex-checks the few routes whose literal segments agree.

    A request that matches nothing is retried with its trailing slash toggled and served
    directly (``/repos/o/r/contents`` lists the root like ``.../contents/``); Starlette would
    answer with a redirect that loses the ``/api/v3`` prefix. ``HEAD`` finds ``GET`` routes.
    """

    class _Node:
        __slots__ = ("literal", "param", "ends", "tails")

        def __init__(self) -> None:
            self.literal: dict[str, RouteIndex._Node] = {}
            self.param: RouteIndex._Node | None = None
            self.ends: list[int] = []  # routes whose template ends here
            self.tails: list[int] = []  # routes with a multi-segment ({x:path}) part from here

    def __init__(self, routes: list[RouteSpec]):
        self.entries: list[tuple[RouteSpec, Any, dict]] = []
        self.roots: dict[str, RouteIndex._Node] = {}
        for order, r in enumerate(routes):
            regex, _, convertors = compile_path(r.path)
            self.entries.append((r, regex, convertors))
            node = self.roots.setdefault(r.method, RouteIndex._Node())
            for seg in r.path.split("/")[1:]:
                if "{" not in seg:
                    node = node.literal.setdefault(seg, RouteIndex._Node())
                elif seg.startswith("{") and seg.endswith("}") and seg.count("{") == 1 and ":path}" not in seg:
                    node.param = node.param or RouteIndex._Node()
                    node = node.param
                else:
                    node.tails.append(order)
                    break
            else:
                node.ends.append(order)

    def match(self, method: str, path: str) -> tuple[RouteSpec, dict[str, Any]] | None:
        found = self._match(method, path)
        if found is None and method == "HEAD":
            found = self._match("GET", path)
        if found is None and path != "/":
            other = path[:-1] if path.endswith("/") else path + "/"
            found = self._match(method, other) or (self._match("GET", other) if method == "HEAD" else None)
        return found

    def _match(self, method: str, path: str) -> tuple[RouteSpec, dict[str, Any]] | None:
        root = self.roots.get(method)
        if root is None:
            return None
        segs = path.split("/")[1:]
        candidates: list[int] = []
        stack = [(root, 0)]
        while stack:
            node, i = stack.pop()
            candidates.extend(node.tails)
            if i == len(segs):
                candidates.extend(node.ends)
                continue
            child = node.literal.get(segs[i])
            if child is not None:
                stack.append((child, i + 1))
            if node.param is not None and segs[i]:
                stack.append((node.param, i + 1))
        for order in sorted(candidates):
            r, regex, convertors = self.entries[order]
            m = regex.match(path)
            if m:
                return r, {k: convertors[k].convert(v) for k, v in m.groupdict().items()}
        return None


async def _control_no_route(request: Request, exc: Exception) -> Response:
    body = {"message": f"no sandbox control route {request.method} {request.url.path}"}
    return Response(_json_bytes(body), status_code=404, media_type="application/json")


def _token_from_header(value: str) -> str | None:
    if not value:
        return None
    scheme, _, rest = value.partition(" ")
    scheme = scheme.lower()
    if scheme in ("token", "bearer"):
        return rest.strip()
    if scheme == "basic":
        import base64

        try:
            decoded = base64.b64decode(rest.strip()).decode()
        except ValueError:
            return ""
        return decoded.partition(":")[2]
    return ""


def _etag_matches(header: str, etag: str) -> bool:
    want = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == want:
            return True
    return False


def _reset_connection(scope: dict) -> None:
    """Abort the client's TCP connection with a RST (SO_LINGER 0), like a dropped proxy."""
    transport = ((scope.get("extensions") or {}).get("gridctl.transport") or {}).get("transport")
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
