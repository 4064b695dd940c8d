"""Kind ``environment``: deployment environments (their Actions variables are the kind
``env-variable``, :mod:`.variable`; their secrets ``env-secret``, :mod:`.secret`).

``environment`` manages, per repository, the environments ``repos.<r>.environments`` declares,
and only the protection fields the manifest sets: ``wait_timer``, ``prevent_self_review``,
``reviewers`` (user logins) and ``protected_branches_only`` (derived from GitHub's
``deployment_branch_policy``). One list call per repository reads them all.

GitHub's create-or-update (``PUT /repos/{r}/environments/{name}``, "Create or update an
environment": https://docs.github.com/en/rest/deployments/environments#create-or-update-an-environment)
is sent with every protection field, so an update first reads the environment as it is at apply
time and sends the unmanaged fields back unchanged (team reviewers and custom branch policies
included). Environment names are case-insensitive on GitHub: live environments are matched to
the declared spelling.

An environment's variables and secrets have one scope per (repository, environment), named
``"<owner>/<repo> env <name>"`` (:func:`env_scope_name`), so a repository's destruction forgets
them with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import GitHubError
from ..plan import Action, Change
from .base import ApplyResult, Item, Kind, Scope
from .repository import repo_scopes

if TYPE_CHECKING:
    from ..manifest.model import EnvironmentSpec, Manifest
    from .base import ApplyContext, PlanEnv, Reader

#: the separator of an environment scope's name: "<owner>/<repo> env <environment>"
ENV_SEP = " env "


def env_scope_name(repo: str, env: str) -> str:
    return f"{repo}{ENV_SEP}{env}"


def environments_of(reader: Reader, repo: str) -> list[dict[str, Any]]:
    """Every environment of ``repo`` (one memoized list call; [] when the repo is absent)."""
    if reader.repo(repo) is None:
        return []
    return reader.list(f"/repos/{repo}/environments", key="environments") or []


def find_live_environment(reader: Reader, repo: str, name: str) -> dict[str, Any] | None:
    low = name.lower()
    for e in environments_of(reader, repo):
        if e.get("name", "").lower() == low:
            return e
    return None


def managed_in(env: PlanEnv, kind: str, scope_name: str) -> bool:
    """Whether the state holds an object of ``kind`` in the scope ``scope_name``."""
    return bool(env.state.in_scope(kind, scope_name, ignore_case=True))


def _raw(m: Manifest, path: tuple) -> Any:
    """The manifest's raw (merged) data at ``path``, or None."""
    node: Any = m.data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _reviewers_declared(m: Manifest, spec: EnvironmentSpec) -> bool:
    raw = _raw(m, tuple(spec.path))
    return isinstance(raw, dict) and "reviewers" in raw


def _parse(env: dict[str, Any]) -> dict[str, Any]:
    """GitHub's environment object -> the full protection configuration."""
    out: dict[str, Any] = {
        "wait_timer": 0,
        "prevent_self_review": False,
        "users": [],
        "teams": [],
        "reviewer_rule": False,
    }
    for rule in env.get("protection_rules") or []:
        typ = rule.get("type")
        if typ == "wait_timer":
            out["wait_timer"] = int(rule.get("wait_timer") or 0)
        elif typ == "required_reviewers":
            out["reviewer_rule"] = True
            out["prevent_self_review"] = bool(rule.get("prevent_self_review", False))
            for r in rule.get("reviewers") or []:
                who = r.get("reviewer") or {}
                if r.get("type") == "User" and who.get("login"):
                    out["users"].append((who["login"], who.get("id")))
                elif r.get("type") == "Team" and who.get("id") is not None:
                    out["teams"].append(who["id"])
    out["policy"] = env.get("deployment_branch_policy") or None
    return out


def _attrs(cfg: dict[str, Any]) -> dict[str, Any]:
    policy = cfg["policy"] or {}
    return {
        "wait_timer": cfg["wait_timer"],
        "prevent_self_review": cfg["prevent_self_review"],
        "reviewers": sorted(login.lower() for login, _ in cfg["users"]),
        "protected_branches_only": bool(policy.get("protected_branches")),
    }


class Environment(Kind):
    name = "environment"
    order = 30
    prune_key = "environments"

    def scopes(self, env: PlanEnv) -> list[Scope]:
        out = []
        for s in repo_scopes(env, self.name):
            spec = env.manifest.repo(s.name)
            names = tuple(spec.environments) if spec else ()
            if names or self.prune(env, s) or managed_in(env, self.name, s.name):
                out.append(Scope(s.kind, s.account, s.name, s.repo, (("names", names),)))
        return out

    def desired(self, env: PlanEnv, scope: Scope) -> dict[str, Item]:
        spec = env.manifest.repo(scope.name)
        assert spec is not None
        out: dict[str, Item] = {}
        for name, e in spec.environments.items():
            attrs: dict[str, Any] = {}
            if e.wait_timer is not None:
                attrs["wait_timer"] = int(e.wait_timer)
            if e.prevent_self_review is not None:
                attrs["prevent_self_review"] = bool(e.prevent_self_review)
            if _reviewers_declared(env.manifest, e):
                attrs["reviewers"] = sorted({r.lower() for r in e.reviewers})
            if e.protected_branches_only is not None:
                attrs["protected_branches_only"] = bool(e.protected_branches_only)
            out[name] = Item(name, attrs=attrs, source=env.manifest.positions.source(e.path))
        return out

    def live(self, reader: Reader, scope: Scope) -> dict[str, Item]:
        declared = {n.lower(): n for n in scope.get("names", ())}
        out: dict[str, Item] = {}
        for e in environments_of(reader, scope.name):
            cfg = _parse(e)
            key = declared.get(e["name"].lower(), e["name"])
            out[key] = Item(
                key,
                attrs=_attrs(cfg),
                meta={"id": e.get("id"), "github_name": e["name"], "reviewer_rule": cfg["reviewer_rule"]},
            )
        return out

    def compare(self, desired: Item, live: Item, state: dict[str, Any] | None) -> tuple[list, str]:
        diffs, reason = super().compare(desired, live, state)
        # GitHub only reports prevent_self_review inside a required-reviewers rule: without
        # reviewers there is nothing to compare it with (and nothing it would change).
        if not live.meta.get("reviewer_rule") and not desired.attrs.get("reviewers"):
            kept = [d for d in diffs if d.field != "prevent_self_review"]
            if len(kept) != len(diffs):
                diffs = kept
                if not diffs:
                    reason = "prevent_self_review has no effect without reviewers (GitHub does not report it)"
        return diffs, reason

    # -- apply ------------------------------------------------------------------------------------
    def apply(self, ctx: ApplyContext, change: Change) -> ApplyResult:
        client = ctx.client(change.account)
        full = change.scope
        name = change.meta.get("github_name") or change.meta["key"]
        url = f"/repos/{full}/environments/{quote(name, safe='')}"
        if change.action == Action.DELETE:
            # https://docs.github.com/en/rest/deployments/environments#delete-an-environment
            client.raw("DELETE", url)
            child = env_scope_name(full, change.meta["key"]).lower()
            forget = {a: None for a, e in ctx.env.state.resources.items() if str(e.get("scope", "")).lower() == child}
            return ApplyResult(None, more_state=forget, result={"id": change.meta.get("id")})

        after = dict(change.after or {})
        if change.action == Action.CREATE:
            cur: dict[str, Any] = {
                "wait_timer": 0,
                "prevent_self_review": False,
                "users": [],
                "teams": [],
                "policy": None,
            }
        else:
            data = client.get(url)  # the unmanaged fields as they are now, sent back unchanged
            cur = (
                _parse(data)
                if data
                else {"wait_timer": 0, "prevent_self_review": False, "users": [], "teams": [], "policy": None}
            )
        wait_timer = int(after.get("wait_timer", cur["wait_timer"]))
        prevent = bool(after.get("prevent_self_review", cur["prevent_self_review"]))
        if "reviewers" in after:
            known = {login.lower(): uid for login, uid in cur["users"] if uid is not None}
            user_ids = [known.get(login.lower()) or _user_id(client, login) for login in after["reviewers"]]
        else:
            user_ids = [uid for _, uid in cur["users"] if uid is not None]
        reviewers = [{"type": "User", "id": int(i)} for i in user_ids] + [
            {"type": "Team", "id": int(t)} for t in cur["teams"]
        ]
        policy = cur["policy"]
        if "protected_branches_only" in after:
            if after["protected_branches_only"]:
                policy = {"protected_branches": True, "custom_branch_policies": False}
            elif policy and policy.get("protected_branches"):
                policy = None  # all branches (a custom policy is left alone)
        body = {
            "wait_timer": wait_timer,
            "reviewers": reviewers,
            "prevent_self_review": prevent,
            "deployment_branch_policy": (
                {
                    "protected_branches": bool(policy["protected_branches"]),
                    "custom_branch_policies": bool(policy["custom_branch_policies"]),
                }
                if policy
                else None
            ),
        }
        result = client.raw("PUT", url, body)
        env_id = result.get("id") if isinstance(result, dict) else None
        entry = {"kind": self.name, "scope": full, "account": change.account}
        if env_id is not None:
            entry["id"] = env_id
        return ApplyResult(entry, result={"id": env_id})


def _user_id(client: Any, login: str) -> int:
    data = client.get(f"/users/{quote(login, safe='')}")
    if not data or data.get("type") != "User":
        raise GitHubError(f"environment reviewer {login} is not a GitHub user")
    return int(data["id"])


KINDS = [Environment()]
