"""Conformance cases: GitHub Apps (the app's JWT, installations, installation tokens)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import requests

from ..conformance import Case


def _app(seed: Any) -> dict:
    """grid-bot, installed on acme (all repositories) and on carol; its JWT as login ``app``
    and an installation token of acme as login ``inst``."""
    base = f"{seed.sb.config.public_url}/_sandbox"
    resp = requests.post(f"{base}/apps", json={"name": "grid-bot", "permissions": {"administration": "write", "secrets": "read"}}, timeout=30)
    assert resp.status_code == 201, resp.text
    app = resp.json()
    insts = {}
    for account in ("acme", "carol"):
        r = requests.post(f"{base}/apps/{app['id']}/installations", json={"account": account}, timeout=30)
        assert r.status_code == 201, r.text
        insts[account] = r.json()["id"]
    now = int(time.time())
    seed.tokens["app"] = jwt.encode({"iat": now - 60, "exp": now + 540, "iss": str(app["id"])}, app["private_key"], algorithm="RS256")
    minted = seed.call("app", "POST", f"/app/installations/{insts['acme']}/access_tokens")
    assert minted.status_code == 201, minted.text
    seed.tokens["inst"] = minted.json()["token"]
    return {"inst_id": insts["acme"]}


CASES = [
    Case("apps/get-authenticated", 200, "GET", "/app", login="app", setup=_app),
    Case("apps/get-authenticated", 401, "GET", "/app", note="personal-token"),
    Case("apps/list-installations", 200, "GET", "/app/installations", login="app", setup=_app),
    Case("apps/list-installations", 401, "GET", "/app/installations", login="inst", setup=_app, note="installation-token"),
    Case("apps/get-installation", 200, "GET", "/app/installations/{inst_id}", login="app", setup=_app),
    Case("apps/get-installation", 404, "GET", "/app/installations/999999", login="app", setup=_app, note="no-such-installation"),
    Case("apps/create-installation-access-token", 201, "POST", "/app/installations/{inst_id}/access_tokens",
         {"repositories": ["svc"], "permissions": {"secrets": "read"}}, login="app", setup=_app),
    Case("apps/create-installation-access-token", 422, "POST", "/app/installations/{inst_id}/access_tokens",
         {"permissions": {"secrets": "write"}}, login="app", setup=_app, note="more-than-installed"),
    Case("apps/create-installation-access-token", 404, "POST", "/app/installations/999999/access_tokens", login="app",
         setup=_app, note="no-such-installation"),
    Case("apps/get-org-installation", 200, "GET", "/orgs/acme/installation", login="app", setup=_app),
    Case("apps/get-org-installation", 404, "GET", "/orgs/nosuch/installation", login="app", setup=_app, note="not-installed"),
    Case("apps/get-repo-installation", 200, "GET", "/repos/acme/svc/installation", login="app", setup=_app),
    Case("apps/get-repo-installation", 404, "GET", "/repos/alice/pub/installation", login="app", setup=_app, note="not-installed"),
    Case("apps/get-user-installation", 200, "GET", "/users/carol/installation", login="app", setup=_app),
    Case("apps/get-user-installation", 404, "GET", "/users/bob/installation", login="app", setup=_app, note="not-installed"),
    Case("apps/list-repos-accessible-to-installation", 200, "GET", "/installation/repositories", login="inst", setup=_app),
    Case("apps/list-repos-accessible-to-installation", 403, "GET", "/installation/repositories", note="personal-token"),
]
