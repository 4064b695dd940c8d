"""Secret kinds: ``secret`` (repository Actions and Dependabot), ``env-secret`` (environment),
``org-secret`` (organization Actions and Dependabot) and ``codespaces-secret`` (a user's
Codespaces secrets, set with that user's own token).

Addresses (``describe`` turns the colons into spaces)::

    secret:alice/demo:actions:API_KEY          repos.alice/demo.secrets.actions.API_KEY
    secret:alice/demo:dependabot:NPM_TOKEN     repos.alice/demo.secrets.dependabot.NPM_TOKEN
    env-secret:alice/demo:prod:DEPLOY_KEY      repos.alice/demo.environments.prod.secrets...
    org-secret:acme:actions:SHARED             org_secrets.<acme account>.actions.SHARED
    codespaces-secret:bob:DOTFILES_TOKEN       codespaces_secrets.<bob account>.DOTFILES_TOKEN

GitHub never returns a secret's value, so a secret is diffed without it (state.py): the desired
item carries the manifest value's keyed fingerprint; state keeps the fingerprint gridctl last
wrote and GitHub's ``updated_at`` read right after that write. A secret is rewritten when
gridctl has no record of writing it, when the manifest's value changed, or when its
``updated_at`` moved (someone else wrote it: drift). ``updated_at`` has a one-second
resolution, so a rewrite within the same second as gridctl's own write cannot be seen.

Organization secrets also manage ``visibility`` and, for ``selected``, ``repos``; Codespaces
secrets manage ``repos``. Those are compared and shown like any attribute (repository names
lower-cased). Every write is one PUT carrying the sealed value (encrypted against the scope's
public key, fetched once per scope per run) and the attributes; the new ``updated_at`` values
are read back once per collection, after the plan's last write to it (one GET of the secret
when it is the only one written, else one listing of the collection).

Reads: one list call per secret collection and scope (a collection is read only when the
manifest declares secrets of that type there, state records some, or ``prune.secrets`` is on),
plus, for each *declared* organization secret with visibility ``selected`` and each declared
Codespaces secret, one call for its repositories (GitHub has no bulk form).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from ..errors import GridctlError
from ..manifest.load import secret_value
from ..plan import Action, Change, FieldDiff
from .base import ApplyResult, Item, Kind, Scope, attr_diffs

if TYPE_CHECKING:
    from ..github.client import AccountClient
    from ..manifest.model import Manifest, SecretRef
    from ..manifest.sources import Sensitive
    from .base import ApplyContext, PlanEnv, Reader

TYPES = ("actions", "dependabot")

REASON_UNKNOWN = "not written by gridctl yet (value unknown)"
#: what `gridctl import` writes where a secret's real value must go (see importer.py)
PLACEHOLDER = "GRIDCTL-IMPORT-PLACEHOLDER"
REASON_CHANGED = "sensitive value changed"
REASON_DRIFT = "changed outside gridctl (drift)"
#: the redacted value diff every value write carries
VALUE_DIFF = FieldDiff("value", "(sensitive)", "(sensitive)")


def _q(part: str) -> str:
    return quote(part, safe="")


def _lower_sorted(names: list[str]) -> list[str]:
    return sorted({n.lower() for n in names})


class SecretKind(Kind):
    """What the four secret kinds share: value diffing, the sealed PUT, the read-back."""

    sensitive = True
    restorable = False

    # -- planning -------------------------------------------------------------------------------
    def _item(self, env: PlanEnv, key: str, ref: SecretRef, attrs: dict[str, Any], meta: dict[str, Any]) -> Item:
        value = secret_value(env.manifest, ref)
        return Item(key, attrs=attrs, meta=meta, secret=value, fingerprint=value.fingerprint(env.fp_key), source=env.manifest.positions.source(ref.path))

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list[FieldDiff], str]:
        diffs = attr_diffs(desired.attrs, live.attrs)
        reason = ""
        if state is None or not state.get("fingerprint"):
            reason = REASON_UNKNOWN
        elif state["fingerprint"] != desired.fingerprint:
            reason = REASON_CHANGED
        elif state.get("updated_at") != live.meta.get("updated_at"):
            reason = REASON_DRIFT
        if reason:
            diffs.insert(0, VALUE_DIFF)
        return diffs, reason

    def _state_scopes(self, env: PlanEnv) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """This kind's state entries, by scope name: ``[(address, entry)]``."""
        out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for address, entry in env.state.of_kind(self.name).items():
            out.setdefault(str(entry.get("scope")), []).append((address, entry))
        return out

    # -- applying -------------------------------------------------------------------------------
    def collection(self, change: Change) -> str:
        """The URL of the change's secret collection (``.../secrets``)."""
        raise NotImplementedError

    def ref(self, manifest: Manifest, change: Change) -> SecretRef | None:
        """The manifest's declaration of the change's secret."""
        raise NotImplementedError

    def put_body(self, ctx: ApplyContext, client: AccountClient, change: Change) -> dict[str, Any]:
        """Attributes sent along with the value."""
        return {}

    def value(self, ctx: ApplyContext, change: Change) -> Sensitive:
        """The value to write, from the manifest, checked against the plan's fingerprint (a
        saved plan must write what was reviewed, not what a key file holds now)."""
        ref = self.ref(ctx.manifest, change)
        if ref is None:
            raise GridctlError(f"{change.address} is no longer declared in the manifest; plan again")
        value = secret_value(ctx.manifest, ref)
        if PLACEHOLDER in value.reveal():
            where = f"key {ref.key}" if ref.key else "its source"
            raise GridctlError(
                f"{change.address}: {where} still holds the placeholder written by gridctl import; "
                "put the real value there first (nothing was written)"
            )
        want = (change.after or {}).get("fingerprint")
        if want and value.fingerprint(ctx.env.fp_key) != want:
            raise GridctlError(f"the value of {change.address} changed since the plan was made; plan again")
        return value

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        name = change.meta["name"]
        base = self.collection(change)
        url = f"{base}/{_q(name)}"
        if change.action == Action.DELETE:
            self.delete(client, change, url)
            return ApplyResult(None, result={"deleted": True})
        value = self.value(ctx, change)
        body = {**self.put_body(ctx, client, change), **client.seal(base, value)}
        client.raw("PUT", url, body)
        # GitHub answers the PUT with no updated_at (201 with an empty object, or 204): it is
        # read back — once per batch (an account's collection, :meth:`batch`), after the plan's
        # last write to it
        batch = str(self.batch(change))
        if change.address in ctx.deferred:
            ctx.batches.setdefault(batch, []).append(change)
            return ApplyResult(self._entry(change, None), result={"read_back": "with the collection"})
        written = [*ctx.batches.pop(batch, []), change]
        if len(written) == 1:
            stamps = {str(name).upper(): (client.raw("GET", url) or {}).get("updated_at")}
        else:
            rows = client.get_list(base, key="secrets") or []
            stamps = {str(r.get("name", "")).upper(): r.get("updated_at") for r in rows}
        updated_at = stamps.get(str(name).upper())
        more = {c.address: self._entry(c, stamps.get(str(c.meta["name"]).upper())) for c in written[:-1]}
        return ApplyResult(self._entry(change, updated_at), more_state=more, result={"updated_at": updated_at})

    def _entry(self, change: Change, updated_at: Any) -> dict[str, Any]:
        return {
            "kind": self.name,
            "scope": change.scope,
            "account": change.account,
            "fingerprint": (change.after or {}).get("fingerprint"),
            "updated_at": updated_at,
        }

    def batch(self, change: Change) -> str | None:
        # per account as well as per collection: every account's Codespaces secrets are at one
        # URL (/user/codespaces/secrets), each in its own account, read back with its own token;
        # and accounts write on lanes of their own, so one account's read-back may come before
        # another's write to a collection they share
        return None if change.action == Action.DELETE else f"{self.writer(change)} {self.collection(change)}"

    def delete(self, client: AccountClient, change: Change, url: str) -> None:
        client.delete(url, f"delete secret {change.address}")


# -- repository Actions / Dependabot secrets ------------------------------------------------------


class RepoSecret(SecretKind):
    name = "secret"

    def app_permissions(self, m: Manifest) -> list[tuple[str, str, str, str]]:
        need = {"actions": "secrets", "dependabot": "dependabot_secrets"}
        return [(r.account, need[t], "write", f"repos.{r.full_name}.secrets.{t}")
                for r in m.repos.values() for t, names in sorted(r.secrets.items()) if names and t in need]
    # "up to ... 100 repository secrets, and 100 environment secrets" (per type) —
    # https://docs.github.com/en/actions/reference/security/secrets#limits-for-secrets
    max_per_scope = 100

    def limit_group(self, key: str) -> str:
        return key.split(":", 1)[0]  # actions | dependabot
    order = 50
    prune_key = "secrets"

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.name}:{key}"  # key is "<type>:<NAME>"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        states = self._state_scopes(env)
        out = []
        for spec in env.manifest.repos.values():
            types = {t for t, secrets in spec.secrets.items() if secrets}
            for address, _ in states.get(spec.full_name, []):
                types.add(address.rsplit(":", 2)[-2])
            if spec.prune.get(self.prune_key):
                types.update(TYPES)
            if types:
                out.append(Scope(self.name, spec.account, spec.full_name, spec.full_name, (("types", tuple(sorted(types))),)))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        assert spec is not None
        out = {}
        for typ, secrets in spec.secrets.items():
            for name, ref in secrets.items():
                key = f"{typ}:{name}"
                out[key] = self._item(env, key, ref, {}, {"type": typ, "name": name})
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        out = {}
        for typ in scope.get("types", TYPES):
            for s in reader.list(f"/repos/{scope.name}/{typ}/secrets", key="secrets") or []:
                name = s["name"].upper()
                out[f"{typ}:{name}"] = Item(f"{typ}:{name}", meta={"type": typ, "name": name, "updated_at": s.get("updated_at")})
        return out

    def collection(self, change: Change) -> str:
        return f"/repos/{change.scope}/{change.meta['type']}/secrets"

    def ref(self, manifest: Manifest, change: Change) -> SecretRef | None:
        spec = manifest.repo(change.scope)
        return (spec.secrets.get(change.meta["type"]) or {}).get(change.meta["name"]) if spec else None


# -- environment secrets ----------------------------------------------------------------------------

ENV_SEP = " env "


class EnvSecret(SecretKind):
    name = "env-secret"

    def app_permissions(self, m: Manifest) -> list[tuple[str, str, str, str]]:
        return [(r.account, "environments", "write", f"repos.{r.full_name}.environments.{e.name}.secrets")
                for r in m.repos.values() for e in r.environments.values() if e.secrets]
    max_per_scope = 100
    order = 55

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.repo}:{scope.get('env')}:{key}"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        states = self._state_scopes(env)
        out = []
        for spec in env.manifest.repos.values():
            envs: dict[str, str] = {}  # lower -> name
            for env_name, e in spec.environments.items():
                if e.secrets:
                    envs[env_name.lower()] = env_name
            prefix = (spec.full_name + ENV_SEP).lower()
            for scope_name in states:
                if scope_name.lower().startswith(prefix):
                    env_name = scope_name[len(prefix):]
                    envs.setdefault(env_name.lower(), env_name)
            for env_name in sorted(envs.values()):
                out.append(Scope(self.name, spec.account, f"{spec.full_name}{ENV_SEP}{env_name}", spec.full_name, (("env", env_name),)))
        return out

    def _spec_env(self, manifest: Manifest, repo: str, env_name: str) -> Any:
        spec = manifest.repo(repo)
        if spec is None:
            return None
        for name, e in spec.environments.items():
            if name.lower() == env_name.lower():
                return e
        return None

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        e = self._spec_env(env.manifest, scope.repo or "", scope.get("env"))
        if e is None:
            return {}
        return {name: self._item(env, name, ref, {}, {"name": name, "env": scope.get("env")}) for name, ref in e.secrets.items()}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.repo or "") is None:
            return {}
        env_name = scope.get("env")
        items = reader.list(f"/repos/{scope.repo}/environments/{_q(env_name)}/secrets", key="secrets") or []
        return {s["name"].upper(): Item(s["name"].upper(), meta={"name": s["name"].upper(), "env": env_name, "updated_at": s.get("updated_at")}) for s in items}

    def collection(self, change: Change) -> str:
        repo = change.scope.split(ENV_SEP, 1)[0]
        return f"/repos/{repo}/environments/{_q(change.meta['env'])}/secrets"

    def ref(self, manifest: Manifest, change: Change) -> SecretRef | None:
        e = self._spec_env(manifest, change.scope.split(ENV_SEP, 1)[0], change.meta["env"])
        return e.secrets.get(change.meta["name"]) if e is not None else None


# -- organization secrets ---------------------------------------------------------------------------


class OrgSecret(SecretKind):
    name = "org-secret"
    app_scope_permissions: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {"admin:org": (("organization_secrets", "write"),)}
    max_per_scope = 1000

    def limit_group(self, key: str) -> str:
        return key.split(":", 1)[0]
    order = 90

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(s.account, "admin:org", f"org_secrets.{s.account}") for s in m.org_secrets]

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.get('org')}:{key}"  # key is "<type>:<NAME>"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        states = self._state_scopes(env)
        out = []
        for acc in env.manifest.accounts.values():
            if not acc.is_org or acc.id not in env.clients:
                continue
            scope_name = f"org {acc.login}"
            declared = [s for s in env.manifest.org_secrets if s.account == acc.id]
            types = {s.type for s in declared}
            for address, _ in states.get(scope_name, []):
                types.add(address.rsplit(":", 2)[-2])
            if not types:
                continue
            watch = tuple(sorted(f"{s.type}:{s.name}" for s in declared if s.visibility == "selected"))
            out.append(Scope(self.name, acc.id, scope_name, None, (("org", acc.login), ("types", tuple(sorted(types))), ("watch", watch))))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        out = {}
        for s in env.manifest.org_secrets:
            if s.account != scope.account:
                continue
            attrs: dict[str, Any] = {"visibility": s.visibility}
            if s.visibility == "selected":
                attrs["repos"] = _lower_sorted(s.repos)
            key = f"{s.type}:{s.name}"
            out[key] = self._item(env, key, s.ref, attrs, {"type": s.type, "name": s.name, "org": scope.get("org")})
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        org = scope.get("org")
        watch = set(scope.get("watch", ()))
        out = {}
        for typ in scope.get("types", TYPES):
            for s in reader.list(f"/orgs/{org}/{typ}/secrets", key="secrets") or []:
                name = s["name"].upper()
                key = f"{typ}:{name}"
                attrs: dict[str, Any] = {"visibility": s.get("visibility")}
                if s.get("visibility") != "selected":
                    attrs["repos"] = []
                elif key in watch:
                    repos = reader.list(f"/orgs/{org}/{typ}/secrets/{name}/repositories", key="repositories") or []
                    attrs["repos"] = _lower_sorted([r["full_name"] for r in repos])
                out[key] = Item(key, attrs=attrs, meta={"type": typ, "name": name, "org": org, "updated_at": s.get("updated_at")})
        return out

    def collection(self, change: Change) -> str:
        return f"/orgs/{change.meta['org']}/{change.meta['type']}/secrets"

    def ref(self, manifest: Manifest, change: Change) -> SecretRef | None:
        for s in manifest.org_secrets:
            if s.account == change.account and s.type == change.meta["type"] and s.name == change.meta["name"]:
                return s.ref
        return None

    def put_body(self, ctx: ApplyContext, client: AccountClient, change: Change) -> dict[str, Any]:
        after = change.after or {}
        body: dict[str, Any] = {"visibility": after["visibility"]}
        if after["visibility"] == "selected":
            ids = repo_ids(client, after.get("repos") or [], f"{change.address}: ")
            # GitHub's description of the Dependabot organization secret types selected_repository_ids
            # as strings, the Actions one as integers
            body["selected_repository_ids"] = [str(i) for i in ids] if change.meta["type"] == "dependabot" else ids
        return body


# -- Codespaces user secrets ------------------------------------------------------------------------

CODESPACES = "/user/codespaces/secrets"


class CodespacesSecret(SecretKind):
    name = "codespaces-secret"
    order = 92

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(cs.account, "codespace", f"codespaces_secrets.{cs.account}") for cs in m.codespaces_secrets]

    def address(self, scope: Scope, key: str) -> str:
        return f"{self.name}:{scope.get('login')}:{key}"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        states = self._state_scopes(env)
        out = []
        for acc in env.manifest.accounts.values():
            if acc.is_org or acc.id not in env.clients:
                continue
            scope_name = f"user {acc.login}"
            declared = [s for s in env.manifest.codespaces_secrets if s.account == acc.id]
            if not declared and not states.get(scope_name):
                continue
            watch = tuple(sorted(s.name for s in declared))
            out.append(Scope(self.name, acc.id, scope_name, None, (("login", acc.login), ("watch", watch))))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        return {
            s.name: self._item(env, s.name, s.ref, {"repos": _lower_sorted(s.repos)}, {"name": s.name})
            for s in env.manifest.codespaces_secrets
            if s.account == scope.account
        }

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        watch = set(scope.get("watch", ()))
        out = {}
        for s in reader.list(CODESPACES, key="secrets") or []:
            name = s["name"].upper()
            attrs: dict[str, Any] = {}
            if name in watch:
                data = reader.get(f"{CODESPACES}/{name}/repositories") or {}
                attrs["repos"] = _lower_sorted([r["full_name"] for r in data.get("repositories") or []])
            out[name] = Item(name, attrs=attrs, meta={"name": name, "updated_at": s.get("updated_at")})
        return out

    def collection(self, change: Change) -> str:
        return CODESPACES

    def ref(self, manifest: Manifest, change: Change) -> SecretRef | None:
        for s in manifest.codespaces_secrets:
            if s.account == change.account and s.name == change.meta["name"]:
                return s.ref
        return None

    def put_body(self, ctx: ApplyContext, client: AccountClient, change: Change) -> dict[str, Any]:
        repos = (change.after or {}).get("repos") or []
        login = change.scope.split(" ", 1)[-1]
        return {"selected_repository_ids": repo_ids(client, repos, f"{change.address}: ", f" to {login}")}


def repo_ids(client: AccountClient, repos: list[str], prefix: str = "", seen_by: str = "") -> list[int]:
    """Repository ids for full names, as ``client`` sees them (one GET each, conditional)."""
    ids = []
    for full in repos:
        data = client.get(f"/repos/{full}")
        if data is None:
            raise GridctlError(f"{prefix}repository {full} does not exist or is not visible{seen_by}")
        ids.append(int(data["id"]))
    return ids


KINDS = [RepoSecret(), EnvSecret(), OrgSecret(), CodespacesSecret()]
