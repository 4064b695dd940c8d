"""Kind ``variable``: repository Actions variables (``repos.<r>.variables``).

Variables are not secret: values are compared and shown. Note GitHub's ``per_page`` cap of 30
for variable lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..plan import Action, Change
from .base import ApplyResult, Item, Kind, Scope
from .repository import repo_scopes

if TYPE_CHECKING:
    from .base import ApplyContext, PlanEnv, Reader


class Variable(Kind):
    name = "variable"
    order = 60
    prune_key = "variables"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        """Repositories that declare variables, prune them, or have managed ones in state
        (the others cost no call)."""
        managed = {e.get("scope") for e in env.state.resources.values() if e.get("kind") == self.name}
        out = []
        for s in repo_scopes(env, self.name):
            spec = env.manifest.repo(s.name)
            if spec is not None and (spec.variables or spec.prune.get(self.prune_key or "") or s.name in managed):
                out.append(s)
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        assert spec is not None
        return {name: Item(name, attrs={"value": value}) for name, value in spec.variables.items()}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        items = reader.list(f"/repos/{scope.name}/actions/variables", key="variables", per_page=30) or []
        return {v["name"].upper(): Item(v["name"].upper(), attrs={"value": v["value"]}, meta={"updated_at": v.get("updated_at")}) for v in items}

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        repo = client.gh.get_repo(change.scope)
        name = change.meta["key"]
        entry = {"kind": self.name, "scope": change.scope, "account": change.account}
        if change.action == Action.CREATE:
            value = change.after["value"]  # type: ignore[index]
            client.call(
                f"create variable {name} in {change.scope}",
                lambda: repo.create_variable(name, value),
                idempotent=False,
                verify=lambda: client.get(f"/repos/{change.scope}/actions/variables/{name}"),
            )
            return ApplyResult(entry)
        if change.action == Action.UPDATE:
            value = change.after["value"]  # type: ignore[index]
            client.call(f"update variable {name} in {change.scope}", lambda: repo.get_variable(name).edit(value), check_bool=True)
            return ApplyResult(entry)
        client.call(f"delete variable {name} in {change.scope}", lambda: repo.delete_variable(name), check_bool=True)
        return ApplyResult(None)
KINDS = [Variable()]
