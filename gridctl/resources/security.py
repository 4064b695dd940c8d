"""Kind ``security``: a repository's security settings (``repos.<r>.security``).

    repos:
      alice/demo:
        security:
          vulnerability_alerts: true        # Dependabot alerts (and the dependency graph)
          automated_security_fixes: true    # Dependabot security updates

Only the fields the manifest sets are managed, each planned on its own. GitHub facts used here
(REST "Repositories", https://docs.github.com/en/rest/repos/repos):

* ``GET /repos/{o}/{r}/vulnerability-alerts`` answers 204 when alerts are on and 404 when off;
  ``PUT`` enables them "and the dependency graph", ``DELETE`` disables them;
* ``GET .../automated-security-fixes`` answers 200 ``{enabled, paused}`` when security updates
  are on and 404 when off; ``PUT`` enables, ``DELETE`` disables;
* every one needs admin access to the repository (classic tokens: ``repo``);
* security updates need alerts ("About Dependabot security updates",
  https://docs.github.com/en/code-security/dependabot/dependabot-security-updates/about-dependabot-security-updates),
  so a manifest asking for updates without alerts is refused at load time, apply enables alerts
  before updates and disables updates before alerts.

GitHub has no "default" to put back — a new repository's settings come from its owner's security
settings — so a ``security`` section removed from the manifest (or ``destroy``) stops managing
them and leaves them as they are, saying so in the plan; nothing is written.

``gridctl import`` writes both settings of a repository where either is on (none is GitHub's
default, see above; a repository with both off gets no ``security``).

Reads: one call per managed setting and repository (uncached: the answer is the status).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import GitHubError
from ..manifest.sections import Section, SectionContext
from ..manifest.yamlpos import PathT
from ..plan import Action, Change
from .base import ApplyResult, Declaring, Item, Kind, Scope
from .repository import repos_with

if TYPE_CHECKING:
    from ..manifest.model import Manifest, RepoSpec
    from .base import ApplyContext, PlanEnv, Reader

#: the manifest's fields -> the endpoint below the repository that reads and sets each
ENDPOINTS = {"vulnerability_alerts": "vulnerability-alerts", "automated_security_fixes": "automated-security-fixes"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "description": "Security settings of the repository; only the fields set are managed.",
    "properties": {
        "vulnerability_alerts": {"type": "boolean", "description": "Dependabot alerts (and the dependency graph)."},
        "automated_security_fixes": {"type": "boolean", "description": "Dependabot security updates (need vulnerability_alerts)."},
    },
}
_LEFT = ("no longer declared: GitHub has no default to put back (it comes from the owner's security settings), "
         "so gridctl stops managing these settings and leaves them as they are")


def parse(ctx: SectionContext, repo: RepoSpec, raw: dict[str, Any], path: PathT) -> dict[str, bool]:
    if raw.get("automated_security_fixes") is True and raw.get("vulnerability_alerts") is False:
        ctx.error(path + ("automated_security_fixes",), "automated_security_fixes needs vulnerability_alerts: Dependabot security updates work from its alerts", key=True)
    return dict(raw)


class Security(Kind):
    name = "security"
    order = 68
    sections = (Section("security", "repo", SCHEMA, parse),)

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(r.account, "repo", f"repos.{r.full_name}.security") for r in m.repos.values() if "security" in r.sections]

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.name}"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return repos_with(env, self, lambda spec: "security" in spec.sections)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        decl = spec.sections.get("security") if spec is not None else None
        if not decl:
            return {}
        assert spec is not None
        return {"security": Item("security", attrs=dict(decl), source=env.manifest.positions.source(spec.path + ("security",)))}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        attrs = {field: self._enabled(reader, scope.name, endpoint) for field, endpoint in ENDPOINTS.items()}
        return {"security": Item("security", attrs=attrs)}

    @staticmethod
    def _enabled(reader: Reader, full: str, endpoint: str) -> bool:
        try:
            reader.request(lambda: reader.client.raw("GET", f"/repos/{full}/{endpoint}"))
        except GitHubError as exc:
            if exc.status == 404:
                return False
            if exc.status == 403:
                raise GitHubError(f"cannot read the security settings of {full}: the token needs admin rights on it "
                                  f"(GitHub answered 403: {exc.github_message or exc})", status=403) from None
            raise
        return True

    importable = True

    def declare(self, items: dict[str, Item], d: Declaring) -> dict[str, bool] | None:
        it = items.get("security")
        if it is None or not any(it.attrs.values()):
            return None
        return {k: bool(it.attrs[k]) for k in ENDPOINTS}

    def delete_reason(self, live: Item, state: dict[str, Any] | None) -> str | None:
        return _LEFT

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        if change.action == Action.DELETE:
            return ApplyResult(None, result={"skipped": "left as they are"})
        client = ctx.client(change.account)
        after = change.after or {}
        fields = {d.field for d in change.diffs} if change.action == Action.UPDATE else set(after)
        # alerts on before updates on; updates off before alerts off
        steps = sorted(fields, key=lambda f: ((f == "automated_security_fixes") == bool(after[f]), f))
        for field in steps:
            client.raw("PUT" if after[field] else "DELETE", f"/repos/{change.scope}/{ENDPOINTS[field]}")
        return ApplyResult({"kind": self.name, "scope": change.scope, "account": change.account})


KINDS = [Security()]
