"""Repository and organization webhooks: the hooks API, deliveries, delivery history, redelivery.

GitHub operations (groups ``hooks-repo`` and ``hooks-org``): create, list, get, update, delete,
ping, get/update the configuration, list deliveries (cursor pagination), get one delivery and
redeliver it. Repository hooks need admin rights on the repository; organization hooks an
owner whose token has ``admin:org_hook`` (the operations' descriptions say so).

**What is sent.** ``workflow_job`` (``queued``, ``waiting``, ``in_progress``, ``completed``) and
``workflow_run`` (``requested``, ``in_progress``, ``completed``) as jobs and runs move
(:mod:`.jobs`), and ``ping`` when a hook is created or pinged. Each delivery is a POST of the
payload (``content_type`` ``json``, or ``form``: ``payload=<json>``) with ``X-GitHub-Event``,
``X-GitHub-Delivery`` (a GUID), ``X-GitHub-Hook-ID``, the installation-target headers and,
when the hook has a secret, ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the exact body>``
(https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).

**How.** A payload is built (and, in strict mode, checked against the vendored
``@octokit/webhooks-schemas``, :mod:`gridctl.sandbox.webhooks`) when the event happens, then
queued; worker threads deliver it, never the request that caused it. Deliveries to one hook
keep their order; each waits at most ``timeout_seconds`` (GitHub gives a receiver 10 seconds,
https://docs.github.com/en/webhooks/using-webhooks/best-practices-for-using-webhooks#respond-within-10-seconds).
Only loopback addresses are delivered to: any other URL is recorded as a failed delivery. A
refused connection, a timeout or a non-2xx answer is a failed delivery, kept in the history;
nothing is retried automatically, as on github.com ("GitHub does not automatically redeliver
failed deliveries", https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries).
Deliveries still queued when the sandbox stops are dropped.

Records (LAYOUT.md): table ``hooks`` and table ``hook_deliveries``. A hook's secret is kept in
its record (signing needs it; the store is private) and never returned: responses show
``********``. Control routes: ``GET|PUT /_sandbox/hooks/settings`` (``timeout_seconds``),
``GET /_sandbox/hooks/payloads`` (what strict mode validated, how many deliveries are queued).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote, urlencode, urlsplit

import requests
from jsonschema import Draft7Validator

from ..errors import ApiError, not_found
from ..http import Ctx, Reply, empty, json_reply
from ..inputs import number_field
from ..routing import control, route
from ..shapes import organization, repository, simple_user, web_root
from ..spec import format_checker
from ..webhooks import load_schemas
from ..world import World, node_id
from .contents import api_root
from .jobs import LISTENERS, job_shape, run_shape, service_ctx

log = logging.getLogger("gridctl.sandbox")
MASK = "********"
CONTENT_TYPES = ("json", "form")
#: GitHub's documented receiver timeout (see the module docstring)
DEFAULT_TIMEOUT = 10.0
#: most characters of a receiver's answer kept in the delivery history
MAX_RESPONSE_TEXT = 10_000
WORKERS = 4
ZEN = "Keep it logically awesome."
_REPO_READ = ("read:repo_hook", "write:repo_hook", "admin:repo_hook", "repo")
_REPO_WRITE = ("write:repo_hook", "admin:repo_hook", "repo")
_REPO_ADMIN = ("admin:repo_hook", "repo")
_ORG = ("admin:org_hook",)


# -- scopes: where a hook lives --------------------------------------------------------------------
@dataclass(frozen=True)
class Where:
    repo: dict | None
    org: dict | None

    def holds(self, hook: dict) -> bool:
        if self.repo is not None:
            return bool(hook.get("repo_id") == self.repo["id"])
        assert self.org is not None
        return hook.get("repo_id") is None and (hook.get("org") or "").lower() == self.org["login"].lower()

    @property
    def kind(self) -> str:
        return "Repository" if self.repo is not None else "Organization"

    def base(self, ctx: Ctx) -> str:
        if self.repo is not None:
            return f"{api_root(ctx, self.repo)}/hooks"
        assert self.org is not None
        return ctx.url(f"/orgs/{self.org['login']}/hooks")


def _repo_where(ctx: Ctx) -> Where:
    return Where(ctx.repo("admin"), None)


def _org_where(ctx: Ctx) -> Where:
    org = ctx.org()
    ctx.require_auth()
    if ctx.world.org_role(org, ctx.login) != "admin":
        raise not_found()  # GitHub hides an organization's hooks from non-owners
    return Where(None, org)


def _hook(ctx: Ctx, where: Where) -> dict:
    raw = str(ctx.params["hook_id"])
    hook = ctx.world.store.get("hooks", raw) if raw.isdigit() else None
    if hook is None or not where.holds(hook):
        raise not_found()
    return hook


# -- shapes ----------------------------------------------------------------------------------------
def config_json(hook: dict) -> dict[str, Any]:
    cfg = hook["config"]
    out: dict[str, Any] = {"content_type": cfg["content_type"], "insecure_ssl": cfg["insecure_ssl"], "url": cfg["url"]}
    if cfg.get("secret"):
        out["secret"] = MASK
    return out


def hook_json(ctx: Ctx, where: Where, hook: dict) -> dict[str, Any]:
    url = f"{where.base(ctx)}/{hook['id']}"
    out: dict[str, Any] = {
        "type": where.kind,
        "id": hook["id"],
        "name": "web",
        "active": hook["active"],
        "events": list(hook["events"]),
        "config": config_json(hook),
        "updated_at": hook["updated_at"],
        "created_at": hook["created_at"],
        "url": url,
        "ping_url": f"{url}/pings",
        "deliveries_url": f"{url}/deliveries",
    }
    if where.repo is not None:
        out["test_url"] = f"{url}/tests"
        out["last_response"] = dict(hook["last_response"])
    return out


# -- validation of hook settings -------------------------------------------------------------------
def _invalid(message: str) -> ApiError:
    return ApiError(422, "Validation Failed", errors=[{"resource": "Hook", "code": "custom", "message": message}])


def _config(given: Any, old: dict | None, *, partial: bool) -> dict[str, Any]:
    """The hook configuration from a request's ``config``: ``partial`` (``PATCH .../config``)
    changes only what is given; otherwise (create, update) it replaces the configuration, so a
    secret not given again is removed (GitHub's documented rule)."""
    given = given if isinstance(given, dict) else {}
    if partial and old is not None:
        cfg = dict(old)
    else:
        cfg = {"url": None, "content_type": "form", "insecure_ssl": "0", "secret": None}
    for key in ("url", "content_type", "secret"):
        if key in given:
            cfg[key] = given[key]
    if "insecure_ssl" in given:
        raw = given["insecure_ssl"]
        cfg["insecure_ssl"] = str(int(raw)) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else str(raw)
    url = cfg.get("url")
    if not isinstance(url, str) or not url.strip():
        raise _invalid("Config must contain URL for webhooks")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(f"Config url {url[:100]!r} is not supported, only http and https URLs")
    if cfg["content_type"] not in CONTENT_TYPES:
        raise _invalid(f"Config content_type must be one of {', '.join(CONTENT_TYPES)}")
    if cfg["insecure_ssl"] not in ("0", "1"):
        raise _invalid("Config insecure_ssl must be 0 or 1")
    if cfg.get("secret") is not None and not isinstance(cfg["secret"], str):
        raise _invalid("Config secret must be a string")
    return cfg


def _events(values: Any, default: list[str]) -> list[str]:
    if values is None:
        return default
    out = list(dict.fromkeys(v.strip() for v in values if isinstance(v, str) and v.strip()))
    if not out:
        raise _invalid("Events must name at least one event")
    return out


def _check_unique(ctx: Ctx, where: Where, hook: dict, other_than: int | None = None) -> None:
    """GitHub refuses a second hook with the same URL whose events overlap."""
    for other in ctx.world.store.values("hooks"):
        if other["id"] == other_than or not where.holds(other):
            continue
        if other["config"]["url"] == hook["config"]["url"] and (
            set(other["events"]) & set(hook["events"]) or "*" in other["events"] or "*" in hook["events"]
        ):
            raise _invalid(f"Hook already exists on this {'repository' if where.repo is not None else 'organization'}")


# -- handlers --------------------------------------------------------------------------------------
def _list(ctx: Ctx, where: Where) -> Reply:
    hooks = sorted((h for h in ctx.world.store.values("hooks") if where.holds(h)), key=lambda h: h["id"])
    return ctx.paginate([hook_json(ctx, where, h) for h in hooks])


def _create(ctx: Ctx, where: Where) -> Reply:
    body = ctx.body or {}
    name = body.get("name", "web")
    if name != "web":
        raise _invalid(f"Name {str(name)[:50]!r} is not a valid hook name (use \"web\")")
    now = ctx.world.now_iso()
    hook: dict[str, Any] = {
        "id": ctx.world.next_id("hooks", 400_000_000),
        "repo_id": where.repo["id"] if where.repo is not None else None,
        "org": where.org["login"] if where.org is not None else None,
        "active": bool(body.get("active", True)),
        "events": _events(body.get("events"), ["push"]),
        "config": _config(body.get("config"), None, partial=False),
        "created_at": now,
        "updated_at": now,
        "last_response": {"code": None, "status": "unused", "message": None},
    }
    _check_unique(ctx, where, hook)
    ctx.world.save("hooks", hook["id"], hook)
    if hook["active"]:  # github.com pings a new hook
        send_ping(ctx, where, hook)
    return json_reply(hook_json(ctx, where, hook), status=201, headers={"Location": f"{where.base(ctx)}/{hook['id']}"})


def _get(ctx: Ctx, where: Where) -> Reply:
    return json_reply(hook_json(ctx, where, _hook(ctx, where)))


def _update(ctx: Ctx, where: Where) -> Reply:
    hook = _hook(ctx, where)
    body = ctx.body or {}
    changed = dict(hook)
    if "config" in body:
        changed["config"] = _config(body["config"], hook["config"], partial=False)
    events = _events(body.get("events"), list(hook["events"]))
    for name in body.get("add_events") or []:
        if name not in events:
            events.append(name)
    removed = set(body.get("remove_events") or [])
    events = [e for e in events if e not in removed]
    if not events:
        raise _invalid("Events must name at least one event")
    changed["events"] = events
    if "active" in body:
        changed["active"] = bool(body["active"])
    _check_unique(ctx, where, changed, other_than=hook["id"])
    hook.update(changed, updated_at=ctx.world.now_iso())
    ctx.world.save("hooks", hook["id"], hook)
    return json_reply(hook_json(ctx, where, hook))


def _delete(ctx: Ctx, where: Where) -> Reply:
    hook = _hook(ctx, where)
    ctx.world.store.delete("hooks", hook["id"])
    for rec in ctx.world.store.values("hook_deliveries"):
        if rec["hook_id"] == hook["id"]:
            ctx.world.store.delete("hook_deliveries", rec["id"])
    return empty()


def _ping(ctx: Ctx, where: Where) -> Reply:
    send_ping(ctx, where, _hook(ctx, where))
    return empty()


def _get_config(ctx: Ctx, where: Where) -> Reply:
    return json_reply(config_json(_hook(ctx, where)))


def _update_config(ctx: Ctx, where: Where) -> Reply:
    hook = _hook(ctx, where)
    hook["config"] = _config(ctx.body or {}, hook["config"], partial=True)
    hook["updated_at"] = ctx.world.now_iso()
    ctx.world.save("hooks", hook["id"], hook)
    return json_reply(config_json(hook))


# -- delivery history ---------------------------------------------------------------------------------
def delivery_json(rec: dict, *, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: rec[k]
        for k in ("id", "guid", "delivered_at", "redelivery", "duration", "status", "status_code", "event", "action",
                  "installation_id", "repository_id", "throttled_at")
    }
    if full:
        out["url"] = rec["url"]
        out["request"] = {"headers": rec["request"]["headers"], "payload": rec["request"]["payload"]}
        out["response"] = {"headers": rec["response"]["headers"], "payload": rec["response"]["payload"]}
    return out


def _cursor(value: str) -> int:
    if not value.startswith("v1_") or not value[3:].isdigit():
        raise ApiError(400, "Bad Request: the cursor is not one this API gave")
    return int(value[3:])


def _deliveries(ctx: Ctx, where: Where) -> Reply:
    hook = _hook(ctx, where)
    items = sorted((d for d in ctx.world.store.values("hook_deliveries") if d["hook_id"] == hook["id"]),
                   key=lambda d: d["id"], reverse=True)
    status = ctx.query.get("status")
    if status not in (None, "success", "failure"):
        raise ApiError(422, "Invalid request.\n\nFor 'status', must be one of: success, failure.")
    if status is not None:
        items = [d for d in items if (200 <= d["status_code"] < 300) == (status == "success")]
    if ctx.query.get("cursor"):
        after = _cursor(ctx.query["cursor"])
        items = [d for d in items if d["id"] < after]
    per_page = min(max(ctx.int_query("per_page", 30), 1), 100)
    page = items[:per_page]
    headers = {}
    if len(items) > per_page:
        q = {k: v for k, v in ctx.query.items() if k != "cursor"}
        q["cursor"] = f"v1_{page[-1]['id']}"
        headers["Link"] = f'<{ctx.base_url}{ctx.path}?{urlencode(q)}>; rel="next"'
    return json_reply([delivery_json(d, full=False) for d in page], headers=headers)


def _delivery(ctx: Ctx, where: Where) -> dict:
    hook = _hook(ctx, where)
    raw = str(ctx.params["delivery_id"])
    rec = ctx.world.store.get("hook_deliveries", raw) if raw.isdigit() else None
    if rec is None or rec["hook_id"] != hook["id"]:
        raise not_found()
    return rec


def _get_delivery(ctx: Ctx, where: Where) -> Reply:
    return json_reply(delivery_json(_delivery(ctx, where), full=True))


def _redeliver(ctx: Ctx, where: Where) -> Reply:
    rec = _delivery(ctx, where)
    hook = _hook(ctx, where)
    item = Pending(hook["id"], rec["event"], rec["action"], rec["request"]["payload"], rec["guid"],
                   rec["repository_id"], redelivery=True)
    deliverer(ctx.world).enqueue(item)
    return json_reply({}, status=202)


# -- routes ----------------------------------------------------------------------------------------
def _in(handle: Any, where_of: Any) -> Any:
    def handler(ctx: Ctx) -> Reply:
        return cast(Reply, handle(ctx, where_of(ctx)))

    return handler


_H = "/{hook_id:int}"
_D = _H + "/deliveries/{delivery_id:int}"
#: (method, path below .../hooks, repo op, org op, handler, repo scopes)
_OPERATIONS: tuple[tuple[str, str, str, str, Any, tuple[str, ...]], ...] = (
    ("GET", "", "repos/list-webhooks", "orgs/list-webhooks", _list, _REPO_READ),
    ("POST", "", "repos/create-webhook", "orgs/create-webhook", _create, _REPO_WRITE),
    ("GET", _H, "repos/get-webhook", "orgs/get-webhook", _get, _REPO_READ),
    ("PATCH", _H, "repos/update-webhook", "orgs/update-webhook", _update, _REPO_WRITE),
    ("DELETE", _H, "repos/delete-webhook", "orgs/delete-webhook", _delete, _REPO_ADMIN),
    ("POST", _H + "/pings", "repos/ping-webhook", "orgs/ping-webhook", _ping, _REPO_READ),
    ("GET", _H + "/config", "repos/get-webhook-config-for-repo", "orgs/get-webhook-config-for-org", _get_config, _REPO_READ),
    ("PATCH", _H + "/config", "repos/update-webhook-config-for-repo", "orgs/update-webhook-config-for-org", _update_config,
     _REPO_WRITE),
    ("GET", _H + "/deliveries", "repos/list-webhook-deliveries", "orgs/list-webhook-deliveries", _deliveries, _REPO_READ),
    ("GET", _D, "repos/get-webhook-delivery", "orgs/get-webhook-delivery", _get_delivery, _REPO_READ),
    ("POST", _D + "/attempts", "repos/redeliver-webhook-delivery", "orgs/redeliver-webhook-delivery", _redeliver, _REPO_WRITE),
)

for _m, _p, _rop, _oop, _fn, _scopes in _OPERATIONS:
    route(_m, "/repos/{owner}/{repo}/hooks" + _p, _rop, scopes=_scopes)(_in(_fn, _repo_where))
    route(_m, "/orgs/{org}/hooks" + _p, _oop, scopes=_ORG)(_in(_fn, _org_where))


# -- payloads --------------------------------------------------------------------------------------
def _pick(value: dict, definition: str) -> dict[str, Any]:
    """``value`` with only the properties the webhook schema's ``definition`` lists."""
    props = load_schemas()["definitions"][definition].get("properties", {})
    return {k: v for k, v in value.items() if k in props}


def _user(ctx: Ctx, login: str | None) -> dict[str, Any]:
    user = ctx.world.find_user(login) if login else None
    return _pick(simple_user(ctx, user or {"login": "ghost", "id": 10137, "type": "User"}), "user")


def _repository(ctx: Ctx, repo: dict) -> dict[str, Any]:
    full = repository(ctx, repo, level="full")
    out = _pick(full, "repository")
    out["owner"] = _user(ctx, repo["owner"])
    if isinstance(out.get("organization"), dict):  # the webhook shape names the organization by login
        out["organization"] = out["organization"]["login"]
    # what the webhook shape requires beyond the REST one
    for key, value in (("custom_properties", {}), ("license", None), ("mirror_url", None), ("has_pages", False),
                       ("language", None), ("size", 0), ("stargazers_count", 0), ("watchers_count", 0),
                       ("forks_count", 0), ("forks", 0), ("open_issues", 0), ("watchers", 0),
                       ("open_issues_count", 0), ("homepage", None), ("topics", [])):
        out.setdefault(key, value)
    return out


def _repository_lite(ctx: Ctx, repo: dict) -> dict[str, Any]:
    out = _pick(repository(ctx, repo, level="minimal"), "repository-lite")
    out["owner"] = _user(ctx, repo["owner"])
    return out


def _envelope(ctx: Ctx, repo: dict, action: str, sender: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"action": action, "repository": _repository(ctx, repo), "sender": _user(ctx, sender)}
    owner = ctx.world.find_user(repo["owner"])
    if owner is not None and owner["type"] == "Organization":
        out["organization"] = _pick(organization(ctx, owner, full=False), "organization")
    return out


def _workflow(ctx: Ctx, repo: dict, run: dict) -> dict[str, Any]:
    rec = (repo.get("workflows") or {}).get(run["path"]) or {"id": run["workflow_id"], "state": "active",
                                                            "created_at": run["created_at"], "updated_at": run["created_at"]}
    name = run.get("name") or run["path"]
    web = f"{web_root(ctx)}/{repo['owner']}/{repo['name']}"
    return {
        "badge_url": f"{web}/workflows/{quote(name, safe='')}/badge.svg",
        "created_at": rec["created_at"],
        "html_url": f"{web}/blob/{quote(repo['default_branch'])}/{quote(run['path'])}",
        "id": rec["id"],
        "name": name,
        "node_id": node_id("Workflow", rec["id"]),
        "path": run["path"],
        "state": rec["state"],
        "updated_at": rec["updated_at"],
        "url": f"{api_root(ctx, repo)}/actions/workflows/{rec['id']}",
    }


def _workflow_run(ctx: Ctx, repo: dict, run: dict) -> dict[str, Any]:
    shape = _pick(run_shape(ctx, repo, run), "workflow-run")
    lite = _repository_lite(ctx, repo)
    shape.update(repository=lite, head_repository=lite, actor=_user(ctx, run.get("actor")),
                 triggering_actor=_user(ctx, run.get("actor")))
    if shape.get("head_commit") is None:
        shape["head_commit"] = {"id": run["head_sha"], "tree_id": run["head_sha"], "message": "", "timestamp": run["created_at"],
                                "author": {"name": "ghost", "email": None}, "committer": {"name": "ghost", "email": None}}
    if shape["status"] == "pending":
        shape["status"] = "queued"
    return shape


def on_change(world: World, repo: dict, run: dict, job: dict | None, action: str) -> None:
    """The jobs area's listener: a job or run changed state."""
    if not _targets(world, repo, "workflow_job" if job is not None else "workflow_run"):
        return
    ctx = service_ctx(world)
    payload = _envelope(ctx, repo, action, run.get("actor"))
    if job is not None:
        payload["workflow_job"] = job_shape(ctx, repo, job)
        emit(world, repo, "workflow_job", action, payload)
    else:
        payload["workflow"] = _workflow(ctx, repo, run)
        payload["workflow_run"] = _workflow_run(ctx, repo, run)
        emit(world, repo, "workflow_run", action, payload)


LISTENERS.append(on_change)


def send_ping(ctx: Ctx, where: Where, hook: dict) -> None:
    """A ``ping`` delivery to one hook (on creation and on request)."""
    shape = hook_json(ctx, where, hook)
    hook_part = {k: shape[k] for k in ("type", "id", "name", "active", "events", "config", "updated_at", "created_at",
                                       "url", "ping_url", "deliveries_url")}
    if "test_url" in shape:
        hook_part["test_url"] = shape["test_url"]
    hook_part["last_response"] = {"code": None, "status": "unused", "message": None}
    payload: dict[str, Any] = {"zen": ZEN, "hook_id": hook["id"], "hook": hook_part, "sender": _user(ctx, ctx.login)}
    if where.repo is not None:
        payload["repository"] = _repository(ctx, where.repo)
        owner = ctx.world.find_user(where.repo["owner"])
        if owner is not None and owner["type"] == "Organization":
            payload["organization"] = _pick(organization(ctx, owner, full=False), "organization")
    else:
        assert where.org is not None
        payload["organization"] = _pick(organization(ctx, where.org, full=False), "organization")
    d = deliverer(ctx.world)
    d.check(ctx.world, "ping", None, payload)
    d.enqueue(Pending(hook["id"], "ping", None, payload, str(uuid.uuid4()),
                      where.repo["id"] if where.repo is not None else None))


def _targets(world: World, repo: dict, event: str) -> list[dict]:
    """Active hooks of the repository and of its owning organization that want ``event``."""
    owner = repo["owner"].lower()
    out = []
    for hook in world.store.values("hooks"):
        mine = hook.get("repo_id") == repo["id"] or (hook.get("repo_id") is None and (hook.get("org") or "").lower() == owner)
        if mine and hook["active"] and (event in hook["events"] or "*" in hook["events"]):
            out.append(hook)
    return sorted(out, key=lambda h: h["id"])


def emit(world: World, repo: dict, event: str, action: str | None, payload: dict) -> None:
    """Queue ``payload`` for every hook that wants ``event`` (checked once in strict mode)."""
    hooks = _targets(world, repo, event)
    if not hooks or "hooks" not in world.services:
        return
    d = deliverer(world)
    d.check(world, event, action, payload)
    for hook in hooks:
        d.enqueue(Pending(hook["id"], event, action, payload, str(uuid.uuid4()), repo["id"]))


# -- delivery ----------------------------------------------------------------------------------------
@dataclass
class Pending:
    hook_id: int
    event: str
    action: str | None
    payload: dict
    guid: str
    repository_id: int | None
    redelivery: bool = False


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Deliverer:
    """Queues per hook and the worker threads that send them (one hook's deliveries in order)."""

    def __init__(self, world: World, lock: Any, violations: list[str]):
        self.world = world
        self.lock = lock
        self.violations = violations
        self.timeout = DEFAULT_TIMEOUT
        self.validated: Counter[str] = Counter()
        self._queues: dict[int, deque[Pending]] = {}
        self._busy: set[int] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only: never through a proxy from the environment
        world.services["hooks"] = self

    # -- strict mode --------------------------------------------------------------------------
    def check(self, world: World, event: str, action: str | None, payload: dict) -> None:
        name = f"{event}${action or 'event'}"
        if not getattr(world.config, "strict", False):
            return
        problems = [
            f"webhook {name} payload at {'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:300]}"
            for e in list(_validator(name).iter_errors(payload))[:10]
        ]
        if problems:
            self.violations.extend(problems)
        else:
            self.validated[name] += 1

    # -- queue ---------------------------------------------------------------------------------
    def enqueue(self, item: Pending) -> None:
        with self._cond:
            self._queues.setdefault(item.hook_id, deque()).append(item)
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values()) + len(self._busy)

    def start(self) -> None:
        for i in range(WORKERS):
            t = threading.Thread(target=self._work, name=f"gridctl-sandbox-hooks-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._queues.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=self.timeout + 5)
        self._threads = []
        self.http.close()

    def _next(self) -> Pending | None:
        with self._cond:
            while not self._stopping:
                for hook_id, queue in self._queues.items():
                    if queue and hook_id not in self._busy:
                        self._busy.add(hook_id)
                        return queue.popleft()
                self._cond.wait()
            return None

    def _work(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            try:
                self._deliver(item)
            except Exception:  # a bug: keep the evidence, keep delivering
                log.error("webhook delivery crashed:\n%s", traceback.format_exc())
                self.violations.append(f"webhook delivery raised {traceback.format_exc(limit=3)}")
            finally:
                with self._cond:
                    self._busy.discard(item.hook_id)
                    self._cond.notify_all()

    # -- one delivery ----------------------------------------------------------------------------
    def _deliver(self, item: Pending) -> None:
        with self.lock:
            hook = self.world.store.get("hooks", item.hook_id)
            if hook is None:
                return
            cfg = dict(hook["config"])
        text = json.dumps(item.payload, separators=(",", ":"), ensure_ascii=False)
        if cfg["content_type"] == "form":
            body = urlencode({"payload": text}).encode()
            media = "application/x-www-form-urlencoded"
        else:
            body = text.encode()
            media = "application/json"
        headers = {
            "Accept": "*/*",
            "Content-Type": media,
            "User-Agent": "GitHub-Hookshot/gridctl-sandbox",
            "X-GitHub-Delivery": item.guid,
            "X-GitHub-Event": item.event,
            "X-GitHub-Hook-ID": str(item.hook_id),
            "X-GitHub-Hook-Installation-Target-ID": str(hook["repo_id"] if hook.get("repo_id") is not None else self._org_id(hook)),
            "X-GitHub-Hook-Installation-Target-Type": "repository" if hook.get("repo_id") is not None else "organization",
        }
        if cfg.get("secret"):
            headers["X-Hub-Signature-256"] = sign(cfg["secret"], body)
        started = time.monotonic()
        when = self.world.now_iso()
        code, status, resp_headers, resp_text = 0, "", {}, None
        if not _loopback(cfg["url"]):
            status = "the sandbox delivers to loopback addresses only"
        else:
            try:
                resp = self.http.post(cfg["url"], data=body, headers=headers, timeout=self.timeout, allow_redirects=False)
                code = resp.status_code
                status = "OK" if 200 <= code < 300 else f"Invalid HTTP Response: {code}"
                resp_headers = dict(resp.headers)
                resp_text = resp.text[:MAX_RESPONSE_TEXT]
            except requests.Timeout:
                status = "timed out"
            except requests.ConnectionError:
                status = "failed to connect to host"
            except requests.RequestException as exc:
                status = f"delivery failed ({type(exc).__name__})"
        duration = round(time.monotonic() - started, 3)
        with self.lock:
            try:
                self._record(item, cfg["url"], when, duration, code, status, headers, resp_headers, resp_text)
            finally:
                self.world.store.commit()

    def _org_id(self, hook: dict) -> int:
        org = self.world.find_user(hook.get("org"))
        return int(org["id"]) if org else 0

    def _record(self, item: Pending, url: str, when: str, duration: float, code: int, status: str,
                headers: dict, resp_headers: dict, resp_text: str | None) -> None:
        world = self.world
        hook = world.store.get("hooks", item.hook_id)
        if hook is None:
            return
        ident = world.next_id("hook_deliveries", 90_000_000_000)
        rec: dict[str, Any] = {
            "id": ident,
            "hook_id": item.hook_id,
            "repo_id": hook.get("repo_id"),
            "guid": item.guid,
            "delivered_at": when,
            "redelivery": item.redelivery,
            "duration": duration,
            "status": status,
            "status_code": code,
            "event": item.event,
            "action": item.action,
            "installation_id": None,
            "repository_id": item.repository_id,
            "throttled_at": None,
            "url": url,
            "request": {"headers": headers, "payload": item.payload},
            "response": {"headers": resp_headers, "payload": resp_text},
        }
        world.save("hook_deliveries", ident, rec)
        hook["last_response"] = {"code": code or None, "status": "active" if 200 <= code < 300 else "failed",
                                 "message": status}
        world.save("hooks", hook["id"], hook)


def deliverer(world: World) -> Deliverer:
    found = world.services.get("hooks")
    if found is None:
        raise ApiError(503, "Webhook deliveries are not running in this sandbox.")
    return cast(Deliverer, found)


_VALIDATORS: dict[str, Draft7Validator] = {}


def _validator(name: str) -> Draft7Validator:
    if name not in _VALIDATORS:
        schemas = load_schemas()
        _VALIDATORS[name] = Draft7Validator(
            {"$ref": f"#/definitions/{name}", "definitions": schemas["definitions"]}, format_checker=format_checker
        )
    return _VALIDATORS[name]


# -- control routes ------------------------------------------------------------------------------------
@control("GET", "/hooks/settings")
def get_settings(app: Any, body: dict, params: dict, query: dict) -> Any:
    return {"timeout_seconds": deliverer(app.world).timeout}


@control("PUT", "/hooks/settings")
def put_settings(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{"timeout_seconds": 2}``: how long a receiver may take to answer."""
    d = deliverer(app.world)
    d.timeout = number_field(body, "timeout_seconds", d.timeout, low=0.1, high=60.0)
    return {"timeout_seconds": d.timeout}


@control("GET", "/hooks/payloads")
def payloads(app: Any, body: dict, params: dict, query: dict) -> Any:
    """How many emitted payloads strict mode validated, by ``event$action``; pending deliveries."""
    d = deliverer(app.world)
    return {"validated": dict(d.validated), "pending": d.pending()}


@control("GET", "/hooks/secrets")
def secret_digests(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{hook id: sha256 hex of its secret, or null}``: lets tests prove the right secret arrived
    without the sandbox ever answering with one."""
    hooks = list(app.world.store.values("hooks"))
    return {
        str(h["id"]): hashlib.sha256(h["config"]["secret"].encode()).hexdigest() if h["config"].get("secret") else None
        for h in hooks
    }
