"""Conformance cases: classic branch protection (with signed commits) and repository and
organization rulesets."""

from __future__ import annotations

from typing import Any

from ..conformance import Case

PROT = "/repos/alice/pub/branches/main/protection"
SVC_PROT = "/repos/acme/svc/branches/main/protection"
RULES = "/repos/alice/pub/rulesets"
ORG_RULES = "/orgs/acme/rulesets"

_PROTECTION: dict[str, Any] = {
    "required_status_checks": {"strict": True, "contexts": ["ci/test"]},
    "enforce_admins": True,
    "required_pull_request_reviews": {"required_approving_review_count": 2, "dismiss_stale_reviews": True,
                                      "require_code_owner_reviews": True, "require_last_push_approval": True},
    "restrictions": None,
    "required_linear_history": True,
    "allow_force_pushes": False,
    "allow_deletions": False,
}
_RULESET: dict[str, Any] = {
    "name": "main",
    "target": "branch",
    "enforcement": "active",
    "bypass_actors": [{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}],
    "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": ["refs/heads/tmp/*"]}},
    "rules": [
        {"type": "deletion"},
        {"type": "non_fast_forward"},
        {"type": "required_linear_history"},
        {"type": "pull_request", "parameters": {
            "required_approving_review_count": 1, "dismiss_stale_reviews_on_push": True, "require_code_owner_review": False,
            "require_last_push_approval": False, "required_review_thread_resolution": False}},
        {"type": "required_status_checks", "parameters": {
            "strict_required_status_checks_policy": True, "required_status_checks": [{"context": "ci/test"}]}},
    ],
}
_ORG_RULESET: dict[str, Any] = {
    **_RULESET,
    "bypass_actors": [{"actor_id": 1, "actor_type": "OrganizationAdmin", "bypass_mode": "always"}],
    "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}, "repository_name": {"include": ["~ALL"], "exclude": []}},
}


# -- setups ----------------------------------------------------------------------------------------
def protected(seed: Any) -> dict:
    resp = seed.call("alice", "PUT", PROT, _PROTECTION)
    assert resp.status_code == 200, resp.text
    return {}


def repo_ruleset(seed: Any) -> dict:
    resp = seed.call("alice", "POST", RULES, _RULESET)
    assert resp.status_code == 201, resp.text
    return {"id": resp.json()["id"]}


def org_ruleset(seed: Any) -> dict:
    resp = seed.call("alice", "POST", ORG_RULES, _ORG_RULESET)
    assert resp.status_code == 201, resp.text
    return {"id": resp.json()["id"]}


def no_admin_org_scope(seed: Any) -> dict:
    seed.tokens["alice-noorg"] = seed.sb.add_user("alice", scopes=("repo",))
    return {}


PROTECTION_CASES = [
    Case("repos/get-branch-protection", 200, "GET", PROT, setup=protected),
    Case("repos/get-branch-protection", 404, "GET", PROT, note="branch-not-protected"),
    Case("repos/get-branch-protection", 403, "GET", PROT, login="bob", setup=protected, note="not-admin"),
    Case("repos/update-branch-protection", 200, "PUT", PROT, _PROTECTION),
    Case("repos/update-branch-protection", 200, "PUT", SVC_PROT, {**_PROTECTION, "restrictions": {"users": ["bob"], "teams": []}},
         note="org-restrictions"),
    Case("repos/update-branch-protection", 404, "PUT", "/repos/alice/pub/branches/nosuch/protection", _PROTECTION, note="no-branch"),
    Case("repos/update-branch-protection", 422, "PUT", PROT, {**_PROTECTION, "restrictions": {"users": ["bob"], "teams": []}},
         note="restrictions-on-a-personal-repository"),
    Case("repos/update-branch-protection", 422, "PUT", PROT,
         {**_PROTECTION, "required_pull_request_reviews": {"required_approving_review_count": 7}}, note="seven-approvals"),
    Case("repos/update-branch-protection", 422, "PUT", PROT, {"enforce_admins": True}, note="members-missing"),
    Case("repos/update-branch-protection", 403, "PUT", PROT, _PROTECTION, login="bob", note="not-admin"),
    Case("repos/delete-branch-protection", 204, "DELETE", PROT, setup=protected),
    Case("repos/delete-branch-protection", 404, "DELETE", PROT, note="branch-not-protected"),
    Case("repos/get-commit-signature-protection", 200, "GET", PROT + "/required_signatures", setup=protected),
    Case("repos/get-commit-signature-protection", 404, "GET", PROT + "/required_signatures", note="branch-not-protected"),
    Case("repos/create-commit-signature-protection", 200, "POST", PROT + "/required_signatures", setup=protected),
    Case("repos/create-commit-signature-protection", 404, "POST", PROT + "/required_signatures", note="branch-not-protected"),
    Case("repos/delete-commit-signature-protection", 204, "DELETE", PROT + "/required_signatures", setup=protected),
    Case("repos/delete-commit-signature-protection", 404, "DELETE", "/repos/alice/pub/branches/nosuch/protection/required_signatures",
         note="no-branch"),
]

RULESET_CASES = [
    Case("repos/get-repo-rulesets", 200, "GET", RULES + "?includes_parents=true", setup=org_ruleset, note="with-parents"),
    Case("repos/get-repo-rulesets", 200, "GET", RULES, login="bob", setup=repo_ruleset, note="reader"),
    Case("repos/get-repo-rulesets", 404, "GET", "/repos/alice/priv/rulesets", login="carol", note="private-hidden"),
    Case("repos/create-repo-ruleset", 201, "POST", RULES, _RULESET),
    Case("repos/create-repo-ruleset", 422, "POST", RULES, _RULESET, setup=repo_ruleset, note="name-taken"),
    Case("repos/create-repo-ruleset", 422, "POST", RULES, {**_RULESET, "bypass_actors": [{"actor_id": 1, "actor_type": "OrganizationAdmin"}]},
         note="org-admin-on-a-personal-repository"),
    Case("repos/create-repo-ruleset", 422, "POST", RULES, {**_RULESET, "bypass_actors": [{"actor_id": 3, "actor_type": "RepositoryRole"}]},
         note="role-that-cannot-bypass"),
    Case("repos/create-repo-ruleset", 422, "POST", RULES, {**_RULESET, "rules": [{"type": "deletion"}, {"type": "deletion"}]},
         note="rule-twice"),
    Case("repos/create-repo-ruleset", 422, "POST", RULES, {"name": "x"}, note="enforcement-missing"),
    Case("repos/create-repo-ruleset", 403, "POST", RULES, _RULESET, login="bob", note="not-admin"),
    Case("repos/get-repo-ruleset", 200, "GET", RULES + "/{id}", setup=repo_ruleset),
    Case("repos/get-repo-ruleset", 200, "GET", RULES + "/{id}", login="bob", setup=repo_ruleset, note="reader-sees-no-bypass-actors"),
    Case("repos/get-repo-ruleset", 404, "GET", RULES + "/999999", note="no-such-ruleset"),
    Case("repos/update-repo-ruleset", 200, "PUT", RULES + "/{id}", {"enforcement": "evaluate"}, setup=repo_ruleset),
    Case("repos/update-repo-ruleset", 404, "PUT", RULES + "/999999", {"enforcement": "disabled"}, note="no-such-ruleset"),
    Case("repos/update-repo-ruleset", 422, "PUT", RULES + "/{id}", {"enforcement": "sometimes"}, setup=repo_ruleset, note="bad-enforcement"),
    Case("repos/delete-repo-ruleset", 204, "DELETE", RULES + "/{id}", setup=repo_ruleset),
    Case("repos/delete-repo-ruleset", 404, "DELETE", RULES + "/999999", note="no-such-ruleset"),
    Case("repos/get-org-rulesets", 200, "GET", ORG_RULES, setup=org_ruleset),
    Case("repos/get-org-rulesets", 403, "GET", ORG_RULES, login="bob", note="member-not-owner"),
    Case("repos/create-org-ruleset", 201, "POST", ORG_RULES, _ORG_RULESET),
    Case("repos/create-org-ruleset", 422, "POST", ORG_RULES, {**_ORG_RULESET, "conditions": {"repository_name": {"include": ["~ALL"]}}},
         note="branch-ruleset-without-ref-name"),
    Case("repos/create-org-ruleset", 403, "POST", ORG_RULES, _ORG_RULESET, login="alice-noorg", setup=no_admin_org_scope,
         note="no-admin-org-scope"),
    Case("repos/get-org-ruleset", 200, "GET", ORG_RULES + "/{id}", setup=org_ruleset),
    Case("repos/get-org-ruleset", 404, "GET", ORG_RULES + "/999999", note="no-such-ruleset"),
    Case("repos/update-org-ruleset", 200, "PUT", ORG_RULES + "/{id}", {"enforcement": "disabled", "target": "tag"}, setup=org_ruleset),
    Case("repos/update-org-ruleset", 404, "PUT", ORG_RULES + "/999999", {"enforcement": "disabled"}, note="no-such-ruleset"),
    Case("repos/delete-org-ruleset", 204, "DELETE", ORG_RULES + "/{id}", setup=org_ruleset),
    Case("repos/delete-org-ruleset", 404, "DELETE", ORG_RULES + "/999999", note="no-such-ruleset"),
]

CASES = PROTECTION_CASES + RULESET_CASES
