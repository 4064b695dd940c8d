"""Schema-driven fuzzing: whatever a client sends, the sandbox answers 4xx (never 5xx), and every
answer still matches GitHub's OpenAPI description.

For every operation the sandbox routes, requests start from that operation's success case in
``tests/sandbox/cases/`` (so the path names things that exist in the seed world and the handler
really runs) and Hypothesis varies them from the vendored description:

* the body: drawn from the operation's request schema (:func:`from_schema`) and laid over the
  case's body; or the case's body with one field replaced by any JSON value; or any JSON value;
  or bytes that are not JSON at all (deep nesting, lone surrogates, ``NaN``, broken UTF-8...);
* the query: each documented query parameter drawn from its schema, or any text;
* the path: sometimes one segment replaced by hostile text (NUL, ``..``, ``.git``, 5,000
  characters, bytes that are not UTF-8);
* the caller: the case's, an outsider (carol) or nobody.

Each response is checked: no 5xx, and nothing added to the strict sandbox's violations (a
handler crash or a response that breaks the description). The control routes (``/_sandbox``)
get the same treatment with bodies built from the fields they take, followed by a write to a
GitHub route (so a control request that breaks later writes is caught too).

Bounded: a fixed number of requests in all, shared out over the operations (derandomized, so CI
sees the same requests each run), a 30 s timeout per request and an overall guard against a hang. The figures
(requests, operations, statuses, seconds) are printed. ``GRIDCTL_FUZZ_EXAMPLES`` raises the
per-operation count and ``GRIDCTL_FUZZ_SEED`` picks other requests, for a longer hunt by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

import gridctl.sandbox.app  # noqa: F401  (registers routes)
from gridctl.sandbox.config import Limits
from gridctl.sandbox.routing import CONTROL_ROUTES
from gridctl.sandbox.spec import load_spec, to_json_schema
from gridctl.sandbox.testing import strict_sandbox

from .conformance import Case, all_cases, fill, fill_body
from .conftest import Seed, make_seed

#: requests per operation: GRIDCTL_FUZZ_EXAMPLES, else a share of TOTAL_REQUESTS (at least
#: MIN_EXAMPLES), so the run stays the same size as operations are added
TOTAL_REQUESTS = 12_000
MIN_EXAMPLES = 25
EXAMPLES = int(os.environ.get("GRIDCTL_FUZZ_EXAMPLES", "0"))
CONTROL_EXAMPLES = int(os.environ.get("GRIDCTL_FUZZ_CONTROL_EXAMPLES", "25"))
FUZZ_SEED = int(os.environ.get("GRIDCTL_FUZZ_SEED", "0"))
#: a guard against a hang, not a performance target: the run takes about a minute on two quiet
#: cores and several on a loaded machine
BUDGET_SECONDS = 600.0
REQUEST_TIMEOUT = 30

# -- generic values -------------------------------------------------------------------------------
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, -1, 2**31, 2**63, 10**300])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["", " ", "\ud800", "a\udfffb", "\x00", "../..", ".git", "x" * 5000, "😀"])
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
#: bodies no JSON parser should accept as they are, or that a careless one would choke on
RAW_BODIES = st.sampled_from(
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"name": "a\\ud800b", "message": "m", "content": "eA=="}',
        b'{"name": "\\udc00"}',
        b"NaN",
        b'{"value": Infinity}',
        b'{"advance": 1e400}',
        b"1" * 5000,
        b"{",
        b"\xff\xfe{}",
        b'{"a": "\xed\xa0\x80"}',
        b"\x00",
        b'"just a string"',
        b"[]",
        b"null",
    ]
) | st.binary(max_size=40)
#: path segments a careful server refuses or answers 404, never 500
HOSTILE_SEGMENTS = st.sampled_from(
    [
        b"..",
        b".",
        b".git",
        b".GIT",
        b"a\x00b",
        b"x" * 5000,
        b"\xed\xa0\x80",
        b"\xff",
        b"%",
        b"-1",
        b"0",
        b"99999999999999999999999999",
        "\u00e9t\u00e9".encode(),
        b" ",
    ]
) | st.binary(min_size=1, max_size=12)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_query_value(v) for v in value)
    return "" if value is None else str(value)


def from_schema(schema: Any) -> st.SearchStrategy[Any]:
    """Values for a (draft-4, as :func:`~gridctl.sandbox.spec.to_json_schema` makes them) request
    schema of the vendored description: the keywords its request bodies and query parameters use
    (type, properties, required, enum, items, oneOf/anyOf, pattern, format, min/max sizes).
    Mostly valid values; the schema's bounds are kept, so a value that is invalid is invalid on
    purpose (the JSON_VALUES replacements), not by accident."""
    if not isinstance(schema, dict) or not schema:
        return JSON_VALUES
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list):
            rest = {k: v for k, v in schema.items() if k != key}
            return st.one_of([from_schema({**rest, **sub}) for sub in schema[key] if isinstance(sub, dict)])
    types = schema.get("type")
    if types is None:
        types = "object" if "properties" in schema else "array" if "items" in schema else None
    if types is None:
        return JSON_VALUES
    return st.one_of([_typed(t, schema) for t in ([types] if isinstance(types, str) else types)])


def _typed(kind: str, schema: dict) -> st.SearchStrategy[Any]:
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda v: len(v) < 2000)
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z"))
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 40))
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(from_schema(schema.get("items")), min_size=low, max_size=min(schema.get("maxItems", low + 4), low + 4))
    if kind == "object":
        props = schema.get("properties") or {}
        required = [k for k in schema.get("required", []) if k in props]
        return st.fixed_dictionaries(
            {k: from_schema(props[k]) for k in required},
            optional={k: from_schema(v) for k, v in props.items() if k not in required},
        )
    return JSON_VALUES


def _schema_strategy(schema: dict | None) -> st.SearchStrategy[Any] | None:
    return from_schema(schema) if schema else None


@dataclass
class Request:
    login: str | None
    method: str
    path: str
    body: bytes | None


@dataclass
class Operation:
    case: Case
    body: st.SearchStrategy[Any] | None
    query: list[tuple[str, st.SearchStrategy[Any] | None]]


def _operations() -> list[Operation]:
    """One entry per routed operation: its first success case and its strategies."""
    spec = load_spec()
    out: list[Operation] = []
    seen: set[str] = set()
    for case in all_cases():
        if case.status >= 400 or case.op in seen:
            continue
        seen.add(case.op)
        op = spec.operation(case.op)
        query = [
            (p["name"], _schema_strategy(to_json_schema(p.get("schema") or {})))
            for p in op.raw.get("parameters", [])
            if p.get("in") == "query"
        ]
        out.append(Operation(case, _schema_strategy(op.request_schema()), query))
    return out


@st.composite
def _request(draw: Any, op: Operation, vars: dict) -> Request:
    case = op.case
    path, _, given_query = fill(case.path, vars).partition("?")
    if draw(st.integers(0, 9)) == 0:  # one in ten: a hostile path segment
        segments = path.split("/")
        i = draw(st.integers(1, len(segments) - 1))
        segments[i] = quote(draw(HOSTILE_SEGMENTS), safe="")
        path = "/".join(segments)
    query = dict(kv.partition("=")[::2] for kv in given_query.split("&") if kv)
    for name, strategy in op.query:
        if draw(st.integers(0, 2)) == 0:
            value = draw(strategy) if strategy is not None and draw(st.booleans()) else draw(st.text(max_size=12))
            query[name] = _query_value(value)
    if query:
        path += "?" + urlencode(query)
    body: bytes | None = None
    if case.method not in ("GET", "HEAD"):
        base = fill_body(case.body, vars) if case.body is not None else {}
        kind = draw(st.integers(0, 9))
        if kind < 5 and op.body is not None:  # from the request schema, over the case's body
            value = draw(op.body)
            if isinstance(value, dict) and isinstance(base, dict):
                value = {**base, **value}
        elif kind < 7 and isinstance(base, dict) and base:  # one field of the wrong kind
            value = dict(base)
            value[draw(st.sampled_from(sorted(base)))] = draw(JSON_VALUES)
        elif kind < 9:
            value = draw(JSON_VALUES)
        else:
            value = None
        body = draw(RAW_BODIES) if value is None else json.dumps(value).encode()
    login = draw(st.sampled_from([case.login, case.login, case.login, "carol", None]))
    return Request(login, case.method, path, body)


class Fuzz:
    """Sends requests, keeps figures and problems."""

    def __init__(self, sb: Any, deadline: float):
        self.sb = sb
        self.deadline = deadline
        self.statuses: Counter[int] = Counter()
        self.requests = 0
        self.problems: list[str] = []
        self.sessions: dict[str | None, requests.Session] = {}

    def send(self, seed_: Seed, req: Request, where: str) -> int:
        if time.monotonic() > self.deadline:
            return 0
        token = seed_.tokens.get(req.login) if req.login else None
        key = token
        session = self.sessions.get(key)
        if session is None:
            session = self.sessions[key] = requests.Session()
            if token:
                session.headers["Authorization"] = f"token {token}"
        headers = {"Accept": "application/vnd.github+json"}
        if req.body is not None:
            headers["Content-Type"] = "application/json"
        before = len(self.sb.app.violations)
        shown = f"{where}: {req.method} {req.path[:200]} as {req.login} body={(req.body or b'')[:200]!r}"
        self.requests += 1
        try:
            resp = session.request(
                req.method, self.sb.config.public_url + req.path, data=req.body, headers=headers, timeout=REQUEST_TIMEOUT
            )
        except requests.RequestException as exc:
            self.problems.append(f"{shown} -> no answer ({type(exc).__name__})")
            return 0
        self.statuses[resp.status_code] += 1
        if resp.status_code >= 500:
            self.problems.append(f"{shown} -> {resp.status_code} {resp.text[:200]}")
        for violation in self.sb.app.violations[before:]:
            self.problems.append(f"{shown} -> {violation[:600]}")
        return resp.status_code


def _fresh_world(sb: Any) -> Seed:
    """Forget everything the last operation's requests did, and seed the standard world again."""
    app = sb.app
    with app.store.lock:
        app.store.tables.clear()
        app.store.commit()
    app.world.reindex()
    app.world.clock_offset = 0.0
    app.limiter.reset_all()
    app.limiter.limit_overrides.clear()
    return make_seed(sb)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=FUZZ_SEED == 0,
        phases=[Phase.generate],  # problems are collected, not raised: nothing to shrink
        suppress_health_check=list(HealthCheck),
    )


def _run(strategy: st.SearchStrategy[Any], examples: int, send: Any) -> None:
    """Draw ``examples`` requests from ``strategy`` and hand each to ``send``."""

    @_settings(examples)
    @seed(FUZZ_SEED)
    @given(strategy)
    def run(req: Request) -> None:
        send(req)

    run()


def _report(capsys: Any, what: str, fuzz: Fuzz, ops: int, started: float) -> None:
    seconds = time.monotonic() - started
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(fuzz.statuses.items()))
    with capsys.disabled():
        print(f"\n{what}: {fuzz.requests} requests over {ops} operations in {seconds:.1f} s ({statuses})")


def _fail_on(fuzz: Fuzz, sb: Any, started: float) -> None:
    sb.app.violations.clear()  # reported here, with the request that caused each
    assert time.monotonic() <= fuzz.deadline, f"the fuzz run took more than {BUDGET_SECONDS:.0f} s"
    shown = "\n  ".join(fuzz.problems[:25])
    assert not fuzz.problems, f"{len(fuzz.problems)} problem(s), the first ones:\n  {shown}"


def test_fuzz_github_routes(capsys):
    """Every routed operation, EXAMPLES requests each: never a 5xx, every answer as described."""
    started = time.monotonic()
    operations = _operations()
    examples = EXAMPLES or max(MIN_EXAMPLES, TOTAL_REQUESTS // max(1, len(operations)))
    with strict_sandbox() as sb:
        fuzz = Fuzz(sb, started + BUDGET_SECONDS)
        for op in operations:
            seed_ = _fresh_world(sb)
            vars = (op.case.setup(seed_) if op.case.setup else None) or {}

            _run(_request(op, vars), examples, lambda req, s=seed_, o=op: fuzz.send(s, req, o.case.op))
        _report(capsys, "fuzzed the GitHub routes", fuzz, len(operations), started)
        _fail_on(fuzz, sb, started)
    assert len(operations) >= 170  # every operation the sandbox routes has a success case


# -- control routes ---------------------------------------------------------------------------------
_CONTROL_KEYS = [
    "login", "org", "scopes", "token", "token_wanted", "admins", "members", "name", "email", "role",
    "reset", *Limits().as_dict(), "limit", "remaining", "reset_in", "specs", "latency", "advance",
    "status", "conclusion", "busy", "encoded_jit_config", "title", "body", "user",
]  # fmt: skip
_CONTROL_VALUES = JSON_VALUES | st.sampled_from(
    [
        "alice", "acme", "member", "admin", "online", "offline", "completed", "success", "in_progress",
        "403", "429", "random", "all", "10ms", "lognormal:median=1ms,sigma=0.5", 1e300, -1e300,
        ["rate=0.5,statuses=502"], ["nth=1,op=repos/get,status=500"], ["bogus"], ["repo"], ["alice", 5],
    ]
)  # fmt: skip
_CONTROL_PARAMS = {"login": "alice", "org": "acme", "owner": "alice", "repo": "pub", "number": "1"}


@st.composite
def _control_request(draw: Any, method: str, pattern: str, ids: dict[str, str]) -> Request:
    segments = pattern.split("/")
    for i, segment in enumerate(segments):
        if segment.startswith("{"):
            name = segment.strip("{}").split(":")[0]
            value = ids.get(name) or _CONTROL_PARAMS.get(name, "1")
            if draw(st.integers(0, 4)) == 0:
                value = quote(draw(HOSTILE_SEGMENTS), safe="")
            segments[i] = value
    body: bytes | None = None
    if method != "GET":
        kind = draw(st.integers(0, 9))
        if kind < 7:
            keys = st.sampled_from(_CONTROL_KEYS) | st.text(max_size=6)
            body = json.dumps(draw(st.dictionaries(keys, _CONTROL_VALUES, max_size=4))).encode()
        elif kind < 9:
            body = json.dumps(draw(JSON_VALUES)).encode()
        else:
            body = draw(RAW_BODIES)
    return Request(None, method, "/".join(segments), body)


def _control_ids(seed_: Seed, sb: Any) -> dict[str, str]:
    """A workflow run and a runner to aim the run and runner control routes at."""
    ok = seed_.call("alice", "POST", "/repos/alice/pub/actions/runners/generate-jitconfig",
                    {"name": "r1", "runner_group_id": 1, "labels": ["x"]})  # fmt: skip
    assert ok.status_code == 201, ok.text
    return {"runner_id": str(ok.json()["runner"]["id"]), "run_id": "1"}


def test_fuzz_control_routes(capsys):
    """The /_sandbox routes: never a 5xx, and a GitHub write after each still answers."""
    started = time.monotonic()
    with strict_sandbox() as sb:
        fuzz = Fuzz(sb, started + BUDGET_SECONDS)
        probe_login = "alice"
        for method, pattern, _ in CONTROL_ROUTES:
            seed_ = _fresh_world(sb)
            ids = _control_ids(seed_, sb)
            where = f"control {method} {pattern}"

            def one(req: Request, seed_: Seed = seed_, where: str = where) -> None:
                fuzz.send(seed_, req, where)
                # the knobs back to calm, then a write: a control request must not break later ones
                for path, body in (("/_sandbox/latency", {}), ("/_sandbox/faults", {"specs": []}),
                                   ("/_sandbox/limits", {**Limits().as_dict(), "reset": True})):  # fmt: skip
                    status = fuzz.send(seed_, Request(None, "PUT", path, json.dumps(body).encode()), "reset knobs")
                    assert status in (0, 200), f"{path} answered {status}"
                name = f"probe-{fuzz.requests}"
                write = Request(probe_login, "POST", "/user/repos", json.dumps({"name": name}).encode())
                fuzz.send(seed_, write, f"write after {where}")

            _run(_control_request(method, pattern, ids), CONTROL_EXAMPLES, one)
        _report(capsys, "fuzzed the control routes", fuzz, len(CONTROL_ROUTES), started)
        _fail_on(fuzz, sb, started)


def test_schema_values_are_mostly_valid():
    """The generator draws values the sandbox's own request validation accepts (a generator that
    only made 422s would never reach a handler): checked over every operation with a body."""
    spec = load_spec()
    valid = total = 0
    for op_id, op in sorted(spec.operations.items()):
        schema = op.request_schema()
        if not schema:
            continue
        validator = spec.request_validator(op_id)
        drawn: list[Any] = []
        _run(from_schema(schema), 5, drawn.append)
        total += len(drawn)
        valid += sum(1 for v in drawn if validator is not None and validator.is_valid(v))
    assert total and valid / total >= 0.9, f"only {valid} of {total} drawn bodies were valid"
