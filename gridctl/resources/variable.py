"""Kind ``variable``: repository Actions variables (``repos.<r>.variables``).

Variables are not secret: values are compared and shown. Note GitHub's ``per_page`` cap of 30
for variable lists.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..github.client import AccountClient
from ..plan import Action, Change
from .base import ApplyContext, ApplyResult, Item, Kind, PlanEnv, Reader, Scope
from .repository import repos_with


class Variable(Kind):
    name = "variable"
    # "up to 1,000 organization variables, 500 variables per repository, and 100 variables per
    # environment" — https://docs.github.com/en/actions/reference/workflows-and-actions/variables#limits-for-configuration-variables
    max_per_scope = 500
    order = 60
    prune_key = "variables"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return repos_with(env, self, lambda spec: spec.variables)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        assert spec is not None
        return {name: Item(name, attrs={"value": value}) for name, value in spec.variables.items()}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        items = list_variables(reader, f"/repos/{scope.name}/actions/variables")
        return {v["name"].upper(): Item(v["name"].upper(), attrs={"value": v["value"]}, meta={"updated_at": v.get("updated_at")}) for v in items}

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        write_variable(ctx.client(change.account), f"/repos/{change.scope}/actions/variables", change, change.scope)
        entry = {"kind": self.name, "scope": change.scope, "account": change.account}
        return ApplyResult(None if change.action == Action.DELETE else entry)


def list_variables(reader: Reader, base: str) -> list[dict[str, Any]]:
    """The variables at ``base`` (GitHub lists at most 30 variables a page)."""
    return reader.list(base, key="variables", per_page=30) or []


def write_variable(client: AccountClient, base: str, change: Change, where: str, extra: dict[str, Any] | None = None) -> None:
    """Create, update or delete one variable under ``base`` — a repository's, an environment's
    or an organization's ``.../variables``: GitHub's variable endpoints are the same at every
    scope (``POST base``, ``PATCH base/{name}``, ``DELETE base/{name}``; REST reference
    "Actions variables"). ``extra`` adds scope fields (an organization's visibility)."""
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


KINDS = [Variable()]
