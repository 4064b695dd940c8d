"""Kind ``branch-protection``: a repository branch's classic protection
(``repos.<r>.branch_protection.<branch>``).

    repos:
      alice/demo:
        branch_protection:
          main:
            reviews: {approvals: 1, dismiss_stale: true, code_owners: true, last_push_approval: true}
            status_checks: {strict: true, contexts: [ci/test]}
            enforce_admins: true
            linear_history: true
            signed_commits: true
            allow_force_pushes: false
            allow_deletions: false
            conversation_resolution: true
            lock_branch: false                  # and allow_fork_syncing, block_creations
            restrictions: {users: [alice]}      # who may push; organization repositories only

An entry is the branch's whole protection: what it leaves out is off (GitHub's default), so a
protection changed by hand is planned back field by field. The fields are compared flattened
(``reviews.approvals``, ``status_checks.contexts``...); ``reviews`` and ``status_checks`` are on
when declared (``reviews: {}`` asks for pull requests with one approval), and a field at its
default is not shown. Push restrictions name users only (teams and apps GitHub reports are
shown in the plan, and a plan that drops them says so). ``prune: {branch_protection: true}`` also removes the protection of
branches the manifest does not list.

GitHub facts used here (REST "Protected branches",
https://docs.github.com/en/rest/branches/branch-protection):

* ``PUT /repos/{o}/{r}/branches/{branch}/protection`` replaces the whole protection; its
  ``required_status_checks``, ``enforce_admins``, ``required_pull_request_reviews`` and
  ``restrictions`` are required and ``null`` turns each off; ``GET`` reads it (404 "Branch not
  protected" when there is none); ``DELETE`` removes it;
* signed commits are not in the ``PUT`` body: ``POST``/``DELETE .../protection/required_signatures``
  ("You must enable branch protection to require signed commits");
* "Protecting a branch requires admin or owner permissions to the repository" (the ``PUT``'s
  description), and a classic token needs ``repo``; the branch names are those ``GET
  .../branches?protected=true`` lists (REST "Branches", https://docs.github.com/en/rest/branches/branches#list-branches);
* ``required_approving_review_count`` is "a number between 1 and 6 or 0 to not require
  reviewers"; a linear history needs a repository that allows squash or rebase merging (the
  ``PUT``'s ``required_linear_history``, checked at load time when the manifest sets both); push restrictions (users, teams, apps) "are only available for organization-owned
  repositories"; the branch name "cannot contain wildcard characters".

Reads: one list per repository and one ``GET`` per protected branch. Writes: one ``PUT`` and,
when signed commits are required or were, one signatures call. A protection that requires pull
requests also applies to gridctl's own file commits on that branch unless the token's user is
an administrator and ``enforce_admins`` is off: files and queues (orders 80, 85) are written
before protection (87) in one apply, and protection is removed first on destroy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import GitHubError
from ..manifest.sections import Section, SectionContext
from ..manifest.yamlpos import PathT
from ..plan import Action, Change, FieldDiff
from .base import ApplyContext, ApplyResult, Declaring, Item, Kind, PlanEnv, Scope, _flip
from .repository import repos_with

if TYPE_CHECKING:
    from .base import Reader

#: the manifest's flags -> the PUT body's (and the GET's ``{enabled}`` objects)
FLAGS = {
    "enforce_admins": "enforce_admins",
    "linear_history": "required_linear_history",
    "allow_force_pushes": "allow_force_pushes",
    "allow_deletions": "allow_deletions",
    "conversation_resolution": "required_conversation_resolution",
    "lock_branch": "lock_branch",
    "block_creations": "block_creations",
    "allow_fork_syncing": "allow_fork_syncing",
}
#: the manifest's review fields -> GitHub's
REVIEW_FIELDS = {
    "dismiss_stale": "dismiss_stale_reviews",
    "code_owners": "require_code_owner_reviews",
    "last_push_approval": "require_last_push_approval",
}
#: every flattened field that is a boolean (absent means false)
BOOLEANS = frozenset({*FLAGS, "signed_commits", "status_checks.strict", *(f"reviews.{k}" for k in REVIEW_FIELDS)})

_BOOL = {"type": "boolean"}
ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "The branch's whole protection: what is left out is off.",
    "properties": {
        "reviews": {
            "type": "object",
            "additionalProperties": False,
            "description": "Require pull requests with approving reviews before merging.",
            "properties": {
                "approvals": {"type": "integer", "minimum": 0, "maximum": 6, "description": "Approving reviews required (0-6, default 1)."},
                "dismiss_stale": {**_BOOL, "description": "Dismiss approvals when new commits are pushed."},
                "code_owners": {**_BOOL, "description": "Require a review from code owners."},
                "last_push_approval": {**_BOOL, "description": "The last push must be approved by someone else."},
            },
        },
        "status_checks": {
            "type": "object",
            "additionalProperties": False,
            "description": "Require status checks to pass before merging.",
            "properties": {
                "strict": {**_BOOL, "description": "Require branches to be up to date before merging."},
                "contexts": {"type": "array", "uniqueItems": True, "items": {"type": "string", "minLength": 1}},
            },
        },
        "enforce_admins": {**_BOOL, "description": "Apply the protection to administrators too."},
        "linear_history": {**_BOOL, "description": "Forbid merge commits."},
        "signed_commits": {**_BOOL, "description": "Require signed commits."},
        "allow_force_pushes": {**_BOOL, "description": "Allow force pushes (non-fast-forward)."},
        "allow_deletions": {**_BOOL, "description": "Allow the branch to be deleted."},
        "conversation_resolution": {**_BOOL, "description": "Require conversations to be resolved before merging."},
        "lock_branch": {**_BOOL, "description": "Make the branch read-only."},
        "block_creations": {**_BOOL, "description": "With restrictions: also restrict creating matching branches."},
        "allow_fork_syncing": {**_BOOL, "description": "With lock_branch: let forks pull changes from upstream."},
        "restrictions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["users"],
            "description": "Only these users may push (organization repositories only).",
            "properties": {"users": {"type": "array", "uniqueItems": True, "items": {"type": "string", "minLength": 1}}},
        },
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Classic branch protection, by branch name (no wildcards).",
    "propertyNames": {"minLength": 1, "pattern": "^[^*?\\[\\]]+$"},
    "additionalProperties": {"$ref": "#/$defs/branchProtection"},
}


@dataclass(frozen=True)
class Declared:
    """One declared object: its flattened attributes and where it is written."""

    attrs: dict[str, Any]
    path: PathT


def parse(ctx: SectionContext, repo: Any, raw: dict[str, Any], path: PathT) -> dict[str, Declared]:
    out: dict[str, Declared] = {}
    owner = next((a for a in ctx.manifest.accounts.values() if a.login.lower() == repo.owner.lower()), None)
    for branch, value in raw.items():
        p = path + (branch,)
        attrs: dict[str, Any] = {k: True for k in FLAGS if value.get(k)}
        if attrs.get("linear_history") and repo.settings.get("allow_squash_merge") is False and repo.settings.get("allow_rebase_merge") is False:
            ctx.error(p + ("linear_history",), f"linear_history needs {repo.full_name} to allow squash or rebase merging "
                      "(allow_squash_merge and allow_rebase_merge are both false)", key=True)
        if value.get("signed_commits"):
            attrs["signed_commits"] = True
        reviews = value.get("reviews")
        if reviews is not None:
            attrs["reviews.approvals"] = reviews.get("approvals", 1)
            attrs.update({f"reviews.{k}": True for k in REVIEW_FIELDS if reviews.get(k)})
        checks = value.get("status_checks")
        if checks is not None:
            attrs["status_checks.contexts"] = sorted(checks.get("contexts") or [])
            if checks.get("strict"):
                attrs["status_checks.strict"] = True
        restrictions = value.get("restrictions")
        if restrictions is not None:
            if owner is not None and not owner.is_org:
                ctx.error(p + ("restrictions",), f"restrictions are only available for organization repositories, and {repo.owner} is a user", key=True)
            attrs["restrictions.users"] = sorted({u.lower() for u in restrictions["users"]})
        out[branch] = Declared(attrs, p)
    return out


# -- shared by the protection kinds (rulesets too) ---------------------------------------------------
def sparse_diffs(desired: dict[str, Any], live: dict[str, Any], booleans: frozenset[str]) -> list[FieldDiff]:
    """Field differences when an absent field means its default (false, or nothing)."""
    out = []
    for key in sorted(set(desired) | set(live)):
        default = False if key in booleans else None
        want, have = desired.get(key, default), live.get(key, default)
        if want != have:
            out.append(FieldDiff(key, have, want))
    return out


def whole_inverse(kind: Kind, change: Change, result: ApplyResult) -> Change | None:
    """The inverse of a change to an object managed whole: an update goes back to every field
    GitHub had (``meta["live"]``), not only to those the manifest declared."""
    if change.action != Action.UPDATE:
        return Kind.inverse(kind, change, result)
    previous = change.meta.get("live")
    if previous is None:
        previous = change.before
    return _flip(change, Action.UPDATE, before=change.after, after=dict(previous or {}), meta={**change.meta, "live": change.after})


def live_item(key: str, attrs: dict[str, Any], **meta: Any) -> Item:
    return Item(key, attrs=attrs, meta={**meta, "live": dict(attrs)})


def forbidden(reader: Reader, exc: GitHubError, what: str, needs: str) -> GitHubError:
    """GitHub's 403 when reading ``what``, said plainly."""
    who = f" ({reader.client.login})" if reader.client.login else ""
    return GitHubError(
        f"cannot read {what}: the token{who} needs {needs} (GitHub answered 403: {exc.github_message or exc})",
        status=403, request_id=exc.request_id, github_message=exc.github_message,
    )


# -- reading and writing -----------------------------------------------------------------------------
def _attrs(p: dict[str, Any]) -> dict[str, Any]:
    """A protection as GitHub returns it, flattened like the manifest's."""
    attrs: dict[str, Any] = {}
    for mine, theirs in FLAGS.items():
        if (p.get(theirs) or {}).get("enabled"):
            attrs[mine] = True
    if (p.get("required_signatures") or {}).get("enabled"):
        attrs["signed_commits"] = True
    reviews = p.get("required_pull_request_reviews")
    if reviews is not None:
        attrs["reviews.approvals"] = reviews.get("required_approving_review_count", 0)
        attrs.update({f"reviews.{k}": True for k, theirs in REVIEW_FIELDS.items() if reviews.get(theirs)})
    checks = p.get("required_status_checks")
    if checks is not None:
        attrs["status_checks.contexts"] = sorted(checks.get("contexts") or [])
        if checks.get("strict"):
            attrs["status_checks.strict"] = True
    restrictions = p.get("restrictions")
    if restrictions is not None:
        attrs["restrictions.users"] = sorted(u["login"].lower() for u in restrictions.get("users") or [])
        # teams and apps cannot be declared (yet): shown, so a plan that drops them says so
        for what in ("teams", "apps"):
            slugs = sorted(str(x.get("slug") or x.get("id")) for x in restrictions.get(what) or [])
            if slugs:
                attrs[f"restrictions.{what}"] = slugs
    return attrs


def put_body(attrs: dict[str, Any]) -> dict[str, Any]:
    """The ``PUT`` body that makes the protection exactly ``attrs``."""
    body: dict[str, Any] = {theirs: bool(attrs.get(mine)) for mine, theirs in FLAGS.items()}
    body["required_status_checks"] = None
    if "status_checks.contexts" in attrs:
        body["required_status_checks"] = {"strict": bool(attrs.get("status_checks.strict")), "contexts": list(attrs["status_checks.contexts"])}
    body["required_pull_request_reviews"] = None
    if "reviews.approvals" in attrs:
        body["required_pull_request_reviews"] = {
            "required_approving_review_count": attrs["reviews.approvals"],
            **{theirs: bool(attrs.get(f"reviews.{mine}")) for mine, theirs in REVIEW_FIELDS.items()},
        }
    body["restrictions"] = None
    if "restrictions.users" in attrs:
        body["restrictions"] = {"users": list(attrs["restrictions.users"]), "teams": []}
    return body


def _url(repo: str, branch: str) -> str:
    return f"/repos/{repo}/branches/{quote(branch, safe='/')}/protection"


def declaration(attrs: dict[str, Any]) -> dict[str, Any]:
    """The manifest entry that :func:`parse` turns back into ``attrs`` (push restrictions by
    users only: teams and apps cannot be declared)."""
    decl: dict[str, Any] = {k: True for k in FLAGS if attrs.get(k)}
    if attrs.get("signed_commits"):
        decl["signed_commits"] = True
    if "reviews.approvals" in attrs:
        decl["reviews"] = {"approvals": attrs["reviews.approvals"], **{k: True for k in REVIEW_FIELDS if attrs.get(f"reviews.{k}")}}
    if "status_checks.contexts" in attrs:
        checks: dict[str, Any] = {"strict": True} if attrs.get("status_checks.strict") else {}
        if attrs["status_checks.contexts"]:
            checks["contexts"] = list(attrs["status_checks.contexts"])
        decl["status_checks"] = checks
    if "restrictions.users" in attrs:
        decl["restrictions"] = {"users": list(attrs["restrictions.users"])}
    return dict(sorted(decl.items()))


class BranchProtection(Kind):
    """One item per protected branch, keyed by the branch's name."""

    name = "branch-protection"
    order = 87
    prune_key = "branch_protection"
    sections = (Section("branch_protection", "repo", SCHEMA, parse, defs={"branchProtection": ITEM_SCHEMA}, prunable=True),)

    def token_scopes(self, m: Any) -> list[tuple[str, str, str]]:
        return [(r.account, "repo", f"repos.{r.full_name}.branch_protection") for r in m.repos.values() if "branch_protection" in r.sections]

    def scopes(self, env: PlanEnv) -> list[Scope]:
        return repos_with(env, self, lambda spec: "branch_protection" in spec.sections)

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        declared: dict[str, Declared] = spec.sections.get("branch_protection", {}) if spec is not None else {}
        return {b: Item(b, attrs=dict(d.attrs), source=env.manifest.positions.source(d.path)) for b, d in declared.items()}

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        if reader.repo(scope.name) is None:
            return {}
        out = {}
        for branch in reader.list(f"/repos/{scope.name}/branches", params={"protected": "true"}) or []:
            name = branch["name"]
            try:
                p = reader.get(_url(scope.name, name))
            except GitHubError as exc:
                if exc.status == 403:
                    raise forbidden(reader, exc, f"the protection of branch {name} of {scope.name}",
                                    "admin rights on the repository (and the repo scope)") from None
                raise
            if p is not None:
                out[name] = live_item(name, _attrs(p))
        return out

    importable = True

    def declare(self, items: dict[str, Item], d: Declaring) -> dict[str, Any]:
        out = {}
        for branch, it in sorted(items.items()):
            others = [w for w in ("teams", "apps") if f"restrictions.{w}" in it.attrs]
            if others or any(c in branch for c in "*?[]"):
                why = f"its push restrictions name {' and '.join(others)}, which" if others else "its name has a wildcard, which"
                d.notes.append(f"{d.what}: the protection of branch {branch} is left out: {why} the manifest cannot declare")
                continue
            out[branch] = declaration(it.attrs)
        return out

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list[FieldDiff], str]:
        return sparse_diffs(desired.attrs, live.attrs, BOOLEANS), ""

    def inverse(self, change: Change, result: ApplyResult) -> Change | None:
        return whole_inverse(self, change, result)

    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        url = _url(change.scope, change.meta["key"])
        if change.action == Action.DELETE:
            client.delete(url, f"remove the protection of branch {change.meta['key']} of {change.scope}")
            return ApplyResult(None)
        after = change.after or {}
        try:
            client.raw("PUT", url, put_body(after))
        except GitHubError as exc:
            if exc.status == 404:
                raise GitHubError(
                    f"cannot protect branch {change.meta['key']} of {change.scope}: {exc.github_message or 'not found'} "
                    "(the branch must exist before it can be protected)",
                    status=404, request_id=exc.request_id, github_message=exc.github_message,
                ) from None
            raise
        had = bool((change.meta.get("live") or {}).get("signed_commits")) if change.action == Action.UPDATE else False
        if after.get("signed_commits"):
            client.raw("POST", url + "/required_signatures", idempotent=True)
        elif had:
            client.delete(url + "/required_signatures", f"stop requiring signed commits on {change.meta['key']} of {change.scope}")
        return ApplyResult({"kind": self.name, "scope": change.scope, "account": change.account})


KINDS = [BranchProtection()]
