"""GitHub Apps on the sandbox: JWTs verified with the app's public key, installations on users and
organizations, installation tokens confined to their repositories and permissions, expiring,
and the installation's own rate limit."""

from __future__ import annotations

import time
from typing import Any

import jwt
import requests

APP_PERMISSIONS = {"administration": "write", "secrets": "write", "contents": "write", "issues": "read"}


def register(seed: Any, name: str = "grid-bot", permissions: dict | None = None) -> dict:
    resp = requests.post(f"{seed.sb.config.public_url}/_sandbox/apps",
                         json={"name": name, "owner": "alice", "permissions": permissions or APP_PERMISSIONS}, timeout=30)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def install(seed: Any, app: dict, account: str, **body: Any) -> dict:
    resp = requests.post(f"{seed.sb.config.public_url}/_sandbox/apps/{app['id']}/installations",
                         json={"account": account, **body}, timeout=30)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def signed(app: dict, *, iat: float | None = None, exp: float | None = None, key: str | None = None) -> str:
    now = int(time.time())
    claims = {"iat": int(now - 60 if iat is None else iat), "exp": int(now + 540 if exp is None else exp), "iss": str(app["id"])}
    return jwt.encode(claims, key or app["private_key"], algorithm="RS256")


def as_bearer(seed: Any, token: str, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, seed.url + path, json=body, timeout=30,
                            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"})


def mint(seed: Any, app: dict, inst: dict, body: Any = None) -> dict:
    resp = as_bearer(seed, signed(app), "POST", f"/app/installations/{inst['id']}/access_tokens", body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_jwt_opens_the_app_endpoints_and_bad_jwts_get_githubs_401(seed):
    app = register(seed)
    inst = install(seed, app, "acme")
    good = signed(app)
    me = as_bearer(seed, good, "GET", "/app")
    assert me.status_code == 200 and me.json()["slug"] == "grid-bot"
    assert [i["id"] for i in as_bearer(seed, good, "GET", "/app/installations").json()] == [inst["id"]]
    assert as_bearer(seed, good, "GET", "/orgs/acme/installation").json()["id"] == inst["id"]
    assert as_bearer(seed, good, "GET", "/users/carol/installation").status_code == 404
    other = register(seed, "other-bot")
    now = time.time()
    cases = {
        "expired": signed(app, iat=now - 700, exp=now - 100),
        "future": signed(app, iat=now + 300, exp=now + 600),
        "too long": signed(app, iat=now - 60, exp=now + 3600),
        "other key": signed(app, key=other["private_key"]),
        "garbage": "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.AAAA",
    }
    for what, token in cases.items():
        resp = as_bearer(seed, token, "GET", "/app")
        assert resp.status_code == 401, what
        assert "documentation_url" in resp.json()
    assert "exp" in as_bearer(seed, cases["expired"], "GET", "/app").json()["message"]
    assert "iat" in as_bearer(seed, cases["future"], "GET", "/app").json()["message"]
    assert as_bearer(seed, cases["other key"], "GET", "/app").json()["message"] == "A JSON web token could not be decoded"
    # a JWT opens nothing else; a personal token opens no /app endpoint
    assert as_bearer(seed, good, "GET", "/repos/acme/svc").status_code == 403
    assert seed.call("alice", "GET", "/app").status_code == 401


def test_installation_token_is_confined_to_its_repositories_and_permissions(seed):
    for name in ("a", "b"):
        assert seed.call("alice", "POST", "/orgs/acme/repos", {"name": name, "private": True}).status_code == 201
    app = register(seed)
    inst = install(seed, app, "acme", repositories=["svc", "a"])
    tok = mint(seed, app, inst)
    assert tok["permissions"]["secrets"] == "write" and tok["repository_selection"] == "selected"
    t = tok["token"]
    assert as_bearer(seed, t, "GET", "/repos/acme/svc").status_code == 200
    assert as_bearer(seed, t, "PATCH", "/repos/acme/svc", {"description": "by the app"}).status_code == 200
    assert as_bearer(seed, t, "GET", "/repos/acme/b").status_code == 404  # not selected
    assert as_bearer(seed, t, "GET", "/repos/alice/priv").status_code == 404  # another account
    # a permission the installation lacks (variables), or has only for reading (issues)
    denied = as_bearer(seed, t, "GET", "/repos/acme/svc/actions/variables")
    assert denied.status_code == 403 and denied.json()["message"] == "Resource not accessible by integration"
    assert as_bearer(seed, t, "POST", "/repos/acme/svc/labels", {"name": "x", "color": "ffffff"}).status_code == 403
    assert as_bearer(seed, t, "GET", "/repos/acme/svc/actions/secrets").status_code == 200
    assert as_bearer(seed, t, "GET", "/user").status_code == 403
    listed = as_bearer(seed, t, "GET", "/installation/repositories").json()
    assert sorted(r["name"] for r in listed["repositories"]) == ["a", "svc"] and listed["total_count"] == 2
    # a repository the app creates joins the selection
    assert as_bearer(seed, t, "POST", "/orgs/acme/repos", {"name": "made"}).status_code == 201
    assert as_bearer(seed, t, "GET", "/repos/acme/made").status_code == 200
    # narrowed further: one repository, read-only secrets
    narrow = mint(seed, app, inst, {"repositories": ["a"], "permissions": {"secrets": "read"}})
    assert [r["name"] for r in narrow["repositories"]] == ["a"]
    assert as_bearer(seed, narrow["token"], "GET", "/repos/acme/svc").status_code == 404
    assert as_bearer(seed, narrow["token"], "GET", "/repos/acme/a/actions/secrets").status_code == 200
    assert as_bearer(seed, narrow["token"], "PATCH", "/repos/acme/a", {"description": "x"}).status_code == 403
    # more than the installation has is refused
    resp = as_bearer(seed, signed(app), "POST", f"/app/installations/{inst['id']}/access_tokens", {"permissions": {"workflows": "write"}})
    assert resp.status_code == 422
    resp = as_bearer(seed, signed(app), "POST", f"/app/installations/{inst['id']}/access_tokens", {"repositories": ["b"]})
    assert resp.status_code == 422


def test_tokens_expire_and_the_installation_has_its_own_rate_limit(seed):
    app = register(seed)
    inst = install(seed, app, "carol")
    assert as_bearer(seed, signed(app), "GET", "/users/carol/installation").json()["target_type"] == "User"
    seed.ctl("PUT", "/apps/token-lifetime", {"seconds": 1})
    tok = mint(seed, app, inst)
    resp = as_bearer(seed, tok["token"], "GET", "/repos/carol/nothing")
    assert resp.status_code == 404
    assert resp.headers["x-ratelimit-limit"] == "5000"
    assert "x-oauth-scopes" not in resp.headers
    for _ in range(40):  # bounded: the token lives one second
        if as_bearer(seed, tok["token"], "GET", "/rate_limit").status_code == 401:
            break
        time.sleep(0.1)
    resp = as_bearer(seed, tok["token"], "GET", "/rate_limit")
    assert resp.status_code == 401 and resp.json()["message"] == "Bad credentials"
    # suspended: no token
    seed.ctl("PATCH", f"/installations/{inst['id']}", {"suspended": True})
    resp = as_bearer(seed, signed(app), "POST", f"/app/installations/{inst['id']}/access_tokens")
    assert resp.status_code == 403
