"""Kinds ``actions-permissions`` (a repository's GitHub Actions permissions, ``repos.<r>.actions``)
and ``org-actions-permissions`` (an organization's, ``org_actions.<org account>``).

    repos:
      alice/demo:
        actions:
          enabled: true
          allowed_actions: selected          # all | local_only | selected
          selected: {github_owned: true, verified: false, patterns: ["octo-org/*@v2"]}
          workflow_permissions: read         # the GITHUB_TOKEN's default: read | write
          can_approve_pull_requests: false
    org_actions:
      acme:                                  # an organization account of the manifest
        enabled_repositories: selected       # all | none | selected
        repos: [acme/svc]                    # with selected: the repositories that may use Actions
        allowed_actions: local_only
        workflow_permissions: read

Only the fields the manifest sets are managed (like a repository's settings); each is compared
and planned on its own (``selected.patterns``, ``workflow_permissions``...). ``repos`` (lower-cased,
sorted) is managed when it is listed: ``enabled_repositories: selected`` alone leaves the
organization's list as it is.

GitHub facts used here (REST "GitHub Actions permissions",
https://docs.github.com/en/rest/actions/permissions):

* a repository's settings are ``GET``/``PUT /repos/{o}/{r}/actions/permissions`` (``enabled`` is
  required in the ``PUT``; ``allowed_actions``), ``.../permissions/selected-actions``
  (``github_owned_allowed``, ``verified_allowed``, ``patterns_allowed``; only while
  ``allowed_actions`` is ``selected``) and ``.../permissions/workflow``
  (``default_workflow_permissions``, ``can_approve_pull_request_reviews``). An organization's are
  the same three under ``/orgs/{org}/actions/permissions`` with ``enabled_repositories``
  (required in the ``PUT``) instead of ``enabled``, plus ``.../permissions/repositories`` (``GET``
  lists, ``PUT`` replaces ``selected_repository_ids``; only while ``enabled_repositories`` is
  ``selected``);
* classic tokens need ``repo`` for a repository's settings and ``admin:org`` for an
  organization's (each operation's description); a repository's need admin rights on it, an
  organization's an owner;
* an organization's policy binds its repositories ("You might not be able to manage these
  settings if your organization has an overriding policy", "Managing GitHub Actions settings for a
  repository", https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/enabling-features-for-your-repository/managing-github-actions-settings-for-a-repository);
  GitHub answers 409 when "changing a setting is prevented by the owning organization"
  (https://docs.github.com/en/rest/actions/permissions#set-default-workflow-permissions-for-a-repository).
  A manifest that declares both sides is checked at load time: a repository may not enable Actions
  the organization keeps from it, allow more actions than the organization (``local_only`` <
  ``selected`` < ``all``), give the token ``write`` under an organization's ``read``, or let
  workflows approve pull requests when the organization does not;
* GitHub's defaults — what ``destroy`` puts back, since these settings cannot be deleted: Actions
  enabled with every action allowed ("By default, GitHub Actions is enabled on all repositories
  and organizations", the repository settings page above; organizations: ``enabled_repositories:
  all``), a read-only ``GITHUB_TOKEN`` (the default for new organizations and for new repositories
  of a personal account since 2023-02-02, https://github.blog/changelog/2023-02-02-github-actions-updating-the-default-github_token-permissions-to-read-only/)
  and workflows not allowed to approve pull requests (the repository settings page, "Preventing
  GitHub Actions from creating or approving pull requests"). Deletes run children first, so a
  repository's reset may meet its organization's policy still in force (409): that part is kept
  (the journal says which) and finished by the organization's own reset later in the same run,
  for the organization's declared repositories gridctl stopped managing. A repository whose
  organization stays restrictive keeps it, as the organization decides it.

Reads: two calls per repository (permissions, workflow) and a third when ``allowed_actions`` is
``selected``; an organization adds one when ``enabled_repositories`` is ``selected``. Writes: only
the endpoints whose fields changed; repository names are resolved to ids at apply time (``GET
/repos/{r}``, ETag-cached), so repositories created by the same apply can be selected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import GitHubError
from ..manifest.sections import Section, SectionContext
from ..manifest.yamlpos import PathT
from ..plan import Action, Change
from .base import ApplyResult, Declaring, Item, Kind, Scope, org_scopes
from .repository import repos_with

if TYPE_CHECKING:
    from ..github.client import AccountClient
    from ..manifest.model import Manifest, RepoSpec
    from .base import ApplyContext, PlanEnv, Reader

#: allowed_actions from the most restrictive to the least
ACTIONS_RANK = {"local_only": 0, "selected": 1, "all": 2}
#: the manifest's ``selected`` keys -> GitHub's selected-actions fields
SELECTED_FIELDS = {"github_owned": "github_owned_allowed", "verified": "verified_allowed", "patterns": "patterns_allowed"}
#: what GitHub's selected-actions form starts with (sent for a field the manifest leaves out)
SELECTED_DEFAULTS: dict[str, Any] = {"github_owned_allowed": True, "verified_allowed": False, "patterns_allowed": []}
#: the manifest's workflow fields -> GitHub's
WORKFLOW_FIELDS = {"workflow_permissions": "default_workflow_permissions", "can_approve_pull_requests": "can_approve_pull_request_reviews"}
#: GitHub's defaults (see the module's docstring): what destroy puts back
REPO_DEFAULTS: dict[str, Any] = {"enabled": True, "allowed_actions": "all", "workflow_permissions": "read", "can_approve_pull_requests": False}
ORG_DEFAULTS: dict[str, Any] = {"enabled_repositories": "all", "allowed_actions": "all", "workflow_permissions": "read", "can_approve_pull_requests": False}
_RESET_WHY = (
    "GitHub has no delete for these settings: destroy puts back GitHub's defaults ({}) where the owning "
    "organization's policy allows it"
)

_SELECTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "With allowed_actions: selected — which actions and reusable workflows may run besides the owner's own.",
    "properties": {
        "github_owned": {"type": "boolean", "description": "GitHub-owned actions (the actions organization...)."},
        "verified": {"type": "boolean", "description": "Actions of GitHub Marketplace verified creators."},
        "patterns": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1, "maxLength": 512},
            "description": "owner/name@ref patterns; wildcards, tags and SHAs allowed (e.g. octo-org/*@v2).",
        },
    },
}
_COMMON: dict[str, Any] = {
    "allowed_actions": {"enum": ["all", "local_only", "selected"]},
    "selected": {"$ref": "#/$defs/actionsSelected"},
    "workflow_permissions": {"enum": ["read", "write"], "description": "The GITHUB_TOKEN's default permissions."},
    "can_approve_pull_requests": {"type": "boolean", "description": "Whether workflows may approve pull requests."},
}
REPO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "description": "GitHub Actions permissions of the repository; only the fields set are managed.",
    "properties": {"enabled": {"type": "boolean", "description": "Whether GitHub Actions runs in this repository."}, **_COMMON},
}
ORG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "GitHub Actions permissions of organizations, by organization account id.",
    "propertyNames": {"$ref": "#/$defs/localId"},
    "additionalProperties": {"$ref": "#/$defs/orgActions"},
}
ORG_ACTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "description": "Only the fields set are managed.",
    "properties": {
        "enabled_repositories": {"enum": ["all", "none", "selected"], "description": "Which of the organization's repositories may use GitHub Actions."},
        "repos": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "description": "With enabled_repositories: selected."},
        **_COMMON,
    },
}


@dataclass(frozen=True)
class ActionsSpec:
    """One declaration: the managed attributes (see :func:`_attrs`) and where it is written."""

    attrs: dict[str, Any]
    path: PathT
    account: str = ""  # the organization account (org_actions)


def _attrs(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> dict[str, Any]:
    """The fields both levels share, flattened: ``selected.github_owned`` and so on."""
    out: dict[str, Any] = {}
    for k in ("enabled", "enabled_repositories", "allowed_actions", "workflow_permissions", "can_approve_pull_requests"):
        if k in raw:
            out[k] = raw[k]
    selected = raw.get("selected")
    if selected is not None:
        if raw.get("allowed_actions") != "selected":
            ctx.error(path + ("selected",), "selected needs allowed_actions: selected (GitHub keeps the list only for that policy)", key=True)
        for k, v in selected.items():
            out[f"selected.{k}"] = sorted(set(v)) if k == "patterns" else v
    return out


def parse_repo(ctx: SectionContext, repo: RepoSpec, raw: dict[str, Any], path: PathT) -> ActionsSpec:
    return ActionsSpec(_attrs(ctx, raw, path), path)


def parse_org(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> list[ActionsSpec]:
    """``org_actions.<org account>``; then each declared repository of that organization is
    checked against it (repository sections are parsed first)."""
    out: list[ActionsSpec] = []
    for acc_id, value in raw.items():
        p = path + (acc_id,)
        if not ctx.need_org(acc_id, p):
            continue
        attrs = _attrs(ctx, value, p)
        org = ctx.manifest.accounts[acc_id].login
        if "repos" in value:
            if value.get("enabled_repositories") != "selected":
                ctx.error(p + ("repos",), "repos can only be listed with enabled_repositories: selected", key=True)
            for i, r in enumerate(value["repos"]):
                if r.count("/") != 1 or r.split("/")[0].lower() != org.lower():
                    ctx.error(p + ("repos", i), f"{r!r} is not a repository of {org}")
            attrs["repos"] = sorted({r.lower() for r in value["repos"]})
        out.append(ActionsSpec(attrs, p, acc_id))
        _check_repos(ctx, org, attrs)
    return out


def _check_repos(ctx: SectionContext, org: str, org_attrs: dict[str, Any]) -> None:
    """Errors at each repository of ``org`` whose declared setting the organization's forbids."""
    for spec in ctx.manifest.repos.values():
        decl = spec.sections.get("actions")
        if spec.owner.lower() != org.lower() or not isinstance(decl, ActionsSpec):
            continue
        a = decl.attrs
        where = f"organization {org}'s policy (org_actions)"
        policy = org_attrs.get("enabled_repositories")
        kept_off = policy == "none" or (policy == "selected" and "repos" in org_attrs and spec.full_name.lower() not in org_attrs["repos"])
        if a.get("enabled") is True and kept_off:
            ctx.error(decl.path + ("enabled",), f"{spec.full_name} cannot enable GitHub Actions: {where} does not let it use them", key=True)
        mine, theirs = a.get("allowed_actions"), org_attrs.get("allowed_actions")
        if mine in ACTIONS_RANK and theirs in ACTIONS_RANK and ACTIONS_RANK[mine] > ACTIONS_RANK[theirs]:
            ctx.error(decl.path + ("allowed_actions",), f"allowed_actions: {mine} allows more than {where} ({theirs})", key=True)
        if a.get("workflow_permissions") == "write" and org_attrs.get("workflow_permissions") == "read":
            ctx.error(decl.path + ("workflow_permissions",), f"workflow_permissions: write is prevented by {where} (read)", key=True)
        if a.get("can_approve_pull_requests") is True and org_attrs.get("can_approve_pull_requests") is False:
            ctx.error(decl.path + ("can_approve_pull_requests",), f"can_approve_pull_requests: true is prevented by {where} (false)", key=True)


# -- reading -----------------------------------------------------------------------------------------
def _read(reader: Reader, base: str, what: str, needs: str) -> dict[str, Any]:
    """The settings at ``base`` (``.../actions/permissions``), flattened like the manifest's, or a
    clear error when the token may not read them (``needs`` says what it takes)."""
    try:
        perms = reader.get(base) or {}
        attrs: dict[str, Any] = {k: perms[k] for k in ("enabled", "enabled_repositories", "allowed_actions") if k in perms}
        if perms.get("allowed_actions") == "selected":
            sel = reader.get(base + "/selected-actions") or {}
            for mine, theirs in SELECTED_FIELDS.items():
                value = sel.get(theirs, SELECTED_DEFAULTS[theirs])
                attrs[f"selected.{mine}"] = sorted(set(value)) if mine == "patterns" else bool(value)
        wf = reader.get(base + "/workflow") or {}
        for mine, theirs in WORKFLOW_FIELDS.items():
            if theirs in wf:
                attrs[mine] = wf[theirs]
    except GitHubError as exc:
        if exc.status == 403:
            who = f" ({reader.client.login})" if reader.client.login else ""
            raise GitHubError(
                f"cannot read the GitHub Actions permissions of {what}: the token{who} needs {needs} "
                f"(GitHub answered 403: {exc.github_message or exc})",
                status=403, request_id=exc.request_id, github_message=exc.github_message,
            ) from None
        raise
    return attrs


def _declared(change: Change) -> set[str]:
    """The fields a change writes: those that differ, or every declared one (a create)."""
    if change.action == Action.UPDATE and change.diffs:
        return {d.field for d in change.diffs}
    return set(change.after or {})


def _value(change: Change, field: str, default: Any) -> Any:
    """A field's new value: declared, else what GitHub had (``meta["live"]``), else ``default``."""
    for source in (change.after or {}, change.meta.get("live") or {}):
        if source.get(field) is not None:
            return source[field]
    return default


def _selected_changed(change: Change, fields: set[str]) -> bool:
    """Whether the selected actions are written: one of them changed and the policy (now) is
    ``selected`` — GitHub keeps the list only then."""
    return any(f.startswith("selected.") for f in fields) and _value(change, "allowed_actions", None) == "selected"


def _put_selected(client: AccountClient, base: str, change: Change) -> None:
    body = {theirs: _value(change, f"selected.{mine}", SELECTED_DEFAULTS[theirs]) for mine, theirs in SELECTED_FIELDS.items()}
    client.raw("PUT", base + "/selected-actions", body)


def _put_workflow(client: AccountClient, base: str, change: Change, defaults: dict[str, Any]) -> None:
    body = {theirs: _value(change, mine, defaults[mine]) for mine, theirs in WORKFLOW_FIELDS.items()}
    client.raw("PUT", base + "/workflow", body)


def _reset(client: AccountClient, base: str, before: dict[str, Any], first: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """Put GitHub's defaults back where ``before`` differs; a part the owning organization
    forbids (409) is kept and named in the result."""
    kept: list[str] = []
    parts = (
        ("permissions", base, {first: defaults[first], "allowed_actions": defaults["allowed_actions"]}, (first, "allowed_actions")),
        ("workflow", base + "/workflow", {WORKFLOW_FIELDS[k]: defaults[k] for k in WORKFLOW_FIELDS}, tuple(WORKFLOW_FIELDS)),
    )
    for name, url, body, fields in parts:
        if all(before.get(f, defaults[f]) == defaults[f] for f in fields):
            continue
        try:
            client.raw("PUT", url, body)
        except GitHubError as exc:
            if exc.status != 409:
                raise
            kept.append(name)
    return {"reset": True, "kept_by_organization": kept} if kept else {"reset": True}


def _live_item(key: str, attrs: dict[str, Any]) -> Item:
    return Item(key, attrs=attrs, meta={"live": dict(attrs)})


def declaration(attrs: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """What ``gridctl import`` writes: the fields that differ from GitHub's ``defaults`` (the others
    are left unmanaged), the selected actions whole when they apply, and an organization's
    ``repos`` with ``enabled_repositories: selected``."""
    decl: dict[str, Any] = {k: v for k, v in attrs.items() if k in defaults and v != defaults[k]}
    if attrs.get("allowed_actions") == "selected":
        decl["selected"] = {k: attrs[f"selected.{k}"] for k in SELECTED_FIELDS if f"selected.{k}" in attrs}
    if attrs.get("enabled_repositories") == "selected" and "repos" in attrs:
        decl["repos"] = list(attrs["repos"])
    return dict(sorted(decl.items()))


class _Importable(Kind):
    """``gridctl import`` for both levels: one declaration per repository or organization."""

    importable = True
    defaults: ClassVar[dict[str, Any]] = {}

    def declare(self, items: dict[str, Item], d: Declaring) -> dict[str, Any] | None:
        it = items.get("actions")
        return declaration(it.attrs, self.defaults) if it is not None else None


class ActionsPermissions(_Importable):
    """A repository's: one item per repository, keyed ``actions``."""

    defaults = REPO_DEFAULTS
    name = "actions-permissions"
    order = 66
    sections = (Section("actions", "repo", REPO_SCHEMA, parse_repo, defs={"actionsSelected": _SELECTED_SCHEMA}),)

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(r.account, "repo", f"repos.{r.full_name}.actions") for r in m.repos.values() if "actions" in r.sections]

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.name}"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return repos_with(env, self, lambda spec: "actions" in spec.sections)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        decl = spec.sections.get("actions") if spec is not None else None
        if not isinstance(decl, ActionsSpec):
            return {}
        return {"actions": Item("actions", attrs=dict(decl.attrs), source=env.manifest.positions.source(decl.path))}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        attrs = _read(reader, f"/repos/{scope.name}/actions/permissions", f"repository {scope.name}",
                      "admin rights on the repository (and the repo scope)")
        return {"actions": _live_item("actions", attrs)}

    def delete_reason(self, live: Item, state: dict[str, Any] | None) -> str | None:
        return _RESET_WHY.format("enabled, all actions allowed, read-only token, no pull request approvals")

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        base = f"/repos/{change.scope}/actions/permissions"
        if change.action == Action.DELETE:
            return ApplyResult(None, result=_reset(client, base, change.before or {}, "enabled", REPO_DEFAULTS))
        fields = _declared(change)
        if fields & {"enabled", "allowed_actions"}:
            body: dict[str, Any] = {"enabled": bool(_value(change, "enabled", True))}
            allowed = _value(change, "allowed_actions", None)
            if allowed is not None:
                body["allowed_actions"] = allowed
            client.raw("PUT", base, body)
        if _selected_changed(change, fields):
            _put_selected(client, base, change)
        if fields & set(WORKFLOW_FIELDS):
            _put_workflow(client, base, change, REPO_DEFAULTS)
        return ApplyResult({"kind": self.name, "scope": change.scope, "account": change.account})


class OrgActionsPermissions(_Importable):
    """An organization's: one item per organization account, keyed ``actions``."""

    defaults = ORG_DEFAULTS
    name = "org-actions-permissions"
    # after the repositories it may select (10), before the repositories' own settings (66), which
    # it bounds
    order = 55
    sections = (Section("org_actions", "top", ORG_SCHEMA, parse_org, defs={"orgActions": ORG_ACTIONS_SCHEMA}),)

    def _specs(self, m: Manifest) -> list[ActionsSpec]:
        specs: list[ActionsSpec] = m.sections.get("org_actions", [])
        return specs

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(s.account, "admin:org", f"org_actions.{s.account}") for s in self._specs(m)]

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.name}"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return org_scopes(env, self, {s.account for s in self._specs(env.manifest)})

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        for s in self._specs(env.manifest):
            if s.account == scope.account:
                return {"actions": Item("actions", attrs=dict(s.attrs), source=env.manifest.positions.source(s.path))}
        return {}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        org = scope.get("org")
        base = f"/orgs/{org}/actions/permissions"
        attrs = _read(reader, base, f"organization {org}", "to be an organization owner's, with the admin:org scope")
        if attrs.get("enabled_repositories") == "selected":
            repos = reader.list(base + "/repositories", key="repositories") or []
            attrs["repos"] = sorted(r["full_name"].lower() for r in repos)
        return {"actions": _live_item("actions", attrs)}

    def delete_reason(self, live: Item, state: dict[str, Any] | None) -> str | None:
        return _RESET_WHY.format("every repository may use Actions, all actions allowed, read-only token, no pull request approvals")

    def safety(self, change: Change, own_logins: dict[str, str]) -> list[str]:
        after = change.after or {}
        if change.action != Action.DELETE and after.get("enabled_repositories") == "none" and (change.before or {}).get("enabled_repositories") != "none":
            return [f"{change.address}: turns GitHub Actions off for every repository of the organization"]
        return []

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        org = self.scope_for_change(change).get("org")
        base = f"/orgs/{org}/actions/permissions"
        if change.action == Action.DELETE:
            result = _reset(client, base, change.before or {}, "enabled_repositories", ORG_DEFAULTS)
            finished = self._finish_repo_resets(ctx, client, org, change.before or {})
            if finished:
                result["repos_reset_after"] = finished
            return ApplyResult(None, result=result)
        fields = _declared(change)
        if fields & {"enabled_repositories", "allowed_actions"}:
            body: dict[str, Any] = {"enabled_repositories": _value(change, "enabled_repositories", "all")}
            allowed = _value(change, "allowed_actions", None)
            if allowed is not None:
                body["allowed_actions"] = allowed
            client.raw("PUT", base, body)
        if "repos" in fields and _value(change, "enabled_repositories", "all") == "selected":
            ids = [_repo_id(client, full) for full in (change.after or {}).get("repos") or []]
            client.raw("PUT", base + "/repositories", {"selected_repository_ids": ids})
        if _selected_changed(change, fields):
            _put_selected(client, base, change)
        if fields & set(WORKFLOW_FIELDS):
            _put_workflow(client, base, change, ORG_DEFAULTS)
        return ApplyResult({"kind": self.name, "scope": change.scope, "account": change.account})


    def _finish_repo_resets(self, ctx: ApplyContext, client: AccountClient, org: str, before: dict[str, Any]) -> list[str]:
        """After the organization's reset: the declared repositories of ``org`` whose own reset
        ran earlier (deletes run children first) and whose "enabled, all actions" part the
        organization's policy kept (409) get it now. Only when that policy was restrictive, and
        only for repositories gridctl no longer manages (their reset was planned)."""
        if before.get("enabled_repositories", "all") == "all" and before.get("allowed_actions", "all") == "all":
            return []
        done = []
        for spec in ctx.manifest.repos.values():
            address = f"{ActionsPermissions.name}:{spec.full_name}"
            if spec.owner.lower() != org.lower() or "actions" not in spec.sections or ctx.env.state.get(address) is not None:
                continue
            url = f"/repos/{spec.full_name}/actions/permissions"
            now = client.get(url)
            if now is not None and (now.get("enabled") is not True or now.get("allowed_actions") != "all"):
                client.raw("PUT", url, {"enabled": True, "allowed_actions": "all"})
                done.append(spec.full_name)
        return done


def _repo_id(client: AccountClient, full: str) -> int:
    data = client.get(f"/repos/{full}")
    if data is None:
        raise GitHubError(f"repository {full} (selected to use GitHub Actions) does not exist or is not visible")
    return int(data["id"])


KINDS = [ActionsPermissions(), OrgActionsPermissions()]
