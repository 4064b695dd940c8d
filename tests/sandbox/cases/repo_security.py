"""Conformance cases: a repository's security settings (vulnerability alerts, Dependabot security
updates) and its autolinks."""

from __future__ import annotations

from typing import Any

from ..conformance import Case

VULN = "/repos/alice/pub/vulnerability-alerts"
FIXES = "/repos/alice/pub/automated-security-fixes"
LINKS = "/repos/alice/pub/autolinks"
_LINK = {"key_prefix": "TICKET-", "url_template": "https://t.example.com/TICKET-<num>"}


def _call(seed: Any, method: str, path: str, body: Any = None, status: int = 204) -> Any:
    resp = seed.call("alice", method, path, body)
    assert resp.status_code == status, resp.text
    return resp


def alerts_on(seed: Any) -> dict:
    _call(seed, "PUT", VULN)
    return {}


def fixes_on(seed: Any) -> dict:
    _call(seed, "PUT", VULN)
    _call(seed, "PUT", FIXES)
    return {}


def a_link(seed: Any) -> dict:
    return {"link_id": _call(seed, "POST", LINKS, _LINK, 201).json()["id"]}


CASES = [
    Case("repos/check-vulnerability-alerts", 204, "GET", VULN, setup=alerts_on),
    Case("repos/check-vulnerability-alerts", 404, "GET", VULN, note="disabled"),
    Case("repos/check-vulnerability-alerts", 403, "GET", VULN, login="bob", note="not-admin"),
    Case("repos/enable-vulnerability-alerts", 204, "PUT", VULN),
    Case("repos/enable-vulnerability-alerts", 404, "PUT", "/repos/alice/priv/vulnerability-alerts", login="carol", note="private-hidden"),
    Case("repos/disable-vulnerability-alerts", 204, "DELETE", VULN, setup=fixes_on),
    Case("repos/disable-vulnerability-alerts", 403, "DELETE", VULN, login="bob", note="not-admin"),
    Case("repos/check-automated-security-fixes", 200, "GET", FIXES, setup=fixes_on),
    Case("repos/check-automated-security-fixes", 404, "GET", FIXES, setup=alerts_on, note="disabled"),
    Case("repos/enable-automated-security-fixes", 204, "PUT", FIXES, setup=alerts_on),
    Case("repos/enable-automated-security-fixes", 422, "PUT", FIXES, note="alerts-off"),
    Case("repos/disable-automated-security-fixes", 204, "DELETE", FIXES, setup=fixes_on),
    Case("repos/disable-automated-security-fixes", 403, "DELETE", FIXES, login="bob", note="not-admin"),
    Case("repos/list-autolinks", 200, "GET", LINKS, setup=a_link),
    Case("repos/list-autolinks", 403, "GET", LINKS, login="bob", note="not-admin"),
    Case("repos/create-autolink", 201, "POST", LINKS, {**_LINK, "is_alphanumeric": False}),
    Case("repos/create-autolink", 422, "POST", LINKS, {"key_prefix": "T-", "url_template": "https://t.example.com/"}, note="no-num"),
    Case("repos/create-autolink", 422, "POST", LINKS, {**_LINK, "key_prefix": "ticket-"}, setup=a_link, note="prefix-taken"),
    Case("repos/get-autolink", 200, "GET", LINKS + "/{link_id}", setup=a_link),
    Case("repos/get-autolink", 404, "GET", LINKS + "/999999", note="no-such-link"),
    Case("repos/delete-autolink", 204, "DELETE", LINKS + "/{link_id}", setup=a_link),
    Case("repos/delete-autolink", 404, "DELETE", LINKS + "/999999", note="no-such-link"),
]
