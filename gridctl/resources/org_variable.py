"""Kind ``org-variable``: organization Actions variables (``org_variables.<org account>``).

Managed fields: ``value``, ``visibility`` (all | private | selected) and, for ``selected``,
``repos`` (lower-case ``owner/name``, sorted). Reads: one list call per organization
(``per_page`` at most 30) plus, for each variable whose visibility is ``selected``, one call
for its repositories (GitHub has no bulk form).

Writes: raw requests through the account's client (a POST carrying ``selected_repository_ids``
for a ``selected`` variable, one PATCH with value, visibility and ids, a DELETE); repository
names are resolved to ids at apply time (``GET /repos/{r}``, ETag-cached), so repositories created in the same run work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import GitHubError
from ..manifest.model import Manifest
from ..plan import Action, Change
from .base import ApplyResult, Item, Kind, Scope
from .variable import list_variables, write_variable

if TYPE_CHECKING:
    from .base import ApplyContext, PlanEnv, Reader


class OrgVariable(Kind):
    name = "org-variable"
    max_per_scope = 1000
    order = 91

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(v.account, "admin:org", f"org_variables.{v.account}") for v in m.org_variables]

    def scopes(self, env: PlanEnv) -> list[Scope]:
        accounts = {v.account for v in env.manifest.org_variables}
        for entry in env.state.resources.values():
            if entry.get("kind") == self.name and entry.get("account") in env.clients:
                acc = env.manifest.accounts.get(entry["account"])
                if acc is not None and acc.is_org:
                    accounts.add(entry["account"])
        out = []
        for acc_id in sorted(accounts):
            login = env.manifest.accounts[acc_id].login
            out.append(Scope(self.name, acc_id, f"org {login}", None, (("org", login),)))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        out: dict[str, Item] = {}
        for v in env.manifest.org_variables:
            if v.account != scope.account:
                continue
            attrs: dict[str, Any] = {"value": v.value, "visibility": v.visibility}
            if v.visibility == "selected":
                attrs["repos"] = sorted({r.lower() for r in v.repos})
            pos = env.manifest.positions.of(v.path, key=True)
            out[v.name] = Item(v.name, attrs=attrs, source=f"{pos.file}:{pos.line}" if pos else None)
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        org = scope.get("org")
        out: dict[str, Item] = {}
        for v in list_variables(reader, f"/orgs/{org}/actions/variables"):
            name = v["name"].upper()
            attrs: dict[str, Any] = {"value": v["value"], "visibility": v.get("visibility", "all")}
            if attrs["visibility"] == "selected":
                repos = (
                    reader.list(
                        f"/orgs/{org}/actions/variables/{quote(v['name'], safe='')}/repositories", key="repositories"
                    )
                    or []
                )
                attrs["repos"] = sorted(r["full_name"].lower() for r in repos)
            out[name] = Item(name, attrs=attrs)
        return out

    # -- apply ------------------------------------------------------------------------------------
    def _repo_ids(self, client: Any, repos: list[str]) -> list[int]:
        ids = []
        for full in repos:
            data = client.get(f"/repos/{full}")
            if data is None:
                raise GitHubError(
                    f"repository {full} (selected for an organization variable) does not exist or is not visible"
                )
            ids.append(int(data["id"]))
        return ids

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        org = self.scope_for_change(change).get("org")
        extra: dict[str, Any] = {}
        if change.action != Action.DELETE:
            after = change.after or {}
            extra["visibility"] = after.get("visibility", "all")
            if extra["visibility"] == "selected":
                extra["selected_repository_ids"] = self._repo_ids(client, list(after.get("repos") or []))
        write_variable(client, f"/orgs/{org}/actions/variables", change, f"organization {org}", extra)
        entry = {"kind": self.name, "scope": change.scope, "account": change.account}
        return ApplyResult(None if change.action == Action.DELETE else entry)


KINDS = [OrgVariable()]
