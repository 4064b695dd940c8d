"""Kinds ``ruleset`` (a repository's, ``repos.<r>.rulesets.<name>``) and ``org-ruleset`` (an
organization's, ``org_rulesets.<org account>.<name>``).

    repos:
      alice/demo:
        rulesets:
          protect-main:
            target: branch                   # branch (default) | tag | push
            enforcement: active              # active | evaluate | disabled
            include: ["~DEFAULT_BRANCH"]     # ref names or patterns (~ALL: every branch or tag)
            exclude: ["refs/heads/tmp/*"]
            bypass:                          # who may bypass it, and when (mode: always by default)
              - {role: admin}                # a built-in role: admin | maintain | write
              - {org_admin: true, mode: pull_request}
              - {app: 12345}                 # also team: <id>, user: <id>, deploy_keys: true
            rules:
              deletion: true                 # also creation, update, non_fast_forward (force pushes),
              non_fast_forward: true         # linear_history, signed_commits
              pull_request: {approvals: 1, dismiss_stale: true, code_owners: true, last_push_approval: true,
                             thread_resolution: true, merge_methods: [squash, rebase]}
              status_checks: {strict: true, contexts: [ci/test]}
    org_rulesets:
      acme:
        every-default-branch:
          enforcement: active
          repos: {include: ["~ALL"], exclude: [sandbox-*]}   # repository names or patterns
          include: ["~DEFAULT_BRANCH"]
          rules: {deletion: true}

A ruleset is managed whole: its target, enforcement, conditions, bypass actors and rules are
what the manifest says (a rule left out is not in the ruleset, a rule GitHub has that gridctl
does not know is planned away). Fields are compared flattened (``rules.pull_request.approvals``,
``bypass``...), so a plan shows exactly the field that changed. ``prune: {rulesets: true}`` also
deletes a repository's undeclared rulesets.

GitHub facts used here (REST "Rules", https://docs.github.com/en/rest/repos/rules and
https://docs.github.com/en/rest/orgs/rules):

* ``GET /repos/{o}/{r}/rulesets`` lists a repository's rulesets, with the organization's that
  apply to it unless ``includes_parents=false`` (each has ``source_type``), and without their
  rules; ``GET .../rulesets/{id}`` has the whole ruleset; ``POST`` creates one (``name`` and
  ``enforcement`` required), ``PUT .../{id}`` updates it (``rules`` replaces the rules),
  ``DELETE`` removes it. The organization's are the same under ``/orgs/{org}/rulesets``, with a
  ``repository_name`` condition next to ``ref_name`` ("The branch and tag rulesets conditions
  object should contain both ``repository_name`` and ``ref_name``");
* who: people with admin access to a repository create, edit and delete its rulesets ("Managing
  rulesets for a repository", https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-rulesets/managing-rulesets-for-a-repository),
  and ``bypass_actors`` is "only returned if the user making the API request has write access
  to the ruleset"; an organization's need an owner (classic tokens: ``admin:org``);
* bypass actors: ``RepositoryRole`` (the roles eligible are admin, maintain and write, "About
  rulesets", https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-rulesets/about-rulesets),
  ``OrganizationAdmin`` ("not applicable for personal repositories"; its ``actor_id`` is ignored),
  ``Integration``, ``Team``, ``User`` and ``DeployKey`` (no id), each ``always``, ``pull_request``
  (branch rulesets only) or ``exempt``. The ids of the built-in roles are not on docs.github.com;
  GitHub returns 2 (maintain), 4 (write) and 5 (admin) for them in rulesets made on its web pages;
* rule types and parameters: the ``rules`` items of the create operation in GitHub's OpenAPI
  description (``pull_request`` needs all five of its parameters, ``required_status_checks`` its
  list and ``strict_required_status_checks_policy``).

Reads: a repository's list plus one ``GET`` per own ruleset; the same per organization. Writes:
one call per change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import GitHubError
from ..manifest.sections import Section, SectionContext
from ..manifest.yamlpos import PathT
from ..plan import Action, Change, FieldDiff
from .base import ApplyContext, ApplyResult, Declaring, Item, Kind, PlanEnv, Scope, org_scopes
from .branch_protection import forbidden, live_item, sparse_diffs, whole_inverse
from .repository import repos_with

if TYPE_CHECKING:
    from .base import Reader

#: built-in repository roles as ruleset bypass actors (see the module's docstring)
ROLE_IDS = {"maintain": 2, "write": 4, "admin": 5}
ROLE_NAMES = {v: k for k, v in ROLE_IDS.items()}
#: rules without parameters: the manifest's name -> GitHub's type
SIMPLE_RULES = {
    "creation": "creation",
    "update": "update",
    "deletion": "deletion",
    "non_fast_forward": "non_fast_forward",
    "linear_history": "required_linear_history",
    "signed_commits": "required_signatures",
}
SIMPLE_TYPES = {v: k for k, v in SIMPLE_RULES.items()}
#: pull_request's parameters: the manifest's name -> GitHub's (all five are sent)
PR_FIELDS = {
    "dismiss_stale": "dismiss_stale_reviews_on_push",
    "code_owners": "require_code_owner_review",
    "last_push_approval": "require_last_push_approval",
    "thread_resolution": "required_review_thread_resolution",
}
#: pull_request's allowed_merge_methods when none is named (all of them)
MERGE_METHODS = ("merge", "rebase", "squash")
BOOLEANS = frozenset({
    *(f"rules.{k}" for k in SIMPLE_RULES), *(f"rules.pull_request.{k}" for k in PR_FIELDS), "rules.status_checks.strict",
})

_BOOL = {"type": "boolean"}
_PATTERNS = {"type": "array", "uniqueItems": True, "items": {"type": "string", "minLength": 1}}
_MODE = {"enum": ["always", "pull_request", "exempt"], "description": "When the actor may bypass (default always)."}
BYPASS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "description": "One actor: role, org_admin, app, team, user or deploy_keys; and a mode.",
    "properties": {
        "role": {"enum": sorted(ROLE_IDS), "description": "A built-in repository role."},
        "org_admin": {"const": True, "description": "Organization owners (organization repositories only)."},
        "app": {"type": "integer", "minimum": 1, "description": "A GitHub App's installation (Integration) id."},
        "team": {"type": "integer", "minimum": 1, "description": "A team's id."},
        "user": {"type": "integer", "minimum": 1, "description": "A user's id."},
        "deploy_keys": {"const": True, "description": "Deploy keys."},
        "mode": _MODE,
    },
}
RULES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "The rules; one left out (or false) is not in the ruleset.",
    "properties": {
        **{k: {**_BOOL} for k in SIMPLE_RULES},
        "pull_request": {
            "type": "object",
            "additionalProperties": False,
            "description": "Require a pull request before merging.",
            "properties": {
                "approvals": {"type": "integer", "minimum": 0, "maximum": 10},
                **{k: {**_BOOL} for k in PR_FIELDS},
                "merge_methods": {"type": "array", "uniqueItems": True, "minItems": 1, "items": {"enum": list(MERGE_METHODS)},
                                  "description": "The merge methods allowed (default all three)."},
            },
        },
        "status_checks": {
            "type": "object",
            "additionalProperties": False,
            "required": ["contexts"],
            "description": "Require status checks to pass.",
            "properties": {"strict": {**_BOOL}, "contexts": {**_PATTERNS, "minItems": 1}},
        },
    },
}
_COMMON: dict[str, Any] = {
    "target": {"enum": ["branch", "tag", "push"], "description": "What the ruleset applies to (default branch)."},
    "enforcement": {"enum": ["active", "evaluate", "disabled"]},
    "include": {**_PATTERNS, "description": "Ref names or patterns (~DEFAULT_BRANCH, ~ALL) the ruleset applies to."},
    "exclude": {**_PATTERNS, "description": "Ref names or patterns it does not apply to."},
    "bypass": {"type": "array", "items": {"$ref": "#/$defs/rulesetBypass"}},
    "rules": {"$ref": "#/$defs/rulesetRules"},
}
RULESET_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["enforcement"], "properties": _COMMON,
    "description": "A repository ruleset, managed whole.",
}
ORG_RULESET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["enforcement", "repos"],
    "description": "An organization ruleset, managed whole.",
    "properties": {
        **_COMMON,
        "repos": {
            "type": "object",
            "additionalProperties": False,
            "required": ["include"],
            "description": "The organization's repositories it applies to, by name or pattern (~ALL).",
            "properties": {"include": {**_PATTERNS, "minItems": 1}, "exclude": _PATTERNS},
        },
    },
}
_NAMES = {"minLength": 1, "maxLength": 100}
REPO_SCHEMA: dict[str, Any] = {
    "type": "object", "description": "Rulesets by name.", "propertyNames": _NAMES, "additionalProperties": {"$ref": "#/$defs/ruleset"},
}
ORG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Organization rulesets, by organization account id, then by name.",
    "propertyNames": {"$ref": "#/$defs/localId"},
    "additionalProperties": {"type": "object", "propertyNames": _NAMES, "additionalProperties": {"$ref": "#/$defs/orgRuleset"}},
}
_DEFS = {"ruleset": RULESET_SCHEMA, "rulesetBypass": BYPASS_SCHEMA, "rulesetRules": RULES_SCHEMA}


@dataclass(frozen=True)
class RulesetSpec:
    name: str
    attrs: dict[str, Any]
    path: PathT
    account: str = ""  # the organization account (org_rulesets)


# -- the flattened form ------------------------------------------------------------------------------
def _actor(kind: str, ident: Any) -> str:
    if kind == "RepositoryRole":
        return f"role:{ROLE_NAMES.get(ident, ident)}"
    if kind == "OrganizationAdmin":
        return "org_admin"
    if kind == "DeployKey":
        return "deploy_keys"
    return {"Integration": "app", "Team": "team", "User": "user"}.get(kind, kind) + f":{ident}"


def _actor_body(text: str) -> dict[str, Any]:
    """``"role:admin always"`` -> GitHub's bypass actor."""
    who, mode = text.rsplit(" ", 1)
    kind, _, ident = who.partition(":")
    if kind == "role":
        return {"actor_type": "RepositoryRole", "actor_id": ROLE_IDS.get(ident) or int(ident), "bypass_mode": mode}
    if kind == "org_admin":
        return {"actor_type": "OrganizationAdmin", "actor_id": 1, "bypass_mode": mode}
    if kind == "deploy_keys":
        return {"actor_type": "DeployKey", "actor_id": None, "bypass_mode": mode}
    types = {"app": "Integration", "team": "Team", "user": "User"}
    return {"actor_type": types.get(kind, kind), "actor_id": int(ident), "bypass_mode": mode}


def _declared_actor(entry: dict[str, Any]) -> str:
    mode = entry.get("mode", "always")
    if "role" in entry:
        return f"role:{entry['role']} {mode}"
    if entry.get("org_admin"):
        return f"org_admin {mode}"
    if entry.get("deploy_keys"):
        return f"deploy_keys {mode}"
    kind = next(k for k in ("app", "team", "user") if k in entry)
    return f"{kind}:{entry[kind]} {mode}"


def _rule_attrs(rules: list[dict[str, Any]]) -> dict[str, Any]:
    """GitHub's rules, flattened; a rule gridctl does not manage keeps its parameters."""
    out: dict[str, Any] = {}
    for rule in rules:
        kind, params = rule.get("type", ""), rule.get("parameters") or {}
        if kind in SIMPLE_TYPES:
            out[f"rules.{SIMPLE_TYPES[kind]}"] = True
        elif kind == "pull_request":
            out["rules.pull_request.approvals"] = params.get("required_approving_review_count", 0)
            out.update({f"rules.pull_request.{k}": True for k, theirs in PR_FIELDS.items() if params.get(theirs)})
            methods = sorted(set(params.get("allowed_merge_methods") or MERGE_METHODS))
            if methods != list(MERGE_METHODS):
                out["rules.pull_request.merge_methods"] = methods
        elif kind == "required_status_checks":
            # a check bound to one app shows it: the manifest's contexts come from any app
            out["rules.status_checks.contexts"] = sorted(
                c["context"] + (f" (app {c['integration_id']})" if c.get("integration_id") else "")
                for c in params.get("required_status_checks") or [])
            if params.get("strict_required_status_checks_policy"):
                out["rules.status_checks.strict"] = True
        else:
            out[f"rules.{kind}"] = params or True
    return out


def _rules_body(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"type": theirs} for mine, theirs in SIMPLE_RULES.items() if attrs.get(f"rules.{mine}")]
    if "rules.pull_request.approvals" in attrs:
        params: dict[str, Any] = {"required_approving_review_count": attrs["rules.pull_request.approvals"]}
        params.update({theirs: bool(attrs.get(f"rules.pull_request.{mine}")) for mine, theirs in PR_FIELDS.items()})
        params["allowed_merge_methods"] = list(attrs.get("rules.pull_request.merge_methods") or MERGE_METHODS)
        out.append({"type": "pull_request", "parameters": params})
    if "rules.status_checks.contexts" in attrs:
        out.append({"type": "required_status_checks", "parameters": {
            "strict_required_status_checks_policy": bool(attrs.get("rules.status_checks.strict")),
            "required_status_checks": [{"context": c} for c in attrs["rules.status_checks.contexts"]],
        }})
    return out


def _patterns(attrs: dict[str, Any], key: str, values: Any) -> None:
    if values:
        attrs[key] = sorted(set(values))


def _attrs_from_manifest(ctx: SectionContext, raw: dict[str, Any], path: PathT, *, personal: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {"target": raw.get("target", "branch"), "enforcement": raw["enforcement"]}
    _patterns(attrs, "include", raw.get("include"))
    _patterns(attrs, "exclude", raw.get("exclude"))
    bypass = []
    for i, entry in enumerate(raw.get("bypass") or []):
        actors = [k for k in ("role", "org_admin", "app", "team", "user", "deploy_keys") if k in entry]
        if len(actors) != 1:
            ctx.error(path + ("bypass", i), "a bypass entry names exactly one actor: role, org_admin, app, team, user or deploy_keys")
            continue
        if actors == ["org_admin"] and personal:
            ctx.error(path + ("bypass", i, "org_admin"), "org_admin cannot bypass the rulesets of a personal repository", key=True)
        if entry.get("mode") == "pull_request" and attrs["target"] != "branch":
            ctx.error(path + ("bypass", i, "mode"), "mode: pull_request applies to branch rulesets only")
        bypass.append(_declared_actor(entry))
    if bypass:
        attrs["bypass"] = sorted(set(bypass))
    rules = raw.get("rules") or {}
    attrs.update({f"rules.{k}": True for k in SIMPLE_RULES if rules.get(k)})
    pr = rules.get("pull_request")
    if pr is not None:
        attrs["rules.pull_request.approvals"] = pr.get("approvals", 1)
        attrs.update({f"rules.pull_request.{k}": True for k in PR_FIELDS if pr.get(k)})
        methods = sorted(set(pr.get("merge_methods") or MERGE_METHODS))
        if methods != list(MERGE_METHODS):
            attrs["rules.pull_request.merge_methods"] = methods
    checks = rules.get("status_checks")
    if checks is not None:
        attrs["rules.status_checks.contexts"] = sorted(set(checks["contexts"]))
        if checks.get("strict"):
            attrs["rules.status_checks.strict"] = True
    return attrs


def _attrs_from_github(rs: dict[str, Any], *, org: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {"target": rs.get("target") or "branch", "enforcement": rs["enforcement"]}
    conditions = rs.get("conditions") or {}
    ref = conditions.get("ref_name") or {}
    _patterns(attrs, "include", ref.get("include"))
    _patterns(attrs, "exclude", ref.get("exclude"))
    if org:
        names = conditions.get("repository_name") or {}
        _patterns(attrs, "repos.include", names.get("include"))
        _patterns(attrs, "repos.exclude", names.get("exclude"))
        # targeting by id or custom property cannot be declared (yet): shown, so a plan that
        # replaces it with the manifest's names says so
        for other in ("repository_id", "repository_property"):
            if conditions.get(other):
                attrs[f"repos.{other}"] = conditions[other]
    bypass = [f"{_actor(a['actor_type'], a.get('actor_id'))} {a.get('bypass_mode') or 'always'}" for a in rs.get("bypass_actors") or []]
    if bypass:
        attrs["bypass"] = sorted(set(bypass))
    attrs.update(_rule_attrs(rs.get("rules") or []))
    return attrs


def ruleset_body(name: str, attrs: dict[str, Any], *, org: bool) -> dict[str, Any]:
    """The create/update body that makes the ruleset exactly ``attrs``."""
    conditions: dict[str, Any] = {"ref_name": {"include": list(attrs.get("include") or []), "exclude": list(attrs.get("exclude") or [])}}
    if org:
        conditions["repository_name"] = {"include": list(attrs.get("repos.include") or []), "exclude": list(attrs.get("repos.exclude") or [])}
    return {
        "name": name,
        "target": attrs.get("target", "branch"),
        "enforcement": attrs["enforcement"],
        "bypass_actors": [_actor_body(a) for a in attrs.get("bypass") or []],
        "conditions": conditions,
        "rules": _rules_body(attrs),
    }


# -- gridctl import: the flattened form back to a declaration -----------------------------------------
#: the bypass actors a manifest can name: the flattened form's kind -> the declaration's field
_DECLARABLE_ACTORS = ("app", "team", "user")


def _bypass_entry(text: str) -> dict[str, Any] | None:
    """``"role:admin always"`` -> ``{role: admin}``; None when the manifest cannot name it."""
    who, mode = text.rsplit(" ", 1)
    kind, _, ident = who.partition(":")
    entry: dict[str, Any]
    if kind == "role" and ident in ROLE_IDS:
        entry = {"role": ident}
    elif kind in ("org_admin", "deploy_keys") and not ident:
        entry = {kind: True}
    elif kind in _DECLARABLE_ACTORS and ident.isdigit() and int(ident) >= 1:
        entry = {kind: int(ident)}
    else:
        return None
    if mode != "always":
        entry["mode"] = mode
    return entry


def declaration(attrs: dict[str, Any], *, org: bool) -> tuple[dict[str, Any] | None, str]:
    """The manifest entry :func:`_attrs_from_manifest` turns back into ``attrs``, or ``(None,
    why)`` when part of the ruleset cannot be declared."""
    decl: dict[str, Any] = {}
    if attrs.get("target", "branch") != "branch":
        decl["target"] = attrs["target"]
    decl["enforcement"] = attrs["enforcement"]
    for key in ("include", "exclude"):
        if attrs.get(key):
            decl[key] = list(attrs[key])
    if org:
        if "repos.repository_id" in attrs or "repos.repository_property" in attrs:
            return None, "it targets repositories by id or by property, which the manifest cannot declare"
        if not attrs.get("repos.include"):
            return None, "it names no repositories to include"
        if attrs.get("target", "branch") in ("branch", "tag") and not attrs.get("include"):
            return None, "it names no refs to include"
        decl["repos"] = {"include": list(attrs["repos.include"])}
        if attrs.get("repos.exclude"):
            decl["repos"]["exclude"] = list(attrs["repos.exclude"])
    bypass = []
    for text in attrs.get("bypass") or []:
        entry = _bypass_entry(text)
        if entry is None:
            return None, f"its bypass actor {text.rsplit(' ', 1)[0]} cannot be declared"
        bypass.append(entry)
    if bypass:
        decl["bypass"] = bypass
    rules: dict[str, Any] = {k: True for k in SIMPLE_RULES if attrs.get(f"rules.{k}")}
    if "rules.pull_request.approvals" in attrs:
        pr: dict[str, Any] = {"approvals": attrs["rules.pull_request.approvals"]}
        pr.update({k: True for k in PR_FIELDS if attrs.get(f"rules.pull_request.{k}")})
        if attrs.get("rules.pull_request.merge_methods"):
            pr["merge_methods"] = list(attrs["rules.pull_request.merge_methods"])
        rules["pull_request"] = pr
    if "rules.status_checks.contexts" in attrs:
        contexts = list(attrs["rules.status_checks.contexts"])
        if not contexts or any(c.endswith(")") and " (app " in c for c in contexts):
            return None, "its status checks are bound to apps (or none are listed), which the manifest cannot declare"
        rules["status_checks"] = {"contexts": contexts, **({"strict": True} if attrs.get("rules.status_checks.strict") else {})}
    known = {f"rules.{k}" for k in SIMPLE_RULES} | {"rules.status_checks.contexts", "rules.status_checks.strict"}
    other = sorted(k for k in attrs if k.startswith("rules.") and k not in known and not k.startswith("rules.pull_request."))
    if other:
        return None, f"its rule {other[0][len('rules.'):]} is not one gridctl manages"
    if rules:
        decl["rules"] = rules
    return decl, ""


# -- manifest sections -------------------------------------------------------------------------------
def parse_repo(ctx: SectionContext, repo: Any, raw: dict[str, Any], path: PathT) -> dict[str, RulesetSpec]:
    owner = next((a for a in ctx.manifest.accounts.values() if a.login.lower() == repo.owner.lower()), None)
    personal = owner is not None and not owner.is_org
    return {name: RulesetSpec(name, _attrs_from_manifest(ctx, value, path + (name,), personal=personal), path + (name,))
            for name, value in raw.items()}


def parse_org(ctx: SectionContext, raw: dict[str, Any], path: PathT) -> list[RulesetSpec]:
    out = []
    for acc_id, name, value, p in ctx.per_org(raw, path):
        attrs = _attrs_from_manifest(ctx, value, p, personal=False)
        _patterns(attrs, "repos.include", value["repos"].get("include"))
        _patterns(attrs, "repos.exclude", value["repos"].get("exclude"))
        if attrs["target"] in ("branch", "tag") and not attrs.get("include"):
            ctx.error(p, f"an organization {attrs['target']} ruleset needs include: the refs it applies to (e.g. ~DEFAULT_BRANCH)", key=True)
        out.append(RulesetSpec(name, attrs, p, acc_id))
    return out


# -- kinds ---------------------------------------------------------------------------------------------
def _who(reader: Reader) -> str:
    return f" ({reader.client.login})" if reader.client.login else ""


class _Rulesets(Kind):
    org = False

    def read(self, reader: Reader, base: str, what: str, needs: str) -> dict[str, Item]:
        params = {} if self.org else {"includes_parents": "false"}
        try:
            listed = reader.list(base, params=params) or []
            out = {}
            for summary in listed:
                if summary.get("source_type", "Organization" if self.org else "Repository") != ("Organization" if self.org else "Repository"):
                    continue
                rs = reader.get(f"{base}/{summary['id']}")
                if rs is None:
                    continue
                if "bypass_actors" not in rs:
                    # GitHub shows them only to who may edit the ruleset: without them, gridctl
                    # would plan them back every time and its update would be refused anyway
                    raise GitHubError(f"cannot see who may bypass ruleset {rs['name']} of {what[len('the rulesets of '):]}: "
                                      f"the token{_who(reader)} needs {needs}", status=403)
                out[rs["name"]] = live_item(rs["name"], _attrs_from_github(rs, org=self.org), id=rs["id"])
            return out
        except GitHubError as exc:
            if exc.status == 403 and exc.github_message:
                raise forbidden(reader, exc, what, needs) from None
            raise

    importable = True

    def declare(self, items: dict[str, Item], d: Declaring) -> dict[str, Any]:
        out = {}
        for name, it in sorted(items.items()):
            decl, why = declaration(it.attrs, org=self.org)
            if decl is None:
                d.notes.append(f"{d.what}: ruleset {name} is left out: {why}")
                continue
            out[name] = decl
        return out

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list[FieldDiff], str]:
        return sparse_diffs(desired.attrs, live.attrs, BOOLEANS), ""

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        return whole_inverse(self, change, result)

    def base(self, change: Change) -> str:
        raise NotImplementedError

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        base = self.base(change)
        name = change.meta["key"]
        entry = {"kind": self.name, "scope": change.scope, "account": change.account}
        if change.action == Action.DELETE:
            client.delete(f"{base}/{change.meta['id']}", f"delete ruleset {name} of {change.scope}")
            return ApplyResult(None)
        body = ruleset_body(name, change.after or {}, org=self.org)
        if change.action == Action.CREATE:
            def find() -> Any:
                return next((r for r in client.get_list(base, {} if self.org else {"includes_parents": "false"}) or []
                             if r.get("name") == name), None)
            made = client.raw("POST", base, body, verify=find) or {}
            return ApplyResult({**entry, "id": made.get("id")}, result={"id": made.get("id")})
        client.raw("PUT", f"{base}/{change.meta['id']}", body)
        return ApplyResult({**entry, "id": change.meta["id"]})


class Ruleset(_Rulesets):
    """A repository's: one item per ruleset, keyed by its name."""

    name = "ruleset"
    order = 88
    prune_key = "rulesets"
    sections = (Section("rulesets", "repo", REPO_SCHEMA, parse_repo, defs=_DEFS, prunable=True),)

    def token_scopes(self, m: Any) -> list[tuple[str, str, str]]:
        return [(r.account, "repo", f"repos.{r.full_name}.rulesets") for r in m.repos.values() if "rulesets" in r.sections]

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return repos_with(env, self, lambda spec: "rulesets" in spec.sections)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        declared: dict[str, RulesetSpec] = spec.sections.get("rulesets", {}) if spec is not None else {}
        return {n: Item(n, attrs=dict(d.attrs), source=env.manifest.positions.source(d.path)) for n, d in declared.items()}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        return self.read(reader, f"/repos/{scope.name}/rulesets", f"the rulesets of {scope.name}",
                         "admin rights on the repository to see who may bypass them")

    def base(self, change: Change) -> str:
        return f"/repos/{change.scope}/rulesets"


class OrgRuleset(_Rulesets):
    """An organization's: one scope per organization account, one item per ruleset."""

    name = "org-ruleset"
    order = 89
    org = True
    sections = (Section("org_rulesets", "top", ORG_SCHEMA, parse_org, defs={"orgRuleset": ORG_RULESET_SCHEMA}),)

    def _specs(self, m: Any) -> list[RulesetSpec]:
        specs: list[RulesetSpec] = m.sections.get("org_rulesets", [])
        return specs

    def token_scopes(self, m: Any) -> list[tuple[str, str, str]]:
        return sorted({(s.account, "admin:org", f"org_rulesets.{s.account}") for s in self._specs(m)})

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return org_scopes(env, self, {s.account for s in self._specs(env.manifest)})

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        return {s.name: Item(s.name, attrs=dict(s.attrs), source=env.manifest.positions.source(s.path))
                for s in self._specs(env.manifest) if s.account == scope.account}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        org = scope.get("org")
        return self.read(reader, f"/orgs/{org}/rulesets", f"the rulesets of organization {org}",
                         "to be an organization owner's, with the admin:org scope")

    def base(self, change: Change) -> str:
        return f"/orgs/{self.scope_for_change(change).get('org')}/rulesets"


KINDS = [Ruleset(), OrgRuleset()]
