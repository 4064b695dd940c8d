"""Kinds ``runner-group`` (organization runner groups) and ``runner`` (self-hosted runners at
repository or organization scope, registered just in time).

``runner-group`` — ``runner_groups.<org account>.<name>``. Managed fields: ``visibility``,
``repos`` (for ``selected``; lower-case ``owner/name``), ``allows_public_repos``,
``restricted_to_workflows`` and ``selected_workflows``. The built-in Default group is never
managed. Reads: one list call per organization, plus one call per declared or managed group
with visibility ``selected`` (its repositories; GitHub has no bulk form). Writes: raw
requests (PyGithub has no runner-group API): POST, PATCH (+ PUT of the repository ids), DELETE.

``runner`` — one per declared name (``runners: [{scope, names, labels, group, ...}]``), keyed
by the lower-cased name (GitHub runner names are case-insensitive). Managed fields:

* ``labels`` — the custom labels, sorted. The labels GitHub gives every runner itself
  (``self-hosted``, the OS and the architecture) are read-only and left alone: declaring them
  is allowed (they pick the platform at registration) but they are never compared or set.
  Changes go through the label endpoint (``PUT .../runners/{id}/labels``, raw).
* ``group`` (organization runners) — the runner group's name (``Default`` when none is set).
  A new runner is registered into it (``runner_group_id``); an existing one is moved with
  ``PUT /orgs/{org}/actions/runner-groups/{id}/runners/{runner_id}``.

``status`` and ``busy`` are read too: they are never compared, but a planned delete shows
them, so a plan that removes a runner says whether it is running a job.

Registration: one raw ``POST .../actions/runners/generate-jitconfig`` (an organization's or a
repository's runners URL, the same body). The JIT configuration is a credential:
it goes from GitHub's answer into a ``Sensitive`` and into its own 0600 file
(:mod:`gridctl.fleet.jitfile`), never into a change, the plan, the journal or the state
(which keep only the file's path). A JIT runner is ephemeral: after one job GitHub removes it,
and the next plan registers it again (a new file).

Decisions:

* a declared runner that does not exist is created (registered, JIT file written);
* a declared runner that exists but is **offline and has no JIT file here** (the host lost it,
  or the registration was made elsewhere) cannot be started again: the plan updates it with a
  ``registration`` change, and apply deletes the stale registration and registers it again
  (a new id and a new JIT file). Offline with its file present is only a note (start it with
  ``gridctl runners run``); online without a local file is left alone (it runs elsewhere);
* a managed runner removed from the manifest: offline or idle -> deleted (and its JIT file
  removed); online and busy -> apply waits for the job to end (``GRIDCTL_RUNNER_WAIT``
  seconds, default 300, polling every ``GRIDCTL_RUNNER_POLL``) and, if it is still busy,
  skips it with a message and keeps it in state, so the next apply tries again. A running job
  is never cancelled.

Reads: one list call per scope (``GET .../actions/runners``, per_page 100); an organization
scope also lists the runner groups when one of its runners is outside the Default group
(memoized with the ``runner-group`` kind's read of the same list).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import GitHubError, GridctlError, ManifestError
from ..fleet import jitfile
from ..fleet.waiting import wait_settings, wait_until_idle
from ..manifest.model import Manifest, RunnerGroupSpec, RunnerSpec
from ..manifest.sections import Section, SectionContext
from ..manifest.sources import Sensitive
from ..manifest.yamlpos import PathT
from ..plan import Action, Change, FieldDiff
from .base import ApplyResult, Item, Kind, Scope, attr_diffs

if TYPE_CHECKING:
    from .base import ApplyContext, PlanEnv, Reader

DEFAULT_GROUP_ID = 1
DEFAULT_GROUP = "Default"


def org_scope_name(login: str) -> str:
    return f"org {login}"


def groups_url(org: str) -> str:
    return f"/orgs/{org}/actions/runner-groups"


def list_groups(reader: Reader, org: str) -> list[dict[str, Any]]:
    """Every runner group of ``org`` (memoized: both kinds call it with the same arguments)."""
    return reader.list(groups_url(org), key="runner_groups") or []


def _runner_dir(env: PlanEnv) -> str:
    return str((env.manifest.data.get("settings") or {}).get("runner_dir", "runners"))


def _state_scopes(env: PlanEnv, kind: str) -> dict[str, tuple[str, list[str]]]:
    """Scope name -> (account, managed keys) for this kind's state entries whose account is
    still in the manifest."""
    out: dict[str, tuple[str, list[str]]] = {}
    for address, entry in env.state.of_kind(kind).items():
        if entry.get("account") not in env.clients:
            continue
        acc, keys = out.setdefault(entry["scope"], (entry["account"], []))
        keys.append(address.rsplit(":", 1)[-1])
    return out


# -- runner groups --------------------------------------------------------------------------------
GROUPS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Self-hosted runner groups, by organization account id.",
    "propertyNames": {"$ref": "#/$defs/localId"},
    "additionalProperties": {"type": "object", "additionalProperties": {"$ref": "#/$defs/runnerGroup"}},
}
GROUP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "visibility": {"enum": ["all", "selected", "private"]},
        "repos": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "allows_public_repos": {"type": "boolean"},
        "restricted_to_workflows": {"type": "boolean"},
        "selected_workflows": {"type": "array", "items": {"type": "string"}},
    },
}


def parse_groups(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> list[RunnerGroupSpec]:
    """``runner_groups.<org account>.<name>``: the declared groups (the built-in Default group
    cannot be declared)."""
    out: list[RunnerGroupSpec] = []
    for acc_id, gname, g, gp in ctx.per_org(raw, path):
        if gname.lower() == "default":
            ctx.error(gp, "the Default runner group is built in and cannot be declared", key=True)
            continue
        vis, repos = ctx.visibility(g, gp, acc_id)
        out.append(
            RunnerGroupSpec(acc_id, gname, vis, repos, bool(g.get("allows_public_repos", False)), bool(g.get("restricted_to_workflows", False)), list(g.get("selected_workflows") or []), gp)
        )
    return out


class RunnerGroup(Kind):
    name = "runner-group"
    app_scope_permissions: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "admin:org": (("organization_self_hosted_runners", "write"),)}
    order = 100
    sections = (Section("runner_groups", "top", GROUPS_SCHEMA, parse_groups, defs={"runnerGroup": GROUP_SCHEMA}),)

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(g.account, "admin:org", f"runner_groups.{g.account}") for g in m.runner_groups]

    def scopes(self, env: PlanEnv) -> list[Scope]:
        watch: dict[str, set[str]] = {}
        for g in env.manifest.runner_groups:
            watch.setdefault(g.account, set()).add(g.name.lower())
        for scope_name, (acc_id, keys) in _state_scopes(env, self.name).items():
            acc = env.manifest.accounts.get(acc_id)
            if acc is not None and acc.is_org and scope_name == org_scope_name(acc.login):
                watch.setdefault(acc_id, set()).update(keys)
        out = []
        for acc_id in sorted(watch):
            login = env.manifest.accounts[acc_id].login
            out.append(Scope(self.name, acc_id, org_scope_name(login), None, (("org", login), ("watch", tuple(sorted(watch[acc_id]))))))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        out: dict[str, Item] = {}
        for g in env.manifest.runner_groups:
            if g.account != scope.account:
                continue
            attrs: dict[str, Any] = {
                "visibility": g.visibility,
                "allows_public_repos": g.allows_public_repos,
                "restricted_to_workflows": g.restricted_to_workflows,
                "selected_workflows": list(g.selected_workflows),
            }
            if g.visibility == "selected":
                attrs["repos"] = sorted({r.lower() for r in g.repos})
            key = g.name.lower()
            out[key] = Item(key, attrs=attrs, meta={"name": g.name}, source=env.manifest.positions.source(g.path))
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        org = scope.get("org")
        watch = set(scope.get("watch", ()))
        out: dict[str, Item] = {}
        for g in list_groups(reader, org):
            if g.get("default") or g["id"] == DEFAULT_GROUP_ID:
                continue
            key = g["name"].lower()
            attrs: dict[str, Any] = {
                "visibility": g.get("visibility", "all"),
                "allows_public_repos": bool(g.get("allows_public_repositories", False)),
                "restricted_to_workflows": bool(g.get("restricted_to_workflows", False)),
                "selected_workflows": list(g.get("selected_workflows") or []),
            }
            if attrs["visibility"] == "selected" and key in watch:
                repos = reader.list(f"{groups_url(org)}/{g['id']}/repositories", key="repositories") or []
                attrs["repos"] = sorted(r["full_name"].lower() for r in repos)
            out[key] = Item(key, attrs=attrs, meta={"id": g["id"], "name": g["name"]})
        return out

    # -- apply ------------------------------------------------------------------------------------
    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        org = self.scope_for_change(change).get("org")
        name = change.meta.get("name") or change.meta["key"]
        base = groups_url(org)
        entry: dict[str, Any] = {"kind": self.name, "scope": change.scope, "account": change.account}
        if change.action == Action.DELETE:
            gid = change.meta.get("id") or (self._find(client, org, name) or {}).get("id")
            if gid is not None:
                try:
                    client.raw("DELETE", f"{base}/{gid}")
                except GitHubError as exc:
                    if exc.status != 404:
                        raise
            return ApplyResult(None, result={"id": gid})
        after = dict(change.after or {})
        visibility = after.get("visibility", "all")
        body: dict[str, Any] = {
            "name": name,
            "visibility": visibility,
            "allows_public_repositories": bool(after.get("allows_public_repos", False)),
            "restricted_to_workflows": bool(after.get("restricted_to_workflows", False)),
            "selected_workflows": list(after.get("selected_workflows") or []),
        }
        ids = _repo_ids(client, list(after.get("repos") or []), f"runner group {name}") if visibility == "selected" else None
        if change.action == Action.CREATE:
            if ids is not None:
                body["selected_repository_ids"] = ids
            data = client.raw("POST", base, body, verify=lambda: self._find(client, org, name))
            gid = data["id"]
            return ApplyResult({**entry, "id": gid}, result={"id": gid})
        gid = change.meta.get("id")
        if gid is None:
            found = self._find(client, org, name)
            if found is None:
                raise GitHubError(f"runner group {name} of {org} no longer exists")
            gid = found["id"]
        client.raw("PATCH", f"{base}/{gid}", body)
        changed = {d.field for d in change.diffs}
        if ids is not None and (not changed or changed & {"repos", "visibility"}):
            client.raw("PUT", f"{base}/{gid}/repositories", {"selected_repository_ids": ids})
        return ApplyResult({**entry, "id": gid}, result={"id": gid})

    def _find(self, client: Any, org: str, name: str) -> dict[str, Any] | None:
        for g in client.get_list(groups_url(org), key="runner_groups") or []:
            if g["name"].lower() == name.lower():
                found: dict[str, Any] = g
                return found
        return None


def _repo_ids(client: Any, repos: list[str], what: str) -> list[int]:
    ids = []
    for full in repos:
        data = client.get(f"/repos/{full}")
        if data is None:
            raise GitHubError(f"repository {full} (selected for {what}) does not exist or is not visible")
        ids.append(int(data["id"]))
    return ids


# -- runners ------------------------------------------------------------------------------------


def _specs_by_scope(manifest: Manifest) -> dict[str, list[RunnerSpec]]:
    """The manifest's runner specs by lower-cased scope name, in manifest order (an index kept
    on the manifest, rebuilt when its ``runners`` changed): one pass, not one per scope."""
    runners = manifest.runners
    index = manifest.__dict__.get("_runner_index")
    if index is None or index[0] is not runners or index[1] != len(runners):
        by_scope: dict[str, list[RunnerSpec]] = {}
        for spec in runners:
            by_scope.setdefault(runner_scope_name(spec.scope).lower(), []).append(spec)
        index = manifest.__dict__["_runner_index"] = (runners, len(runners), by_scope)
    found: dict[str, list[RunnerSpec]] = index[2]
    return found


def runner_scope_name(spec_scope: str) -> str:
    """A RunnerSpec scope (``owner/repo`` or ``org:<login>``) -> the plan's scope name."""
    return org_scope_name(spec_scope[4:]) if spec_scope.startswith("org:") else spec_scope


def runners_url(scope: Scope) -> str:
    org = scope.get("org")
    return f"/orgs/{org}/actions/runners" if org else f"/repos/{scope.name}/actions/runners"


def custom_labels(names: list[str]) -> list[str]:
    """Declared or live labels without GitHub's read-only defaults, de-duplicated
    case-insensitively (first spelling wins), sorted."""
    seen: dict[str, str] = {}
    for n in names:
        n = n.strip()
        if n and n.lower() not in jitfile.DEFAULT_LABELS and n.lower() not in seen:
            seen[n.lower()] = n
    return sorted(seen.values())


def group_name(group: str | None) -> str:
    return DEFAULT_GROUP if group is None or group.lower() == "default" else group


def read_runners(reader: Reader, scope: Scope) -> list[dict[str, Any]] | None:
    """The scope's runners as GitHub lists them, each with ``group`` (its group's name) added;
    None when the repository or organization cannot be read."""
    items = reader.list(runners_url(scope), key="runners")
    if items is None:
        return None
    org = scope.get("org")
    names: dict[int, str] = {DEFAULT_GROUP_ID: DEFAULT_GROUP}
    if org and any(r.get("runner_group_id", DEFAULT_GROUP_ID) != DEFAULT_GROUP_ID for r in items):
        names.update({g["id"]: g["name"] for g in list_groups(reader, org)})
    out = []
    for r in items:
        gid = r.get("runner_group_id", DEFAULT_GROUP_ID)
        out.append({**r, "group": names.get(gid, f"#{gid}")})
    return out


RUNNERS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": "Self-hosted runner registrations (JIT config).",
    "items": {"$ref": "#/$defs/runnerSet"},
}
RUNNER_SET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["scope", "names"],
    "properties": {
        "scope": {"type": "string", "description": "owner/repo, or org:<account id or org login>."},
        "names": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}},
        "labels": {"type": "array", "maxItems": 100, "uniqueItems": True, "items": {"type": "string", "minLength": 1, "maxLength": 256}},
        "group": {"type": "string", "minLength": 1},
        "work_folder": {"type": "string", "minLength": 1},
        "jit_config": {"type": "object", "additionalProperties": False, "properties": {"write_to": {"type": "string", "minLength": 1}}},
    },
}


def _runner_account(ctx: SectionContext, rs: dict[str, Any], rp: PathT) -> tuple[str, str] | None:
    """The scope (``owner/repo`` or ``org:<login>``) and account of a runner set, or None after
    an error."""
    m = ctx.manifest
    scope: str = rs["scope"]
    if scope.startswith("org:"):
        org = scope[4:]
        acc = m.accounts.get(org) or m.account_for_owner(org)
        if acc is None or not acc.is_org:
            ctx.error(rp + ("scope",), f"runner scope {scope}: no organization account {org!r} in this manifest", "org:<name> names an account id or organization login declared with `org:`; a repository runner's scope is owner/repo")
            return None
        groups = {g.name for g in m.runner_groups if g.account == acc.id} | {"default", "Default"}
        if rs.get("group") and rs["group"] not in groups:
            ctx.error(rp + ("group",), f"runner group {rs['group']!r} is not declared under runner_groups.{acc.id}")
        return f"org:{acc.login}", acc.id
    repo = m.repo(scope)
    if repo is None:
        if scope.count("/") != 1:
            ctx.error(rp + ("scope",), f"runner scope {scope!r} must be owner/repo or org:<name>")
            return None
        owner = m.account_for_owner(scope.split("/")[0])
        if owner is None:
            ctx.error(rp + ("scope",), f"no account manages {scope} (declare it under repos or add an account for its owner)")
            return None
        account = owner.id
    else:
        scope, account = repo.full_name, repo.account
    if rs.get("group") not in (None, "default", "Default"):
        ctx.error(rp + ("group",), "repository runners can only be in the default group")
    return scope, account


def parse_runners(ctx: SectionContext, raw: list[dict[str, Any]], path: PathT) -> list[RunnerSpec]:
    """``runners: [{scope, names, ...}]``: one spec per name (a name declared twice in one scope
    is an error)."""
    runner_dir = (ctx.manifest.data.get("settings") or {}).get("runner_dir", "runners")
    seen: set[tuple[str, str]] = set()
    out: list[RunnerSpec] = []
    for i, rs in enumerate(raw):
        rp = path + (i,)
        found = _runner_account(ctx, rs, rp)
        if found is None:
            continue
        scope, account = found
        for j, name in enumerate(rs["names"]):
            key = (scope.lower(), name.lower())
            if key in seen:
                ctx.error(rp + ("names", j), f"runner {name} is declared twice in {scope}")
                continue
            seen.add(key)
            out.append(
                RunnerSpec(scope, account, name, list(rs.get("labels") or []), rs.get("group"), rs.get("work_folder", "_work"), (rs.get("jit_config") or {}).get("write_to", runner_dir), rp + ("names", j))
            )
    return out


class Runner(Kind):
    name = "runner"
    app_scope_permissions: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "admin:org": (("organization_self_hosted_runners", "write"),)}
    order = 110
    sections = (Section("runners", "top", RUNNERS_SCHEMA, parse_runners, defs={"runnerSet": RUNNER_SET_SCHEMA}),)

    def token_scopes(self, m: Manifest) -> list[tuple[str, str, str]]:
        return [(rn.account, "admin:org", f"runners (scope {rn.scope})") for rn in m.runners if rn.is_org]

    def scopes(self, env: PlanEnv) -> list[Scope]:
        found: dict[str, tuple[str, str]] = {}  # lower-cased scope name -> (name, account)
        for spec in env.manifest.runners:
            name = runner_scope_name(spec.scope)
            found.setdefault(name.lower(), (name, spec.account))
        for name, (acc_id, _) in _state_scopes(env, self.name).items():
            found.setdefault(name.lower(), (name, acc_id))
        return [self.scope_of(name, acc) for _, (name, acc) in sorted(found.items())]

    def scope_of(self, scope_name: str, account: str) -> Scope:
        if scope_name.startswith("org "):
            return Scope(self.name, account, scope_name, None, (("org", scope_name[4:]),))
        return Scope(self.name, account, scope_name, scope_name)

    def specs(self, env: PlanEnv, scope: Scope) -> list[RunnerSpec]:
        return _specs_by_scope(env.manifest).get(scope.name.lower(), [])

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        out: dict[str, Item] = {}
        root = env.manifest.root
        for spec in self.specs(env, scope):
            try:  # a JIT file path outside the manifest's folder is refused, at plan time
                rel = jitfile.relpath(spec.write_to, spec.scope, spec.name)
                path = jitfile.resolve(root, rel)
            except jitfile.JitPathError as exc:
                sets = env.manifest.data.get("runners") or []
                own = spec.path[1] < len(sets) and "jit_config" in sets[spec.path[1]]
                where = spec.path[:2] + ("jit_config", "write_to") if own else ("settings", "runner_dir")
                raise ManifestError([env.manifest.positions.diag(where, str(exc))]) from None
            attrs: dict[str, Any] = {"labels": custom_labels(spec.labels)}
            if spec.is_org:
                attrs["group"] = group_name(spec.group)
            meta = {
                "name": spec.name,
                "jit_labels": list(spec.labels) or ["self-hosted"],
                "work_folder": spec.work_folder,
                "jit_file": rel,
                "jit_present": path.is_file(),
            }
            out[spec.name.lower()] = Item(spec.name.lower(), attrs=attrs, meta=meta, source=env.manifest.positions.source(spec.path))
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        out: dict[str, Item] = {}
        for r in read_runners(reader, scope) or []:
            key = r["name"].lower()
            attrs: dict[str, Any] = {
                "labels": custom_labels([lb["name"] for lb in r.get("labels", []) if lb.get("type", "custom") == "custom"]),
            }
            if scope.get("org"):
                attrs["group"] = r["group"]
            # status and busy are facts of the moment, not settings: kept out of attrs so they
            # are never compared nor part of a saved plan's stale fingerprint
            meta = {
                "id": r["id"],
                "name": r["name"],
                "runner_group_id": r.get("runner_group_id", DEFAULT_GROUP_ID),
                "status": r.get("status"),
                "busy": bool(r.get("busy")),
            }
            out[key] = Item(key, attrs=attrs, meta=meta)
        return out

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list[FieldDiff], str]:
        have = dict(live.attrs)
        want_group = desired.attrs.get("group")
        if want_group is not None and str(have.get("group", "")).lower() == want_group.lower():
            have["group"] = want_group  # group names are case-insensitive on GitHub
        diffs = attr_diffs(desired.attrs, have)
        rel = desired.meta.get("jit_file")
        if live.meta.get("status") == "offline" and not desired.meta.get("jit_present"):
            diffs.append(FieldDiff("registration", "offline, no JIT file here", "registered again (new JIT file)"))
            return diffs, f"offline and its JIT file {rel} is missing: delete the stale registration and register it again"
        if live.meta.get("status") == "offline" and not diffs:
            return [], f"offline; its JIT file {rel} is ready (start it with `gridctl runners run`)"
        return diffs, ""

    def delete_reason(self, live: Item, state: dict[str, Any] | None) -> str | None:
        if live.meta.get("busy"):
            timeout, _ = wait_settings()
            return f"online and busy: apply waits up to {timeout:g}s for its job to end, then skips it (never cancels a job)"
        if live.meta.get("status") == "online":
            return "online and idle: deleted"
        return None

    def delete_meta(self, env: PlanEnv, scope: Scope, state: dict[str, Any] | None) -> dict[str, Any]:
        rel = (state or {}).get("jit_file")
        if rel is None:  # adopted, never registered by gridctl here: where it would have been
            runner_dir = _runner_dir(env)
            spec_scope = f"org:{scope.get('org')}" if scope.get("org") else scope.name
            key = (state or {}).get("name") or ""
            if key:
                rel = jitfile.relpath(runner_dir, spec_scope, key)
        return {"jit_file": rel} if rel else {}

    def state_entry(self, scope: Scope, live: Item) -> dict[str, Any]:
        return {"kind": self.name, "scope": scope.name, "account": scope.account, "id": live.meta["id"], "name": live.meta["name"]}

    # -- apply ------------------------------------------------------------------------------------
    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        scope = self.scope_for_change(change)
        if change.action == Action.CREATE:
            return self._register(ctx, client, scope, change)
        if change.action == Action.DELETE:
            return self._delete(ctx, client, scope, change)
        fields = {d.field for d in change.diffs}
        if "registration" in fields:
            self._remove_registration(client, scope, change.meta.get("id"), change.address)
            return self._register(ctx, client, scope, change)
        rid = change.meta["id"]
        after = dict(change.after or {})
        name = change.meta.get("name") or change.meta["key"]
        if "labels" in fields:
            client.raw("PUT", f"{runners_url(scope)}/{rid}/labels", {"labels": list(after.get("labels") or [])})
        if "group" in fields and scope.get("org"):
            gid = self._group_id(client, scope.get("org"), after.get("group"))
            client.raw("PUT", f"{groups_url(scope.get('org'))}/{gid}/runners/{rid}")
        entry = {**(ctx.env.state.get(change.address) or {}), **self._entry(change, rid, name)}
        return ApplyResult(entry, result={"id": rid})

    def _entry(self, change: Change, rid: Any, name: str) -> dict[str, Any]:
        entry = {"kind": self.name, "scope": change.scope, "account": change.account, "id": rid, "name": name}
        if change.meta.get("jit_file"):
            entry["jit_file"] = change.meta["jit_file"]
        return entry

    def _group_id(self, client: Any, org: str | None, group: str | None) -> int:
        group = group_name(group)
        if org is None or group == DEFAULT_GROUP:
            return DEFAULT_GROUP_ID
        for g in client.get_list(groups_url(org), key="runner_groups") or []:
            if g["name"].lower() == group.lower():
                return int(g["id"])
        raise GitHubError(f"runner group {group} does not exist in {org}")

    def _register(self, ctx: ApplyContext, client: Any, scope: Scope, change: Change) -> ApplyResult:
        meta = change.meta
        after = dict(change.after or {})
        name = meta.get("name") or meta["key"]
        labels = list(meta.get("jit_labels") or after.get("labels") or []) or ["self-hosted"]
        work_folder = meta.get("work_folder") or "_work"
        org = scope.get("org")
        rel = meta.get("jit_file") or jitfile.relpath(str((ctx.manifest.data.get("settings") or {}).get("runner_dir", "runners")), f"org:{org}" if org else scope.name, name)
        root = ctx.manifest.root
        jitfile.resolve(root, rel)  # refuse before registering anything
        gid = self._group_id(client, org, after.get("group"))
        # one request for an organization's runner and a repository's: GitHub Docs, "Create
        # configuration for a just-in-time runner for an organization / for a repository",
        # https://docs.github.com/en/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-an-organization
        body = {"name": name, "runner_group_id": gid, "labels": labels, "work_folder": work_folder}
        data = client.raw("POST", f"{runners_url(scope)}/generate-jitconfig", body, idempotent=False)
        config, rid = Sensitive(data.pop("encoded_jit_config")), data["runner"]["id"]
        del data  # what is left names the runner; the configuration is only in ``config``
        try:
            jitfile.write(root, rel, config)
        except OSError as exc:
            # a registration nobody can start is useless: take it back, then report
            try:
                client.raw("DELETE", f"{runners_url(scope)}/{rid}")
            except GitHubError:
                pass
            raise GridctlError(f"cannot write the JIT file {rel} ({exc.strerror or exc.__class__.__name__}); the registration of runner {name} was removed") from None
        del config
        entry = {"kind": self.name, "scope": change.scope, "account": change.account, "id": rid, "name": name, "jit_file": rel}
        return ApplyResult(entry, result={"id": rid, "jit_file": rel})

    def _remove_registration(self, client: Any, scope: Scope, rid: Any, address: str) -> None:
        if rid is None:
            return
        try:
            client.raw("DELETE", f"{runners_url(scope)}/{rid}")
        except GitHubError as exc:
            if exc.status != 404:
                raise

    def _delete(self, ctx: ApplyContext, client: Any, scope: Scope, change: Change) -> ApplyResult:
        rid = change.meta.get("id")
        name = change.meta.get("name") or change.meta["key"]
        rel = change.meta.get("jit_file")
        root = ctx.manifest.root
        url = f"{runners_url(scope)}/{rid}"
        what = f"runner {name} ({change.scope})"
        timeout, interval = wait_settings()
        now = client.get(url)
        if now is not None and now.get("busy"):
            if timeout > 0:
                ctx.env.say("waiting", f"{what} is running a job; waiting up to {timeout:g}s for it to finish (GRIDCTL_RUNNER_WAIT)")
            now = wait_until_idle(lambda: client.get(url), timeout=timeout, interval=interval)
        if now is not None and now.get("busy"):
            return self._skip(ctx, change, what, timeout)
        if now is not None:
            try:
                client.raw("DELETE", url)
            except GitHubError as exc:
                if exc.status == 422 and "running a job" in str(exc):  # became busy just now
                    return self._skip(ctx, change, what, timeout)
                if exc.status != 404:
                    raise
        removed = jitfile.remove(root, rel)
        return ApplyResult(None, result={"id": rid, "deleted": now is not None, "jit_file_removed": removed})

    def _skip(self, ctx: ApplyContext, change: Change, what: str, timeout: float) -> ApplyResult:
        ctx.env.say(
            "skipped",
            f"{what} is still running a job after {timeout:g}s: not deleted (gridctl never cancels a job); "
            "run apply again once it is idle",
        )
        keep = ctx.env.state.get(change.address) or self._entry(change, change.meta.get("id"), change.meta.get("name") or change.meta["key"])
        return ApplyResult(dict(keep), result={"id": change.meta.get("id"), "skipped": "busy"})

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        if result.result.get("skipped"):
            return None
        if change.action == Action.UPDATE and any(d.field == "registration" for d in change.diffs):
            return None  # a new registration cannot be undone into the old one
        return super().inverse(change, result)


KINDS = [RunnerGroup(), Runner()]
