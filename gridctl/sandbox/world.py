"""The sandbox's domain model: users, organizations, tokens, repositories and who may do what.

Records are plain JSON-able dicts kept in the :class:`~gridctl.sandbox.store.Store`; this module
owns their creation, the indexes that find them, the permission rules, the sealed-box key pairs
and the clock. API area modules own the sub-records they add to a repository
(``repo["secrets"]``, ``repo["deploy_keys"]``...) and save the repository after changing them.
"""

from __future__ import annotations

import base64
import hashlib
import secrets as _secrets
import time
from contextvars import ContextVar
from typing import Any, TypeVar

from nacl.public import PrivateKey, SealedBox

from .errors import ROLE_ORDER, ApiError
from .store import Store

T = TypeVar("T")

#: the installation an installation token acts through, for the request being handled (its view
#: narrowed by the token, with ``bot`` the app's bot login); set by the pipeline (see api/apps.py)
ACTING: ContextVar[dict | None] = ContextVar("gridctl_sandbox_acting_installation", default=None)

#: scopes a token gets from ``gridctl sandbox user add`` unless told otherwise
DEFAULT_SCOPES = ("repo", "workflow", "admin:org", "codespace", "delete_repo", "user")

#: collaborator PUT vocabulary -> role names (GitHub's collaborator endpoints take pull/push but report read/write)
PERMISSION_TO_ROLE = {
    "pull": "read",
    "read": "read",
    "triage": "triage",
    "push": "write",
    "write": "write",
    "maintain": "maintain",
    "admin": "admin",
}

REPO_DEFAULTS: dict[str, Any] = {
    "description": None,
    "homepage": None,
    "has_issues": True,
    "has_projects": True,
    "has_wiki": True,
    "has_discussions": False,
    "has_downloads": True,
    "is_template": False,
    "allow_squash_merge": True,
    "allow_merge_commit": True,
    "allow_rebase_merge": True,
    "allow_auto_merge": False,
    "delete_branch_on_merge": False,
    "allow_update_branch": False,
    "use_squash_pr_title_as_default": False,
    "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
    "squash_merge_commit_message": "COMMIT_MESSAGES",
    "merge_commit_title": "MERGE_MESSAGE",
    "merge_commit_message": "PR_TITLE",
    "allow_forking": True,
    "web_commit_signoff_required": False,
    "archived": False,
    "disabled": False,
}


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def node_id(kind: str, ident: int | str) -> str:
    raw = f"0:{kind}{ident}".encode()
    return base64.b64encode(raw).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh sandbox token. Not GitHub's ``ghp_`` format on purpose: it can never be mistaken
    for (or leak as) a real credential."""
    return "gridsbx_" + _secrets.token_hex(20)


class World:
    def __init__(self, store: Store):
        self.store = store
        self.clock_offset = 0.0
        #: the app's RateLimiter and config, for the few routes that report on them
        self.limiter: Any = None
        self.config: Any = None
        #: in-memory state of the background services (job broker, webhook deliveries), by area
        self.services: dict[str, Any] = {}
        self._repo_index: dict[str, str] = {}
        self.reindex()

    # -- clock -----------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset

    def now_iso(self) -> str:
        return iso(self.now())

    # -- persistence -----------------------------------------------------------------------
    def save(self, table: str, key: str | int, record: T) -> T:
        return self.store.put(table, key, record)

    def next_id(self, sequence: str, start: int = 1) -> int:
        return self.store.next_id(sequence, start)

    def reindex(self) -> None:
        self._repo_index = {
            f"{r['owner'].lower()}/{r['name'].lower()}": str(r["id"]) for r in self.store.values("repos")
        }

    # -- users, organizations, tokens ------------------------------------------------------
    def find_user(self, login: str | None) -> dict | None:
        if not login:
            return None
        return self.store.get("users", login.lower())

    def user_by_id(self, ident: int) -> dict | None:
        for u in self.store.values("users"):
            if u["id"] == ident:
                return u
        return None

    def create_user(self, login: str, *, org: bool = False, name: str | None = None, email: str | None = None) -> dict:
        if self.find_user(login):
            raise ApiError(422, f"{login} already exists")
        now = self.now_iso()
        rec: dict[str, Any] = {
            "id": self.next_id("users", 1000),
            "login": login,
            "type": "Organization" if org else "User",
            "name": name,
            "email": email,
            "created_at": now,
            "updated_at": now,
        }
        if org:
            rec["members"] = {}
            rec["default_repository_permission"] = "read"
            rec["description"] = None
        return self.save("users", login.lower(), rec)

    def set_membership(self, org: dict, login: str, role: str | None) -> None:
        """Make ``login`` a member (``member``/``admin``) of ``org``, or remove with ``None``."""
        if role is None:
            org["members"].pop(login.lower(), None)
        else:
            org["members"][login.lower()] = role
        self.save("users", org["login"].lower(), org)

    def org_role(self, org: dict, login: str | None) -> str | None:
        if not login or org.get("type") != "Organization":
            return None
        acting = ACTING.get()
        if acting is not None and login.lower() == acting["bot"].lower():
            # an installation token: an owner of the organization it is installed on, else nothing
            return "admin" if org["login"].lower() == acting["account"].lower() else None
        role: str | None = org.get("members", {}).get(login.lower())
        return role

    def orgs_of(self, login: str) -> list[dict]:
        low = login.lower()
        return [u for u in self.store.values("users") if u["type"] == "Organization" and low in u.get("members", {})]

    def issue_token(self, login: str, scopes: list[str] | tuple[str, ...] = DEFAULT_SCOPES, token: str | None = None) -> str:
        user = self.find_user(login)
        if user is None or user["type"] != "User":
            raise ApiError(422, f"{login} is not a sandbox user")
        token = token or new_token()
        self.save(
            "tokens",
            token_hash(token),
            {"login": user["login"], "scopes": sorted(set(scopes)), "created_at": self.now_iso()},
        )
        return token

    def token_info(self, token: str) -> dict | None:
        return self.store.get("tokens", token_hash(token))

    # -- repositories ------------------------------------------------------------------------
    def find_repo(self, owner: str, name: str) -> dict | None:
        key = self._repo_index.get(f"{owner.lower()}/{name.lower()}")
        return self.store.get("repos", key) if key else None

    def repo_by_id(self, ident: int | str) -> dict | None:
        return self.store.get("repos", str(ident))

    def repos_of(self, owner: str) -> list[dict]:
        low = owner.lower()
        return sorted((r for r in self.store.values("repos") if r["owner"].lower() == low), key=lambda r: r["id"])

    def create_repo(self, owner: dict, name: str, settings: dict[str, Any]) -> dict:
        if self.find_repo(owner["login"], name):
            raise ApiError(
                422,
                "Repository creation failed.",
                errors=[{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}],
            )
        now = self.now_iso()
        private = bool(settings.pop("private", False))
        visibility = settings.pop("visibility", None) or ("private" if private else "public")
        rec: dict[str, Any] = {
            "id": self.next_id("repos", 100000),
            "owner": owner["login"],
            "name": name,
            "visibility": visibility,
            "private": visibility != "public",
            "created_at": now,
            "updated_at": now,
            "pushed_at": now,
            "default_branch": "main",
            "topics": [],
            "collaborators": {},
            "refs": {},
        }
        rec.update(REPO_DEFAULTS)
        rec.update({k: v for k, v in settings.items() if k in REPO_DEFAULTS})
        self._repo_index[f"{owner['login'].lower()}/{name.lower()}"] = str(rec["id"])
        acting = ACTING.get()
        if acting is not None and acting["repository_selection"] == "selected":
            # a repository an app creates joins its installation's selection (and the token's)
            acting["repository_ids"].append(rec["id"])
            inst = self.store.get("installations", acting["id"])
            if inst is not None and inst["repository_selection"] == "selected":
                inst["repository_ids"].append(rec["id"])
                self.save("installations", inst["id"], inst)
        return self.save("repos", rec["id"], rec)

    def rename_repo(self, repo: dict, new_name: str) -> None:
        self._repo_index.pop(f"{repo['owner'].lower()}/{repo['name'].lower()}", None)
        repo["name"] = new_name
        self._repo_index[f"{repo['owner'].lower()}/{new_name.lower()}"] = str(repo["id"])

    def delete_repo(self, repo: dict) -> None:
        self._repo_index.pop(f"{repo['owner'].lower()}/{repo['name'].lower()}", None)
        self.store.delete("repos", repo["id"])
        for table in ("invitations", "runners", "runs", "jobs", "hooks", "hook_deliveries", "issues", "comments"):
            for rec in self.store.values(table):
                if rec.get("repo_id") == repo["id"]:
                    self.store.delete(table, rec["id"])
        prefix = f"{repo['id']}:"
        for key in [k for k in self.store.table("git") if k.startswith(prefix)]:
            self.store.delete("git", key)

    def touch(self, repo: dict) -> None:
        repo["updated_at"] = self.now_iso()
        self.save("repos", repo["id"], repo)

    # -- permissions -------------------------------------------------------------------------
    def role(self, login: str | None, repo: dict, scopes: frozenset[str] | set[str] = frozenset(DEFAULT_SCOPES)) -> str | None:
        """The caller's role on ``repo`` (read < triage < write < maintain < admin) or None.

        Classic-PAT rule: a private repository needs the ``repo`` scope, whatever the role.
        An invitation gives nothing until it is accepted.
        """
        public = not repo["private"]
        if login is None:
            return "read" if public else None
        acting = ACTING.get()
        if acting is not None and login.lower() == acting["bot"].lower():
            # an installation token: owner rights on the installation's repositories only
            if repo["owner"].lower() == acting["account"].lower() and (
                acting["repository_selection"] == "all" or repo["id"] in acting["repository_ids"]
            ):
                return "admin"
            return "read" if public else None
        if repo["private"] and "repo" not in scopes:
            return None
        best: str | None = "read" if public else None

        def up(role: str | None) -> None:
            nonlocal best
            if role and (best is None or ROLE_ORDER.index(role) > ROLE_ORDER.index(best)):
                best = role

        low = login.lower()
        if repo["owner"].lower() == low:
            return "admin"
        owner = self.find_user(repo["owner"])
        if owner and owner["type"] == "Organization":
            member = owner.get("members", {}).get(low)
            if member == "admin":
                return "admin"
            if member:
                base = owner.get("default_repository_permission", "read")
                up(None if base == "none" else base)
                for granted in self.team_grants(low, repo.get("teams") or {}):
                    up(granted)
        up(repo.get("collaborators", {}).get(low))
        if not public and "repo" not in scopes:
            return None
        if public and best != "read" and not (scopes & {"repo", "public_repo"}):
            return "read"
        return best

    def team_grants(self, low: str, grants: dict[str, str]) -> list[str]:
        """The roles ``grants`` (a repository's ``{team_id: role}``) give ``low``: through each
        team it belongs to and that team's parents (child teams inherit their parent's access)."""
        if not grants:
            return []
        out = []
        for team in self.store.values("teams"):
            if low not in team.get("members", {}):
                continue
            cur: dict | None = team
            for _ in range(32):  # teams nest a few levels deep at most
                if cur is None:
                    break
                if str(cur["id"]) in grants:
                    out.append(grants[str(cur["id"])])
                cur = self.store.get("teams", str(cur["parent_id"])) if cur.get("parent_id") else None
        return out

    def permissions_object(self, role: str | None) -> dict[str, bool]:
        idx = ROLE_ORDER.index(role) if role else -1
        return {
            "admin": idx >= 4,
            "maintain": idx >= 3,
            "push": idx >= 2,
            "triage": idx >= 1,
            "pull": idx >= 0,
        }

    # -- sealed-box keys ---------------------------------------------------------------------
    def keypair(self, scope: str) -> dict:
        """The X25519 key pair of one secret scope (``repo:ID:actions``, ``org:acme:dependabot``,
        ``env:ID:prod``, ``user:alice:codespaces``), created on first use and kept across restarts."""
        rec = self.store.get("keys", scope)
        if rec is None:
            priv = PrivateKey.generate()
            pub = base64.b64encode(bytes(priv.public_key)).decode()
            key_id = str(int.from_bytes(hashlib.sha256(pub.encode()).digest()[:8], "big") % 10**18)
            rec = self.save(
                "keys",
                scope,
                {"key_id": key_id, "key": pub, "private": base64.b64encode(bytes(priv)).decode()},
            )
        return rec

    def public_key(self, scope: str) -> dict[str, str]:
        rec = self.keypair(scope)
        return {"key_id": rec["key_id"], "key": rec["key"]}

    def decrypt(self, scope: str, key_id: str | None, encrypted_value: str) -> bytes:
        """Open a sealed box sent for ``scope``; a wrong key id or a box that does not open is a 422."""
        rec = self.keypair(scope)
        if key_id is not None and str(key_id) != rec["key_id"]:
            raise ApiError(422, "Bad request: key_id does not match the current public key.")
        try:
            box = SealedBox(PrivateKey(base64.b64decode(rec["private"])))
            return box.decrypt(base64.b64decode(encrypted_value))
        except Exception:
            raise ApiError(422, "Bad request: encrypted_value could not be decrypted with the public key.") from None
