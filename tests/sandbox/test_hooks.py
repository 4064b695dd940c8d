"""Webhooks against a strict sandbox: the hooks API through the real PyGithub, deliveries to a
real HTTP receiver (a tiny http.server in a thread), signatures, payloads checked against the
vendored @octokit/webhooks-schemas, delivery history, redelivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from jsonschema import Draft7Validator

from gridctl.sandbox.webhooks import load_schemas

from ..helpers import wait_for
from .test_jobs import Listener, dispatch, jit, put_workflow, records

SECRET = "hook-secret-CANARY-7"

TWO = """\
name: Two
on: workflow_dispatch
jobs:
  build:
    runs-on: [self-hosted, linux]
    steps: [{run: make}]
  test:
    needs: build
    runs-on: [self-hosted, linux]
"""


class Receiver:
    """An HTTP endpoint that records what it is sent (and can answer 500, or be down)."""

    def __init__(self, port: int = 0):
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.delay:
                    time.sleep(outer.delay)
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                try:
                    self.send_response(outer.status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):  # the sandbox gave up waiting (a timeout test)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def events(self) -> list[tuple[str, str | None, dict]]:
        out = []
        for headers, body in list(self.got):
            payload = json.loads(body)
            out.append((headers["x-github-event"], payload.get("action"), payload))
        return out


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def validate(event: str, action: str | None, payload: dict) -> list[str]:
    schemas = load_schemas()
    v = Draft7Validator({"$ref": f"#/definitions/{event}${action or 'event'}", "definitions": schemas["definitions"]})
    return [e.message for e in v.iter_errors(payload)]


def create_hook(seed, url: str, events=("workflow_job",), repo: str = "alice/pub", secret: str | None = SECRET) -> dict:
    config = {"url": url, "content_type": "json"}
    if secret:
        config["secret"] = secret
    resp = seed.call("alice", "POST", f"/repos/{repo}/hooks", {"config": config, "events": list(events)})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_workflow_job_events_arrive_in_order_signed_and_valid(seed, receiver):
    hook = create_hook(seed, receiver.url, events=("workflow_job", "workflow_run"))
    wait_for(lambda: receiver.events(), "the ping")
    assert receiver.events()[0][0] == "ping"
    put_workflow(seed, "two.yml", TWO)
    run = dispatch(seed, "two.yml")
    for name in ("r1", "r2"):
        Listener(seed, jit(seed, name, ["linux"])).run_one()
    job_ids = [j["id"] for j in records(seed, run)]
    # per job: queued, in_progress, completed; per run: requested, in_progress, completed
    wanted = 1 + 3 * len(job_ids) + 3
    wait_for(lambda: len(receiver.got) >= wanted, "every delivery")
    time.sleep(0.2)
    assert len(receiver.got) == wanted
    per_job: dict[int, list[str]] = {}
    run_actions = []
    for headers, body in receiver.got:
        event = headers["x-github-event"]
        payload = json.loads(body)
        assert headers["x-github-hook-id"] == str(hook["id"])
        assert headers["content-type"] == "application/json"
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-hub-signature-256"], expected)
        assert validate(event, payload.get("action"), payload) == []
        assert SECRET not in body.decode()
        if event == "workflow_job":
            per_job.setdefault(payload["workflow_job"]["id"], []).append(payload["action"])
        elif event == "workflow_run":
            run_actions.append(payload["action"])
    assert per_job == {jid: ["queued", "in_progress", "completed"] for jid in job_ids}
    assert run_actions == ["requested", "in_progress", "completed"]
    guids = [h["x-github-delivery"] for h, _ in receiver.got]
    assert len(set(guids)) == len(guids)
    # the history lists them, newest first, with a cursor
    first = seed.call("alice", "GET", f"/repos/alice/pub/hooks/{hook['id']}/deliveries?per_page=4")
    assert first.status_code == 200 and len(first.json()) == 4
    assert 'rel="next"' in first.headers["Link"]
    ids = [d["id"] for d in first.json()]
    assert ids == sorted(ids, reverse=True)
    nxt = first.headers["Link"].split(";")[0].strip("<>")
    second = requests.get(nxt, headers={"Authorization": f"token {seed.tokens['alice']}"}, timeout=30)
    assert second.status_code == 200 and all(d["id"] < ids[-1] for d in second.json())
    stats = seed.ctl("GET", "/hooks/payloads")["validated"]
    assert stats["workflow_job$completed"] == 2 and stats["ping$event"] == 1


def test_a_receiver_that_was_down_lists_its_failed_deliveries_and_redelivers_them(seed):
    port = free_port()  # nothing listens there yet: every connection is refused
    hook = create_hook(seed, f"http://127.0.0.1:{port}/hook")
    put_workflow(seed, "two.yml", TWO)
    run = dispatch(seed, "two.yml")
    Listener(seed, jit(seed, "r1", ["linux"])).run_one()
    base = f"/repos/alice/pub/hooks/{hook['id']}/deliveries"
    # ping, build queued/in_progress/completed, test queued
    failed = wait_for(lambda: (d := seed.call("alice", "GET", base + "?status=failure").json()) and len(d) == 5 and d,
                      "five failed deliveries")
    assert {(d["status"], d["status_code"]) for d in failed} == {("failed to connect to host", 0)}
    assert seed.call("alice", "GET", base + "?status=success").json() == []
    assert seed.call("alice", "GET", f"/repos/alice/pub/hooks/{hook['id']}").json()["last_response"]["status"] == "failed"
    # the receiver comes up; the missed deliveries are redelivered, oldest first
    receiver = Receiver(port)
    try:
        for d in sorted(failed, key=lambda d: d["id"]):
            if d["event"] == "ping":
                continue
            resp = seed.call("alice", "POST", f"{base}/{d['id']}/attempts")
            assert resp.status_code == 202, resp.text
        wait_for(lambda: len(receiver.got) == 4, "four redeliveries")
        got = [(e, a, p["workflow_job"]["name"]) for e, a, p in receiver.events()]
        assert got == [("workflow_job", "queued", "build"), ("workflow_job", "in_progress", "build"),
                       ("workflow_job", "completed", "build"), ("workflow_job", "queued", "test")]
        originals = {d["guid"] for d in failed}
        assert {h["x-github-delivery"] for h, _ in receiver.got} <= originals  # same GUID, as GitHub redelivers
        history = seed.call("alice", "GET", base).json()
        redone = [d for d in history if d["redelivery"]]
        assert len(redone) == 4 and all(d["status"] == "OK" and d["status_code"] == 200 for d in redone)
        one = seed.call("alice", "GET", f"{base}/{redone[0]['id']}").json()
        assert one["request"]["headers"]["X-GitHub-Event"] == "workflow_job"
        assert one["response"]["payload"] == "ok" and one["url"].endswith(f":{port}/hook")
    finally:
        receiver.close()
    assert records(seed, run)[1]["status"] == "queued"


def test_nothing_is_retried_and_a_slow_receiver_never_blocks_the_api(seed, receiver):
    seed.ctl("PUT", "/hooks/settings", {"timeout_seconds": 0.5})
    receiver.status = 500
    hook = create_hook(seed, receiver.url)
    wait_for(lambda: receiver.got, "the ping")
    receiver.delay = 2.0  # slower than the timeout
    put_workflow(seed, "two.yml", TWO)
    started = time.monotonic()
    dispatch(seed, "two.yml")
    assert time.monotonic() - started < 1.0  # the dispatch did not wait for the receiver
    base = f"/repos/alice/pub/hooks/{hook['id']}/deliveries"
    history = wait_for(lambda: (d := seed.call("alice", "GET", base).json()) and len(d) == 2 and d, "two deliveries")
    assert [d["status"] for d in history] == ["timed out", "Invalid HTTP Response: 500"]
    time.sleep(0.8)
    assert len(seed.call("alice", "GET", base).json()) == 2  # no automatic retry


def test_hook_crud_ping_and_config_through_pygithub(seed, receiver):
    repo = seed.gh("alice").get_repo("alice/pub")
    hook = repo.create_hook("web", {"url": receiver.url, "content_type": "json", "secret": SECRET}, ["workflow_job"], True)
    assert hook.config == {"url": receiver.url, "content_type": "json", "insecure_ssl": "0", "secret": "********"}
    assert [h.id for h in repo.get_hooks()] == [hook.id]
    hook.edit("web", {"url": receiver.url, "content_type": "form"}, add_events=["workflow_run"])
    again = repo.get_hook(hook.id)
    assert again.events == ["workflow_job", "workflow_run"] and "secret" not in again.config  # not given: removed
    hook.ping()
    wait_for(lambda: len(receiver.got) == 2, "two pings")
    headers, body = receiver.got[1]
    assert headers["content-type"] == "application/x-www-form-urlencoded" and body.startswith(b"payload=")
    assert "x-hub-signature-256" not in headers  # no secret, no signature
    resp = seed.call("alice", "PATCH", f"/repos/alice/pub/hooks/{hook.id}/config", {"secret": "s2"})
    assert resp.json() == {"url": receiver.url, "content_type": "form", "insecure_ssl": "0", "secret": "********"}
    dup = seed.call("alice", "POST", "/repos/alice/pub/hooks", {"config": {"url": receiver.url}, "events": ["workflow_run"]})
    assert dup.status_code == 422 and dup.json()["errors"][0]["message"] == "Hook already exists on this repository"
    hook.delete()
    assert list(repo.get_hooks()) == []
    assert seed.call("bob", "GET", "/repos/alice/pub/hooks").status_code == 403  # hooks need admin rights


def test_org_hooks_get_the_events_of_every_repository(seed, receiver):
    token = seed.ctl("POST", "/tokens", {"login": "alice", "scopes": ["admin:org_hook", "repo", "workflow"]})["token"]
    hdr = {"Authorization": f"token {token}"}
    resp = requests.post(f"{seed.url}/orgs/acme/hooks", headers=hdr, timeout=30,
                         json={"name": "web", "config": {"url": receiver.url, "content_type": "json"}, "events": ["*"]})
    assert resp.status_code == 201, resp.text
    assert resp.json()["type"] == "Organization"
    assert seed.call("alice", "GET", "/orgs/acme/hooks").status_code == 403  # a token without admin:org_hook
    put_workflow(seed, "one.yml", "on: workflow_dispatch\njobs:\n  a:\n    runs-on: [self-hosted]\n", repo="acme/svc")
    dispatch(seed, "one.yml", repo="acme/svc")
    wait_for(lambda: {(e, a) for e, a, _ in receiver.events()} >= {("workflow_run", "requested"), ("workflow_job", "queued")},
             "the org hook's deliveries")
    for event, action, payload in receiver.events():
        assert validate(event, action, payload) == []
        assert payload["organization"]["login"] == "acme"


def test_the_scheduler_and_delivery_threads_stop_with_the_sandbox():
    from gridctl.sandbox.testing import strict_sandbox

    def ours() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith(("gridctl-sandbox-scheduler", "gridctl-sandbox-hooks"))]

    before = set(ours())
    with strict_sandbox() as sb:
        started = set(ours()) - before
        names = sorted(t.name for t in started)
        assert "gridctl-sandbox-scheduler" in names and "gridctl-sandbox-hooks-0" in names, names
        assert sb.app is not None
    assert not [t for t in started if t.is_alive()]
