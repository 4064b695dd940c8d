"""GitHub OAuth's web application flow, on the sandbox's web host.

GitHub Docs, "Authorizing OAuth apps",
https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps, and
"Troubleshooting authorization request errors" / "Troubleshooting OAuth app access token request
errors" (https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/), in our words:

1. ``GET /login/oauth/authorize`` with ``client_id`` (required), ``redirect_uri``, ``scope``
   (space-delimited), ``state`` and ``login`` ("suggests a specific account to use for signing in").
   The user signs in and approves; GitHub redirects to the redirect URL with a temporary ``code``
   and the ``state`` given. The code expires after 10 minutes. Without ``scope``, a user who has
   already authorized the app gets the scopes granted before (their union); a new user, none.
2. ``POST /login/oauth/access_token`` with ``client_id``, ``client_secret``, ``code`` and
   ``redirect_uri`` (matched against the one given in step 1). The answer is form-encoded
   (``access_token=...&scope=repo%2Cgist&token_type=bearer``) by default, JSON with
   ``Accept: application/json``, XML with ``Accept: application/xml``; ``scope`` is
   comma-separated. Errors are answered with **200** and an ``error`` field:
   ``incorrect_client_credentials``, ``redirect_uri_mismatch``, ``bad_verification_code``
   (a wrong, used or expired code).
3. Redirect URLs: without ``redirect_uri`` GitHub uses the app's callback URL; with one, its host
   and port must match the callback URL's and its path must lie under the callback's path, except
   that a loopback callback (``127.0.0.1``, ``::1``, ``localhost``) accepts any port. A mismatch
   at step 1 redirects to the *callback URL* with ``error=redirect_uri_mismatch``; a user who
   declines is redirected with ``error=access_denied``.

The sandbox's sign-in is the ``login`` parameter: with it the flow completes at once (the user
"approves"); without it, a small page lists the sandbox's users as links. ``deny=1`` plays the
user who clicks "Cancel". OAuth apps are registered through ``POST /_sandbox/oauth/apps``; the
client secret is returned once and only its hash is kept, as for tokens. Codes are single-use and
kept as hashes too. The access token is a sandbox token of the user with the granted scopes, so
the REST API reports them in ``X-OAuth-Scopes`` and enforces them.

Records (see LAYOUT.md): table ``oauth_apps`` key client_id ``{client_id, name, callback_url,
secret_sha256, created_at}``; ``oauth_codes`` key sha256(code) ``{client_id, login, scopes,
redirect_uri, expires}``; ``oauth_grants`` key ``client_id:login_lower`` ``{scopes}``.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..errors import ApiError
from ..inputs import str_field
from ..routing import WebReply, WebRequest, control, web
from ..world import token_hash

#: how long an authorization code may be exchanged (sandbox clock)
CODE_TTL = 600.0

#: the scopes of OAuth apps (GitHub Docs, "Scopes for OAuth apps",
#: https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps);
#: a requested name outside this list is dropped, like GitHub ignores what it does not know
KNOWN_SCOPES = frozenset(
    {
        "repo", "repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events",
        "admin:repo_hook", "write:repo_hook", "read:repo_hook", "admin:org", "write:org", "read:org",
        "admin:public_key", "write:public_key", "read:public_key", "admin:org_hook", "gist",
        "notifications", "user", "read:user", "user:email", "user:follow", "project", "read:project",
        "delete_repo", "write:packages", "read:packages", "delete:packages", "admin:gpg_key",
        "write:gpg_key", "read:gpg_key", "codespace", "workflow", "admin:enterprise",
        "manage_runners:enterprise", "manage_billing:enterprise", "read:enterprise",
        "admin:ssh_signing_key", "write:ssh_signing_key", "read:ssh_signing_key", "audit_log",
        "read:audit_log", "copilot", "manage_billing:copilot",
    }
)

_EXCHANGE_ERRORS_DOC = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"
_TROUBLESHOOT_AUTHORIZE = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/"
_ERRORS = {
    "incorrect_client_credentials": ("The client_id and/or client_secret passed are incorrect.", _EXCHANGE_ERRORS_DOC + "#incorrect-client-credentials"),
    "redirect_uri_mismatch": ("The redirect_uri MUST match the registered callback URL for this application.", _EXCHANGE_ERRORS_DOC + "#redirect-uri-mismatch2"),
    "bad_verification_code": ("The code passed is incorrect or expired.", _EXCHANGE_ERRORS_DOC + "#bad-verification-code"),
}
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def parse_scopes(raw: str | None) -> list[str]:
    """Requested scopes (space- or comma-separated), known ones only, in request order, once."""
    out: list[str] = []
    for name in (raw or "").replace(",", " ").split():
        if name in KNOWN_SCOPES and name not in out:
            out.append(name)
    return out


def redirect_allowed(callback: str, wanted: str) -> bool:
    """True when ``wanted`` may be used as the redirect URL of an app whose callback is ``callback``."""
    cb, w = urlsplit(callback), urlsplit(wanted)
    if w.scheme not in ("http", "https") or not w.hostname or w.fragment:
        return False
    if (w.scheme, (w.hostname or "").lower()) != (cb.scheme, (cb.hostname or "").lower()):
        return False
    if w.port != cb.port and (cb.hostname or "").lower() not in _LOOPBACK:
        return False
    base = cb.path.rstrip("/")
    return w.path == cb.path or w.path.rstrip("/") == base or w.path.startswith(base + "/")


def _with_query(url: str, params: dict[str, str]) -> str:
    sep = "&" if urlsplit(url).query else "?"
    return url + sep + urlencode(params)


def _redirect(url: str) -> WebReply:
    return WebReply(302, b"", "text/html; charset=utf-8", {"Location": url})


def _page(status: int, title: str, body_html: str) -> WebReply:
    doc = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    return WebReply(status, doc.encode(), "text/html; charset=utf-8")


def _sign_in_page(app: Any, req: WebRequest, oauth_app: dict, note: str = "") -> WebReply:
    """The sandbox's sign-in: every user as a link that completes the flow as that user."""
    users = sorted((u for u in app.store.values("users") if u["type"] == "User"), key=lambda u: u["login"].lower())
    items = []
    for user in users:
        href = "/login/oauth/authorize?" + urlencode({**req.query, "login": user["login"]})
        items.append(f"<li><a href='{html.escape(href)}'>{html.escape(user['login'])}</a></li>")
    deny = "/login/oauth/authorize?" + urlencode({**req.query, "deny": "1"})
    text = (
        (f"<p>{html.escape(note)}</p>" if note else "")
        + f"<p>Sign in to the sandbox to authorize <b>{html.escape(oauth_app['name'])}</b>"
        + (f" (scopes: {html.escape(', '.join(parse_scopes(req.query.get('scope'))))})" if req.query.get("scope") else "")
        + ".</p><ul>" + "".join(items) + f"</ul><p><a href='{html.escape(deny)}'>Cancel</a></p>"
    )
    return _page(200, "Sign in to GitHub (sandbox)", text)


@web("GET", "/login/oauth/authorize")
def authorize(app: Any, req: WebRequest) -> WebReply:
    q = req.query
    oauth_app = app.store.get("oauth_apps", q.get("client_id", ""))
    if oauth_app is None:
        return _page(404, "Not Found", "<p>No OAuth app has this client_id.</p>")
    callback = oauth_app["callback_url"]
    redirect_uri = q.get("redirect_uri") or callback
    state = {"state": q["state"]} if "state" in q else {}
    if not redirect_allowed(callback, redirect_uri):
        description, _ = _ERRORS["redirect_uri_mismatch"]
        return _redirect(_with_query(callback, {
            "error": "redirect_uri_mismatch",
            "error_description": description,
            "error_uri": _TROUBLESHOOT_AUTHORIZE + "#redirect-uri-mismatch",
            **state,
        }))
    if q.get("deny"):
        return _redirect(_with_query(redirect_uri, {
            "error": "access_denied",
            "error_description": "The user has denied your application access.",
            "error_uri": _TROUBLESHOOT_AUTHORIZE + "#access-denied",
            **state,
        }))
    login = q.get("login")
    user = app.world.find_user(login) if login else None
    if user is None or user["type"] != "User":
        return _sign_in_page(app, req, oauth_app, f"There is no sandbox user {login!r}." if login else "")
    grant_key = f"{oauth_app['client_id']}:{user['login'].lower()}"
    granted = (app.store.get("oauth_grants", grant_key) or {}).get("scopes", [])
    scopes = parse_scopes(q["scope"]) if "scope" in q else list(granted)
    app.world.save("oauth_grants", grant_key, {"scopes": sorted(set(granted) | set(scopes))})
    code = secrets.token_hex(10)
    app.world.save("oauth_codes", token_hash(code), {
        "client_id": oauth_app["client_id"],
        "login": user["login"],
        "scopes": scopes,
        "redirect_uri": q.get("redirect_uri"),
        "expires": app.world.now() + CODE_TTL,
    })
    return _redirect(_with_query(redirect_uri, {"code": code, **state}))


def _token_answer(req: WebRequest, fields: dict[str, str]) -> WebReply:
    accept = req.headers.get("accept", "")
    if "application/json" in accept:
        return WebReply(200, json.dumps(fields).encode(), "application/json; charset=utf-8")
    if "application/xml" in accept:
        inner = "".join(f"<{k}>{html.escape(v)}</{k}>" for k, v in fields.items())
        return WebReply(200, f"<OAuth>{inner}</OAuth>".encode(), "application/xml; charset=utf-8")
    return WebReply(200, urlencode(fields).encode(), "application/x-www-form-urlencoded; charset=utf-8")


def _token_error(req: WebRequest, error: str) -> WebReply:
    description, uri = _ERRORS[error]
    return _token_answer(req, {"error": error, "error_description": description, "error_uri": uri})


@web("POST", "/login/oauth/access_token")
def access_token(app: Any, req: WebRequest) -> WebReply:
    given = {**req.query, **req.form}  # GitHub takes the parameters in the query or the body
    oauth_app = app.store.get("oauth_apps", given.get("client_id", ""))
    secret = given.get("client_secret", "")
    if oauth_app is None or not secrets.compare_digest(oauth_app["secret_sha256"], _secret_hash(secret)):
        return _token_error(req, "incorrect_client_credentials")
    key = token_hash(given.get("code", ""))
    grant = app.store.get("oauth_codes", key)
    if grant is None or grant["client_id"] != oauth_app["client_id"] or app.world.now() >= grant["expires"]:
        return _token_error(req, "bad_verification_code")
    wanted = given.get("redirect_uri")
    if wanted and wanted != (grant["redirect_uri"] or oauth_app["callback_url"]):
        return _token_error(req, "redirect_uri_mismatch")
    app.store.delete("oauth_codes", key)  # single use
    token = app.world.issue_token(grant["login"], grant["scopes"])
    return _token_answer(req, {"access_token": token, "scope": ",".join(grant["scopes"]), "token_type": "bearer"})


# -- control: OAuth apps ---------------------------------------------------------------------------
@control("POST", "/oauth/apps")
def register_app(app: Any, body: dict, params: dict, query: dict) -> Any:
    """``{name, callback_url}`` -> ``{client_id, client_secret, name, callback_url}`` (the secret
    is shown this once)."""
    name = str_field(body, "name", "sandbox app", max_length=100)
    callback = str_field(body, "callback_url", max_length=2000)
    parts = urlsplit(callback)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ApiError(422, "Invalid request.\n\nFor 'properties/callback_url', it must be an http(s) URL without a fragment.")
    client_id = "Ov23sbx" + secrets.token_hex(7)
    secret = "gridsbx_cs_" + secrets.token_hex(20)
    rec = {
        "client_id": client_id,
        "name": name,
        "callback_url": callback,
        "secret_sha256": _secret_hash(secret),
        "created_at": app.world.now_iso(),
    }
    app.world.save("oauth_apps", client_id, rec)
    return 201, {"client_id": client_id, "client_secret": secret, "name": name, "callback_url": callback}


@control("GET", "/oauth/apps")
def list_apps(app: Any, body: dict, params: dict, query: dict) -> Any:
    return [
        {"client_id": r["client_id"], "name": r["name"], "callback_url": r["callback_url"], "created_at": r["created_at"]}
        for r in sorted(app.store.values("oauth_apps"), key=lambda r: r["created_at"])
    ]
