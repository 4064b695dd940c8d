"""Kind ``autolink``: a repository's autolink references (``repos.<r>.autolinks``).

    repos:
      alice/demo:
        autolinks:
          TICKET-: https://tickets.example.com/TICKET-<num>      # is_alphanumeric: true
          JIRA-: {url_template: "https://jira.example.com/browse/JIRA-<num>", is_alphanumeric: false}
        prune: {autolinks: true}                                # also delete undeclared ones

An autolink is named by its ``key_prefix`` (unique in a repository). Managed fields:
``url_template`` (it "must contain ``<num>`` for the reference number") and ``is_alphanumeric``
(default true: ``<num>`` matches letters too) — the create operation's request body,
https://docs.github.com/en/rest/repos/autolinks#create-an-autolink-reference-for-a-repository.
GitHub has no update for autolinks (create, get, list, delete only), so a changed one is a
replace: delete, then create (a rollback replaces it back). Only repository administrators may
read or write them ("Information about autolinks are only available to repository
administrators"); classic tokens need ``repo``.

Reads: one list call per repository that declares autolinks, prunes them or has managed ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import GitHubError, GridctlError
from ..manifest.sections import Section, SectionContext
from ..manifest.yamlpos import PathT
from ..plan import Action, Change
from .base import ApplyResult, Declaring, Item, Kind, Scope, _flip
from .repository import repos_with

if TYPE_CHECKING:
    from ..github.client import AccountClient
    from ..manifest.model import Manifest, RepoSpec
    from .base import ApplyContext, PlanEnv, Reader

_TEMPLATE: dict[str, Any] = {"type": "string", "pattern": "<num>", "maxLength": 2048, "description": "The target URL; <num> stands for the reference."}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Autolink references by key prefix: a URL template, or {url_template, is_alphanumeric}.",
    "propertyNames": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^\\S+$"},
    "additionalProperties": {
        "oneOf": [
            _TEMPLATE,
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["url_template"],
                "properties": {
                    "url_template": _TEMPLATE,
                    "is_alphanumeric": {"type": "boolean", "description": "Whether <num> matches letters too (default true)."},
                },
            },
        ]
    },
}


def parse(ctx: SectionContext, repo: RepoSpec, raw: dict[str, Any], path: PathT) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}
    for prefix, value in raw.items():
        decl = {"url_template": value} if isinstance(value, str) else dict(value)
        attrs = {"url_template": decl["url_template"], "is_alphanumeric": decl.get("is_alphanumeric", True)}
        if prefix.lower() in seen:
            ctx.error(path + (prefix,), f"autolink {prefix} is declared twice (also as {seen[prefix.lower()]}; prefixes are case-insensitive)", key=True)
            continue
        if urlsplit(attrs["url_template"]).scheme not in ("http", "https"):
            ctx.error(path + (prefix,), "an autolink's url_template is an http or https URL")
            continue
        seen[prefix.lower()] = prefix
        out[prefix] = attrs
    return out


def _find(client: AccountClient, base: str, prefix: str) -> dict[str, Any] | None:
    for link in client.get_list(base) or []:
        if str(link.get("key_prefix", "")).lower() == prefix.lower():
            return dict(link)
    return None


class Autolink(Kind):
    name = "autolink"
    order = 72
    prune_key = "autolinks"
    replace_on_change = True
    sections = (Section("autolinks", "repo", SCHEMA, parse, prunable=True),)

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(r.account, "repo", f"repos.{r.full_name}.autolinks") for r in m.repos.values() if "autolinks" in r.sections]

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return repos_with(env, self, lambda spec: "autolinks" in spec.sections)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        if spec is None:
            return {}
        declared: dict[str, dict[str, Any]] = spec.sections.get("autolinks") or {}
        return {
            prefix: Item(prefix, attrs=dict(attrs), source=env.manifest.positions.source(spec.path + ("autolinks", prefix)))
            for prefix, attrs in declared.items()
        }

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        try:
            links = reader.list(f"/repos/{scope.name}/autolinks") or []
        except GitHubError as exc:
            if exc.status == 403:
                raise GitHubError(f"cannot read the autolinks of {scope.name}: only its administrators may "
                                  f"(GitHub answered 403: {exc.github_message or exc})", status=403) from None
            raise
        return {
            str(a["key_prefix"]): Item(str(a["key_prefix"]), attrs={"url_template": a["url_template"], "is_alphanumeric": bool(a["is_alphanumeric"])},
                                       meta={"id": int(a["id"])})
            for a in links
        }

    importable = True

    def declare(self, items: dict[str, Item], d: Declaring) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for prefix, it in sorted(items.items()):
            template, alnum = str(it.attrs["url_template"]), bool(it.attrs["is_alphanumeric"])
            if urlsplit(template).scheme not in ("http", "https") or "<num>" not in template or not prefix or any(c.isspace() for c in prefix):
                d.notes.append(f"{d.what}: autolink {prefix} is left out: its prefix or URL template cannot be declared")
                continue
            out[prefix] = template if alnum else {"url_template": template, "is_alphanumeric": False}
        return out

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        base = f"/repos/{change.scope}/autolinks"
        prefix = str(change.meta["key"])
        if change.action in (Action.DELETE, Action.REPLACE):
            link_id = change.meta.get("id")
            if link_id is None:
                raise GridctlError(f"autolink {prefix}: no id to delete; run gridctl plan again")
            client.delete(f"{base}/{int(link_id)}", f"delete autolink {change.address}")
            if change.action == Action.DELETE:
                return ApplyResult(None, result={"deleted": True})
        after = change.after or {}
        body = {"key_prefix": prefix, "url_template": after["url_template"], "is_alphanumeric": bool(after.get("is_alphanumeric", True))}
        data = client.raw("POST", base, body, verify=lambda: _find(client, base, prefix))
        link_id = int(data["id"])
        return ApplyResult({"kind": self.name, "scope": change.scope, "account": change.account, "id": link_id}, result={"id": link_id})

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        if change.action == Action.REPLACE:
            return _flip(change, Action.REPLACE, before=change.after, after=change.before, meta={**change.meta, "id": result.result.get("id")})
        return super().inverse(change, result)


KINDS = [Autolink()]
