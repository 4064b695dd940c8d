"""Objects carry the fields GitHub sends and its description lists, read as a real client reads
them (PyGithub): the full repository, the private profile a user gets when it reads itself
through ``GET /users/{login}``, an organization's settings for its owners, profile fields sent
even when empty, the zero counts of issues."""

from __future__ import annotations


def test_the_full_repository_has_githubs_extra_fields(seed):
    repo = seed.gh("alice").get_repo("alice/priv")
    data = repo.raw_data
    assert repo.custom_properties == {}
    assert data["master_branch"] == repo.default_branch == "main"
    assert data["temp_clone_token"]  # a private repository, read by its admin
    assert data["has_pull_requests"] is True and data["pull_request_creation_policy"] == "all"
    saa = data["security_and_analysis"]
    assert saa["secret_scanning"] == {"status": "disabled"}
    assert saa["dependabot_security_updates"] == {"status": "disabled"}
    public = seed.gh("alice").get_repo("alice/pub").raw_data
    assert public["temp_clone_token"] == "" and public["security_and_analysis"]["advanced_security"] == {"status": "enabled"}
    # a reader who is not an admin does not see the security settings
    assert "security_and_analysis" not in seed.gh("carol").get_repo("alice/pub").raw_data


def test_a_user_reading_itself_by_login_gets_its_private_profile(seed):
    me = seed.gh("alice").get_user("alice")
    assert me.plan is not None and me.plan.name
    assert me.disk_usage == 0 and me.owned_private_repos == 1 and me.total_private_repos == 1
    other = seed.gh("alice").get_user("bob")
    assert "plan" not in other.raw_data and "disk_usage" not in other.raw_data
    # profile fields a user has not filled in are sent as null, not left out
    for field in ("company", "location", "bio", "twitter_username", "hireable"):
        assert field in other.raw_data and other.raw_data[field] is None


def test_an_organization_shows_its_owners_the_new_repository_settings(seed):
    org = seed.gh("alice").get_organization("acme")
    data = org.raw_data
    for feature in ("advanced_security", "dependabot_alerts", "dependabot_security_updates", "dependency_graph",
                    "secret_scanning", "secret_scanning_push_protection"):
        assert data[f"{feature}_enabled_for_new_repositories"] is False, feature
    assert data["secret_scanning_push_protection_custom_link_enabled"] is False
    assert "secret_scanning_push_protection_custom_link" in data
    for field in ("name", "company", "blog", "location", "email"):
        assert field in data, field
    member = seed.gh("bob").get_organization("acme").raw_data
    assert "secret_scanning_enabled_for_new_repositories" not in member and "company" in member


def test_issues_carry_their_zero_summaries(seed):
    number = seed.ctl("POST", "/repos/alice/pub/issues", {"title": "t"})["number"]  # the sandbox seeds issues
    data = seed.gh("alice").get_repo("alice/pub").get_issue(number).raw_data
    assert data["sub_issues_summary"] == {"total": 0, "completed": 0, "percent_completed": 0}
    assert data["issue_dependencies_summary"]["total_blocking"] == 0
