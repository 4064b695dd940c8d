"""Branch protection through PyGithub's own Branch methods, and rulesets' visibility rules,
against the strict sandbox (every response checked against GitHub's OpenAPI description)."""

from __future__ import annotations

import pytest
from github import GithubException

from .cases.protection_rulesets import _ORG_RULESET, _RULESET


def test_pygithub_protects_reads_and_unprotects_a_branch(seed):
    repo = seed.gh("alice").get_repo("alice/pub")
    branch = repo.get_branch("main")
    assert branch.protected is False
    with pytest.raises(GithubException) as err:
        branch.get_protection()
    assert err.value.status == 404 and err.value.data["message"] == "Branch not protected"

    # PyGithub sends checks without contexts (GitHub's description: "Use checks instead of
    # contexts"); every flag is given, as PyGithub sends null for the ones that are not
    flags = {"allow_force_pushes": False, "allow_deletions": False, "required_conversation_resolution": False,
             "lock_branch": False, "allow_fork_syncing": False, "block_creations": False}
    branch.edit_protection(strict=True, contexts=["ci/test"], enforce_admins=True, required_approving_review_count=2,
                           dismiss_stale_reviews=True, required_linear_history=True, **flags)
    p = repo.get_branch("main").get_protection()
    assert p.required_status_checks.strict is True and p.required_status_checks.contexts == ["ci/test"]
    assert p.required_pull_request_reviews.required_approving_review_count == 2
    assert p.required_pull_request_reviews.dismiss_stale_reviews is True
    assert p.enforce_admins is True and p.required_linear_history is True and p.allow_force_pushes is False
    assert repo.get_branch("main").protected is True
    assert [b.name for b in repo.get_branches() if b.protected] == ["main"]

    branch.add_required_signatures()
    assert branch.get_required_signatures() is True
    branch.remove_required_signatures()
    assert repo.get_branch("main").get_protection().raw_data["required_signatures"]["enabled"] is False

    branch.remove_protection()
    assert repo.get_branch("main").protected is False
    with pytest.raises(GithubException) as err:
        branch.remove_protection()
    assert err.value.status == 404


def test_only_admins_see_who_may_bypass_a_ruleset(seed):
    made = seed.call("alice", "POST", "/repos/alice/pub/rulesets", _RULESET)
    assert made.status_code == 201, made.text
    path = f"/repos/alice/pub/rulesets/{made.json()['id']}"
    admin = seed.call("alice", "GET", path).json()
    reader = seed.call("bob", "GET", path).json()
    assert admin["bypass_actors"] == [{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}]
    assert "bypass_actors" not in reader and reader["rules"] == admin["rules"]
    assert admin["current_user_can_bypass"] == "always" and reader["current_user_can_bypass"] == "never"
    # a reader may not change it
    assert seed.call("bob", "PUT", path, {"enforcement": "disabled"}).status_code == 403


def test_an_organization_ruleset_shows_in_the_lists_of_the_repositories_it_targets(seed):
    body = {**_ORG_RULESET, "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []},
                                           "repository_name": {"include": ["s*"], "exclude": ["sandbox"]}}}
    made = seed.call("alice", "POST", "/orgs/acme/rulesets", body)
    assert made.status_code == 201, made.text
    for name, shown in (("svc", True), ("sandbox", False), ("web", False)):
        if name != "svc":
            assert seed.call("alice", "POST", "/orgs/acme/repos", {"name": name}).status_code == 201
        listed = seed.call("alice", "GET", f"/repos/acme/{name}/rulesets").json()
        assert [(x["name"], x["source_type"], x["source"]) for x in listed] == ([("main", "Organization", "acme")] if shown else []), name
        assert seed.call("alice", "GET", f"/repos/acme/{name}/rulesets", params={"includes_parents": "false"}).json() == []
    one = seed.call("alice", "GET", f"/repos/acme/svc/rulesets/{made.json()['id']}").json()
    assert one["source_type"] == "Organization" and one["current_user_can_bypass"] == "always"
    # names are unique in one place only: the repository may have its own "main"
    assert seed.call("alice", "POST", "/repos/acme/svc/rulesets", _RULESET).status_code == 201
    assert seed.call("alice", "POST", "/orgs/acme/rulesets", body).status_code == 422


def test_a_ruleset_comes_back_with_the_parameters_github_fills_in_and_its_settings_page(seed):
    made = seed.call("alice", "POST", "/repos/alice/pub/rulesets", _RULESET)
    assert made.status_code == 201, made.text
    rules = {r["type"]: r.get("parameters") for r in made.json()["rules"]}
    # left out of the request: all merge methods allowed, status checks enforced on creation
    assert rules["pull_request"]["allowed_merge_methods"] == ["merge", "squash", "rebase"]
    assert rules["required_status_checks"]["do_not_enforce_on_create"] is False
    assert rules["required_status_checks"]["required_status_checks"] == [{"context": "ci/test"}]
    ident = made.json()["id"]
    assert made.json()["_links"]["html"]["href"].endswith(f"/alice/pub/rules/{ident}")
    # named ones are kept as given
    body = {**_RULESET, "rules": [{"type": "pull_request", "parameters": {
        **_RULESET["rules"][3]["parameters"], "allowed_merge_methods": ["squash"]}}]}
    updated = seed.call("alice", "PUT", f"/repos/alice/pub/rulesets/{ident}", body).json()
    assert updated["rules"][0]["parameters"]["allowed_merge_methods"] == ["squash"]
    org = seed.call("alice", "POST", "/orgs/acme/rulesets", _ORG_RULESET).json()
    assert org["_links"]["html"]["href"].endswith(f"/organizations/acme/settings/rules/{org['id']}")
