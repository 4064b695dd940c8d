"""Accounts that are GitHub App installations: the JWT, the installation, its tokens.

An account with ``app: {id, private_key, installation}`` talks to GitHub with installation
tokens. What GitHub documents, and what this module does:

* The app proves who it is with a JWT signed RS256 by its private key: ``iss`` the app's id (or
  client id), ``iat`` 60 seconds in the past "to allow for clock drift", ``exp`` no more than 10
  minutes into the future (GitHub Docs, "Generating a JSON Web Token (JWT) for a GitHub App",
  https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app).
  PyJWT with cryptography signs it; the key is read from its source and kept in memory only.
* The installation is named by its id (``GET /app/installations/{id}``) or by the account it is
  installed on: ``GET /orgs/{org}/installation``, ``GET /users/{user}/installation``, or
  ``GET /repos/{owner}/{repo}/installation`` (GitHub Docs, "REST API endpoints for GitHub Apps",
  https://docs.github.com/en/rest/apps/apps).
* ``POST /app/installations/{id}/access_tokens`` mints a token, optionally narrowed to some
  repositories and permissions; it expires after one hour (GitHub Docs, "Generating an
  installation access token for a GitHub App",
  https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-an-installation-access-token-for-a-github-app).
  :class:`InstallationTokens` renews it when less than five minutes are left, and once more when
  GitHub answers 401 (a token revoked or expired early), so a long apply or the controller never
  sees an expired token. Tokens live in memory only: never logged, journaled, stored or cached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import jwt
import requests
from github import Auth, Github
from github.GithubException import GithubException

from ..errors import AuthError, GitHubError
from ..manifest.sources import Sensitive
from .retry import RetryPolicy

log = logging.getLogger("gridctl.app")

#: how far ``iat`` is set in the past (GitHub's recommendation, for clock drift)
CLOCK_DRIFT = 60
#: the JWT's lifetime from ``iat``: 10 minutes in all, so ``exp`` is 9 minutes from now
JWT_LIFETIME = 600
#: a token with less than this left (or a quarter of its lifetime, when that is shorter) is
#: renewed before use
RENEW_BEFORE = 300.0


class TokenProvider(Protocol):
    """What :class:`~gridctl.github.client.AccountClient` asks for a token that changes."""

    def token(self) -> Sensitive:
        """The token to send now (renewed first when it is about to expire)."""
        ...

    def renew(self, refused: Sensitive | None = None) -> bool:
        """Get a new token after GitHub refused ``refused`` (401); False when none can be had."""
        ...


@dataclass(frozen=True)
class AppCredentials:
    """An account's ``app`` entry, its key read from the source."""

    app_id: str
    private_key: Sensitive
    #: an installation id, or the login (``owner`` or ``owner/repo``) it is installed on
    installation: int | str
    repositories: tuple[str, ...] | None = None
    permissions: dict[str, str] | None = field(default=None)


class _Bearer(Auth.Auth):
    """PyGithub authentication by a value computed per request."""

    def __init__(self, get: Callable[[], str]):
        self._get = get

    @property
    def token_type(self) -> str:
        return "Bearer"

    @property
    def token(self) -> str:
        return self._get()

    @property
    def _masked_token(self) -> str:
        return "Bearer (hidden)"


def bearer(provider: TokenProvider) -> Auth.Auth:
    """PyGithub authentication by ``provider``'s current token."""
    return _Bearer(lambda: provider.token().reveal())


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class InstallationTokens:
    """The installation tokens of one app account: a :class:`TokenProvider`.

    ``installation`` (the installation GitHub describes: ``id``, ``account``, ``permissions``,
    ``repository_selection``) is known after :meth:`connect`."""

    def __init__(self, account_id: str, creds: AppCredentials, base_url: str, *, policy: RetryPolicy | None = None,
                 timeout: float = 30.0, clock: Callable[[], float] = time.time):
        self.account_id = account_id
        self.creds = creds
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.clock = clock
        self.installation: dict[str, Any] | None = None
        #: the permissions of the current token (the installation's, or the narrowed ones)
        self.permissions: dict[str, str] = {}
        self.minted = 0
        self._lock = threading.Lock()
        self._current: Sensitive | None = None
        self._expires = 0.0
        self._renew_before = RENEW_BEFORE
        self._gh: Github | None = None

    # -- the JWT ----------------------------------------------------------------------------------
    def jwt(self) -> str:
        """A fresh JWT: ``iat`` a minute in the past, ``exp`` ten minutes after ``iat``."""
        now = int(self.clock())
        claims = {"iat": now - CLOCK_DRIFT, "exp": now - CLOCK_DRIFT + JWT_LIFETIME, "iss": self.creds.app_id}
        try:
            return jwt.encode(claims, self.creds.private_key.reveal(), algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            # the message would describe the key: say only that it is not one
            raise AuthError(f"account {self.account_id}: the app's private key is not an RSA private key in PEM format") from None

    def _app_call(self, verb: str, path: str, body: Any = None) -> Any:
        """One request authenticated as the app (a new JWT each time), under the retry policy."""
        if self._gh is None:
            self._gh = Github(auth=_Bearer(self.jwt), base_url=self.base_url, timeout=int(self.timeout), user_agent="gridctl",
                              retry=None, seconds_between_requests=None, seconds_between_writes=None, lazy=True)
        requester = self._gh.requester

        def once() -> Any:
            _, data = requester.requestJsonAndCheck(verb, self.base_url + path, input=body)
            return data

        try:
            return self.policy.call(once)
        except GithubException as exc:
            message = exc.data.get("message") if isinstance(exc.data, dict) else None
            text = f"account {self.account_id}: {verb} {path}: {exc.status} {message or ''}".rstrip()
            if exc.status in (401, 403):
                raise AuthError(text + " (check the app id and its private key)") from None
            raise GitHubError(text, status=exc.status, github_message=str(message or "")) from None
        except requests.exceptions.RequestException as exc:
            raise GitHubError(f"account {self.account_id}: {verb} {path}: connection failed ({exc.__class__.__name__})") from None

    # -- the installation ---------------------------------------------------------------------------
    def connect(self) -> dict[str, Any]:
        """Find the installation and mint the first token; returns the installation."""
        with self._lock:
            if self.installation is None:
                self.installation = self._find()
            if self._current is None:
                self._mint()
        return self.installation

    def _find(self) -> dict[str, Any]:
        target = self.creds.installation
        if isinstance(target, int):
            paths = [f"/app/installations/{target}"]
        elif "/" in target:
            paths = [f"/repos/{target}/installation"]
        else:
            paths = [f"/orgs/{target}/installation", f"/users/{target}/installation"]
        for path in paths:
            try:
                found: dict[str, Any] = self._app_call("GET", path)
                return found
            except GitHubError as exc:
                if exc.status != 404:
                    raise
        raise AuthError(f"account {self.account_id}: app {self.creds.app_id} is not installed on {target}")

    def _mint(self) -> None:
        assert self.installation is not None
        body: dict[str, Any] = {}
        if self.creds.repositories is not None:
            body["repositories"] = list(self.creds.repositories)
        if self.creds.permissions is not None:
            body["permissions"] = dict(self.creds.permissions)
        path = f"/app/installations/{self.installation['id']}/access_tokens"
        # minting twice is harmless (GitHub keeps both tokens valid): retried like an idempotent call
        data = self._app_call("POST", path, body or None)
        self._current = Sensitive(str(data["token"]))
        self._expires = _parse_time(str(data["expires_at"]))
        self._renew_before = min(RENEW_BEFORE, max(self._expires - self.clock(), 0.0) / 4)
        self.permissions = dict(data.get("permissions") or self.installation.get("permissions") or {})
        self.minted += 1
        log.debug("account %s: installation token minted (expires in %ds)", self.account_id, int(self._expires - self.clock()))

    # -- TokenProvider ------------------------------------------------------------------------------
    def token(self) -> Sensitive:
        with self._lock:
            if self.installation is None:
                self.installation = self._find()
            if self._current is None or self._expires - self.clock() < self._renew_before:
                self._mint()
            assert self._current is not None
            return self._current

    def renew(self, refused: Sensitive | None = None) -> bool:
        with self._lock:
            if refused is not None and self._current is not None and refused != self._current:
                return True  # another thread renewed it already
            if self.installation is None:
                return False
            log.debug("account %s: the installation token was refused; minting a new one", self.account_id)
            self._mint()
            return True
