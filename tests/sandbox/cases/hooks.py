"""Conformance cases: repository and organization webhooks, their deliveries and redelivery."""

from __future__ import annotations

import socket
import time

from ..conformance import Case


def _dead_url() -> str:
    """A loopback URL nothing listens on: deliveries fail (and are recorded)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/hook"


def _org_token(seed) -> None:
    seed.tokens["alice-hooks"] = seed.ctl("POST", "/tokens", {"login": "alice", "scopes": ["admin:org_hook"]})["token"]


def _base(where: str) -> str:
    return "/orgs/acme/hooks" if where == "org" else "/repos/alice/pub/hooks"


def _hook(where: str):
    def setup(seed) -> dict:
        _org_token(seed)
        login = "alice-hooks" if where == "org" else "alice"
        body = {"name": "web", "config": {"url": _dead_url(), "content_type": "json", "secret": "s"}, "events": ["workflow_job"]}
        resp = seed.api(login).post(seed.url + _base(where), json=body)
        assert resp.status_code == 201, resp.text
        hook = resp.json()["id"]
        deadline = time.monotonic() + 15
        for _ in range(1000):  # the ping's (failed) delivery is recorded in the background
            got = seed.api(login).get(f"{seed.url}{_base(where)}/{hook}/deliveries").json()
            if got or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert got, "no delivery recorded"
        return {"hook": hook, "delivery": got[0]["id"]}

    return setup


def _cases(where: str) -> list[Case]:
    base = _base(where)
    login = "alice-hooks" if where == "org" else "alice"
    setup = _hook(where)
    cfg = {"url": "http://127.0.0.1:9/other", "content_type": "json"}
    op = (lambda name: f"orgs/{name}") if where == "org" else (lambda name: f"repos/{name}")
    cfg_op = "get-webhook-config-for-org" if where == "org" else "get-webhook-config-for-repo"
    upd_cfg_op = "update-webhook-config-for-org" if where == "org" else "update-webhook-config-for-repo"
    unknown = base + "/999"
    return [
        Case(op("list-webhooks"), 200, "GET", base, login=login, setup=setup),
        Case(op("create-webhook"), 201, "POST", base, {"name": "web", "config": cfg, "events": ["workflow_run"]},
             login=login, setup=setup),
        Case(op("create-webhook"), 422, "POST", base, {"name": "web", "config": {"content_type": "json"}},
             login=login, setup=setup, note="no-url"),
        Case(op("get-webhook"), 200, "GET", base + "/{hook}", login=login, setup=setup),
        Case(op("get-webhook"), 404, "GET", unknown, login=login, setup=setup),
        Case(op("update-webhook"), 200, "PATCH", base + "/{hook}", {"config": cfg, "active": False}, login=login, setup=setup),
        Case(op("update-webhook"), 422, "PATCH", base + "/{hook}", {"config": {**cfg, "content_type": "xml"}},
             login=login, setup=setup, note="content-type"),
        Case(op("delete-webhook"), 204, "DELETE", base + "/{hook}", login=login, setup=setup),
        Case(op("delete-webhook"), 404, "DELETE", unknown, login=login, setup=setup),
        Case(op("ping-webhook"), 204, "POST", base + "/{hook}/pings", login=login, setup=setup),
        Case(op("ping-webhook"), 404, "POST", unknown + "/pings", login=login, setup=setup),
        Case(op(cfg_op), 200, "GET", base + "/{hook}/config", login=login, setup=setup),
        Case(op(cfg_op), 404, "GET", unknown + "/config", login=login, setup=setup),
        Case(op(upd_cfg_op), 200, "PATCH", base + "/{hook}/config", {"insecure_ssl": 1}, login=login, setup=setup),
        Case(op(upd_cfg_op), 422, "PATCH", base + "/{hook}/config", {"url": "ftp://x"}, login=login, setup=setup,
             note="bad-url"),
        Case(op("list-webhook-deliveries"), 200, "GET", base + "/{hook}/deliveries?per_page=1", login=login, setup=setup),
        Case(op("list-webhook-deliveries"), 400, "GET", base + "/{hook}/deliveries?cursor=nonsense", login=login,
             setup=setup, note="cursor"),
        Case(op("list-webhook-deliveries"), 422, "GET", base + "/{hook}/deliveries?status=maybe", login=login,
             setup=setup, note="status"),
        Case(op("get-webhook-delivery"), 200, "GET", base + "/{hook}/deliveries/{delivery}", login=login, setup=setup),
        Case(op("get-webhook-delivery"), 404, "GET", base + "/{hook}/deliveries/1", login=login, setup=setup),
        Case(op("redeliver-webhook-delivery"), 202, "POST", base + "/{hook}/deliveries/{delivery}/attempts",
             login=login, setup=setup),
        Case(op("redeliver-webhook-delivery"), 404, "POST", base + "/{hook}/deliveries/1/attempts", login=login,
             setup=setup),
    ]


CASES = [
    *_cases("repo"),
    *_cases("org"),
    Case("repos/list-webhooks", 404, "GET", "/repos/alice/nope/hooks"),
    Case("repos/create-webhook", 403, "POST", "/repos/alice/pub/hooks", {"config": {"url": "http://127.0.0.1:9/"}},
         login="bob", note="not-admin"),
    Case("orgs/list-webhooks", 403, "GET", "/orgs/acme/hooks", note="scope"),
    Case("orgs/create-webhook", 404, "POST", "/orgs/nope/hooks", {"name": "web", "config": {"url": "http://127.0.0.1:9/"}},
         login="alice-hooks", setup=lambda seed: _org_token(seed) or {}),
]
