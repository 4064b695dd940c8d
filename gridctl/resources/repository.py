"""Kinds ``repo`` (settings on an allow-list, create, archive/delete) and ``topics``.

Only the settings the manifest sets are managed: a setting left out is never compared or
changed. Destroying a repository archives it unless ``lifecycle.on_destroy: delete``; a
``prevent_destroy`` repository refuses to be destroyed at all.

GitHub answers 404, not 403, for a private repository the caller may not see (GitHub Docs,
"Troubleshooting the REST API", https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api).
So a declared repository that reads 404 is planned as a create, but when the token cannot be
shown to see every repository it manages — a classic token without the ``repo`` scope (private
repositories need it: "Scopes for OAuth apps",
https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps), or a
token that reports no scopes at all (fine-grained tokens and GitHub Apps send no
``X-OAuth-Scopes`` header, and which repositories they were given cannot be read) — the plan
carries a warning at the repository's line saying the repository may exist unseen. Creating an
existing repository fails (422, "name already exists on this account") and the apply says why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, GitHubError
from ..manifest.model import Manifest, RepoSpec
from ..plan import Action, Change, Plan
from .base import ApplyResult, Item, Kind, Scope

if TYPE_CHECKING:
    from .base import ApplyContext, PlanEnv, Reader

#: settings sent in the create request, for a user / for an organization (the body fields of
#: https://docs.github.com/en/rest/repos/repos#create-a-repository-for-the-authenticated-user and
#: https://docs.github.com/en/rest/repos/repos#create-an-organization-repository); the rest is
#: set by an update right after
_CREATE_USER = {"description", "homepage", "has_issues", "has_wiki", "has_projects", "has_discussions", "allow_squash_merge", "allow_merge_commit", "allow_rebase_merge", "delete_branch_on_merge"}
_CREATE_ORG = {"description", "homepage", "visibility", "has_issues", "has_wiki", "has_projects", "allow_squash_merge", "allow_merge_commit", "allow_rebase_merge", "delete_branch_on_merge", "allow_update_branch", "is_template", "allow_auto_merge"}


def _norm(key: str, value: Any) -> Any:
    if key in ("description", "homepage") and value == "":
        return None
    return value


def unseen_reason(owner: str, token_login: str | None, scopes: set[str] | None) -> str | None:
    """Why a 404 for a repository of ``owner`` may hide an existing one from this token, or
    None when the token is known to see it (or was not checked: ``token_login`` None)."""
    if token_login is None:
        return None
    whose = "its own user's" if owner.lower() == token_login.lower() else f"{owner}'s"
    if scopes is None:
        return (f"the token reports no scopes — a fine-grained token or an app's — so whether it was given {whose} "
                "private repositories cannot be read")
    if "repo" not in scopes:
        return f"the token has no `repo` scope, and {whose} private repositories answer 404 without it"
    return None


def repo_scopes(env: PlanEnv, kind: str) -> list[Scope]:
    """One scope per declared repository (its managing account)."""
    return [Scope(kind, r.account, r.full_name, r.full_name) for r in env.manifest.repos.values()]


def repos_with(env: PlanEnv, kind: Kind, declares: Callable[[RepoSpec], object]) -> list[Scope]:
    """The repositories where ``kind`` has work: those that declare items of it, prune them or
    hold managed ones in state — reading the others would cost calls for nothing."""
    managed = {str(e.get("scope", "")).lower() for e in env.state.of_kind(kind.name).values()}
    out = []
    for s in repo_scopes(env, kind.name):
        spec = env.manifest.repo(s.name)
        if spec is not None and (declares(spec) or kind.prune(env, s) or s.name.lower() in managed):
            out.append(s)
    return out


class Repository(Kind):
    name = "repo"
    order = 10
    restorable = False
    container = True

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [
            (r.account, "repo" if r.settings.get("visibility", "public") != "public" else "public_repo", f"repos.{r.full_name}")
            for r in m.repos.values()
        ]

    def address(self, scope: Scope, key: str) -> str:
        return f"repo:{key}"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        out = repo_scopes(env, self.name)
        declared = {s.name.lower() for s in out}
        for entry in env.state.of_kind(self.name).values():
            if entry["scope"].lower() not in declared and entry.get("account") in env.clients:
                out.append(Scope(self.name, entry["account"], entry["scope"], entry["scope"]))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        if spec is None:
            return {}
        owner_acc = env.manifest.account_for_owner(spec.owner)
        acc = env.manifest.accounts[spec.account]
        owner_is_org = owner_acc.is_org if owner_acc else spec.owner.lower() != acc.login.lower()
        attrs = {k: _norm(k, v) for k, v in spec.settings.items()}
        # a declared repository is active unless it says archived: true (an archive-destroy
        # followed by a new apply must unarchive before anything is written into it)
        attrs.setdefault("archived", False)
        return {
            spec.full_name: Item(
                spec.full_name,
                attrs=attrs,
                meta={
                    "owner": spec.owner,
                    "name": spec.name,
                    "owner_is_org": owner_is_org,
                    "auto_init": spec.auto_init,
                    "prevent_destroy": spec.prevent_destroy,
                    "on_destroy": spec.on_destroy,
                },
                source=env.manifest.positions.source(spec.path),
            )
        }

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        data = reader.repo(scope.name)
        if data is None:
            return {}
        attrs = {k: _norm(k, data.get(k)) for k in _managed_fields(reader, data)}
        meta: dict[str, Any] = {"id": data["id"], "owner": data["owner"]["login"], "name": data["name"]}
        return {scope.name: Item(scope.name, attrs=attrs, meta=meta)}

    def plan_checks(self, env: PlanEnv, plan: Plan) -> list[Diagnostic]:
        """A warning for each planned create that may be an existing repository this token
        cannot see (see the module's docstring)."""
        out = []
        for c in plan.changes:
            if c.kind != self.name or c.action != Action.CREATE:
                continue
            spec, client = env.manifest.repo(c.scope), env.clients.get(c.account)
            if spec is None or client is None:
                continue
            reason = unseen_reason(spec.owner, client.login, client.scopes)
            if reason is not None:
                out.append(env.manifest.positions.diag(
                    spec.path,
                    f"GitHub answered 404 for {spec.full_name}: it does not exist, or this token cannot see it ({reason})",
                    "the plan creates it; if it exists, that create fails — give the token access to it, or check the name",
                    key=True, severity="warning",
                ))
        return out

    def safety(self, change: Change, own_logins: dict[str, str]) -> list[str]:
        c = change
        if c.action == Action.UPDATE and c.after and c.after.get("visibility") == "public" and (c.before or {}).get("visibility") != "public":
            return [f"{c.address}: makes a private repository public"]
        if c.action == Action.DELETE and (c.meta.get("hard_delete") or c.meta.get("on_destroy") == "delete"):
            return [f"{c.address}: deletes the repository and everything in it (cannot be undone)"]
        return []

    def contains(self, change: Change, address: str, entry: dict[str, Any]) -> bool:
        return _child_of(address, entry, change.meta.get("key") or change.scope)

    def delete_meta(self, env: PlanEnv, scope: Scope, state: dict[str, Any] | None) -> dict[str, Any]:
        spec = env.manifest.repo(scope.name)
        if spec is not None:  # destroy of a declared repository: its lifecycle is in the manifest
            return {"prevent_destroy": spec.prevent_destroy, "on_destroy": spec.on_destroy}
        st = state or {}
        return {"prevent_destroy": bool(st.get("prevent_destroy")), "on_destroy": st.get("on_destroy", "archive")}

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        return {**super().state_entry(scope, live), **{k: v for k, v in live.meta.items() if k in ("prevent_destroy", "on_destroy")}}

    # -- apply ------------------------------------------------------------------------------------
    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        full = change.scope
        owner, name = full.split("/")
        meta = change.meta
        if change.action == Action.CREATE:
            settings = dict(change.after or {})
            org = bool(meta.get("owner_is_org"))
            allowed = _CREATE_ORG if org else _CREATE_USER
            kwargs: dict[str, Any] = {k: v for k, v in settings.items() if k in allowed and v is not None}
            vis = settings.get("visibility")
            if vis is not None and not org:
                kwargs["private"] = vis != "public"
            if meta.get("auto_init"):
                kwargs["auto_init"] = True

            try:
                created = client.raw(
                    "POST",
                    f"/orgs/{owner}/repos" if org else "/user/repos",
                    {"name": name, **kwargs},
                    idempotent=False,
                    verify=lambda: client.get(f"/repos/{full}"),
                )
            except GitHubError as exc:
                if exc.status == 422 and "already exists" in str(exc):
                    reason = unseen_reason(owner, client.login, client.scopes)
                    raise GitHubError(
                        f"create repository {full}: it already exists, but this token read it as missing (404): the token cannot see it"
                        + (f" ({reason})" if reason else ""),
                        status=exc.status, request_id=exc.request_id, github_message=exc.github_message,
                    ) from None
                raise
            passed = set(kwargs) | (set() if org else {"visibility"})
            if settings.get("archived") is False:
                passed.add("archived")  # a new repository is not archived: no PATCH to say so
            rest = {k: v for k, v in settings.items() if k not in passed}
            if rest:
                _update(client, full, name, rest)
            # the creating POST answers with the repository (as does verify's GET after a lost
            # answer); read it again only where that answer had no id
            repo_id = created.get("id") if isinstance(created, dict) else None
            if repo_id is None:
                repo_id = client.get(f"/repos/{full}", missing_ok=False)["id"]
            entry = self._entry(change, repo_id, meta)
            return ApplyResult(entry, result={"id": repo_id})
        if change.action == Action.UPDATE:
            fields = {d.field: d.after for d in change.diffs} if change.diffs else dict(change.after or {})
            _update(client, full, name, fields)
            return ApplyResult(self._entry(change, meta.get("id"), meta), result={"id": meta.get("id")})
        if change.action == Action.DELETE:
            forget = {a: None for a in ctx.env.state.resources if _child_of(a, ctx.env.state.resources[a], full)}
            if meta.get("hard_delete") or meta.get("on_destroy") == "delete":
                # https://docs.github.com/en/rest/repos/repos#delete-a-repository
                client.raw("DELETE", f"/repos/{full}")
                return ApplyResult(None, more_state=forget, result={"deleted": True})
            if not (change.before or {}).get("archived"):
                _update(client, full, name, {"archived": True})
            return ApplyResult(None, more_state=forget, result={"archived": True})
        raise NotImplementedError(change.action)

    def _entry(self, change: Change, repo_id: Any, meta: dict[str, Any]) -> dict[str, Any]:
        return {
            "kind": self.name,
            "scope": change.scope,
            "account": change.account,
            "id": repo_id,
            "prevent_destroy": bool(meta.get("prevent_destroy")),
            "on_destroy": meta.get("on_destroy", "archive"),
        }

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        from .base import _flip

        if change.action == Action.CREATE:
            inv = _flip(change, Action.DELETE, before=change.after, after=None, meta={**change.meta, "hard_delete": True, "id": result.result.get("id")})
            return inv
        if change.action == Action.UPDATE:
            return _flip(change, Action.UPDATE, before=change.after, after=change.before, meta=dict(change.meta))
        if change.action == Action.DELETE and result.result.get("archived"):
            before = dict(change.before or {})
            return _flip(change, Action.UPDATE, before={**before, "archived": True}, after={**before, "archived": False}, meta=dict(change.meta))
        return None


def _update(client: Any, full: str, name: str, fields: dict[str, Any]) -> None:
    """PATCH the repository's settings (its ``name`` unchanged, as the request always carries it):
    https://docs.github.com/en/rest/repos/repos#update-a-repository"""
    client.raw("PATCH", f"/repos/{full}", {"name": name, **fields})


def _managed_fields(reader: Reader, data: dict) -> list[str]:
    from ..manifest.model import REPO_SETTINGS

    return [k for k in REPO_SETTINGS if k in data]


def _child_of(address: str, entry: dict[str, Any], full: str) -> bool:
    scope = str(entry.get("scope", ""))
    return entry.get("kind") != "repo" and (scope == full or scope.startswith(full + " "))


class Topics(Kind):
    name = "topics"
    order = 15

    def address(self, scope: Scope, key: str) -> str:
        return f"topics:{scope.name}"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return [s for s in repo_scopes(env, self.name) if env.manifest.repo(s.name).topics is not None]  # type: ignore[union-attr]

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        assert spec is not None and spec.topics is not None
        return {"topics": Item("topics", attrs={"topics": sorted(spec.topics)})}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        data = reader.repo(scope.name)
        if data is None:
            return {}
        return {"topics": Item("topics", attrs={"topics": sorted(data.get("topics") or [])})}

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        topics = (change.after or {}).get("topics", []) if change.action != Action.DELETE else []
        # every topic at once: https://docs.github.com/en/rest/repos/repos#replace-all-repository-topics
        client.raw("PUT", f"/repos/{change.scope}/topics", {"names": list(topics)})
        if change.action == Action.DELETE:
            return ApplyResult(None)
        return ApplyResult({"kind": self.name, "scope": change.scope, "account": change.account})
KINDS = [Repository(), Topics()]
