"""Kinds ``hook`` (a repository's webhooks, ``repos.<r>.hooks``) and ``org-hook`` (an
organization's, ``org_hooks.<org account>``).

    repos:
      alice/demo:
        hooks:
          https://ci.example.com/github:        # the hook's payload URL names it
            events: [push, pull_request]        # default [push]; "*" is every event
            content_type: json                  # json | form (default form)
            insecure_ssl: false                 # default false: TLS certificates are verified
            active: true                        # default true
            secret: {env: CI_HOOK_SECRET}       # a source (env, file, command), never inline
        prune: {hooks: true}                    # also delete the repository's undeclared hooks
    org_hooks:
      acme:                                     # an organization account of the manifest
        https://audit.example.com/hook: {events: ["*"], secret: {file: keys/audit.secret}}

**Identity.** GitHub names a hook by a numeric id it gives at creation; the manifest names it by
its payload URL, which is unique among the declared hooks of one repository or organization.
Changing a hook's URL in the manifest is therefore a delete and a create (a new id, an empty
delivery history). GitHub lets several hooks share a URL when their events do not overlap
("Multiple webhooks can share the same config as long as those webhooks do not have any events
that overlap", https://docs.github.com/en/rest/repos/webhooks#create-a-repository-webhook): the
oldest (lowest id) is the declared one, each other is keyed ``URL (hook ID)`` and, never
declared, is deleted only by ``prune: {hooks: true}``. Only ``web`` hooks are read (the only
name the API creates). A payload URL holding credentials (``https://user:pass@...``) is refused:
plans, state and the journal print URLs; put credentials in the secret.

**Fields.** Every field is managed, with GitHub's defaults for the ones left out: ``events``
(``push``), ``content_type`` (``form``), ``insecure_ssl`` (``false``; GitHub's ``"0"``/``"1"``)
and ``active`` (``true``) — the defaults of "Create a repository webhook" (the page above). Each
is planned on its own (an ``events`` change is one field). ``events`` is compared as a set.

**The secret** is write-only on GitHub: reads show ``"********"`` in ``config.secret`` when one is
set ("Get a repository webhook", https://docs.github.com/en/rest/repos/webhooks#get-a-repository-webhook).
As with Actions secrets (:mod:`.secret`), the plan and the state carry only a keyed fingerprint
(HMAC) of the manifest's value; ``secret`` shows as ``"(sensitive)"`` (set) or ``null`` (none).
The secret is written when gridctl has no record of writing it, when the manifest's value
changed (its fingerprint), or when GitHub shows none although one is declared; a declared
hook without ``secret`` has GitHub's removed. A value changed by hand to another one is not
seen: GitHub shows neither the value nor when it changed (a hook's ``updated_at`` is not the
secret's), so unlike an Actions secret there is no drift check. A change that writes or removes
a secret cannot be rolled back (the old value is unknown); a deleted hook cannot be restored
(GitHub would give it a new id and no delivery history), so deletes are not reversible either.

**Writes.** Create: ``POST .../hooks`` (``name: web``, the config with the secret). An update
sends only the parts that changed: ``events``/``active`` by ``PATCH .../hooks/{id}`` without a
``config`` (the configuration, secret included, is kept), ``content_type``/``insecure_ssl``/a new
secret by ``PATCH .../hooks/{id}/config``, which changes only the fields given ("Update a webhook
configuration for a repository", https://docs.github.com/en/rest/webhooks/repo-config). Removing
a secret is a ``PATCH .../hooks/{id}`` with a ``config`` that has none: "If you previously had a
secret set, you must provide the same secret or set a new secret or the secret will be removed"
(https://docs.github.com/en/rest/repos/webhooks#update-a-repository-webhook). Delete: ``DELETE
.../hooks/{id}``. The secret leaves memory only in the body of those requests (GitHub takes it
in clear over TLS) and is never logged, journaled or stored.

**Tokens.** Classic tokens need ``admin:repo_hook`` for a repository's hooks (``repo`` includes
it: "repo ... Grants full access to ... repository webhooks", https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps)
and ``admin:org_hook`` for an organization's, whose hooks only owners may see (the operations'
descriptions, https://docs.github.com/en/rest/orgs/webhooks).

**Import.** ``gridctl import`` writes each hook's fields that differ from the defaults; a hook's
secret cannot be read, so an imported hook with one gets a ``secret: {file: ...}`` source
reading a placeholder file, which apply refuses to write (put the real secret there first).
Hooks sharing an older one's URL cannot be declared and are left out, with a note.

Reads: one list call per repository or organization (the list holds every field compared).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import GitHubError, GridctlError
from ..manifest.load import secret_value
from ..manifest.model import SecretRef
from ..manifest.sections import Section, SectionContext
from ..manifest.sources import Source
from ..manifest.yamlpos import PathT
from ..plan import Action, Change, FieldDiff
from .base import ApplyResult, Declaring, Item, Kind, Scope, attr_diffs, live_fp, org_scopes
from .repository import repos_with
from .secret import PLACEHOLDER

if TYPE_CHECKING:
    from ..github.client import AccountClient
    from ..manifest.model import Manifest, RepoSpec
    from ..manifest.sources import Sensitive
    from .base import ApplyContext, PlanEnv, Reader

#: what the plan shows for a secret that is set (GitHub shows ``********``)
SET = "(sensitive)"
MASKED = "********"
#: GitHub's defaults for a new hook (see the module's docstring)
DEFAULTS: dict[str, Any] = {"events": ["push"], "content_type": "form", "insecure_ssl": False, "active": True}
HOOK_FIELDS = ("events", "active")
CONFIG_FIELDS = ("content_type", "insecure_ssl")
REASON_UNKNOWN = "secret not written by gridctl yet (value unknown)"
REASON_CHANGED = "secret changed"
REASON_MISSING = "secret not set on GitHub"

HOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "One webhook; fields left out take GitHub's defaults.",
    "properties": {
        "events": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": "^([a-z_]+|\\*)$"},
            "description": "The events that trigger it (default [push]); \"*\" is every event.",
        },
        "content_type": {"enum": ["json", "form"], "description": "How payloads are serialized (default form)."},
        "insecure_ssl": {"type": "boolean", "description": "Skip TLS certificate verification of the payload URL (default false)."},
        "active": {"type": "boolean", "description": "Whether deliveries are sent (default true)."},
        "secret": {"$ref": "#/$defs/source", "description": "The secret deliveries are signed with: a source, never inline."},
    },
}
HOOKS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Webhooks by payload URL (http or https).",
    "propertyNames": {"type": "string", "pattern": "^https?://[^\\s]+$", "maxLength": 2048},
    "additionalProperties": {"$ref": "#/$defs/webhook"},
}
ORG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Webhooks of organizations, by organization account id, then by payload URL.",
    "propertyNames": {"$ref": "#/$defs/localId"},
    "additionalProperties": {"$ref": "#/$defs/webhooks"},
}
_DEFS = {"webhook": HOOK_SCHEMA, "webhooks": HOOKS_SCHEMA}


@dataclass(frozen=True)
class HookSpec:
    url: str
    attrs: dict[str, Any]
    path: PathT
    secret: SecretRef | None = None
    account: str = ""  # the organization account (org_hooks)


@dataclass(frozen=True)
class HooksSpec:
    """The hooks declared in one place (a repository, an organization)."""

    hooks: dict[str, HookSpec]
    account: str = ""

    def secret_refs(self) -> list[SecretRef]:
        """The secret sources to read (and check) with the manifest's other secrets."""
        return [h.secret for h in self.hooks.values() if h.secret is not None]


def _parse_hooks(ctx: SectionContext, raw: dict[str, Any], path: PathT, account: str = "") -> HooksSpec:
    out: dict[str, HookSpec] = {}
    for url, value in raw.items():
        p = path + (url,)
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            ctx.error(p, "a payload URL may not hold credentials (plans and state print URLs); put them in the secret", key=True)
            continue
        if not parts.hostname:
            ctx.error(p, f"{url!r} has no host", key=True)
            continue
        attrs = {**DEFAULTS, **{k: v for k, v in value.items() if k != "secret"}}
        attrs["events"] = sorted(set(attrs["events"]))
        secret = None
        if "secret" in value:
            src = value["secret"]
            if "lines" in src:
                ctx.error(p + ("secret", "lines"), "lines applies to keys only: a hook has one secret", key=True)
                continue
            secret = SecretRef(p + ("secret",), source=Source.from_dict(src))
        attrs["secret"] = SET if secret is not None else None
        out[url] = HookSpec(url, attrs, p, secret, account)
    return HooksSpec(out, account)


def parse_repo(ctx: SectionContext, repo: RepoSpec, raw: dict[str, Any], path: PathT) -> HooksSpec:
    return _parse_hooks(ctx, raw, path)


def parse_org(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> list[HooksSpec]:
    return [_parse_hooks(ctx, value, path + (acc_id,), acc_id) for acc_id, value in raw.items() if ctx.need_org(acc_id, path + (acc_id,))]


def _live_items(hooks: list[dict[str, Any]]) -> dict[str, Item]:
    """Live hooks by URL (the oldest of those sharing one; the others ``URL (hook ID)``)."""
    out: dict[str, Item] = {}
    for h in sorted(hooks, key=lambda h: int(h["id"])):
        if h.get("name", "web") != "web":
            continue
        cfg = h.get("config") or {}
        url = str(cfg.get("url") or "")
        attrs = {
            "events": sorted(set(h.get("events") or [])),
            "content_type": cfg.get("content_type") or DEFAULTS["content_type"],
            "insecure_ssl": str(cfg.get("insecure_ssl", "0")) == "1",
            "active": bool(h.get("active")),
            "secret": SET if cfg.get("secret") else None,
        }
        key = url if url not in out else f"{url} (hook {h['id']})"
        out[key] = Item(key, attrs=attrs, meta={"id": int(h["id"]), "url": url})
    return out


class HookKind(Kind):
    """What repository and organization hooks share: the secret's comparison and the writes."""

    restorable = False  # a new hook would get a new id and no delivery history; its secret is unknown
    importable = True

    def declare(self, items: dict[str, Item], d: Declaring) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, it in sorted(items.items()):
            url = str(it.meta.get("url") or key)
            parts = urlsplit(url)
            why = ""
            if key != url:
                why = "it shares its payload URL with an older hook, and the manifest names hooks by URL"
            elif parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048 or any(c.isspace() for c in url):
                why = "its payload URL cannot be declared"
            elif parts.username is not None or parts.password is not None:
                why = "its payload URL holds credentials, which a manifest may not (plans and state print URLs)"
            elif not it.attrs.get("events"):
                why = "it has no events"
            if why:
                d.notes.append(f"{d.what}: webhook {key} is left out: {why}")
                continue
            decl = {k: v for k, v in sorted(it.attrs.items()) if k in DEFAULTS and v != DEFAULTS[k]}
            if it.attrs.get("secret") is not None:
                decl["secret"] = d.secret(f"the secret of webhook {url} of {d.what}", f"{parts.hostname}{parts.path}")
            out[url] = decl
        return out

    # -- planning -------------------------------------------------------------------------------
    def _item(self, env: PlanEnv, spec: HookSpec) -> Item:
        meta = {"url": spec.url}
        source = env.manifest.positions.source(spec.path)
        if spec.secret is None:
            return Item(spec.url, attrs=dict(spec.attrs), meta=meta, source=source)
        value = secret_value(env.manifest, spec.secret)
        return Item(spec.url, attrs=dict(spec.attrs), meta=meta, secret=value, fingerprint=value.fingerprint(env.fp_key), source=source)

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list[FieldDiff], str]:
        diffs = attr_diffs(desired.attrs, live.attrs)
        if desired.fingerprint is None:
            return diffs, ""
        if live.attrs.get("secret") is None:
            return diffs, REASON_MISSING
        reason = ""
        if state is None or not state.get("fingerprint"):
            reason = REASON_UNKNOWN
        elif state["fingerprint"] != desired.fingerprint:
            reason = REASON_CHANGED
        if reason:
            diffs.append(FieldDiff("secret", SET, SET))
            diffs.sort(key=lambda d: d.field)
        return diffs, reason

    def reversible_change(self, action: Action, diffs: tuple[FieldDiff, ...]) -> bool:
        return self.reversible(action) and not any(d.field == "secret" for d in diffs)

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        if change.action == Action.UPDATE and any(d.field == "secret" for d in change.diffs):
            return None
        inverse = super().inverse(change, result)
        if inverse is not None and inverse.before is not None:
            # what the rollback expects to find: the attributes, never the secret's fingerprint
            inverse = replace(inverse, live_fp=live_fp(inverse.before, list(inverse.before)))
        return inverse

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        return {"kind": self.name, "scope": scope.name, "account": scope.account, "id": live.meta["id"]}

    # -- applying -------------------------------------------------------------------------------
    def base(self, change: Change) -> str:
        """The change's hook collection (``.../hooks``)."""
        raise NotImplementedError

    def spec(self, manifest: Manifest, change: Change) -> HookSpec | None:
        raise NotImplementedError

    def _secret(self, ctx: ApplyContext, change: Change) -> Sensitive:
        """The secret to write, from the manifest, checked against the plan's fingerprint (a saved
        plan writes what was reviewed)."""
        spec = self.spec(ctx.manifest, change)
        if spec is None or spec.secret is None:
            raise GridctlError(f"{change.address}: its secret is no longer declared in the manifest; plan again")
        value = secret_value(ctx.manifest, spec.secret)
        if PLACEHOLDER in value.reveal():
            raise GridctlError(f"{change.address}: its secret still holds the placeholder written by gridctl import; "
                               "put the real value there first (nothing was written)")
        want = (change.after or {}).get("fingerprint")
        if want and value.fingerprint(ctx.env.fp_key) != want:
            raise GridctlError(f"the secret of {change.address} changed since the plan was made; plan again")
        return value

    def _config(self, ctx: ApplyContext, change: Change, url: str, *, secret: bool) -> dict[str, Any]:
        after = change.after or {}
        cfg: dict[str, Any] = {
            "url": url,
            "content_type": after.get("content_type", DEFAULTS["content_type"]),
            "insecure_ssl": "1" if after.get("insecure_ssl") else "0",
        }
        if secret:
            cfg["secret"] = self._secret(ctx, change).reveal()
        return cfg

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        base = self.base(change)
        url = str(change.meta.get("url") or change.meta["key"])
        if change.action == Action.DELETE:
            client.delete(f"{base}/{change.meta['id']}", f"delete webhook {change.address}")
            return ApplyResult(None, result={"deleted": True})
        after = change.after or {}
        if change.action == Action.CREATE:
            body = {
                "name": "web",
                "active": after.get("active", True),
                "events": after.get("events") or DEFAULTS["events"],
                "config": self._config(ctx, change, url, secret=after.get("secret") is not None),
            }
            data = client.raw("POST", base, body, verify=lambda: _find(client, base, url))
            hook_id = int(data["id"])
        else:
            hook_id = int(change.meta["id"])
            fields = {d.field for d in change.diffs}
            hook_url = f"{base}/{hook_id}"
            if "secret" in fields and after.get("secret") is None:
                # only a full update removes a secret: it replaces the configuration
                body = {f: after[f] for f in HOOK_FIELDS if f in after}
                body["config"] = self._config(ctx, change, url, secret=False)
                client.raw("PATCH", hook_url, body)
            else:
                if "secret" in fields:
                    self._secret(ctx, change)  # a placeholder or a changed value stops before any write
                if fields & set(HOOK_FIELDS):
                    client.raw("PATCH", hook_url, {f: after[f] for f in HOOK_FIELDS if f in after})
                if fields & {*CONFIG_FIELDS, "secret"}:
                    cfg = self._config(ctx, change, url, secret="secret" in fields)
                    del cfg["url"]
                    client.raw("PATCH", hook_url + "/config", cfg)
        entry: dict[str, Any] = {"kind": self.name, "scope": change.scope, "account": change.account, "id": hook_id}
        fingerprint = after.get("fingerprint") or (ctx.env.state.get(change.address) or {}).get("fingerprint")
        if fingerprint and after.get("secret") is not None:
            entry["fingerprint"] = fingerprint
        return ApplyResult(entry, result={"id": hook_id})


def _find(client: AccountClient, base: str, url: str) -> dict[str, Any] | None:
    """The hook at ``url`` (after a POST whose answer was lost), or None."""
    for h in client.get_list(base) or []:
        if (h.get("config") or {}).get("url") == url:
            return dict(h)
    return None


class RepoHook(HookKind):
    name = "hook"
    # after the repository (10) and its files (workflows the hook's receiver may trigger)
    order = 70
    prune_key = "hooks"
    sections = (Section("hooks", "repo", {"$ref": "#/$defs/webhooks"}, parse_repo, defs=_DEFS, prunable=True),)

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(r.account, "admin:repo_hook", f"repos.{r.full_name}.hooks") for r in m.repos.values() if "hooks" in r.sections]

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return repos_with(env, self, lambda spec: "hooks" in spec.sections)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        decl = spec.sections.get("hooks") if spec is not None else None
        if not isinstance(decl, HooksSpec):
            return {}
        return {url: self._item(env, h) for url, h in decl.hooks.items()}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        return _live_items(reader.list(f"/repos/{scope.name}/hooks") or [])

    def base(self, change: Change) -> str:
        return f"/repos/{change.scope}/hooks"

    def spec(self, manifest: Manifest, change: Change) -> HookSpec | None:
        repo = manifest.repo(change.scope)
        decl = repo.sections.get("hooks") if repo is not None else None
        return decl.hooks.get(str(change.meta.get("url"))) if isinstance(decl, HooksSpec) else None


class OrgHook(HookKind):
    name = "org-hook"
    order = 94
    sections = (Section("org_hooks", "top", ORG_SCHEMA, parse_org),)

    def _specs(self, m: Manifest) -> list[HooksSpec]:
        specs: list[HooksSpec] = m.sections.get("org_hooks", [])
        return specs

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(s.account, "admin:org_hook", f"org_hooks.{s.account}") for s in self._specs(m)]

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.get('org')}:{key}"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return org_scopes(env, self, {s.account for s in self._specs(env.manifest)})

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        for s in self._specs(env.manifest):
            if s.account == scope.account:
                return {url: self._item(env, h) for url, h in s.hooks.items()}
        return {}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        org = scope.get("org")
        hooks = reader.list(f"/orgs/{org}/hooks")
        if hooks is None:  # GitHub hides an organization's hooks from all but its owners
            who = f" ({reader.client.login})" if reader.client.login else ""
            raise GitHubError(f"cannot read the webhooks of organization {org}: the token{who} must be an owner's, "
                              "with the admin:org_hook scope (GitHub answered 404)", status=404)
        return _live_items(hooks)

    def base(self, change: Change) -> str:
        return f"/orgs/{self.scope_for_change(change).get('org')}/hooks"

    def spec(self, manifest: Manifest, change: Change) -> HookSpec | None:
        for s in self._specs(manifest):
            if s.account == change.account:
                return s.hooks.get(str(change.meta.get("url")))
        return None


KINDS = [RepoHook(), OrgHook()]
