"""Per-account GitHub clients: with the rest of ``gridctl/github`` the only code that imports PyGithub.

One :class:`AccountClient` per manifest account. A ``Github`` instance holds one requester
with one HTTP session and PyGithub does not promise thread safety, so each thread gets its
own ``Github`` instance for the account.

* Reads go through PyGithub's requester with ``If-None-Match`` from an ETag cache, because
  PyGithub's paginated lists offer no way to send a conditional request; GitHub counts no
  rate-limit point for a 304 (GitHub Docs, "Best practices for using the REST API", on
  conditional requests). Lists follow ``Link`` headers at ``per_page=100``.
* Writes are raw requests (``client.raw``: method, path, body) through the same requester, so
  every answer's status is classified by the one policy. PyGithub's write methods are not used:
  some return False on any non-2xx instead of raising (a 502 and a 422 look alike), and some
  cost extra calls (a public-key GET per secret, a GET before an edit).
* Every request runs under the one :class:`~gridctl.github.retry.RetryPolicy`. A
  non-idempotent POST is retried only after ``verify()`` re-reads and proves nothing was created.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from github import Auth, Github
from github.GithubException import GithubException

from ..errors import AuthError, GitHubError
from ..manifest.sources import Sensitive
from .app import TokenProvider, bearer
from .budget import Budget
from .cache import EtagCache as EtagCache  # re-exported: sessions make their caches here
from .retry import RetryPolicy, classify

DEFAULT_API_URL = "https://api.github.com"
USER_AGENT = "gridctl"

log = logging.getLogger("gridctl.client")


def api_url_from_env(explicit: str | None = None) -> str:
    """The API base URL: ``explicit`` (``--api-url``), else ``GRIDCTL_API_URL``, else
    ``GITHUB_API_URL`` — which GitHub Actions sets on every runner, pointing at the instance the
    workflow runs on, GitHub Enterprise Server included (GitHub Docs, "Variables reference",
    default environment variables: https://docs.github.com/en/actions/reference/variables-reference)
    — else https://api.github.com. The embedded sandbox (``--sandbox``) never calls this."""
    return api_url_and_origin(explicit)[0]


def api_url_and_origin(explicit: str | None = None) -> tuple[str, str]:
    """:func:`api_url_from_env` and where the URL came from (for a debug line)."""
    for value, origin in ((explicit, "--api-url or GRIDCTL_API_URL"), (os.environ.get("GRIDCTL_API_URL"), "GRIDCTL_API_URL"), (os.environ.get("GITHUB_API_URL"), "GITHUB_API_URL")):
        if value and value.strip():
            return value.strip().rstrip("/"), origin
    return DEFAULT_API_URL, "default"


class CallStats:
    """What one account's client did: requests by method, 304s, retries, rate-limit points."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.first_remaining: int | None = None
        self.last_remaining: int | None = None
        self.resets: set[str] = set()
        self.points = 0

    def record(self, method: str, status: int, headers: dict[str, Any] | None) -> None:
        with self.lock:
            self.counts["requests"] += 1
            self.counts[method] += 1
            if status == 304:
                self.counts["not_modified"] += 1
            h = {k.lower(): v for k, v in (headers or {}).items()}
            rem = h.get("x-ratelimit-remaining")
            if rem is not None and str(rem).isdigit():
                remaining = int(rem)
                if self.last_remaining is not None and remaining < self.last_remaining:
                    self.points += self.last_remaining - remaining
                elif self.last_remaining is None and status != 304 and "x-ratelimit-used" in h:
                    self.points += 1
                self.last_remaining = remaining
                if self.first_remaining is None:
                    self.first_remaining = remaining

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = dict(self.counts)
            out["rate_points"] = self.points
            out["rate_remaining"] = self.last_remaining
            return out


@dataclass(frozen=True)
class Keep:
    """A projection of a GET's body (``fn``) under a stable ``name``: the part of the body the
    caller uses, which is all the ETag cache keeps of it (one cache entry per URL and name)."""

    name: str
    fn: Callable[[Any], Any]


def _settle_session(gh: Github, proxies: dict[str, str]) -> None:
    """Give the requests session of ``gh``'s connection the proxies looked up once and stop it
    from reading the environment again on every request (``trust_env``); the CA bundle the
    environment names is passed to ``Github(verify=...)``. Left as it is where PyGithub's
    internals differ from what this expects."""
    create = getattr(gh.requester, "_Requester__createConnection", None)
    try:
        session = getattr(create(), "session", None) if callable(create) else None
    except Exception:  # noqa: BLE001 - an optimization only: keep PyGithub's own behaviour
        return
    if isinstance(session, requests.Session):
        session.proxies.update(proxies)
        session.trust_env = False


def _link_next(link: str | None) -> str | None:
    if not link:
        return None
    for part in link.split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return url.strip().strip("<>")
    return None


def _lower(headers: dict[str, Any] | None) -> dict[str, Any]:
    return {k.lower(): v for k, v in (headers or {}).items()}


class AccountClient:
    """Talks to GitHub as one account."""

    def __init__(
        self,
        account_id: str,
        token: Sensitive | TokenProvider,
        base_url: str,
        *,
        policy: RetryPolicy | None = None,
        cache: EtagCache | None = None,
        write_interval: float = 0.0,
        timeout: float = 30.0,
        budget: Budget | None = None,
    ):
        self.account_id = account_id
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.cache = cache or EtagCache()
        self.stats = CallStats()
        #: the token's share of GitHub's limits, shared with every client of the same token
        self.budget = budget or Budget()
        self._pace_key = "writes"
        self.write_interval = write_interval
        self.timeout = timeout
        self._local = threading.local()
        self.login: str | None = None
        self.scopes: set[str] | None = None
        #: asked ``gate(verb)`` before every request: may wait (for the token's check) or raise
        #: (a refused token); set by the session that checks the tokens
        self.gate: Callable[[str], None] | None = None
        self.public_keys: dict[str, dict[str, str]] = {}
        # proxies and CA bundle from the environment, looked up once (requests would on every request)
        self._env: tuple[dict[str, str], bool | str] = (
            requests.utils.get_environ_proxies(self.base_url),
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True,
        )

    # -- PyGithub instances -----------------------------------------------------------------------
    @property
    def gh(self) -> Github:
        """This thread's lazy ``Github`` (no request until an attribute is needed)."""
        gh = getattr(self._local, "gh", None)
        if gh is None:
            token = self._token
            gh = Github(
                # a token provider (an app installation) is asked for the token on every request
                auth=Auth.Token(token.reveal()) if isinstance(token, Sensitive) else bearer(token),
                base_url=self.base_url,
                timeout=int(self.timeout),
                user_agent=USER_AGENT,
                per_page=100,
                retry=None,
                seconds_between_requests=None,
                seconds_between_writes=None,
                lazy=True,
                verify=self._env[1],
            )
            _settle_session(gh, self._env[0])
            self._local.gh = gh
        return gh

    # -- errors ---------------------------------------------------------------------------------
    def _error(self, verb: str, url: str, exc: BaseException) -> GitHubError:
        path = url.replace(self.base_url, "") or "/"
        if isinstance(exc, GithubException):
            data = exc.data if isinstance(exc.data, dict) else {}
            message = str(data.get("message") or exc.__class__.__name__)
            errors = data.get("errors") if isinstance(data.get("errors"), list) else []
            detail = ""
            if errors:
                bits = []
                for e in errors[:3]:
                    bits.append(e.get("message") or f"{e.get('field')} {e.get('code')}" if isinstance(e, dict) else str(e))
                detail = " (" + "; ".join(str(b) for b in bits) + ")"
            rid = _lower(exc.headers).get("x-github-request-id")
            text = f"{verb} {path}: {exc.status} {message}{detail}" + (f" [request {rid}]" if rid else "")
            return GitHubError(text, status=exc.status, request_id=rid, github_message=message, errors=errors)
        if isinstance(exc, requests.exceptions.RequestException):
            return GitHubError(f"{verb} {path}: connection failed ({exc.__class__.__name__})")
        return GitHubError(f"{verb} {path}: {exc.__class__.__name__}")

    # -- raw requests ---------------------------------------------------------------------------
    def _request(self, verb: str, url: str, params: dict | None = None, body: Any = None, headers: dict | None = None) -> tuple[int, dict[str, Any], Any]:
        """One HTTP exchange through PyGithub's requester; returns ``(status, headers, data)``.
        With a token provider, a 401 gets a new token and one more try."""
        if self.gate is not None:
            self.gate(verb)
        req = self.gh.requester
        provider = None if isinstance(self._token, Sensitive) else self._token
        for attempt in (1, 2):
            sent = provider.token() if provider is not None else None
            ticket = self.budget.acquire(verb, url)  # waits while GitHub's limits say so
            try:
                resp_headers, data = req.requestJsonAndCheck(verb, url, parameters=params, headers=headers, input=body)
            except GithubException as exc:
                secondary = self.policy.wait_for(exc, 1) if classify(exc) == "secondary" else None
                self.budget.release(ticket, exc.headers or {}, secondary_wait=secondary)
                self.stats.record(verb, exc.status, exc.headers)
                if exc.status == 401 and provider is not None and attempt == 1 and provider.renew(sent):
                    continue
                raise
            except BaseException:
                self.budget.release(ticket, None)
                raise
            self.budget.release(ticket, resp_headers)
            break
        h = _lower(resp_headers)
        status = 200
        if verb == "GET" and data is None and headers and "If-None-Match" in headers:
            status = 304  # PyGithub hands a 304 back as headers with an empty body
        self.stats.record(verb, status, h)
        return status, h, data

    def paced(self, write_interval: float) -> AccountClient:
        """A sibling client of the same account (same token, cache and statistics) whose writes
        are paced by ``write_interval`` on their own: for one endpoint whose budget differs from
        the account's other writes (the controller's runner registrations)."""
        other = AccountClient(self.account_id, self._token, self.base_url, policy=self.policy, cache=self.cache,
                              write_interval=write_interval, timeout=self.timeout, budget=self.budget)
        other.stats = self.stats
        other._pace_key = f"paced-{id(other)}"  # its own pause, apart from the account's writes
        return other

    def _throttle_write(self) -> None:
        # shared by every client of the token that writes at this interval (the budget's)
        self.budget.pace(self.write_interval, self._pace_key)

    def get(self, url: str, params: dict | None = None, *, missing_ok: bool = True, keep: Keep | None = None) -> Any:
        """GET one resource (conditional); ``None`` for a 404 when ``missing_ok``. With ``keep``
        (a projection and its name), only ``keep.fn(body)`` is cached and returned, on a 200 and
        on a 304 alike: the cache holds what the caller needs, not the whole body."""
        data, _, _ = self._get_page(url, params, missing_ok=missing_ok, keep=keep)
        return data

    def _get_with_link(self, url: str, params: dict | None, *, missing_ok: bool) -> tuple[Any, str | None]:
        data, link, _ = self._get_page(url, params, missing_ok=missing_ok)
        return data, link

    def _get_page(self, url: str, params: dict | None, *, missing_ok: bool, keep: Keep | None = None) -> tuple[Any, str | None, bool]:
        """``(data, link, from_cache)`` for one GET (conditional when cached)."""
        key = url + ("?" + urlencode(sorted(params.items())) if params else "") + (f"#keep={keep.name}" if keep else "")
        cached = self.cache.get(key)
        headers = {"If-None-Match": cached["etag"]} if cached else None

        def once() -> tuple[int, dict[str, Any], Any]:
            return self._request("GET", url, params, headers=headers)

        for _ in range(2):
            try:
                status, h, data = self.policy.call(once)
            except GithubException as exc:
                if exc.status == 404 and missing_ok:
                    return None, None, False
                raise self._error("GET", url, exc) from None
            except requests.exceptions.RequestException as exc:
                raise self._error("GET", url, exc) from None
            if status != 304 or cached is None:
                break
            if self.cache.intact(cached):
                return cached["body"], cached.get("link"), True
            # "not modified" since a body that is no longer the one stored: read it whole again
            log.debug("ETag cache: the body cached for %s changed on disk; reading it again", url.partition("?")[0])
            self.cache.drop(key)
            cached, headers = None, None
        etag = h.get("etag")
        link = h.get("link")
        if keep is not None and data is not None:
            data = keep.fn(data)
        if etag:
            self.cache.put(key, etag, data, link)
        return data, link, False

    def get_list(self, url: str, params: dict | None = None, *, key: str | None = None, per_page: int = 100, missing_ok: bool = True, keep: Keep | None = None) -> list[Any] | None:
        """Every item of a paginated list (``key`` unwraps ``{total_count, key: [...]}``).
        ``None`` when the list's parent does not exist (404) and ``missing_ok``. ``keep``
        projects each page (keeping its items' count), as for :meth:`get`."""
        params = dict(params or {})
        params.setdefault("per_page", per_page)
        items: list[Any] = []
        next_url: str | None = url
        next_params: dict | None = params
        page_no = 1
        while next_url:
            data, link, cached = self._get_page(next_url, next_params, missing_ok=missing_ok, keep=keep)
            if data is None:
                return items or None
            page = data.get(key, []) if key and isinstance(data, dict) else data
            if isinstance(page, dict):  # PyGithub's GET post-processing adds "url" to dicts
                page = [page]
            items.extend(page or [])
            next_url = _link_next(link)
            next_params = None  # the next URL carries its own query string
            if next_url is None and cached and len(page or []) >= int(params["per_page"]):
                # A 304 carries no Link header, and a bare array's ETag covers only its body: an
                # unchanged full page may now be followed by a page the cached Link never named.
                next_url, next_params = url, {**params, "page": page_no + 1}
            page_no += 1
        return items

    def raw(
        self,
        verb: str,
        url: str,
        body: Any = None,
        *,
        params: dict | None = None,
        idempotent: bool | None = None,
        verify: Callable[[], Any] | None = None,
    ) -> Any:
        """A write (or an uncached read) through the requester, under the retry policy.

        ``idempotent`` defaults to True except for POST. A non-idempotent request is retried
        after a transient failure only when ``verify()`` returns a falsy value (nothing was
        created); when it returns something, that is the result.
        """
        if idempotent is None:
            idempotent = verb != "POST"

        def once() -> Any:
            if verb != "GET":
                self._throttle_write()
            _, _, data = self._request(verb, url, params, body)
            return data

        return self._run(verb, url, once, idempotent, verify)

    def _run(self, verb: str, url: str, once: Callable[[], Any], idempotent: bool, verify: Callable[[], Any] | None) -> Any:
        """``once()`` under the one retry policy (the same tenacity policy reads use). A write
        that is not idempotent (a POST) may have been applied when its answer was lost: after a
        transient failure it is retried only if ``verify()`` finds nothing — and what it finds
        is the result — and not at all without a ``verify``."""
        last: list[str | None] = [None]
        path = url.replace(self.base_url, "")

        def attempt() -> Any:
            if not idempotent and last[0] == "transient" and verify is not None:
                found = verify()  # the request may have been applied: look before trying again
                if found:
                    return found
            try:
                return once()
            except (GithubException, requests.exceptions.RequestException) as exc:
                last[0] = classify(exc)
                if last[0] is not None:
                    log.debug("%s %s: %s failure, retrying under the policy", verb, path, last[0])
                raise

        def retry_if(exc: BaseException) -> bool:
            return idempotent or classify(exc) != "transient" or verify is not None

        try:
            return self.policy.call(attempt, retry_if)
        except GitHubError:
            raise
        except (GithubException, requests.exceptions.RequestException) as exc:
            raise self._error(verb, url, exc) from None

    # -- identity -------------------------------------------------------------------------------
    def whoami(self) -> tuple[str, set[str] | None]:
        """``(login, scopes)`` of the token; scopes None for tokens that do not report them.

        A conditional request: the answer is cached under a fingerprint of the token (a SHA-256,
        never the token), so an unchanged token costs a 304 — no rate-limit point (GitHub Docs,
        "Best practices for using the REST API", conditional requests) — and a new token misses
        the cache. The scopes come from the answer's ``X-OAuth-Scopes`` header, a 304's too
        (the cached value only when a 304 lacks it)."""
        current = (self._token if isinstance(self._token, Sensitive) else self._token.token()).reveal()
        key = "/user#token=" + hashlib.sha256(b"gridctl token check\0" + current.encode()).hexdigest()[:32]
        cached = self.cache.get(key)
        if cached is not None and not (self.cache.intact(cached) and isinstance(cached.get("body"), dict)):
            cached = None
        headers = {"If-None-Match": cached["etag"]} if cached else None

        def once() -> tuple[int, dict[str, Any], Any]:
            return self._request("GET", "/user", headers=headers)

        try:
            status, h, data = self.policy.call(once)
        except GithubException as exc:
            if exc.status == 401:
                raise AuthError(f"account {self.account_id}: the token was refused (401 Bad credentials)") from None
            raise self._error("GET", "/user", exc) from None
        except requests.exceptions.RequestException as exc:
            raise self._error("GET", "/user", exc) from None
        if status == 304 and cached is not None:
            login = str(cached["body"].get("login"))
            scopes_header = h.get("x-oauth-scopes", cached["body"].get("scopes"))
        else:
            login = data["login"]
            scopes_header = h.get("x-oauth-scopes")
            if h.get("etag"):
                self.cache.put(key, h["etag"], {"login": login, "scopes": scopes_header}, None)
        self.login = login
        self.scopes = None if scopes_header is None else {s.strip() for s in scopes_header.split(",") if s.strip()}
        return self.login, self.scopes

    def public_key(self, scope_url: str) -> dict[str, str]:
        """A secrets public key (``{key_id, key}``), fetched once per scope per run."""
        if scope_url not in self.public_keys:
            data = self.get(scope_url + "/public-key", missing_ok=False)
            self.public_keys[scope_url] = {"key_id": str(data["key_id"]), "key": data["key"]}
        return self.public_keys[scope_url]

    def seal(self, scope_url: str, value: Sensitive) -> dict[str, str]:
        """``{key_id, encrypted_value}`` for a secret PUT: ``value`` sealed (PyNaCl sealed box,
        as PyGithub does it) against the scope's public key. The plaintext leaves the
        :class:`Sensitive` only here, straight into the box."""
        from github.PublicKey import encrypt

        key = self.public_key(scope_url)
        return {"key_id": key["key_id"], "encrypted_value": encrypt(key["key"], value.reveal())}

    def delete(self, url: str, what: str) -> bool:
        """An idempotent DELETE: a 404 (already gone, e.g. a retried delete whose first
        answer was lost) counts as done. Returns False when it was already gone."""
        try:
            self.raw("DELETE", url)
        except GitHubError as exc:
            if exc.status == 404:
                return False
            raise GitHubError(f"{what}: {exc}", status=exc.status, request_id=exc.request_id, github_message=exc.github_message) from None
        return True

    def close(self) -> None:
        self.cache.save()
