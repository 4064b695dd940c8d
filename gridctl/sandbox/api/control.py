"""Sandbox-only control routes under ``/_sandbox`` (never a GitHub path).

Identities, request counters, limits, faults, latency and the clock. Areas with state of their
own (secret fingerprints, runners, workflow runs) register their control routes in their own
module with :func:`~gridctl.sandbox.routing.control`.
"""

from __future__ import annotations

import re
from typing import Any

from ..config import Faults, Latency
from ..errors import ApiError
from ..inputs import bool_field, number_field, str_field, str_list_field
from ..routing import control
from ..world import DEFAULT_SCOPES

#: a login as GitHub spells them: letters, digits, hyphens (and the underscore of managed users),
#: at most 39 characters (GitHub Docs, "Username considerations for external authentication",
#: https://docs.github.com/en/enterprise-cloud@latest/admin/managing-iam/iam-configuration-reference/username-considerations-for-external-authentication)
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,38}$")
#: the furthest the sandbox clock may be moved from the real time, either way: ten years
MAX_CLOCK_OFFSET = 10 * 366 * 86400.0
#: the largest latency a control request may set (a slower sandbox only looks hung)
MAX_LATENCY_SECONDS = 60.0


def _login(value: str, key: str) -> str:
    if not _LOGIN.match(value):
        raise ApiError(422, f"Invalid request.\n\nFor 'properties/{key}', {value!r} is not a login "
                       "(letters, digits, '-' or '_', at most 39 characters).")
    return value


def _logins(body: dict, key: str) -> list[str]:
    values = str_list_field(body, key, [], max_length=39)
    return [_login(value, f"{key}/{i}") for i, value in enumerate(values)]


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
    login = _login(str_field(body, "login", max_length=39), "login")
    is_org = bool_field(body, "org", False)
    admins, members = _logins(body, "admins"), _logins(body, "members")
    name, email = str_field(body, "name", None), str_field(body, "email", None)
    scopes = str_list_field(body, "scopes", None, max_length=100) or DEFAULT_SCOPES
    token = str_field(body, "token", None, max_length=255)
    token_wanted = bool_field(body, "token_wanted", True)
    if is_org:  # check the members first: a refused request creates nothing
        for who in [*admins, *members]:
            _need_user(world, who)
    rec = world.find_user(login)
    if rec is None:
        rec = world.create_user(login, org=is_org, name=name, email=email)
    elif (rec["type"] == "Organization") != is_org:
        raise ApiError(422, f"{login} already exists as a {rec['type']}")
    out: dict[str, Any] = {"login": rec["login"], "id": rec["id"], "type": rec["type"]}
    if is_org:
        for who in admins:
            world.set_membership(rec, who, "admin")
        for who in members:
            world.set_membership(rec, who, "member")
        out["members"] = dict(rec["members"])
    elif token_wanted:
        out["token"] = world.issue_token(login, scopes, token)
        out["scopes"] = sorted(set(scopes))
    return 201, out


def _need_user(world: Any, login: str) -> None:
    user = world.find_user(login)
    if user is None or user["type"] != "User":
        raise ApiError(422, f"{login} is not a sandbox user")


@control("POST", "/tokens")
def add_token(app: Any, body: dict, params: dict, query: dict) -> Any:
    login = _login(str_field(body, "login", max_length=39), "login")
    scopes = str_list_field(body, "scopes", None, max_length=100) or DEFAULT_SCOPES
    token = str_field(body, "token", None, max_length=255)
    return 201, {"token": app.world.issue_token(login, scopes, token), "scopes": sorted(set(scopes))}


@control("PUT", "/orgs/{org}/members/{login}")
def set_member(app: Any, body: dict, params: dict, query: dict) -> Any:
    org = app.world.find_user(params["org"])
    if org is None or org["type"] != "Organization":
        raise ApiError(404, "no such organization")
    _need_user(app.world, params["login"])
    role = str_field(body, "role", "member")
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
    reset = bool_field(values, "reset", False)
    values.pop("reset", None)
    app.config.limits.update(values)
    if reset:
        app.limiter.reset_all()
    return app.config.limits.as_dict()


@control("PUT", "/ratelimit/{login}")
def set_ratelimit(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Set one identity's primary window: ``{"limit": 100, "remaining": 3, "reset_in": 30}``."""
    identity = params["login"].lower()
    anonymous = identity.startswith("ip:")
    limit = number_field(body, "limit", None, low=0, high=10**9, integer=True)
    remaining = number_field(body, "remaining", None, low=0, high=10**9, integer=True)
    reset_in = number_field(body, "reset_in", None, low=0, high=MAX_CLOCK_OFFSET)
    if limit is not None:
        app.limiter.limit_overrides[identity] = limit
    bucket = app.limiter.bucket(identity, anonymous)
    if remaining is not None:
        bucket.used = bucket.limit - remaining
    if reset_in is not None:
        bucket.reset = int(app.world.now() + reset_in)
    return {"limit": bucket.limit, "remaining": bucket.remaining, "used": bucket.used, "reset": int(bucket.reset)}


@control("GET", "/faults")
def get_faults(app: Any, body: dict, params: dict, query: dict) -> Any:
    return app.config.faults.as_dict()


@control("PUT", "/faults")
def set_faults(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{"specs": ["rate=0.1,statuses=502|reset", "nth=2,op=repos/get,status=503"]}`` replaces
    the fault settings; ``{"specs": []}`` turns faults off."""
    app.config.faults = Faults.parse(str_list_field(body, "specs", [], max_length=1000))
    return app.config.faults.as_dict()


@control("PUT", "/latency")
def set_latency(app: Any, body: dict, params: dict, query: dict) -> Any:
    latency = Latency.parse(str_field(body, "latency", None, max_length=100))
    if latency.value > MAX_LATENCY_SECONDS or latency.sigma > 2:
        raise ApiError(422, f"latency must be at most {MAX_LATENCY_SECONDS:g}s (lognormal: median, with sigma at most 2)")
    app.config.latency = latency
    return app.config.latency.as_dict()


@control("POST", "/clock")
def advance_clock(app: Any, body: dict, params: dict, query: dict) -> Any:
    """Move the sandbox clock forward by ``{"advance": seconds}`` (rate windows, blocks, ages).

    The clock stays within :data:`MAX_CLOCK_OFFSET` (ten years) of the real time, either way: a
    date decades off is no test of anything, and years past 9999 cannot be written in ISO 8601.
    """
    advance = number_field(body, "advance", 0, low=-MAX_CLOCK_OFFSET, high=MAX_CLOCK_OFFSET)
    offset = app.world.clock_offset + advance
    if abs(offset) > MAX_CLOCK_OFFSET:
        raise ApiError(422, f"advance {advance:g} would move the sandbox clock more than ten years from the real time "
                       f"(it is {app.world.clock_offset:g} s off now)")
    app.world.clock_offset = offset
    return {"now": app.world.now(), "offset": app.world.clock_offset}


@control("GET", "/conformance")
def conformance(app: Any, body: dict, params: dict, query: dict) -> Any:
    """What strict mode has validated and any violations it found."""
    return {
        "strict": app.config.strict,
        "validated": [{"operation": op, "status": st, "count": n} for (op, st), n in sorted(app.validated.items())],
        "violations": list(app.violations),
        # bodies clients sent to operations that take none (github.com ignores them)
        "stray_request_bodies": dict(sorted(app.stray_bodies.items())),
    }
