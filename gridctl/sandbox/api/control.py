"""Sandbox-only control routes under ``/_sandbox`` (never a GitHub path).

Identities, request counters, limits, faults, latency and the clock. Areas with state of their
own (secret fingerprints, runners, workflow runs) register their control routes in their own
module with :func:`~gridctl.sandbox.routing.control`.
"""

from __future__ import annotations

from typing import Any

from ..config import Faults, Latency
from ..errors import ApiError
from ..routing import control
from ..world import DEFAULT_SCOPES


@control("GET", "/health")
def health(app: Any, body: dict, params: dict, query: dict) -> Any:
    return {"ok": True, "users": len(app.store.table("users")), "repos": len(app.store.table("repos"))}


@control("POST", "/users")
def add_user(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{login, org?: bool, scopes?: [...], token?: str, admins?: [...], members?: [...]}``.

    A user gets a token (returned once; the sandbox keeps only its hash). An organization gets
    none: it is acted on by its admins' tokens.
    """
    world = app.world
    login = body["login"]
    is_org = bool(body.get("org"))
    if is_org:  # check the members first: a refused request creates nothing
        for who in [*body.get("admins", []), *body.get("members", [])]:
            _need_user(world, who)
    rec = world.find_user(login)
    if rec is None:
        rec = world.create_user(login, org=is_org, name=body.get("name"), email=body.get("email"))
    elif (rec["type"] == "Organization") != is_org:
        raise ApiError(422, f"{login} already exists as a {rec['type']}")
    out: dict[str, Any] = {"login": rec["login"], "id": rec["id"], "type": rec["type"]}
    if is_org:
        for who in body.get("admins", []):
            _need_user(world, who)
            world.set_membership(rec, who, "admin")
        for who in body.get("members", []):
            _need_user(world, who)
            world.set_membership(rec, who, "member")
        out["members"] = dict(rec["members"])
    elif body.get("token_wanted", True):
        out["token"] = world.issue_token(login, body.get("scopes") or DEFAULT_SCOPES, body.get("token"))
        out["scopes"] = sorted(set(body.get("scopes") or DEFAULT_SCOPES))
    return 201, out


def _need_user(world: Any, login: str) -> None:
    user = world.find_user(login)
    if user is None or user["type"] != "User":
        raise ApiError(422, f"{login} is not a sandbox user")


@control("POST", "/tokens")
def add_token(app: Any, body: dict, params: dict, query: dict) -> Any:
    scopes = body.get("scopes") or DEFAULT_SCOPES
    return 201, {"token": app.world.issue_token(body["login"], scopes, body.get("token")), "scopes": sorted(set(scopes))}


@control("PUT", "/orgs/{org}/members/{login}")
def set_member(app: Any, body: dict, params: dict, query: dict) -> Any:
    org = app.world.find_user(params["org"])
    if org is None or org["type"] != "Organization":
        raise ApiError(404, "no such organization")
    _need_user(app.world, params["login"])
    role = body.get("role", "member")
    if role not in ("member", "admin"):
        raise ApiError(422, "role must be member or admin")
    app.world.set_membership(org, params["login"], role)
    return {"members": dict(org["members"])}


@control("GET", "/stats")
def get_stats(app: Any, body: dict, params: dict, query: dict) -> Any:
    return app.stats.as_dict()


@control("POST", "/stats/reset")
def reset_stats(app: Any, body: dict, params: dict, query: dict) -> Any:
    app.stats.reset()
    return {"ok": True}


@control("GET", "/limits")
def get_limits(app: Any, body: dict, params: dict, query: dict) -> Any:
    return app.config.limits.as_dict()


@control("PUT", "/limits")
def set_limits(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Change limits (``{"primary_per_hour": 50, "secondary_block_seconds": 1, ...}``); with
    ``"reset": true`` also forget every window and block."""
    values = dict(body)
    reset = values.pop("reset", False)
    app.config.limits.update(values)
    if reset:
        app.limiter.reset_all()
    return app.config.limits.as_dict()


@control("PUT", "/ratelimit/{login}")
def set_ratelimit(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Set one identity's primary window: ``{"limit": 100, "remaining": 3, "reset_in": 30}``."""
    identity = params["login"].lower()
    anonymous = identity.startswith("ip:")
    if "limit" in body:
        app.limiter.limit_overrides[identity] = int(body["limit"])
    bucket = app.limiter.bucket(identity, anonymous)
    if "remaining" in body:
        bucket.used = bucket.limit - int(body["remaining"])
    if "reset_in" in body:
        bucket.reset = int(app.world.now() + float(body["reset_in"]))
    return {"limit": bucket.limit, "remaining": bucket.remaining, "used": bucket.used, "reset": int(bucket.reset)}


@control("GET", "/faults")
def get_faults(app: Any, body: dict, params: dict, query: dict) -> Any:
    return app.config.faults.as_dict()


@control("PUT", "/faults")
def set_faults(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{"specs": ["rate=0.1,statuses=502|reset", "nth=2,op=repos/get,status=503"]}`` replaces
    the fault settings; ``{"specs": []}`` turns faults off."""
    app.config.faults = Faults.parse(body.get("specs", []))
    return app.config.faults.as_dict()


@control("PUT", "/latency")
def set_latency(app: Any, body: dict, params: dict, query: dict) -> Any:
    app.config.latency = Latency.parse(body.get("latency"))
    return app.config.latency.as_dict()


@control("POST", "/clock")
def advance_clock(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Move the sandbox clock forward by ``{"advance": seconds}`` (rate windows, blocks, ages)."""
    app.world.clock_offset += float(body.get("advance", 0))
    return {"now": app.world.now(), "offset": app.world.clock_offset}


@control("GET", "/conformance")
def conformance(app: Any, body: dict, params: dict, query: dict) -> Any:
    """What strict mode has validated and any violations it found."""
    return {
        "strict": app.config.strict,
        "validated": [{"operation": op, "status": st, "count": n} for (op, st), n in sorted(app.validated.items())],
        "violations": list(app.violations),
    }
