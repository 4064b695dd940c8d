"""The controller's API over real HTTP (uvicorn on loopback) with the store on a real PostgreSQL:
roles, the queue's shapes our users' scripts expect, JSON errors for malformed input (never a
500), /metrics scrapeable, tokens never echoed."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import uvicorn

from gridctl.serve.api import ApiConfig, GroupView, create_app, token_digest
from gridctl.serve.store import Store
from tests.pgserver import free_port

ADMIN = "adm-" + "a1" * 16
READER = "ro-" + "b2" * 16



@pytest.fixture
def api(postgres_url):
    store = Store.open(postgres_url)
    config = ApiConfig(
        groups={"gpu": GroupView("gpu", ("train", "eval"), ("self-hosted", "gpu"), 2), "cpu": GroupView("cpu", ("lint",))},
        users={token_digest(ADMIN): ("ann", "admin"), token_digest(READER): ("rob", "readonly")},
        is_leader=lambda: True,
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store, config), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    base = f"http://127.0.0.1:{port}"

    def call(method: str, path: str, token: str | None = ADMIN, headers: dict | None = None, **kw):
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        return requests.request(method, base + path, headers=headers, timeout=30, **kw)

    yield call
    server.should_exit = True
    thread.join(timeout=20)
    store.close()


def test_queue_lifecycle_in_priority_order(api):
    ids = []
    for template, prio in (("train", 0), ("eval", 5), ("train", 0)):
        r = api("POST", "/api/v1/groups/gpu/queue", json={"template": template, "inputs": {"size": "s"}, "priority": prio})
        assert r.status_code == 201, r.text
        assert r.json()["created_by"] == "ann" and r.json()["state"] == "queued"
        ids.append(r.json()["id"])
    q = api("GET", "/api/v1/groups/gpu/queue", token=READER).json()
    assert [e["id"] for e in q] == [ids[1], ids[0], ids[2]]
    r = api("PUT", "/api/v1/groups/gpu/queue/reorder", json={"ids": [ids[2]]})
    assert r.status_code == 200 and [e["id"] for e in r.json()] == [ids[1], ids[2], ids[0]]
    r = api("DELETE", f"/api/v1/jobs/{ids[0]}")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert api("DELETE", f"/api/v1/jobs/{ids[0]}").status_code == 409
    hist = api("GET", "/api/v1/history?group=gpu", token=READER).json()
    assert [e["id"] for e in hist] == [ids[0]]
    status = api("GET", "/api/v1/status", token=READER).json()
    assert status["groups"]["gpu"] == {"queued": 2, "in_flight": 0, "max_concurrent": 2} and status["leader"] is True
    groups = api("GET", "/api/v1/groups", token=READER).json()
    assert [g["id"] for g in groups] == ["cpu", "gpu"] and groups[1]["templates"] == ["train", "eval"]


def test_roles_and_authentication(api):
    assert api("GET", "/api/v1/status", token=None).status_code == 401
    r = api("GET", "/api/v1/status", token="nope-" + "0" * 20)
    assert r.status_code == 401 and r.json() == {"message": "bad credentials"}
    r = api("POST", "/api/v1/groups/gpu/queue", token=READER, json={"template": "train"})
    assert r.status_code == 403 and "readonly" in r.json()["message"]
    assert api("DELETE", "/api/v1/jobs/1", token=READER).status_code == 403
    assert api("PUT", "/api/v1/groups/gpu/queue/reorder", token=READER, json={"ids": [1]}).status_code == 403
    # tokens are never echoed, whatever the answer
    for r in (api("GET", "/api/v1/status", token=ADMIN + "x"), api("GET", "/api/v1/status", token=READER)):
        assert ADMIN not in r.text and READER not in r.text


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/v1/groups/gpu/queue", {"template": "deploy"}, 422),
        ("POST", "/api/v1/groups/gpu/queue", {"template": "train", "extra": 1}, 422),
        ("POST", "/api/v1/groups/gpu/queue", {"template": "train", "priority": 10**9}, 422),
        ("POST", "/api/v1/groups/gpu/queue", {"template": "train", "inputs": {f"k{i}": "v" for i in range(11)}}, 422),
        ("POST", "/api/v1/groups/gpu/queue", {"template": "train", "inputs": {"k": {"nested": 1}}}, 422),
        ("POST", "/api/v1/groups/gpu/queue", [1, 2], 422),
        ("POST", "/api/v1/groups/nope/queue", {"template": "train"}, 404),
        ("PUT", "/api/v1/groups/gpu/queue/reorder", {"ids": [123456]}, 422),
        ("PUT", "/api/v1/groups/gpu/queue/reorder", {"ids": "x"}, 422),
        ("DELETE", "/api/v1/jobs/notanumber", None, 422),
        ("DELETE", "/api/v1/jobs/99999999", None, 404),
        ("GET", "/api/v1/history?limit=0", None, 422),
        ("GET", "/api/v1/nothing-here", None, 404),
    ],
)
def test_malformed_input_is_a_json_4xx(api, method, path, body, status):
    r = api(method, path, json=body) if body is not None else api(method, path)
    assert r.status_code == status, r.text
    assert isinstance(r.json().get("message"), str) and r.json()["message"]


def test_malformed_json_body_is_a_4xx(api):
    r = api("POST", "/api/v1/groups/gpu/queue", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "message" in r.json()


def test_health_metrics_and_openapi(api):
    assert api("POST", "/api/v1/groups/gpu/queue", json={"template": "train"}).status_code == 201
    h = api("GET", "/health", token=None).json()
    assert h["status"] == "ok" and h["database"] == "ok" and h["leader"] is True
    m = api("GET", "/metrics", token=None)
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    assert 'gridctl_queue_entries{group="gpu",state="queued"} 1.0' in m.text
    assert "gridctl_leader 1.0" in m.text and "gridctl_api_requests_total" in m.text
    spec = api("GET", "/openapi.json", token=None).json()
    assert "/api/v1/groups/{group_id}/queue" in spec["paths"]
