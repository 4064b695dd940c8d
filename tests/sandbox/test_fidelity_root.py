"""``GET /`` answers GitHub's root document (a map of URL templates), at the plain base URL and
under an Enterprise-style ``/api/v3`` prefix, as clients that discover URLs from it expect."""

from __future__ import annotations

import requests

from gridctl.sandbox.server import Sandbox
from gridctl.sandbox.testing import strict_sandbox


def test_root_document_at_the_base_url(seed):
    resp = seed.call("alice", "GET", "/")
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["repository_url"] == f"{seed.url}/repos/{{owner}}/{{repo}}"
    assert doc["current_user_url"] == f"{seed.url}/user"
    assert doc["rate_limit_url"] == f"{seed.url}/rate_limit"
    # every template resolves to a route the sandbox serves, for the ones it implements
    filled = doc["repository_url"].replace("{owner}", "alice").replace("{repo}", "pub")
    assert seed.api("alice").get(filled, timeout=30).json()["full_name"] == "alice/pub"
    assert seed.call(None, "GET", "/").status_code == 200  # anonymous too


def test_root_document_under_api_v3():
    with strict_sandbox(api_prefix="/api/v3") as sb:
        assert isinstance(sb, Sandbox)
        for path in ("/api/v3/", "/api/v3"):
            resp = requests.get(sb.config.public_url + path, timeout=30)
            assert resp.status_code == 200, (path, resp.text)
            doc = resp.json()
            assert doc["repository_url"] == f"{sb.config.public_url}/api/v3/repos/{{owner}}/{{repo}}"
            assert doc["current_user_authorizations_html_url"].startswith(sb.config.public_url + "/settings/")
