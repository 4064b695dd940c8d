"""Kinds ``variable``, ``env-variable`` and ``org-variable``: GitHub Actions configuration
variables of a repository (``repos.<r>.variables``), of one of its deployment environments
(``repos.<r>.environments.<e>.variables``) and of an organization (``org_variables.<org
account>``). One implementation (:class:`Variables`); the three kinds say only where their
variables live and what a level adds.

GitHub's variable endpoints are the same at every level, under the level's ``.../variables``:
``GET`` lists them (at most 30 a page), ``POST`` creates, ``PATCH .../{name}`` updates,
``DELETE .../{name}`` deletes (REST reference "Actions variables",
https://docs.github.com/en/rest/actions/variables). Names are case-insensitive and GitHub returns
them upper-case. Variables are not secret: values are compared and shown. GitHub's limits: "up
to 1,000 organization variables, 500 variables per repository, and 100 variables per
environment" (https://docs.github.com/en/actions/reference/workflows-and-actions/variables#limits-for-configuration-variables).

* ``variable``: one scope per repository with declared, pruned or managed variables.
* ``env-variable``: one scope per (repository, environment): ``"<owner>/<repo> env <name>"``, so
  a repository's destruction forgets them with it. It reads one list per environment, and nothing
  at all for an environment that does not exist yet.
* ``org-variable``: one scope per organization account; managed fields ``value``, ``visibility``
  (all | private | selected) and, for ``selected``, ``repos`` (lower-case ``owner/name``,
  sorted). Reads: one list call per organization plus, for each variable whose visibility is
  ``selected``, one call for its repositories (GitHub has no bulk form). A write carries
  ``visibility`` and, for ``selected``, ``selected_repository_ids``: repository names are
  resolved to ids at apply time (``GET /repos/{r}``, ETag-cached), so repositories created in the
  same run work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from ..errors import GitHubError
from ..manifest.model import OrgVariableSpec
from ..manifest.sections import Section, SectionContext, scalar
from ..manifest.yamlpos import PathT
from ..plan import Action, Change
from .base import ApplyResult, Item, Kind, Scope
from .environment import ENV_SEP, env_scope_name, find_live_environment
from .repository import repos_with

if TYPE_CHECKING:
    from ..github.client import AccountClient
    from ..manifest.model import EnvironmentSpec, Manifest, RepoSpec
    from .base import ApplyContext, PlanEnv, Reader


def list_variables(reader: Reader, base: str) -> list[dict[str, Any]]:
    """The variables at ``base`` (GitHub lists at most 30 variables a page)."""
    return reader.list(base, key="variables", per_page=30) or []


def write_variable(client: AccountClient, base: str, change: Change, where: str, extra: dict[str, Any] | None = None) -> None:
    """Create, update or delete one variable under ``base``; ``extra`` adds a level's fields (an
    organization's visibility)."""
    name = change.meta["key"]
    url = f"{base}/{quote(name, safe='')}"
    if change.action == Action.DELETE:
        client.delete(url, f"delete variable {name} in {where}")
        return
    body = {"name": name, "value": str((change.after or {})["value"]), **(extra or {})}
    if change.action == Action.CREATE:
        client.raw("POST", base, body, verify=lambda: client.get(url))
    else:
        client.raw("PATCH", url, body)


def _values(variables: dict[str, Any]) -> dict[str, Item]:
    """Declared ``NAME: value`` pairs as items."""
    return {name: Item(name, attrs={"value": value}) for name, value in variables.items()}


class Variables(Kind):
    """What every level shares: the list read into items, one variable written per change; a
    repository's and an environment's are pruned with ``prune: {variables: true}``."""

    prune_key: ClassVar[str | None] = "variables"

    def location(self, change: Change) -> tuple[str, str]:
        """The level's ``.../variables`` URL for ``change`` and how a message names the level."""
        raise NotImplementedError

    def read(self, reader: Reader, base: str, meta: Callable[[dict], dict[str, Any]]) -> dict[str, Item]:
        """The variables at ``base`` by upper-case name (attributes from :meth:`attrs`)."""
        out: dict[str, Item] = {}
        for v in list_variables(reader, base):
            name = v["name"].upper()
            out[name] = Item(name, attrs=self.attrs(reader, base, v), meta=meta(v))
        return out

    def attrs(self, reader: Reader, base: str, v: dict[str, Any]) -> dict[str, Any]:
        """The managed attributes of the live variable ``v``."""
        return {"value": v["value"]}

    def fields(self, client: AccountClient, after: dict[str, Any]) -> dict[str, Any]:
        """The level's own fields of a create or update."""
        return {}

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        base, where = self.location(change)
        extra = self.fields(client, change.after or {}) if change.action != Action.DELETE else None
        write_variable(client, base, change, where, extra)
        entry = {"kind": self.name, "scope": change.scope, "account": change.account}
        return ApplyResult(None if change.action == Action.DELETE else entry)


# -- repository variables ---------------------------------------------------------------------------
class RepoVariable(Variables):
    name = "variable"

    def app_permissions(self, m: Manifest) -> list[tuple[str, str, str, str]]:
        return [(r.account, "actions_variables", "write", f"repos.{r.full_name}.variables") for r in m.repos.values() if r.variables]
    max_per_scope = 500
    order = 60

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return repos_with(env, self, lambda spec: spec.variables)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        assert spec is not None
        return _values(spec.variables)

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        return self.read(reader, f"/repos/{scope.name}/actions/variables", lambda v: {"updated_at": v.get("updated_at")})

    def location(self, change: Change) -> tuple[str, str]:
        return f"/repos/{change.scope}/actions/variables", change.scope


# -- environment variables --------------------------------------------------------------------------
class EnvVariable(Variables):
    name = "env-variable"

    def app_permissions(self, m: Manifest) -> list[tuple[str, str, str, str]]:
        return [(r.account, "environments", "write", f"repos.{r.full_name}.environments.{e.name}.variables")
                for r in m.repos.values() for e in r.environments.values() if e.variables]
    max_per_scope = 100
    order = 65

    def scopes(self, env: PlanEnv) -> list[Scope]:
        out: list[Scope] = []
        seen: set[str] = set()
        for spec in env.manifest.repos.values():
            for env_name in spec.environments:
                sname = env_scope_name(spec.full_name, env_name)
                seen.add(sname.lower())
                out.append(Scope(self.name, spec.account, sname, spec.full_name, (("environment", env_name),)))
        # managed variables of an environment no longer declared (its repository still is)
        for entry in env.state.of_kind(self.name).values():
            if str(entry.get("scope", "")).lower() in seen:
                continue
            sname = str(entry["scope"])
            repo_name, _, env_name = sname.partition(ENV_SEP)
            repo_spec = env.manifest.repo(repo_name)
            if repo_spec is None or not env_name or entry.get("account") not in env.clients:
                continue
            seen.add(sname.lower())
            out.append(Scope(self.name, entry["account"], sname, repo_spec.full_name, (("environment", env_name),)))
        return out

    def _spec(self, env: PlanEnv, scope: Scope) -> tuple[RepoSpec | None, EnvironmentSpec | None]:
        spec = env.manifest.repo(scope.repo or "")
        if spec is None:
            return None, None
        return spec, spec.environments.get(scope.get("environment"))

    def prune(self, env: PlanEnv, scope: Scope) -> bool:
        # exhaustive only for a declared environment
        return super().prune(env, scope) and self._spec(env, scope)[1] is not None

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        _, e = self._spec(env, scope)
        return {} if e is None else _values(e.variables)

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        assert scope.repo is not None
        e = find_live_environment(reader, scope.repo, scope.get("environment"))
        if e is None:
            return {}
        base = f"/repos/{scope.repo}/environments/{quote(e['name'], safe='')}/variables"
        return self.read(reader, base, lambda v: {"github_env": e["name"]})

    def location(self, change: Change) -> tuple[str, str]:
        scope = self.scope_for_change(change)
        full = scope.repo or change.scope.partition(ENV_SEP)[0]
        env_name = change.meta.get("github_env") or scope.get("environment")
        return f"/repos/{full}/environments/{quote(env_name, safe='')}/variables", f"{full} environment {env_name}"


# -- organization variables -------------------------------------------------------------------------
ORG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Organization Actions variables, by organization account id.",
    "propertyNames": {"$ref": "#/$defs/localId"},
    "additionalProperties": {
        "type": "object",
        "propertyNames": {"$ref": "#/$defs/secretName"},
        "additionalProperties": {"$ref": "#/$defs/orgVariable"},
    },
}
ORG_VARIABLE_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"$ref": "#/$defs/variableValue"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["value"],
            "properties": {
                "value": {"$ref": "#/$defs/variableValue"},
                "visibility": {"enum": ["all", "private", "selected"]},
                "repos": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            },
        },
    ]
}


def parse_org(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> list[OrgVariableSpec]:
    """``org_variables.<org account>.<NAME>``: a value, or ``{value, visibility, repos}``."""
    out: list[OrgVariableSpec] = []
    for acc_id, name, v, vp in ctx.per_org(raw, path):
        if name.upper().startswith("GITHUB_"):
            ctx.error(vp, f"variable {name}: names starting with GITHUB_ are reserved by GitHub", key=True)
        if isinstance(v, dict):
            vis, repos = ctx.visibility(v, vp, acc_id)
            value = v["value"]
        else:
            vis, repos, value = "all", [], v
        out.append(OrgVariableSpec(acc_id, name.upper(), scalar(value), vis, repos, vp))
    return out


class OrgVariable(Variables):
    name = "org-variable"
    app_scope_permissions: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "admin:org": (("organization_actions_variables", "write"),)}
    max_per_scope = 1000
    order = 91
    prune_key = None
    sections = (Section("org_variables", "top", ORG_SCHEMA, parse_org, defs={"orgVariable": ORG_VARIABLE_SCHEMA}),)

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(v.account, "admin:org", f"org_variables.{v.account}") for v in m.org_variables]

    def scopes(self, env: PlanEnv) -> list[Scope]:
        accounts = {v.account for v in env.manifest.org_variables}
        for entry in env.state.of_kind(self.name).values():
            if entry.get("account") in env.clients:
                acc = env.manifest.accounts.get(entry["account"])
                if acc is not None and acc.is_org:
                    accounts.add(entry["account"])
        out = []
        for acc_id in sorted(accounts):
            login = env.manifest.accounts[acc_id].login
            out.append(Scope(self.name, acc_id, f"org {login}", None, (("org", login),)))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        mine = (v for v in env.manifest.org_variables if v.account == scope.account)
        return {v.name: Item(v.name, attrs=_org_attrs(v), source=env.manifest.positions.source(v.path)) for v in mine}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        return self.read(reader, f"/orgs/{scope.get('org')}/actions/variables", lambda v: {})

    def attrs(self, reader: Reader, base: str, v: dict[str, Any]) -> dict[str, Any]:
        attrs: dict[str, Any] = {"value": v["value"], "visibility": v.get("visibility", "all")}
        if attrs["visibility"] == "selected":
            repos = reader.list(f"{base}/{quote(v['name'], safe='')}/repositories", key="repositories") or []
            attrs["repos"] = sorted(r["full_name"].lower() for r in repos)
        return attrs

    def location(self, change: Change) -> tuple[str, str]:
        org = self.scope_for_change(change).get("org")
        return f"/orgs/{org}/actions/variables", f"organization {org}"

    def fields(self, client: AccountClient, after: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"visibility": after.get("visibility", "all")}
        if out["visibility"] == "selected":
            out["selected_repository_ids"] = [_repo_id(client, full) for full in after.get("repos") or []]
        return out


def _org_attrs(v: OrgVariableSpec) -> dict[str, Any]:
    attrs: dict[str, Any] = {"value": v.value, "visibility": v.visibility}
    if v.visibility == "selected":
        attrs["repos"] = sorted({r.lower() for r in v.repos})
    return attrs


def _repo_id(client: AccountClient, full: str) -> int:
    data = client.get(f"/repos/{full}")
    if data is None:
        raise GitHubError(f"repository {full} (selected for an organization variable) does not exist or is not visible")
    return int(data["id"])


KINDS = [RepoVariable(), EnvVariable(), OrgVariable()]
